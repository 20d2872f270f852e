"""gevent's own loop-level tests, run on our loops beside gevent's.

    python -m coursetools.gevent_suite                       # every module on every loop
    python -m coursetools.gevent_suite --loops pyloop,corecext --modules test__hub
    python -m coursetools.gevent_suite --loops mypkg.myloop.loop    # any loop class

gevent takes its loop class from ``GEVENT_LOOP=package.module.Class`` when it creates
its first hub, and the wheel ships its test package (``gevent.tests``). The test
modules below accept any loop (they do not hard-code one of gevent's own), so each one
is run, unchanged, on each loop:

- every (module, loop) runs in a fresh interpreter with ``GEVENT_LOOP`` set, under
  ``unittest`` with a result object that writes the outcome of every test to a JSON
  file (``python -m coursetools.gevent_suite --child MODULE RESULT``); a module that
  is a plain script (``test__core_loop_run``) counts as one test, passed if it runs
  to the end;
- the environment is the one gevent's own runner sets up (``gevent.testing.testrunner``:
  warnings on, ``PYTHONDEVMODE``, the fault handler);
- a test that hangs or kills its process is an error of that test, and the tests after
  it run on in a new process; a module that overruns ``--timeout`` is killed with its
  process group (a test may fork);
- a loop whose module cannot be imported is ``unavailable``, with the import error.

What this runner shares with `coursetools.greenlet_suite` (the child's result object,
the process handling, `Expect`, the command line, the table) is `upstream_suite.Suite`;
``SUITE`` below is this one, and this module holds only what is gevent's.

``EXPECTED`` says, for every (module, loop), what must happen: every test passes, or a
named test fails for a stated reason, or a named test is known to be flaky and then
gets a second chance (it is run again, alone, in a fresh process). ``SUITE.check``
compares a run with it; ``tests/test_gevent_suite.py`` asserts that comparison once per
pair, and this command prints the counts as a table, module down, loop across.
"""
from __future__ import annotations

import os
import sys

from coursetools import upstream_suite
from coursetools.upstream_suite import PASS, Expect

PACKAGE = "gevent.tests"
TIMEOUT = 60.0  # seconds one module may take on one loop before it is killed
TEST_TIMEOUT = 30.0  # seconds one test may take before it counts as hung

# name -> the class GEVENT_LOOP names; ours first, then gevent's own. Any other loop
# is named by its class's dotted path ("mypkg.myloop.loop") and expected to pass all.
LOOPS = {
    "pyloop": "impls.libev.pyloop.loop",  # impls/libev/pyloop.py, pure Python
    "core": "impls.libev.core.loop",  # impls/libev/core.pyx, Cython over the system libev
    "corecext": "gevent.libev.corecext.loop",  # gevent's Cython loop: the baseline
    "corecffi": "gevent.libev.corecffi.loop",  # gevent's CFFI loop over the same libev
}

# The modules of gevent.tests that accept any loop. The first nine are the issue's.
MODULES = [
    "test__core_watcher",
    "test__core_timer",
    "test__core_callback",
    "test__loop_callback",
    "test__core_async",
    "test__core_loop_run",
    "test__hub",
    "test__timeout",
    "test__event",
    "test__core_fork",
    "test__core_stat",
    "test__hub_join_timeout",
    "test__destroy",
    "test__destroy_default_loop",
    "test__refcount_core",
]


# ---- What must happen


# The test ids below are unittest's, without the module: "Class.test_method".
TIMER_RESOLUTION = Expect(fails={
    "TestTimerResolution.test_resolution":
        "environmental, not a loop bug: on Linux epoll reports the unconnected socket "
        "the test watches as ready (EPOLLHUP) at once, so each run(once=True) returns "
        "before the 1 ms timer is due, and the final assertTrue(ran_at_least_once) "
        "holds only if the loop's cached time was 1 ms stale when the timer started; "
        "the Cython loops never are, the loops written in Python usually are (gevent "
        "skips that assertion on CI)",
})
# Our core was seen once, in a full `make test` after issue 16 made it run Python's
# pending signal handlers before each callback on every loop, with its cached time a
# millisecond stale: the test then passes. Not judged on that loop.
TIMER_RESOLUTION_CORE = Expect(excluded={
    test: reason + "; on our core sometimes stale too, so it may pass (seen once)"
    for test, reason in TIMER_RESOLUTION.fails.items()})
MONITOR_RACE = (
    "the test takes a worker's hub from one threadpool.apply() and expects the periodic "
    "monitor set up by the next apply() to report that same hub; on the loops written "
    "in Python (pyloop, gevent's own corecffi) it sometimes reports another 'ThreadPool "
    "Worker Hub' (a third of the module's runs on a busy machine; never on the Cython "
    "loops); run alone, it passes"
)
MONITOR_BLOCKED = (
    "the worker's monitor must report its hub blocked by a greenlet in an unpatched "
    "time.sleep(0.7); on the loops written in Python (pyloop, gevent's own corecffi) it "
    "often reports nothing ('appears to be blocked' not found in ''), in about half the "
    "runs on a busy machine even when the test runs alone, so a second run would not "
    "settle it; never on the Cython loops"
)
THREADPOOL_MONITOR = Expect(
    flaky={
        "TestPeriodicMonitoringThread.test_blocking_threadpool_thread_task_queue":
            MONITOR_RACE,
        "TestPeriodicMonitoringThread.test_blocking_threadpool_thread_one_greenlet":
            MONITOR_RACE,
    },
    excluded={
        "TestPeriodicMonitoringThread.test_blocking_threadpool_thread_multi_greenlet":
            MONITOR_BLOCKED,
    },
)

TIMEOUT_MARGIN = Expect(flaky={
    "Test.test_with_timeout":
        "a 10 ms margin: with_timeout(0.02, sleep, 0.01) must return before its timeout; "
        "a machine busy enough to hold the test up for 10 ms between starting the two "
        "timers lets the timeout win, on any loop (seen once, on core, in about a "
        "hundred runs); gevent widens the margin twentyfold on CI",
})

JOIN_TIMEOUT_RACE = Expect(flaky={
    "Test.test_later":
        "a 50 ms wait must take 25-75 ms; on a loaded machine it once returned after 1 ms "
        "on gevent's own corecffi loop, and gevent's own helper raises it as a "
        "FlakyAssertionError (its reraiseFlakyTestRaceCondition), a race it calls flaky",
})

EXPECTED = {  # module -> loop -> Expect
    "test__core_watcher":         dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__core_timer":           dict(pyloop=PASS, core=TIMER_RESOLUTION_CORE,
                                       corecext=TIMER_RESOLUTION, corecffi=PASS),
    "test__core_callback":        dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__loop_callback":        dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__core_async":           dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__core_loop_run":        dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__hub":                  dict(pyloop=THREADPOOL_MONITOR, core=PASS, corecext=PASS,
                                       corecffi=THREADPOOL_MONITOR),
    "test__timeout":              dict(pyloop=TIMEOUT_MARGIN, core=TIMEOUT_MARGIN,
                                       corecext=TIMEOUT_MARGIN, corecffi=TIMEOUT_MARGIN),
    "test__event":                dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__core_fork":            dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__core_stat":            dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__hub_join_timeout":     {loop: JOIN_TIMEOUT_RACE for loop in ("pyloop", "core", "corecext", "corecffi")},
    "test__destroy":              dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__destroy_default_loop": dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__refcount_core":        dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
}


# ---- One module on one loop, in a fresh process


def environment(loop_class, folder):
    """The child's environment: gevent's own runner's settings, and the loop to use
    (``package.module.Class``). The child needs no files: folder stays empty."""
    env = dict(os.environ)
    env.pop("PYTHONSAFEPATH", None)  # gevent's runner drops it too
    env.setdefault("PYTHONFAULTHANDLER", "true")
    env.setdefault("PYTHONDEVMODE", "1")
    env.setdefault("PYTHONWARNINGS", "default,default::DeprecationWarning,"
                                     "default::ResourceWarning")
    env.setdefault("GEVENTTEST_QUIET", "1")
    env["GEVENT_LOOP"] = loop_class
    return env


def child(module, result_path, tests):
    """In the child: run the module's tests (all, or the ids given), record each."""
    return upstream_suite.run_tests(f"{PACKAGE}.{module}", result_path, tests, TEST_TIMEOUT)


SUITE = upstream_suite.Suite(
    command=__spec__.name, doc=__doc__, columns=LOOPS, modules=MODULES, expected=EXPECTED,
    timeout=TIMEOUT,
    module_of=lambda loop_class: loop_class.rpartition(".")[0],  # drop the class's name
    environment=environment, child=child,
    option="loops",
    option_help=f"comma-separated, from {', '.join(LOOPS)} or loop classes as "
                "package.module.Class (default: the four)",
    other="a loop class as package.module.Class",
    column="loop",
    modules_named="gevent.tests modules", modules_are="accept any loop",
    told="with GEVENT_LOOP set",
)


if __name__ == "__main__":
    sys.exit(SUITE.main())

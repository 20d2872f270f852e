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
the process handling, `Expect`, `check`, the table) is in `coursetools.upstream_suite`.

``EXPECTED`` says, for every (module, loop), what must happen: every test passes, or a
named test fails for a stated reason, or a named test is known to be flaky and then
gets a second chance (it is run again, alone, in a fresh process). `check` compares a
run with it; ``tests/test_gevent_suite.py`` asserts that comparison once per pair, and
this command prints the counts as a table, module down, loop across.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from coursetools import upstream_suite
from coursetools.upstream_suite import PASS, ROOT, Expect, Run  # noqa: F401 (the API)

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

EXPECTED = {  # module -> loop -> Expect
    "test__core_watcher":         dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__core_timer":           dict(pyloop=PASS, core=TIMER_RESOLUTION,
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
    "test__hub_join_timeout":     dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__destroy":              dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__destroy_default_loop": dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
    "test__refcount_core":        dict(pyloop=PASS, core=PASS, corecext=PASS, corecffi=PASS),
}
assert list(EXPECTED) == MODULES and all(list(row) == list(LOOPS) for row in EXPECTED.values())


def loop_path(loop):
    """The class GEVENT_LOOP is given: a name of LOOPS, or a dotted path as it is."""
    return LOOPS.get(loop, loop)


def expected(module, loop):
    """EXPECTED's entry; a loop that is not in LOOPS (a learner's) must pass every test."""
    return EXPECTED.get(module, {}).get(loop, PASS)


# ---- One module on one loop, in a fresh process


def environment(loop):
    """The child's environment: gevent's own runner's settings, and the loop to use."""
    env = dict(os.environ)
    env.pop("PYTHONSAFEPATH", None)  # gevent's runner drops it too
    env.setdefault("PYTHONFAULTHANDLER", "true")
    env.setdefault("PYTHONDEVMODE", "1")
    env.setdefault("PYTHONWARNINGS", "default,default::DeprecationWarning,"
                                     "default::ResourceWarning")
    env.setdefault("GEVENTTEST_QUIET", "1")
    env["GEVENT_LOOP"] = loop_path(loop)
    return env


_unavailable = {}  # loop -> reason, or None if it imports; one check per process


def unavailable(loop):
    """Why the loop's module cannot be imported ("ImportError: ..."), or None."""
    if loop not in _unavailable:
        _unavailable[loop] = upstream_suite.import_error(loop_path(loop).rpartition(".")[0])
    return _unavailable[loop]


def run_module(module, loop, tests=(), timeout=TIMEOUT):
    """Run one gevent test module (or some of its tests, by id) on one loop."""
    reason = unavailable(loop)
    if reason is not None:
        return Run("unavailable", detail=reason)
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", __spec__.name, "--child", module]
        return upstream_suite.run_child(command, environment(loop), Path(tmp, "result.json"),
                                        timeout, tests, expected(module, loop).hangs)


def run_pair(module, loop, timeout=TIMEOUT):
    """Run a module on a loop; give each known-flaky test that failed a second run."""
    return upstream_suite.rerun_flaky(
        run_module(module, loop, timeout=timeout), expected(module, loop),
        lambda tests: run_module(module, loop, tests, timeout=timeout))


def check(module, loop, run):
    """Problems with a run against EXPECTED, one message each; [] if it is as expected."""
    return upstream_suite.check(f"{module} on {loop}", expected(module, loop), run)


def child(module, result_path, tests):
    """In the child: run the module's tests (all, or the ids given), record each."""
    return upstream_suite.run_tests(f"{PACKAGE}.{module}", result_path, tests, TEST_TIMEOUT)


# ---- The table


def notes(module, loop, run):
    """How each test EXPECTED names fared in a run, one line each."""
    return upstream_suite.notes(f"{module} on {loop}", expected(module, loop), run)


def table(results, modules, loops):
    """Module down, loop across: passed/failed/errors/skipped per cell, a total per loop,
    then how the tests EXPECTED names fared."""
    legend = ("passed/failed/errors/skipped tests per module, each module in a fresh process "
              "with GEVENT_LOOP set;\n* = as EXPECTED, with the failures it names (below), "
              "! = not as EXPECTED")
    return upstream_suite.table(
        results, modules, loops,
        lambda module, loop, run: (check(module, loop, run), notes(module, loop, run)), legend)


def run_all(modules, loops, jobs, timeout, progress=lambda line: None):
    for loop in loops:
        unavailable(loop)  # once, before the pool
    return upstream_suite.run_all([(m, l) for m in modules for l in loops],
                                  lambda m, l: run_pair(m, l, timeout=timeout), jobs, progress)


def main(argv=None):
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}",
                                     description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--loops", default=",".join(LOOPS),
                        help=f"comma-separated, from {', '.join(LOOPS)} or loop classes "
                             "as package.module.Class (default: the four)")
    parser.add_argument("--modules", default=",".join(MODULES),
                        help="comma-separated gevent.tests modules (default: the list in "
                             "this module)")
    parser.add_argument("--jobs", "-j", type=int, default=2,
                        help="modules run at once (default 2)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"seconds one module may take on one loop (default {TIMEOUT:g})")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--child", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        module, result_path, *tests = args.child
        return child(module, result_path, tests)

    loops = [name.strip() for name in args.loops.split(",") if name.strip()]
    modules = [name.strip() for name in args.modules.split(",") if name.strip()]
    for name in loops:
        if name not in LOOPS and "." not in name:
            parser.error(f"--loops: unknown {name}; choose from {', '.join(LOOPS)}, "
                         "or give a loop class as package.module.Class")
    for name in modules:
        if name not in EXPECTED:
            parser.error(f"--modules: {name} is not in the list of modules that accept "
                         "any loop")

    def progress(line):
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    results = run_all(modules, loops, args.jobs, args.timeout, progress)
    return upstream_suite.report(results, table(results, modules, loops),
                                 {loop: unavailable(loop) for loop in loops}, check)


if __name__ == "__main__":
    sys.exit(main())

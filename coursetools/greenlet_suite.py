"""greenlet's own API tests, run on our greenlets beside the real one.

    python -m coursetools.greenlet_suite                  # every module on every implementation
    python -m coursetools.greenlet_suite --impls threaded --modules test_throw,test_gc
    python -m coursetools.greenlet_suite --impls mypkg.mygreenlet     # any module with the API

The greenlet wheel ships its test package (``greenlet/tests/``). The modules below test
the API (switch, throw, parent, GreenletExit, tracing, contextvars, collection); each is
run, unchanged, on each implementation:

- the test files are copied, at run time, from the installed wheel into a temporary
  folder, as the package ``greenlet_tests`` (they import each other relatively, and
  start their helper scripts from their own folder); nothing of them is kept in the
  repository;
- ``import greenlet`` in them (and in those scripts) gets the alias package in
  ``coursetools/greenlet_alias/``: the implementation named by ``SWITCHYARD_GREENLET``
  under greenlet's names, with stand-ins for two helpers of greenlet's test package
  where the implementation has none (see its ``_greenlet.py``). The real greenlet goes
  through the same alias, loaded from the wheel under another name: the baseline, which
  passes every test, so that what fails on ours fails because of ours, not the harness;
- leak checks are off everywhere (``GREENLET_SKIP_LEAKCHECKS=1``): they rerun each test
  until the count of live objects settles, a test of greenlet's C reference counting
  rather than of the API, and not comparable across implementations (a greenlet of the
  threaded model owns a thread). Their module, objgraph, need not be installed: the
  tests' ``leakcheck.py`` imports it, and gets a stand-in that refuses any use; so does
  psutil (used only for memory measurements in test_leaks) if it is missing;
- everything else is `upstream_suite.Suite`, shared with ``gevent_suite`` (``SUITE``
  below is this one): a fresh interpreter per (module, implementation), every test's
  outcome to JSON, a test that hangs or kills the process counted as an error of that
  test (the rest run on in a new process), a time limit per module, an implementation
  that does not import reported ``unavailable`` with its import error, the command line.

``EXPECTED`` says, for every (module, implementation), which tests fail and why;
``SUITE.check`` compares a run with it; ``tests/test_greenlet_suite.py`` asserts that
comparison once per pair, and this command prints the counts as a table, module down,
implementation across.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from coursetools import upstream_suite
from coursetools.upstream_suite import PASS, ROOT, Expect

PACKAGE = "greenlet_tests"  # the name the copied test package is imported by
ALIAS = ROOT / "coursetools" / "greenlet_alias"  # holds the package "greenlet" the tests get
TIMEOUT = 120.0  # seconds one module may take on one implementation before it is killed
TEST_TIMEOUT = 60.0  # seconds one test may take before it counts as hung (the slowest
# on the real greenlet, TestGreenlet.test_switching_many_threads, takes about 10)

# name -> what SWITCHYARD_GREENLET names, as `pytest --impl` does: package.module[:Object].
# Ours first, then the real greenlet: its compiled module, which holds the whole API and
# the test helpers (greenlet/__init__.py only re-exports it). Any other implementation is
# named by its module's dotted path and expected to pass every test.
IMPLEMENTATIONS = {
    "threaded": "impls.greenlet.threaded",  # pure Python, a thread per greenlet
    "stackswitch": "impls.greenlet.stackswitch",  # Cython, stack slots shared by a thread's greenlets
    "greenlet": "greenlet._greenlet",  # the real one: the baseline
}

# The modules of greenlet's tests that test the API. The others test greenlet's C
# internals: test_cpp and test_extension_interface (C/C++ extensions on greenlet's C
# API), test_greenlet_trash (the interpreter's trash-can nesting), test_leaks
# (reference counts and memory), test_stack_saved (bytes of C stack copied to the heap),
# test_interpreter_shutdown; test_version reads the package's metadata.
MODULES = [
    "test_generator",
    "test_generator_nested",
    "test_throw",
    "test_weakref",
    "test_contextvars",
    "test_gc",
    "test_tracing",
    "test_greenlet",
]


# ---- What must happen: the tests each implementation fails, and why
# The test ids are unittest's, without the module: "Class.test_method".

C_INTERNALS = Expect(fails={  # tests of greenlet's C machinery, not of the API
    "TestBrokenGreenlets.test_failed_to_initialstub":
        "uses _greenlet.UnswitchableGreenlet, greenlet's C test hook that makes a switch "
        "fail on purpose (an AttributeError here)",
    "TestBrokenGreenlets.test_failed_to_switch_into_running":
        "uses _greenlet.UnswitchableGreenlet, greenlet's C test hook that makes a switch "
        "fail on purpose (an AttributeError here)",
    "TestBrokenGreenlets.test_failed_to_slp_switch_into_running":
        "its script needs _greenlet.UnswitchableGreenlet to make slp_switch fail and abort "
        "the process; here the script stops at an AttributeError (exit status 1, not "
        "SIGABRT)",
    "TestGreenlet.test_get_stack_with_nested_c_calls":
        "imports the wheel's C++ test extension, which needs greenlet's C API "
        "(greenlet._C_API, PyGreenlet_Import); ours have no C API",
})

# Where a reason names a fidelity test, tests/conformance/test_greenlet.py states the
# same difference of the thread model.
GR_FRAME = (
    "gr_frame: a suspended greenlet's frame is found on its thread's stack, so the first "
    "frame's f_back is the model's own _outcome frame, where greenlet's is None "
    "(fidelity: test_first_frame_of_a_greenlet_sits_on_its_threads_frames)")
GR_CONTEXT_COPY = (
    "gr_context: the model shows a copy of a greenlet's context, taken when it last "
    "switched away (or now, if it runs), never the Context object itself "
    "(fidelity: test_running_greenlets_gr_context_is_a_copy)")
PROFILED_SWITCH = (
    "sys.setprofile: the model's switch is Python code (switch, _switch, _hand_over, "
    "_wake_up, threading's lock and join), so the profiler sees its calls and returns "
    "among the test's; greenlet's switch is C, and the events the test expects are only "
    "the test's own")

THREADED_CONTEXTVARS = Expect(fails={
    "ContextVarsTests.test_context_propagated_by_context_run":
        GR_CONTEXT_COPY + "; a dead greenlet that ran in Context.run shows its last "
        "snapshot where greenlet shows None",
    "ContextVarsTests.test_context_shared":
        GR_CONTEXT_COPY + "; so let.gr_context = getcurrent().gr_context gives each "
        "greenlet a copy, not the parent's live context to share",
    "ContextVarsTests.test_context_assignment_different_thread":
        GR_CONTEXT_COPY + "; gr.gr_context is not the Context assigned before the start",
    "ContextVarsTests.test_context_assignment_while_running":
        "gr_context: 'del gr.gr_context' raises Python's \"property ... has no deleter\", "
        "not greenlet's \"can't delete context attribute\"; past that, the model cannot "
        "replace the context of a started greenlet (NotImplementedError; fidelity: "
        "test_context_of_a_started_greenlet_cannot_be_replaced)",
})

THREADED_TRACING = Expect(fails={
    f"TestPythonTracing.{test}": PROFILED_SWITCH for test in (
        "test_trace_events_into_greenlet_func_already_set",
        "test_trace_events_into_greenlet_subclass_already_set",
        "test_trace_events_from_greenlet_func_sets_profiler",
        "test_trace_events_from_greenlet_subclass_sets_profiler",
        "test_trace_events_multiple_greenlets_switching",
        "test_trace_events_multiple_greenlets_switching_siblings",
    )
})

THREADED_GREENLET = C_INTERNALS | Expect(fails={
    "TestGreenlet.test_frame": GR_FRAME,
    "TestGreenlet.test_can_access_f_back_of_suspended_greenlet": GR_FRAME,
    "TestGreenlet.test_frames_always_exposed": GR_FRAME,
    "TestGreenlet.test_throw_to_dead_thread_doesnt_crash":
        "a greenlet suspended in a thread that has exited: the model counts it dead at "
        "once and shows no gr_frame; greenlet shows the frame until it frees the greenlet "
        "(fidelity: test_greenlet_of_an_exited_thread_is_unwound_when_collected)",
    "TestGreenlet.test_switch_to_dead_greenlet_with_unstarted_perverse_parent":
        "a subclass whose __getattribute__ answers None for every name: the model's "
        "__new__ looks its own method self._setup up by name and calls None (TypeError); "
        "greenlet's C code never looks its internals up on the instance",
})

STACKSWITCH_GREENLET = C_INTERNALS

EXPECTED = {  # module -> implementation -> Expect
    "test_generator": dict(threaded=PASS, stackswitch=PASS, greenlet=PASS),
    "test_generator_nested": dict(threaded=PASS, stackswitch=PASS, greenlet=PASS),
    "test_throw": dict(threaded=PASS, stackswitch=PASS, greenlet=PASS),
    "test_weakref": dict(threaded=PASS, stackswitch=PASS, greenlet=PASS),
    "test_contextvars": dict(threaded=THREADED_CONTEXTVARS, stackswitch=PASS, greenlet=PASS),
    "test_gc": dict(threaded=PASS, stackswitch=PASS, greenlet=PASS),
    "test_tracing": dict(threaded=THREADED_TRACING, stackswitch=PASS, greenlet=PASS),
    "test_greenlet": dict(threaded=THREADED_GREENLET, stackswitch=STACKSWITCH_GREENLET,
                          greenlet=PASS),
}


# ---- One module on one implementation, in a fresh process


def wheel_tests():
    """The folder of the installed wheel's test package (greenlet is not imported)."""
    return Path(importlib.util.find_spec("greenlet").origin).parent / "tests"


STUB = '''"""Stands in for {name}, which is not installed. greenlet's test package imports it at
the top but uses it only for {use}, which coursetools.greenlet_suite does not run."""


def __getattr__(name):
    raise AttributeError(f"{name} is not installed; this stand-in has no {{name!r}}")
'''

STUBBED = {  # module -> what greenlet's tests use it for
    "objgraph": "leak checks (GREENLET_SKIP_LEAKCHECKS=1 turns them off)",
    "psutil": "memory measurements in test_leaks",
}


def prepare(folder):
    """The test package, copied from the wheel into folder, and a stand-in for each of
    objgraph and psutil that is not installed; the folder to put on the path."""
    shutil.copytree(wheel_tests(), folder / PACKAGE,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name, use in STUBBED.items():
        if importlib.util.find_spec(name) is None:
            (folder / f"{name}.py").write_text(STUB.format(name=name, use=use))
    return folder


def environment(target, folder):
    """The child's environment, and its files in folder (`prepare`): the alias first on
    the path, then folder, then the repository (the alias imports our implementations
    from it); ``import greenlet`` is to be target (package.module[:Object])."""
    prepare(folder)
    env = dict(os.environ)
    env.pop("PYTHONSAFEPATH", None)
    path = [str(ALIAS), str(folder), str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(path + [p for p in [env.get("PYTHONPATH")] if p])
    env["SWITCHYARD_GREENLET"] = target
    env["GREENLET_SKIP_LEAKCHECKS"] = "1"
    env.setdefault("PYTHONFAULTHANDLER", "1")
    return env


def child(module, result_path, tests):
    """In the child: make sure ``greenlet`` is the alias, then run and record the tests."""
    import greenlet  # the alias, which loads the implementation: an error here is a crash
    if Path(greenlet.__file__).parent.parent != ALIAS:
        raise SystemExit(f"greenlet comes from {greenlet.__file__}, not the alias: "
                         "the tests would not test the implementation")
    return upstream_suite.run_tests(f"{PACKAGE}.{module}", result_path, tests, TEST_TIMEOUT)


SUITE = upstream_suite.Suite(
    command=__spec__.name, doc=__doc__, columns=IMPLEMENTATIONS, modules=MODULES,
    expected=EXPECTED, timeout=TIMEOUT,
    module_of=lambda target: target.partition(":")[0],  # drop the object's name
    environment=environment, child=child,
    option="impls",
    option_help=f"comma-separated, from {', '.join(IMPLEMENTATIONS)} or modules as "
                "package.module[:Object] (default: the three)",
    other="a module as package.module[:Object]",
    column="implementation",
    modules_named="modules of greenlet's tests", modules_are="test the API",
    told="with `import greenlet` the implementation",
)


if __name__ == "__main__":
    sys.exit(SUITE.main())

"""greenlet's own API test modules, run on each of our greenlets and on the real one.

One test per (module, implementation): the module, copied from the installed greenlet
wheel, runs in a fresh process in which ``import greenlet`` gets the implementation
through the alias package (`coursetools.greenlet_suite` does it, the same way as
``python -m coursetools.greenlet_suite``), and its outcome must be what
``greenlet_suite.EXPECTED`` says: every test passes, except the ones it names with a
reason. An implementation whose module does not import is skipped as "unavailable", with
the import error. ``pytest --impl greenlet=threaded`` narrows the implementations, as it
does the conformance suite; ``--impl greenlet=mypkg.mygreenlet`` runs greenlet's modules
on a module of one's own, which must pass them all.

Then the runner itself: the alias, its stand-ins, a hang and a crash inside a module.
"""
import os
import re
import subprocess
import sys
import textwrap

import pytest

from coursetools import upstream_suite
from coursetools.greenlet_suite import EXPECTED, IMPLEMENTATIONS, MODULES, SUITE
from coursetools.upstream_suite import Expect, Run

REFERENCES = {"greenlet"}  # the real greenlet; the rest are ours


def pytest_generate_tests(metafunc):
    """Every module on every implementation, or on the ones ``--impl greenlet=...`` chose:
    a name of IMPLEMENTATIONS, or a module given as package.module[:Object]."""
    if metafunc.function is test_greenlet_module:
        metafunc.parametrize(("module", "impl"), upstream_suite.pytest_params(
            SUITE, metafunc.config, "greenlet", REFERENCES))


def test_greenlet_module(module, impl):
    upstream_suite.assert_as_expected(SUITE, module, impl)


@pytest.mark.parametrize("module", MODULES)
def test_greenlet_module_on_one_stack_slot(module, monkeypatch):
    """The same on stackswitch with a single stack slot, where every switch between two
    greenlets copies both out and in: the expected results do not change."""
    monkeypatch.setenv("SWITCHYARD_STACK_SLOTS", "1")
    upstream_suite.assert_as_expected(SUITE, module, "stackswitch")


# ---- The runner itself, and what it shares with gevent_suite's


def test_an_implementation_that_does_not_import_is_unavailable(monkeypatch):
    monkeypatch.setitem(IMPLEMENTATIONS, "half_written", "impls.greenlet.half_written")
    run = SUITE.run_module("test_throw", "half_written")
    assert run.status == "unavailable"
    assert run.detail == "ModuleNotFoundError: No module named 'impls.greenlet.half_written'"


def _alias(code, impl, folder):
    """Run code where `import greenlet` is the alias of impl; its output. folder gets the
    child's files, as in a run of the suite."""
    env = SUITE.environment(IMPLEMENTATIONS[impl], folder)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, text=True,
                          capture_output=True, timeout=60, cwd=upstream_suite.ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_alias_is_the_implementation_under_greenlets_names(tmp_path):
    assert _alias("""
        import greenlet, greenlet._greenlet
        from impls.greenlet import threaded
        names = ["greenlet", "getcurrent", "GreenletExit", "error", "settrace", "gettrace"]
        assert all(getattr(greenlet, n) is getattr(threaded, n) for n in names)
        assert greenlet._greenlet.get_pending_cleanup_count() == 0  # a stand-in
        try:
            greenlet._greenlet.UnswitchableGreenlet
        except AttributeError as e:
            print(e)
    """, "threaded", tmp_path) == ("greenlet._greenlet (here impls.greenlet.threaded) has no "
                                   "attribute 'UnswitchableGreenlet'\n")


def test_the_real_greenlet_comes_through_the_alias_whole(tmp_path):
    """The baseline is greenlet's own compiled module, loaded from the wheel under another
    name, with its test hooks and C API; and the stand-in for get_total_main_greenlets
    counts what greenlet counts, as threads come and go."""
    assert _alias("""
        import gc, threading, time
        import greenlet, greenlet._greenlet as alias
        real = alias.IMPLEMENTATION
        assert greenlet.greenlet is real.greenlet and greenlet._C_API is real._C_API
        assert alias.UnswitchableGreenlet is real.UnswitchableGreenlet
        assert alias.get_total_main_greenlets is real.get_total_main_greenlets
        counts = lambda: (alias._total_main_greenlets(), real.get_total_main_greenlets())
        seen = [counts()]
        greenlet.getcurrent()
        seen.append(counts())
        kept = []
        thread = threading.Thread(target=lambda: kept.append(greenlet.getcurrent()))
        thread.start(); thread.join()
        seen.append(counts())
        kept.clear()
        for _ in range(500):  # greenlet frees an exited thread's main greenlet later
            greenlet.getcurrent(); gc.collect()
            if real.get_total_main_greenlets() == 1:
                break
            time.sleep(0.01)
        seen.append(counts())
        print(seen)
    """, "greenlet", tmp_path) == "[(0, 0), (1, 1), (2, 2), (1, 1)]\n"


def test_a_hung_or_crashing_test_fails_alone_and_the_rest_run_on(tmp_path):
    (tmp_path / "upstream_sample.py").write_text(textwrap.dedent("""
        import os, time, unittest

        class T(unittest.TestCase):
            def test_a(self): pass
            def test_b_hangs(self): time.sleep(60)
            def test_c_crashes(self): os._exit(3)
            def test_d(self): self.fail("no")
            def test_e_hangs_as_expected(self): time.sleep(60)
    """))
    child = ("import sys; from coursetools import upstream_suite; "
             "upstream_suite.run_tests('upstream_sample', sys.argv[1], sys.argv[2:], 1.0)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(upstream_suite.ROOT)])}
    run = upstream_suite.run_child([sys.executable, "-c", child], env,
                                   tmp_path / "result.json", timeout=30,
                                   hangs=["T.test_e_hangs_as_expected"])
    assert run.status == "ok"
    assert run.passed == ["T.test_a"]
    assert list(run.failed) == ["T.test_d"]
    assert sorted(run.errors) == ["T.test_b_hangs", "T.test_c_crashes",
                                  "T.test_e_hangs_as_expected"]
    assert run.errors["T.test_b_hangs"].startswith("hung: its time limit ran out")
    assert "test_b_hangs" in run.errors["T.test_b_hangs"]  # the stack, from the fault handler
    assert run.errors["T.test_c_crashes"].startswith("killed the process (exit status 3)")
    assert run.seconds < 1.0 + upstream_suite.HANG_TIMEOUT + 10  # not a minute of sleep


def test_a_process_that_dies_between_tests_is_a_crash(tmp_path):
    """Not a test's error (none was running), and the tests left are not silently lost."""
    (tmp_path / "upstream_sample.py").write_text(textwrap.dedent("""
        import os, unittest

        class T(unittest.TestCase):
            def test_a(self): pass

            @classmethod
            def tearDownClass(cls): os._exit(4)

        class U(unittest.TestCase):
            def test_b(self): pass
    """))
    child = ("import sys; from coursetools import upstream_suite; "
             "upstream_suite.run_tests('upstream_sample', sys.argv[1], sys.argv[2:], 10.0)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(upstream_suite.ROOT)])}
    run = upstream_suite.run_child([sys.executable, "-c", child], env,
                                   tmp_path / "result.json", timeout=30)
    assert (run.status, run.passed) == ("crash", ["T.test_a"])
    assert run.detail.startswith("the process ended between tests (exit status 4), 1 left;")


def test_each_fidelity_test_a_reason_names_exists():
    """A reason that points at a fidelity test of the conformance suite names one there."""
    conformance = (upstream_suite.ROOT / "tests/conformance/test_greenlet.py").read_text()
    named = {name for row in EXPECTED.values() for expect in row.values()
             for reason in expect.named().values()
             for name in re.findall(r"fidelity: (test_\w+)", reason)}
    assert named
    assert {name for name in named if f"def {name}(" not in conformance} == set()


def _expected(module, impl, expect, monkeypatch):
    monkeypatch.setitem(EXPECTED, module, {**EXPECTED[module], impl: expect})


def test_check_holds_a_run_to_every_entry(monkeypatch):
    """A failure must be named; a named failure (or hang) must fail; a flaky one must pass
    its second run; a name must be a test that ran; an excluded one is not judged.
    (`Suite.check` is gevent_suite's too.)"""
    expect = Expect(fails={"T.known": "why"}, hangs={"T.hangs": "why"},
                    flaky={"T.flaky": "why"}, excluded={"T.excluded": "why"})
    _expected("test_throw", "threaded", expect, monkeypatch)

    def check(**outcome):
        run = Run("ok", **{"passed": ["T.ok"], "failed": {"T.known": "trace"},
                           "errors": {"T.hangs": "hung"}, **outcome})
        return SUITE.check("test_throw", "threaded", run)

    assert check(skipped={"T.flaky": "not here", "T.excluded": "not here"}) == []
    assert check(failed={"T.known": "tb", "T.flaky": "tb"},
                 errors={"T.excluded": "tb", "T.hangs": "tb"},
                 rerun={"T.flaky": "passed"}) == []
    problems = check(passed=["T.known", "T.excluded", "T.hangs"], errors={},
                     failed={"T.flaky": "tb", "T.new": "tb"}, rerun={"T.flaky": "failed"})
    assert [p.splitlines()[0] for p in problems] == [
        "test_throw on threaded: T.flaky failed (and again on its second run, alone):",
        "test_throw on threaded: T.new failed:",
        "test_throw on threaded: T.hangs was expected to fail (why) but passed: update EXPECTED",
        "test_throw on threaded: T.known was expected to fail (why) but passed: update EXPECTED",
    ]
    assert check(passed=["T.ok"], failed={}, errors={}) == [
        f"test_throw on threaded: EXPECTED names {name}, which did not run"
        for name in ("T.excluded", "T.flaky", "T.hangs", "T.known")]
    assert SUITE.check("test_throw", "threaded", Run("timeout", detail="killed")) == [
        "test_throw on threaded: timeout: killed"]

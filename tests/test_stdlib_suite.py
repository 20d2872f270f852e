"""CPython's own tests of the modules that monkey patching changes, run under our patch
and under gevent's.

One test per (module, column): the module runs in a fresh process that patches the
stdlib first, our full stack's ``runtimes.stackswitch_core.monkey.patch_all()`` or
``gevent.monkey.patch_all()`` (`coursetools.stdlib_suite` does it, the same way as
``python -m coursetools.stdlib_suite``), and its outcome must be what
``stdlib_suite.EXPECTED`` says: every test passes, except the ones it names with a
reason. Where the Python installation has no ``test`` package (Debian ships it apart),
or a column does not import (our Cython extensions are not built), its pairs are
skipped as "unavailable", with the import error. ``pytest --impl hub=NAME`` narrows the
columns, as it does the conformance suite; another runtime, given as
package.module:Object, must pass them all. Beside them, one test per module compares
what skips itself under each patch (CPython's own ``@skipUnless(hasattr(...))``): a test
that skips under ours only is a gap the pairs cannot see.

Then the runner itself: what it adds to `upstream_suite` (the patch first, gevent's
disabled tests and the ones that leave the machine skipped in both columns, the missing
test package, the draft of EXPECTED).
"""
import ast
import collections
import importlib.util
import json
import subprocess
import sys
import types
import unittest

import pytest

from coursetools import stdlib_suite, upstream_suite
from coursetools.stdlib_suite import COLUMNS, EXPECTED, SUITE
from coursetools.upstream_suite import Expect, Run

REFERENCES = {"gevent"}  # gevent's own patch; the rest are ours
NO_TESTS = upstream_suite.import_error(f"{stdlib_suite.PACKAGE}.{stdlib_suite.MODULES[0]}")


def pytest_generate_tests(metafunc):
    """Every module on every column, or on the runtimes ``--impl hub=...`` chose."""
    if metafunc.function is test_stdlib_module:
        metafunc.parametrize(("module", "column"), upstream_suite.pytest_params(
            SUITE, metafunc.config, "hub", REFERENCES))


def test_stdlib_module(module, column):
    upstream_suite.assert_as_expected(SUITE, module, column)


# A test that CPython's own code skips is not judged: where ours lacks what a test
# needs (a socket method, say), the test would skip itself under ours only, unseen.
DECORATED_SKIPS = """
import json, sys, unittest
from coursetools import stdlib_suite

def tests(suite):
    for test in suite:
        yield from tests(test) if isinstance(test, unittest.TestSuite) else [test]

module = stdlib_suite.load(sys.argv[1])
skips = {}
for test in tests(unittest.defaultTestLoader.loadTestsFromModule(module)):
    for holder in (type(test), getattr(test, test._testMethodName)):
        if getattr(holder, "__unittest_skip__", False):
            skips.setdefault(test.id().partition(".")[2].partition(".")[2],
                             holder.__unittest_skip_why__)
print(json.dumps(skips))
"""


def decorated_skips(module, column, folder):
    """The tests of module that a decorator skips (@skipUnless(hasattr(...)), ...) once
    the column has patched: test id -> reason."""
    env = SUITE.environment(COLUMNS[column], folder)
    done = subprocess.run([sys.executable, "-c", DECORATED_SKIPS, module], env=env,
                          cwd=upstream_suite.ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("module", stdlib_suite.MODULES)
def test_no_test_skips_itself_under_ours_that_runs_under_gevent(module, tmp_path):
    for column in COLUMNS:
        reason = SUITE.unavailable(column)
        if reason is not None:
            pytest.skip(f"unavailable: {column}: {reason}")
    ours = decorated_skips(module, "stackswitch_core", tmp_path)
    gevent = decorated_skips(module, "gevent", tmp_path)
    only_ours = collections.Counter(ours[test] for test in set(ours) - set(gevent))
    assert not only_ours, f"skipped under ours only (reason: tests): {dict(only_ours)}"


# ---- The runner: what it adds to upstream_suite's (tested in tests/test_greenlet_suite.py)


def test_a_runtime_that_does_not_import_is_unavailable(monkeypatch):
    monkeypatch.setitem(COLUMNS, "half_written", "impls.hub.half_written:runtime")
    run = SUITE.run_module("test_queue", "half_written")
    assert run.status == "unavailable"
    assert run.detail == "ModuleNotFoundError: No module named 'impls.hub.half_written'"


def test_our_column_needs_the_extensions_of_our_full_stack(monkeypatch):
    """Where a Cython extension is not built, its stand-in raises ImportError: the column
    is unavailable, not a crash of every module."""
    monkeypatch.setitem(stdlib_suite.NEEDS, COLUMNS["stackswitch_core"],
                        "impls.libev.not_built")
    assert SUITE.unavailable("stackswitch_core") == (
        "ModuleNotFoundError: No module named 'impls.libev.not_built'")


def test_without_cpythons_tests_every_pair_is_unavailable_and_none_fails(monkeypatch, capsys):
    """As on Debian's python3 without libpython3.X-testsuite: the reason is the import
    error, and the command line finds no problem."""
    monkeypatch.setattr(stdlib_suite, "PACKAGE", "test_not_installed")
    run = SUITE.run_module("test_queue", "gevent")
    assert run.status == "unavailable"
    assert run.detail == "ModuleNotFoundError: No module named 'test_not_installed'"
    assert stdlib_suite.main(["--runtimes", "gevent", "--modules", "test_queue",
                              "--quiet"]) == 0
    assert "unavailable: gevent: ModuleNotFoundError" in capsys.readouterr().out


@pytest.mark.skipif(NO_TESTS is not None, reason=f"unavailable: {NO_TESTS}")
@pytest.mark.parametrize("column", list(COLUMNS))
def test_the_child_patches_then_skips_gevents_disabled_tests(column):
    """test_queue's CQueueTest is on gevent's list (the C queue is immune to patching):
    skipped, with gevent's entry as the reason; PyQueueTest runs on patched locks."""
    target = COLUMNS[column]
    for module in stdlib_suite.NEEDS.get(target, target.partition(":")[0]).split(", "):
        if upstream_suite.import_error(module) is not None:
            pytest.skip(f"unavailable: {column}: {upstream_suite.import_error(module)}")
    run = SUITE.run_module("test_queue", column, ["PyQueueTest.test_basic",
                                                  "CQueueTest.test_basic"])
    assert (run.status, run.passed) == ("ok", ["PyQueueTest.test_basic"]), run.detail
    assert run.skipped == {"CQueueTest.test_basic": "disabled by gevent's "
                           "patched_tests_setup: test_queue.CQueueTest"}


def test_disable_skips_a_class_whole_and_a_test_wherever_the_module_defines_it():
    """gevent's rule: "module.Class" removes the class; "module.Class.test_x" removes
    every test_x defined in the module's source, whatever its class; a test_x inherited
    from elsewhere stays."""
    module = types.ModuleType("test_sample")

    class Elsewhere(unittest.TestCase):  # defined in another module
        def test_x(self):
            pass

    class Named(unittest.TestCase):
        def test_x(self):
            pass

        def test_y(self):
            pass

    class Other(Elsewhere):
        def test_y(self):
            pass

    class Gone(unittest.TestCase):
        def test_z(self):
            pass

    for cls in (Named, Other, Gone):
        cls.__module__ = module.__name__
        setattr(module, cls.__name__, cls)
    module.Elsewhere = Elsewhere
    stdlib_suite.disable(module, {"test_sample.Named.test_y": "why y",
                                  "test_sample.Gone": "why Gone",
                                  "test_other.Named.test_x": "another module's"})
    why = {f"{cls.__name__}.{name}": getattr(getattr(cls, name), "__unittest_skip_why__", None)
           for cls in (Named, Other, Elsewhere) for name in ("test_x", "test_y")
           if hasattr(cls, name)}
    assert why == {"Named.test_x": None, "Named.test_y": "why y", "Other.test_x": None,
                   "Other.test_y": "why y", "Elsewhere.test_x": None}
    assert Gone.__unittest_skip_why__ == "why Gone"


@pytest.mark.skipif(NO_TESTS is not None, reason=f"unavailable: {NO_TESTS}")
def test_each_test_skipped_for_leaving_the_machine_is_in_cpythons_source():
    """An entry CPython has renamed would skip nothing, and the test would reach the
    internet: each class, and each test in it, is in the module's source."""
    for entry in stdlib_suite.OFF_THE_MACHINE:
        module, class_name, *test = entry.split(".")
        origin = importlib.util.find_spec(f"{stdlib_suite.PACKAGE}.{module}").origin
        tree = ast.parse(open(origin, encoding="utf-8").read())
        cls = next((node for node in tree.body if isinstance(node, ast.ClassDef)
                    and node.name == class_name), None)
        assert cls is not None, entry
        assert not test or test[0] in {node.name for node in cls.body
                                       if isinstance(node, ast.FunctionDef)}, entry


@pytest.mark.skipif(NO_TESTS is not None, reason=f"unavailable: {NO_TESTS}")
def test_an_unexpected_failure_and_an_unexpected_pass_are_reported(monkeypatch):
    """Under gevent, SocketWriterTest.test_write fails (it hands a greenlet's identity to
    pthread_kill): unnamed, it is a problem; a test named as failing that passes is one
    too."""
    monkeypatch.setitem(EXPECTED, "test_socketserver", {
        **EXPECTED["test_socketserver"],
        "gevent": Expect(fails={"MiscTestCase.test_all": "named for this test"})})
    run = SUITE.run_module("test_socketserver", "gevent",
                           ["SocketWriterTest.test_write", "MiscTestCase.test_all"])
    problems = SUITE.check("test_socketserver", "gevent", run)
    assert [problem.splitlines()[0] for problem in problems] == [
        "test_socketserver on gevent: SocketWriterTest.test_write failed:",
        "test_socketserver on gevent: MiscTestCase.test_all was expected to fail "
        "(named for this test) but passed: update EXPECTED",
    ]


def test_draft_prints_the_failures_as_expected_entries(monkeypatch, capsys):
    """``--draft`` is asyncio_suite's, given this suite (imported by the parent only)."""
    trace = "Traceback (most recent call last):\n  ...\nAssertionError: 1 != 2\n"
    results = {("test_queue", "stackswitch_core"): Run("ok", failed={"T.b": trace})}
    monkeypatch.setattr(upstream_suite.Suite, "run_all", lambda *args, **kwargs: results)
    assert stdlib_suite.main(["--draft", "--runtimes", "stackswitch_core",
                              "--modules", "test_queue", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "# ---- stackswitch_core"
    assert ast.literal_eval("\n".join(text.splitlines()[1:])) == {
        "test_queue": {"T.b": "TODO: AssertionError: 1 != 2"}}

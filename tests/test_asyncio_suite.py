"""CPython's own asyncio tests (``test.test_asyncio``), run on our loop, Future and Task
and on asyncio's own.

One test per (module, column): the module runs in a fresh process with the column's event
loop policy installed, or, for a ``mixin_`` module, as classes built from CPython's mixins
for the column's loop, Future and Task (`coursetools.asyncio_suite` does it, the same way
as ``python -m coursetools.asyncio_suite``), and its outcome must be what
``asyncio_suite.EXPECTED`` says: every test passes, except the ones it names with a
reason. Where the Python installation has no ``test`` package (Debian ships it apart),
or a column does not import, its pairs are skipped as "unavailable", with the import
error. ``pytest --impl aio=NAME`` narrows the columns, as it does the conformance
suite; a module of one's own, given as package.module, must pass them all.

Then the runner itself: what it adds to `upstream_suite` (the policy that survives a
reset, the mixin modules, the missing test package, the draft of EXPECTED).
"""
import ast
import subprocess
import sys
import textwrap
import unittest

import pytest

from coursetools import asyncio_suite, upstream_suite
from coursetools.asyncio_suite import COLUMNS, SUITE
from coursetools.upstream_suite import Run

REFERENCES = {"asyncio"}  # asyncio's own loop, Future and Task; the rest are ours


def pytest_generate_tests(metafunc):
    """Every module on every column, or on the ones ``--impl aio=...`` chose."""
    if metafunc.function is test_asyncio_module:
        metafunc.parametrize(("module", "column"), upstream_suite.pytest_params(
            SUITE, metafunc.config, "aio", REFERENCES, own=asyncio_suite.column_of))


def test_asyncio_module(module, column):
    upstream_suite.assert_as_expected(SUITE, module, column)


# ---- The runner: what it adds to upstream_suite's (tested in tests/test_greenlet_suite.py)


def test_a_column_that_does_not_import_is_unavailable(monkeypatch):
    monkeypatch.setitem(COLUMNS, "half_written", "impls.aio.half_written")
    run = SUITE.run_module("test_context", "half_written")
    assert run.status == "unavailable"
    assert run.detail == "ModuleNotFoundError: No module named 'impls.aio.half_written'"


def test_without_cpythons_tests_every_pair_is_unavailable_and_none_fails(monkeypatch, capsys):
    """As on Debian's python3 without libpython3.X-testsuite: the reason is the import
    error, and the command line finds no problem."""
    monkeypatch.setattr(asyncio_suite, "PACKAGE", "test.test_asyncio_not_installed")
    run = SUITE.run_module("test_context", "asyncio")
    assert run.status == "unavailable"
    assert run.detail == ("ModuleNotFoundError: "
                          "No module named 'test.test_asyncio_not_installed'")
    assert SUITE.main(["--columns", "asyncio", "--modules", "test_context,mixin_tasks",
                       "--quiet"]) == 0
    assert "unavailable: asyncio: ModuleNotFoundError" in capsys.readouterr().out


def test_the_columns_policy_survives_a_reset():
    """29 of CPython's modules end with set_event_loop_policy(None); asyncio then builds
    a new DefaultEventLoopPolicy, which must be the column's."""
    code = textwrap.dedent("""
        import asyncio
        from coursetools import asyncio_suite

        class Policy(asyncio.DefaultEventLoopPolicy):
            pass

        asyncio_suite.install_policy(Policy)
        first = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(None)
        again = asyncio.get_event_loop_policy()
        print(type(first).__name__, type(again).__name__, first is again)
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=upstream_suite.ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout == "Policy Policy False\n", done.stderr


@pytest.mark.skipif(upstream_suite.import_error(asyncio_suite.PACKAGE) is not None,
                    reason="unavailable: no test.test_asyncio in this Python")
def test_the_mixin_modules_are_built_from_the_columns_loop_future_and_task(monkeypatch):
    import asyncio

    class Future(asyncio.Future):
        pass

    class Task(asyncio.Task):
        pass

    loops = []

    def new_loop():
        loops.append(asyncio.new_event_loop())
        return loops[-1]

    modules = {}
    for name in asyncio_suite.MIXINS:
        monkeypatch.setitem(sys.modules, name, None)  # taken out again at the end
        modules[name] = asyncio_suite.mixin_module(name, new_loop, Future, Task)
        assert sys.modules[name] is modules[name]
    tasks, futures = modules["mixin_tasks"], modules["mixin_futures"]
    assert (tasks.TaskTests.Task, tasks.TaskTests.Future) == (Task, Future)
    assert issubclass(tasks.TaskSubclassTests.Task, Task)  # counts add_done_callback
    assert futures.FutureTests.cls is Future and issubclass(futures.SubFutureTests.cls, Future)
    assert futures.FutureInheritanceTests._get_future_cls(None) is Future
    loop = modules["mixin_events"].EventLoopTests.create_event_loop(None)
    assert loops == [loop]
    loop.close()
    ids = [test.id() for tests in unittest.defaultTestLoader.loadTestsFromName("mixin_futures")
           for test in tests]  # a suite per class
    assert "mixin_futures.FutureTests.test_isfuture" in ids
    assert "mixin_futures.FutureDoneCallbackTests.test_callbacks_invoked_on_set_result" in ids


def test_a_draft_of_expected_groups_failures_by_their_error():
    trace = "Traceback (most recent call last):\n  ...\nAssertionError: 1 != 2\n"
    results = {
        ("test_locks", "selector"): Run("ok", passed=["T.c"], failed={"T.b": trace},
                                    errors={"T.a": "Traceback:\nRuntimeError: no\n"}),
        ("test_queues", "selector"): Run("ok", passed=["T.a"]),
        ("test_streams", "selector"): Run("timeout",
                                          detail="killed after 9 s; output ends:\n."),
    }
    text = asyncio_suite.draft(results)
    assert text.splitlines()[0] == "# ---- selector"
    assert "    # test_streams: timeout: killed after 9 s; output ends:" in text
    assert ast.literal_eval("\n".join(text.splitlines()[1:])) == {"test_locks": {
        "T.b": "TODO: AssertionError: 1 != 2", "T.a": "TODO: RuntimeError: no"}}

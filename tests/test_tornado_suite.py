"""tornado 6's own test suite (``tornado.test.runtests``), run on our asyncio loop and on
asyncio's own.

One test per (module of runtests' list, column): the module runs in a fresh process with
the column's event loop policy installed and runtests' rules in force (warnings are
errors; nothing may be logged: see ``LOGGED``), by `coursetools.tornado_suite`, the same
way as ``python -m coursetools.tornado_suite``; its outcome must be what
``tornado_suite.EXPECTED`` says. A column that does not import is skipped as
"unavailable". ``pytest --impl aio=NAME`` narrows the columns, as for
tests/test_asyncio_suite.py.

Then the runner itself: the list of modules is runtests' own, and what the module logs
fails LOGGED.
"""
import os
import sys
import textwrap

from coursetools import asyncio_suite, tornado_suite, upstream_suite
from coursetools.tornado_suite import LOGGED, MODULES, SUITE

REFERENCES = {"asyncio"}  # asyncio's own loop; the other column is ours


def pytest_generate_tests(metafunc):
    """Every module on every column, or on the ones ``--impl aio=...`` chose."""
    if metafunc.function is test_tornado_module:
        metafunc.parametrize(("module", "column"), upstream_suite.pytest_params(
            SUITE, metafunc.config, "aio", REFERENCES, own=asyncio_suite.column_of))


def test_tornado_module(module, column):
    upstream_suite.assert_as_expected(SUITE, module, column)


# ---- The runner: what it adds to upstream_suite's


def test_the_modules_are_those_runtests_runs():
    from tornado.test import runtests
    assert [tornado_suite.full_name(module) for module in MODULES] == runtests.TEST_MODULES


def test_a_module_that_logs_fails_logged_and_one_that_does_not_passes_it(tmp_path):
    for name, body in [("quiet_sample", "pass"),
                       ("noisy_sample", "logging.getLogger('tornado.general').warning('hi')")]:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(f"""
            import logging, unittest

            class T(unittest.TestCase):
                def test_a(self):
                    {body}
        """))
    runs = {}
    for name in ("quiet_sample", "noisy_sample"):
        # the child, as the suite starts it, but on a module of its own
        child = ("import sys; from coursetools import tornado_suite; "
                 "tornado_suite.full_name = lambda module: module; "
                 f"tornado_suite.child({name!r}, sys.argv[1], sys.argv[2:])")
        env = {**SUITE.environment("asyncio", tmp_path), "PYTHONPATH": os.pathsep.join(
            [str(tmp_path), str(upstream_suite.ROOT)])}
        runs[name] = upstream_suite.run_child([sys.executable, "-c", child], env,
                                              tmp_path / "result.json", timeout=60)
    assert runs["quiet_sample"].passed == ["T.test_a", LOGGED]
    noisy = runs["noisy_sample"]
    assert noisy.passed == ["T.test_a"] and list(noisy.errors) == [LOGGED]
    assert noisy.errors[LOGGED].startswith("1 records of INFO and above; stderr got:")
    assert "hi" in noisy.errors[LOGGED]

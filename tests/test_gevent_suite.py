"""gevent's own loop-level test modules, run on each of our loops and on gevent's.

One test per (module, loop): the module runs in a fresh process with ``GEVENT_LOOP``
naming the loop (`coursetools.gevent_suite` does it, the same way as
``python -m coursetools.gevent_suite``), and its outcome must be what
``gevent_suite.EXPECTED`` says: every test passes, except the ones it names with a
reason (a known failure, a flaky test that must pass its second run, or one excluded
from the verdict). A loop whose module does not import is skipped as "unavailable",
with the import error. ``pytest --impl libev=pyloop`` narrows the loops, as it does the
conformance suite; ``--impl libev=mypkg.myloop`` runs gevent's modules on a loop of
one's own (``mypkg.myloop.loop``), which must pass them all.
"""
from coursetools import upstream_suite
from coursetools.gevent_suite import LOOPS, SUITE

REFERENCES = {"corecext", "corecffi"}  # gevent's own loops; the rest are ours


def loop_class(target):
    """``--impl libev=package.module[:Class]`` as GEVENT_LOOP takes it: the class defaults
    to loop, as in gevent's own loop modules."""
    module, _, cls = target.partition(":")
    return f"{module}.{cls or 'loop'}"


def pytest_generate_tests(metafunc):
    """Every module on every loop, or on the loops ``--impl libev=...`` chose: a name of
    LOOPS, or a module given as package.module[:Class]."""
    if metafunc.function is test_gevent_module:
        metafunc.parametrize(("module", "loop"), upstream_suite.pytest_params(
            SUITE, metafunc.config, "libev", REFERENCES, own=loop_class))


def test_gevent_module(module, loop):
    upstream_suite.assert_as_expected(SUITE, module, loop)


# ---- The runner itself; the parts it shares with greenlet's are tested in
# tests/test_greenlet_suite.py (check, hangs and crashes)


def test_a_loop_that_does_not_import_is_unavailable(monkeypatch):
    monkeypatch.setitem(LOOPS, "half_written", "impls.libev.half_written.loop")
    run = SUITE.run_module("test__core_callback", "half_written")
    assert run.status == "unavailable"
    assert run.detail == "ModuleNotFoundError: No module named 'impls.libev.half_written'"

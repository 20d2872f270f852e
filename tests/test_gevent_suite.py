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
import pytest

from coursetools import gevent_suite
from coursetools.gevent_suite import EXPECTED, LOOPS, MODULES, Run

REFERENCES = {"corecext", "corecffi"}  # gevent's own loops; the rest are ours


def pytest_generate_tests(metafunc):
    """Every module on every loop, or on the loops ``--impl libev=...`` chose: a name of
    LOOPS, or a module given as package.module[:Class] (the class defaults to loop)."""
    if metafunc.function is not test_gevent_module:
        return
    chosen = getattr(metafunc.config, "_switchyard_choice", {}).get("libev")
    loops = {name: name for name in LOOPS}  # the name in the matrix -> the suite's loop
    if chosen:
        loops = {}
        for name, impl in chosen.items():
            module, _, cls = impl.target.partition(":")
            loops[name] = name if name in LOOPS else f"{module}.{cls or 'loop'}"
    metafunc.parametrize(("module", "loop"), [
        pytest.param(module, loop, id=f"{module}-{name}",
                     marks=pytest.mark.impl("libev", name, name in REFERENCES))
        for module in MODULES for name, loop in loops.items()
    ])


def test_gevent_module(module, loop):
    reason = gevent_suite.unavailable(loop)
    if reason is not None:
        pytest.skip(f"unavailable: {reason}")
    run = gevent_suite.run_pair(module, loop)
    problems = gevent_suite.check(module, loop, run)
    assert not problems, "\n\n".join(problems)


# ---- The runner itself


def test_a_loop_that_does_not_import_is_unavailable(monkeypatch):
    monkeypatch.setitem(LOOPS, "half_written", "impls.libev.half_written.loop")
    monkeypatch.setattr(gevent_suite, "_unavailable", {})
    run = gevent_suite.run_module("test__core_callback", "half_written")
    assert run.status == "unavailable"
    assert run.detail == "ModuleNotFoundError: No module named 'impls.libev.half_written'"


def _expected(module, loop, expect, monkeypatch):
    monkeypatch.setitem(EXPECTED, module, {**EXPECTED[module], loop: expect})


def test_check_holds_a_run_to_every_entry(monkeypatch):
    """A failure must be named; a named failure must fail; a flaky one must pass its
    second run; a name must be a test that ran; an excluded one is not judged."""
    expect = gevent_suite.Expect(fails={"T.known": "why"}, flaky={"T.flaky": "why"},
                                 excluded={"T.excluded": "why"})
    _expected("test__hub", "pyloop", expect, monkeypatch)

    def check(**outcome):
        run = Run("ok", **{"passed": ["T.ok"], "failed": {"T.known": "trace"}, **outcome})
        return gevent_suite.check("test__hub", "pyloop", run)

    assert check(errors={"T.excluded": "trace"}, skipped={"T.flaky": "not here"}) == []
    assert check(failed={"T.known": "tb", "T.flaky": "tb"}, errors={"T.excluded": "tb"},
                 rerun={"T.flaky": "passed"}) == []
    problems = check(passed=["T.known", "T.excluded"],
                     failed={"T.flaky": "tb", "T.new": "tb"}, rerun={"T.flaky": "failed"})
    assert [p.splitlines()[0] for p in problems] == [
        "test__hub on pyloop: T.flaky failed (and again on its second run, alone):",
        "test__hub on pyloop: T.new failed:",
        "test__hub on pyloop: T.known was expected to fail (why) but passed: update EXPECTED",
    ]
    assert check(passed=["T.ok"], failed={}) == [
        f"test__hub on pyloop: EXPECTED names {name}, which did not run"
        for name in ("T.excluded", "T.flaky", "T.known")]
    assert gevent_suite.check("test__hub", "pyloop", Run("timeout", detail="killed")) == [
        "test__hub on pyloop: timeout: killed"]

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

At the end, gevent's whole suite (`coursetools.gevent_whole`): one test per our loop,
beside its reference, skipped unless ``SWITCHYARD_GEVENT_WHOLE=1`` (it takes minutes;
``make gevent-suite-whole`` runs the same), and quick tests of how that runner reads
gevent's runner and compares two loops.
"""
import os

import pytest

from coursetools import gevent_whole, upstream_suite
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


# ---- gevent's whole suite, each of our loops beside its reference (coursetools.gevent_whole)

WHOLE = "SWITCHYARD_GEVENT_WHOLE"  # set to 1 to run the whole comparison in pytest


@pytest.mark.skipif(not os.environ.get(WHOLE), reason=(
    f"gevent's whole suite on four loops takes 6 to 7 minutes on 2 cores: "
    f"`make gevent-suite-whole`, or {WHOLE}=1"))
@pytest.mark.parametrize("ours", sorted(gevent_whole.PAIRS))
def test_gevent_whole_suite_fails_on_our_loop_only_where_it_fails_on_the_reference(ours):
    problems, notes = gevent_whole.check_pair(ours, progress=lambda line: None)
    print("\n".join(notes))
    assert not problems, "\n\n".join(problems)


RUNNER_OUTPUT = """\
\x1b[0m- GEVENT_LOOP=x python -u -mgevent.tests.test__event [Ran 46 tests in 1.2s]\x1b[0m
| GEVENT_LOOP=x python -u -mgevent.tests.test__socket_dns
  Traceback (most recent call last):
  socket.gaierror: [Errno -2] Name or service not known
! GEVENT_LOOP=x python -u -mgevent.tests.test__socket_dns [code 1] [took 0.3s]
| GEVENT_LOOP=x python -u -mgevent.tests.test__hub
  AssertionError: 1 != 2
! GEVENT_LOOP=x python -u -mgevent.tests.test__hub [code 1] [Ran 18 tests in 3.0s]
- GEVENT_LOOP=x python -u -mgevent.tests.test__hub [Ran 18 tests in 2.9s]
"""


def test_the_whole_suites_runner_output_gives_each_modules_outcome():
    run = gevent_whole.parse(RUNNER_OUTPUT)
    assert run.passed == {"test__event"}  # test__hub's second chance does not count
    assert set(run.failed) == {"test__socket_dns", "test__hub"}
    assert run.failed["test__socket_dns"].endswith("Name or service not known")


def _run(passed=(), failed=()):
    return gevent_whole.LoopRun(set(passed), {module: "output" for module in failed})


def test_a_module_that_fails_on_ours_and_passes_on_the_reference_is_a_problem():
    problems, _ = gevent_whole.compare("core", "corecext", _run(["a"], ["b"]), _run(["a", "b"]))
    assert len(problems) == 1 and problems[0].startswith("b fails on core and passes on corecext")


def test_a_module_that_fails_on_both_needs_a_listed_reason(monkeypatch):
    monkeypatch.setitem(gevent_whole.REFERENCE_FAILS, "listed", "why")
    problems, _ = gevent_whole.compare(
        "core", "corecext", _run(failed=["listed", "new"]), _run(failed=["listed", "new"]))
    assert len(problems) == 1 and problems[0].startswith("new fails on core and on corecext")


def test_a_module_listed_as_failing_on_ours_must_fail(monkeypatch):
    monkeypatch.setitem(gevent_whole.OURS_FAIL, ("core", "known"), "why")
    assert gevent_whole.compare("core", "corecext", _run(failed=["known"]), _run(["known"]))[0] == []
    problems, _ = gevent_whole.compare("core", "corecext", _run(["known"]), _run(["known"]))
    assert len(problems) == 1 and "OURS_FAIL says it fails" in problems[0]


def test_a_failure_on_ours_gets_a_second_run_alone_unless_its_reason_is_listed(monkeypatch):
    monkeypatch.setitem(gevent_whole.REFERENCE_FAILS, "listed", "why")
    ours = _run(failed=["flaky", "broken", "flaky_on_both", "listed"])
    reference = _run(["flaky", "broken"], failed=["flaky_on_both", "listed"])
    alone = {"flaky": _run(["flaky"]), "broken": _run(failed=["broken"]),
             "flaky_on_both": _run(["flaky_on_both"])}
    notes = gevent_whole.second_chance("core", ours, reference,
                                       run=lambda loop, modules, jobs: alone[modules[0]])
    assert set(ours.failed) == {"broken", "listed"}
    assert notes == [f"{module} failed on core beside other modules, passed alone"
                     for module in ("flaky", "flaky_on_both")]


def test_a_module_not_judged_on_ours_is_only_noted(monkeypatch):
    monkeypatch.setitem(gevent_whole.NOT_JUDGED, ("core", "random"), "why")
    problems, notes = gevent_whole.compare("core", "corecext", _run(failed=["random"]),
                                           _run(["random"]))
    assert problems == [] and notes == ["random not judged on core: why"]

"""The capstones: the scenario programs ("one program, every runtime",
tests/conformance/test_scenarios.py) on the learner's code, once the stages pass.

``switchyard check --capstone`` runs that file with ``--impl
runtime=coursetools.exercises.capstone:runtime`` and ``SWITCHYARD_CAPSTONE=KIND=TARGET``
(TARGET: the learner's module, or ``module:object``). The runtime is made on first use
(PEP 562), in the child, where the suite's ``scenario_runtimes`` is importable:

    scheduler  your scheduler runs the scenarios as tasks
    gen        your gen, on our IOLoop (or yours, if your gen.py imports it)
    ioloop     our gen on your IOLoop: gen.py's import of the IOLoop points at yours
    aio        async/await on your loop, with your Future and Task: asyncio's own
               sleep, timeout and wait, and your loop's sock_* methods
    greenlet   our hub on your greenlet module, over our pure-Python loop
    libev      the real gevent on your loop (GEVENT_LOOP names it); gevent's own
               loop-level test modules run on it too, after the scenarios
    hub        your hub, on the greenlet and loop your runtimes.py binds
"""
import dataclasses
import importlib
import os
import sys
import types

from .manifest import ROOT

ENV = "SWITCHYARD_CAPSTONE"
_GEN_IMPORT = "from impls.ioloop.pollioloop import"  # the one line that names our IOLoop


def __getattr__(name):
    if name != "runtime":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    kind, _, target = os.environ[ENV].partition("=")
    runtime = globals()["runtime"] = MAKERS[kind](target)
    return runtime


def _load(target):
    module, _, attribute = target.partition(":")
    namespace = importlib.import_module(module)
    return getattr(namespace, attribute) if attribute else namespace


def _scheduler(target):
    import scenario_runtimes

    return scenario_runtimes.SchedulerRuntime(_load(target))


def _gen(target):
    import scenario_runtimes

    return scenario_runtimes.CoroutineRuntime(_load(target))


def _ioloop(target):
    # Our gen, compiled again with its IOLoop and Future taken from the learner's module:
    # a module of its own, so that ours (and its Futures) stay untouched.
    import scenario_runtimes

    path = ROOT / "impls" / "coroutine" / "gen.py"
    source = path.read_text()
    if _GEN_IMPORT not in source:
        raise ImportError(f"{path} no longer imports the IOLoop with {_GEN_IMPORT!r}")
    gen = types.ModuleType("switchyard_gen_on_your_ioloop")
    gen.__file__ = str(path)
    sys.modules[gen.__name__] = gen
    exec(compile(source.replace(_GEN_IMPORT, f"from {target} import"), str(path), "exec"),
         gen.__dict__)
    return scenario_runtimes.CoroutineRuntime(gen)


def _aio(target):
    import scenario_runtimes

    return scenario_runtimes.AsyncRuntime(_load(target))


def _greenlet(target):
    import scenario_runtimes
    from impls.hub.runtime import Runtime
    from impls.libev.pyloop import loop

    return scenario_runtimes.GreenletRuntime(Runtime(_load(target), loop))


def _libev(target):
    # gevent reads GEVENT_LOOP when it makes its first hub: the parent sets it to the
    # learner's loop class, and runtimes.gevent makes that hub.
    import scenario_runtimes
    from impls.hub import runtimes

    return scenario_runtimes.GreenletRuntime(runtimes.gevent)


def _hub(target):
    import scenario_runtimes

    return scenario_runtimes.GreenletRuntime(_load(target))


MAKERS = {"scheduler": _scheduler, "gen": _gen, "ioloop": _ioloop, "aio": _aio,
          "greenlet": _greenlet, "libev": _libev, "hub": _hub}


def gevent_suite(loop_class):
    """gevent's loop-level test modules on the learner's loop (coursetools.gevent_suite),
    expected to do what they do on our pyloop: a loop written in Python shares its
    known flaky tests (the threadpool monitor's, timing-bound on a busy machine)."""
    from coursetools import gevent_suite as ours

    suite = dataclasses.replace(
        ours.SUITE, columns={**ours.LOOPS, "yours": loop_class},
        expected={module: {**row, "yours": row["pyloop"]} for module, row in ours.EXPECTED.items()},
    )
    return suite.main(["--loops", "yours"])


if __name__ == "__main__":  # python -m coursetools.exercises.capstone LOOP_CLASS
    sys.exit(gevent_suite(sys.argv[1]))

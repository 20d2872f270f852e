"""The implementation registry, the ``--impl`` option and the conformance matrix.

Every subject of the course has several implementations: ours and the real library.
A conformance test asks for the subject by name (``def test_x(ioloop): ...``) and runs
once per implementation, receiving that implementation's namespace: a module (or any
object) carrying the public names of the original, ``ioloop.IOLoop``,
``ioloop.Future``, ... The contract of each subject lists the names it uses.

    pytest --impl ioloop=pollioloop            # narrow a run to one implementation
    pytest --impl ioloop=mypkg.myloop          # test a module that is not registered
    pytest --impl ioloop=mypkg.myloop:Namespace

An implementation that cannot be loaded is reported as unavailable, with the reason,
in the matrix printed at the end of the run; it is never hidden.
"""
import dataclasses
import importlib
from collections import defaultdict

import pytest


@dataclasses.dataclass(frozen=True)
class Impl:
    target: str  # "package.module" or "package.module:Object"
    reference: bool = False  # the real library, the yardstick for ours

    def load(self):
        module, _, attribute = self.target.partition(":")
        namespace = importlib.import_module(module)
        return getattr(namespace, attribute) if attribute else namespace


# ---- The registry: subject -> implementation name -> where it lives

HUB_PAIRS = [f"{greenlet}_{loop}" for greenlet in ("stackswitch", "greenlet", "threaded")
             for loop in ("core", "pyloop", "corecext")]
REGISTRY = {
    "coroutine": {
        "gen": Impl("impls.coroutine.gen"),
        "tornado": Impl("tornado.gen", reference=True),
    },
    # The PEP 342 task scheduler has no library to compare with: its own contract.
    "scheduler": {
        "scheduler": Impl("impls.coroutine.scheduler"),
    },
    "greenlet": {
        "threaded": Impl("impls.greenlet.threaded"),
        "stackswitch": Impl("impls.greenlet.stackswitch"),
        "greenlet": Impl("greenlet", reference=True),
    },
    "libev": {
        "pyloop": Impl("impls.libev.pyloop"),
        "core": Impl("impls.libev.core"),
        "corecext": Impl("gevent.libev.corecext", reference=True),
        "corecffi": Impl("gevent.libev.corecffi", reference=True),
    },
    # Our hub on each greenlet implementation over each loop (impls/hub/runtimes.py).
    "hub": {
        **{pair: Impl(f"impls.hub.runtimes:{pair}") for pair in HUB_PAIRS},
        "gevent": Impl("impls.hub.runtimes:gevent", reference=True),
    },
    # The scenario suite's runtimes: each serves the same programs its own way
    # (tests/conformance/scenario_runtimes.py); a hub runtime is our hub on a greenlet
    # implementation over a loop, every pair of impls/hub/runtimes.py; "aio" and
    # "asyncio" are async/await on our asyncio loop and on asyncio's own.
    "runtime": {
        "scheduler": Impl("scenario_runtimes:scheduler"),
        "gen": Impl("scenario_runtimes:gen"),
        **{f"hub_{pair}": Impl(f"scenario_runtimes:hub_{pair}") for pair in HUB_PAIRS},
        "aio": Impl("scenario_runtimes:aio"),
        "tornado": Impl("scenario_runtimes:tornado", reference=True),
        "gevent": Impl("scenario_runtimes:gevent", reference=True),
        "asyncio": Impl("scenario_runtimes:asyncio", reference=True),
    },
    "ioloop": {
        "pollioloop": Impl("impls.ioloop.pollioloop"),
        "tornado": Impl("tornado.ioloop", reference=True),
    },
    # An asyncio event loop: a test builds one with ``aio.new_event_loop()``, which all
    # three modules offer. uvloop is a second reference, a landmark beside asyncio's.
    "aio": {
        "selector": Impl("impls.aio"),
        "asyncio": Impl("asyncio", reference=True),
        "uvloop": Impl("uvloop", reference=True),
    },
}


def pytest_addoption(parser):
    parser.addoption(
        "--impl",
        action="append",
        default=[],
        metavar="SUBJECT=NAME",
        help="run SUBJECT only on implementation NAME (registered name, "
        "package.module or package.module:Object); may be repeated",
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "impl(subject, name, reference): set by conftest on each parameter"
    )
    config._switchyard_choice = _parse_choice(config.getoption("--impl"))
    if not hasattr(config, "workerinput"):  # the xdist controller, or a plain run
        config.pluginmanager.register(Matrix(), "switchyard-matrix")


def _parse_choice(options):
    """--impl options as {subject: {name: Impl}}, checked against the registry."""
    choice = defaultdict(dict)
    for option in options:
        subject, sep, name = option.partition("=")
        if not sep or subject not in REGISTRY or not name:
            raise pytest.UsageError(
                f"--impl {option!r}: expected SUBJECT=NAME with SUBJECT one of "
                f"{', '.join(sorted(REGISTRY))}"
            )
        known = REGISTRY[subject]
        if name in known:
            choice[subject][name] = known[name]
        elif "." in name:
            choice[subject][name] = Impl(name)
        else:
            raise pytest.UsageError(
                f"--impl {option!r}: {subject} has no implementation {name!r}; "
                f"registered: {', '.join(known)}; or give package.module[:Object]"
            )
    return choice


_loaded = {}  # Impl -> (namespace, None) or (None, reason); one import per process


def _load(impl):
    if impl not in _loaded:
        try:
            _loaded[impl] = (impl.load(), None)
        except Exception as exc:  # an import error, a refusal to run on this Python...
            _loaded[impl] = (None, f"{type(exc).__name__}: {exc}")
    return _loaded[impl]


def pytest_generate_tests(metafunc):
    """Run every test that names a subject once per implementation of it."""
    for subject, registered in REGISTRY.items():
        if subject not in metafunc.fixturenames:
            continue
        impls = metafunc.config._switchyard_choice.get(subject) or registered
        params = []
        for name, impl in impls.items():
            namespace, reason = _load(impl)
            marks = [pytest.mark.impl(subject, name, impl.reference)]
            if reason is not None:
                marks.append(pytest.mark.skip(reason=f"unavailable: {reason}"))
            params.append(pytest.param(namespace, id=name, marks=marks))
        metafunc.parametrize(subject, params)


def pytest_collection_modifyitems(config, items):
    for item in items:
        impl = item.get_closest_marker("impl")
        if impl is None:
            continue
        subject, name, reference = impl.args
        item.user_properties.append(("switchyard", f"{subject}\t{name}"))
        fidelity = item.get_closest_marker("fidelity")
        if fidelity is not None and _behaves_like_the_reference(fidelity, name, reference):
            # A fidelity test states where an implementation differs from the reference:
            # it must fail there, or the difference is no longer real.
            reason = fidelity.args[0] if fidelity.args else "differs in the reference"
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


def _behaves_like_the_reference(fidelity, name, reference):
    """Whether implementation `name` should fail a fidelity test as the reference does.
    ``fidelity(reason)`` is a difference of all of ours; ``fidelity(reason, of=names)``
    one of those named only, and the others must fail it as the reference does. A
    subject with two references may name one in ``of`` (asyncio, where uvloop differs)."""
    differing = fidelity.kwargs.get("of")
    return reference if differing is None else name not in differing


# ---- The matrix: tests down, implementations across


class Matrix:
    """Collects one outcome per (test, implementation) and prints them as a table."""

    def __init__(self):
        self.cells = defaultdict(dict)  # subject -> {(row, impl name): outcome}
        self.unavailable = {}  # (subject, impl name) -> reason

    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties)
        outcome = _outcome(report)
        if "switchyard" not in props or outcome is None:
            return
        subject, name = props["switchyard"].split("\t")
        cells = self.cells[subject]
        key = (_row(report.nodeid, name), name)
        if cells.get(key) in (None, "pass"):  # a teardown error overrides a pass
            cells[key] = outcome
        if outcome == "unavailable":
            self.unavailable[(subject, name)] = report.longrepr[2].removeprefix("Skipped: ")

    def pytest_terminal_summary(self, terminalreporter):
        for subject, cells in sorted(self.cells.items()):
            self._table(terminalreporter, subject, cells)
        for (subject, name), reason in sorted(self.unavailable.items()):
            terminalreporter.line(f"unavailable: {subject}={name}: {reason}")

    @staticmethod
    def _table(out, subject, cells):
        names = list(dict.fromkeys(name for _, name in cells))
        rows = sorted({row for row, _ in cells})  # xdist finishes tests in any order
        width = max(len(r) for r in rows)
        out.section(f"conformance matrix: {subject}")
        out.line(" " * width + "".join(f"  {n:>12}" for n in names))
        for row in rows:
            out.line(f"{row:<{width}}" + "".join(f"  {cells.get((row, n), '-'):>12}" for n in names))
        passed = {n: sum(cells.get((r, n)) in ("pass", "xfail") for r in rows) for n in names}
        out.line("as expected (pass or xfail): " + ", ".join(f"{n} {passed[n]}/{len(rows)}" for n in names))


def _outcome(report):
    if report.skipped and hasattr(report, "wasxfail"):
        return "xfail"
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        return "unavailable" if "unavailable:" in reason else "skip"
    if report.failed:
        return "FAIL" if report.when == "call" else "ERROR"
    if report.when == "call":
        return "XPASS" if hasattr(report, "wasxfail") else "pass"
    return None


def _row(nodeid, name):
    """The test's name without the implementation's id, the same in every column."""
    path, _, test = nodeid.rpartition("::")
    base, bracket, params = test.partition("[")
    rest = [p for p in params.rstrip("]").split("-") if p and p != name]
    row = f"{path.rsplit('/', 1)[-1]}::{base}"
    return f"{row}[{'-'.join(rest)}]" if bracket and rest else row

"""A library's own test modules, run on our implementations: the parts every such suite shares.

`coursetools.gevent_suite` (gevent's loop-level tests on our loops) and
`coursetools.greenlet_suite` (greenlet's API tests on our greenlets) work alike:

- each (module, implementation) runs in a fresh interpreter, under ``unittest``, with a
  result object that writes every test's outcome to a JSON file as it goes
  (`run_tests`, in the child; `run_child`, in the parent);
- a test that hangs past its time limit (the fault handler dumps every thread's stack and
  ends the process) or kills the process counts as an error of that test, and the tests
  after it run on in a new process; the module as a whole has a time limit too, after
  which the process is killed with its process group (a test may fork or start scripts);
- an implementation whose module cannot be imported is "unavailable", with the error;
- an `Expect` per (module, implementation) names each test that may fail, with the reason;
  `Suite.check` holds a `Run` to it, `Suite.table` prints the counts, module down,
  implementation across, and `Suite.main` is the command line of both;
- `pytest_params` and `assert_as_expected` make it one pytest test per pair.

Each suite is a `Suite`: what differs (the implementations, the modules and what they
must do, how a child process is prepared, the words of its command line) is in its
fields, given by the two suite modules.
"""
from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository; children run from here
HUNG = "Timeout ("  # how faulthandler.dump_traceback_later's report of a hang begins
HANG_TIMEOUT = 5.0  # seconds a test that is known to hang (Expect.hangs) is given
HANGS_VARIABLE = "UPSTREAM_SUITE_HANGS"  # tells the child those tests, as a JSON list


# ---- What must happen


@dataclasses.dataclass(frozen=True)
class Expect:
    """What one module must do on one implementation: every test passes (or is skipped by
    the library's own test code), except the tests named here, each with its reason.

    ``fails``: must fail; one that passes is a mismatch too, so that a fixed failure
    is noticed and the table updated. ``hangs``: must fail too, by hanging; it gets
    `HANG_TIMEOUT` seconds instead of the suite's limit per test, so that waiting for
    it costs little. ``flaky``: may fail on the module's run; each one that does is run
    again, alone, in a fresh process, and must pass then. ``excluded``: runs and is
    counted, but its outcome is not judged, because a second run would not settle it
    either.
    """

    fails: dict = dataclasses.field(default_factory=dict)  # test id -> reason
    flaky: dict = dataclasses.field(default_factory=dict)
    excluded: dict = dataclasses.field(default_factory=dict)
    hangs: dict = dataclasses.field(default_factory=dict)

    def named(self):
        return {**self.fails, **self.hangs, **self.flaky, **self.excluded}

    def __or__(self, other):
        """The names of both: ``C_INTERNALS | NO_REPR``."""
        return Expect(*({**getattr(self, f.name), **getattr(other, f.name)}
                        for f in dataclasses.fields(self)))


PASS = Expect()


@dataclasses.dataclass
class Run:
    """The outcome of one module on one implementation.

    ``status`` is "ok" (every test ran, or hung or crashed on its own; see the lists),
    "timeout" (the module overran its time limit), "crash" (the module did not import,
    or the process died before its first test or between two tests) or "unavailable"
    (the implementation does not import). ``detail`` says why.
    """

    status: str
    passed: list = dataclasses.field(default_factory=list)
    failed: dict = dataclasses.field(default_factory=dict)  # test id -> traceback
    errors: dict = dataclasses.field(default_factory=dict)  # test id -> traceback
    skipped: dict = dataclasses.field(default_factory=dict)  # test id -> reason
    detail: str = ""  # why it did not run, or the end of its output
    seconds: float = 0.0
    rerun: dict = dataclasses.field(default_factory=dict)  # flaky test id -> "passed"/"failed"

    @property
    def broken(self):
        """Test ids that failed or raised."""
        return {**self.failed, **self.errors}

    def counts(self):
        return {kind: len(getattr(self, kind)) for kind in KINDS}


KINDS = ("passed", "failed", "errors", "skipped")


# ---- A suite: one library's test modules on its implementations


@dataclasses.dataclass(frozen=True)
class Suite:
    """One library's test modules, each run on each implementation, and the command that
    does it. The fields are what the two suites differ in; the methods, what they share.

    An implementation (a "column": the table has one per implementation) is a name of
    ``columns``, or any other target as it is (a learner's own: given on the command line
    or to ``pytest --impl``), which must pass every test.
    """

    command: str  # the suite's module: `python -m command` runs it, and its children
    doc: str  # that module's docstring; its first paragraph is the --help description
    columns: dict  # name -> target: what the child is told to use
    modules: list  # the library's test modules, in the table's order
    expected: dict  # module -> column name -> Expect, for every module and column
    timeout: float  # seconds one module may take on one column, unless told otherwise
    module_of: Callable  # target -> the module that must import, else "unavailable"
    environment: Callable  # (target, an empty temporary folder) -> the child's environment;
    # it puts in the folder whatever the child needs
    child: Callable  # (module, result path, test ids) -> exit status: calls `run_tests`
    # The words of the command line and of the table, each suite's own:
    option: str  # "loops": --loops chooses the columns
    option_help: str  # its --help
    other: str  # what else it takes, in its error: "a loop class as package.module.Class"
    column: str  # one column, in the --timeout help: "loop"
    modules_named: str  # what they are, in the --modules help: "gevent.tests modules"
    modules_are: str  # why they are the ones, in its error: "accept any loop"
    told: str  # how a child is told its column, in the table's legend: "with GEVENT_LOOP set"

    def __post_init__(self):
        # a row per module, in order, each naming every column: nothing left to a default
        assert list(self.expected) == self.modules, "EXPECTED must list MODULES, in order"
        assert all(list(row) == list(self.columns) for row in self.expected.values()), \
            "each row of EXPECTED must name every column, in order"

    def target(self, column):
        """What the child is told: the target of a name of columns, or column as it is."""
        return self.columns.get(column, column)

    def expect(self, module, column):
        """EXPECTED's entry; a column that is not in columns must pass every test."""
        return self.expected.get(module, {}).get(column, PASS)

    def unavailable(self, column):
        """Why the column's module cannot be imported ("ImportError: ..."), or None."""
        return import_error(self.module_of(self.target(column)))

    # ---- Running

    def run_module(self, module, column, tests=(), timeout=None):
        """Run one test module (or some of its tests, by id) on one column."""
        reason = self.unavailable(column)
        if reason is not None:
            return Run("unavailable", detail=reason)
        with tempfile.TemporaryDirectory() as tmp:
            env = self.environment(self.target(column), Path(tmp))
            command = [sys.executable, "-m", self.command, "--child", module]
            return run_child(command, env, Path(tmp, "result.json"), timeout or self.timeout,
                             tests, self.expect(module, column).hangs)

    def run_pair(self, module, column, timeout=None):
        """Run a module on a column; give each flaky test that failed a second run, alone,
        in a fresh process."""
        run = self.run_module(module, column, timeout=timeout)
        for test in sorted(set(run.broken) & set(self.expect(module, column).flaky)):
            again = self.run_module(module, column, [test], timeout)
            passed = again.status == "ok" and not again.broken
            run.rerun[test] = "passed" if passed else "failed"
        return run

    def run_all(self, modules, columns, jobs, timeout=None, progress=lambda line: None):
        """run_pair for every module on every column, jobs at once: {(module, column):
        Run}."""
        for column in columns:
            self.unavailable(column)  # once each, before the threads ask
        pairs = [(module, column) for module in modules for column in columns]

        def one(pair):
            run = self.run_pair(*pair, timeout=timeout)
            progress(f"{pair[0]:<28} {pair[1]:<12} {run.status:<11} {run.seconds:5.1f} s")
            return run

        with ThreadPoolExecutor(jobs) as pool:
            return dict(zip(pairs, pool.map(one, pairs)))

    # ---- Judging

    def check(self, module, column, run):
        """Problems with a run against EXPECTED, one message each, each starting with
        "module on column"; [] if it is as expected."""
        label, expect = f"{module} on {column}", self.expect(module, column)
        if run.status != "ok":
            return [f"{label}: {run.status}: {run.detail}"]
        problems, fails = [], {**expect.fails, **expect.hangs}
        for test, trace in sorted(run.broken.items()):
            if test in fails or test in expect.excluded:
                continue
            if test in expect.flaky and run.rerun.get(test) == "passed":
                continue
            again = " (and again on its second run, alone)" if test in run.rerun else ""
            problems.append(f"{label}: {test} failed{again}:\n{trace}")
        for test, reason in sorted(fails.items()):
            if test in run.passed:
                problems.append(f"{label}: {test} was expected to fail ({reason}) "
                                "but passed: update EXPECTED")
        ran = {*run.passed, *run.broken, *run.skipped}
        for test in sorted(expect.named()):
            if test not in ran:  # a typo, or upstream renamed it: the entry would never apply
                problems.append(f"{label}: EXPECTED names {test}, which did not run")
        return problems

    def notes(self, module, column, run):
        """How each test EXPECTED names fared in a run, one line each."""
        expect, lines = self.expect(module, column), []
        for test in sorted(expect.named()):
            if test in run.broken:
                again = run.rerun.get(test, "did not run")
                how = ("failed, as expected" if test in expect.fails
                       else "failed (it is known to hang), as expected"
                       if test in expect.hangs
                       else "failed, excluded from the verdict" if test in expect.excluded
                       else f"failed, then {again} on its second run")
                lines.append(f"{module} on {column}: {test} {how}")
        return lines

    def table(self, results, modules, columns):
        """Module down, column across: passed/failed/errors/skipped per cell, a total per
        column, then how the tests EXPECTED names fared."""
        header = ["", *columns]
        body, remarks = [], []
        for module in modules:
            line = [module]
            for column in columns:
                run = results[module, column]
                if run.status != "ok":
                    line.append(run.status + "  ")
                    continue
                remarks += self.notes(module, column, run)
                flag = "!" if self.check(module, column, run) else "*" if run.broken else " "
                line.append("/".join(str(len(getattr(run, kind))) for kind in KINDS) + " "
                            + flag)
            body.append(line)
        total = ["total"]
        for column in columns:
            runs = [results[m, column] for m in modules if results[m, column].status == "ok"]
            total.append("/".join(str(sum(len(getattr(r, kind)) for r in runs))
                                  for kind in KINDS) + "  " if runs else "-  ")
        rows = [header, *body, total]
        widths = [max(len(line[i]) for line in rows) for i in range(len(header))]

        def fmt(line):
            return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(line, widths))).rstrip()

        legend = ("passed/failed/errors/skipped tests per module, each module in a fresh "
                  f"process {self.told};\n* = as EXPECTED, with the failures it names "
                  "(below), ! = not as EXPECTED")
        return "\n".join([legend, *map(fmt, rows), *remarks])

    # ---- The command line

    def parser(self):
        parser = argparse.ArgumentParser(prog=f"python -m {self.command}",
                                         description=self.doc.split("\n\n")[0].strip())
        parser.add_argument(f"--{self.option}", default=",".join(self.columns),
                            help=self.option_help)
        parser.add_argument("--modules", default=",".join(self.modules),
                            help=f"comma-separated {self.modules_named} (default: the list "
                                 "in this module)")
        parser.add_argument("--jobs", "-j", type=int, default=2,
                            help="modules run at once (default 2)")
        parser.add_argument("--timeout", type=float, default=self.timeout,
                            help=f"seconds one module may take on one {self.column} "
                                 f"(default {self.timeout:g})")
        parser.add_argument("--quiet", action="store_true",
                            help="no progress lines on stderr")
        # the parent starts each child as `python -m command --child MODULE RESULT [TEST...]`
        parser.add_argument("--child", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
        return parser

    def main(self, argv=None):
        """Print the table of the modules and columns asked for, the columns that are
        unavailable and every problem `check` finds; the exit status: 1 if any."""
        parser = self.parser()
        args = parser.parse_args(argv)
        if args.child:
            module, result_path, *tests = args.child
            return self.child(module, result_path, tests)

        columns = [name.strip() for name in getattr(args, self.option).split(",")
                   if name.strip()]
        modules = [name.strip() for name in args.modules.split(",") if name.strip()]
        for name in columns:
            if name not in self.columns and "." not in name:
                parser.error(f"--{self.option}: unknown {name}; choose from "
                             f"{', '.join(self.columns)}, or give {self.other}")
        for name in modules:
            if name not in self.expected:
                parser.error(f"--modules: {name} is not in the list of modules that "
                             f"{self.modules_are}")

        def progress(line):
            if not args.quiet:
                print(line, file=sys.stderr, flush=True)

        results = self.run_all(modules, columns, args.jobs, args.timeout, progress)
        print(self.table(results, modules, columns))
        for column in columns:
            reason = self.unavailable(column)
            if reason is not None:
                print(f"unavailable: {column}: {reason}")
        problems = [problem for (module, column), run in results.items()
                    if run.status != "unavailable"
                    for problem in self.check(module, column, run)]
        for problem in problems:
            print(f"\nNOT AS EXPECTED: {problem}")
        return 1 if problems else 0


# ---- The parent: one module on one implementation, in fresh processes


_import_errors = {}  # module -> reason, or None if it imports; one check per process


def import_error(module):
    """Why a fresh interpreter cannot import module ("ImportError: ..."), or None."""
    if module not in _import_errors:
        done = subprocess.run(
            [sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True,
            text=True, timeout=60)
        lines = done.stderr.strip().splitlines()
        _import_errors[module] = (None if done.returncode == 0
                                  else lines[-1] if lines else f"exit status {done.returncode}")
    return _import_errors[module]


def run_child(command, env, result, timeout, tests=(), hangs=()):
    """Run command + [result, *tests] (a child that calls `run_tests`) until every test
    has an outcome: after a test that hung or killed its process, a new process runs the
    tests the last one did not reach. ``timeout`` bounds them all together; the tests
    named in ``hangs`` get `HANG_TIMEOUT` seconds each."""
    started, tests = time.monotonic(), list(tests)
    env = {**env, HANGS_VARIABLE: json.dumps(sorted(hangs))}
    outcome, planned = _empty(), None
    while True:
        returncode, output = _one_process([*command, str(result), *tests], env,
                                          timeout - (time.monotonic() - started))
        seconds, timed_out = time.monotonic() - started, returncode is None
        ends = (f"killed after {timeout:g} s; " if timed_out else "") + "output ends:\n"
        partial = json.loads(result.read_text()) if result.exists() else None
        result.unlink(missing_ok=True)
        if partial is None or partial["planned"] is None:  # it ended before its first test
            return Run("timeout" if timed_out else "crash", seconds=seconds,
                       detail=("" if timed_out else f"exit status {returncode}; ")
                       + ends + tail(output))
        planned = planned or partial["planned"]
        for kind in ("failed", "errors", "skipped"):
            outcome[kind].update(partial[kind])
        outcome["passed"] += partial["passed"]
        outcome["finished"] += partial["finished"]
        running = partial["running"]
        if running is not None:  # the fault handler ended a hung test, or the process died
            why = (f"still running when the module's {timeout:g} s ran out" if timed_out
                   else "hung: its time limit ran out, and the fault handler ended the "
                   "process" if returncode == 1 and HUNG in output
                   else f"killed the process (exit status {returncode})")
            outcome["errors"][running] = f"{why}; output ends:\n" + tail(output)
            outcome["finished"].append(running)
        tests = [test for test in planned if test not in outcome["finished"]]
        status = ("timeout" if timed_out
                  else "crash" if running is None and not partial["done"]  # between tests
                  else "ok" if running is None or not tests
                  else None)  # a test hung or crashed: on with the rest
        if status is not None:
            detail = ends + tail(output)
            if status == "crash":
                detail = (f"the process ended between tests (exit status {returncode}), "
                          f"{len(tests)} left; {detail}")
            return Run(status, outcome["passed"], outcome["failed"], outcome["errors"],
                       outcome["skipped"], detail=detail, seconds=seconds)


def _one_process(command, env, timeout):
    """Run command in a process group of its own; (exit status or None if it overran
    timeout, output). Whatever it leaves behind (a script, a fork) is killed with it."""
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = child.communicate(timeout=max(timeout, 0.1))
    except subprocess.TimeoutExpired:
        output = None
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if output is None:
        return None, child.communicate()[0]
    return child.returncode, output


def _empty():
    return {"passed": [], "failed": {}, "errors": {}, "skipped": {}, "finished": [],
            "done": False}


def tail(text, lines=25):
    return "\n".join(text.strip().splitlines()[-lines:])


# ---- The child: one module under unittest, every outcome to a JSON file as it comes


class Recorder(unittest.TestResult):
    """Every test's outcome by id, written to a file after each test, with the test that
    runs now: if the process dies or hangs, the parent knows which test did it, and which
    are left. An expected failure counts as passed, an unexpected success as failed (the
    test's own expectation did not hold). Ids are relative to the module:
    "Class.test_method"; a module-level error keeps its whole description."""

    def __init__(self, prefix, path, test_timeout):
        super().__init__()
        self.prefix, self.path, self.test_timeout = prefix, Path(path), test_timeout
        self.hangs = set(json.loads(os.environ.get(HANGS_VARIABLE, "[]")))
        self.outcome = {"planned": None, "running": None, **_empty()}

    def _id(self, test):
        return test.id().removeprefix(self.prefix) if test.id().startswith(self.prefix) \
            else str(test)

    def write(self):
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.outcome))
        temporary.replace(self.path)  # never half written

    def startTest(self, test):
        super().startTest(test)
        self.outcome["running"] = self._id(test)
        self.write()
        # a hang: every thread's stack to the output, and the process ends (exit status 1)
        faulthandler.dump_traceback_later(
            HANG_TIMEOUT if self.outcome["running"] in self.hangs else self.test_timeout,
            exit=True)

    def stopTest(self, test):
        faulthandler.cancel_dump_traceback_later()
        self.outcome["finished"].append(self.outcome["running"])
        self.outcome["running"] = None
        self.write()
        super().stopTest(test)

    def addSuccess(self, test):
        self.outcome["passed"].append(self._id(test))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcome["failed"][self._id(test)] = self.failures[-1][1]

    def addError(self, test, err):
        super().addError(test, err)
        self.outcome["errors"][self._id(test)] = self.errors[-1][1]

    def addSkip(self, test, reason):
        self.outcome["skipped"][self._id(test)] = reason

    def addExpectedFailure(self, test, err):
        self.outcome["passed"].append(self._id(test))

    def addUnexpectedSuccess(self, test):
        self.outcome["failed"][self._id(test)] = "unexpected success"

    def addSubTest(self, test, subtest, err):
        if err is not None:  # a failing subtest fails its test
            self.addFailure(subtest, err)


def run_tests(name, result_path, tests, test_timeout):
    """In the child: run module ``name``'s tests (all, or the ids given); record each."""
    recorder = Recorder(f"{name}.", result_path, test_timeout)
    loader = unittest.TestLoader()
    faulthandler.enable()
    faulthandler.dump_traceback_later(test_timeout, exit=True)  # a module that hangs on import
    if tests:
        suite = loader.loadTestsFromNames([f"{name}.{test}" for test in tests])
    else:
        suite = loader.loadTestsFromName(name)  # imports it: a script runs here
    faulthandler.cancel_dump_traceback_later()
    planned = [recorder._id(test) for test in _flatten(suite)]
    if not planned and not tests:
        # a script, not a TestCase module: it ran on import, and got to the end
        recorder.outcome["passed"].append(f"{name.rpartition('.')[2]} (script)")
    recorder.outcome["planned"] = planned
    recorder.write()
    suite.run(recorder)
    recorder.outcome["done"] = True  # to the end: no test is missing
    recorder.write()
    return 0


def _flatten(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _flatten(test)
        else:
            yield test


# ---- For pytest: one test per (module, column), in tests/test_*_suite.py


def pytest_params(suite, config, subject, references, own=lambda target: target):
    """(module, column) for every module on every column, or on the implementations
    ``pytest --impl subject=...`` chose (conftest.py leaves them on config): a column of
    the suite by its name, any other as own(its target) makes it, what the suite takes.
    Each is marked for conftest's matrix, as the library's own if its name is in
    references."""
    import pytest  # here, not at the top: the command line runs without it

    chosen = getattr(config, "_switchyard_choice", {}).get(subject)
    columns = {name: name for name in suite.columns}  # the name in the matrix -> the suite's
    if chosen:
        columns = {name: name if name in suite.columns else own(impl.target)
                   for name, impl in chosen.items()}
    return [pytest.param(module, column, id=f"{module}-{name}",
                         marks=pytest.mark.impl(subject, name, name in references))
            for module in suite.modules for name, column in columns.items()]


def assert_as_expected(suite, module, column):
    """The test of one pair: skipped if the column is unavailable, else every problem
    `Suite.check` finds fails it."""
    import pytest

    reason = suite.unavailable(column)
    if reason is not None:
        pytest.skip(f"unavailable: {reason}")
    problems = suite.check(module, column, suite.run_pair(module, column))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)

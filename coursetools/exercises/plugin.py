"""The pytest plugin of the child process that ``switchyard check`` starts.

It imports the learner's module first (so that a syntax error is reported with its file
and line, not as a skipped implementation), refuses a module that re-exports someone
else's code, keeps only the tests of the planned stages, in stage order, stops at the
first failing stage (or, with ``--all``, skips the rest of a failed stage), and writes
one JSON line per event to the file descriptor the parent gave. The parent prints them
and enforces the timeouts: a child stuck in C code cannot be trusted to stop itself.
"""
import importlib
import inspect
import json
import os
import re
import traceback
from pathlib import Path

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("switchyard exercises")
    group.addoption("--switchyard-plan", help="the JSON plan written by switchyard check")
    group.addoption("--switchyard-events", type=int, help="fd to write JSON events to")


def pytest_configure(config):
    plan = config.getoption("--switchyard-plan")
    if plan:
        events = config.getoption("--switchyard-events")
        config.pluginmanager.register(Grader(json.loads(Path(plan).read_text()), events))


class Grader:
    def __init__(self, plan, fd):
        self.plan = plan
        self.fd = fd
        os.set_inheritable(fd, False)  # the tests' subprocesses must not hold it open
        self.workdir = plan["workdir"]
        self.stage_of = {}  # base node id -> stage number
        self.rank = {}  # base node id -> its place in the manifest: the order tests run in
        for stage in plan["stages"]:
            for test in stage["tests"]:
                self.stage_of.setdefault(test, stage["number"])
                self.rank.setdefault(test, len(self.rank))
        self.item_stage = {}  # nodeid -> stage number
        self.failed = set()  # stage numbers
        self.current = None

    def emit(self, **event):
        os.write(self.fd, (json.dumps(event) + "\n").encode())

    # ---- Before collection: the learner's module, and whose code it is

    def pytest_sessionstart(self, session):
        try:
            module = importlib.import_module(self.plan["module"])
            # A namespace made on first access (hub's runtimes) imports the rest now.
            namespace = getattr(module, self.plan["object"]) if self.plan["object"] else module
        except BaseException as exc:  # SyntaxError, ImportError, SystemExit, anything
            self.emit(event="error", kind="import", **self.describe(exc))
            pytest.exit("the learner's module cannot be imported", returncode=3)
        problems = self.foreign(module, namespace)
        if problems:
            self.emit(event="error", kind="cheat", message="\n".join(problems))
            pytest.exit("the learner's module is not the learner's code", returncode=3)

    def foreign(self, module, namespace):
        """What in the learner's module comes from elsewhere: each a sentence."""
        if not self.mine(getattr(module, "__file__", None)):
            return [f"{module.__name__} was imported from {module.__file__}, "
                    f"not from {self.workdir}"]
        problems = []
        for name in self.plan["contract"]:
            value = getattr(namespace, name, None)
            origin = getattr(value, "__module__", None)
            if inspect.isclass(value) and not origin.startswith(self.plan["package"]):
                problems.append(f"{name} is {origin}.{name}, not a class of yours: "
                                "the stages grade your own code, not a re-export")
        for stage in self.plan["stages"]:
            for file, qualname in stage["writes"]:
                problem = self.check_target(file, qualname)
                if problem:
                    problems.append(problem)
        return problems

    def check_target(self, file, qualname):
        # A nested function (coroutine.<locals>.wrapper) is the outer one's code.
        qualname = qualname.partition(".<locals>.")[0]
        module_name = f"{self.plan['package']}.{file.removesuffix('.py')}"
        try:
            value = importlib.import_module(module_name)
            for part in qualname.split("."):
                if inspect.isclass(value) and part.startswith("__") and not part.endswith("__"):
                    part = f"_{value.__name__.lstrip('_')}{part}"  # private: Task.__step
                value = inspect.getattr_static(value, part)
        except (ImportError, AttributeError):
            return f"{file} has no {qualname}: keep the skeleton's names"
        if isinstance(value, property):
            value = value.fget
        function = getattr(value, "__func__", value)  # staticmethod, classmethod
        code = getattr(inspect.unwrap(function), "__code__", None)
        if code is None or not self.mine(code.co_filename):
            where = code.co_filename if code else type(value).__name__
            return (f"{qualname} comes from {where}, not from your {file}: "
                    "the stages grade your own code, not a re-export")
        return None

    def mine(self, filename):
        return filename is not None and Path(filename).resolve().is_relative_to(self.workdir)

    # ---- Collection: the planned stages' tests, in stage order

    @pytest.hookimpl(trylast=True)  # after the conftest has marked the fidelity tests
    def pytest_collection_modifyitems(self, config, items):
        kept, dropped = [], []
        for item in items:
            number = self.stage_of.get(self.spec(item.nodeid))
            if number is None:
                dropped.append(item)
                continue
            self.item_stage[item.nodeid] = number
            self.grade_as_ours(item)
            kept.append(item)
        # In the manifest's order, the simplest test of a stage first; the parameters of
        # one test in the file's order (the sort is stable).
        kept.sort(key=lambda item: self.rank[self.spec(item.nodeid)])
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept
        found = {self.spec(item.nodeid) for item in kept}
        missing = sorted(set(self.stage_of) - found)
        self.emit(event="collected", tests={n: sum(v == n for v in self.item_stage.values())
                                            for n in set(self.stage_of.values())},
                  missing=missing)

    def spec(self, nodeid):
        """What in the plan names this test: its node id without parameters, or its file."""
        base = nodeid.partition("[")[0]
        return base if base in self.stage_of else base.partition("::")[0]

    @staticmethod
    def grade_as_ours(item):
        # A fidelity test states what ours does: the learner's code is graded as ours,
        # so the strict xfail the conftest gives implementations that behave like the
        # reference does not apply.
        fidelity = item.get_closest_marker("fidelity")
        if fidelity is not None:
            item.own_markers[:] = [m for m in item.own_markers if m.name != "xfail"]

    # ---- Running

    def pytest_runtest_logstart(self, nodeid, location):
        number = self.item_stage[nodeid]
        if number != self.current:
            self.current = number
            self.emit(event="stage", number=number)
        self.emit(event="test", nodeid=nodeid)

    def pytest_runtest_setup(self, item):
        if self.item_stage[item.nodeid] in self.failed:
            pytest.skip("an earlier test of this stage failed")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.skipped and "unavailable:" in str(report.longrepr):
            # The conftest could not make the namespace (a capstone's runtime): a failure.
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            self.fail(item, call, message=_shorten(reason.removeprefix("Skipped: ")),
                      frames=[], test_line=None)
        elif report.failed and call.excinfo is None:  # a strict xfail that passed
            self.fail(item, call, message=_shorten(report.longreprtext), frames=[],
                      test_line=None)
        elif report.failed:
            self.fail(item, call, logged=self.logged(report.caplog + "\n" + report.capstderr),
                      **self.describe(call.excinfo.value))
        elif report.when == "call" or report.skipped:
            skipped = report.skipped and not hasattr(report, "wasxfail")
            self.emit(event="result", nodeid=item.nodeid,
                      outcome="skipped" if skipped else "passed", when=call.when)

    def fail(self, item, call, **details):
        """The stage of `item` has failed: say so, and stop unless every stage runs."""
        number = self.item_stage[item.nodeid]
        self.failed.add(number)
        doc = inspect.getdoc(getattr(item, "function", None)) or ""
        self.emit(event="result", nodeid=item.nodeid, outcome="failed", when=call.when,
                  doc=doc.split("\n")[0], **details)
        if not self.plan["all"]:
            item.session.shouldstop = f"stage {number} failed"

    def pytest_sessionfinish(self, session):
        self.emit(event="done")

    # ---- An exception, as the learner should see it

    def describe(self, exc):
        """The exception's short text, the learner's frames, the test's line."""
        lines = traceback.format_exception_only(type(exc), exc)
        frames = []
        if isinstance(exc, SyntaxError):  # its place is the frame: no caret drawing twice
            lines = [f"{type(exc).__name__}: {exc.msg}"]
            frames = [[exc.filename, exc.lineno, "", (exc.text or "").rstrip()]]
        test_line = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if self.mine(frame.filename):
                frames.append([frame.filename, frame.lineno, frame.name, frame.line])
            elif "/tests/" in frame.filename:
                test_line = [frame.filename, frame.lineno, frame.line]
        message = "".join(lines).rstrip()
        if isinstance(exc, AssertionError) and exc.args:
            message = "AssertionError: " + str(exc.args[0])
        described = dict(message=_shorten(message), frames=frames[-6:], test_line=test_line)
        context = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if context is not None and context is not exc:
            # Raised while handling another: that one is often what went wrong first
            # (a callback's error, met by an error handler not written yet).
            described["context"] = self.describe(context)
        return described


    def logged(self, text):
        """The last traceback logged (or printed) during the test that passed through
        the learner's code, as describe() gives it: a loop or a scheduler logs what a
        callback raised and goes on, so the test fails later, on an assertion."""
        blocks = text.split("Traceback (most recent call last):")[1:]
        for block in reversed(blocks):
            lines = block.splitlines()
            frames = []
            for index, line in enumerate(lines):
                match = _FRAME.match(line)
                if match and self.mine(match["file"]):
                    code = lines[index + 1].strip() if index + 1 < len(lines) else ""
                    frames.append([match["file"], int(match["line"]), match["name"], code])
            if frames:
                message = next((line for line in lines if line and not line[0].isspace()), "")
                return dict(message=_shorten(message), frames=frames[-6:], test_line=None)
        return None


_FRAME = re.compile(r'\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<name>.+)')
_NOISE = ("Use -v to get more diff", "Use -v to get the full diff")


def _shorten(text, lines=10, width=300):
    kept = [line if len(line) <= width else line[:width] + " ..."
            for line in text.splitlines() if line.strip() not in _NOISE]
    return "\n".join(kept[:lines] + (["..."] if len(kept) > lines else []))

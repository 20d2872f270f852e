"""``switchyard check``: the stages, in a child process that cannot take us down.

The child is pytest with the conformance suite, ``--impl SUBJECT=mywork.NAME.MODULE``
and the grading plugin; it reports on a pipe, one JSON line per event. Here we print
those events as they come, each line prefixed with its stage, and enforce the limits:
a stage that runs past its timeout, or a child that dies (a segfault, ``os._exit``),
is a failed stage, reported as such.
"""
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .capstone import ENV as CAPSTONE_ENV
from .manifest import ROOT

UNUSED_PLUGINS = ("cacheprovider", "xdist", "xdist.looponfail", "hypothesispytest", "nbmake")
STARTUP = 60.0  # seconds to import pytest, the suite and the learner's module


@dataclasses.dataclass
class Outcome:
    passed: list  # stage numbers that passed
    failed: int | None = None  # the stage that failed, if one did
    problem: str | None = None  # timeout, crash, import, cheat, manifest, collection, or None


def relative(path):
    """A path as short as it gets: from here, or else from the repository."""
    here = os.path.relpath(path)
    return here if not here.startswith("..") else os.path.relpath(path, ROOT)


def tests(count):
    return f"{count} test" + ("" if count == 1 else "s")


def short_name(nodeid):
    """A test's name without its file or its parameters."""
    return nodeid.rpartition("::")[2].partition("[")[0]


class Printer:
    def __init__(self, subject, out):
        self.subject = subject
        self.out = out
        self.total = len(subject.stages)

    def line(self, number, text=""):
        prefix = ("[switchyard]" if not number else "[capstone]" if number > self.total
                  else f"[stage {number}/{self.total}]")
        for part in (text.splitlines() or [""]):
            self.out(f"{prefix} {part}".rstrip())

    def failure(self, number, event):
        self.line(number, f"FAIL {short_name(event['nodeid'])}")
        if event.get("doc"):
            self.line(number, f"  what it checks: {event['doc']}")
        self.details(number, event)
        if event.get("logged") and not event["frames"]:
            self.line(number, "  logged while the test ran:")
            self.details(number, event["logged"], indent="    ")

    def details(self, number, event, indent="  "):
        if event.get("context"):
            self.details(number, event["context"], indent)
            self.line(number, f"{indent}and while handling that:")
        for line in event["message"].splitlines():
            self.line(number, f"{indent}{line}")
        if event["frames"]:
            self.line(number, f"{indent}in your code:")
        for filename, lineno, name, text in event["frames"]:
            where = f"{relative(filename)}:{lineno}" + (f" in {name}" if name else "")
            self.line(number, f"{indent}  {where}")
            if text:
                self.line(number, f"{indent}    {text.strip()}")
        if event.get("test_line"):
            filename, lineno, _ = event["test_line"]
            self.line(number, f"{indent}checked at {relative(filename)}:{lineno}")

    def help(self, stage):
        site, book = stage.links()
        self.line(stage.number, f"read: {site}  (book: {book})")
        self.line(stage.number, "stuck? `switchyard hint` gives one hint at a time")


def plan(subject, workdir, stages, run_all):
    folder = subject.folder(workdir)
    return {
        "module": f"{workdir.name}.{subject.name}.{subject.module}",
        "object": subject.object,
        "package": f"{workdir.name}.{subject.name}",
        "workdir": str(folder.resolve()),
        "contract": list(subject.contract),
        "all": run_all,
        "stages": [{"number": s.number, "tests": list(s.tests),
                    "writes": [[t.file, t.qualname] for t in s.writes]} for s in stages],
    }


def impl_target(plan):
    """What --impl names: the module, or a name in it (package.module:Object)."""
    return plan["module"] + (f":{plan['object']}" if plan["object"] else "")


def command(impl, plan_path, fd, stages):
    files = sorted({test.partition("::")[0] for stage in stages for test in stage.tests})
    return [
        sys.executable, "-m", "pytest", "-q", "--no-header",
        # Plugins the conformance tests do not use cost most of a second to import.
        *[arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}")],
        "-p", "coursetools.exercises.plugin",
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-o", "addopts=",
        "--impl", impl,
        "--switchyard-plan", str(plan_path), "--switchyard-events", str(fd),
        *[str(ROOT / f) for f in files],
    ]


def run(subject, workdir, stages, run_all=False, out=print, capstone=False):
    """Run ``stages`` (in order) on the learner's code in ``workdir``; print as we go.
    With ``capstone``, the subject's capstone instead (the stages are ignored)."""
    workdir = Path(workdir).resolve()
    printer = Printer(subject, out)
    if capstone:
        stages = [subject.capstone_stage()]
    by_number = {s.number: s for s in stages}
    with tempfile.TemporaryDirectory(prefix="switchyard-") as tmp:
        plan_path = Path(tmp) / "plan.json"
        the_plan = plan(subject, workdir, stages, run_all)
        plan_path.write_text(json.dumps(the_plan))
        log = open(Path(tmp) / "output", "w+")
        read_fd, write_fd = os.pipe()
        env = environment(workdir)
        impl = f"{subject.subject}={impl_target(the_plan)}"
        if capstone:
            impl = "runtime=coursetools.exercises.capstone:runtime"
            env[CAPSTONE_ENV] = f"{subject.capstone}={impl_target(the_plan)}"
            if subject.capstone == "libev":  # gevent's first hub takes this loop class
                env["GEVENT_LOOP"] = f"{the_plan['module']}.loop"
        child = subprocess.Popen(
            command(impl, plan_path, write_fd, stages), cwd=workdir.parent, env=env,
            pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        os.close(write_fd)
        try:
            return Session(printer, by_number, child, read_fd, log).follow()
        finally:
            os.close(read_fd)
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            log.close()


def environment(workdir):
    """The child's: the learner's folder importable, no stale bytecode of a quick edit."""
    path = os.pathsep.join(filter(None, [str(workdir.parent), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=path)


def gevent_suite(subject, workdir, out=print):
    """The libev capstone's second half: gevent's own loop-level test modules on the
    learner's loop (coursetools.gevent_suite, as capstone.gevent_suite sets it up), its
    table printed as it comes."""
    workdir = Path(workdir).resolve()
    loop_class = f"{workdir.name}.{subject.name}.{subject.module}.loop"
    child = subprocess.Popen(
        [sys.executable, "-m", "coursetools.exercises.capstone", loop_class],
        cwd=workdir.parent, env=environment(workdir), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in child.stdout:
        out(f"[capstone] {line.rstrip()}")
    return child.wait()


class Session:
    """Follows one child: its events, its deadline, its end."""

    def __init__(self, printer, stages, child, fd, log):
        self.printer = printer
        self.stages = stages  # number -> Stage
        self.child = child
        self.fd = fd
        self.log = log
        self.outcome = Outcome(passed=[])
        self.current = None  # the stage running
        self.counts = {}  # stage number -> tests planned
        self.results = {}  # stage number -> [outcome, ...]
        self.test = None  # the test running
        self.done = False
        self.started = time.monotonic()

    def follow(self):
        buffer = b""
        deadline = time.monotonic() + STARTUP
        while True:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return self.timed_out()
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if self.handle(json.loads(line)):
                    deadline = time.monotonic() + self.stages[self.current].timeout
                if self.outcome.problem:
                    return self.outcome
            if self.done:  # not EOF: a process a test forked may hold the pipe open
                break
        if not self.done:
            self.child.wait()
            return self.crashed()
        if self.current is None:  # done, and nothing ran: pytest could not collect
            return self.nothing_ran()
        self.finish_stage()
        return self.outcome

    def handle(self, event):
        """Print one event; True when a new stage starts (its clock starts)."""
        kind = event["event"]
        if kind == "collected":
            self.counts = {int(n): c for n, c in event["tests"].items()}
            if event["missing"]:
                self.outcome.problem = "manifest"
                self.printer.line(None, "the manifest names tests that do not exist: "
                                  + ", ".join(event["missing"]))
        elif kind == "stage":
            self.finish_stage()
            self.current = event["number"]
            stage = self.stages[self.current]
            self.started = time.monotonic()
            self.printer.line(self.current, f"{stage.title} ({stage.difficulty}, "
                              f"{tests(self.counts.get(self.current, 0))})")
            return True
        elif kind == "test":
            self.test = event["nodeid"]
        elif kind == "result":
            self.results.setdefault(self.current, []).append(event["outcome"])
            if event["outcome"] == "failed":
                self.printer.failure(self.current, event)
        elif kind == "error":
            self.error(event)
        elif kind == "done":
            self.done = True
        return False

    def error(self, event):
        self.outcome.problem = event["kind"]
        if event["kind"] == "import":
            self.printer.line(None, "your code cannot be imported:")
            self.printer.details(None, event)
        else:
            self.printer.line(None, "refused: " + event["message"].replace("\n", "\n  "))

    def finish_stage(self):
        number = self.current
        if number is None or number in self.outcome.passed or number == self.outcome.failed:
            return
        results = self.results.get(number, [])
        stage = self.stages[number]
        seconds = time.monotonic() - self.started
        if "failed" in results or len(results) < self.counts.get(number, 0):
            self.outcome.failed = self.outcome.failed or number
            self.printer.line(number, f"stage {number} ({stage.slug}) failed")
            self.printer.help(stage)
        else:
            self.outcome.passed.append(number)
            self.printer.line(number, f"passed ({tests(len(results))}, {seconds:.1f} s)")

    def timed_out(self):
        os.killpg(self.child.pid, signal.SIGKILL)
        if self.current is None:
            self.outcome.problem = "timeout"
            self.printer.line(None, f"loading the tests and your module took over {STARTUP:.0f} s; "
                              "does your module do something slow when imported?")
            return self.outcome
        stage = self.stages[self.current]
        self.outcome.problem = "timeout"
        self.outcome.failed = self.current
        self.printer.line(self.current, f"stage {self.current} timed out after "
                          f"{stage.timeout:g} s, in {short_name(self.test)}")
        self.printer.line(self.current, "  a loop that never returns, or a wait nobody ends?")
        self.printer.help(stage)
        return self.outcome

    def crashed(self):
        code = self.child.returncode
        self.outcome.problem = "crash"
        how = (f"was killed by {signal.Signals(-code).name}" if code < 0
               else f"exited with status {code}")
        if self.current is None:
            self.printer.line(None, f"the test process {how} before any stage ran:")
            self.tail()
            return self.outcome
        self.outcome.failed = self.current
        self.printer.line(self.current, f"the test process {how} in "
                          f"{short_name(self.test or '')} (os._exit? a crash in C?)")
        self.printer.help(self.stages[self.current])
        return self.outcome

    def nothing_ran(self):
        self.outcome.problem = "collection"
        self.printer.line(None, "no test ran; pytest said:")
        self.tail()
        return self.outcome

    def tail(self, lines=8):
        self.log.seek(0)
        for line in self.log.read().strip().splitlines()[-lines:]:
            self.printer.line(None, f"  {line}")

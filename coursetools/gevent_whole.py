"""gevent's whole test suite on each of our loops, compared module by module with the
run of the same suite on the loop's reference.

    python -m coursetools.gevent_whole                     # core and pyloop, each beside its reference
    python -m coursetools.gevent_whole --pairs pyloop      # one of them
    python -m coursetools.gevent_whole --modules test__hub,test__socket   # a few modules

`coursetools.gevent_suite` runs the loop-level modules test by test; this runs all of
``gevent.tests`` (about 2,200 tests in 134 modules) by gevent's own runner
(``python -m gevent.tests``, ``gevent.testing.testrunner``), once per loop with
``GEVENT_LOOP`` naming it, and reads the outcome of each module from what the runner
prints: a line ``- NAME [Ran N tests ...]`` for a module that passed, ``! NAME [code
C] ...`` for one that failed, after its output (``| NAME``, then the output indented).

- The runner is given ``--no-combine``: each module runs in a process of its own, so a
  failure is its module's (by default gevent runs six modules in one process, and one
  failure fails all six).
- Each of our loops runs beside its reference, in the same run: ``core`` (Cython over
  the system libev) beside ``corecext`` (gevent's Cython loop), ``pyloop`` (pure
  Python) beside ``corecffi`` (gevent's CFFI loop, whose watchers are Python too).
- A module that fails on ours and passes on the reference fails the comparison, unless
  a second run, alone, passes (timing tests on a busy machine); ``OURS_FAIL`` names
  the ones that fail on ours for a stated reason, ``NOT_JUDGED`` the ones whose
  outcome on ours says nothing (judged test by test by `coursetools.gevent_suite`).
- A module that fails on both must be in ``REFERENCE_FAILS``, with the reason
  (gevent's examples are not in the wheel, no DNS here, ...): a new failure of the
  reference is a change of the environment, and is reported so.
- A module that fails on the reference only is printed, and is not a problem.

The command prints, per pair, the modules where the two loops disagree or fail, and the
problems; it exits with status 1 if there is one. ``tests/test_gevent_suite.py`` runs
it as one pytest test (not in the default run: see there).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from coursetools.gevent_suite import LOOPS
from coursetools.upstream_suite import ROOT, tail

PAIRS = {"core": "corecext", "pyloop": "corecffi"}  # our loop -> its reference
JOBS = 4  # modules run at the same time: gevent's runner's default
TIMEOUT = 1200.0  # seconds one loop's whole run may take before it is killed

# ---- What may fail, and why

EXAMPLES = ("gevent's examples/ directory is in its source tree, not in the wheel: the "
            "test looks for it next to the setup.py it finds above the working directory")
NO_DNS = "this machine resolves no names (socket.gaierror: Name or service not known)"
REFERENCE_FAILS = {  # module -> why it fails on gevent's own loops too, here
    "test__example_echoserver": EXAMPLES,
    "test__example_portforwarder": EXAMPLES,
    "test__example_udp_client": EXAMPLES,
    "test__example_udp_server": EXAMPLES,
    "test__example_webproxy": EXAMPLES,
    "test__example_wsgiserver": EXAMPLES,
    "test__example_wsgiserver_ssl": EXAMPLES,
    "test__getaddrinfo_import": NO_DNS,
    "test__socket_dns": NO_DNS,
    "test__subprocess": "test_run_with_shell_timeout_and_capture_output: /bin/sh keeps the "
                        "pipe open until its own child ends, so run(timeout=0.1) returns "
                        "after the 3 s sleep (CPython's own test allows for it)",
    "test__monkey_fork_atomic": "a 2 s limit on forking while other modules run beside it: "
                                "it runs over on a busy 2-core machine, on any loop",
}
OURS_FAIL = {}  # (our loop, module) -> why it fails there and not on the reference
TIMER_RESOLUTION = ("its test_resolution passes or fails by whether the loop's cached time "
                    "is a millisecond stale, on ours and on the reference alike (seen both "
                    "ways on core and on corecext); `make gevent-tests` judges the module "
                    "test by test (gevent_suite.TIMER_RESOLUTION)")
NOT_JUDGED = {  # (our loop, module) -> why its outcome here says nothing
    ("core", "test__core_timer"): TIMER_RESOLUTION,
    ("pyloop", "test__core_timer"): TIMER_RESOLUTION,
    ("pyloop", "test__hub"):
        "its threadpool monitor tests fail at random on the loops written in Python "
        "(pyloop and corecffi), even alone; `make gevent-tests` judges the module test "
        "by test (gevent_suite.THREADPOOL_MONITOR)",
}


# ---- One loop's run of gevent's runner


@dataclasses.dataclass
class LoopRun:
    """The modules of one run, passed or failed; ``output`` is each failure's output."""

    passed: set = dataclasses.field(default_factory=set)
    failed: dict = dataclasses.field(default_factory=dict)  # module -> its output's end
    seconds: float = 0.0
    problem: str | None = None  # the run itself went wrong (killed, no modules)


ANSI = re.compile(r"\x1b\[[0-9;]*m")
RESULT = re.compile(r"^([-!]) .*-mgevent\.tests\.(\w+) ")  # "- NAME [...]" / "! NAME [code ...]"
OUTPUT = re.compile(r"^\| .*-mgevent\.tests\.(\w+)$")  # "| NAME": a failure's output follows


def parse(text):
    """The outcome of each module, from what gevent's runner printed."""
    run, outputs, current = LoopRun(), {}, None
    for line in ANSI.sub("", text).splitlines():
        if match := OUTPUT.match(line):
            current = match.group(1)
            outputs[current] = []
        elif current is not None and line.startswith("  "):
            outputs[current].append(line[2:])
        else:
            current = None
            if match := RESULT.match(line):
                sign, module = match.groups()
                if sign == "-":
                    run.passed.add(module)
                else:
                    run.failed[module] = "\n".join(outputs.get(module, [])[-8:])
    run.passed -= set(run.failed)  # a second chance that failed too
    return run


def run_loop(loop, modules=(), jobs=JOBS, timeout=TIMEOUT):
    """gevent's runner on one loop (a name of LOOPS): every module, or those given."""
    env = dict(os.environ, GEVENT_LOOP=LOOPS[loop], GEVENTTEST_QUIET="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "gevent.tests", "--no-combine", "-j", str(jobs), *modules]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:  # tests write files where they run
        child = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            output = child.communicate()[0]
            run = parse(output)
            run.problem = f"killed after {timeout:g} s; output ends:\n{tail(output)}"
            return run
    run = parse(output)
    run.seconds = time.monotonic() - started
    if not run.passed and not run.failed:
        run.problem = f"no module ran (exit status {child.returncode}); output ends:\n{tail(output)}"
    return run


# ---- The comparison


def compare(ours, reference, our_run, reference_run):
    """(problems, notes) of our loop's run against its reference's, module by module."""
    problems, notes = [], []
    for name, run in ((ours, our_run), (reference, reference_run)):
        if run.problem:
            problems.append(f"{name}: {run.problem}")
    for module in sorted(set(our_run.failed) | set(reference_run.failed)):
        on_ours, on_reference = module in our_run.failed, module in reference_run.failed
        if (ours, module) in NOT_JUDGED:
            notes.append(f"{module} not judged on {ours}: {NOT_JUDGED[ours, module]}")
        elif on_ours and on_reference:
            if module not in REFERENCE_FAILS:
                problems.append(f"{module} fails on {ours} and on {reference}, with no "
                                f"reason in REFERENCE_FAILS; {reference}'s output ends:\n"
                                + reference_run.failed[module])
            else:
                notes.append(f"{module} fails on both: {REFERENCE_FAILS[module]}")
        elif on_ours and (ours, module) in OURS_FAIL:
            notes.append(f"{module} fails on {ours} only: {OURS_FAIL[ours, module]}")
        elif on_ours and module not in reference_run.passed:
            problems.append(f"{module} fails on {ours} and did not run on {reference}")
        elif on_ours:
            problems.append(f"{module} fails on {ours} and passes on {reference}; output "
                            "ends:\n" + our_run.failed[module])
        else:
            notes.append(f"{module} fails on {reference} and passes on {ours}")
    for (loop, module), why in OURS_FAIL.items():
        if loop == ours and module in our_run.passed:
            problems.append(f"{module} passes on {ours}, but OURS_FAIL says it fails: {why}")
    return problems, notes


def second_chance(ours, our_run, reference_run, run=run_loop):
    """Run alone again each module that failed on ours for no listed reason; one that
    passes now leaves the failures (it was timing on a busy machine, which can hold a
    test up for seconds). The notes say which."""
    again = [module for module in our_run.failed
             if (ours, module) not in OURS_FAIL and (ours, module) not in NOT_JUDGED
             and not (module in REFERENCE_FAILS and module in reference_run.failed)]
    notes = []
    for module in again:
        if module in run(ours, [module], jobs=1).passed:
            del our_run.failed[module]
            our_run.passed.add(module)
            notes.append(f"{module} failed on {ours} beside other modules, passed alone")
    return notes


def check_pair(ours, modules=(), jobs=JOBS, progress=print):
    """Our loop and its reference, each through gevent's runner: (problems, notes)."""
    reference = PAIRS[ours]
    runs = {}
    for loop in (ours, reference):
        progress(f"{loop}: python -m gevent.tests --no-combine -j {jobs} ...")
        runs[loop] = run_loop(loop, modules, jobs)
        run = runs[loop]
        progress(f"{loop}: {len(run.passed)} modules passed, {len(run.failed)} failed, "
                 f"in {run.seconds:.0f} s")
    notes = second_chance(ours, runs[ours], runs[reference])
    problems, more = compare(ours, reference, runs[ours], runs[reference])
    return problems, notes + more


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m coursetools.gevent_whole",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default=",".join(PAIRS),
                        help=f"comma-separated, from {', '.join(PAIRS)} (default: both)")
    parser.add_argument("--modules", default="",
                        help="comma-separated gevent.tests modules (default: all)")
    parser.add_argument("--jobs", type=int, default=JOBS,
                        help=f"modules run at the same time (default {JOBS})")
    args = parser.parse_args(argv)
    modules = [m for m in args.modules.split(",") if m]
    started, problems = time.monotonic(), []
    for ours in args.pairs.split(","):
        if ours not in PAIRS:
            parser.error(f"no pair {ours!r}: choose from {', '.join(PAIRS)}")
        found, notes = check_pair(ours, modules, args.jobs)
        for note in notes:
            print(f"{ours}/{PAIRS[ours]}: {note}")
        problems += found
    print(f"whole comparison: {time.monotonic() - started:.0f} s")
    for problem in problems:
        print(f"\nNOT AS EXPECTED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

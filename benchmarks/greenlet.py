"""Our thread model of greenlet against greenlet 3 (and a plain function call as a
landmark), as ratios in one run.

    python -m benchmarks.greenlet                   # the full run, about a minute
    python -m benchmarks.greenlet --quick           # sizes / 10, one repeat
    python -m benchmarks.greenlet --impls greenlet,threaded --repeat 5

Two rows, each the same program on every column:

    switches  N round trips (two switches each) between the main greenlet and an echo
              greenlet that sends back what it receives; the landmark is N calls of a
              function that returns its argument
    spawns    N greenlets created, started and finished, one after the other; the
              landmark is N calls of a function that returns

Four columns: ``call`` (the plain function call), ``greenlet`` (the reference),
``threaded`` (impls/greenlet/threaded.py) and ``threaded-cpu0``, the same pinned to CPU 0
before its first thread starts: ``os.sched_setaffinity(0, {0})`` is the system call
``taskset -c 0`` makes, and threads inherit it, so every greenlet of the run shares one
CPU. The thread model is slow on purpose (a thread hand-off per switch), so its rows
have no speed target: they say how slow. The rest (a fresh process per measurement,
medians, the ratio table) is `harness`'s.
"""
import importlib
import os
import sys
from pathlib import Path
from time import perf_counter

if not __package__:  # run as a script, `python benchmarks/greenlet.py`: import from the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
from benchmarks.harness import Benchmark, Row, version_label  # noqa: E402

CHUNK = 1000  # operations between two looks at the clock for the safety timeout


def timed(step, n, timeout):
    """Seconds taken by n calls of step(i); TimeoutError once timeout has passed.

    The clock is read once per CHUNK calls, so the check costs nothing next to a call.
    """
    started = perf_counter()
    deadline = started + timeout
    done = 0
    while done < n:
        for i in range(done, min(n, done + CHUNK)):
            step(i)
        done = min(n, done + CHUNK)
        if perf_counter() > deadline:
            raise TimeoutError(f"{done} of {n} done after {timeout:g} s")
    return perf_counter() - started


class Greenlets:
    """A greenlet implementation: a module with ``greenlet`` and ``getcurrent``."""

    def __init__(self, module, pin=False):
        if pin:
            os.sched_setaffinity(0, {0})  # before any thread of ours exists
        self.module = importlib.import_module(module)
        self.echo = None  # the echo greenlet, once the switches row has made it

    def switches(self, n, timeout):
        main = self.module.getcurrent()

        def echo(value):
            while True:
                value = main.switch(value)

        self.echo = self.module.greenlet(echo)
        self.echo.switch(None)  # started: it now waits in main.switch
        return timed(self.echo.switch, n, timeout)  # main -> echo -> main

    def spawns(self, n, timeout):
        greenlet = self.module.greenlet

        def run():
            return None

        return timed(lambda i: greenlet(run).switch(), n, timeout)

    def close(self):
        if self.echo is not None:
            self.echo.throw()  # ends it: the thread model then has no thread left


class Calls:
    """The landmark: what the same rows cost as plain function calls."""

    def switches(self, n, timeout):
        def echo(value):
            return value

        return timed(echo, n, timeout)

    def spawns(self, n, timeout):
        def run():
            return None

        return timed(lambda i: run(), n, timeout)

    def close(self):
        pass


# name -> (column heading, factory); greenlet and threaded are the registry's names in
# conftest.py
IMPLS = {
    "call": ("function call", Calls),
    "greenlet": (version_label("greenlet"), lambda: Greenlets("greenlet")),
    "threaded": ("ours (threaded)", lambda: Greenlets("impls.greenlet.threaded")),
    "threaded-cpu0": ("ours, one CPU", lambda: Greenlets("impls.greenlet.threaded", pin=True)),
}


def program(name):
    """A row's workload: the column's own method for it."""

    def workload(subject, n, timeout):
        return getattr(subject, name)(n, timeout)

    return workload


ROWS = {
    row.name: row
    for row in [
        Row("switches", "switch round trips (two switches)", 10**5, 0.0, program("switches")),
        Row("spawns", "greenlets started and finished", 10**4, 0.0, program("spawns")),
    ]
}

BENCHMARK = Benchmark(
    module="benchmarks.greenlet",
    description="Our thread model of greenlet against greenlet 3, with a plain function "
                "call alongside, as ratios in one run.",
    columns=IMPLS,
    rows=ROWS,
    ours="threaded",
    reference="greenlet",
    option="impls",
    noun="implementation",
)
main = BENCHMARK.main

if __name__ == "__main__":
    sys.exit(main())

"""Our greenlets (true stack switching in Cython, and the thread model) against greenlet
3, with a plain function call as a landmark, as ratios in one run.

    python -m benchmarks.greenlet                   # the full run, about two minutes
    python -m benchmarks.greenlet --quick           # sizes / 10, one repeat
    python -m benchmarks.greenlet --impls greenlet,stackswitch --repeat 5

Four rows, each the same program on every column:

    switches   N round trips (two switches each) between the main greenlet and an echo
               greenlet that sends back what it receives; the landmark is N calls of a
               function that returns its argument
    deep       the same, with the echo greenlet parked under 50 Python calls each made
               from C (``sorted(..., key=lambda _: nest(d - 1))``), so that 50 levels
               of C stack lie between its start and its switch: greenlet copies them
               out and back in on every switch, a separate stack per greenlet does not.
               In the same process, 1000 round trips at a time in turn with these, as
               many with a second echo greenlet at depth 0: the slowdown with depth
    spawns     N greenlets created, started and finished, one after the other; the
               landmark is N calls of a function that returns
    suspended  N greenlets created and started, each then parked in a switch to main,
               all held at once; besides the rate, the resident memory this adds
               (``/proc/self/statm``) per greenlet. The landmark is N generators, each
               parked at its first ``yield``

Five columns: ``call`` (the landmark), ``greenlet`` (the reference), ``stackswitch``
(impls/greenlet/stackswitch.pyx, ours, the main ratio), ``threaded``
(impls/greenlet/threaded.py) and ``threaded-cpu0``, the same pinned to CPU 0 before its
first thread starts: ``os.sched_setaffinity(0, {0})`` is the system call ``taskset -c 0``
makes, and threads inherit it, so every greenlet of the run shares one CPU. The thread
model is slow on purpose (a thread hand-off per switch): it is measured for contrast,
with a second ratio, threaded/greenlet, and no target. It is not measured in the
``suspended`` row, which would take as many OS threads as greenlets; the table says so.

Under the table: the memory per suspended greenlet, and how flat each column is with
depth (the time of a round trip at depth 50 over one at depth 0, both measured in one
process). The rest (a fresh process per measurement, medians, the ratio table) is
`harness`'s; `GreenletBenchmark` adds these two findings, and cells a row declines to
measure, shown with the reason.
"""
import collections
import importlib
import os
import statistics
import sys
from pathlib import Path
from time import perf_counter

if not __package__:  # run as a script, `python benchmarks/greenlet.py`: import from the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
from benchmarks.harness import Benchmark, Comparison, Row, version_label  # noqa: E402

CHUNK = 1000  # operations between two looks at the clock for the safety timeout
DEPTH = 50  # the deep row: Python calls made from C between a greenlet's start and its switch
FLAT = 1.25  # "flat with depth": a round trip at DEPTH takes at most this times one at 0

FINDINGS = {}  # in a child: what a row found besides its time, by one of the keys below
FOUND = {  # each such finding -> what it is
    "bytes_per_greenlet": "the resident memory a suspended greenlet adds",
    "depth_slowdown": f"a round trip's time {DEPTH} calls deep over its time at depth 0",
}
SAMPLES = collections.defaultdict(list)  # in the parent: (row, column, finding) -> one per run


class NotMeasured(BaseException):
    """Raised by a row that cannot run on a column, with the reason; the cell is shown
    as unavailable with it. A BaseException, so that the harness's ``except Exception``,
    which makes an error of anything else, lets it through to `GreenletBenchmark`."""


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


def resident():
    """Bytes of this process in memory now: the second field of /proc/self/statm, in pages."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def map_count_limit():
    """vm.max_map_count: how many memory mappings a process may have (Linux)."""
    try:
        return int(Path("/proc/sys/vm/max_map_count").read_text())
    except OSError:
        return None


# ---- The columns


class Greenlets:
    """A greenlet implementation: a module with ``greenlet`` and ``getcurrent``."""

    def __init__(self, module, pin=False):
        if pin:
            os.sched_setaffinity(0, {0})  # before any thread of ours exists
        self.module = importlib.import_module(module)
        self.threads = module == "impls.greenlet.threaded"
        self.echoes = []  # the echo greenlets the switches rows made, ended by close()
        self.held = []  # the suspended row's greenlets, parked until close()

    def echo(self, depth):
        """A started echo greenlet, parked depth calls down: its switch is a round trip
        (main -> echo -> main)."""
        main = self.module.getcurrent()

        def nest(depth):
            """depth Python calls, each made from C by sorted(), then the echo loop."""
            if depth:
                return sorted([depth], key=lambda _: nest(depth - 1))
            value = None
            while True:
                value = main.switch(value)

        echo = self.module.greenlet(nest)
        echo.switch(depth)  # started: it now waits in main.switch, depth calls down
        self.echoes.append(echo)
        return echo.switch

    def switches(self, n, timeout):
        return timed(self.echo(0), n, timeout)

    def deep(self, n, timeout):
        """n round trips DEPTH calls down; and as many at depth 0 in the same process,
        CHUNK at a time in turn with them, so that their ratio (the slowdown with depth)
        compares two things measured in the same second."""
        shallow, deep = self.echo(0), self.echo(DEPTH)
        times = [0.0, 0.0]  # seconds at depth 0, at DEPTH
        deadline = perf_counter() + timeout
        for first in range(0, n, CHUNK):
            count = min(CHUNK, n - first)
            for k, switch in enumerate((shallow, deep)):
                started = perf_counter()
                for _ in range(count):
                    switch()
                times[k] += perf_counter() - started
            if perf_counter() > deadline:
                raise TimeoutError(f"{first + count} of {n} done after {timeout:g} s")
        FINDINGS["depth_slowdown"] = times[1] / times[0]
        return times[1]

    def spawns(self, n, timeout):
        greenlet = self.module.greenlet

        def run():
            return None

        return timed(lambda i: greenlet(run).switch(), n, timeout)

    def suspended(self, n, timeout):
        if self.threads:
            raise NotMeasured(f"suspended: not measured for the thread model: {n:,} "
                              f"suspended greenlets would be {n:,} OS threads")
        greenlet, main, held = self.module.greenlet, self.module.getcurrent(), self.held

        def park():
            main.switch()

        def start(i):
            g = greenlet(park)
            g.switch()  # runs until park() switches back: suspended
            held.append(g)

        return hold(start, held, n, timeout)

    def close(self):
        for echo in self.echoes:
            echo.throw()  # ends it: the thread model then has no thread left
        self.held.clear()  # each is killed (GreenletExit) as it is collected


class Calls:
    """The landmark: what the same rows cost as plain function calls (and generators)."""

    def __init__(self):
        self.held = []

    def switches(self, n, timeout):
        def echo(value):
            return value

        return timed(echo, n, timeout)

    deep = switches  # a call costs the same however deep it is made

    def spawns(self, n, timeout):
        def run():
            return None

        return timed(lambda i: run(), n, timeout)

    def suspended(self, n, timeout):
        held = self.held

        def park():
            yield

        def start(i):
            g = park()
            next(g)  # runs to its yield: suspended
            held.append(g)

        return hold(start, held, n, timeout)

    def close(self):
        self.held.clear()


def hold(start, held, n, timeout):
    """The suspended row: n calls of start(i), each leaving one more suspended thing in
    held. Records the resident memory added per thing; a column that runs out of memory
    mappings (a stack each) before n is reported with how far it got."""
    before = resident()
    started = perf_counter()
    try:
        seconds = timed(start, n, timeout)
    except MemoryError as exc:
        count, seconds = len(held), perf_counter() - started
        each = (resident() - before) / max(1, count)
        raise NotMeasured(
            f"suspended: held {count:,} of {n:,} ({seconds / max(1, count) * 1e6:.2f} us "
            f"and {each / 1024:.1f} KiB each), then MemoryError: {exc} "
            f"(vm.max_map_count = {map_count_limit()})") from None
    FINDINGS["bytes_per_greenlet"] = (resident() - before) / n
    return seconds


# name -> (column heading, factory); greenlet, stackswitch and threaded are the
# registry's names in conftest.py
IMPLS = {
    "call": ("function call", Calls),
    "greenlet": (version_label("greenlet"), lambda: Greenlets("greenlet")),
    "stackswitch": ("ours (stackswitch)", lambda: Greenlets("impls.greenlet.stackswitch")),
    "threaded": ("ours (threaded)", lambda: Greenlets("impls.greenlet.threaded")),
    "threaded-cpu0": ("ours (threaded), one CPU",
                      lambda: Greenlets("impls.greenlet.threaded", pin=True)),
}


def program(name):
    """A row's workload: the column's own method for it."""

    def workload(subject, n, timeout):
        return getattr(subject, name)(n, timeout)

    return workload


# The target: a round trip in at most 0.8 of greenlet's time, so a rate of at
# least 1 / 0.8 = 1.25 of greenlet's, at both depths; the other rows ask for no more
# than greenlet's speed.
ROWS = {
    row.name: row
    for row in [
        Row("switches", "switch round trips (two switches), depth 0", 10**5, 1.25,
            program("switches")),
        Row("deep", f"switch round trips, {DEPTH} C-nested calls deep", 10**5, 1.25,
            program("deep")),
        Row("spawns", "greenlets created, started and finished", 10**5, 1.0,
            program("spawns")),
        Row("suspended", "greenlets started and held suspended", 10**5, 1.0,
            program("suspended")),
    ]
}


# ---- What this benchmark adds to the harness


class GreenletBenchmark(Benchmark):
    """The harness's Benchmark, with what the suspended and deep rows need besides a
    rate: a cell a row declines (`NotMeasured`) is shown as unavailable with the reason,
    for that row only; the memory per greenlet travels from the child to the table and
    the JSON (``bytes_per_greenlet`` in the cell); and the table ends with the memory
    and the flatness with depth."""

    def measure(self, row_name, column, n, timeout):
        FINDINGS.clear()
        try:
            result = super().measure(row_name, column, n, timeout)
        except NotMeasured as reason:
            return {"unavailable": str(reason)}
        return {**result, **FINDINGS} if "seconds" in result else result

    def run_child(self, row, column, n, timeout):
        result = super().run_child(row, column, n, timeout)
        for key in FOUND.keys() & result.keys():
            SAMPLES[row.name, column, key].append(result[key])
        return result

    def run_all(self, rows, columns, repeat, scale, timeout, progress):
        # One row at a time: the harness stops trying a column once it is unavailable,
        # which here may be true of one row only (the thread model in `suspended`).
        results = {}
        for row in rows:
            results.update(super().run_all([row], columns, repeat, scale, timeout, progress))
            for name in columns:
                cell = results[row.name][name]
                for key in FOUND:  # the median of the runs, in the cell as in the JSON
                    if SAMPLES[row.name, name, key] and "ops_per_s" in cell:
                        cell[key] = statistics.median(SAMPLES[row.name, name, key])
        return results

    def table(self, rows, columns, results, repeat):
        lines = [super().table(rows, columns, results, repeat)]
        names = {row.name for row in rows}
        if "suspended" in names:
            cells = results["suspended"]
            memory = [f"{self.columns[name][0]} {cells[name]['bytes_per_greenlet'] / 1024:.2f} KiB"
                      for name in columns if "bytes_per_greenlet" in cells[name]]
            lines.append("memory per suspended greenlet (resident set growth / "
                         f"{cells['size']:,}, median): " + (", ".join(memory) or "none measured"))
        if "deep" in names:
            cells, flat = results["deep"], []
            for name in columns:
                if "depth_slowdown" in cells[name]:
                    slowdown = cells[name]["depth_slowdown"]
                    verdict = (f" (target <= {FLAT}: {'yes' if slowdown <= FLAT else 'NO'})"
                               if name == self.ours else "")
                    flat.append(f"{self.columns[name][0]} {slowdown:.2f}x{verdict}")
            lines.append(f"round trip at depth {DEPTH} over depth 0, measured in turn in one "
                         "process (flat is 1.00x): " + (", ".join(flat) or "none measured"))
        return "\n".join(lines)


BENCHMARK = GreenletBenchmark(
    module="benchmarks.greenlet",
    description="Our greenlets (stackswitch, and the thread model) against greenlet 3, "
                "with a plain function call alongside, as ratios in one run.",
    columns=IMPLS,
    rows=ROWS,
    ours="stackswitch",
    reference="greenlet",
    option="impls",
    noun="implementation",
    also=(Comparison("threaded", "greenlet", {}),),
)
main = BENCHMARK.main

if __name__ == "__main__":
    sys.exit(main())

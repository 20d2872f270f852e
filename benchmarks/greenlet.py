"""Our greenlets (true stack switching in Cython, and the thread model) against greenlet
3, with a plain function call as a landmark, as ratios in one run.

    python -m benchmarks.greenlet                   # the full run, about four minutes
    python -m benchmarks.greenlet --quick           # sizes / 10, one repeat
    python -m benchmarks.greenlet --impls greenlet,stackswitch --repeat 5

Seven rows, each the same program on every column:

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
               all held at once; besides the rate, the memory this adds per greenlet:
               the resident set plus the page tables (``VmRSS`` + ``VmPTE`` in
               ``/proc/self/status``: page tables are memory the resident set does not
               count), and the memory mappings (``/proc/self/maps``). The landmark is N
               generators, each parked at its first ``yield``. Twice: 1e5 and 1e6
    cold       N round trips from main to greenlets chosen in a random order among
               10,000 parked ones, each under a gevent handler's stack (six Python
               calls, one made from C: about 1.8 KiB of C stack, as a connection
               handler of our hub parked in ``recv`` has). Ours holds 16 slots per
               thread: nearly every resume copies its greenlet in and another out
    worst      N round trips between two greenlets that switch to each other directly,
               each under that handler's stack; ours given one slot
               (``SWITCHYARD_STACK_SLOTS=1``, in a thread of its own), so that every
               switch copies one out and the other in: the worst case, forced

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
process). The rest (a fresh process per measurement, medians, the ratio table, these
findings carried from each run to the cells, and cells a row declines to measure, shown
with the reason) is `harness`'s; `GreenletBenchmark` adds the lines under the table.
"""
import importlib
import os
import random
import sys
import threading
from pathlib import Path
from time import perf_counter

if not __package__:  # run as a script, `python benchmarks/greenlet.py`: import from the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
from benchmarks.harness import (  # noqa: E402
    FINDINGS, Benchmark, Comparison, NotMeasured, Row, version_label)

CHUNK = 1000  # operations between two looks at the clock for the safety timeout
DEPTH = 50  # the deep row: Python calls made from C between a greenlet's start and its switch
FLAT = 1.25  # "flat with depth": a round trip at DEPTH takes at most this times one at 0

COLD = 10_000  # the cold row's parked greenlets: many more than a thread's slots
FOUND = {  # what a row records in FINDINGS besides its time -> what it is
    "bytes_per_greenlet": "the memory a suspended greenlet adds (VmRSS + VmPTE)",
    "maps_per_greenlet": "the memory mappings a suspended greenlet adds",
    "depth_slowdown": f"a round trip's time {DEPTH} calls deep over its time at depth 0",
}


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


def memory():
    """Bytes of this process in memory now, its resident set and its page tables."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return sum(int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "VmPTE"))


def mappings():
    """How many memory mappings this process has."""
    with open("/proc/self/maps") as maps:
        return sum(1 for _ in maps)


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

    def handler(self, then):
        """A greenlet that calls then() forever, under a connection handler's stack."""
        def frames(c_calls, python_calls):
            if c_calls:  # a call made from C, as a compiled hub's are
                return list(map(lambda _: frames(c_calls - 1, python_calls), [0]))
            if python_calls:
                return frames(0, python_calls - 1)
            while True:
                then()

        return self.module.greenlet(lambda: frames(1, 5))

    def cold(self, n, timeout):
        if self.threads:
            raise NotMeasured(f"cold: not measured for the thread model: {COLD:,} parked "
                              f"greenlets would be {COLD:,} OS threads")
        main = self.module.getcurrent()
        self.held = [self.handler(main.switch) for _ in range(COLD)]
        for g in self.held:
            g.switch()  # parked, under its stack
        order = [g.switch for g in random.Random(1).sample(self.held, COLD)]
        return timed(lambda i: order[i % COLD](), n, timeout)

    def worst(self, n, timeout):
        """n round trips between two greenlets, ping -> pong -> ping, CHUNK at a time, in a
        thread of their own (for ours, with one slot: both are bound to it)."""
        if not self.threads:
            os.environ["SWITCHYARD_STACK_SLOTS"] = "1"  # read when a thread's slots are made
        outcome = []

        def run():
            main, left = self.module.getcurrent(), [0]

            def serve():  # ping's turn: to pong while round trips are left, else home
                left[0] -= 1
                (pong if left[0] >= 0 else main).switch()

            def play(i):
                left[0] = CHUNK
                ping.switch()

            ping, pong = self.handler(serve), self.handler(lambda: ping.switch())
            ping.switch()  # parked in serve(), as pong will be in its switch to ping
            pong.switch()
            try:
                outcome.append(timed(play, n // CHUNK, timeout))
            except TimeoutError as error:
                outcome.append(error)
            ping.throw()
            pong.throw()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        if isinstance(outcome[0], TimeoutError):
            raise outcome[0]
        return outcome[0]

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

    deep = cold = switches  # a call costs the same however deep it is made

    def worst(self, n, timeout):
        return self.switches(n // CHUNK * CHUNK, timeout)

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
    """The suspended rows: n calls of start(i), each leaving one more suspended thing in
    held. Records the memory and the mappings added per thing; a column that runs out of
    memory (or of mappings) before n is reported with how far it got."""
    before, maps = memory(), mappings()
    started = perf_counter()
    try:
        seconds = timed(start, n, timeout)
    except MemoryError as exc:
        count, seconds = len(held), perf_counter() - started
        each = (memory() - before) / max(1, count)
        raise NotMeasured(
            f"suspended: held {count:,} of {n:,} ({seconds / max(1, count) * 1e6:.2f} us "
            f"and {each / 1024:.1f} KiB each), then MemoryError: {exc} "
            f"(vm.max_map_count = {map_count_limit()})") from None
    FINDINGS["bytes_per_greenlet"] = (memory() - before) / n
    FINDINGS["maps_per_greenlet"] = (mappings() - maps) / n
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


# The targets: a hot round trip (greenlets that keep their slots) in at most half of
# greenlet's time, so a rate of at least 2.0 of greenlet's, at both depths; a cold
# resume no slower than greenlet's switch; the others no slower than greenlet. The worst
# case is shown, with no target: it is the price of the design, paid only when two
# greenlets of one slot switch to each other.
MEMORY = 0.8  # memory per suspended greenlet: at most this much of greenlet's
ROWS = {
    row.name: row
    for row in [
        Row("switches", "switch round trips (two switches), depth 0", 10**5, 2.0,
            program("switches")),
        Row("deep", f"switch round trips, {DEPTH} C-nested calls deep", 10**5, 2.0,
            program("deep")),
        Row("spawns", "greenlets created, started and finished", 10**5, 1.0,
            program("spawns")),
        Row("suspended", "greenlets started and held suspended", 10**5, 1.0,
            program("suspended")),
        Row("suspended1e6", "greenlets started and held suspended", 10**6, 1.0,
            program("suspended")),
        Row("cold", f"round trips to greenlets in random order, of {COLD:,} parked", 10**5,
            1.0, program("cold")),
        Row("worst", "round trips between two greenlets of one slot", 10**5, None,
            program("worst")),
    ]
}


# ---- What this benchmark adds to the harness


class GreenletBenchmark(Benchmark):
    """The harness's Benchmark, whose table ends with what the suspended and deep rows
    found besides a rate: the memory per greenlet, and the flatness with depth."""

    def table(self, rows, columns, results, repeat):
        lines = [super().table(rows, columns, results, repeat)]
        names = {row.name for row in rows}
        for row in ("suspended", "suspended1e6"):
            if row in names:
                lines.append(self.memory_line(results[row], columns))
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

    def memory_line(self, cells, columns):
        """The memory and mappings per suspended greenlet, and ours over the reference's."""
        each = {name: cells[name] for name in columns if "bytes_per_greenlet" in cells[name]}
        found = [f"{self.columns[name][0]} {cell['bytes_per_greenlet'] / 1024:.2f} KiB and "
                 f"{cell['maps_per_greenlet']:.4f} mappings" for name, cell in each.items()]
        line = (f"memory per suspended greenlet at {cells['size']:,} (VmRSS + VmPTE growth, "
                "median): " + (", ".join(found) or "none measured"))
        if self.ours in each and self.reference in each:
            ratio = each[self.ours]["bytes_per_greenlet"] / each[self.reference]["bytes_per_greenlet"]
            line += (f"; {self.ours}/{self.reference} {ratio:.2f}x (target <= {MEMORY}: "
                     f"{'yes' if ratio <= MEMORY else 'NO'})")
        return line


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
    findings=tuple(FOUND),
)
main = BENCHMARK.main

if __name__ == "__main__":
    sys.exit(main())

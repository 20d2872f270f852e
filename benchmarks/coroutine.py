"""Our gen coroutines against tornado.gen on tornado 6, the PEP 342 scheduler alongside
(and asyncio as a landmark), as ratios in one run.

    python -m benchmarks.coroutine                  # the full run, about a minute
    python -m benchmarks.coroutine --quick          # sizes / 10, one repeat
    python -m benchmarks.coroutine --json out.json --plot out.png

Three rows, each one program per runtime:

    spawn     N coroutines spawned and finished: each does one `yield moment` and
              returns; the driver spawns them all, then waits for all of them
    moments   N `yield moment` round trips in one coroutine
    switches  N sleep(0) switches between two coroutines, each sleeping in turn

Ours (`impls.coroutine.gen` on our IOLoop) and tornado 6 (`tornado.gen` on its
IOLoop) run the very same programs: they are written once, against the gen module
given, so the module is the only difference. The scheduler (`impls.coroutine.scheduler`)
and asyncio run the same three workloads in their own idiom: system calls for the
one, ``async def`` and ``asyncio.sleep(0)`` for the other. Each program reads the clock
itself, inside the running loop, so loop start-up and shutdown are not measured; the
rest (a fresh process per measurement, medians, the ratio table) is `harness`'s.
"""
import importlib
import sys
from pathlib import Path
from time import perf_counter

if not __package__:  # run as a script, `python benchmarks/coroutine.py`: import from the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
from benchmarks.harness import Benchmark, Row, version_label  # noqa: E402


class Turns:
    """The referee of the switches row: two players call ``go(me)`` each time they
    run, before they sleep again.

    A switch is counted when the player that runs is not the one that ran last, so
    a runtime that woke the same player twice would need more sleeps for the same
    count, not fewer. ``go`` is true until n switches have happened; the other
    player then wakes once more (one switch more) to find the game over.
    """

    def __init__(self, n):
        self.n = n
        self.switches = -1  # the first player's first turn is not a switch
        self.last = None  # the player that ran last

    def go(self, me):
        if me is not self.last:
            self.last = me
            self.switches += 1
        return self.switches < self.n


# ---- gen coroutines: ours and tornado's, the same programs


class GenRuntime:
    """``gen`` coroutines on the gen module's own IOLoop (``gen.IOLoop``, as in
    tornado.gen): ours, or tornado 6's, whose IOLoop runs on asyncio.

    Each program is a coroutine function ``main()`` that returns the seconds between
    its first line and its last; ``run_sync`` starts it inside the loop."""

    def __init__(self, module):
        self.gen = importlib.import_module(module)
        self.loop = self.gen.IOLoop()

    def run(self, main, timeout):
        return self.loop.run_sync(main, timeout=timeout)

    def close(self):
        self.loop.close()

    def spawn(self, n):
        gen = self.gen
        moment = gen.moment

        @gen.coroutine
        def child():
            yield moment

        @gen.coroutine
        def main():
            started = perf_counter()
            yield gen.multi([child() for _ in range(n)])  # calling one spawns it
            return perf_counter() - started

        return main

    def moments(self, n):
        gen = self.gen
        moment = gen.moment

        @gen.coroutine
        def main():
            started = perf_counter()
            for _ in range(n):
                yield moment
            return perf_counter() - started

        return main

    def switches(self, n):
        gen = self.gen
        sleep = gen.sleep
        turns = Turns(n)

        @gen.coroutine
        def player(me):
            while turns.go(me):
                yield sleep(0)  # a timer of 0 s: the other player runs meanwhile

        @gen.coroutine
        def main():
            started = perf_counter()
            yield gen.multi([player(0), player(1)])
            return perf_counter() - started

        return main


def ours():
    return GenRuntime("impls.coroutine.gen")


def tornado6():
    return GenRuntime("tornado.gen")


# ---- The PEP 342 scheduler: the same workloads as system calls


class SchedulerRuntime:
    """Tasks on `impls.coroutine.scheduler`: ``yield NewTask(gen)`` spawns,
    ``yield WaitTask(tid)`` waits for one task, ``yield Sleep(0)`` sleeps and a plain
    ``yield`` gives way. Each program is a generator function ``main()`` that returns
    its seconds, as the gen ones do; a second task waits for it to collect them."""

    def __init__(self):
        self.calls = importlib.import_module("impls.coroutine.scheduler")
        self.scheduler = self.calls.Scheduler()

    def run(self, main, timeout):
        outcome = []

        def collect(tid):
            outcome.append((yield self.calls.WaitTask(tid)))

        self.scheduler.new(collect(self.scheduler.new(main())))
        self.scheduler.run(timeout)  # TimeoutError if tasks are still at work by then
        if not outcome:
            raise RuntimeError("the program ended without a result (its exception is logged)")
        return outcome[0]

    def close(self):
        self.scheduler.close()

    def spawn(self, n):
        NewTask, WaitTask = self.calls.NewTask, self.calls.WaitTask

        def child():
            yield

        def main():
            started = perf_counter()
            tids = []
            for _ in range(n):
                tids.append((yield NewTask(child())))
            for tid in tids:  # one system call per task: there is no "wait for all"
                yield WaitTask(tid)
            return perf_counter() - started

        return main

    def moments(self, n):
        def main():
            started = perf_counter()
            for _ in range(n):
                yield
            return perf_counter() - started

        return main

    def switches(self, n):
        NewTask, WaitTask, Sleep = self.calls.NewTask, self.calls.WaitTask, self.calls.Sleep
        turns = Turns(n)

        def player(me):
            while turns.go(me):
                yield Sleep(0)

        def main():
            started = perf_counter()
            first = yield NewTask(player(0))
            second = yield NewTask(player(1))
            yield WaitTask(first)
            yield WaitTask(second)
            return perf_counter() - started

        return main


# ---- asyncio: the landmark


class AsyncioRuntime:
    """``async def`` tasks on a plain asyncio loop; ``await asyncio.sleep(0)`` is both
    the moment and the sleep(0) (asyncio special-cases 0: a bare yield, no timer)."""

    def __init__(self):
        self.asyncio = importlib.import_module("asyncio")
        self.loop = self.asyncio.new_event_loop()

    def run(self, main, timeout):
        return self.loop.run_until_complete(self.asyncio.wait_for(main(), timeout))

    def close(self):
        self.loop.close()

    def spawn(self, n):
        asyncio = self.asyncio
        sleep = asyncio.sleep

        async def child():
            await sleep(0)

        async def main():
            started = perf_counter()
            await asyncio.gather(*[asyncio.create_task(child()) for _ in range(n)])
            return perf_counter() - started

        return main

    def moments(self, n):
        sleep = self.asyncio.sleep

        async def main():
            started = perf_counter()
            for _ in range(n):
                await sleep(0)
            return perf_counter() - started

        return main

    def switches(self, n):
        asyncio = self.asyncio
        sleep = asyncio.sleep
        turns = Turns(n)

        async def player(me):
            while turns.go(me):
                await sleep(0)

        async def main():
            started = perf_counter()
            await asyncio.gather(asyncio.create_task(player(0)), asyncio.create_task(player(1)))
            return perf_counter() - started

        return main


# name -> (column heading, factory); gen, tornado and scheduler are the registry's names
# in conftest.py
IMPLS = {
    "gen": ("ours (gen)", ours),
    "tornado": (version_label("tornado", "tornado.gen"), tornado6),
    "scheduler": ("scheduler", SchedulerRuntime),
    "asyncio": ("asyncio", AsyncioRuntime),
}


def program(name):
    """A row's workload: build the runtime's own program for it, run it, return its seconds."""

    def workload(runtime, n, timeout):
        return runtime.run(getattr(runtime, name)(n), timeout)

    return workload


ROWS = {
    row.name: row
    for row in [
        Row("spawn", "coroutines spawned and finished", 10**5, 1.2, program("spawn")),
        Row("moments", "yield moment round trips", 10**5, 1.2, program("moments")),
        Row("switches", "sleep(0) switches between two coroutines", 10**4, 1.2,
            program("switches")),
    ]
}

BENCHMARK = Benchmark(
    module="benchmarks.coroutine",
    description="Our gen coroutines against tornado.gen on tornado 6, with the task "
                "scheduler and asyncio alongside, as ratios in one run.",
    columns=IMPLS,
    rows=ROWS,
    ours="gen",
    reference="tornado",
    option="impls",
    noun="implementation",
)
main = BENCHMARK.main

if __name__ == "__main__":
    sys.exit(main())

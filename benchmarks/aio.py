"""Our asyncio event loop against asyncio's own (and uvloop as a landmark), and our
pure-Python Task against asyncio's, as ratios in one run.

    python -m benchmarks.aio                        # the full run, about a minute and a half
    python -m benchmarks.aio --quick                # sizes / 10, one repeat
    python -m benchmarks.aio --json out.json --plot out.png

Six rows, each one program, an ``async def`` run to completion on the column's loop:

    callbacks  N call_soon scheduled in a batch from inside the running loop, timed
               until the last has run
    timers     N call_later with distinct delays in 0-1 ms (seeded), one in four
               cancelled, timed until the last of the others has fired
    tasks      N tasks spawned in a batch, each doing one sleep(0), then awaited in turn
    sock_echo  N round trips of 64 bytes over loopback TCP with sock_sendall/sock_recv
    echo1      N round trips over asyncio's streams (start_server/open_connection), one client
    echo100    the same, the round trips shared by 100 clients that run at once

Columns: ``ours`` (``impls.aio.new_event_loop()``), ``asyncio`` (asyncio's default loop,
the reference), ``uvloop`` (the landmark), and two columns measured in the tasks row
only, both on asyncio's default loop: ``ourtask`` (its task factory makes our pure-Python
``impls.aio.Task``) and ``pytask`` (asyncio's pure-Python ``asyncio.tasks._PyTask``).
The loop columns all run asyncio's C Task and C Future (ours through its task factory
and a subclass whose ``create_future`` makes asyncio's Future, the one uvloop's makes
too), so the main ratio, ours/asyncio, compares loops; the second, ourtask/pytask,
compares pure-Python Tasks on one loop. The rest (a fresh process per measurement,
medians, the ratio table) is `harness`'s.
"""
import asyncio
import random
import socket
import sys
from pathlib import Path
from time import perf_counter

if not __package__:  # run as a script, `python benchmarks/aio.py`: import from the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
from benchmarks.harness import Benchmark, Comparison, Row, version_label  # noqa: E402
from benchmarks.hub import streams_echo  # noqa: E402  (the same program as its asyncio column)
from benchmarks.ioloop import countdown  # noqa: E402  (the callbacks' and timers' unit of work)

SEED = 20240601  # the timers row draws its delays from random.Random(SEED)
CANCEL_EVERY = 4  # the timers row cancels one timer in this many
MESSAGE = b"x" * 64  # one echo message
HOST = "127.0.0.1"
CLIENTS = {"echo1": 1, "echo100": 100}  # row -> how many clients run at once


# ---- The columns: a fresh loop each, and the Task class its create_task makes


class Loop:
    """One column: a new event loop whose task factory, if a Task class is given,
    makes tasks of that class. A row's program runs to completion on it, bounded by
    ``asyncio.wait_for``: a run that overruns raises TimeoutError, never hangs."""

    def __init__(self, new_event_loop, task=None):
        self.loop = new_event_loop()
        if task is not None:
            self.loop.set_task_factory(factory(task))

    def run(self, program, timeout):
        return self.loop.run_until_complete(asyncio.wait_for(program, timeout))

    def close(self):
        self.loop.close()


def factory(task):
    """A task factory making instances of the class task; ``**kwargs`` carries what
    create_task passes on (``context=`` in 3.11, more from 3.12)."""

    def make(loop, coro, **kwargs):
        return task(coro, loop=loop, **kwargs)

    return make


def ours():
    from impls.aio import SelectorEventLoop  # raises until it is written: unavailable

    class WithCFutures(SelectorEventLoop):
        """Our loop making asyncio's C Futures, as asyncio's loop and uvloop do: the
        loops compared, not the Futures (ourtask/pytask compares the pure-Python ones)."""

        def create_future(self):
            return asyncio.Future(loop=self)

    return Loop(WithCFutures, task=asyncio.Task)


def uvloop():
    import uvloop

    return Loop(uvloop.new_event_loop)  # its default Task is asyncio's C Task


def our_task():
    from impls.aio import Task

    return Loop(asyncio.new_event_loop, task=Task)


def py_task():
    return Loop(asyncio.new_event_loop, task=asyncio.tasks._PyTask)


# name -> (column heading, factory); the Task columns both run on asyncio's loop
LOOPS = {
    "ours": ("ours (impls.aio)", ours),
    "asyncio": ("asyncio", lambda: Loop(asyncio.new_event_loop)),
    "uvloop": (version_label("uvloop"), uvloop),
    "ourtask": ("ours: Task", our_task),
    "pytask": ("asyncio _PyTask", py_task),
}
TASK_COLUMNS = {"ourtask", "pytask"}  # measured in the tasks row only


# ---- The programs: each an async def returning the seconds it timed


async def callbacks(n):
    """n callbacks scheduled in one batch from inside the running loop."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    tick = countdown(n, lambda: done.set_result(perf_counter()))
    started = perf_counter()
    call_soon = loop.call_soon  # hoisted: n calls
    for _ in range(n):
        call_soon(tick)
    return await done - started


async def timers(n):
    """n timers with distinct delays in 0-1 ms, scheduled in one batch; one in
    CANCEL_EVERY is cancelled at once, and the clock runs until the rest have fired.

    The cancelled ones stay in the loop's heap until they reach its head (asyncio
    removes them lazily), so they cost a push, a cancel and a pop, but no call.
    """
    loop = asyncio.get_running_loop()
    rng = random.Random(SEED)
    delays = [rng.uniform(0.0, 0.001) for _ in range(n)]  # drawn before the clock starts
    done = loop.create_future()
    cancelled = range(0, n, CANCEL_EVERY)
    tick = countdown(n - len(cancelled), lambda: done.set_result(perf_counter()))
    started = perf_counter()
    call_later = loop.call_later
    handles = [call_later(delay, tick) for delay in delays]
    for i in cancelled:
        handles[i].cancel()
    return await done - started


async def child():
    await asyncio.sleep(0)  # one bare yield: a trip through the loop and back


async def tasks(n):
    """n tasks spawned in one batch, then awaited one after another (by the time the
    first is done, they all are, so the rest are awaits of finished tasks)."""
    create_task = asyncio.get_running_loop().create_task
    started = perf_counter()
    spawned = [create_task(child()) for _ in range(n)]
    for task in spawned:
        await task
    return perf_counter() - started


async def sock_echo(n):
    """n round trips of 64 bytes with the loop's sock_sendall and sock_recv, a client
    and an echo server task on the two ends of one loopback TCP connection.

    The connection is made before the clock starts (a loopback connect completes into
    the listen backlog); TCP_NODELAY at both ends. One message is in flight at a time.
    """
    loop = asyncio.get_running_loop()
    with socket.create_server((HOST, 0)) as listener:  # loopback only, any port
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)  # sock_* refuse a blocking socket

        async def echo():
            while data := await loop.sock_recv(server, 65536):
                await loop.sock_sendall(server, data)

        echoing = loop.create_task(echo())
        size = len(MESSAGE)
        started = perf_counter()
        for _ in range(n):
            await loop.sock_sendall(client, MESSAGE)
            received = 0
            while received < size:
                received += len(await loop.sock_recv(client, size - received))
        seconds = perf_counter() - started
        client.shutdown(socket.SHUT_WR)  # the server's recv returns b"", and it ends
        await echoing
    return seconds


def program(name):
    """A row's workload: its program run on the column's loop."""

    def workload(subject, n, timeout):
        if name in CLIENTS:
            return subject.run(streams_echo(CLIENTS[name], n), timeout)
        return subject.run(PROGRAMS[name](n), timeout)

    return workload


PROGRAMS = {"callbacks": callbacks, "timers": timers, "tasks": tasks, "sock_echo": sock_echo}

ROWS = {
    row.name: row
    for row in [
        Row("callbacks", "call_soon, batch", 10**6, 1.2, program("callbacks")),
        Row("timers", "call_later, distinct deadlines, 1 in 4 cancelled", 10**5, 1.2,
            program("timers")),
        Row("tasks", "tasks spawned, sleep(0), awaited (loops: C Task)", 10**5, 1.0,
            program("tasks")),
        Row("sock_echo", "sock_sendall/sock_recv TCP echo round trips, 64 B (C Task+Future)",
            2 * 10**4, 1.0, program("sock_echo")),
        Row("echo1", "streams echo round trips, 64 B, 1 client (C Task+Future)", 2 * 10**4, 1.0,
            program("echo1")),
        Row("echo100", "streams echo round trips, 64 B, 100 clients (C Task+Future)", 5 * 10**4,
            1.0, program("echo100")),
    ]
}


# ---- What this benchmark adds to the harness


class AioBenchmark(Benchmark):
    """The harness's Benchmark, with the Task columns measured in the tasks row only
    (in the other rows their cell is unavailable, with that reason, and no child runs)
    and left out of the plot."""

    def run_child(self, row, column, n, timeout):
        if column in TASK_COLUMNS and row.name != "tasks":
            return {"unavailable": "a Task column, measured in the tasks row only"}
        return super().run_child(row, column, n, timeout)

    def plot(self, rows, columns, results, path):
        # The loops over asyncio's; the Task columns are a comparison of their own,
        # ourtask/pytask, which the table shows.
        super().plot(rows, [name for name in columns if name not in TASK_COLUMNS], results,
                     path)


BENCHMARK = AioBenchmark(
    module="benchmarks.aio",
    description="Our asyncio loop against asyncio's default loop, with uvloop alongside, "
                "and our pure-Python Task against asyncio's _PyTask, as ratios in one run.",
    columns=LOOPS,
    rows=ROWS,
    ours="ours",
    reference="asyncio",
    also=(Comparison("ourtask", "pytask", {"tasks": 1.0}),),
)
main = BENCHMARK.main

if __name__ == "__main__":
    sys.exit(main())

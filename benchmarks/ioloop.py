"""Our IOLoop against tornado 6 (and plain asyncio as a landmark), as ratios in one run.

    python -m benchmarks.ioloop                     # the full run, about half a minute
    python -m benchmarks.ioloop --quick             # sizes / 10, one repeat
    python -m benchmarks.ioloop --json out.json --plot out.png

Three rows, each the same program on every loop:

    callbacks  N add_callback scheduled from inside the running loop, timed until the last runs
    timers     N call_later with delays uniform in 0-1 ms (seeded), timed until the last fires
    echo       N TCP echo round trips over loopback, client and server in the same loop,
               64-byte messages, TCP_NODELAY, raw non-blocking sockets on add_handler

Each workload is written once, against a `Loop`: seven small callables that each loop
provides (tornado's add_callback / call_later / add_handler, asyncio's call_soon /
call_later / add_reader). Every measurement runs in a fresh subprocess, so the heap and
the garbage collector's state left by one run cannot slow the next; the table reports
the median of --repeat runs and the ratio ours/tornado, which is what we compare:
absolute rates on a shared machine move by a third from one minute to the next, the
ratio between two loops measured side by side moves much less. That machinery is
`harness`'s, shared with the other benchmarks; this module says what the loops and rows are.
"""
import dataclasses
import importlib
import random
import socket
import sys
import time
from pathlib import Path
from typing import Callable

if not __package__:  # run as a script, `python benchmarks/ioloop.py`: import from the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
from benchmarks.harness import Benchmark, Row, version_label  # noqa: E402

SEED = 20240601  # the timers row draws its delays from random.Random(SEED)
MESSAGE = b"x" * 64  # one echo message


# ---- The loops: what a workload may ask of one


@dataclasses.dataclass(frozen=True)
class Loop:
    """A running-loop interface small enough for every loop to provide directly.

    Callbacks are called with whatever arguments the loop passes (a tornado handler
    gets ``(fd, events)``, an asyncio reader nothing), so the workloads define them as
    ``def cb(*_)`` and no wrapper sits between a loop and the code it runs.
    """

    call_soon: Callable  # (callback) -> None: run callback on the next iteration
    call_later: Callable  # (delay, callback) -> handle
    add_reader: Callable  # (fd, callback) -> None: callback each time fd is readable
    remove_reader: Callable  # (fd) -> None
    run: Callable  # () -> None: run until stop() is called
    stop: Callable  # () -> None
    close: Callable  # () -> None


def tornado_style(IOLoop):
    """Our IOLoop and tornado 6's share tornado's public API, so one adapter serves both."""
    loop = IOLoop()
    return Loop(
        call_soon=loop.add_callback,
        call_later=loop.call_later,
        add_reader=lambda fd, callback: loop.add_handler(fd, callback, IOLoop.READ),
        remove_reader=loop.remove_handler,
        run=loop.start,
        stop=loop.stop,
        close=loop.close,
    )


def pollioloop():
    return tornado_style(importlib.import_module("impls.ioloop.pollioloop").IOLoop)


def tornado6():
    return tornado_style(importlib.import_module("tornado.ioloop").IOLoop)


def plain_asyncio():
    import asyncio

    loop = asyncio.new_event_loop()
    return Loop(
        call_soon=loop.call_soon,
        call_later=loop.call_later,
        add_reader=loop.add_reader,
        remove_reader=loop.remove_reader,
        run=loop.run_forever,
        stop=loop.stop,
        close=loop.close,
    )


# name -> (column heading, factory); the names are the registry's in conftest.py
LOOPS = {
    "pollioloop": ("ours (pollioloop)", pollioloop),
    "tornado": (version_label("tornado"), tornado6),
    "asyncio": ("asyncio", plain_asyncio),
}


# ---- One timed run


class Stopwatch:
    """Runs a loop from a kickoff callback until finish(), and returns the time between.

    The clock starts inside the running loop, so loop start-up is not measured, and
    stops in the callback that completes the work. A safety timer stops a loop that
    never gets there; the run then raises TimeoutError instead of hanging.
    """

    def __init__(self, loop, timeout):
        self.loop = loop
        self.timeout = timeout
        self.started = self.finished = None  # perf_counter() readings

    def finish(self):
        self.finished = time.perf_counter()
        self.loop.stop()

    def run(self, kickoff):
        def begin(*_):
            self.started = time.perf_counter()
            kickoff()

        self.loop.call_soon(begin)
        self.loop.call_later(self.timeout, self.loop.stop)
        self.loop.run()
        if self.finished is None:
            raise TimeoutError(f"the run did not finish within {self.timeout:g} s")
        return self.finished - self.started


def countdown(n, then):
    """A callback that calls then() on its n-th call: the workloads' unit of work."""
    remaining = n

    def tick(*_):
        nonlocal remaining
        remaining -= 1
        if not remaining:
            then()

    return tick


# ---- The workloads: each written once, for any Loop


def callbacks(loop, n, timeout):
    """n callbacks scheduled in one batch from inside the running loop."""
    watch = Stopwatch(loop, timeout)
    tick = countdown(n, watch.finish)

    def kickoff():
        call_soon = loop.call_soon  # hoisted: n calls
        for _ in range(n):
            call_soon(tick)

    return watch.run(kickoff)


def timers(loop, n, timeout):
    """n timers with delays uniform in 0-1 ms, scheduled in one batch, all fired."""
    rng = random.Random(SEED)
    delays = [rng.uniform(0.0, 0.001) for _ in range(n)]  # drawn before the clock starts
    watch = Stopwatch(loop, timeout)
    tick = countdown(n, watch.finish)

    def kickoff():
        call_later = loop.call_later
        for delay in delays:
            call_later(delay, tick)

    return watch.run(kickoff)


def echo(loop, n, timeout):
    """n round trips of a 64-byte message between a client and an echo server.

    Both ends are non-blocking sockets served by read handlers of the one loop. The
    connection is set up before the loop runs (a loopback connect completes into the
    listen backlog); only the round trips are timed. One message is in flight at a
    time, so a send of 64 bytes always fits in the socket buffer and a read never
    holds more than one message.
    """
    with socket.create_server(("127.0.0.1", 0)) as listener:  # loopback only, any port
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
        watch = Stopwatch(loop, timeout)
        pending = 0  # bytes of the current reply the client has yet to read
        trips = 0  # round trips completed

        def server_readable(*_):
            server.sendall(server.recv(65536))

        def client_send():
            nonlocal pending
            pending = len(MESSAGE)
            client.sendall(MESSAGE)

        def client_readable(*_):
            nonlocal pending, trips
            pending -= len(client.recv(65536))
            if pending:
                return  # a reply split in two segments; the rest is on its way
            trips += 1
            if trips < n:
                client_send()
            else:
                watch.finish()

        loop.add_reader(server.fileno(), server_readable)
        loop.add_reader(client.fileno(), client_readable)
        try:
            return watch.run(client_send)
        finally:
            loop.remove_reader(client.fileno())
            loop.remove_reader(server.fileno())


ROWS = {
    row.name: row
    for row in [
        Row("callbacks", "add_callback, batch", 10**6, 1.5, callbacks),
        Row("timers", "call_later, scheduled and fired", 10**5, 1.5, timers),
        Row("echo", "TCP echo round trips", 10**4, 1.0, echo),
    ]
}

BENCHMARK = Benchmark(
    module="benchmarks.ioloop",
    description="Our IOLoop against tornado 6 and asyncio, as ratios in one run.",
    columns=LOOPS,
    rows=ROWS,
    ours="pollioloop",
    reference="tornado",
)
main = BENCHMARK.main

if __name__ == "__main__":
    sys.exit(main())

"""Our libev loops against gevent's own, as ratios in one run.

    python -m benchmarks.libev                      # the full run, about a minute
    python -m benchmarks.libev --quick              # sizes / 10, one repeat
    python -m benchmarks.libev --json out.json --plot out.png

Four rows, each the same program on every loop; the first two drive the loop itself,
the last two run gevent's real hub (`gevent.sleep`, `gevent.socket`) on it:

    callbacks  N run_callback scheduled, then the loop run until the last has run
    timers     N timer(0) created and started, then the loop run until the last fires
    switches   N gevent.sleep(0) switches between two greenlets, under gevent's hub
    echo       N round trips of 32 bytes over a gevent.socket socketpair, under the hub

Four columns, each a loop class gevent accepts in ``GEVENT_LOOP``: ``core``
(impls/libev/core.pyx, ours, Cython over the system libev), ``pyloop``
(impls/libev/pyloop.py, ours, pure Python), ``corecext`` and ``corecffi`` (gevent's
Cython and CFFI loops over its bundled libev). Two ratios: core/corecext, the main one,
with a target on every row, and pyloop/corecffi, with a target on callbacks.

For the hub rows the loop must be chosen before gevent creates its hub: the column's
factory sets ``GEVENT_LOOP`` (and ``gevent.config.loop``) in the child process before
anything imports gevent's hub, and the workload checks that the hub it gets runs on
that loop class. The rest (a fresh process per measurement, medians, the ratio table)
is `harness`'s.
"""
import importlib
import os
import sys
from pathlib import Path
from time import perf_counter

if not __package__:  # run as a script, `python benchmarks/libev.py`: import from the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
from benchmarks.coroutine import Turns  # noqa: E402  (the same referee for switches)
from benchmarks.harness import Benchmark, Comparison, Row, version_label  # noqa: E402

MESSAGE = b"x" * 32  # one echo message


# ---- The columns: a loop class, run bare or under gevent's hub


class LoopClass:
    """One column: the loop class gevent would take from ``GEVENT_LOOP=path``.

    Made in the child process before anything creates a hub, so the environment
    variable and gevent's config are set while gevent can still honour them. A row
    asks for ``loop()`` (a fresh loop of its own, ``default=False``) or ``hub()``
    (gevent's hub of this thread, which must be running on this class).
    """

    def __init__(self, path):
        os.environ["GEVENT_LOOP"] = path  # before gevent reads its config
        module, _, name = path.rpartition(".")
        self.path = path
        self.cls = getattr(importlib.import_module(module), name)  # raises: unavailable
        import gevent

        gevent.config.loop = path  # the same, for a gevent imported before us
        self._loop = self._hub = None

    def loop(self):
        self._loop = self.cls(default=False)
        return self._loop

    def hub(self):
        import gevent

        self._hub = gevent.get_hub()
        if type(self._hub.loop) is not self.cls:
            raise RuntimeError(f"gevent's hub runs on {type(self._hub.loop)!r}, "
                               f"not on {self.path}: was it created too early?")
        return self._hub

    def close(self):
        if self._hub is not None:
            self._hub.destroy(destroy_loop=True)
        if self._loop is not None:
            self._loop.destroy()


def column(path):
    return lambda: LoopClass(path)


# name -> (column heading, factory); pyloop, corecext and corecffi are the registry's
# names in conftest.py
LOOPS = {
    "core": ("ours (core)", column("impls.libev.core.loop")),
    "pyloop": ("ours (pyloop)", column("impls.libev.pyloop.loop")),
    "corecext": (f"{version_label('gevent')} corecext", column("gevent.libev.corecext.loop")),
    "corecffi": (f"{version_label('gevent')} corecffi", column("gevent.libev.corecffi.loop")),
}


# ---- The loop rows: the loop alone


def run_until_done(loop, timeout, finished):
    """Run the loop until it has nothing left (run() returns), guarded by an unref'd
    timer that breaks it after timeout; finished() is the time the work completed."""
    guard = loop.timer(timeout, ref=False)  # does not keep the loop alive by itself
    guard.start(loop.break_)
    loop.run()
    guard.close()
    if finished() is None:
        raise TimeoutError(f"the run did not finish within {timeout:g} s")
    return finished()


class Countdown:
    """The callback of the loop rows: records the time of its n-th call."""

    def __init__(self, n):
        self.remaining = n
        self.finished = None

    def __call__(self):
        self.remaining -= 1
        if not self.remaining:
            self.finished = perf_counter()


def callbacks(subject, n, timeout):
    """n run_callback, scheduled in a batch, then run: schedule + run, as gevent spawns."""
    loop = subject.loop()
    tick = Countdown(n)
    run_callback = loop.run_callback  # hoisted: n calls
    started = perf_counter()
    for _ in range(n):
        run_callback(tick)
    return run_until_done(loop, timeout, lambda: tick.finished) - started


def timers(subject, n, timeout):
    """n timer(0) watchers created and started, then run until the last has fired.

    No reference is kept: an active watcher is kept alive by its loop, as in gevent."""
    loop = subject.loop()
    tick = Countdown(n)
    timer = loop.timer
    started = perf_counter()
    for _ in range(n):
        timer(0.0).start(tick)
    return run_until_done(loop, timeout, lambda: tick.finished) - started


# ---- The hub rows: gevent itself on the loop


def switches(subject, n, timeout):
    """n gevent.sleep(0) switches between two greenlets: each sleep(0) parks the
    greenlet on a run_callback and lets the hub run the other."""
    subject.hub()
    import gevent

    sleep = gevent.sleep
    turns = Turns(n)

    def player(me):
        while turns.go(me):
            sleep(0)

    started = perf_counter()
    players = [gevent.spawn(player, 0), gevent.spawn(player, 1)]
    gevent.joinall(players, timeout=timeout)
    seconds = perf_counter() - started
    if not all(p.dead for p in players):
        gevent.killall(players)
        raise TimeoutError(f"{turns.switches} of {n} switches after {timeout:g} s")
    return seconds


def echo(subject, n, timeout):
    """n round trips of 32 bytes between two gevent sockets of a socketpair: the
    client (this greenlet) sends and waits for the reply, an echo greenlet answers.
    Each side's recv finds nothing the first time and waits on an io watcher, so a
    round trip is two waits, two polls and two switches through the hub."""
    subject.hub()
    import gevent
    from gevent import socket

    client, server = socket.socketpair()

    def serve():
        while data := server.recv(65536):
            server.sendall(data)

    echoer = gevent.spawn(serve)
    gevent.sleep(0)  # the echo greenlet starts and waits; not timed
    size = len(MESSAGE)
    with client, server, gevent.Timeout(timeout, TimeoutError(
            f"the run did not finish within {timeout:g} s")):
        started = perf_counter()
        for _ in range(n):
            client.sendall(MESSAGE)
            received = len(client.recv(size))
            while received < size:  # a reply split in two; never seen on a socketpair
                received += len(client.recv(size - received))
        seconds = perf_counter() - started
        client.shutdown(socket.SHUT_WR)  # the echo greenlet's recv returns b""
        echoer.join()
    return seconds


ROWS = {
    row.name: row
    for row in [
        Row("callbacks", "run_callback, scheduled and run", 10**6, 1.0, callbacks),
        Row("timers", "timer(0) created, started and fired", 2 * 10**5, 1.0, timers),
        Row("switches", "sleep(0) switches, two greenlets, hub", 10**5, 1.0, switches),
        Row("echo", "socketpair echo round trips, 32 B, hub", 2 * 10**4, 1.0, echo),
    ]
}

BENCHMARK = Benchmark(
    module="benchmarks.libev",
    description="Our libev loops (core, pyloop) against gevent's corecext and corecffi, "
                "as ratios in one run.",
    columns=LOOPS,
    rows=ROWS,
    ours="core",
    reference="corecext",
    also=(Comparison("pyloop", "corecffi", {"callbacks": 1.2}),),
)
main = BENCHMARK.main

if __name__ == "__main__":
    sys.exit(main())

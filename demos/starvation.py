"""A greenlet that never waits holds every other one back."""
import ctypes
import time

from impls.hub import runtimes

gevent = runtimes.stackswitch_core
libc = ctypes.CDLL(None)  # C code calls the OS itself, past any patch
ticks = []


def ticker():  # the others: a greenlet that wakes every 10 ms
    while True:
        gevent.sleep(0.01)
        ticks.append(1)


def busy(pause=lambda: None):  # 0.3 s of work, a pause every 10 ms
    until = time.perf_counter() + 0.3
    while time.perf_counter() < until:
        chunk_end = time.perf_counter() + 0.01
        while time.perf_counter() < chunk_end:
            pass
        pause()


def spin_on_eof():  # a closed peer: recv returns b"" at once
    mine, peer = gevent.socket.socketpair()
    peer.close()
    until = time.perf_counter() + 0.3
    while time.perf_counter() < until:
        mine.recv(1)  # never waits, so never switches
    mine.close()


def usleep_in_the_threadpool():  # an OS thread of the pool blocks
    gevent.get_hub().threadpool.apply(libc.usleep, (300_000,))


WORK = [
    ("CPU work", busy),
    ("CPU work, sleep(0) every 10 ms",
     lambda: busy(lambda: gevent.sleep(0))),
    ("CPU work, sleep(0.001) every 10 ms",
     lambda: busy(lambda: gevent.sleep(0.001))),
    ("recv on an always-ready socket", spin_on_eof),
    ("a C library's usleep(300 ms)", lambda: libc.usleep(300_000)),
    ("the same, in the threadpool", usleep_in_the_threadpool),
]
gevent.spawn(ticker)
for name, work in WORK:
    gevent.sleep(0.05)  # the ticker runs,
    gevent.sleep(0)  # and the loop ends its pass: a fresh one
    ticks.clear()
    work()
    print(f"{name:36} the ticker ran: {'yes' if ticks else 'never'}")

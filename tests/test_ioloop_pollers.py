"""Our IOLoop against the system: each poller, the waker, EINTR, the signal wakeup fd.

Tornado 6 hands all of this to asyncio, so these tests import ours directly
instead of running in the conformance suite. Tests taking ``loop`` run once per
poller available here (epoll, poll and select on Linux).
"""
import errno
import os
import select
import signal
import socket
import threading
import time

import pytest

from impls.ioloop import pollers
from impls.ioloop.pollioloop import IOLoop
from impls.ioloop.waker import Waker

SAFETY = 5.0  # seconds: a loop still running after this has failed the test
AVAILABLE = [name for name, factory in pollers.POLLERS.items() if factory is not None]
main_thread_only = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal.set_wakeup_fd works in the main thread only",
)


@pytest.fixture(params=AVAILABLE)
def loop(request):
    loop = IOLoop(make_current=False, poller=request.param)
    yield loop
    loop.close()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def run(loop, limit=SAFETY):
    """Start the loop; fail, instead of hanging, if it is not stopped in time."""
    expired = []
    safety = loop.call_later(limit, lambda: (expired.append(True), loop.stop()))
    loop.start()
    loop.remove_timeout(safety)
    assert not expired, f"the loop was not stopped within {limit} s"


# ---- Choosing a poller


@pytest.mark.skipif(not hasattr(select, "epoll"), reason="Linux only")
def test_the_default_poller_is_epoll_itself():
    loop = IOLoop(make_current=False)
    try:
        assert type(loop._poller) is select.epoll
    finally:
        loop.close()


def test_an_unknown_poller_is_refused_with_the_available_ones():
    with pytest.raises(ValueError, match="no poller 'kqueue2'.*select"):
        IOLoop(make_current=False, poller="kqueue2")


# ---- Every poller


def test_every_poller_reports_write_then_read_events(loop, pair):
    a, b = pair
    seen = []

    def handler(sock, events):
        seen.append(events)
        if events & IOLoop.WRITE:  # writable at once: now wait for data instead
            loop.update_handler(sock, IOLoop.READ)
            b.send(b"x")
        else:
            loop.remove_handler(sock)
            loop.stop()

    loop.add_handler(a, handler, IOLoop.WRITE)
    run(loop)
    assert seen == [IOLoop.WRITE, IOLoop.READ]


def test_every_poller_reports_a_hangup_as_read_or_error(loop, pair):
    a, b = pair
    seen = []

    def handler(sock, events):
        seen.append((events & (IOLoop.READ | IOLoop.ERROR) != 0, sock.recv(1)))
        loop.remove_handler(sock)
        loop.stop()

    loop.add_handler(a, handler, IOLoop.READ)
    b.close()
    run(loop)
    assert seen == [(True, b"")]


def test_every_poller_refuses_negative_and_closed_fds(loop):
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(ValueError, match="negative"):
        loop.add_handler(-1, lambda fd, events: None, IOLoop.READ)
    with pytest.raises(OSError) as closed:
        loop.add_handler(r, lambda fd, events: None, IOLoop.READ)
    assert closed.value.errno == errno.EBADF
    assert list(loop._handlers) == [loop._waker.fileno()]  # nothing half-registered


def test_an_fd_closed_without_remove_handler_does_not_break_the_loop(loop):
    # epoll forgets a closed fd by itself; poll and select report it as an
    # error, so that its handler can remove it.
    sock, peer = socket.socketpair()
    fd = sock.fileno()
    seen = []

    def handler(fd, events):
        seen.append(events)
        loop.remove_handler(fd)

    loop.add_handler(fd, handler, IOLoop.READ)
    sock.close()
    loop.call_later(0.02, loop.stop)
    run(loop)
    peer.close()
    forgotten_by_the_kernel = isinstance(loop._poller, getattr(select, "epoll", ()))
    assert seen == ([] if forgotten_by_the_kernel else [IOLoop.ERROR])


# ---- Signals and EINTR


class InterruptedOnce:
    """A poller whose first poll() fails with EINTR, as a signal would make it."""

    def __init__(self, poller):
        self.poller = poller
        self.interrupted = False

    def poll(self, timeout):
        if not self.interrupted:
            self.interrupted = True
            raise InterruptedError(errno.EINTR, "Interrupted system call")
        return self.poller.poll(timeout)

    def __getattr__(self, name):
        return getattr(self.poller, name)


def test_poll_interrupted_by_a_signal_is_retried(loop):
    loop._poller = InterruptedOnce(loop._poller)
    fired = []
    loop.call_later(0.01, fired.append, "timer")
    loop.call_later(0.02, loop.stop)
    run(loop)
    assert loop._poller.interrupted and fired == ["timer"]


@main_thread_only
def test_the_waker_is_the_wakeup_fd_while_running_and_unset_after(loop):
    assert signal.set_wakeup_fd(-1) == -1  # none set before
    seen = []

    def peek():
        seen.append(signal.set_wakeup_fd(-1))
        signal.set_wakeup_fd(seen[0])  # put it back
        loop.stop()

    loop.add_callback(peek)
    run(loop)
    assert seen == [loop._waker.write_fileno()]
    assert signal.set_wakeup_fd(-1) == -1


@main_thread_only
def test_a_wakeup_fd_set_by_someone_else_is_left_in_place(loop):
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    seen = []

    def peek():
        seen.append(signal.set_wakeup_fd(w))
        loop.stop()

    try:
        loop.add_callback(peek)
        run(loop)
        assert seen == [w]
        assert signal.set_wakeup_fd(-1) == w
    finally:
        signal.set_wakeup_fd(-1)
        os.close(r)
        os.close(w)


@main_thread_only
def test_a_signal_handler_wakes_the_loop_with_add_callback_from_signal(loop):
    # The handler runs on the loop's own thread, so add_callback does not wake
    # the loop; Python retries the interrupted poll() (PEP 475), which returns
    # only because the signal also wrote to the wakeup fd, the waker.
    def on_alarm(signum, frame):
        loop.add_callback_from_signal(loop.stop)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        loop.add_callback(signal.setitimer, signal.ITIMER_REAL, 0.05)
        started = time.monotonic()
        run(loop)
        assert time.monotonic() - started < SAFETY / 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_loop_runs_off_the_main_thread_without_touching_the_wakeup_fd():
    results = []

    def in_thread():
        loop = IOLoop(make_current=False)
        results.append(loop.run_sync(lambda: None, timeout=SAFETY))
        loop.close()

    thread = threading.Thread(target=in_thread, daemon=True)
    thread.start()
    thread.join(SAFETY)
    assert results == [None]


# ---- The waker


def test_wake_never_blocks_and_consume_empties_the_pipe():
    waker = Waker()
    try:
        for _ in range(70_000):  # more than a pipe holds (64 KiB)
            waker.wake()
        assert select.select([waker.fileno()], [], [], 0)[0] == [waker.fileno()]
        waker.consume()
        assert select.select([waker.fileno()], [], [], 0)[0] == []
    finally:
        waker.close()
    waker.wake()  # after close: harmless


def test_the_waker_fds_are_non_blocking_and_close_on_exec():
    waker = Waker()
    try:
        for fd in (waker.fileno(), waker.write_fileno()):
            assert not os.get_blocking(fd) and not os.get_inheritable(fd)
    finally:
        waker.close()

"""The loop contract: gevent's loop interface, with the rules libev and gevent give it.

Every test runs on ours (``pyloop``) and on gevent's two libev loops (``corecext``,
``corecffi``). ``libev`` is the implementation's module: ``libev.loop(default=False)``
makes a loop (the ``evloop`` fixture does), and ``libev.READ``, ``libev.TIMER``, ... are
libev's numbers.

The tests state libev's and corecext's behaviour. Where gevent's CFFI backend
knowingly differs (an error is routed with no context, a constructor's priority is
lost, ValueError where corecext raises AttributeError, ...), the test says so first,
with ``diverges("corecffi", why)``: a strict expected failure there, and there only.
A test marked ``fidelity`` states what libev does in a release build, which gevent's
wheels (libev built with assertions) do not: it must fail on both references.

No test may hang: every ``run()`` is bounded by a safety timer that breaks the loop
(the ``run`` fixture), every wait for a thread, a child process or a subprocess by a
timeout.
"""
import gc
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
from zope.interface.verify import verifyObject

from gevent._interfaces import ILoop
from gevent.exceptions import HubDestroyed

SAFETY = 5.0  # seconds: a loop still running after this has failed the test
ROOT = Path(__file__).resolve().parents[2]  # the repository, for subprocesses


@pytest.fixture
def evloop(libev):
    """A fresh loop of the implementation under test, destroyed after the test."""
    evloop = libev.loop(default=False)
    yield evloop
    evloop.destroy()


@pytest.fixture
def run(evloop):
    """``run(**kw)`` runs the loop and fails the test if the safety timer had to break it.
    The safety timer is unreferenced: it does not keep run() going by itself."""

    def run(limit=SAFETY, **kwargs):
        expired = []
        safety = evloop.timer(limit, ref=False)
        safety.start(lambda: (expired.append(True), evloop.break_()))
        evloop.run(**kwargs)
        safety.stop()
        assert not expired, f"the loop was still running after {limit} s"

    return run


@pytest.fixture
def errors(evloop):
    """What handle_error receives, as (context, exception type) pairs."""
    caught = []
    evloop.error_handler = lambda context, t, v, tb: caught.append((context, t))
    return caught


@pytest.fixture
def diverges(request):
    """``diverges(name, why)``: this test states libev's and corecext's behaviour, and
    gevent's backend ``name`` knowingly differs: a strict expected failure on it."""

    def diverges(name, why):
        if request.node.get_closest_marker("impl").args[1] == name:
            request.applymarker(pytest.mark.xfail(strict=True, reason=f"{name}: {why}"))

    return diverges


@pytest.fixture
def pair():
    """Two connected sockets, closed after the test."""
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def default_loop(libev):
    """The default loop, the only one that reaps children. libev has one per process
    (every loop(default=True) shares it); the test destroys it at the end."""
    evloop = libev.loop(default=True)
    yield evloop
    evloop.destroy()


def later(evloop, seconds, func, *args):
    """Call ``func(*args)`` in ``seconds``, from a timer that does not keep run() going."""
    timer = evloop.timer(seconds, ref=False)
    timer.start(func, *args)
    return timer


CFFI_ERRORS = ("a watcher's error goes to handle_error(None, ...), which also stops the watcher "
               "(python_handle_error)")


# ---- run_callback


def test_callbacks_run_in_the_order_they_were_added(evloop, run):
    order = []
    for i in range(100):
        evloop.run_callback(order.append, i)
    run()
    assert order == list(range(100))


def test_callbacks_added_by_callbacks_run_in_the_same_pass(evloop, run):
    # The zero-second timer is due after the poll of the first iteration: "c", added
    # by "a" while the callbacks run, comes before it, in the same prepare phase.
    order = []

    def a():
        order.append("a")
        evloop.run_callback(order.append, "c")

    evloop.timer(0).start(order.append, "timer")
    evloop.run_callback(a)
    evloop.run_callback(order.append, "b")
    run()
    assert order == ["a", "b", "c", "timer"]


def test_a_callback_is_pending_until_it_starts_and_true_until_it_returns(evloop, run):
    seen = []
    cb = evloop.run_callback(lambda: seen.append((cb.pending, bool(cb))))
    assert cb.pending and cb
    run()
    assert seen == [(False, True)]
    assert not cb.pending and not cb


def test_a_stopped_callback_does_not_run_and_does_not_keep_the_loop_going(evloop, run):
    ran = []
    stopped = evloop.run_callback(ran.append, "stopped")
    closed = evloop.run_callback(ran.append, "closed")
    assert evloop.activecnt == 2
    stopped.stop()
    closed.close()
    assert not stopped.pending and not stopped and not closed
    run()
    assert ran == [] and evloop.activecnt == 0


def test_a_callback_error_goes_to_handle_error_and_the_next_callback_runs(evloop, run, errors):
    def fail():
        raise ZeroDivisionError

    after = []
    cb = evloop.run_callback(fail)
    evloop.run_callback(after.append, "still running")
    run()
    assert errors == [(cb, ZeroDivisionError)]
    assert after == ["still running"]


def test_callbacks_yield_to_the_poll_every_50_once_the_switch_interval_is_used(
        evloop, run, monkeypatch):
    # Each callback takes 1 ms: after 50 of them the 5 ms switch interval is gone, so
    # the pass ends, the loop polls and runs its check watchers, and goes on next time.
    monkeypatch.setattr(sys, "getswitchinterval", lambda: 0.005)
    ran, seen_by_check = [], []
    for i in range(120):
        evloop.run_callback(lambda i=i: (time.sleep(0.001), ran.append(i)))
    evloop.check(ref=False).start(lambda: seen_by_check.append(len(ran)))
    run()
    assert seen_by_check == [50, 100, 120]


def test_remaining_callbacks_keep_the_poll_from_blocking(evloop, monkeypatch):
    # A referenced 2-second timer would make run(once=True) wait for it; the callbacks
    # left over after the switch interval start the zero-second timer instead.
    monkeypatch.setattr(sys, "getswitchinterval", lambda: 0.005)
    ran = []
    for i in range(60):
        evloop.run_callback(lambda i=i: (time.sleep(0.001), ran.append(i)))
    timer = evloop.timer(2.0)
    timer.start(lambda: None)
    started = time.monotonic()
    evloop.run(once=True)
    assert time.monotonic() - started < 1.0
    assert len(ran) == 50
    timer.stop()


def test_the_loops_time_is_updated_every_50_callbacks(evloop, run, monkeypatch):
    # With a long switch interval the pass never stops: the clock is read only every
    # 50 callbacks, so now() is the same for each group of 50.
    monkeypatch.setattr(sys, "getswitchinterval", lambda: 60.0)
    seen = []
    for _ in range(120):
        evloop.run_callback(lambda: (time.sleep(0.0005), seen.append(evloop.now())))
    run()
    groups = [set(seen[0:50]), set(seen[50:100]), set(seen[100:])]
    assert [len(group) for group in groups] == [1, 1, 1]
    assert seen[0] < seen[50] < seen[100]


def test_run_callback_threadsafe_wakes_a_waiting_loop(evloop, run):
    # The loop waits for a referenced 3-second timer; the thread's callback breaks it.
    timer = evloop.timer(3.0)
    timer.start(lambda: None)

    def from_thread():
        time.sleep(0.05)
        evloop.run_callback_threadsafe(evloop.break_)

    threading.Thread(target=from_thread).start()
    started = time.monotonic()
    run()
    assert time.monotonic() - started < 2.0
    timer.stop()


def test_an_error_raised_by_handle_error_is_printed_and_the_loop_goes_on(evloop, run, capsys):
    def broken_handler(context, t, v, tb):
        raise KeyError("the handler broke")

    evloop.error_handler = broken_handler
    after = []
    evloop.run_callback(lambda: 1 / 0)
    evloop.run_callback(after.append, "still running")
    run()
    assert after == ["still running"]
    assert "the handler broke" in capsys.readouterr().err


# corecext (Cython) reports the failed print to sys.unraisablehook, which pytest turns
# into this warning; the loop goes on all the same.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_loop_goes_on_when_even_printing_an_error_fails(evloop, run, monkeypatch):
    class BrokenStream:
        def write(self, text):
            raise OSError("stderr is broken")

        flush = write

    monkeypatch.setattr(sys, "stderr", BrokenStream())
    after = []
    evloop.run_callback(lambda: 1 / 0)
    evloop.run_callback(after.append, "still running")
    run()
    assert after == ["still running"]


def test_a_callbacks_args_are_released_once_it_has_run(evloop, run):
    class Arg:
        pass

    arg = Arg()
    ref = weakref.ref(arg)
    evloop.run_callback(lambda a: None, arg)
    del arg
    run()
    gc.collect()
    assert ref() is None


# ---- Pending watchers: priorities and order


def test_pending_watchers_run_highest_priority_first(libev, evloop, run):
    order = []
    for priority in (0, -2, 2, 1, -1):
        timer = evloop.timer(0)
        timer.priority = priority
        timer.start(order.append, priority)
    run()
    assert order == [2, 1, 0, -1, -2]


def test_watchers_fed_at_one_priority_run_last_fed_first(libev, evloop, run):
    order = []
    timers = [evloop.timer(10) for _ in range(3)]
    for timer in timers:
        timer.start(lambda: None)
    for i, timer in enumerate(timers):
        timer.feed(libev.TIMER, order.append, i)
    run(nowait=True)
    assert order == [2, 1, 0]
    for timer in timers:
        timer.stop()


def test_prepare_watchers_started_in_order_run_in_reverse(evloop, run):
    # queue_events feeds a kind's watchers in the order they started; the last fed runs first.
    order = []
    prepares = [evloop.prepare() for _ in range(3)]
    for i, prepare in enumerate(prepares):
        prepare.start(order.append, i)
    run(nowait=True)
    assert order == [2, 1, 0]
    for prepare in prepares:
        prepare.stop()


def test_feeding_a_watcher_that_was_never_started_runs_its_callback(libev, evloop, run, diverges):
    diverges("corecffi",
             "feed() of a watcher never started is dropped ('Unable to dereference handle')")
    ran = []
    timer = evloop.timer(10)
    timer.feed(libev.TIMER, ran.append, "fed")
    assert timer.pending and not timer.active and evloop.pendingcnt == 1
    run(nowait=True)
    assert ran == ["fed"]
    assert not timer.pending and timer.callback is None


def test_stop_drops_a_pending_event(libev, evloop, run):
    ran = []
    timer = evloop.timer(10)
    timer.start(lambda: None)
    timer.feed(libev.TIMER, ran.append, "fed")
    timer.stop()
    assert not timer.pending
    run(nowait=True)
    assert ran == []


def test_one_iteration_runs_prepare_then_check_then_timers_then_idle(evloop, run):
    # Before the poll: prepare watchers. After it: checks are queued last, so they run
    # first; idle watchers only in an iteration where nothing else of theirs is pending.
    order = []
    watchers = [evloop.check(), evloop.idle(), evloop.prepare()]
    for watcher, name in zip(watchers, ["check", "idle", "prepare"]):
        watcher.start(order.append, name)
    evloop.timer(0).start(order.append, "timer")
    run(once=True)
    assert order == ["prepare", "check", "timer"]
    order.clear()
    run(once=True)
    assert order == ["prepare", "check", "idle"]
    for watcher in watchers:
        watcher.stop()


def test_an_idle_watcher_of_higher_priority_runs_despite_lower_pending_events(evloop, run):
    order = []
    idle = evloop.idle()
    idle.priority = 1
    idle.start(order.append, "idle")
    timer = evloop.timer(0)
    timer.priority = -1
    timer.start(order.append, "timer")
    run(once=True)
    assert order == ["idle", "timer"]
    idle.stop()


def test_an_active_idle_watcher_keeps_the_poll_from_blocking(evloop, run):
    timer = evloop.timer(2.0)
    timer.start(lambda: None)
    idle = evloop.idle()
    idle.start(lambda: None)
    started = time.monotonic()
    run(once=True)
    assert time.monotonic() - started < 1.0
    idle.stop()
    timer.stop()


# ---- Reference counting: when run() returns


def test_run_returns_at_once_when_nothing_is_active(evloop, run):
    assert evloop.activecnt == 0
    started = time.monotonic()
    run()
    assert time.monotonic() - started < 1.0


def test_an_unreferenced_watcher_does_not_keep_run_going(evloop, run):
    timer = evloop.timer(2.0, ref=False)
    timer.start(lambda: None)
    assert evloop.activecnt == 0
    started = time.monotonic()
    run()
    assert time.monotonic() - started < 1.0
    assert timer.active
    timer.stop()


def test_activecnt_counts_referenced_active_watchers_and_queued_callbacks(evloop, run):
    timer = evloop.timer(10)
    timer.start(lambda: None)
    unreferenced = evloop.timer(10, ref=False)
    unreferenced.start(lambda: None)
    evloop.run_callback(lambda: None)
    assert evloop.activecnt == 2
    timer.stop()
    run()
    assert evloop.activecnt == 0
    unreferenced.stop()
    assert evloop.activecnt == 0


def test_ref_can_change_while_a_watcher_is_active(evloop):
    timer = evloop.timer(10)
    timer.start(lambda: None)
    assert evloop.activecnt == 1
    timer.ref = False
    assert evloop.activecnt == 0 and not timer.ref
    timer.ref = True
    assert evloop.activecnt == 1 and timer.ref
    timer.stop()
    assert evloop.activecnt == 0


def test_loop_ref_and_unref_adjust_activecnt(evloop, run):
    evloop.ref()
    assert evloop.activecnt == 1
    later(evloop, 0.01, evloop.unref)
    run()
    assert evloop.activecnt == 0


def test_run_keeps_the_watchers_it_did_not_run(evloop, run):
    # The loop alone holds this unreferenced timer: run() returns without it, and the
    # timer is still there to fire during a later run().
    fired = []
    evloop.timer(0.3, ref=False).start(fired.append, "kept")
    gc.collect()
    run()
    assert fired == []
    keep_going = evloop.timer(0.5)
    keep_going.start(lambda: None)
    run()
    assert fired == ["kept"]


# ---- io watchers


@pytest.mark.parametrize("backend", ["epoll", "poll", "select"])
def test_an_io_watcher_is_called_with_revents_when_its_fd_is_ready(libev, pair, backend):
    evloop = libev.loop(flags=backend, default=False)
    try:
        assert evloop.backend == backend
        a, b = pair
        got = []
        reader = evloop.io(a.fileno(), libev.READ)
        reader.start(lambda revents: (got.append(revents), reader.stop()), pass_events=True)
        b.send(b"x")
        evloop.run()
        assert got == [libev.READ]
        assert not reader.active and reader.callback is None
    finally:
        evloop.destroy()


def test_an_io_watcher_whose_callback_raises_is_stopped(libev, evloop, run, pair, errors):
    a, b = pair
    b.send(b"x")

    def fail():
        raise ZeroDivisionError

    reader = evloop.io(a.fileno(), libev.READ)
    reader.start(fail)
    run()
    assert [t for _, t in errors] == [ZeroDivisionError]
    assert not reader.active and reader.callback is None


def test_a_watchers_error_goes_to_handle_error_with_the_watcher_as_context(
        libev, evloop, run, pair, errors, diverges):
    diverges("corecffi", CFFI_ERRORS)
    a, b = pair
    b.send(b"x")
    reader = evloop.io(a.fileno(), libev.READ)
    reader.start(lambda: 1 / 0)
    run()
    assert errors == [(reader, ZeroDivisionError)]


def test_a_new_watcher_on_a_reused_fd_number_is_registered_again(libev, evloop, run):
    # The first watcher's socket is closed while it is active: the kernel forgets the
    # fd, and the new socket gets the same number. Its watcher wants the same events
    # as before, but must still be told to the kernel (libev's _IOFDSET).
    a, b = socket.socketpair()
    fd = a.fileno()
    old = evloop.io(fd, libev.READ)
    old.start(lambda: None)
    run(nowait=True)
    a.close()
    b.close()
    c, d = socket.socketpair()
    try:
        assert c.fileno() == fd
        got = []
        new = evloop.io(c.fileno(), libev.READ)
        new.start(lambda: (got.append("new"), new.stop(), old.stop()))
        d.send(b"x")
        run()
        assert got == ["new"]
    finally:
        c.close()
        d.close()


def test_a_watched_fd_closed_under_select_is_killed_with_an_error_event(libev):
    # select() fails with EBADF: libev's fd_ebadf finds the fd, stops its watchers
    # and feeds them ERROR | READ | WRITE (fd_kill).
    evloop = libev.loop(flags="select", default=False)
    a, b = socket.socketpair()
    try:
        got = []
        reader = evloop.io(a.fileno(), libev.READ)
        reader.start(got.append, pass_events=True)
        evloop.run(nowait=True)
        a.close()
        evloop.run(nowait=True)
        assert got == [libev.ERROR | libev.READ | libev.WRITE]
        assert not reader.active and reader.callback is None
    finally:
        b.close()
        evloop.destroy()


BAD_FD_SCRIPT = """
import socket, sys
from {module} import loop, READ, WRITE, ERROR
evloop = loop(default=False)
a, b = socket.socketpair()
reader = evloop.io(a.fileno(), READ)
a.close()
got = []
reader.start(got.append, pass_events=True)  # epoll_ctl(ADD) will say EBADF
evloop.run(nowait=True)
assert got == [ERROR | READ | WRITE], got
assert not reader.active
print("killed")
"""


@pytest.mark.fidelity("gevent's libev is built with assertions: epoll_modify aborts the "
                      "process ('I/O watcher with invalid fd found in epoll_ctl') where a "
                      "release libev calls fd_kill")
def test_starting_a_watcher_on_a_closed_fd_kills_it_with_an_error_event(libev):
    # In a subprocess: on the references the process aborts.
    result = subprocess.run(
        [sys.executable, "-c", BAD_FD_SCRIPT.format(module=libev.__name__)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "killed"


def test_closing_fd_feeds_the_fds_active_watchers(libev, evloop, run, pair):
    a, _ = pair
    got = []
    writer = evloop.io(a.fileno(), libev.WRITE)
    writer.start(got.append, pass_events=True)
    assert evloop.closing_fd(a.fileno()) is True
    assert writer.pending
    run(nowait=True)
    assert got[0] & libev.WRITE
    writer.stop()
    assert evloop.closing_fd(a.fileno()) is False


# ---- Timers


def test_a_timer_fires_once_and_is_then_stopped(evloop, run):
    fired = []
    timer = evloop.timer(0.01)
    timer.start(fired.append, "once")
    assert timer.active and timer.args == ("once",)
    run()
    assert fired == ["once"]
    assert not timer.active and timer.callback is None and timer.args is None


def test_a_repeating_timer_fires_until_stopped(evloop, run):
    fired = []

    def tick():
        fired.append(evloop.now())
        if len(fired) == 3:
            timer.stop()

    timer = evloop.timer(0.01, 0.01)
    timer.start(tick)
    run()
    assert len(fired) == 3 and fired == sorted(fired)


def test_at_is_relative_while_stopped_and_absolute_while_active(evloop):
    slow, fast = evloop.timer(5.0), evloop.timer(1.0)
    assert (slow.at, fast.at) == (5.0, 1.0)
    slow.start(lambda: None)
    fast.start(lambda: None)
    assert slow.at - fast.at == pytest.approx(4.0)
    slow.stop()
    fast.stop()
    assert 4.0 < slow.at <= 5.0


def test_a_timer_counts_from_the_loops_time_unless_started_with_update(evloop):
    # The loop's time is that of its last update: after 0.15 s away from the loop, a
    # timer started without update is due 0.15 s earlier than one started with it.
    evloop.update_now()
    time.sleep(0.15)
    stale, fresh = evloop.timer(1.0), evloop.timer(1.0)
    stale.start(lambda: None, update=False)
    fresh.start(lambda: None, update=True)
    assert 0.1 < fresh.at - stale.at < 1.0
    stale.stop()
    fresh.stop()


def test_starting_a_timer_reads_the_clock_only_while_callbacks_run(evloop, run):
    # starting_timer_may_update_loop_time: True while run_callback's callbacks run.
    moved = {}

    def start_a_timer(where):
        before = evloop.now()
        time.sleep(0.02)
        timer = evloop.timer(10)
        timer.start(lambda: None)
        timer.stop()
        moved[where] = evloop.now() > before

    evloop.run_callback(start_a_timer, "in a callback")
    evloop.timer(0).start(start_a_timer, "in a timer")
    run()
    assert moved == {"in a callback": True, "in a timer": False}


def test_now_stays_the_same_until_the_time_is_updated(evloop):
    before = evloop.now()
    time.sleep(0.02)
    assert evloop.now() == before
    evloop.update_now()
    assert evloop.now() > before


def test_again_restarts_a_repeating_timer_from_now(evloop, diverges):
    diverges("corecffi",
             "again() updates the loop's time only if given update=True (its default is start()'s)")
    timer = evloop.timer(0.0, 0.2)
    timer.start(lambda: None)
    first = timer.at
    time.sleep(0.05)
    timer.again(lambda: None)
    assert timer.active
    # From now: 0.2 after a clock that moved by the 0.05 slept. Without the update, the
    # difference is 0.2 give or take float rounding, hence the margin of half the sleep.
    assert 0.225 < timer.at - first < 1.0
    timer.stop()


def test_again_starts_a_stopped_repeating_timer_after_its_repeat(evloop, run):
    fired = []
    timer = evloop.timer(5.0, 0.05)
    timer.again(lambda: (fired.append(True), timer.stop()))
    assert timer.active
    started = time.monotonic()
    run()
    assert fired and time.monotonic() - started < 2.0


def test_again_stops_an_active_timer_that_does_not_repeat(evloop):
    timer = evloop.timer(5.0)
    timer.start(lambda: None)
    timer.again(lambda: None)
    assert not timer.active
    timer.stop()


@pytest.mark.fidelity("corecext's again() lets ev_timer_again stop the timer without the "
                      "ev_ref that matches its unref: activecnt is -1, so run() returns at "
                      "once beside one referenced timer (and alone would never return); "
                      "corecffi's again does the same")
def test_again_on_an_unreferenced_timer_that_does_not_repeat_gives_its_ref_back(evloop, run):
    unreferenced = evloop.timer(5.0, ref=False)
    unreferenced.start(lambda: None)
    unreferenced.again(lambda: None)
    assert not unreferenced.active
    fired = []
    later(evloop, 0.01, fired.append, "unreferenced")
    referenced = evloop.timer(0.05)  # the one thing run() must wait for
    referenced.start(fired.append, "referenced")
    run()
    assert fired == ["unreferenced", "referenced"]
    assert evloop.activecnt == 0


def test_restarting_a_fired_timer_fires_it_at_once(evloop, run):
    # libev keeps what was left in ``at``: nothing, or less than nothing.
    fired = []
    timer = evloop.timer(0.3)
    timer.start(fired.append, 1)
    run()
    assert timer.at <= 0.0
    timer.start(fired.append, 2)
    started = time.monotonic()
    run()
    assert fired == [1, 2]
    assert time.monotonic() - started < 0.2


def test_a_repeating_timers_error_goes_to_handle_error_and_it_keeps_firing(
        evloop, run, errors, diverges):
    diverges("corecffi", CFFI_ERRORS)
    calls = []

    def fail():
        calls.append(True)
        if len(calls) == 3:
            timer.stop()
        raise ZeroDivisionError

    timer = evloop.timer(0.001, 0.001)
    timer.start(fail)
    run()
    assert errors == [(timer, ZeroDivisionError)] * 3


# ---- The other watchers


def test_async_send_from_a_thread_wakes_run(evloop, run):
    got = []
    watcher = evloop.async_()
    watcher.start(lambda: (got.append("sent"), watcher.stop()))
    threading.Timer(0.05, watcher.send).start()
    started = time.monotonic()
    run()
    assert got == ["sent"] and time.monotonic() - started < 2.0


def test_an_async_watcher_is_pending_from_send_until_the_loop_sees_it(evloop, run):
    seen = []
    watcher = evloop.async_()
    watcher.start(lambda: seen.append(watcher.pending))
    watcher.send()
    assert watcher.pending
    run(once=True)
    assert seen == [False] and not watcher.pending
    watcher.stop()


FORK_TIMEOUT = 10.0


def _read_from_child(pid, read_end):
    """What the child wrote before it exited (bounded by FORK_TIMEOUT), and its status."""
    ready, _, _ = select.select([read_end], [], [], FORK_TIMEOUT)
    data = os.read(read_end, 100) if ready else b"(nothing in time)"
    os.close(read_end)
    deadline = time.monotonic() + FORK_TIMEOUT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return data, os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return data, "killed"


def test_fork_watchers_run_in_the_child_at_its_first_iteration(evloop, run):
    # gevent's loops check the pid in every iteration (EVFLAG_FORKCHECK): no reinit().
    read_end, write_end = os.pipe()
    forked = evloop.fork()
    forked.start(os.write, write_end, b"forked")
    pid = os.fork()
    if pid == 0:
        try:
            evloop.run(nowait=True)
        finally:
            os._exit(0)
    os.close(write_end)
    run(nowait=True)  # not in the parent: the pipe stays empty until the child writes
    assert _read_from_child(pid, read_end) == (b"forked", 0)
    forked.stop()


def test_a_child_watcher_reports_the_childs_exit_status(default_loop):
    assert default_loop.default
    default_loop.install_sigchld()  # before the fork: its SIGCHLD must not be missed
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    got = []
    watcher = default_loop.child(pid)
    watcher.start(lambda: (got.append((watcher.rpid, watcher.rstatus)), watcher.stop()))
    safety = later(default_loop, SAFETY, default_loop.break_)
    default_loop.run()
    safety.stop()
    if not got:
        os.waitpid(pid, 0)
    assert got and got[0][0] == pid
    assert os.waitstatus_to_exitcode(got[0][1]) == 7


def test_a_child_watchers_sigchld_does_not_reach_the_programs_wakeup_fd(default_loop):
    # libev's handler is C: CPython never sees the signal. gevent relies on it, and
    # writes SIGCHLD to the fd itself when it runs a program's SIGCHLD handler.
    wakeup_r, wakeup_w = os.pipe()
    os.set_blocking(wakeup_r, False)
    os.set_blocking(wakeup_w, False)
    previous = signal.set_wakeup_fd(wakeup_w)
    try:
        default_loop.install_sigchld()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        watcher = default_loop.child(pid)
        watcher.start(watcher.stop)
        safety = later(default_loop, SAFETY, default_loop.break_)
        default_loop.run()
        safety.stop()
        assert not watcher.active, "the child's exit was not seen"
        with pytest.raises(BlockingIOError):
            os.read(wakeup_r, 10)
    finally:
        signal.set_wakeup_fd(previous)
        os.close(wakeup_r)
        os.close(wakeup_w)


def test_a_child_watcher_needs_the_default_loop(evloop):
    with pytest.raises(TypeError, match="only available on the default loop"):
        evloop.child(os.getpid())


def test_a_signal_watcher_is_called_when_the_signal_arrives(evloop, run):
    got = []
    watcher = evloop.signal(signal.SIGUSR1)
    watcher.start(lambda: (got.append("usr1"), watcher.stop()))
    later(evloop, 0.01, os.kill, os.getpid(), signal.SIGUSR1)
    run()
    assert got == ["usr1"]


def test_a_signal_arriving_the_moment_its_handler_is_installed_is_not_lost(
        libev, evloop, run, monkeypatch):
    # libev's ev_signal_start records the loop in signals[] before sigaction installs
    # the handler, so that the handler always finds it. A loop that installs its handler
    # through Python's signal.signal (pyloop) is made to receive the signal right then;
    # the C loops install it with sigaction, out of reach: there it arrives just after.
    watchers = getattr(libev, "watchers", None)
    if watchers is not None and hasattr(watchers, "_signal_signal"):
        install = watchers._signal_signal

        def install_then_raise(signum, handler):
            previous = install(signum, handler)
            if handler is not signal.SIG_DFL and signum == signal.SIGUSR2:
                signal.raise_signal(signum)  # Python runs the handler before returning
            return previous

        monkeypatch.setattr(watchers, "_signal_signal", install_then_raise)
    got = []
    watcher = evloop.signal(signal.SIGUSR2)
    watcher.start(lambda: (got.append("usr2"), watcher.stop()))
    if watchers is None:
        os.kill(os.getpid(), signal.SIGUSR2)
    run()
    assert got == ["usr2"]


def test_a_stat_watcher_sees_a_file_change(evloop, run, tmp_path):
    path = tmp_path / "watched"
    path.write_bytes(b"")
    seen = []
    watcher = evloop.stat(str(path), interval=0.1)
    watcher.start(lambda: (seen.append((watcher.attr is not None, watcher.prev is not None)),
                           watcher.stop()))
    later(evloop, 0.05, path.write_bytes, b"x")
    run()
    assert seen == [(True, True)]


def test_a_stat_watchers_attr_and_prev_are_stat_results(evloop, run, tmp_path, diverges):
    diverges("corecffi", "attr and prev are cffi 'struct stat's whose only field is st_nlink")
    path = tmp_path / "watched"
    path.write_bytes(b"")
    seen = []
    watcher = evloop.stat(str(path), interval=0.1)
    watcher.start(lambda: (seen.append((watcher.attr.st_size, watcher.prev.st_size)),
                           watcher.stop()))
    later(evloop, 0.05, path.write_bytes, b"x")
    run()
    assert seen == [(1, 0)]


def test_a_stat_watchers_attr_is_none_once_the_path_is_gone(evloop, run, tmp_path):
    path = tmp_path / "watched"
    path.write_bytes(b"")
    seen = []
    watcher = evloop.stat(str(path), interval=0.1)
    watcher.start(lambda: (seen.append((watcher.attr, watcher.prev is not None)), watcher.stop()))
    later(evloop, 0.05, path.unlink)
    run()
    assert seen == [(None, True)]


# ---- The watcher API


def test_a_watcher_used_as_a_context_manager_is_closed_on_exit(evloop):
    with evloop.timer(10) as timer:
        timer.start(lambda: None)
        assert timer.active
    assert not timer.active and timer.callback is None


def test_args_and_callback_can_change_but_only_to_a_tuple_and_a_callable(evloop):
    timer = evloop.timer(10)
    assert timer.args is None and timer.callback is None
    timer.start(print)
    assert timer.args == ()
    timer.args = (1, 2)
    assert timer.args == (1, 2)
    timer.args = None
    assert timer.args is None
    with pytest.raises(TypeError):
        timer.args = [1, 2]
    with pytest.raises(TypeError):
        timer.callback = 5
    timer.callback = len
    assert timer.callback is len
    timer.stop()


# ---- run(nowait, once), break_, depth, iteration


def test_run_nowait_does_one_iteration_without_waiting(evloop):
    timer = evloop.timer(2.0)
    timer.start(lambda: None)
    iteration = evloop.iteration
    started = time.monotonic()
    evloop.run(nowait=True)
    assert time.monotonic() - started < 1.0
    assert evloop.iteration == iteration + 1 and timer.active
    timer.stop()


def test_run_once_waits_for_one_event_then_returns(evloop):
    fired = []
    soon, late = evloop.timer(0.01), evloop.timer(2.0)
    soon.start(fired.append, "soon")
    late.start(fired.append, "late")
    started = time.monotonic()
    evloop.run(once=True)
    assert fired == ["soon"] and late.active
    assert time.monotonic() - started < 1.0
    late.stop()


def test_break_ends_run_after_the_current_iteration(evloop, run):
    calls = []

    def tick():
        calls.append(True)
        if len(calls) == 3:
            evloop.break_()

    timer = evloop.timer(0.001, 0.001)
    timer.start(tick)
    run()
    assert len(calls) == 3 and timer.active
    timer.stop()


def test_verify_finds_a_busy_loop_consistent(libev, evloop, run, pair):
    a, _ = pair
    watchers = [evloop.timer(i / 10, 0.1) for i in range(10)] + [evloop.io(a.fileno(), libev.WRITE)]
    watchers += [evloop.idle(), evloop.check(), evloop.prepare(), evloop.async_()]
    for watcher in watchers:
        watcher.start(lambda: None)
    run(nowait=True)
    watchers[3].stop()
    evloop.verify()
    for watcher in watchers:
        watcher.stop()


def test_depth_counts_the_runs_in_progress(evloop, run):
    seen = []
    evloop.run_callback(lambda: seen.append(evloop.depth))
    assert evloop.depth == 0
    run()
    assert seen == [1] and evloop.depth == 0


# ---- Errors


def test_without_an_error_handler_the_error_is_printed_and_run_returns(evloop, capsys):
    def fail():
        raise ZeroDivisionError("printed")

    ticks = []
    timer = evloop.timer(0.001, 0.001)
    timer.start(ticks.append, 1)
    evloop.run_callback(fail)
    safety = later(evloop, SAFETY, evloop.break_)
    started = time.monotonic()
    evloop.run()
    safety.stop()
    assert time.monotonic() - started < SAFETY / 2
    assert "ZeroDivisionError: printed" in capsys.readouterr().err
    timer.stop()


def test_hub_destroyed_drops_the_callbacks(evloop, run):
    ran = []
    evloop.run_callback(ran.append, "dropped")
    evloop.handle_error(None, HubDestroyed, HubDestroyed(False), None)
    evloop.run(nowait=True)
    assert ran == []


# ---- Destroy


DESTROYED_USES = [
    # (name, use, whether gevent's CFFI loop raises something else than ValueError)
    ("run", lambda evloop: evloop.run(), True),
    ("now", lambda evloop: evloop.now(), True),
    ("update_now", lambda evloop: evloop.update_now(), True),
    ("ref", lambda evloop: evloop.ref(), True),
    ("break_", lambda evloop: evloop.break_(), True),
    ("run_callback", lambda evloop: evloop.run_callback(print), True),
    ("closing_fd", lambda evloop: evloop.closing_fd(0), True),
    ("pendingcnt", lambda evloop: evloop.pendingcnt, True),
    ("activecnt", lambda evloop: evloop.activecnt, False),
]


@pytest.mark.parametrize("name, use, cffi_differs", DESTROYED_USES,
                         ids=[use[0] for use in DESTROYED_USES])
def test_using_a_destroyed_loop_is_a_value_error(libev, name, use, cffi_differs, diverges):
    if cffi_differs:
        diverges("corecffi", "a TypeError from cffi (a NULL loop pointer) or an AttributeError")
    evloop = libev.loop(default=False)
    evloop.destroy()
    with pytest.raises(ValueError, match="operation on destroyed loop"):
        use(evloop)


def test_starting_a_watcher_of_a_destroyed_loop_is_a_value_error(libev, diverges):
    diverges("corecffi", "an AttributeError ('_DiscardedSet' object has no attribute 'add')")
    evloop = libev.loop(default=False)
    timer = evloop.timer(1)
    evloop.destroy()
    with pytest.raises(ValueError, match="operation on destroyed loop"):
        timer.start(lambda: None)


def test_destroy_twice_is_harmless_and_the_loop_is_no_longer_default(libev):
    evloop = libev.loop(default=False)
    assert isinstance(evloop.fileno(), int)  # epoll's
    evloop.destroy()
    evloop.destroy()
    assert not evloop.default and evloop.fileno() is None
    assert "destroyed" in repr(evloop)


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"),
                    reason="counts the fds in /proc/self/fd (Linux)")
def test_destroy_releases_the_file_descriptors_of_a_non_default_loop(libev, pair):
    a, _ = pair
    before = _open_fds()
    for _ in range(5):
        evloop = libev.loop(default=False)
        evloop.io(a.fileno(), libev.READ).start(lambda: None)
        evloop.async_().start(lambda: None)
        evloop.run(nowait=True)
        evloop.destroy()
    assert _open_fds() == before


# ---- Bad input


def test_an_io_watcher_on_a_negative_fd_is_a_value_error(libev, evloop):
    with pytest.raises(ValueError, match="fd must be non-negative: -1"):
        evloop.io(-1, libev.READ)


def test_an_illegal_event_mask_is_a_value_error(evloop, pair):
    a, _ = pair
    with pytest.raises(ValueError, match="illegal event mask: 8"):
        evloop.io(a.fileno(), 8)


def test_an_io_watcher_on_a_closed_fd_is_an_ebadf_os_error(libev, evloop):
    a, b = socket.socketpair()
    fd = a.fileno()
    a.close()
    b.close()
    with pytest.raises(OSError) as raised:
        evloop.io(fd, libev.READ)
    assert raised.value.errno == 9  # EBADF


def test_a_non_callable_callback_is_a_type_error(evloop):
    timer = evloop.timer(1)
    for bad in (None, 5, "print"):
        with pytest.raises(TypeError):
            timer.start(bad)
    assert not timer.active


def test_a_timer_with_a_negative_repeat_is_a_value_error(evloop):
    with pytest.raises(ValueError, match="repeat must be positive or zero"):
        evloop.timer(1, -1)


@pytest.mark.parametrize("signum", [0, signal.NSIG])
def test_a_signal_number_out_of_range_is_a_value_error(evloop, signum):
    with pytest.raises(ValueError, match="illegal signal number"):
        evloop.signal(signum)


def test_an_unknown_backend_is_a_value_error(libev):
    with pytest.raises(ValueError, match="Invalid backend or flag"):
        libev.loop(flags="nonsense", default=False)
    with pytest.raises(ValueError, match="Unsupported backend"):
        libev.loop(flags="kqueue", default=False)


def test_the_priority_cannot_change_while_the_watcher_is_active(evloop, diverges):
    diverges("corecffi", "ValueError('not while active')")
    timer = evloop.timer(10)
    timer.start(lambda: None)
    with pytest.raises(AttributeError, match="Cannot set priority of an active watcher"):
        timer.priority = 1
    timer.stop()
    timer.priority = 1
    assert timer.priority == 1


PENDING_PRIORITY = ("sets it: libev's clear_pending then empties the queue slot of the new "
                    "priority, another watcher's (libev says not to do it, and does not check)")


def test_the_priority_cannot_change_while_the_watcher_is_pending(libev, evloop, diverges):
    diverges("corecext", PENDING_PRIORITY)
    diverges("corecffi", PENDING_PRIORITY)
    timer = evloop.timer(10)
    timer.feed(libev.TIMER, lambda: None)
    try:
        timer.priority = 2
    except AttributeError as error:
        assert "Cannot set priority of a pending watcher" in str(error)
    else:
        timer.priority = 0  # undone at once: libev's pending queues stay consistent
        pytest.fail("the priority of a pending watcher changed")
    assert timer.priority == 0 and timer.pending
    timer.stop()
    assert not timer.pending
    timer.priority = 2
    assert timer.priority == 2


def test_stopping_a_watcher_fed_at_another_priority_leaves_the_others_pending(
        libev, evloop, run, diverges):
    # The review's case: A is fed at priority 0, B at priority 2, A's priority changes.
    diverges("corecext", PENDING_PRIORITY)
    diverges("corecffi", PENDING_PRIORITY)
    got = []
    a, b = evloop.timer(10), evloop.timer(10, priority=2)
    a.feed(libev.TIMER, got.append, "a")
    b.feed(libev.TIMER, got.append, "b")
    try:
        a.priority = 2
    except AttributeError:
        pass
    else:
        a.priority = 0  # undone at once, before stop() would lose B
        pytest.fail("the priority of a pending watcher changed")
    a.stop()
    run(nowait=True)
    assert got == ["b"] and not b.pending


@pytest.mark.parametrize("attribute, value", [("fd", 1), ("events", 2)])
def test_an_io_watchers_fd_and_events_cannot_change_while_it_is_active(
        libev, evloop, pair, attribute, value, diverges):
    diverges("corecffi", "ValueError('not while active')")
    a, _ = pair
    watcher = evloop.io(a.fileno(), libev.READ)
    watcher.start(lambda: None)
    with pytest.raises(AttributeError, match="read-only while watcher is active"):
        setattr(watcher, attribute, value)
    watcher.stop()


def test_an_io_watchers_fd_cannot_become_negative(libev, evloop, pair, diverges):
    diverges("corecext", "SystemError: the fd setter returns NULL without setting an exception")
    a, _ = pair
    watcher = evloop.io(a.fileno(), libev.READ)
    with pytest.raises(ValueError, match="fd must be non-negative"):
        watcher.fd = -1


@pytest.mark.fidelity("gevent accepts any events while the watcher is stopped; "
                      "libev asserts when it starts")
def test_an_io_watchers_events_cannot_become_an_illegal_mask(libev, evloop, pair):
    a, _ = pair
    watcher = evloop.io(a.fileno(), libev.READ)
    with pytest.raises(ValueError, match="illegal event mask"):
        watcher.events = 8


@pytest.mark.parametrize("priority, clamped", [(7, 2), (-9, -2)])
def test_a_priority_outside_minpri_maxpri_is_clamped_when_the_watcher_starts(
        evloop, priority, clamped):
    timer = evloop.timer(10)
    timer.priority = priority
    assert timer.priority == priority
    timer.start(lambda: None)
    assert timer.priority == clamped == max(evloop.MINPRI, min(priority, evloop.MAXPRI))
    timer.stop()


def test_a_priority_given_to_the_constructor_is_kept(evloop, diverges):
    diverges("corecffi", "ev_init() resets the priority set before it: always 0")
    assert evloop.timer(1, priority=2).priority == 2
    assert evloop.idle(priority=-1).priority == -1


# ---- gevent on the loop


def test_the_loop_provides_gevents_iloop_interface(evloop):
    assert verifyObject(ILoop, evloop)


GEVENT_SCRIPT = """
import gevent
from gevent import socket

assert type(gevent.get_hub().loop).__module__ == {module!r}
order = []

def sleeper(n, seconds):
    gevent.sleep(seconds)
    order.append(n)

gevent.joinall([gevent.spawn(sleeper, i, 0.01 * (3 - i)) for i in range(3)])
assert order == [2, 1, 0], order

a, b = socket.socketpair()
echo = gevent.spawn(lambda: b.sendall(b.recv(100).upper()))
a.sendall(b"hello")
assert a.recv(100) == b"HELLO"
echo.join()

with gevent.Timeout(0.05, False):
    gevent.sleep(5)
    raise AssertionError("the Timeout did not fire")
print("ok")
"""


def test_real_gevent_runs_on_the_loop(libev):
    # gevent picks its loop class from GEVENT_LOOP before it makes the first hub: a
    # subprocess, so that this process's gevent keeps its own loop.
    env = dict(os.environ, GEVENT_LOOP=f"{libev.__name__}.loop")
    result = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT.format(module=libev.__name__)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"

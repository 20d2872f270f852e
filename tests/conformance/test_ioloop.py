"""The IOLoop contract: every test runs on ours (``pollioloop``) and on tornado 6.

``ioloop`` is the implementation's namespace: ``ioloop.IOLoop``, ``ioloop.Future``,
``ioloop.TimeoutError``. Timer handles and most exception types are opaque here,
and results for equal deadlines are sorted, unless a test is marked ``fidelity``:
then it states tornado 4.5's behaviour, which tornado 6 changed, and must fail there.

No test may hang: every run of a loop is bounded by a safety timer (``run``) or a
``run_sync`` timeout, and futures are created inside the running loop (tornado 6's
are asyncio futures, bound to the loop that is running when they are made).
"""
import datetime
import gc
import logging
import os
import socket
import threading
import time
import traceback
import weakref

import pytest

SAFETY = 5.0  # seconds: a loop still running after this has failed the test


@pytest.fixture
def loop(ioloop):
    """A fresh loop, not made current (tornado 6 deprecates making it so)."""
    loop = ioloop.IOLoop(make_current=False)
    yield loop
    loop.close()


@pytest.fixture
def run(loop):
    """``run()`` starts the loop and fails the test if it is not stopped in time."""

    def run(limit=SAFETY):
        expired = []
        safety = loop.call_later(limit, lambda: (expired.append(True), loop.stop()))
        loop.start()
        loop.remove_timeout(safety)
        assert not expired, f"the loop was not stopped within {limit} s"

    return run


@pytest.fixture
def pair():
    """Two connected sockets, closed after the test."""
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


# ---- Callbacks


def test_callbacks_run_in_the_order_they_were_added(loop, run):
    order = []
    for i in range(100):
        loop.add_callback(order.append, i)
    loop.add_callback(loop.stop)
    run()
    assert order == list(range(100))


def test_callbacks_added_during_iteration_run_next_iteration(loop, run):
    # The due timer runs at the end of the first iteration: "c", added by "a"
    # during it, comes after the timer, in the next one.
    order = []

    def a():
        order.append("a")
        loop.add_callback(order.append, "c")
        loop.add_callback(loop.stop)

    loop.call_later(0, order.append, "timer")
    loop.add_callback(a)
    loop.add_callback(order.append, "b")
    run()
    assert order == ["a", "b", "timer", "c"]


def test_callbacks_run_before_timers_already_due(loop, run):
    order = []
    loop.call_later(0, order.append, "timer")
    loop.call_later(0, loop.stop)
    loop.add_callback(order.append, "callback")
    run()
    assert order == ["callback", "timer"]


def test_callbacks_and_timers_receive_args_and_kwargs(loop, run):
    calls = []

    def record(*args, **kwargs):
        calls.append((args, kwargs))

    loop.add_callback(record, 1, 2, key="callback")
    loop.call_later(0, record, 3, key="call_later")
    loop.call_at(loop.time(), record, 4, key="call_at")
    loop.add_timeout(loop.time(), record, 5, key="add_timeout")
    loop.call_later(0.01, loop.stop)
    run()
    assert sorted(calls, key=lambda call: call[0]) == [
        ((1, 2), {"key": "callback"}),
        ((3,), {"key": "call_later"}),
        ((4,), {"key": "call_at"}),
        ((5,), {"key": "add_timeout"}),
    ]


def test_exception_in_a_callback_is_logged_and_the_loop_goes_on(loop, run, caplog):
    def fail():
        raise ZeroDivisionError("boom")

    after = []
    loop.add_callback(fail)
    loop.add_callback(after.append, "still running")
    loop.call_later(0.01, loop.stop)
    with caplog.at_level(logging.ERROR):
        run()
    assert after == ["still running"]
    [record] = [r for r in caplog.records if "Exception in callback" in r.getMessage()]
    assert record.name == "tornado.application"
    assert isinstance(record.exc_info[1], ZeroDivisionError)


def test_add_callback_from_another_thread_wakes_a_blocked_loop(loop, run):
    # Nothing is scheduled but the safety timer: the loop waits in poll until
    # the other thread's add_callback wakes it.
    def from_thread():
        time.sleep(0.05)
        loop.add_callback(loop.stop)

    loop.add_callback(lambda: threading.Thread(target=from_thread).start())
    started = time.monotonic()
    run()
    assert time.monotonic() - started < SAFETY / 2


def test_add_callback_after_close_is_ignored(ioloop):
    loop = ioloop.IOLoop(make_current=False)
    loop.close()
    loop.add_callback(print, "never")  # no error, nothing runs


def test_current_inside_the_running_loop_returns_it(ioloop, loop):
    seen = []
    loop.run_sync(lambda: seen.append(ioloop.IOLoop.current()), timeout=SAFETY)
    assert seen == [loop]


# ---- Timers


def test_timers_with_distinct_deadlines_fire_in_deadline_order(loop, run):
    order = []
    now = loop.time()
    for delay in (0.03, 0.01, 0.02):
        loop.call_at(now + delay, order.append, delay)
    loop.call_at(now + 0.04, loop.stop)
    run()
    assert order == [0.01, 0.02, 0.03]


def test_timedelta_deadlines_are_relative_to_now(loop, run):
    fired = []
    started = loop.time()
    loop.add_timeout(datetime.timedelta(milliseconds=20), lambda: fired.append(loop.time()))
    loop.add_timeout(datetime.timedelta(milliseconds=30), loop.stop)
    run()
    assert len(fired) == 1 and fired[0] - started >= 0.015


def test_remove_timeout_twice_and_after_firing_is_harmless(loop, run):
    fired = []
    cancelled = loop.call_later(0, fired.append, "cancelled")
    loop.remove_timeout(cancelled)
    loop.remove_timeout(cancelled)
    done = loop.call_later(0, fired.append, "fired")
    loop.call_later(0.01, loop.stop)
    run()
    loop.remove_timeout(done)
    loop.remove_timeout(done)
    assert fired == ["fired"]


def test_cancelling_1000_of_2000_timers_leaves_exactly_the_other_1000(loop, run):
    fired = []
    now = loop.time()
    timers = [loop.call_at(now + i * 1e-5, fired.append, i) for i in range(2000)]
    for timer in timers[::2]:
        loop.remove_timeout(timer)
    loop.call_at(now + 0.05, loop.stop)
    run()
    assert sorted(fired) == list(range(1, 2000, 2))


def test_stop_mid_batch_lets_the_batch_and_due_timers_finish_and_start_again(loop, run):
    order = []
    loop.call_later(0, order.append, "timer")
    loop.add_callback(order.append, "a")
    loop.add_callback(loop.stop)
    loop.add_callback(order.append, "b")
    run()
    assert order == ["a", "b", "timer"]
    loop.add_callback(order.append, "again")
    loop.add_callback(loop.stop)
    run()
    assert order == ["a", "b", "timer", "again"]


def test_a_cancelled_timer_releases_its_arguments_at_once(loop):
    class Big:
        pass

    big = Big()
    alive = weakref.ref(big)
    handle = loop.call_later(3600, print, big)
    del big
    loop.remove_timeout(handle)
    gc.collect()
    assert alive() is None  # not held until the entry leaves the heap in an hour


def test_add_timeout_rejects_a_deadline_that_is_not_a_number(loop):
    with pytest.raises(TypeError, match="Unsupported deadline 'soon'"):
        loop.add_timeout("soon", print)


def test_add_callback_rejects_what_is_not_callable(loop, run):
    with pytest.raises(TypeError):
        loop.add_callback(42)
    loop.add_callback(loop.stop)
    run()  # still usable


# ---- File descriptors


def test_handlers_receive_the_registered_object(ioloop, loop, run, pair):
    a, b = pair
    received = []

    def handler(fd_obj, events):
        received.append((fd_obj, events & ioloop.IOLoop.READ))
        loop.remove_handler(fd_obj)

    loop.add_handler(a, handler, ioloop.IOLoop.READ)  # a socket object
    loop.add_handler(b.fileno(), handler, ioloop.IOLoop.READ)  # a bare fd
    a.send(b"to b")
    b.send(b"to a")
    loop.call_later(0.05, loop.stop)
    run()
    assert sorted(received, key=str) == sorted(
        [(a, ioloop.IOLoop.READ), (b.fileno(), ioloop.IOLoop.READ)], key=str
    )


def test_update_handler_changes_the_events_watched(ioloop, loop, run, pair):
    a, _ = pair
    seen = []

    def handler(sock, events):
        seen.append(events & (ioloop.IOLoop.READ | ioloop.IOLoop.WRITE))
        loop.stop()

    loop.add_handler(a, handler, ioloop.IOLoop.READ)  # nothing to read: never ready
    loop.update_handler(a, ioloop.IOLoop.WRITE)  # an empty buffer: ready at once
    run()
    loop.remove_handler(a)
    assert seen == [ioloop.IOLoop.WRITE]


def test_remove_handler_from_inside_a_handler_stops_its_pending_events(ioloop, loop, run, caplog):
    # Both fds are ready in the same iteration; whichever handler runs first
    # removes the other, which must then not run.
    (a, a_peer), (b, b_peer) = socket.socketpair(), socket.socketpair()
    called = []

    def handler(sock, events):
        called.append(sock)
        loop.remove_handler(sock)
        loop.remove_handler(b if sock is a else a)

    loop.add_handler(a, handler, ioloop.IOLoop.READ)
    loop.add_handler(b, handler, ioloop.IOLoop.READ)
    a_peer.send(b"x")
    b_peer.send(b"x")
    loop.call_later(0.05, loop.stop)
    run()
    for sock in (a, a_peer, b, b_peer):
        sock.close()
    assert len(called) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_exception_in_a_handler_is_logged_and_the_loop_goes_on(ioloop, loop, run, pair, caplog):
    a, b = pair

    def handler(sock, events):
        loop.remove_handler(sock)
        raise ZeroDivisionError("boom")

    after = []
    loop.add_handler(a, handler, ioloop.IOLoop.READ)
    b.send(b"x")
    loop.call_later(0.05, after.append, "still running")
    loop.call_later(0.06, loop.stop)
    with caplog.at_level(logging.ERROR):
        run()
    assert after == ["still running"]
    # Tornado 6 logs it through asyncio ("asyncio" logger), ours as tornado did.
    [record] = [r for r in caplog.records if "Exception in callback" in r.getMessage()]
    assert isinstance(record.exc_info[1], ZeroDivisionError)


def test_removing_a_never_added_fd_is_a_noop(loop, run, pair):
    a, _ = pair
    loop.remove_handler(a)
    loop.remove_handler(a.fileno())
    loop.add_callback(loop.stop)
    run()


def test_add_handler_rejects_a_negative_fd(ioloop, loop, run):
    with pytest.raises(ValueError):
        loop.add_handler(-1, lambda fd, events: None, ioloop.IOLoop.READ)
    loop.add_callback(loop.stop)
    run()


def test_add_handler_rejects_a_closed_fd(ioloop, loop, run):
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError):
        loop.add_handler(r, lambda fd, events: None, ioloop.IOLoop.READ)
    loop.add_callback(loop.stop)
    run()


def test_adding_an_fd_twice_raises_and_keeps_the_first_handler(ioloop, loop, run, pair):
    a, b = pair
    calls = []

    def first(sock, events):
        calls.append("first")
        loop.remove_handler(sock)
        loop.stop()

    loop.add_handler(a, first, ioloop.IOLoop.READ)
    with pytest.raises(Exception):
        loop.add_handler(a.fileno(), lambda fd, events: calls.append("second"), ioloop.IOLoop.READ)
    b.send(b"x")
    run()
    assert calls == ["first"]


def test_close_with_all_fds_closes_the_registered_sockets(ioloop):
    loop = ioloop.IOLoop(make_current=False)
    a, b = socket.socketpair()
    loop.add_handler(a, lambda sock, events: None, ioloop.IOLoop.READ)
    loop.add_handler(b.fileno(), lambda fd, events: None, ioloop.IOLoop.READ)
    fd_b = b.fileno()
    loop.close(all_fds=True)
    assert a.fileno() == -1  # closed through the object
    with pytest.raises(OSError):
        os.fstat(fd_b)  # closed through the bare fd
    b.detach()  # its fd is gone already: do not let the socket close it again


def test_creating_and_closing_50_loops_leaks_no_fd(ioloop):
    ioloop.IOLoop(make_current=False).close()  # warm up whatever is opened once
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        ioloop.IOLoop(make_current=False).close()
    assert len(os.listdir("/proc/self/fd")) == before


# ---- Futures and run_sync


def test_add_future_delivers_on_the_next_iteration(ioloop, loop, run):
    order = []

    def a():
        future = ioloop.Future()
        loop.add_future(future, lambda f: order.append(("future", f.result())))
        future.set_result(42)
        order.append("a")
        loop.add_callback(loop.stop)

    loop.add_callback(a)
    loop.add_callback(order.append, "b")  # queued before the future was resolved
    run()
    assert order == ["a", "b", ("future", 42)]


def test_reading_a_failed_future_again_does_not_lengthen_its_traceback(ioloop, loop, run):
    depths = []

    def fail_and_read():
        future = ioloop.Future()
        try:
            raise ValueError("stored")
        except ValueError as exc:
            future.set_exception(exc)
        for _ in range(3):
            try:
                future.result()
            except ValueError as exc:
                depths.append(len(traceback.extract_tb(exc.__traceback__)))
        loop.stop()

    loop.add_callback(fail_and_read)
    run()
    # The first read shows the raise site and result(). Later reads show no more than
    # that (tornado 6's asyncio Future even forgets the saved traceback after one read).
    assert depths[0] >= 2 and max(depths) == depths[0]


def test_run_sync_returns_the_result_of_the_future(ioloop, loop):
    def main():
        future = ioloop.Future()
        loop.call_later(0.01, future.set_result, 42)
        return future

    assert loop.run_sync(main, timeout=SAFETY) == 42


def test_run_sync_returns_none_for_a_function_that_returns_none(loop):
    assert loop.run_sync(lambda: None, timeout=SAFETY) is None


def test_run_sync_reraises_what_the_function_raises(loop):
    def main():
        raise KeyError("from main")

    with pytest.raises(KeyError, match="from main"):
        loop.run_sync(main, timeout=SAFETY)


def test_run_sync_reraises_the_exception_of_the_future(ioloop, loop):
    def main():
        future = ioloop.Future()
        loop.call_later(0.01, future.set_exception, KeyError("from the future"))
        return future

    with pytest.raises(KeyError, match="from the future"):
        loop.run_sync(main, timeout=SAFETY)


def test_run_sync_raises_timeout_error_when_the_future_is_late(ioloop, loop):
    with pytest.raises(ioloop.TimeoutError, match="Operation timed out after 0.05 seconds"):
        loop.run_sync(ioloop.Future, timeout=0.05)


def test_run_sync_refuses_a_plain_value(loop):
    with pytest.raises(Exception):  # ours TypeError, tornado gen.BadYieldError
        loop.run_sync(lambda: 42, timeout=SAFETY)


# ---- Fidelity: tornado 4.5 behaviours that tornado 6 changed


@pytest.mark.fidelity("tornado 6 runs one iteration (asyncio's run_forever after stop)")
def test_stop_before_start_makes_start_return_without_running_callbacks(loop):
    ran = []
    loop.add_callback(ran.append, "callback")
    safety = loop.call_later(SAFETY, loop.stop)  # should start() not return at once
    loop.stop()
    loop.start()
    loop.remove_timeout(safety)
    assert ran == []
    loop.run_sync(lambda: None, timeout=SAFETY)  # deferred, not dropped
    assert ran == ["callback"]


@pytest.mark.fidelity("tornado 6 (asyncio's heap of TimerHandles) mixes up equal deadlines")
def test_equal_deadlines_fire_in_the_order_they_were_added(loop, run):
    fired = []
    deadline = loop.time() + 0.01
    for i in range(2000):
        loop.call_at(deadline, fired.append, i)
    loop.call_at(deadline + 0.01, loop.stop)
    run()
    assert fired == list(range(2000))


@pytest.mark.fidelity("tornado 6 clamps past deadlines to 'now' and runs them in insertion order")
def test_past_deadlines_fire_in_deadline_order(loop, run):
    fired = []
    now = loop.time()
    loop.call_at(now - 1, fired.append, "one second ago")
    loop.call_at(now - 2, fired.append, "two seconds ago")
    loop.call_later(0.01, loop.stop)
    run()
    assert fired == ["two seconds ago", "one second ago"]


@pytest.mark.fidelity("tornado 6 says 'This event loop is already running'")
def test_start_inside_the_running_loop_raises_already_running(loop, run):
    errors = []

    def nested():
        try:
            loop.start()
        except RuntimeError as exc:
            errors.append(str(exc))
        loop.stop()

    loop.add_callback(nested)
    run()
    assert errors == ["IOLoop is already running"]


@pytest.mark.fidelity("tornado 6 raises ValueError('fd %d added twice')")
def test_adding_an_fd_twice_raises_file_exists_error_naming_it(ioloop, loop, pair):
    a, _ = pair
    loop.add_handler(a, lambda sock, events: None, ioloop.IOLoop.READ)
    with pytest.raises(FileExistsError, match=f"fd {a.fileno()} "):
        loop.add_handler(a, lambda sock, events: None, ioloop.IOLoop.READ)
    loop.remove_handler(a)


@pytest.mark.fidelity("tornado 6 (asyncio) polls at the start of an iteration: the handler "
                      "runs in the next one, after the callbacks added before it")
def test_a_handler_runs_in_the_iteration_that_made_its_fd_ready(ioloop, loop, run, pair):
    # 4.5 polls after the callbacks and timers: an fd made ready by a callback has its
    # handler run before what that callback added. Found by
    # tests/differential/test_ioloop_programs.py, which compares handlers per slot.
    a, b = pair
    order = []

    def handler(sock, events):
        order.append("handler")
        loop.remove_handler(sock)

    def first():
        order.append("first")
        b.send(b"x")
        loop.add_callback(order.append, "added by first")
        loop.add_callback(loop.stop)

    loop.add_handler(a, handler, ioloop.IOLoop.READ)
    loop.add_callback(first)
    run()
    assert order == ["first", "handler", "added by first"]


@pytest.mark.fidelity("tornado 6 (asyncio) polls first in every iteration, even the one "
                      "that stops: the handler runs")
def test_a_loop_stopped_in_its_first_iteration_does_not_poll(ioloop, loop, run, pair):
    # 4.5 returns from start() before polling in the iteration stop() was called in.
    a, b = pair
    seen = []
    loop.add_handler(a, lambda sock, events: seen.append("handler"), ioloop.IOLoop.READ)
    b.send(b"x")
    loop.add_callback(loop.stop)
    run()
    loop.remove_handler(a)
    assert seen == []


@pytest.mark.fidelity("tornado 6 has no heap of its own; asyncio's has its own rule")
def test_cancelled_timers_are_compacted_out_once_over_512_and_over_half(loop, run):
    # 2000 timers an hour away; the safety timer of run() makes 2001 in the heap.
    timers = [loop.call_later(3600, print) for _ in range(2000)]
    sizes = []
    for timer in timers[:500]:  # 500 <= 512: stay in the heap
        loop.remove_timeout(timer)
    loop.add_callback(lambda: sizes.append(len(loop._timeouts.heap)))
    loop.add_callback(loop.stop)
    run()
    for timer in timers[500:1100]:  # 1100 > 512 and > 2001 // 2: compacted away
        loop.remove_timeout(timer)
    loop.add_callback(lambda: sizes.append(len(loop._timeouts.heap)))
    loop.add_callback(loop.stop)
    run()
    # 2000 timers and the safety timer; then the 900 left and the new safety timer.
    assert sizes == [2001, 900 + 1]


@pytest.mark.fidelity("tornado 6's clock is always time.time(): IOLoop takes no time_func")
def test_time_func_is_the_clock_of_time_and_of_deadlines(ioloop):
    clock = [1000.0]
    loop = ioloop.IOLoop(make_current=False, time_func=lambda: clock[0])
    fired = []
    loop.call_at(1005, fired.append, "at 1005")
    # The fake clock cannot end a hung loop: a thread can.
    watchdog = threading.Timer(SAFETY, loop.add_callback, [loop.stop])
    watchdog.start()
    try:
        assert loop.time() == 1000
        clock[0] = 1004.9
        loop.add_callback(loop.stop)
        loop.start()
        assert fired == []
        clock[0] = 1005
        loop.add_callback(loop.stop)
        loop.start()
        assert fired == ["at 1005"]
    finally:
        watchdog.cancel()
        loop.close()


@pytest.mark.fidelity("tornado 6's Future (asyncio's) schedules its done-callbacks on the loop")
def test_future_done_callbacks_run_synchronously_on_set_result(ioloop, loop):
    seen = []

    def main():
        future = ioloop.Future()
        future.add_done_callback(lambda f: seen.append(f.result()))
        future.set_result(42)
        seen.append("after set_result")

    loop.run_sync(main, timeout=SAFETY)
    assert seen == [42, "after set_result"]

"""The asyncio event loop contract: every test runs on ours (``selector``), on asyncio's
own loop and on uvloop.

``aio`` is the implementation's namespace; a test needs only ``aio.new_event_loop()``,
which all three offer, and uses asyncio's own functions (``asyncio.sleep``,
``asyncio.timeout``, the streams), which run on any loop. uvloop tests itself against
asyncio the same way: one set of tests, one run per loop.

Where the loops legitimately differ, a test marked ``fidelity`` states the behaviour of
those it names in ``of`` and must fail, strictly, on the others: ``LIKE_ASYNCIO`` where
ours keeps asyncio's behaviour and uvloop (libuv underneath) does not; no ``of`` where
ours does more than both references (asyncio checks some arguments in debug mode only).

No test may hang: a coroutine runs under ``asyncio.timeout`` (the ``run`` fixture), a
``run_forever`` under a safety timer, and a watchdog ends the process if a test blocks
the loop itself. Every test checks that it left no file descriptor and no thread behind,
and that nothing reached the loop's exception handler that the test did not expect.
"""
import asyncio
import contextlib
import contextvars
import faulthandler
import gc
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

SAFETY = 5.0  # seconds any one run of a loop may take
WATCHDOG = 60.0  # seconds: a test still running after this blocks its loop for good
LIKE_ASYNCIO = ("selector", "asyncio")  # where uvloop is the one that differs


@pytest.fixture(autouse=True)
def nothing_left_behind(aio):
    # uvloop's first loop opens a pipe that lasts as long as the process (libuv's
    # signal lock): make it exist before counting.
    aio.new_event_loop().close()
    fds = set(os.listdir("/proc/self/fd"))
    threads = set(threading.enumerate())
    faulthandler.dump_traceback_later(WATCHDOG, exit=True, file=sys.__stderr__)
    yield
    faulthandler.cancel_dump_traceback_later()
    assert set(os.listdir("/proc/self/fd")) <= fds, "a file descriptor was left open"
    assert set(threading.enumerate()) <= threads, "a thread was left running"


@pytest.fixture
def loop(aio):
    """A fresh loop; its exception handler collects what the test did not expect."""
    loop = aio.new_event_loop()
    unexpected = []
    loop.set_exception_handler(lambda loop, context: unexpected.append(context))
    yield loop
    if not loop.is_closed():
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    assert not unexpected, f"the exception handler was called: {unexpected}"


@pytest.fixture
def reported(loop):
    """What reaches the loop's exception handler, when the test expects it to."""
    contexts = []
    loop.set_exception_handler(lambda loop, context: contexts.append(context))
    return contexts


@pytest.fixture
def run(loop):
    """``run(coro)``: its result, or a TimeoutError after `limit` seconds."""

    def run(coro, limit=SAFETY):
        async def bounded():
            async with asyncio.timeout(limit):
                return await coro

        return loop.run_until_complete(bounded())

    return run


@pytest.fixture
def run_forever(loop):
    """``run_forever()`` until something stops the loop, failing if nothing does."""

    def run_forever(limit=SAFETY):
        expired = []
        safety = loop.call_later(limit, lambda: (expired.append(True), loop.stop()))
        loop.run_forever()
        safety.cancel()
        assert not expired, f"the loop was not stopped within {limit} s"

    return run_forever


@pytest.fixture
def pair():
    """Two connected non-blocking sockets, closed after the test."""
    a, b = socket.socketpair()
    for sock in (a, b):
        sock.setblocking(False)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def listener():
    """A non-blocking listening socket on 127.0.0.1, on a port the OS picks."""
    sock = socket.socket()
    sock.setblocking(False)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock
    sock.close()


def port_of(server):
    return server.sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def serving(handler):
    """``start_server(handler)`` on 127.0.0.1, as its port; on exit, close the server and
    wait for every connection's handler to end (3.11's Server.wait_closed does not)."""
    handlers = []

    async def tracked(reader, writer):
        handlers.append(asyncio.current_task())
        await handler(reader, writer)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0, backlog=128)
    async with server:
        yield port_of(server)
    await server.wait_closed()
    await asyncio.gather(*handlers)


# ---- Callbacks


def test_call_soon_runs_callbacks_in_the_order_they_were_added(loop, run_forever):
    order = []
    for i in range(100):
        loop.call_soon(order.append, i)
    loop.call_soon(loop.stop)
    run_forever()
    assert order == list(range(100))


def test_call_soon_passes_the_callbacks_arguments(loop, run_forever):
    calls = []
    loop.call_soon(lambda *args: calls.append(args), 1, "two", None)
    loop.call_soon(loop.stop)
    run_forever()
    assert calls == [(1, "two", None)]


def test_a_cancelled_callback_does_not_run(loop, run_forever):
    ran = []
    handle = loop.call_soon(ran.append, "cancelled")
    handle.cancel()
    loop.call_soon(loop.stop)
    run_forever()
    assert ran == [] and handle.cancelled()


@pytest.mark.fidelity("uvloop runs due timers before ready callbacks: libuv's timer "
                      "phase comes first in an iteration", of=LIKE_ASYNCIO)
def test_ready_callbacks_run_before_a_timer_already_due(loop, run_forever):
    order = []
    loop.call_later(0, order.append, "timer")
    loop.call_soon(order.append, "callback")
    loop.call_later(0.01, loop.stop)
    run_forever()
    assert order == ["callback", "timer"]


def test_get_running_loop_inside_a_callback_is_the_loop(loop, run_forever):
    seen = []
    loop.call_soon(lambda: seen.append(asyncio.get_running_loop()))
    loop.call_soon(loop.stop)
    run_forever()
    assert seen == [loop]


def test_is_running_only_inside_run_forever(loop, run_forever):
    seen = []
    loop.call_soon(lambda: seen.append(loop.is_running()))
    loop.call_soon(loop.stop)
    assert not loop.is_running()
    run_forever()
    assert seen == [True] and not loop.is_running()


# ---- stop


def test_stop_inside_a_callback_lets_the_rest_of_the_batch_run(loop, run_forever):
    order = []

    def stopper():
        order.append("stop")
        loop.stop()

    loop.call_soon(stopper)
    loop.call_soon(order.append, "after")
    run_forever()
    assert order == ["stop", "after"]


@pytest.mark.fidelity("uvloop also runs the callbacks the stopping batch queued",
                      of=LIKE_ASYNCIO)
def test_callbacks_queued_by_the_stopping_batch_wait_for_the_next_run(loop, run_forever):
    order = []

    def stopper():
        loop.stop()
        loop.call_soon(order.append, "next run")

    loop.call_soon(stopper)
    run_forever()
    assert order == []
    loop.call_soon(loop.stop)
    run_forever()
    assert order == ["next run"]


def test_stop_before_run_forever_runs_one_iteration(loop):
    order = []
    loop.call_soon(order.append, "ready")
    loop.stop()
    loop.run_forever()
    assert order == ["ready"]


def test_run_until_complete_stopped_early_is_a_runtime_error(loop):
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError, match="Event loop stopped before Future completed."):
        loop.run_until_complete(loop.create_future())


# ---- Timers


def test_timers_fire_in_deadline_order(loop, run_forever):
    order = []
    now = loop.time()
    for delay in (0.03, 0.01, 0.02):
        loop.call_at(now + delay, order.append, delay)
    loop.call_at(now + 0.04, loop.stop)
    run_forever()
    assert order == [0.01, 0.02, 0.03]


def test_call_later_timers_fire_in_deadline_order(loop, run_forever):
    order = []
    for delay in (0.03, 0, 0.01, 0.02):
        loop.call_later(delay, order.append, delay)
    loop.call_later(0.04, loop.stop)
    run_forever()
    assert order == [0, 0.01, 0.02, 0.03]


def test_call_later_timers_added_one_after_the_other_fire_in_that_order(loop, run_forever):
    # Each call_later reads the clock again: the later call has the later deadline.
    order = []
    for i in range(20):
        loop.call_later(0.01, order.append, i)
    loop.call_later(0.02, loop.stop)
    run_forever()
    assert order == list(range(20))


@pytest.mark.fidelity("asyncio's heap of TimerHandles compares deadlines only: equal "
                      "ones come out in heap order", of=("selector",))
def test_equal_deadlines_fire_in_the_order_they_were_added(aio, loop, run_forever):
    if aio.__name__ == "uvloop":
        pytest.skip("uvloop turns each deadline into whole milliseconds from the moment of "
                    "the call: equal deadlines mostly, but not always, keep their order")
    order = []
    when = loop.time() + 0.01
    for i in range(20):
        loop.call_at(when, order.append, i)
    loop.call_at(when + 0.01, loop.stop)
    run_forever()
    assert order == list(range(20))


def test_a_timer_does_not_fire_before_its_deadline(loop, run_forever):
    fired = []
    when = loop.time() + 0.02
    loop.call_at(when, lambda: fired.append(loop.time()))
    loop.call_at(when + 0.01, loop.stop)
    run_forever()
    # asyncio runs a timer within the clock's resolution of its deadline
    assert len(fired) == 1 and fired[0] >= when - 0.001


def test_a_timer_handle_knows_its_deadline(loop):
    when = loop.time() + 10
    timer = loop.call_at(when, print)
    assert timer.when() == pytest.approx(when, abs=0.001)  # uvloop's goes through call_later
    timer.cancel()


def test_a_cancelled_timer_does_not_fire(loop, run_forever):
    fired = []
    timer = loop.call_later(0, fired.append, "cancelled")
    timer.cancel()
    timer.cancel()  # twice is harmless
    loop.call_later(0.01, loop.stop)
    run_forever()
    assert fired == [] and timer.cancelled()


def test_cancelling_1000_of_2000_timers_leaves_exactly_the_other_1000(loop, run_forever):
    fired = []
    now = loop.time()
    timers = [loop.call_at(now + i * 1e-5, fired.append, i) for i in range(2000)]
    for timer in timers[::2]:
        timer.cancel()
    loop.call_later(0.05, loop.stop)  # after the last deadline, however long the above took
    run_forever()
    assert sorted(fired) == list(range(1, 2000, 2))


def test_loop_time_never_goes_back(loop):
    times = [loop.time() for _ in range(1000)]
    assert times == sorted(times)


# ---- Bad input


CALLBACK_METHODS = {
    "call_soon": lambda loop, f: loop.call_soon(f),
    "call_later": lambda loop, f: loop.call_later(0, f),
    "call_at": lambda loop, f: loop.call_at(loop.time(), f),
    "call_soon_threadsafe": lambda loop, f: loop.call_soon_threadsafe(f),
}


@pytest.mark.parametrize("method", CALLBACK_METHODS)
def test_scheduling_on_a_closed_loop_is_a_runtime_error(loop, method):
    loop.close()
    with pytest.raises(RuntimeError, match="^Event loop is closed$"):
        CALLBACK_METHODS[method](loop, print)


def test_running_a_closed_loop_is_a_runtime_error(loop):
    loop.close()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="^Event loop is closed$"):
        loop.run_until_complete(coro)
    coro.close()
    with pytest.raises(RuntimeError, match="^Event loop is closed$"):
        loop.run_forever()


@pytest.mark.fidelity("uvloop accepts what is not callable, and fails when it runs",
                      of=LIKE_ASYNCIO)
@pytest.mark.parametrize("method", CALLBACK_METHODS)
def test_a_non_callable_is_a_type_error_in_debug_mode(loop, method):
    loop.set_debug(True)
    with pytest.raises(TypeError, match="a callable object was expected"):
        CALLBACK_METHODS[method](loop, 42).cancel()


@pytest.mark.fidelity("asyncio checks callbacks in debug mode only, uvloop never")
def test_a_non_callable_is_a_type_error_outside_debug_mode(loop):
    with pytest.raises(TypeError, match="a callable object was expected by call_soon"):
        loop.call_soon(42).cancel()


@pytest.mark.fidelity("uvloop accepts a coroutine function as a callback",
                      of=LIKE_ASYNCIO)
def test_a_coroutine_function_is_no_callback_in_debug_mode(loop):
    async def coroutine_function():
        pass

    loop.set_debug(True)
    with pytest.raises(TypeError, match=r"coroutines cannot be used with call_soon\(\)"):
        loop.call_soon(coroutine_function).cancel()


def test_run_until_complete_needs_an_awaitable(loop):
    with pytest.raises(TypeError, match="An asyncio.Future, a coroutine or an awaitable"):
        loop.run_until_complete(42)


def test_run_until_complete_while_running_is_a_runtime_error(loop, run):
    # A future, not a coroutine: uvloop wraps a coroutine in a task before it checks.
    async def nested():
        with pytest.raises(RuntimeError, match="(?i)this event loop is already running"):
            loop.run_until_complete(loop.create_future())
        with pytest.raises(RuntimeError, match="(?i)this event loop is already running"):
            loop.run_forever()

    run(nested())


@pytest.mark.fidelity("uvloop says 'this event loop is already running.'", of=LIKE_ASYNCIO)
def test_run_until_complete_while_running_says_so_in_asyncios_words(loop, run):
    async def nested():
        with pytest.raises(RuntimeError, match="^This event loop is already running$"):
            loop.run_until_complete(loop.create_future())

    run(nested())


def test_closing_a_running_loop_is_a_runtime_error(loop, run):
    async def close():
        with pytest.raises(RuntimeError, match="^Cannot close a running event loop$"):
            loop.close()

    run(close())


def test_closing_twice_is_harmless(loop):
    assert not loop.is_closed()
    loop.close()
    loop.close()
    assert loop.is_closed()


def test_run_until_complete_returns_the_result_or_raises_the_exception(loop):
    async def answer():
        return 42

    async def fail():
        raise ValueError("boom")

    assert loop.run_until_complete(answer()) == 42
    with pytest.raises(ValueError, match="boom"):
        loop.run_until_complete(fail())


# ---- Another thread


def test_call_soon_threadsafe_wakes_a_loop_blocked_in_select(loop, run_forever):
    # Nothing is due for SAFETY seconds: the loop blocks in its selector until the
    # other thread's call wakes it.
    def from_thread():
        time.sleep(0.05)
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=from_thread)
    started = time.monotonic()
    loop.call_soon(thread.start)
    run_forever()
    thread.join()
    assert time.monotonic() - started < 1.0


def test_call_soon_threadsafe_from_many_threads_loses_nothing(loop, run):
    got = []
    done = asyncio.Event()

    def record(n):
        got.append(n)
        if len(got) == 1000:
            done.set()

    def from_thread(base):
        for n in range(base, base + 250):
            loop.call_soon_threadsafe(record, n)

    async def main():
        threads = [threading.Thread(target=from_thread, args=(b,)) for b in range(0, 1000, 250)]
        for thread in threads:
            thread.start()
        await done.wait()
        for thread in threads:
            thread.join()

    run(main())
    assert sorted(got) == list(range(1000))


def test_run_coroutine_threadsafe_gives_the_result_to_the_thread(loop, run):
    results = []

    async def double(x):
        await asyncio.sleep(0)
        return 2 * x

    def from_thread():
        results.append(asyncio.run_coroutine_threadsafe(double(21), loop).result(SAFETY))

    async def main():
        thread = threading.Thread(target=from_thread)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.01)
        thread.join()

    run(main())
    assert results == [42]


# ---- Contexts

VAR = contextvars.ContextVar("VAR", default="unset")


def test_a_callback_runs_in_a_copy_of_the_context_it_was_scheduled_in(loop, run_forever):
    seen = []

    def callback():
        seen.append(VAR.get())
        VAR.set("changed by the callback")

    token = VAR.set("scheduled")
    loop.call_soon(callback)
    VAR.reset(token)
    loop.call_soon(loop.stop)
    run_forever()
    assert seen == ["scheduled"] and VAR.get() == "unset"


@pytest.mark.parametrize("method", ["call_soon", "call_later"])
def test_a_callback_given_a_context_runs_in_it(loop, run_forever, method):
    context = contextvars.copy_context()
    context.run(VAR.set, "in the context")
    callback = lambda: VAR.set(VAR.get() + ", seen")  # noqa: E731
    if method == "call_soon":
        loop.call_soon(callback, context=context)
    else:
        loop.call_later(0, callback, context=context)
    loop.call_later(0.01, loop.stop)
    run_forever()
    assert context[VAR] == "in the context, seen"


def test_a_task_given_a_context_runs_in_it(loop, run):
    context = contextvars.copy_context()
    context.run(VAR.set, "in the context")

    async def task():
        VAR.set(VAR.get() + ", seen")

    run(loop.create_task(task(), context=context))
    assert context[VAR] == "in the context, seen"


def test_a_task_runs_in_a_copy_of_its_creators_context(loop, run):
    async def child():
        seen = VAR.get()
        VAR.set("changed by the child")
        return seen

    async def parent():
        VAR.set("parent")
        seen = await asyncio.create_task(child())
        return seen, VAR.get()

    assert run(parent()) == ("parent", "parent")


# ---- Tasks


def test_create_task_runs_the_coroutine_and_keeps_its_result_and_name(loop, run):
    async def answer():
        await asyncio.sleep(0)
        return 42

    task = loop.create_task(answer(), name="the answer")
    assert task.get_name() == "the answer" and task.get_loop() is loop
    assert run(task) == 42 and task.result() == 42


def test_current_task_and_all_tasks_see_the_running_tasks(loop, run):
    async def main():
        me = asyncio.current_task()
        other = asyncio.create_task(asyncio.sleep(0))
        assert {me, other} <= asyncio.all_tasks()
        await other
        return me

    task = loop.create_task(main())
    assert run(task) is task


def test_a_future_set_by_a_callback_wakes_its_awaiter(loop, run):
    async def main():
        future = loop.create_future()
        loop.call_later(0.01, future.set_result, "set")
        return await future, future.get_loop()

    assert run(main()) == ("set", loop)


def test_gather_returns_results_in_the_order_given(loop, run):
    async def after(seconds, value):
        await asyncio.sleep(seconds)
        return value

    async def fail():
        raise ValueError("boom")

    async def main():
        values = await asyncio.gather(after(0.02, "slow"), after(0, "fast"))
        mixed = await asyncio.gather(fail(), after(0, "ok"), return_exceptions=True)
        return values, [type(m).__name__ if isinstance(m, Exception) else m for m in mixed]

    assert run(main()) == (["slow", "fast"], ["ValueError", "ok"])


# ---- Cancellation


def test_cancelling_a_sleeping_task_raises_cancelled_error_where_it_waits(loop, run):
    log = []

    async def sleeper():
        try:
            await asyncio.sleep(10)
        finally:
            log.append("cleaned up")

    async def main():
        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0.01)
        assert task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return task.cancelled()

    assert run(main()) is True
    assert log == ["cleaned up"]


def test_cancelling_a_task_that_awaits_a_task_cancels_both(loop, run):
    async def main():
        inner = asyncio.create_task(asyncio.sleep(10))
        outer = asyncio.create_task(asyncio.wait_for(inner, None))
        await asyncio.sleep(0.01)
        outer.cancel()
        await asyncio.wait([outer, inner])
        return outer.cancelled(), inner.cancelled()

    assert run(main()) == (True, True)


def test_cancelling_a_task_awaiting_a_task_directly_cancels_the_awaited_one(loop, run):
    async def waiter(other):
        await other

    async def main():
        inner = asyncio.create_task(asyncio.sleep(10))
        outer = asyncio.create_task(waiter(inner))
        await asyncio.sleep(0.01)
        outer.cancel()
        await asyncio.wait([outer, inner])
        return outer.cancelled(), inner.cancelled()

    assert run(main()) == (True, True)


def test_a_cancel_message_reaches_the_task_and_its_awaiter(loop, run):
    seen = []

    async def sleeper():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as exc:
            seen.append(exc.args)
            raise

    async def main():
        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0)
        task.cancel("the reason")
        with pytest.raises(asyncio.CancelledError, match="the reason"):
            await task

    run(main())
    assert seen == [("the reason",)]


def test_cancelling_counts_requests_and_uncancel_takes_one_back(loop, run):
    async def main():
        task = asyncio.create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        task.cancel()
        task.cancel()
        counted = task.cancelling()
        left = task.uncancel()
        await asyncio.wait([task])
        return counted, left, task.cancelled()

    assert run(main()) == (2, 1, True)


def test_a_task_cancelled_before_it_starts_never_runs(loop, run):
    ran = []

    async def body():
        ran.append(True)

    async def main():
        task = asyncio.create_task(body())
        task.cancel()
        await asyncio.wait([task])
        return task.cancelled()

    assert run(main()) is True and ran == []


def test_a_task_that_catches_its_cancellation_goes_on(loop, run):
    async def stubborn():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "carried on"

    async def main():
        task = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        task.cancel()
        return await task, task.cancelled()

    assert run(main()) == ("carried on", False)


def test_cancelling_a_finished_task_does_nothing(loop, run):
    async def main():
        task = asyncio.create_task(asyncio.sleep(0, "done"))
        await task
        return task.cancel(), task.result()

    assert run(main()) == (False, "done")


def test_wait_for_times_out_and_cancels_what_it_waited_for(loop, run):
    async def main():
        inner = asyncio.create_task(asyncio.sleep(10))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(inner, 0.01)
        return inner.cancelled()

    assert run(main()) is True


def test_wait_for_in_time_returns_the_result(loop, run):
    assert run(asyncio.wait_for(asyncio.sleep(0.01, "in time"), 5)) == "in time"


def test_asyncio_timeout_expires_with_a_timeout_error(loop, run):
    log = []

    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01) as cm:
                await asyncio.sleep(10)
                log.append("never")
        return cm.expired(), asyncio.current_task().cancelling()

    assert run(main()) == (True, 0) and log == []


def test_asyncio_timeout_in_time_changes_nothing(loop, run):
    async def main():
        async with asyncio.timeout(5) as cm:
            await asyncio.sleep(0.01)
        return cm.expired(), asyncio.current_task().cancelling()

    assert run(main()) == (False, 0)


async def shielded(inner):
    return await asyncio.shield(inner)


def test_shield_keeps_the_inner_task_running(loop, run):
    async def main():
        inner = asyncio.create_task(asyncio.sleep(0.02, "finished"))
        outer = asyncio.create_task(shielded(inner))
        await asyncio.sleep(0)
        outer.cancel()
        await asyncio.wait([outer])
        return outer.cancelled(), await inner

    assert run(main()) == (True, "finished")


# ---- The exception handler


def test_a_raising_callback_goes_to_the_handler_and_the_loop_goes_on(loop, run_forever, reported):
    def fail():
        raise ZeroDivisionError("boom")

    after = []
    loop.call_soon(fail)
    loop.call_soon(after.append, "still running")
    loop.call_soon(loop.stop)
    run_forever()
    assert after == ["still running"]
    [context] = reported
    assert isinstance(context["exception"], ZeroDivisionError)
    assert context["message"].startswith("Exception in callback")
    assert context["handle"].cancelled() is False  # uvloop's own Handle, not asyncio's


def test_a_raising_timer_goes_to_the_handler(loop, run_forever, reported):
    def fail():
        raise ZeroDivisionError("boom")

    loop.call_later(0, fail)
    loop.call_later(0.01, loop.stop)
    run_forever()
    [context] = reported
    assert isinstance(context["exception"], ZeroDivisionError)


def test_the_default_handler_logs_the_error(loop, run_forever, caplog):
    def fail():
        raise ZeroDivisionError("boom")

    loop.set_exception_handler(None)
    loop.call_soon(fail)
    loop.call_soon(loop.stop)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        run_forever()
    [record] = [r for r in caplog.records if r.name == "asyncio"]
    assert record.getMessage().startswith("Exception in callback")
    assert isinstance(record.exc_info[1], ZeroDivisionError)


def test_a_raising_handler_is_logged_by_the_default_one(loop, run_forever, caplog):
    def handler(loop, context):
        raise KeyError("in the handler")

    loop.set_exception_handler(handler)
    loop.call_soon(lambda: 1 / 0)
    loop.call_soon(loop.stop)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        run_forever()
    [record] = [r for r in caplog.records if r.name == "asyncio"]
    assert "Unhandled error in exception handler" in record.getMessage()
    assert isinstance(record.exc_info[1], KeyError)


def test_get_exception_handler_gives_back_what_was_set(loop):
    def handler(loop, context):
        pass

    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None


def test_an_exception_handler_must_be_callable(loop):
    with pytest.raises(TypeError, match="A callable object or None is expected, got 42"):
        loop.set_exception_handler(42)


def test_call_exception_handler_passes_the_context_on(loop, reported):
    loop.call_exception_handler({"message": "by hand", "extra": 1})
    assert reported == [{"message": "by hand", "extra": 1}]


def test_a_failed_task_never_awaited_is_reported_when_collected(loop, run, reported):
    async def fail():
        raise ValueError("boom")

    task = loop.create_task(fail())
    run(asyncio.sleep(0.01))
    del task
    gc.collect()
    [context] = reported
    assert context["message"] == "Task exception was never retrieved"
    assert isinstance(context["exception"], ValueError)


def test_a_pending_task_destroyed_is_reported(loop, run, reported):
    async def forever():
        await loop.create_future()  # nothing but this task refers to it

    task = loop.create_task(forever())
    run(asyncio.sleep(0.01))
    del task
    gc.collect()
    [context] = reported
    assert context["message"] == "Task was destroyed but it is pending!"


def test_a_future_exception_never_retrieved_is_reported(loop, reported):
    future = loop.create_future()
    future.set_exception(ValueError("boom"))
    del future
    gc.collect()
    [context] = reported
    assert context["message"] == "Future exception was never retrieved"


# ---- Debug mode


def test_debug_mode_warns_of_a_slow_callback(loop, run_forever, caplog):
    loop.set_debug(True)
    assert loop.get_debug()
    loop.slow_callback_duration = 0.01
    loop.call_soon(time.sleep, 0.03)
    loop.call_soon(loop.stop)
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        run_forever()
    assert any("took" in r.getMessage() and "sleep" in r.getMessage() for r in caplog.records)


# ---- Task factories


def test_create_task_goes_through_the_task_factory(loop, run):
    made = []

    def factory(loop, coro, **kwargs):
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory
    task = loop.create_task(asyncio.sleep(0, "made"))
    assert made == [task] and run(task) == "made"


def test_no_task_factory_is_the_default(loop):
    default = loop.create_task(asyncio.sleep(0))  # the loop's own Task class
    loop.set_task_factory(lambda loop, coro: None)
    loop.set_task_factory(None)
    assert loop.get_task_factory() is None
    task = loop.create_task(asyncio.sleep(0))
    assert type(task) is type(default)
    loop.run_until_complete(asyncio.gather(default, task))


def test_a_task_factory_must_be_callable(loop):
    with pytest.raises(TypeError, match="task factory must be a callable or None"):
        loop.set_task_factory(42)


# ---- Readers and writers


def test_a_reader_is_called_when_its_fd_is_readable(loop, run, pair):
    a, b = pair

    async def main():
        readable = loop.create_future()
        loop.add_reader(a, lambda: readable.done() or readable.set_result(a.recv(10)))
        await asyncio.sleep(0.01)
        assert not readable.done()
        b.send(b"data")
        try:
            return await readable
        finally:
            loop.remove_reader(a)

    assert run(main()) == b"data"


def test_a_writer_is_called_when_its_fd_is_writable(loop, run, pair):
    a, _ = pair

    async def main():
        writable = loop.create_future()
        loop.add_writer(a.fileno(), lambda: writable.done() or writable.set_result("ok"))
        try:
            return await writable
        finally:
            loop.remove_writer(a.fileno())

    assert run(main()) == "ok"


def test_a_reader_gets_its_arguments(loop, run, pair):
    a, b = pair

    async def main():
        got = loop.create_future()
        loop.add_reader(a, lambda *args: got.done() or got.set_result(args), 1, "two")
        b.send(b"x")
        try:
            return await got
        finally:
            loop.remove_reader(a)

    assert run(main()) == (1, "two")


def test_adding_a_reader_again_replaces_the_callback(loop, run, pair):
    a, b = pair

    async def main():
        got = loop.create_future()
        loop.add_reader(a, got.set_result, "first")
        loop.add_reader(a, lambda: got.done() or got.set_result("second"))
        b.send(b"x")
        try:
            return await got
        finally:
            loop.remove_reader(a)

    assert run(main()) == "second"


def test_a_removed_reader_is_not_called(loop, run, pair):
    a, b = pair
    called = []
    loop.add_reader(a, called.append, "reader")
    loop.remove_reader(a)
    b.send(b"x")
    run(asyncio.sleep(0.02))
    assert called == []


def test_removing_the_reader_leaves_the_writer(loop, run, pair):
    a, b = pair

    async def main():
        writable = loop.create_future()
        loop.add_reader(a, print)
        loop.add_writer(a, lambda: writable.done() or writable.set_result("writer"))
        loop.remove_reader(a)
        try:
            return await writable
        finally:
            loop.remove_writer(a)

    assert run(main()) == "writer"


@pytest.mark.fidelity("uvloop's remove_reader and remove_writer return None", of=LIKE_ASYNCIO)
def test_remove_reader_and_writer_say_whether_there_was_one(loop, pair):
    a, _ = pair
    loop.add_reader(a, print)
    loop.add_writer(a, print)
    assert (loop.remove_reader(a), loop.remove_reader(a)) == (True, False)
    assert (loop.remove_writer(a), loop.remove_writer(a)) == (True, False)


@pytest.mark.parametrize("fileobj, message", [(-1, "Invalid file descriptor: -1"),
                                              ("x", "Invalid file object: 'x'")])
def test_an_invalid_file_object_is_a_value_error(loop, fileobj, message):
    with pytest.raises(ValueError, match=message):
        loop.add_reader(fileobj, print)


def test_adding_a_reader_to_a_closed_loop_is_a_runtime_error(loop, pair):
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.add_reader(pair[0], print)


# ---- The sock_* methods


def test_sock_recv_waits_for_data(loop, run, pair):
    a, b = pair

    async def main():
        loop.call_later(0.01, b.send, b"late")
        return await loop.sock_recv(a, 100)

    assert run(main()) == b"late"


def test_sock_recv_returns_empty_bytes_once_the_peer_closed(loop, run, pair):
    a, b = pair
    b.close()
    assert run(loop.sock_recv(a, 100)) == b""


def test_sock_recv_into_fills_the_buffer(loop, run, pair):
    a, b = pair
    buffer = bytearray(10)
    b.send(b"12345")
    assert run(loop.sock_recv_into(a, buffer)) == 5
    assert buffer == b"12345" + bytes(5)


def test_sock_sendall_sends_a_buffer_much_larger_than_the_socket_holds(loop, run, pair):
    a, b = pair
    data = os.urandom(8 * 1024 * 1024)

    async def receive():
        received = bytearray()
        while len(received) < len(data):
            received += await loop.sock_recv(b, 65536)
        return bytes(received)

    async def main():
        receiver = asyncio.create_task(receive())
        await loop.sock_sendall(a, data)
        return await receiver

    assert run(main()) == data


def test_sock_connect_and_sock_accept_make_a_connection(loop, run, listener):
    async def main():
        with socket.socket() as client:
            client.setblocking(False)
            accepting = asyncio.create_task(loop.sock_accept(listener))
            await loop.sock_connect(client, listener.getsockname())
            conn, address = await accepting
            with conn:
                assert address == client.getsockname()
                await loop.sock_sendall(client, b"hello")
                return await loop.sock_recv(conn, 10)

    assert run(main()) == b"hello"


def test_sock_connect_to_a_closed_port_is_connection_refused(loop, run):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()  # bound, never listening: connecting is refused
        with socket.socket() as client:
            client.setblocking(False)
            with pytest.raises(ConnectionRefusedError):
                run(loop.sock_connect(client, address))


SOCK_METHODS = {
    "sock_recv": lambda loop, s: loop.sock_recv(s, 1),
    "sock_recv_into": lambda loop, s: loop.sock_recv_into(s, bytearray(1)),
    "sock_sendall": lambda loop, s: loop.sock_sendall(s, b"x"),
    "sock_connect": lambda loop, s: loop.sock_connect(s, ("127.0.0.1", 1)),
    "sock_accept": lambda loop, s: loop.sock_accept(s),
}


@pytest.mark.parametrize("method", SOCK_METHODS)
def test_a_blocking_socket_is_a_value_error_in_debug_mode(loop, run, pair, method):
    a, _ = pair
    a.setblocking(True)
    loop.set_debug(True)
    with pytest.raises(ValueError, match="the socket must be non-blocking"):
        run(SOCK_METHODS[method](loop, a))


@pytest.mark.fidelity("asyncio and uvloop check the socket in debug mode only")
def test_a_blocking_socket_is_a_value_error_outside_debug_mode(loop, run, pair):
    a, b = pair
    a.setblocking(True)
    b.send(b"x")  # where the check is missing, the call returns at once: nothing blocks
    with pytest.raises(ValueError, match="the socket must be non-blocking"):
        run(loop.sock_recv(a, 1))


def test_cancelling_a_pending_sock_recv_leaves_no_reader(loop, run, pair):
    a, b = pair

    async def main():
        pending = asyncio.create_task(loop.sock_recv(a, 10))
        await asyncio.sleep(0.01)
        pending.cancel()
        await asyncio.wait([pending])
        b.send(b"for the next")
        await asyncio.sleep(0.01)  # a reader left behind would take the data now
        assert not loop.remove_reader(a)
        return pending.cancelled(), await loop.sock_recv(a, 100)

    assert run(main()) == (True, b"for the next")


# ---- Servers and streams


async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


def test_a_hundred_clients_echo_through_start_server(loop, run):
    async def client(port, n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        payload = n.to_bytes(4, "big") * 4096
        writer.write(payload)
        writer.write_eof()
        received = await reader.read()
        writer.close()
        await writer.wait_closed()
        return received == payload

    async def main():
        async with serving(echo) as port:
            return await asyncio.gather(*(client(port, n) for n in range(100)))

    assert run(main(), limit=20) == [True] * 100


def test_a_closed_server_accepts_no_more_connections(loop, run):
    async def main():
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = port_of(server)
        assert server.is_serving()
        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)

    run(main())


def test_a_server_as_a_context_manager_closes_on_exit(loop, run):
    async def main():
        async with await asyncio.start_server(echo, "127.0.0.1", 0) as server:
            assert server.get_loop() is loop and len(server.sockets) == 1
        await server.wait_closed()
        return server.is_serving()

    assert run(main()) is False


def test_cancelling_serve_forever_closes_the_server(loop, run):
    async def main():
        server = await asyncio.start_server(echo, "127.0.0.1", 0, start_serving=False)
        serving = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0.01)
        assert server.is_serving()
        serving.cancel()
        await asyncio.wait([serving])
        await server.wait_closed()
        return serving.cancelled(), server.is_serving()

    assert run(main()) == (True, False)


def test_closing_after_a_large_write_still_delivers_every_byte(loop, run):
    data = os.urandom(4 * 1024 * 1024)
    received = []

    async def reader_side(reader, writer):
        received.append(await reader.read())
        writer.close()
        await writer.wait_closed()

    async def main():
        async with serving(reader_side) as port:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            writer.close()  # before the buffer drained: close waits for it
            await writer.wait_closed()

    run(main())
    assert received == [data]


def test_write_eof_half_closes_and_the_peer_can_still_answer(loop, run):
    async def answer(reader, writer):
        question = await reader.read()  # to EOF
        writer.write(b"answer to " + question)
        writer.close()
        await writer.wait_closed()

    async def main():
        async with serving(answer) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert writer.can_write_eof()
            writer.write(b"question")
            writer.write_eof()
            reply = await reader.read()
            writer.close()
            await writer.wait_closed()
        return reply

    assert run(main()) == b"answer to question"


class Recorder(asyncio.Protocol):
    """A protocol that records its calls, and when the connection is lost."""

    def __init__(self, loop):
        self.calls = []
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.calls.append("connection_made")

    def data_received(self, data):
        self.calls.append(("data_received", data))

    def eof_received(self):
        self.calls.append("eof_received")

    def connection_lost(self, exc):
        self.calls.append(("connection_lost", exc))
        self.lost.set_result(None)


def test_a_protocol_is_called_in_order_made_data_eof_lost(loop, run, listener):
    async def main():
        accepting = asyncio.create_task(loop.sock_accept(listener))
        transport, protocol = await loop.create_connection(
            lambda: Recorder(loop), *listener.getsockname())
        conn, _ = await accepting
        with conn:
            await loop.sock_sendall(conn, b"data")
            conn.shutdown(socket.SHUT_WR)
            await protocol.lost  # eof_received returned None: the transport closes
        return protocol.calls

    calls = run(main())
    assert calls == ["connection_made", ("data_received", b"data"), "eof_received",
                     ("connection_lost", None)]


def test_a_transport_tells_its_sockets_addresses(loop, run, listener):
    async def main():
        accepting = asyncio.create_task(loop.sock_accept(listener))
        transport, protocol = await loop.create_connection(
            lambda: Recorder(loop), *listener.getsockname())
        conn, _ = await accepting
        with conn:
            info = (transport.get_extra_info("peername"), transport.get_extra_info("sockname"),
                    transport.get_extra_info("socket").getsockname(),
                    transport.get_extra_info("no such thing", "default"))
            conn_own, conn_peer = conn.getsockname(), conn.getpeername()
            transport.close()
            await protocol.lost
        return info, conn_own, conn_peer

    (peer, own, sock_own, default), conn_own, conn_peer = run(main())
    assert (peer, own, sock_own, default) == (conn_own, conn_peer, conn_peer, "default")


def test_abort_closes_at_once_and_the_protocol_hears_of_it(loop, run, listener):
    async def main():
        accepting = asyncio.create_task(loop.sock_accept(listener))
        transport, protocol = await loop.create_connection(
            lambda: Recorder(loop), *listener.getsockname())
        conn, _ = await accepting
        with conn:
            transport.write(b"x" * 1024)
            transport.abort()
            assert transport.is_closing()
            await protocol.lost
        return protocol.calls[-1]

    assert run(main()) == ("connection_lost", None)


def test_pause_reading_holds_data_until_resume_reading(loop, run, listener):
    async def main():
        accepting = asyncio.create_task(loop.sock_accept(listener))
        transport, protocol = await loop.create_connection(
            lambda: Recorder(loop), *listener.getsockname())
        conn, _ = await accepting
        with conn:
            transport.pause_reading()
            assert not transport.is_reading()
            await loop.sock_sendall(conn, b"held")
            await asyncio.sleep(0.02)
            held = list(protocol.calls)
            transport.resume_reading()
            while len(protocol.calls) < 2:
                await asyncio.sleep(0.005)
            transport.close()
            await protocol.lost
        return held, protocol.calls[1]

    assert run(main()) == (["connection_made"], ("data_received", b"held"))


def test_connect_accepted_socket_wraps_a_connected_socket(loop, run, listener):
    async def main():
        with socket.create_connection(listener.getsockname()) as client:
            conn, _ = await loop.sock_accept(listener)
            transport, protocol = await loop.connect_accepted_socket(lambda: Recorder(loop), conn)
            client.sendall(b"over the accepted socket")
            while len(protocol.calls) < 2:
                await asyncio.sleep(0.005)
            transport.close()
            await protocol.lost
        return protocol.calls[1]

    assert run(main()) == ("data_received", b"over the accepted socket")


def test_open_connection_to_a_closed_port_is_connection_refused(loop, run):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        with pytest.raises(ConnectionRefusedError):
            run(asyncio.open_connection(*probe.getsockname()))


def test_drain_waits_until_the_peer_takes_the_data(loop, run):
    data = b"x" * (8 * 1024 * 1024)

    async def slow_reader(reader, writer):
        await asyncio.sleep(0.05)
        await reader.readexactly(len(data))
        writer.close()
        await writer.wait_closed()

    async def main():
        async with serving(slow_reader) as port:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            assert writer.transport.get_write_buffer_size() > 0
            await writer.drain()
            buffered = writer.transport.get_write_buffer_size()
            writer.close()
            await writer.wait_closed()
        return buffered <= writer.transport.get_write_buffer_limits()[1]

    assert run(main()) is True


# ---- The executor and name resolution


def test_run_in_executor_returns_the_result_or_raises(loop, run):
    async def main():
        assert await loop.run_in_executor(None, sum, [1, 2, 3]) == 6
        with pytest.raises(ZeroDivisionError):
            await loop.run_in_executor(None, divmod, 1, 0)

    run(main())


def test_run_in_executor_runs_on_another_thread(loop, run):
    assert run(loop.run_in_executor(None, threading.get_ident)) != threading.get_ident()


def test_run_in_executor_uses_the_executor_given(loop, run):
    with ThreadPoolExecutor(1, thread_name_prefix="given") as executor:
        name = run(loop.run_in_executor(executor, lambda: threading.current_thread().name))
    assert name.startswith("given")


def test_to_thread_runs_in_the_default_executor(loop, run):
    assert run(asyncio.to_thread(pow, 2, 10)) == 1024


def test_getaddrinfo_resolves_a_numeric_address(loop, run):
    infos = run(loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM))
    assert (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
            ("127.0.0.1", 80)) in infos


def test_getnameinfo_gives_numeric_host_and_port(loop, run):
    flags = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
    assert run(loop.getnameinfo(("127.0.0.1", 80), flags)) == ("127.0.0.1", "80")


# ---- Signals


def test_a_signal_handler_runs_when_the_process_gets_the_signal(loop, run):
    got = []

    async def main():
        loop.add_signal_handler(signal.SIGUSR1, got.append, "SIGUSR1")
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            while not got:
                await asyncio.sleep(0.005)
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    run(main())
    assert got == ["SIGUSR1"]


@pytest.mark.fidelity("uvloop's remove_signal_handler returns False even for a handler "
                      "it had", of=LIKE_ASYNCIO)
def test_remove_signal_handler_says_whether_there_was_one(loop):
    loop.add_signal_handler(signal.SIGUSR1, print)
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_sigkill_cannot_be_caught(loop):
    with pytest.raises(RuntimeError, match="sig 9 cannot be caught"):
        loop.add_signal_handler(signal.SIGKILL, print)


def test_an_invalid_signal_number_is_a_value_error(loop):
    with pytest.raises(ValueError):
        loop.add_signal_handler(1000, print)


def test_a_coroutine_function_is_no_signal_handler(loop):
    async def handler():
        pass

    with pytest.raises(TypeError, match=r"coroutines cannot be used with add_signal_handler\(\)"):
        loop.add_signal_handler(signal.SIGUSR1, handler)


# ---- Asynchronous generators


async def counting(log):
    try:
        for n in range(10):
            yield n
    finally:
        log.append("finalized")


def test_shutdown_asyncgens_finalizes_a_suspended_generator(loop, run):
    log = []

    async def start():
        agen = counting(log)
        await agen.__anext__()
        return agen

    agen = run(start())
    assert log == []
    run(loop.shutdown_asyncgens())
    assert log == ["finalized"]
    del agen


def test_an_abandoned_async_generator_is_finalized_on_the_loop(loop, run):
    log = []

    async def abandon():
        agen = counting(log)
        await agen.__anext__()
        del agen
        gc.collect()  # the finalizer hook schedules aclose() on the loop
        await asyncio.sleep(0.01)

    run(abandon())
    assert log == ["finalized"]


# ---- What ours leaves out


async def datagram(loop):
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    transport.close()


async def read_pipe(loop):
    read, write = os.pipe()
    try:
        with open(read, "rb", buffering=0) as pipe:
            transport, _ = await loop.connect_read_pipe(asyncio.Protocol, pipe)
            transport.close()
            await asyncio.sleep(0)
    finally:
        os.close(write)


async def tls_server(loop):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0, ssl=context)
    server.close()
    await server.wait_closed()


LEFT_OUT = {"datagrams": datagram, "pipes": read_pipe, "TLS": tls_server}


@pytest.mark.fidelity("asyncio and uvloop implement them")
@pytest.mark.parametrize("feature", LEFT_OUT)
def test_what_ours_leaves_out_raises_not_implemented_error(loop, run, feature):
    with pytest.raises(NotImplementedError, match="is left out of this loop"):
        run(LEFT_OUT[feature](loop))

"""The contract of gen-style coroutines: every test runs on ours (``gen``, on our
IOLoop) and on ``tornado.gen`` (tornado 6, on asyncio).

``coroutine`` is the implementation's namespace: ``coroutine.coroutine``,
``coroutine.IOLoop``, ``coroutine.Future``, ``moment``, ``sleep``, ``multi``,
``with_timeout``, ``convert_yielded``, ``BadYieldError``, ``TimeoutError``,
``Return``. A test marked ``fidelity`` states tornado 4.5's behaviour, which tornado 6
changed: it must fail there.

No test may hang: every loop runs under ``run_sync`` with a timeout, and Futures are
made inside the running loop (tornado 6's are asyncio Futures, bound to it).
"""
import concurrent.futures
import datetime
import logging
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import pytest

LIMIT = 5.0  # seconds any one run_sync may take


@pytest.fixture
def loop(coroutine):
    loop = coroutine.IOLoop(make_current=False)
    yield loop
    loop.close()


@pytest.fixture
def run(loop):
    """``run(func)``: run_sync, bounded."""
    return lambda func: loop.run_sync(func, timeout=LIMIT)


def take_turns(coroutine, log, yieldables):
    """Coroutines that each log their name and yield their yieldable, five times;
    a coroutine that waits for all of them."""

    @coroutine.coroutine
    def worker(name, yieldable):
        for _ in range(5):
            log.append(name)
            yield yieldable() if callable(yieldable) else yieldable

    @coroutine.coroutine
    def both():
        yield [worker(name, y) for name, y in yieldables]

    return both


def done_future(coroutine, value=None):
    future = coroutine.Future()
    future.set_result(value)
    return future


# ---- Starting


def test_the_body_runs_synchronously_up_to_the_first_yield(coroutine, run):
    log = []

    @coroutine.coroutine
    def body():
        log.append("body starts")
        yield coroutine.moment
        log.append("body resumes")

    @coroutine.coroutine
    def main():
        future = body()
        log.append("call returned")
        yield future

    run(main)
    assert log == ["body starts", "call returned", "body resumes"]


def test_a_coroutine_that_never_yields_returns_a_done_future(coroutine, run):
    @coroutine.coroutine
    def no_yield():
        return 42

    @coroutine.coroutine
    def generator_that_returns_at_once():
        return 43
        yield

    def main():
        futures = [no_yield(), generator_that_returns_at_once()]
        assert [f.done() for f in futures] == [True, True]
        return coroutine.multi(futures)

    assert run(main) == [42, 43]


def test_an_exception_before_the_first_yield_goes_into_the_future(coroutine, run):
    @coroutine.coroutine
    def fails():
        raise ValueError("at once")
        yield

    def main():
        future = fails()  # does not raise here
        assert future.done()
        return future

    with pytest.raises(ValueError, match="at once"):
        run(main)


def test_the_return_value_is_the_result_of_the_future(coroutine, run):
    @coroutine.coroutine
    def returns():
        yield coroutine.moment
        return "value"

    assert run(returns) == "value"


def test_raise_return_still_ends_a_coroutine_with_a_value(coroutine, run):
    @coroutine.coroutine
    def old_style():
        yield coroutine.moment
        raise coroutine.Return("old")

    assert run(old_style) == "old"


# ---- Resuming


def test_yielding_a_done_future_goes_on_without_a_loop_iteration(coroutine, run):
    log = []
    immediate = lambda: done_future(coroutine)  # noqa: E731
    run(take_turns(coroutine, log, [("a", immediate), ("b", immediate)]))
    assert "".join(log) == "aaaaabbbbb"


def test_moment_takes_exactly_one_loop_iteration(coroutine, run):
    log = []
    run(take_turns(coroutine, log, [("a", coroutine.moment), ("b", coroutine.moment)]))
    assert "".join(log) == "ababababab"


def test_moment_against_a_done_future(coroutine, run):
    log = []
    immediate = lambda: done_future(coroutine)  # noqa: E731
    run(take_turns(coroutine, log, [("a", coroutine.moment), ("b", immediate)]))
    assert "".join(log) == "abbbbbaaaa"


def test_yield_none_is_the_same_as_moment(coroutine, run):
    log = []
    run(take_turns(coroutine, log, [("a", None), ("b", None)]))
    assert "".join(log) == "ababababab"


def test_moment_resumes_after_the_callbacks_already_queued(coroutine, run):
    log = []

    @coroutine.coroutine
    def main():
        loop = coroutine.IOLoop.current()

        def first():
            log.append("queued before")
            loop.add_callback(log.append, "queued by a callback")

        loop.add_callback(first)
        yield coroutine.moment
        log.append("resumed")
        yield coroutine.sleep(0.01)

    run(main)
    assert log == ["queued before", "resumed", "queued by a callback"]


def test_a_pending_future_resumes_its_coroutine_later_not_inside_set_result(coroutine, run):
    log = []

    @coroutine.coroutine
    def waiter(future):
        log.append((yield future))

    @coroutine.coroutine
    def main():
        future = coroutine.Future()
        waiting = waiter(future)
        future.set_result("result")
        log.append("after set_result")
        yield waiting

    run(main)
    assert log == ["after set_result", "result"]


def test_coroutines_resume_in_the_order_their_futures_resolve(coroutine, run):
    log = []

    @coroutine.coroutine
    def waiter(i, future):
        yield future
        log.append(i)

    @coroutine.coroutine
    def main():
        futures = [coroutine.Future() for _ in range(3)]
        waiting = [waiter(i, f) for i, f in enumerate(futures)]
        for i in (2, 0, 1):
            futures[i].set_result(None)
        yield waiting

    run(main)
    assert log == [2, 0, 1]


def test_a_coroutine_yielding_a_coroutine_waits_for_its_result(coroutine, run):
    @coroutine.coroutine
    def inner(x):
        yield coroutine.sleep(0)
        return x + 1

    @coroutine.coroutine
    def outer():
        a = yield inner(1)
        b = yield inner(a)
        return b

    assert run(outer) == 3


def test_yielding_a_native_coroutine_runs_it(coroutine, run):
    async def native(x):
        return x * 2

    @coroutine.coroutine
    def main():
        return (yield native(21))

    assert run(main) == 42


def test_yielding_a_future_of_another_thread_waits_for_it(coroutine, run):
    with ThreadPoolExecutor(1) as executor:

        @coroutine.coroutine
        def main():
            return (yield executor.submit(lambda: time.sleep(0.01) or "from a thread"))

        assert run(main) == "from a thread"


def test_a_cancelled_future_of_another_thread_throws_cancelled_error_into_the_coroutine(coroutine, run):
    cancelled = concurrent.futures.Future()
    cancelled.cancel()

    @coroutine.coroutine
    def main():
        try:
            yield cancelled
        except BaseException as exc:  # tornado 6 throws asyncio's, ours concurrent's
            return type(exc).__name__

    assert run(main) == "CancelledError"


# ---- Exceptions


def test_exceptions_propagate_through_nested_coroutines(coroutine, run):
    @coroutine.coroutine
    def innermost():
        yield coroutine.moment
        raise KeyError("deep")

    @coroutine.coroutine
    def middle():
        yield innermost()

    @coroutine.coroutine
    def outer():
        yield middle()

    with pytest.raises(KeyError, match="deep") as info:
        run(outer)
    names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "innermost" in names and "middle" in names


def test_a_coroutine_catches_the_exception_of_the_one_it_waited_on_and_goes_on(coroutine, run):
    @coroutine.coroutine
    def fails():
        yield coroutine.sleep(0)
        raise ValueError("caught")

    @coroutine.coroutine
    def outer():
        try:
            yield fails()
        except ValueError as exc:
            caught = str(exc)
        yield coroutine.moment
        return caught

    assert run(outer) == "caught"


def test_run_sync_raises_the_exception_of_the_coroutine(coroutine, run):
    @coroutine.coroutine
    def fails():
        yield coroutine.moment
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        run(fails)


def test_run_sync_times_out_on_a_coroutine_that_never_finishes(coroutine, loop):
    @coroutine.coroutine
    def forever():
        yield coroutine.Future()

    with pytest.raises(coroutine.TimeoutError):
        loop.run_sync(forever, timeout=0.05)


# ---- Bad yields


def test_yielding_an_unknown_object_throws_bad_yield_error_into_the_coroutine(coroutine, run):
    @coroutine.coroutine
    def bad():
        try:
            yield 42
        except coroutine.BadYieldError as exc:
            message = str(exc)
        yield coroutine.moment  # and the coroutine goes on
        return message

    assert run(bad) == "yielded unknown object 42"


def test_an_uncaught_bad_yield_error_ends_the_coroutine(coroutine, run):
    @coroutine.coroutine
    def bad():
        yield object()

    with pytest.raises(coroutine.BadYieldError, match="yielded unknown object"):
        run(bad)


def test_a_list_with_an_unknown_object_is_a_bad_yield(coroutine, run):
    @coroutine.coroutine
    def bad():
        yield [coroutine.sleep(0), "not a future"]

    with pytest.raises(coroutine.BadYieldError, match="not a future"):
        run(bad)


def test_a_bad_yield_disturbs_no_other_coroutine(coroutine, run):
    log = []

    @coroutine.coroutine
    def bad():
        yield coroutine.moment
        yield "bad"

    @coroutine.coroutine
    def good():
        for i in range(3):
            yield coroutine.moment
            log.append(i)
        return "good"

    @coroutine.coroutine
    def main():
        bad_future, good_future = bad(), good()
        result = yield good_future
        with pytest.raises(coroutine.BadYieldError):
            yield bad_future
        return result

    assert run(main) == "good"
    assert log == [0, 1, 2]


def test_convert_yielded_turns_yieldables_into_futures(coroutine, run):
    @coroutine.coroutine
    def main():
        future = done_future(coroutine, "f")
        assert coroutine.convert_yielded(future) is future
        assert coroutine.convert_yielded(None) is coroutine.moment
        converted = coroutine.convert_yielded([future, coroutine.sleep(0)])
        assert (yield converted) == ["f", None]
        with pytest.raises(coroutine.BadYieldError, match="yielded unknown object 3.5"):
            coroutine.convert_yielded(3.5)

    run(main)


# ---- multi


def test_multi_of_a_list_gives_the_results_in_list_order(coroutine, run):
    @coroutine.coroutine
    def after(seconds, value):
        yield coroutine.sleep(seconds)
        return value

    @coroutine.coroutine
    def main():
        return (yield [after(0.03, "slow"), after(0, "fast"), after(0.01, "middle")])

    assert run(main) == ["slow", "fast", "middle"]


def test_multi_of_a_dict_gives_a_dict_with_the_same_keys(coroutine, run):
    @coroutine.coroutine
    def main():
        return (yield {"a": coroutine.sleep(0.01), "b": done_future(coroutine, 2)})

    assert run(main) == {"a": None, "b": 2}


def test_multi_of_nothing_is_an_empty_result_at_once(coroutine, run):
    @coroutine.coroutine
    def main():
        assert coroutine.multi([]).done()
        return (yield []), (yield {})

    assert run(main) == ([], {})


def test_multi_accepts_the_same_future_twice(coroutine, run):
    @coroutine.coroutine
    def main():
        future = coroutine.sleep(0.01)
        return (yield [future, future])

    assert run(main) == [None, None]


def test_multi_raises_the_first_exception_in_list_order_and_logs_the_rest(coroutine, run, caplog):
    @coroutine.coroutine
    def fail_after(seconds, exc):
        yield coroutine.sleep(seconds)
        raise exc

    @coroutine.coroutine
    def main():
        # The second child fails first in time; the first in the list still wins.
        yield [fail_after(0.02, ValueError("first")), fail_after(0, KeyError("second"))]

    with caplog.at_level(logging.ERROR, logger="tornado.application"):
        with pytest.raises(ValueError, match="first"):
            run(main)
    [record] = [r for r in caplog.records if "Multiple exceptions in yield list" in r.getMessage()]
    assert record.name == "tornado.application"
    assert record.exc_info[0] is KeyError


def test_multi_quiet_exceptions_are_not_logged(coroutine, run, caplog):
    @coroutine.coroutine
    def fail(exc):
        yield coroutine.moment
        raise exc

    @coroutine.coroutine
    def main():
        yield coroutine.multi([fail(ValueError()), fail(KeyError())], quiet_exceptions=KeyError)

    with caplog.at_level(logging.ERROR, logger="tornado.application"):
        with pytest.raises(ValueError):
            run(main)
    assert not [r for r in caplog.records if "Multiple exceptions" in r.getMessage()]


def test_multi_waits_for_every_child_even_after_one_fails(coroutine, run):
    log = []

    @coroutine.coroutine
    def fails():
        yield coroutine.moment
        raise ValueError

    @coroutine.coroutine
    def slow():
        yield coroutine.sleep(0.02)
        log.append("slow finished")

    @coroutine.coroutine
    def main():
        try:
            yield [fails(), slow()]
        except ValueError:
            log.append("multi raised")

    run(main)
    assert log == ["slow finished", "multi raised"]


# ---- with_timeout


def test_with_timeout_raises_timeout_error_when_the_future_is_late(coroutine, run):
    @coroutine.coroutine
    def main():
        yield coroutine.with_timeout(datetime.timedelta(seconds=0.01), coroutine.Future())

    with pytest.raises(coroutine.TimeoutError):
        run(main)


def test_with_timeout_takes_a_deadline_on_the_loop_clock(coroutine, run):
    @coroutine.coroutine
    def main():
        deadline = coroutine.IOLoop.current().time() + 0.01
        yield coroutine.with_timeout(deadline, coroutine.Future())

    started = time.monotonic()
    with pytest.raises(coroutine.TimeoutError):
        run(main)
    assert time.monotonic() - started < LIMIT / 2


def test_with_timeout_does_not_cancel_the_inner_future(coroutine, run):
    @coroutine.coroutine
    def main():
        inner = coroutine.Future()
        try:
            yield coroutine.with_timeout(datetime.timedelta(seconds=0.01), inner)
        except coroutine.TimeoutError:
            pass
        assert not inner.done() and not inner.cancelled()
        coroutine.IOLoop.current().call_later(0.01, inner.set_result, "late")
        return (yield inner)

    assert run(main) == "late"


def test_with_timeout_gives_the_result_that_comes_in_time(coroutine, run):
    @coroutine.coroutine
    def main():
        inner = coroutine.sleep(0.01)
        wrapped = coroutine.with_timeout(datetime.timedelta(seconds=LIMIT), inner)
        done = done_future(coroutine, 1)
        already = coroutine.with_timeout(datetime.timedelta(seconds=LIMIT), done)
        return (yield wrapped), (yield already)

    assert run(main) == (None, 1)


def test_with_timeout_passes_on_a_failure_that_comes_in_time(coroutine, run):
    @coroutine.coroutine
    def fails():
        yield coroutine.sleep(0.01)
        raise KeyError("in time")

    @coroutine.coroutine
    def main():
        yield coroutine.with_timeout(datetime.timedelta(seconds=LIMIT), fails())

    with pytest.raises(KeyError, match="in time"):
        run(main)


def test_with_timeout_times_out_a_future_of_another_thread(coroutine, run):
    with ThreadPoolExecutor(1) as executor:

        @coroutine.coroutine
        def main():
            slow = executor.submit(time.sleep, 0.1)
            yield coroutine.with_timeout(datetime.timedelta(seconds=0.01), slow)

        with pytest.raises(coroutine.TimeoutError):
            run(main)


def test_with_timeout_logs_a_failure_after_the_timeout(coroutine, run, caplog):
    @coroutine.coroutine
    def fails_late():
        yield coroutine.sleep(0.03)
        raise KeyError("too late")

    @coroutine.coroutine
    def main():
        late = fails_late()
        with pytest.raises(coroutine.TimeoutError):
            yield coroutine.with_timeout(datetime.timedelta(seconds=0.01), late)
        with pytest.raises(KeyError):
            yield late

    with caplog.at_level(logging.ERROR, logger="tornado.application"):
        run(main)
    assert [r for r in caplog.records if "after timeout" in r.getMessage()]


# ---- sleep


def test_sleeps_end_in_the_order_of_their_durations(coroutine, run):
    log = []

    @coroutine.coroutine
    def sleeper(seconds):
        yield coroutine.sleep(seconds)
        log.append(seconds)

    @coroutine.coroutine
    def main():
        yield [sleeper(s) for s in (0.03, 0.01, 0.02, 0)]

    run(main)
    assert log == [0, 0.01, 0.02, 0.03]


def test_sleep_lasts_at_least_its_duration(coroutine, run):
    @coroutine.coroutine
    def main():
        started = time.monotonic()
        yield coroutine.sleep(0.05)
        return time.monotonic() - started

    assert run(main) >= 0.05 - 0.002  # the loop's clock and this one may round apart


def test_two_coroutines_switch_through_sleep_zero(coroutine, run):
    log = []
    sleep_zero = lambda: coroutine.sleep(0)  # noqa: E731
    run(take_turns(coroutine, log, [("a", sleep_zero), ("b", sleep_zero)]))
    assert "".join(log) == "ababababab"


# ---- Tornado 4.5, not 6


@pytest.mark.fidelity("tornado 6's moment is a _NullFuture, not a Future")
def test_moment_is_a_future_that_is_already_done(coroutine, run):
    assert isinstance(coroutine.moment, coroutine.Future)
    assert coroutine.moment.done() and coroutine.moment.result() is None


@pytest.mark.fidelity("tornado 6 Futures are asyncio's: done-callbacks are scheduled on the loop")
def test_the_future_of_a_finished_coroutine_runs_a_new_done_callback_at_once(coroutine, run):
    @coroutine.coroutine
    def no_yield():
        return 1

    def main():
        called = []
        no_yield().add_done_callback(called.append)
        assert len(called) == 1

    run(main)

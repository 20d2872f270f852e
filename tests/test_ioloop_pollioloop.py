"""Our IOLoop's own contract, where tornado 6 differs or has nothing to compare.

The current and global loop as tornado 4.5 kept them (tornado 6 deprecates
this API), what ours does with calls 4.5 left undefined (close twice, close
while running, timers after close), and our Future.
"""
import logging
from concurrent.futures import InvalidStateError

import pytest

from impls.ioloop.future import Future
from impls.ioloop.pollioloop import IOLoop

SAFETY = 5.0  # seconds: the longest any loop here may run


@pytest.fixture
def loop():
    loop = IOLoop(make_current=False)
    yield loop
    loop.close()


@pytest.fixture
def no_current():
    """Start without a current or global IOLoop; put back what was there."""
    saved = IOLoop.current(instance=False), IOLoop._instance
    IOLoop.clear_current()
    IOLoop.clear_instance()
    yield
    for leftover in {IOLoop.current(instance=False), IOLoop._instance} - {None, *saved}:
        leftover.close()
    IOLoop._current.instance, IOLoop._instance = saved


# ---- The current IOLoop and the global one


def test_a_new_loop_becomes_current_only_if_there_is_none(no_current):
    first, second = IOLoop(), IOLoop()
    assert IOLoop.current(instance=False) is first
    second.close()


def test_make_current_true_refuses_when_there_is_a_current_loop(no_current):
    IOLoop()
    with pytest.raises(RuntimeError, match="current IOLoop already exists"):
        IOLoop(make_current=True)


def test_make_current_false_never_becomes_current(no_current):
    loop = IOLoop(make_current=False)
    assert IOLoop.current(instance=False) is None
    loop.close()


def test_start_makes_the_loop_current_and_restores_the_previous_one(no_current, loop):
    previous = IOLoop()
    seen = []
    loop.run_sync(lambda: seen.append(IOLoop.current()), timeout=SAFETY)
    assert seen == [loop]
    assert IOLoop.current() is previous


def test_current_falls_back_to_the_global_instance(no_current):
    assert IOLoop.current(instance=False) is None
    assert not IOLoop.initialized()
    instance = IOLoop.current()
    assert IOLoop.initialized() and IOLoop.instance() is instance


def test_install_refuses_a_second_global_loop(no_current, loop):
    loop.install()
    assert IOLoop.instance() is loop
    with pytest.raises(RuntimeError, match="already exists"):
        IOLoop(make_current=False).install()
    IOLoop.clear_instance()
    assert not IOLoop.initialized()


# ---- Calls that 4.5 left undefined


def test_close_twice_is_harmless():
    loop = IOLoop(make_current=False)
    loop.close()
    loop.close()


def test_close_while_running_raises_and_the_loop_goes_on(loop):
    errors = []

    def close_now():
        try:
            loop.close()
        except RuntimeError as exc:
            errors.append(str(exc))

    loop.add_callback(close_now)
    loop.run_sync(lambda: None, timeout=SAFETY)
    assert errors == ["cannot close a running IOLoop"]


def test_start_and_timers_after_close_raise():
    loop = IOLoop(make_current=False)
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.start()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_later(0, print)


def test_add_handler_refuses_a_handler_that_is_not_callable(loop):
    # Tornado 6 (and 4.5) accept it and fail only when the fd is ready.
    with pytest.raises(TypeError, match="handler must be callable"):
        loop.add_handler(loop._waker.write_fileno(), 42, IOLoop.WRITE)


def test_update_handler_of_an_fd_without_handler_raises(loop):
    with pytest.raises(FileNotFoundError, match="fd 1000 has no handler"):
        loop.update_handler(1000, IOLoop.READ)


def test_run_sync_raises_when_someone_else_stops_the_loop(loop):
    with pytest.raises(RuntimeError, match="stopped before the Future completed"):
        loop.run_sync(lambda: (loop.stop(), Future())[1], timeout=SAFETY)


def test_remove_timeout_after_firing_is_not_counted_as_a_cancellation(loop):
    timer = loop.call_later(0, print, end="")
    loop.run_sync(lambda: None, timeout=SAFETY)
    loop.remove_timeout(timer)
    assert loop._timeouts.cancellations == 1  # run_sync's own timer, not this one


def test_a_callback_that_returns_a_failed_future_is_logged(loop, caplog):
    def spawned():
        future = Future()
        future.set_exception(KeyError("lost"))
        return future

    loop.spawn_callback(spawned)
    with caplog.at_level(logging.ERROR):
        loop.run_sync(lambda: None, timeout=SAFETY)
        loop.run_sync(lambda: None, timeout=SAFETY)  # add_future delivers a turn later
    [record] = [r for r in caplog.records if "Exception in callback" in r.getMessage()]
    assert isinstance(record.exc_info[1], KeyError)


# ---- The Future


def test_result_and_exception_of_a_pending_future_raise():
    future = Future()
    assert future.running() and not future.done()
    with pytest.raises(InvalidStateError):
        future.result()
    with pytest.raises(InvalidStateError):
        future.exception()


def test_a_future_is_set_once():
    future = Future()
    future.set_result(1)
    with pytest.raises(InvalidStateError):
        future.set_result(2)
    with pytest.raises(InvalidStateError):
        future.set_exception(KeyError())
    assert future.result() == 1 and future.exception() is None


def test_a_failed_future_reraises_its_exception():
    future = Future()
    error = KeyError("failed")
    future.set_exception(error)
    assert future.exception() is error
    with pytest.raises(KeyError, match="failed"):
        future.result()


def test_cancel_is_not_supported():
    future = Future()
    assert future.cancel() is False and not future.cancelled()


def test_a_done_callback_added_to_a_done_future_runs_at_once():
    future = Future()
    future.set_result(1)
    seen = []
    future.add_done_callback(seen.append)
    assert seen == [future]


def test_a_done_callback_that_raises_is_logged_and_the_others_run(caplog):
    future = Future()
    seen = []
    future.add_done_callback(lambda f: 1 / 0)
    future.add_done_callback(seen.append)
    with caplog.at_level(logging.ERROR):
        future.set_result(1)
    assert seen == [future]
    assert any("Exception in callback" in r.getMessage() for r in caplog.records)

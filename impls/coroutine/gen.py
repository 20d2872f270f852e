"""Generator coroutines on the IOLoop, after tornado 4.5's ``tornado.gen``.

Every wait is a Future. A coroutine is a generator that yields Futures (or lists and
dicts of them); the decorator turns it into a function that returns a Future of its
return value:

    @coroutine
    def fetch_both(a, b):
        first, second = yield [fetch(a), fetch(b)]   # both at once
        yield sleep(0.1)
        return first + second

    IOLoop().run_sync(lambda: fetch_both("x", "y"))

The body runs at once, up to its first yield; from then on a `Runner` sends each
result back in when the loop sees the yielded Future done.
"""
import concurrent.futures
import functools
import logging
from functools import singledispatch
from inspect import isawaitable
from types import GeneratorType

from impls.ioloop.pollioloop import Future, IOLoop, TimeoutError

__all__ = [
    "IOLoop", "Future", "TimeoutError", "BadYieldError", "Return", "coroutine", "Runner",
    "moment", "sleep", "multi", "multi_future", "with_timeout", "convert_yielded",
]

app_log = logging.getLogger("tornado.application")  # where tornado reports errors


class BadYieldError(Exception):
    """Thrown into a coroutine that yielded something it cannot wait on."""


class Return(Exception):
    """``raise Return(value)`` ends a coroutine with `value`, as ``return value``
    does. Python 2 needed it (a generator could not return a value); kept because
    tornado 6 keeps it and older code raises it."""

    def __init__(self, value=None):
        super().__init__(value)
        self.value = value  # the name StopIteration uses, so both read alike


# ---- The decorator


def coroutine(func):
    """Make a generator function a coroutine: a function that returns a Future.

    The body runs synchronously up to its first yield, before the call returns; a
    body that never yields returns a Future that is already done. What the body
    raises is stored in the Future, never raised at the call.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        future = Future()
        try:
            result = func(*args, **kwargs)
        except (Return, StopIteration) as stop:  # a plain function that "returns" so
            result = stop.value
        except Exception as exc:
            future.set_exception(exc)
            return future
        if isinstance(result, GeneratorType):
            # The first step is taken here, not by a Runner: a coroutine that
            # finishes without waiting never pays for one.
            try:
                yielded = next(result)
            except (Return, StopIteration) as stop:
                future.set_result(stop.value)
            except Exception as exc:
                future.set_exception(exc)
            else:
                runner = Runner(result, future, yielded)
                future.add_done_callback(lambda _: runner)  # see the note below
            return future
        future.set_result(result)
        return future

    return wrapper


# The note: a suspended Runner is referenced only by the callback it left on the
# Future it waits on. If nothing else holds that Future either, the garbage collector
# may take the Runner and close its generator mid-wait (tornado issue #1769). The
# done-callback that holds the Runner keeps it alive as long as its result Future is.
# (4.5 kept a WeakKeyDictionary from result Futures to Runners; tornado 6 does this.)


# ---- The Runner


class Runner:
    """Drives one coroutine: sends in the result of each Future it yields.

    It goes on at once while the yielded Futures are already done; otherwise it
    asks the loop to call `run` when they are, so a coroutine resumes in a later
    loop iteration, never inside the ``set_result`` that finished its Future.
    """

    def __init__(self, gen, result_future, first_yielded):
        self.gen = gen  # the coroutine's generator
        self.result_future = result_future  # what the coroutine's caller holds
        self.future = None  # the Future the generator waits on
        self.io_loop = IOLoop.current()  # where it resumes
        if self.handle_yield(first_yielded):
            self.run()

    def run(self, _=None):
        """Resume the generator with the outcome of its Future, and go on while
        what it yields next is done. The loop calls it (with the Future, ignored).

        Unlike 4.5 it needs no guard against re-entry: it is called once per
        wait (by __init__ or the loop), never from inside the generator."""
        gen = self.gen
        future = self.future
        while True:
            # The throw happens outside the except block that caught the error:
            # inside it, the generator would see this frame's exception as context.
            try:
                value = future.result()
                error = None
            except Exception as exc:
                error = exc
            try:
                yielded = gen.send(value) if error is None else gen.throw(error)
            except (StopIteration, Return) as stop:
                self.result_future.set_result(stop.value)
                return
            except Exception as exc:
                self.result_future.set_exception(exc)
                return
            if not self.handle_yield(yielded):
                return
            future = self.future

    def handle_yield(self, yielded):
        """Make `yielded` the Future to wait on; True if it is done already and the
        generator can go on at once, False once the loop has been asked to resume it."""
        if yielded.__class__ is not Future:  # the common case, a Future, needs no converting
            try:
                yielded = convert_yielded(yielded)
            except BadYieldError as exc:  # a Future of the error: run throws it into the generator
                yielded = Future()
                yielded.set_exception(exc)
        self.future = yielded
        if yielded is moment:  # done, but the loop runs once before the generator does
            self.io_loop.add_callback(self.run)
            return False
        if not yielded.done():
            self.io_loop.add_future(yielded, self.run)
            return False
        return True


# ---- What a coroutine may yield


@singledispatch
def convert_yielded(yielded):
    """Make what a coroutine yielded a Future: None is `moment`, a list or dict is
    `multi` of its values, a Future stays itself, an awaitable (a native coroutine)
    runs as a coroutine, and a ``concurrent.futures.Future`` (finished on another
    thread) is followed by a Future of ours. Anything else: BadYieldError.
    Other libraries teach it their own types: ``convert_yielded.register(SomeType)``."""
    if yielded is None:
        return moment
    if isinstance(yielded, (list, dict)):
        return multi_future(yielded)
    if isinstance(yielded, Future):
        return yielded
    if isawaitable(yielded):
        return _wrap_awaitable(yielded)
    if isinstance(yielded, concurrent.futures.Future):
        return _from_thread(yielded)
    raise BadYieldError(f"yielded unknown object {yielded!r}")


@coroutine
def _wrap_awaitable(awaitable):
    # What the awaitable yields, this coroutine yields to its own Runner. A native
    # coroutine iterates through __await__, a @types.coroutine generator directly.
    iterator = awaitable.__await__() if hasattr(awaitable, "__await__") else awaitable
    return (yield from iterator)


def _from_thread(thread_future):
    # A Future of the same outcome, finished on the loop's thread: add_future is
    # the thread-safe way in, so what waits on it (Runners, multi, with_timeout)
    # only ever runs on the loop.
    future = Future()
    IOLoop.current().add_future(thread_future, functools.partial(_copy_outcome, target=future))
    return future


# A Future that is already done, yet makes the coroutine that yields it wait for one
# loop iteration: a way to let other callbacks run in a long computation.
moment = Future()
moment.set_result(None)


def sleep(duration):
    """A Future that resolves to None after `duration` seconds."""
    future = Future()
    IOLoop.current().call_later(duration, future.set_result, None)
    return future


def multi_future(children, quiet_exceptions=()):
    """A Future of the results of a list (or dict) of yieldables, in the same
    order (with the same keys), once all of them are done.

    If any fails, it fails with the first exception in the list's order, still
    only once all are done; the other exceptions are logged, except instances of
    `quiet_exceptions`."""
    keys = list(children) if isinstance(children, dict) else None
    values = children.values() if keys is not None else children
    futures = [convert_yielded(child) for child in values]
    result = Future()
    unfinished = set(futures)
    if not unfinished:
        result.set_result({} if keys is not None else [])

    def on_child_done(child):
        unfinished.discard(child)
        if not unfinished:
            _gather(result, futures, keys, quiet_exceptions)

    for future in dict.fromkeys(futures):  # a Future listed twice is listened to once
        future.add_done_callback(on_child_done)
    return result


def _gather(result, futures, keys, quiet_exceptions):
    # All children are done: the first failure in order wins, the others are logged.
    values = []
    for future in futures:
        try:
            values.append(future.result())
        except Exception as exc:
            if not result.done():
                result.set_exception(exc)
            elif not isinstance(exc, quiet_exceptions):
                app_log.error("Multiple exceptions in yield list", exc_info=True)
    if not result.done():
        result.set_result(dict(zip(keys, values)) if keys is not None else values)


# In 4.5, multi also took the YieldPoints of the callback era; with Futures only,
# it is multi_future.
multi = multi_future


def with_timeout(timeout, future, quiet_exceptions=()):
    """A Future of `future`'s outcome, or of TimeoutError at `timeout` (a deadline
    on the loop's clock, or a ``datetime.timedelta`` from now).

    The inner Future is not cancelled: others may wait on it too, and it can be
    yielded again. If it fails after the timeout, the exception is logged, unless
    it is an instance of `quiet_exceptions`."""
    future = convert_yielded(future)
    result = Future()
    future.add_done_callback(functools.partial(_copy_outcome, target=result))
    io_loop = IOLoop.current()

    def log_late_failure(future):
        try:
            future.result()
        except Exception as exc:
            if not isinstance(exc, quiet_exceptions):
                app_log.error("Exception in Future %r after timeout", future, exc_info=True)

    def on_timeout():
        result.set_exception(TimeoutError("Timeout"))
        future.add_done_callback(log_late_failure)

    handle = io_loop.add_timeout(timeout, on_timeout)
    future.add_done_callback(lambda future: io_loop.remove_timeout(handle))
    return result


def _copy_outcome(source, target):
    # Give target the outcome of source, unless target is done already: with_timeout's
    # result once its timeout has come.
    if target.done():
        return
    if source.cancelled():  # a thread's Future, cancelled in its executor's queue
        target.set_exception(concurrent.futures.CancelledError())
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())

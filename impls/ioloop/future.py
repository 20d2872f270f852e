"""The Future of tornado 4.5: a result that will be known later, for one thread.

Not thread-safe and never blocking: ``result()`` on a Future that is not done is an
error, not a wait. Its done-callbacks run synchronously, inside ``set_result`` or
``set_exception``; the IOLoop's ``add_future`` is what defers them to the loop.
"""
import logging
from concurrent.futures import InvalidStateError

app_log = logging.getLogger("tornado.application")


class Future:
    """A placeholder for a result or an exception, set once.

        future = Future()
        future.add_done_callback(lambda f: print(f.result()))
        future.set_result(42)  # prints 42 before set_result returns

    Tornado 6 uses asyncio's Future instead, whose done-callbacks are scheduled
    on the event loop rather than run inside ``set_result``.
    """

    def __init__(self):
        self._done = False  # set once, by set_result or set_exception
        self._result = None  # the value, if it succeeded
        self._exception = None  # the exception, if it failed
        self._traceback = None  # its traceback when set: every raise would extend it
        self._callbacks = []  # called with the Future when it is done, in order

    def done(self):
        """True once a result or an exception has been set."""
        return self._done

    def running(self):
        """True until done: there is no "pending but not started" state here."""
        return not self._done

    def cancel(self):
        """Tornado 4.5 Futures cannot be cancelled: always False."""
        return False

    def cancelled(self):
        """Always False, since cancel() never succeeds."""
        return False

    def result(self, timeout=None):
        """The value, or raise the exception. ``timeout`` exists for the
        signature of ``concurrent.futures.Future`` and is never used: a Future
        that is not done raises InvalidStateError (4.5 raised a bare Exception)."""
        self._check_done()
        if self._exception is not None:
            raise self._exception.with_traceback(self._traceback)
        return self._result

    def exception(self, timeout=None):
        """The exception, or None if it succeeded. Not done: InvalidStateError."""
        self._check_done()
        return self._exception

    def add_done_callback(self, fn):
        """Call ``fn(future)`` when done: now, if it already is."""
        if self._done:
            fn(self)
        else:
            self._callbacks.append(fn)

    def set_result(self, result):
        """Finish with a value and run the done-callbacks. Twice: InvalidStateError."""
        self._set_done()
        self._result = result
        self._run_callbacks()

    def set_exception(self, exception):
        """Finish with an exception and run the done-callbacks. Twice:
        InvalidStateError. The exception keeps its own traceback."""
        self._set_done()
        self._exception = exception
        self._traceback = exception.__traceback__
        self._run_callbacks()

    def __await__(self):
        """``await future`` in an ``async def``: the coroutine hands this Future to
        whatever drives it (the gen Runner), which sends the result back in."""
        return (yield self)

    def _check_done(self):
        if not self._done:
            raise InvalidStateError("the Future is not done; a Future never blocks")

    def _set_done(self):
        # Checked before anything is stored, so a second set leaves the first
        # outcome intact (4.5 left a second set undefined).
        if self._done:
            raise InvalidStateError("the Future is already done")
        self._done = True

    def _run_callbacks(self):
        # A callback that raises is logged and the others still run.
        callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                app_log.exception("Exception in callback %r for %r", callback, self)

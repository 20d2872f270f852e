"""asyncio's Future, our own: a result that will be known later, on one event loop.

It is the Future of the IOLoop chapter with three changes that asyncio needs:

- a done-callback never runs inside ``set_result``: it is *scheduled* with the
  loop's ``call_soon``, in the ``contextvars`` context it was added in;
- it can be cancelled, and ``result()`` then raises ``CancelledError``;
- ``await future`` yields the Future itself to the Task driving the coroutine,
  flagged so that the Task can tell an ``await`` from a stray ``yield``.

    future = loop.create_future()
    future.add_done_callback(lambda f: print(f.result()))
    future.set_result(42)   # prints 42 in the loop's next iteration, not here

asyncio's helpers (``isfuture``, ``wrap_future``, ``gather``, ``wait``, ``shield``)
take it as their own: they use only its methods and the flag. Some libraries check
the class instead (tornado's ``is_future`` is ``isinstance(x, asyncio.Future)``), so
ours derives from asyncio's C Future, as uvloop's loop hands out asyncio's own; every
method here is ours, and the base's C fields stay unused.
"""
import asyncio
import contextvars
import sys
from asyncio import base_futures, events, exceptions, format_helpers
from types import GenericAlias

# The three states, with asyncio's spelling: its repr helpers print them.
_PENDING = base_futures._PENDING
_CANCELLED = base_futures._CANCELLED
_FINISHED = base_futures._FINISHED


class Future(asyncio.Future):
    """A placeholder for a result, an exception or a cancellation, set once.

    Not thread-safe: only the loop's thread may touch it (``call_soon_threadsafe``
    is the way in from others). ``result()`` never waits: before the Future is done
    it raises InvalidStateError; a coroutine waits with ``await future``.
    """

    # ---- State. Class attributes give the defaults, so that a Future whose
    # __init__ never ran (a subclass that forgot super().__init__) still answers
    # done(), and get_loop() says what is wrong. They also hide the C base's
    # descriptors of the same names, so that these live in the instance's __dict__.
    _state = _PENDING  # then _FINISHED or _CANCELLED, once
    _result = None  # the value, once finished without an exception
    _exception = None  # the exception, once finished with one
    _exception_tb = None  # its traceback when set: each raise would extend it
    _loop = None  # the event loop that runs the done-callbacks
    _source_traceback = None  # where it was created, in debug mode
    _cancel_message = None  # the argument of cancel(), for the CancelledError
    _cancelled_exc = None  # a Task's: the CancelledError its coroutine raised
    __log_traceback = False  # an exception nobody retrieved: reported in __del__
    # (fn, context) pairs to schedule when done. A slot, not a default: it hides the
    # base's descriptor too, and until __init__ sets it, reading it raises
    # AttributeError, so a Future whose __init__ never ran cannot be finished.
    __slots__ = ("_callbacks",)

    # asyncio.isfuture's mark of a Future (any value but None), and a flag:
    # __await__ sets it just before yielding the Future to the Task, which clears
    # it, so the Task knows the Future came from an await and not a bare yield.
    _asyncio_future_blocking = False

    def __init__(self, *, loop=None):
        self._loop = events.get_event_loop() if loop is None else loop
        self._callbacks = []
        if self._loop.get_debug():
            self._source_traceback = format_helpers.extract_stack(sys._getframe(1))

    # ---- The outcome

    def done(self):
        """True once it has a result or an exception, or was cancelled."""
        return self._state != _PENDING

    def cancelled(self):
        """True if it was cancelled."""
        return self._state == _CANCELLED

    def result(self):
        """The value; or raise the exception it finished with, or CancelledError
        if it was cancelled. Not done yet: InvalidStateError."""
        if self._state == _CANCELLED:
            raise self._make_cancelled_error()
        if self._state != _FINISHED:
            raise exceptions.InvalidStateError('Result is not ready.')
        self.__log_traceback = False
        if self._exception is not None:
            raise self._exception.with_traceback(self._exception_tb)
        return self._result

    def exception(self):
        """The exception it finished with, or None if it has a value. Cancelled:
        CancelledError; not done yet: InvalidStateError."""
        if self._state == _CANCELLED:
            raise self._make_cancelled_error()
        if self._state != _FINISHED:
            raise exceptions.InvalidStateError('Exception is not set.')
        self.__log_traceback = False
        return self._exception

    def set_result(self, result):
        """Finish with `result` and schedule the done-callbacks.
        Done already: InvalidStateError."""
        if self._state != _PENDING:
            raise exceptions.InvalidStateError(f'{self._state}: {self!r}')
        self._result = result
        self._state = _FINISHED
        self.__schedule_callbacks()

    def set_exception(self, exception):
        """Finish with `exception` (a class is instantiated) and schedule the
        done-callbacks. Done already: InvalidStateError."""
        if self._state != _PENDING:
            raise exceptions.InvalidStateError(f'{self._state}: {self!r}')
        if isinstance(exception, type):
            exception = exception()
        if type(exception) is StopIteration:
            # result() raises it inside __await__, a generator, where a
            # StopIteration would become a RuntimeError (PEP 479).
            raise TypeError("StopIteration interacts badly with generators "
                            "and cannot be raised into a Future")
        self._exception = exception
        self._exception_tb = exception.__traceback__
        self._state = _FINISHED
        self.__schedule_callbacks()
        self.__log_traceback = True

    def cancel(self, msg=None):
        """Cancel it and schedule the done-callbacks: True. Done already: False.
        `msg` becomes the argument of the CancelledError that result() raises."""
        self.__log_traceback = False  # who cancels has lost interest, even in a failure
        if self._state != _PENDING:
            return False
        self._state = _CANCELLED
        self._cancel_message = msg
        self.__schedule_callbacks()
        return True

    # ---- Done-callbacks

    def add_done_callback(self, fn, *, context=None):
        """Have the loop call ``fn(future)`` once it is done (at once, if it is),
        in `context`: by default, a copy of the caller's contextvars context."""
        if self._state != _PENDING:
            self._loop.call_soon(fn, self, context=context)
        else:
            if context is None:
                context = contextvars.copy_context()
            self._callbacks.append((fn, context))

    def remove_done_callback(self, fn):
        """Remove every registration of `fn` and return how many there were.
        They are compared with ==, so a bound method made again still matches."""
        kept = [(f, context) for f, context in self._callbacks if f != fn]
        removed = len(self._callbacks) - len(kept)
        self._callbacks = kept
        return removed

    def __schedule_callbacks(self):
        # Never called here: the code that finished the Future goes on undisturbed,
        # and each waiter runs on its own in a later loop iteration.
        callbacks, self._callbacks = self._callbacks, []
        for fn, context in callbacks:
            self._loop.call_soon(fn, self, context=context)

    # ---- Awaiting

    def __await__(self):
        """``await future``: hand this Future up to the Task that drives the
        coroutine, which resumes it once the Future is done; then give the result."""
        if self._state == _PENDING:
            self._asyncio_future_blocking = True
            yield self
        if self._state == _PENDING:  # resumed by hand (next()), not by a Task
            raise RuntimeError("await wasn't used with future")
        return self.result()

    __iter__ = __await__  # for ``yield from future``, as coroutines once were written

    # ---- The rest of asyncio's API

    def get_loop(self):
        """The event loop the Future belongs to."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("Future object is not initialized.")
        return loop

    def _make_cancelled_error(self):
        """The CancelledError to raise once cancelled: the one a Task's coroutine
        raised, its traceback showing where (given out once, so that it neither
        grows nor keeps the coroutine's frames alive), else a new one with the
        cancel message."""
        exc, self._cancelled_exc = self._cancelled_exc, None
        if exc is not None:
            return exc
        if self._cancel_message is None:
            return exceptions.CancelledError()
        return exceptions.CancelledError(self._cancel_message)

    @property
    def _log_traceback(self):
        """True while an exception is set that nobody has retrieved. asyncio's
        own code sets it to False to silence the report; True is an error."""
        return self.__log_traceback

    @_log_traceback.setter
    def _log_traceback(self, value):
        if value:
            raise ValueError('_log_traceback can only be set to False')
        self.__log_traceback = False

    def __del__(self):
        # An exception nobody retrieved would vanish with its Future: the loop's
        # exception handler reports it (by default, logs it).
        if not self.__log_traceback:
            return
        context = {
            'message': f'{self.__class__.__name__} exception was never retrieved',
            'exception': self._exception,
            'future': self,
        }
        if self._source_traceback:
            context['source_traceback'] = self._source_traceback
        self._loop.call_exception_handler(context)

    def __repr__(self):
        return base_futures._future_repr(self)

    __class_getitem__ = classmethod(GenericAlias)  # Future[int], in annotations

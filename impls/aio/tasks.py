"""asyncio's Task, our own: the Runner of the gen chapter, in asyncio's shape.

A Task drives one coroutine and is the Future of its outcome. A *step* sends None
into the coroutine (or throws an exception in) and runs it to its next wait: an
``await`` of a Future that is not done, whose ``__await__`` yields the Future up to
the Task. The Task adds its ``__wakeup`` to that Future's done-callbacks and returns
to the loop; once the Future is done, the loop calls ``__wakeup``, and the next step
begins.

    async def main():
        await asyncio.sleep(0.1)
        return 42

    task = Task(main(), loop=loop)   # the first step is scheduled, not run
    loop.run_until_complete(task)    # 42

Where gen's Runner loops while the yielded Futures are done already, a Task never
sees them: ``Future.__await__`` yields only a Future that is not done.
"""
import contextvars
import inspect
import itertools
from asyncio import base_tasks, coroutines, exceptions
from asyncio.futures import _get_loop  # get_loop(), or _loop for older Futures
# asyncio's own registry, so that current_task() and all_tasks() see our Tasks.
from asyncio.tasks import _enter_task, _leave_task, _register_task

from .futures import _PENDING, Future

_task_numbers = itertools.count(1)  # for the default names, Task-1, Task-2, ...


class Task(Future):
    """A coroutine scheduled on a loop, and the Future of its outcome.

    The coroutine starts in a later loop iteration, never inside the constructor.
    ``cancel()`` is a request: it throws CancelledError into the coroutine at its
    ``await``, and the coroutine may catch it and go on.
    """

    # While not done, a Task is in one of three states (as asyncio's tasks.Task
    # says too):
    # - waiting: _fut_waiter is a Future, not done, with __wakeup among its
    #   done-callbacks;
    # - scheduled: a call of __step is in the loop's queue (the Task is new, or
    #   woken, or its coroutine made a bare yield);
    # - running: inside __step, with _fut_waiter None.

    # False: no report if garbage while pending (a refused coroutine; asyncio's
    # run_until_complete sets it on the Task it made, when interrupted).
    _log_destroy_pending = True

    def __init__(self, coro, *, loop=None, name=None, context=None):
        super().__init__(loop=loop)
        if self._source_traceback:
            del self._source_traceback[-1]  # this frame: the trace ends at the caller
        if not coroutines.iscoroutine(coro):
            self._log_destroy_pending = False  # nothing ever ran: nothing to report
            raise TypeError(f"a coroutine was expected, got {coro!r}")
        self._name = f'Task-{next(_task_numbers)}' if name is None else str(name)
        self._coro = coro  # the coroutine it drives
        self._context = contextvars.copy_context() if context is None else context
        self._fut_waiter = None  # the Future the coroutine waits on
        self._must_cancel = False  # the next step throws CancelledError in
        self._num_cancels_requested = 0  # cancel() calls, less uncancel() calls
        # Every step runs in the Task's context: what a step sets in a ContextVar,
        # the next step sees, and no other Task does.
        self._loop.call_soon(self.__step, context=self._context)
        _register_task(self)

    # ---- The steps

    def __step(self, exc=None):
        # One step of the coroutine, sending None or throwing `exc` in: called by
        # the loop, first as scheduled by __init__, then by __wakeup.
        if self._state != _PENDING:  # finished by hand: Future.set_result(task, ...)
            raise exceptions.InvalidStateError(f'_step(): already done: {self!r}, {exc!r}')
        if self._must_cancel:  # cancel() found no Future to cancel: throw it in here
            if not isinstance(exc, exceptions.CancelledError):
                exc = self._make_cancelled_error()
            self._must_cancel = False
        self._fut_waiter = None
        _enter_task(self._loop, self)
        try:
            if exc is None:
                yielded = self._coro.send(None)
            else:
                yielded = self._coro.throw(exc)
        except StopIteration as stop:
            if self._must_cancel:  # cancel() came in the step that returned
                self._must_cancel = False
                super().cancel(msg=self._cancel_message)
            else:
                super().set_result(stop.value)
        except exceptions.CancelledError as cancelled:
            self._cancelled_exc = cancelled  # result() raises this very one
            super().cancel()
        except (KeyboardInterrupt, SystemExit) as error:
            super().set_exception(error)
            raise  # these stop the loop as well as the Task
        except BaseException as error:
            super().set_exception(error)
        else:
            self.__handle_yield(yielded)
        finally:
            _leave_task(self._loop, self)
            # An exception stored in the Task has this frame in its traceback:
            # cleared, the frame no longer holds the Task, and no reference
            # cycle keeps a failed Task alive.
            self = None

    def __handle_yield(self, yielded):
        # What the coroutine yielded says what to wait for. Almost always it is a
        # Future of this loop, from an await: wait for it. None, a bare yield:
        # step again in the next loop iteration. Anything else is a mistake,
        # thrown into the coroutine at its next step.
        blocking = getattr(yielded, '_asyncio_future_blocking', None)
        if blocking and yielded is not self and _get_loop(yielded) is self._loop:
            yielded._asyncio_future_blocking = False  # seen; the next await sets it again
            yielded.add_done_callback(self.__wakeup, context=self._context)
            self._fut_waiter = yielded
            if self._must_cancel and yielded.cancel(msg=self._cancel_message):
                self._must_cancel = False  # cancel() came during this step: passed on
        elif yielded is None:
            self._loop.call_soon(self.__step, context=self._context)
        else:
            error = self.__bad_yield_error(yielded, blocking)
            self._loop.call_soon(self.__step, error, context=self._context)

    def __bad_yield_error(self, yielded, blocking):
        # The RuntimeError for a yield that is not an await of this loop's
        # Future, with asyncio's message for each mistake.
        if blocking is None:
            if inspect.isgenerator(yielded):
                return RuntimeError(f'yield was used instead of yield from for '
                                    f'generator in task {self!r} with {yielded!r}')
            return RuntimeError(f'Task got bad yield: {yielded!r}')
        if _get_loop(yielded) is not self._loop:
            return RuntimeError(f'Task {self!r} got Future {yielded!r} '
                                f'attached to a different loop')
        if not blocking:  # a Future, but yielded bare, not through __await__
            return RuntimeError(f'yield was used instead of yield from '
                                f'in task {self!r} with {yielded!r}')
        return RuntimeError(f'Task cannot await on itself: {self!r}')

    def __wakeup(self, future):
        # The done-callback on the awaited Future. Its result is not sent in:
        # Future.__await__, resumed, reads it itself.
        self.__step(_error_of(future))

    # ---- Cancellation

    def cancel(self, msg=None):
        """Ask the coroutine to stop: CancelledError(msg) is thrown in at its
        await, and it may catch it. True if the request was made, False if the
        Task is done. The Task is cancelled() only once the coroutine has let the
        CancelledError out. Each call counts one request (see cancelling())."""
        self._log_traceback = False  # as Future.cancel: lost interest, even in a failure
        if self.done():
            return False
        self._num_cancels_requested += 1
        # Cancelling the awaited Future wakes the Task with its CancelledError.
        # _fut_waiter stays: if it is a Task that refuses, it can be asked again.
        if self._fut_waiter is not None and self._fut_waiter.cancel(msg=msg):
            return True
        # No Future to cancel: __step is scheduled, or running; it throws it in.
        self._must_cancel = True
        self._cancel_message = msg
        return True

    def cancelling(self):
        """How many cancellation requests are pending: cancel() calls not
        withdrawn by uncancel(). asyncio.timeout and TaskGroup count on it."""
        return self._num_cancels_requested

    def uncancel(self):
        """Withdraw one cancellation request (its caller has handled the
        CancelledError) and return how many remain."""
        if self._num_cancels_requested > 0:
            self._num_cancels_requested -= 1
        return self._num_cancels_requested

    # ---- The rest of asyncio's API

    def set_result(self, result):
        raise RuntimeError('Task does not support set_result operation')

    def set_exception(self, exception):
        raise RuntimeError('Task does not support set_exception operation')

    def get_coro(self):
        return self._coro

    def get_context(self):
        """The contextvars context its steps run in (Python 3.12's API)."""
        return self._context

    def get_name(self):
        return self._name

    def set_name(self, value):
        self._name = str(value)

    def get_stack(self, *, limit=None):
        """The frames of the coroutine where it is suspended; once it has failed,
        those of the exception's traceback; otherwise an empty list."""
        return base_tasks._task_get_stack(self, limit)

    def print_stack(self, *, limit=None, file=None):
        """Print get_stack() as the traceback module would (to stderr by default)."""
        return base_tasks._task_print_stack(self, limit, file)

    def __del__(self):
        # Garbage while pending: its coroutine awaited a Future that nobody will
        # ever finish, since that Future's callback held the last reference
        # (all_tasks() holds Tasks weakly).
        if self._state == _PENDING and self._log_destroy_pending:
            context = {'task': self, 'message': 'Task was destroyed but it is pending!'}
            if self._source_traceback:
                context['source_traceback'] = self._source_traceback
            self._loop.call_exception_handler(context)
        super().__del__()

    def __repr__(self):
        return base_tasks._task_repr(self)


def _error_of(future):
    # What a done Future gives its Task's coroutine: its exception (for a
    # cancelled Future, its CancelledError), or None. Caught here, in a frame of
    # its own, so that the next step runs outside this except block: raised
    # inside it, a new exception in the coroutine would have this one as its
    # __context__ (the Runner of the gen chapter avoids the same trap).
    try:
        future.result()
    except BaseException as exc:
        return exc
    return None

"""gevent's ``Event`` and ``AsyncResult`` (``event.py``), on the base they share with
lock.py's ``Semaphore``: the links of something one can wait for (gevent's
``_abstract_linkable.py``).

    ready = Event()
    spawn(lambda: ready.wait() and print("go"))
    ready.set()            # the waiter wakes once this greenlet blocks

    result = AsyncResult()
    spawn(result.set, 42)
    result.get()           # 42: blocks until the spawned greenlet has run

Waiting is linking: a waiting greenlet links its Waiter's ``switch`` and switches to
the hub; once the object is ready, one loop callback calls the links in the order they
were made, so that the first to wait is the first to wake.
"""
import sys

from .exceptions import InvalidSwitchError
from .waiter import Waiter

_UNSET = object()  # an AsyncResult's value before set()


class Linkable:
    """What can be waited for: ``rawlink`` callables, called in the hub with the object
    once it is ready, and ``_wait``, built on them. Subclasses define ``ready()``."""

    runtime = None  # the Runtime this class was bound to
    _notify_all = True  # a round calls every link; False: only while ready() (Semaphore)

    def __init__(self):
        self._links = []  # callables to call with self, in the hub, oldest first
        self._notifier = None  # the scheduled call of _notify_links, while there is one

    # ---- Links

    def rawlink(self, callback):
        """Call ``callback(self)`` in the hub once ready (soon, if ready now). The
        callback runs in the hub, so it must not block."""
        if not callable(callback):
            raise TypeError(f"Expected callable: {callback!r}")
        self._links.append(callback)
        self._check_and_notify()

    def unlink(self, callback):
        """Forget a callback given to rawlink; no error if it is not there."""
        if callback in self._links:
            self._links.remove(callback)
        if not self._links and self._notifier is not None and self._notifier.pending:
            # Nobody left to tell: cancel the scheduled call, which holds self alive.
            self._notifier.stop()
            self._notifier = None

    def linkcount(self):
        """How many callbacks are linked (gevent's, for tests)."""
        return len(self._links)

    def _check_and_notify(self):
        if self.ready() and self._links and self._notifier is None:
            self._notifier = self.runtime.get_hub().loop.run_callback(self._notify_links)

    def _notify_links(self):
        """In the hub: call the links made before this call began, oldest first, each
        removed before it is called (without ``_notify_all``, only while still ready). A
        link made meanwhile (a woken greenlet that waits again) waits for the next
        round, scheduled at the end if still ready."""
        last = self._links[-1]  # never empty: unlink cancels this call when it would be
        while self._links and (self._notify_all or self.ready()):
            link = self._links.pop(0)
            try:
                link(self)
            except BaseException:  # a link must not take the hub down
                self.runtime.get_hub().handle_error((link, self), *sys.exc_info())
            if link is last:
                break
        self._notifier = None
        self._check_and_notify()

    # ---- Waiting

    def _wait(self, timeout=None):
        """Block until ready (True) or until ``timeout`` seconds pass (False). A greenlet
        that finds it ready while a notification is still scheduled waits its turn
        behind the greenlets already woken (gevent 20.5.1, its issue 1520)."""
        if self.ready() and self._notifier is None:
            return True
        with self.runtime.Timeout(timeout, False):  # False: expire silently
            self._block()
            return True
        return False

    def _block(self):
        """Link a Waiter and switch to the hub until the Waiter is called."""
        waiter = Waiter(self.runtime.get_hub())
        self.rawlink(waiter.switch)
        try:
            result = waiter.get()
        finally:
            self.unlink(waiter.switch)  # after a Timeout or a kill; a woken link is gone
        if result is not self:
            raise InvalidSwitchError(f"Invalid switch into {type(self).__name__}.wait(): {result!r}")


class Event(Linkable):
    """A flag greenlets wait for, with ``threading.Event``'s interface: ``set()`` wakes
    every greenlet blocked in ``wait()``, in the order they began to wait."""

    def __init__(self):
        super().__init__()
        self._flag = False  # set() makes it true, clear() false

    def is_set(self):
        """The flag."""
        return self._flag

    isSet = is_set  # threading's old name

    def ready(self):
        """The flag, under the name Greenlet and AsyncResult share (for ``wait()``)."""
        return self._flag

    def set(self):
        """Make the flag true and wake every waiter, from the hub, soon."""
        self._flag = True
        self._check_and_notify()

    def clear(self):
        """Make the flag false: later wait() calls block. A waiter already being woken
        still returns True: the flag was set while it waited."""
        self._flag = False

    def wait(self, timeout=None):
        """Block until the flag is true; return it, or False after ``timeout`` seconds."""
        return self._wait(timeout)

    def _at_fork_reinit(self):
        """threading calls this on a Thread's Event in a forked child. The greenlets,
        waiters included, were copied with the process; a round scheduled in the
        parent's loop is forgotten, so that set() can schedule one."""
        self._notifier = None

    def __repr__(self):
        state = "set" if self._flag else "clear"
        return f"<{type(self).__name__} at {id(self):#x} {state} _links[{len(self._links)}]>"


class AsyncResult(Linkable):
    """A one-time event that carries a value or an error: ``get()`` blocks until
    ``set(value)`` or ``set_exception(error)``, then returns the value or raises."""

    def __init__(self):
        super().__init__()
        self._value = _UNSET  # what set() stored
        self._exc_info = ()  # (type, error, traceback) that set_exception() stored

    # ---- The outcome

    def ready(self):
        """It holds a value or an error."""
        return self._value is not _UNSET or bool(self._exc_info)

    def successful(self):
        """It holds a value."""
        return self._value is not _UNSET

    @property
    def value(self):
        """The value given to set(), or None."""
        return None if self._value is _UNSET else self._value

    @property
    def exception(self):
        """The error given to set_exception(), or None."""
        return self._exc_info[1] if self._exc_info else None

    @property
    def exc_info(self):
        """The (type, error, traceback) of set_exception(), or ()."""
        return self._exc_info

    def set(self, value=None):
        """Store ``value`` and wake every waiter."""
        self._value = value
        self._check_and_notify()

    def set_exception(self, exception, exc_info=None):
        """Store ``exception`` and wake every waiter; ``exc_info``, sys.exc_info()'s
        triple, gives the traceback get() raises it with."""
        self._exc_info = tuple(exc_info) if exc_info else (type(exception), exception, None)
        self._check_and_notify()

    # ---- Waiting for it

    def get(self, block=True, timeout=None):
        """Return the value or raise the error, waiting for one if need be. Not ready
        when ``block`` is false, or after ``timeout`` seconds: raise Timeout."""
        if not self.ready():
            if not block:
                raise self.runtime.Timeout()
            with self.runtime.Timeout(timeout):  # expires by raising itself, here
                self._block()
        if self.successful():
            return self._value
        _, error, traceback = self._exc_info
        raise error if traceback is None else error.with_traceback(traceback)

    def get_nowait(self):
        """get() without blocking: Timeout if not ready."""
        return self.get(block=False)

    def wait(self, timeout=None):
        """Block until ready or ``timeout`` seconds; return the value (None if it holds
        an error, or if time ran out). Never raises the error."""
        self._wait(timeout)
        return self.value

    def __call__(self, source):
        """Take the outcome of ``source``, a Greenlet: ``task.link(result)`` works."""
        if source.successful():
            self.set(source.value)
        else:
            self.set_exception(source.exception, getattr(source, "exc_info", None))

    # ---- concurrent.futures.Future's names (gevent offers them; none cancels)

    def result(self, timeout=None):
        return self.get(timeout=timeout)

    set_result = set
    done = ready

    def cancel(self):
        return False

    def cancelled(self):
        return False

    def __repr__(self):
        if not self.ready():
            outcome = "unset"
        elif self.successful():
            outcome = f"value={self._value!r}"
        else:
            outcome = f"exception={self.exception!r}"
        return f"<{type(self).__name__} {outcome} _links[{len(self._links)}]>"

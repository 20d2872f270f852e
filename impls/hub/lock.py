"""gevent's locks (``gevent/lock.py``, ``_semaphore.py``, ``thread.py``'s ``LockType``):
a greenlet that must wait for one parks in the hub, and the others run.

    sem = Semaphore(2)        # two greenlets at a time
    with sem:
        ...                   # a third blocks in `with` until one of these leaves

``Semaphore`` is a count on event.py's ``Linkable``: ready while a count is free, and
a round of its links wakes waiters only while one still is, each taking its count before
the next is considered. ``BoundedSemaphore`` refuses to be released above its start,
``LockType`` is that with ``threading.Lock``'s signature (what the thread patch
installs), ``RLock`` is reentrant per greenlet, ``DummySemaphore`` never blocks.

Every lock here belongs to one thread's hub, as gevent's do unless they detect
several threads (gevent then hands wake-ups between hubs): ours do not.
"""
import _thread

from .event import Linkable


class Semaphore(Linkable):
    """A count of acquires left; ``acquire`` at zero waits for a ``release``."""

    _notify_all = False  # a round wakes waiters only while a count is left for them

    def __init__(self, value=1):
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        super().__init__()
        self.counter = value  # acquires left before one blocks

    def locked(self):
        """True if an acquire would block now."""
        return self.counter <= 0

    def ready(self):
        """True if an acquire would not block now."""
        return self.counter > 0

    def release(self):
        """Add one to the count and wake the first waiter; return the count. Anyone
        may release, whether or not it acquired (it is not a mutex)."""
        self.counter += 1
        self._check_and_notify()
        return self.counter

    # ---- Acquiring: take a count now, or wait in the hub for one

    def acquire(self, blocking=True, timeout=None):
        """Take one count: at once if there is one, else (if ``blocking``) wait up to
        ``timeout`` seconds. True if taken, False if not."""
        if self.counter > 0:
            self.counter -= 1
            return True
        if not blocking or not self._wait(timeout):
            return False
        # The round woke us only because a count was free, and nothing ran
        # between that and this line: it is ours.
        self.counter -= 1
        return True

    def wait(self, timeout=None):
        """Wait until the semaphore could be acquired, without acquiring it; return
        the count (0 if the timeout passed, or other waiters took it first)."""
        if self.counter <= 0:
            self._wait(timeout)
        return self.counter

    def __enter__(self):
        self.acquire()

    def __exit__(self, type, value, tb):
        self.release()

    def _at_fork_reinit(self):
        # The stdlib calls this on the locks of logging and threading in a forked
        # child: the waiters were greenlets of the parent, gone in the child.
        self._links, self._notifier = [], None


class BoundedSemaphore(Semaphore):
    """A semaphore that may not be released above its initial value: releasing
    more often than acquiring is a bug, and says so."""

    _OVER_RELEASE_ERROR = ValueError  # what a release too many raises (LockType's differs)

    def __init__(self, value=1):
        super().__init__(value)
        self._initial_value = value  # the count it may not exceed

    def release(self):
        if self.counter >= self._initial_value:
            raise self._OVER_RELEASE_ERROR("Semaphore released too many times")
        return super().release()

    def _at_fork_reinit(self):
        super()._at_fork_reinit()
        self.counter = self._initial_value


class LockType(BoundedSemaphore):
    """``threading.Lock`` made of a BoundedSemaphore(1): gevent's
    ``gevent.thread.LockType``, the lock ``patch_thread`` installs. The signature,
    the bad arguments and the error of a release too many are ``_thread.lock``'s."""

    _OVER_RELEASE_ERROR = _thread.error  # RuntimeError, as the stdlib lock raises

    def __init__(self):
        super().__init__(1)

    def __init_subclass__(cls):
        # _thread.lock cannot be subclassed, nor can gevent's. The one subclass
        # allowed is the Runtime's own, which binds the class (it sets runtime).
        if "runtime" not in vars(cls):
            raise TypeError

    def acquire(self, blocking=True, timeout=-1):
        """``_thread.lock.acquire``: ``timeout`` -1 waits for ever."""
        timeout = None if timeout == -1 else timeout
        if not blocking and timeout is not None:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if timeout is not None and timeout < 0:
            raise ValueError("timeout value must be strictly positive")
        if timeout is not None and timeout > _thread.TIMEOUT_MAX:
            raise OverflowError("timeout value is too large")
        acquired = super().acquire(blocking, timeout)
        hub = self.runtime.get_hub_if_exists()  # none on a monitor's thread: make none
        if not acquired and not blocking and hub is not None and self.runtime.getcurrent() is not hub:
            # A spin lock (try, fail, try again) must let the holder run between
            # tries, or it spins for ever on the one OS thread there is.
            self.runtime.sleep()
        return acquired


class RLock:
    """A mutex that the greenlet holding it may acquire again; each acquire needs its
    release, and only the holder may release."""

    runtime = None  # the Runtime this class was bound to

    def __init__(self):
        self._block = self.runtime.Semaphore(1)  # held while anyone owns the lock
        self._owner = None  # the greenlet that holds it
        self._count = 0  # how many times the owner acquired it

    def acquire(self, blocking=True, timeout=None):
        """Acquire, or count one more acquire of the owner; True (1 for the owner's
        repeats, as gevent returns) or False if not acquired."""
        me = self.runtime.getcurrent()
        if self._owner is me:
            self._count += 1
            return 1
        acquired = self._block.acquire(blocking, timeout)
        if acquired:
            self._owner, self._count = me, 1
        return acquired

    def release(self):
        """Undo one acquire; the last one frees the lock for others."""
        if self._owner is not self.runtime.getcurrent():
            current = self.runtime.getcurrent()
            raise RuntimeError(f"cannot release un-acquired lock. Owner: {self._owner!r} Current: {current!r}")
        self._count -= 1
        if not self._count:
            self._owner = None
            self._block.release()

    def locked(self):
        return self._count > 0

    def __enter__(self):
        return self.acquire()

    def __exit__(self, type, value, tb):
        self.release()

    # ---- What threading.Condition uses to wait on a lock held several times over

    def _release_save(self):
        state = self._count, self._owner
        self._count, self._owner = 0, None
        self._block.release()
        return state

    def _acquire_restore(self, state):
        self._block.acquire()
        self._count, self._owner = state

    def _is_owned(self):
        return self._owner is self.runtime.getcurrent()


class DummySemaphore:
    """A Semaphore with no bound: nothing ever blocks. It stands in for a real one
    where the resource is unlimited (gevent's ``Pool`` without a size uses it)."""

    def __init__(self, value=None):
        pass  # accepted and ignored, so that it can replace a Semaphore(value)

    def locked(self):
        return False

    def ready(self):
        return True

    def release(self):
        pass

    def rawlink(self, callback):
        pass

    def unlink(self, callback):
        pass

    def wait(self, timeout=None):
        return 1

    def acquire(self, blocking=True, timeout=None):
        return True

    def __enter__(self):
        pass

    def __exit__(self, type, value, tb):
        pass

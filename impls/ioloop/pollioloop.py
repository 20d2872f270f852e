"""The IOLoop of tornado 4.5 (``PollIOLoop``), rewritten to be read.

One thread runs the loop. Each iteration runs the callbacks queued so far, then
the timers that are due, then waits in a poller (epoll, poll or select) for the
registered file descriptors, the waker pipe or the next deadline, and runs the
handlers of the fds that are ready. The pieces live next door: ``pollers``,
``waker``, ``timeouts`` and ``future``.
"""
import datetime
import errno
import logging
import numbers
import os
import signal
import threading
import time
from collections import deque
from threading import get_ident

from . import pollers
from .future import Future
from .timeouts import TimeoutQueue
from .waker import Waker

__all__ = ["IOLoop", "Future", "TimeoutError"]

app_log = logging.getLogger("tornado.application")  # the logger tornado users configure

# run_sync's timeout raises the builtin, as tornado 6 does (tornado.ioloop.TimeoutError
# is an alias of it there); 4.5 had a class of its own.
TimeoutError = TimeoutError

_POLL_TIMEOUT = 3600.0  # the longest wait in poll(), when nothing else is scheduled


class IOLoop:
    """A level-triggered I/O loop: callbacks, timers and file descriptors, one thread.

        loop = IOLoop()

        def on_readable(sock, events):     # gets the object it was registered with
            data = sock.recv(4096)
            ...

        loop.add_handler(sock, on_readable, IOLoop.READ)
        loop.add_callback(print, "first thing in the loop")
        loop.call_later(5.0, loop.stop)
        loop.start()                       # returns after stop()
        loop.close()

    Only ``add_callback`` is safe to call from another thread; everything else
    belongs to the thread that runs the loop. A new IOLoop becomes the thread's
    current one if there is none (``make_current=None``); ``make_current=True``
    insists (RuntimeError if there already is one), ``False`` never does.
    ``time_func`` replaces the clock (``time.time``); ``poller`` names one of
    ``pollers.POLLERS`` ("epoll", "poll", "select"; the best available by default).
    """

    # Event bits for add_handler. ERROR is always watched, asked for or not.
    NONE = 0
    READ = pollers.READ  # EPOLLIN
    WRITE = pollers.WRITE  # EPOLLOUT
    ERROR = pollers.ERROR  # EPOLLERR | EPOLLHUP

    # ---- Per-thread and global state
    _current = threading.local()  # .instance: this thread's current IOLoop
    _instance = None  # the global IOLoop of instance(), created on first use
    _instance_lock = threading.Lock()  # so that two threads create only one

    def __init__(self, make_current=None, time_func=None, poller=None):
        current = IOLoop.current(instance=False)
        if make_current and current is not None:
            raise RuntimeError("current IOLoop already exists")

        # ---- IOLoop state
        self._callbacks = deque()  # (callback, args, kwargs) for the next iteration
        self._timeouts = TimeoutQueue()  # the timers, earliest deadline first
        self._handlers = {}  # fd -> (the object registered, its handler)
        self._events = {}  # fd -> events polled but not yet handled this iteration
        self._poller = pollers.make_poller(poller)  # what the loop waits in
        self._waker = Waker()  # a pipe that ends the wait when written to
        self._time_func = time_func or time.time  # the clock of time() and deadlines
        self._running = False  # inside start(), and stop() not called since
        self._stopped = False  # stop() was called: start() must return at once
        self._closing = False  # close() was called
        self._thread_ident = get_ident()  # the loop's thread: its creator until start() (4.5: None)

        self.add_handler(self._waker.fileno(), lambda fd, events: self._waker.consume(), self.READ)
        if current is None and (make_current or make_current is None):
            self.make_current()

    # ---- The current IOLoop and the global one

    @staticmethod
    def current(instance=True):
        """The current thread's IOLoop: the one running in it, or the one made
        current. If there is none: ``instance()`` if ``instance`` is true, else None."""
        current = getattr(IOLoop._current, "instance", None)
        if current is None and instance:
            return IOLoop.instance()
        return current

    def make_current(self):
        """Make this the current thread's IOLoop (start() does it while it runs)."""
        IOLoop._current.instance = self

    @staticmethod
    def clear_current():
        """Leave the current thread without a current IOLoop."""
        IOLoop._current.instance = None

    @staticmethod
    def instance():
        """The global IOLoop, created on first use; safe from any thread. Meant
        to reach the main thread's loop from others; prefer ``current()``."""
        if IOLoop._instance is None:
            with IOLoop._instance_lock:
                if IOLoop._instance is None:  # checked again: another thread may have won
                    IOLoop._instance = IOLoop()
        return IOLoop._instance

    @staticmethod
    def initialized():
        """Whether the global IOLoop exists."""
        return IOLoop._instance is not None

    def install(self):
        """Make this the global IOLoop. RuntimeError if there already is one
        (4.5 asserted)."""
        if IOLoop._instance is not None:
            raise RuntimeError("the global IOLoop already exists; clear_instance() first")
        IOLoop._instance = self

    @staticmethod
    def clear_instance():
        """Forget the global IOLoop (without closing it)."""
        IOLoop._instance = None

    # ---- Life cycle

    def start(self):
        """Run the loop until ``stop()``. It becomes the thread's current IOLoop
        meanwhile. Called while running: RuntimeError. After a ``stop()`` that
        came before it: returns at once, running nothing. After ``close()``:
        RuntimeError. Once it has returned, the loop can be started again."""
        if self._running:
            raise RuntimeError("IOLoop is already running")
        if self._closing:
            raise RuntimeError("IOLoop is closed")
        if self._stopped:
            self._stopped = False
            return
        old_current = getattr(IOLoop._current, "instance", None)
        IOLoop._current.instance = self
        self._thread_ident = get_ident()
        self._running = True
        old_wakeup_fd = None
        try:
            old_wakeup_fd = self._install_wakeup_fd()
            self._run()
        finally:
            # Also when an exception escapes (KeyboardInterrupt): 4.5 left _running
            # set then, and the loop could not be started again.
            self._running = False
            self._stopped = False  # so that the next stop() / start() pair works
            IOLoop._current.instance = old_current
            if old_wakeup_fd is not None:
                signal.set_wakeup_fd(old_wakeup_fd)

    def _run(self):
        # Everything used once per callback, timer or event is bound to a local
        # first: a local is an index into the frame, an attribute a lookup per use.
        callbacks = self._callbacks
        popleft = callbacks.popleft
        timeouts = self._timeouts
        heap = timeouts.heap  # compaction rebuilds it in place: still the heap later
        events = self._events
        handlers = self._handlers
        poll = self._poller.poll
        clock = self.time
        run_callback = self._run_callback
        while True:
            # Only the callbacks queued before this point run in this iteration;
            # the ones they add wait for the next, so that they cannot starve I/O.
            ncallbacks = len(callbacks)

            # Take the due timers before running anything, so that a timer added
            # by a callback or a timer cannot also run in this iteration.
            due = timeouts.pop_due(clock()) if heap else ()

            for _ in range(ncallbacks):
                callback, args, kwargs = popleft()
                run_callback(callback, args, kwargs)
            for timeout in due:
                callback = timeout.callback
                if callback is not None:  # an earlier callback may have cancelled it
                    timeout.callback = None  # run: remove_timeout is now a no-op
                    run_callback(callback, timeout.args, timeout.kwargs)
            # Let what the callbacks' closures hold be freed before we wait.
            due = timeout = callback = args = kwargs = None

            if callbacks:  # added during this iteration: do not wait, run them
                poll_timeout = 0.0
            elif heap:  # wake at the first deadline (the clock has moved on since)
                poll_timeout = max(0.0, min(heap[0][0] - clock(), _POLL_TIMEOUT))
            else:
                poll_timeout = _POLL_TIMEOUT

            if not self._running:  # stop() was called in this iteration
                break

            try:
                event_pairs = poll(poll_timeout)
            except InterruptedError:
                # A signal ended the wait. Python retries by itself (PEP 475)
                # unless a handler raises; a poller written otherwise may not.
                continue

            # One fd at a time, popped from a dict rather than walked in a list:
            # a handler may remove another fd, and remove_handler then drops its
            # events, so that they never reach a handler that was removed.
            events.update(event_pairs)
            while events:
                fd, fd_events = events.popitem()
                try:
                    fd_obj, handler = handlers[fd]
                    handler(fd_obj, fd_events)
                except Exception:
                    # 4.5 swallowed EPIPE here without a word; we log it too.
                    self.handle_callback_exception(handlers.get(fd))
            fd_obj = handler = None

    def stop(self):
        """Make ``start()`` return after the current iteration (the rest of its
        callbacks and due timers still run). When the loop is not running, the
        next ``start()`` returns at once instead. Twice: the same as once."""
        self._running = False
        self._stopped = True
        self._waker.wake()

    def close(self, all_fds=False):
        """Release the poller and the waker; with ``all_fds``, also close every
        registered fd or object. Pending callbacks and timers are dropped, and a
        later ``add_callback`` is ignored. While running: RuntimeError (stop it
        and let start() return first). Twice: the second call does nothing."""
        if self._running:
            raise RuntimeError("cannot close a running IOLoop")
        if self._closing:
            return
        self._closing = True
        self.remove_handler(self._waker.fileno())
        if all_fds:
            for fd_obj, _ in list(self._handlers.values()):
                self.close_fd(fd_obj)
        self._waker.close()
        self._poller.close()
        self._callbacks.clear()
        self._timeouts.clear()

    # ---- Callbacks

    def add_callback(self, callback, *args, **kwargs):
        """Call ``callback(*args, **kwargs)`` in the loop's next iteration.

        The one method safe from any thread: appending to a deque is atomic, and
        a call from another thread wakes the loop from its wait. From the loop's
        own thread no wake is needed: it will not wait while callbacks are queued.
        After ``close()`` the callback is dropped silently (a thread may race
        with the close)."""
        if self._closing:
            return
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {callback!r}")
        self._callbacks.append((callback, args, kwargs))
        if get_ident() != self._thread_ident:
            self._waker.wake()

    # In 4.5 these two differed from add_callback only in how they treated the
    # caller's stack_context, which does not exist here.
    add_callback_from_signal = add_callback
    spawn_callback = add_callback

    def _run_callback(self, callback, args, kwargs):
        # Run one callback; what it raises is logged, and the loop goes on. If it
        # returns a Future (a coroutine started with spawn_callback), watch it, so
        # that its exception is logged too: result() re-raises it in a callback.
        try:
            result = callback(*args, **kwargs)
        except Exception:
            self.handle_callback_exception(callback)
        else:
            if result is not None and isinstance(result, Future):
                self.add_future(result, Future.result)

    def handle_callback_exception(self, callback):
        """Called inside ``except`` when a callback, timer or handler raises: logs
        the exception (from ``sys.exc_info``) to "tornado.application". Override
        it to report errors differently."""
        app_log.error("Exception in callback %r", callback, exc_info=True)

    # ---- Timers

    def time(self):
        """The loop's clock: ``time_func`` if given, else ``time.time``."""
        return self._time_func()

    def call_at(self, when, callback, *args, **kwargs):
        """Call ``callback(*args, **kwargs)`` at ``when`` on the loop's clock and
        return a handle for ``remove_timeout``. Timers with equal deadlines run in
        the order they were added; a deadline already past runs in the next
        iteration, after the callbacks. Not thread-safe: use add_callback."""
        if not isinstance(when, numbers.Real):
            raise TypeError(f"Unsupported deadline {when!r}")
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {callback!r}")
        if self._closing:
            raise RuntimeError("IOLoop is closed")
        return self._timeouts.push(when, callback, args, kwargs)

    def call_later(self, delay, callback, *args, **kwargs):
        """``call_at`` in ``delay`` seconds from now."""
        return self.call_at(self.time() + delay, callback, *args, **kwargs)

    def add_timeout(self, deadline, callback, *args, **kwargs):
        """``call_at``, with ``deadline`` a time on the loop's clock or a
        ``datetime.timedelta`` from now. Anything else: TypeError."""
        if isinstance(deadline, datetime.timedelta):
            deadline = self.time() + deadline.total_seconds()
        return self.call_at(deadline, callback, *args, **kwargs)

    def remove_timeout(self, timeout):
        """Cancel a timer. Twice, or after it ran: does nothing."""
        self._timeouts.cancel(timeout)

    # ---- File descriptors

    def add_handler(self, fd, handler, events):
        """Call ``handler(fd, events)`` whenever ``fd`` is ready for ``events``
        (READ | WRITE; ERROR is always included). ``fd`` is an int or an object
        with ``fileno()``; the handler receives whichever was given.

        Bad input raises and changes nothing: a negative fd ValueError, a closed
        one OSError (EBADF), an fd that already has a handler FileExistsError.
        (4.5 replaced the handler before the poller refused the fd, losing the
        first one; tornado 6 raises ValueError.)"""
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {handler!r}")
        fd, fd_obj = self.split_fd(fd)
        if fd in self._handlers:
            raise FileExistsError(errno.EEXIST, f"fd {fd} already has a handler on this IOLoop")
        self._poller.register(fd, events | self.ERROR)
        self._handlers[fd] = (fd_obj, handler)

    def update_handler(self, fd, events):
        """Watch ``fd`` for ``events`` instead. No handler: FileNotFoundError."""
        fd, _ = self.split_fd(fd)
        if fd not in self._handlers:
            raise FileNotFoundError(errno.ENOENT, f"fd {fd} has no handler on this IOLoop")
        self._poller.modify(fd, events | self.ERROR)

    def remove_handler(self, fd):
        """Stop watching ``fd``, even from inside a handler: its events not yet
        handled in this iteration are dropped. Unknown fd, or twice: no-op."""
        fd, _ = self.split_fd(fd)
        if self._handlers.pop(fd, None) is None:
            return
        self._events.pop(fd, None)
        try:
            self._poller.unregister(fd)
        except OSError:
            pass  # closed before being removed: epoll has forgotten it already

    def split_fd(self, fd):
        """``(fd number, the object given)`` for an int or an object with fileno()."""
        if isinstance(fd, int):
            return fd, fd
        return fd.fileno(), fd

    def close_fd(self, fd):
        """Close an int fd or an object with ``close()``; errors are ignored."""
        try:
            if isinstance(fd, int):
                os.close(fd)
            else:
                fd.close()
        except OSError:
            pass

    # ---- Futures

    def add_future(self, future, callback):
        """Call ``callback(future)`` in the loop's next iteration once ``future``
        is done (the next one already, if it is). Safe for a Future that another
        thread finishes (concurrent.futures): the callback goes through add_callback."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {callback!r}")
        future.add_done_callback(lambda future: self.add_callback(callback, future))

    def run_sync(self, func, timeout=None):
        """Start the loop, call ``func()``, stop when it is done, return its result.

        ``func`` returns None or a Future (whose result is returned, or whose
        exception is raised); anything else is a TypeError (4.5's BadYieldError
        came from tornado.gen). An exception from ``func`` is re-raised. After
        ``timeout`` seconds: TimeoutError, with the Future left unfinished; if
        something else stops the loop first: RuntimeError."""
        outcome = []  # the Future of func's outcome, once func has been called
        expired = []  # not empty once the timeout has expired

        def run():
            outcome.append(_call_for_future(func))
            self.add_future(outcome[0], lambda future: self.stop())

        def expire():
            expired.append(True)
            self.stop()

        self.add_callback(run)
        timer = None if timeout is None else self.call_later(timeout, expire)
        try:
            self.start()
        finally:
            if timer is not None:
                self.remove_timeout(timer)
        if outcome and outcome[0].done():
            return outcome[0].result()
        if expired:
            raise TimeoutError(f"Operation timed out after {timeout} seconds")
        raise RuntimeError("IOLoop stopped before the Future completed")

    # ---- Signals

    def _install_wakeup_fd(self):
        # A signal that arrives just before poll() starts would run its Python
        # handler only after poll() returns, maybe an hour later. With the waker
        # as the wakeup fd, the C-level handler writes to it and poll() returns.
        # Only the main thread may do this (others get ValueError), and an fd set
        # by someone else (Twisted, say) is put back and left alone, as in 4.5.
        # Returns what start() must restore, or None.
        try:
            old_wakeup_fd = signal.set_wakeup_fd(self._waker.write_fileno())
        except ValueError:
            return None
        if old_wakeup_fd != -1:
            signal.set_wakeup_fd(old_wakeup_fd)
            return None
        return old_wakeup_fd


def _call_for_future(func):
    """Call ``func`` and return a Future of its outcome: the Future it returned,
    or a new one finished with None or with the exception it raised."""
    future = Future()
    try:
        result = func()
    except Exception as exc:
        future.set_exception(exc)
        return future
    if isinstance(result, Future):
        return result
    if result is None:
        future.set_result(None)
    else:
        future.set_exception(TypeError(f"run_sync: expected None or a Future, got {result!r}"))
    return future

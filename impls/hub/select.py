"""Waiting for file descriptors without blocking the thread: gevent's ``select.py``
(``select`` and ``poll``) and ``selectors.py`` (a ``DefaultSelector``).

Who is ready is always the kernel's answer: we ask it with the real call and a zero
timeout, which also raises the stdlib's own errors for a bad descriptor. Only while
the answer is "nobody" does the greenlet wait, in the hub, on io watchers for the
descriptors (or a timer for the timeout); when one fires, we ask the kernel again.

    r, w, x = select(runtime, [sock], [], [], 5.0)   # other greenlets run meanwhile
"""
import functools
import numbers
import select as _stdlib
import selectors
import time
import types

from .waiter import Waiter

READ, WRITE = 1, 2  # libev's EV_READ and EV_WRITE
_select, _poll = _stdlib.select, _stdlib.poll  # the real ones: a Runtime imports us before it patches
_monotonic = time.monotonic


def select(runtime, rlist, wlist, xlist, timeout=None):
    """``select.select`` that blocks only the current greenlet. ``xlist`` is passed to
    the kernel, but not waited for: exceptional conditions have no watcher."""
    if timeout is not None and not isinstance(timeout, numbers.Real):
        raise TypeError("timeout must be a float or None")
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be non-negative")
    rlist, wlist, xlist = _sequence(rlist), _sequence(wlist), _sequence(xlist)

    def watch():
        return [(_fileno(obj), READ) for obj in rlist] + [(_fileno(obj), WRITE) for obj in wlist]

    return _until_ready(runtime, lambda: _select(rlist, wlist, xlist, 0), watch, timeout)


def _sequence(objects):
    # Each list is used twice (the kernel, the watchers): an iterator would be spent.
    try:
        return list(objects)
    except TypeError:
        raise TypeError("arguments 1-3 must be sequences") from None


def _fileno(obj):
    return obj if isinstance(obj, int) else obj.fileno()


class poll:
    """``select.poll`` that blocks only the current greenlet. A real poll object holds
    the registrations (it checks them as the stdlib does, and answers ``poll``); we
    keep the same masks, to know what to watch while we wait."""

    runtime = None  # the Runtime this class was bound to

    def __init__(self):
        self._kernel = _poll()  # the real poll object: the registrations, and the answer
        self._masks = {}  # fd -> its eventmask, as registered

    def register(self, fd, eventmask=_stdlib.POLLIN | _stdlib.POLLPRI | _stdlib.POLLOUT):
        self._kernel.register(fd, eventmask)
        self._masks[_fileno(fd)] = eventmask

    def modify(self, fd, eventmask):
        self._kernel.modify(fd, eventmask)  # an fd not registered: FileNotFoundError
        self._masks[_fileno(fd)] = eventmask

    def unregister(self, fd):
        self._kernel.unregister(fd)  # an fd not registered: KeyError
        del self._masks[_fileno(fd)]

    def poll(self, timeout=None):
        """The list of ``(fd, events)`` ready; ``timeout`` in milliseconds, None or
        negative to wait as long as it takes."""
        if timeout is not None and not isinstance(timeout, numbers.Real):
            raise TypeError("timeout must be an integer or None")
        seconds = None if timeout is None or timeout < 0 else timeout / 1000
        return _until_ready(self.runtime, lambda: self._kernel.poll(0), self._watch, seconds)

    def _watch(self):
        return [(fd, _events(mask)) for fd, mask in self._masks.items() if _events(mask)]


def _events(mask):
    """The watcher events for a poll mask (POLLPRI has no watcher: not waited for)."""
    return (READ if mask & _stdlib.POLLIN else 0) | (WRITE if mask & _stdlib.POLLOUT else 0)


# ---- The one idea: ask the kernel; while nobody is ready, wait for a watcher and ask again


def _until_ready(runtime, ask, watch, timeout):
    """``ask()`` the kernel; while its answer is empty, wait in the hub until a watcher
    of ``watch()`` (``(fd, events)`` pairs, asked for after the kernel has checked the
    fds) fires or ``timeout`` seconds pass. An answer ready at once still lets the other
    greenlets run first, as gevent's does: a loop over an fd that is always ready must
    not starve them."""
    ready = ask()
    if any(ready) or timeout == 0:
        runtime.sleep(0)
        return ready
    watched = watch()
    deadline = None if timeout is None else _monotonic() + timeout
    while not any(ready):
        remaining = None if deadline is None else deadline - _monotonic()
        if (remaining is not None and remaining <= 0) or not _wait_any(runtime, watched, remaining):
            break  # the timeout passed: the last answer is the answer
        ready = ask()  # a watcher fired; the kernel may still say nobody (a spurious wake-up)
    return ready


def _wait_any(runtime, watch, timeout):
    """Block the current greenlet until one of the watchers fires (True) or
    ``timeout`` seconds pass (False). The wake-up is a callback, so that every watcher
    the same loop pass fires has run before we look: one asking after it wins nothing."""
    hub = runtime.get_hub()
    waiter = Waiter(hub)
    wake = []  # the scheduled wake-up, once a watcher fired
    watchers = [hub.loop.io(fd, events) for fd, events in watch]
    timer = None if timeout is None else hub.loop.timer(timeout)

    def fired(value):
        if not wake:
            wake.append(hub.loop.run_callback(waiter.switch, value))

    try:
        for watcher in watchers:
            watcher.start(fired, True)
        if timer is not None:
            timer.start(fired, False, update=True)
        return waiter.get()
    finally:
        for watcher in watchers + ([timer] if timer is not None else []):
            watcher.close()
        for callback in wake:  # a wake-up scheduled as time ran out
            callback.stop()


# ---- Namespaces: gevent.select and gevent.selectors for one runtime


def module(runtime):
    """A stand-in for ``gevent.select``: the stdlib's constants, our select and poll."""
    namespace = types.SimpleNamespace(**{k: v for k, v in vars(_stdlib).items() if k.isupper()})
    namespace.error = OSError
    namespace.select = functools.partial(select, runtime)
    namespace.poll = runtime._bind(poll)
    return namespace


def selectors_module(poll_class):
    """A stand-in for ``gevent.selectors``: a ``DefaultSelector`` that is the stdlib's
    ``PollSelector`` over our poll (its ``_selector_cls``, the class it makes its poll
    object of). gevent writes a selector of its own, which keeps its watchers from one
    ``select()`` to the next; ours makes them anew each time, and reuses a well-kept class.

    It bears gevent's name, ``GeventSelector``: named ``PollSelector``, it would pass for
    ``selectors.PollSelector``, and a test that mocks that class's ``_selector_cls``
    (CPython's ``test_modify_unregister``) would never reach ours."""
    attributes = {"_selector_cls": poll_class, "__module__": __name__}
    selector = type("GeventSelector", (selectors.PollSelector,), attributes)
    return types.SimpleNamespace(DefaultSelector=selector, GeventSelector=selector,
                                 EVENT_READ=selectors.EVENT_READ, EVENT_WRITE=selectors.EVENT_WRITE)

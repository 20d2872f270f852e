"""The watchers: gevent's watcher API (``corecext.pyx``) over libev's watcher kinds (``ev.c``).

    w = loop.io(sock.fileno(), READ)
    w.start(on_readable, sock)      # on_readable(sock), each time sock is readable
    ...
    w.stop()

A watcher has two layers, as in gevent. libev's: ``_active`` (0, or the watcher's
slot in the loop's structure for its kind), ``_pending`` (0, or its slot in the
loop's pending queue) and ``_priority``; each kind's ``_ev_start`` / ``_ev_stop`` is
libev's ``ev_<kind>_start`` / ``ev_<kind>_stop``. gevent's: a Python callback with
its args, the ``ref`` bookkeeping, and ``_invoke``, which calls the callback when the
loop finds the watcher pending (``gevent_callback`` in gevent's ``callbacks.c``).
"""
import errno
import fcntl
import numbers
import operator
import os
import signal as _signalmodule
from reprlib import recursive_repr

from gevent.monkey import get_original

from .ev import (
    _IOFDSET, ANFD_REIFY, ASYNC, CHECK, CHILD, CLEANUP, CUSTOM, EMBED, ERROR, FORK, IDLE,
    MAXPRI, MINPRI, PERIODIC, PREPARE, READ, READWRITE, SIGNAL, STAT, WRITE,
)
from .timerheap import adjustheap, upheap

_signal_signal = get_original("signal", "signal")  # gevent patches it to treat SIGCHLD its own way


class _EVENTSType:
    """The placeholder that ``io.start(..., pass_events=True)`` puts first in the args;
    the revents take its place when the callback is called."""

    def __repr__(self):
        return "gevent.core.EVENTS"


GEVENT_CORE_EVENTS = EVENTS = _EVENTSType()

# The two bits of a watcher's ref bookkeeping (corecext's FLAG_WATCHER_*)
_NEEDS_EVREF = 2  # we unref'd the loop for this watcher and owe it a ref
_UNREF_BEFORE_START = 4  # ref=False: this watcher must not keep run() going


class watcher:
    """What every kind of watcher shares. A watcher is *active* from start() until
    stop(), or until libev stops it (a timer that fired, an io watcher on a bad fd);
    it is *pending* from the moment the loop sees its event until its callback is
    called, or until stop(). A watcher should belong to one loop and one thread."""

    __slots__ = ("loop", "_callback", "_args", "_flags", "_active", "_pending", "_priority")

    def __init__(self, loop, ref=True, priority=None):
        self.loop = loop  # the loop this watcher belongs to
        self._callback = None  # what start() was given, called when the event happens
        self._args = None  # its arguments; None while stopped
        self._flags = 0 if ref else _UNREF_BEFORE_START  # see "ref", below
        self._active = 0  # libev's ev_active: 0, or the slot in its kind's structure
        self._pending = 0  # libev's ev_pending: 0, or 1 + its index in the pending queue
        self._priority = 0 if priority is None else operator.index(priority)

    # ---- Starting and stopping: gevent's layer over libev's

    def start(self, callback, *args):
        """Watch for the event: call ``callback(*args)`` each time it happens. Starting
        an active watcher only replaces the callback and args. TypeError if the
        callback is not callable; ValueError if the loop was destroyed."""
        self._start(callback, args)

    def _start(self, callback, args):
        """corecext's _watcher_start, for start() and the kinds' own versions of it."""
        self.loop._check()
        if not callable(callback):
            raise TypeError("Expected callable, not %r" % (callback,))
        self._callback = callback
        self._args = args
        self._ev_start()  # first, so that a kind refusing to start leaves the refs alone
        self._libev_unref()

    def stop(self):
        """Stop watching; a pending event is dropped. Stopping twice is harmless."""
        self.loop._check()
        self._libev_ref()
        self._callback = None
        self._args = None
        self._ev_stop()

    def close(self):
        """stop(): there is no native memory to free (gevent's CFFI watchers have some)."""
        self.stop()

    def __enter__(self):
        return self

    def __exit__(self, t, v, tb):
        self.close()

    def feed(self, revents, callback, *args):
        """Make the watcher pending now with ``revents``, as if its event had happened
        (ev_feed_event), with this callback and args; it runs in the loop's next pass
        over pending watchers, started or not."""
        self.loop._check()
        self.callback = callback
        self._args = args
        self._libev_unref()
        self._pri_adjust()  # libev indexes the queue by it, and only ev_start clamps it
        self.loop._feed_event(self, revents)

    # ---- ref: whether an active watcher keeps run() going
    # libev counts active watchers in the loop's activecnt, and run() returns when it
    # drops to 0. A watcher that must not count (ref=False) takes its count back with
    # an unref when it starts, and gives it back before it stops: bit 4 records the
    # wish, bit 2 the debt.

    def _libev_unref(self):
        if self._flags & 6 == _UNREF_BEFORE_START:
            self.loop._activecnt -= 1
            self._flags |= _NEEDS_EVREF

    def _libev_ref(self):
        if self._flags & _NEEDS_EVREF:
            self.loop._activecnt += 1
            self._flags &= ~_NEEDS_EVREF

    @property
    def ref(self):
        return not self._flags & _UNREF_BEFORE_START

    @ref.setter
    def ref(self, value):
        self.loop._check()
        if value:
            if self._flags & _UNREF_BEFORE_START:
                self._libev_ref()
                self._flags &= ~_UNREF_BEFORE_START
        elif not self._flags & _UNREF_BEFORE_START:
            self._flags |= _UNREF_BEFORE_START
            if self._active:
                self._libev_unref()

    # ---- The properties gevent checks

    @property
    def callback(self):
        return self._callback

    @callback.setter
    def callback(self, callback):
        if callback is not None and not callable(callback):
            raise TypeError("Expected callable, not %r" % (callback,))
        self._callback = callback

    @property
    def args(self):
        return self._args

    @args.setter
    def args(self, args):
        if args is not None and not isinstance(args, tuple):
            raise TypeError("Expected tuple, got %s" % type(args).__name__)
        self._args = args

    @property
    def priority(self):
        return self._priority

    @priority.setter
    def priority(self, priority):
        if self._active:
            raise AttributeError("Cannot set priority of an active watcher")
        if self._pending:  # its queue entry is found by priority: it would be lost
            raise AttributeError("Cannot set priority of a pending watcher")
        self._priority = operator.index(priority)

    @property
    def active(self):
        return bool(self._active)

    @property
    def pending(self):
        return bool(self._pending)

    # ---- libev's ev_start and ev_stop, which every kind's start and stop call

    def _pri_adjust(self):
        """pri_adjust: any priority is accepted, and clamped to MINPRI..MAXPRI when used."""
        self._priority = min(max(self._priority, MINPRI), MAXPRI)

    def _activate(self, active):
        """ev_start: the watcher is active in slot ``active`` and counts in activecnt."""
        self._pri_adjust()
        self._active = active
        self.loop._activecnt += 1

    def _deactivate(self):
        """ev_stop."""
        self.loop._activecnt -= 1
        self._active = 0

    # ---- Calling the callback: gevent_callback (callbacks.c)

    def _invoke(self, revents):
        """Called by the loop's invoke_pending. An exception goes to the loop's
        handle_error with this watcher as context, and an io watcher is then stopped:
        otherwise a failing callback on a still-ready fd would be called forever. A
        watcher that libev stopped (a timer that fired) is also stopped at gevent's
        level, which drops its callback and args and settles the ref bookkeeping."""
        args = self._args
        if args is None:
            args = ()
        elif args and args[0] is GEVENT_CORE_EVENTS:
            args = (revents,) + args[1:]
        try:
            self._callback(*args)
        except BaseException:
            self.loop._handle_error(self)
            if revents & READWRITE:
                self._gevent_stop()
                return
        if not self._active:
            self._gevent_stop()

    def _gevent_stop(self):
        """gevent_stop: stop(), its own error routed to handle_error too."""
        try:
            self.stop()
        except BaseException:
            self.loop._handle_error(self)

    @recursive_repr("<...>")
    def __repr__(self):
        details = self._format()
        if self._active:
            details += " active"
        if self._pending:
            details += " pending"
        if self._callback is not None:
            details += " callback=%r" % (self._callback,)
        if self._args is not None:
            details += " args=%r" % (self._args,)
        return "<%s at 0x%x%s>" % (type(self).__name__, id(self), details)

    def _format(self):
        return ""


# ---- io


def fd_valid(fd):
    """libev's fd_valid: whether fd is an open file descriptor."""
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        return False
    return True


def _checked_fd(fd):
    fd = operator.index(fd)
    if fd < 0:
        raise ValueError("fd must be non-negative: %r" % fd)
    return fd


def _checked_events(events):
    events = operator.index(events)
    if events & ~(_IOFDSET | READ | WRITE):
        raise ValueError("illegal event mask: %r" % events)
    return events


class io(watcher):
    """Readiness of a file descriptor for READ, WRITE or both (``events``). ``fd``
    and ``events`` can change only while the watcher is stopped. ``start(callback,
    *args, pass_events=True)`` passes the revents as the callback's first argument.
    A negative fd or an illegal mask is a ValueError; a closed fd, OSError EBADF."""

    __slots__ = ("_fd", "_events")

    def __init__(self, loop, fd, events, ref=True, priority=None):
        fd = _checked_fd(fd)
        events = _checked_events(events)
        if not fd_valid(fd):
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        super().__init__(loop, ref, priority)
        self._fd = fd  # the file descriptor
        self._events = events | _IOFDSET  # ev_io_set: a new watcher may watch a new file

    def start(self, callback, *args, pass_events=False):
        if pass_events:
            args = (GEVENT_CORE_EVENTS,) + args
        self._start(callback, args)

    def _ev_start(self):
        """ev_io_start: join the fd's watchers (newest first, libev's wlist_add) and
        have fd_reify tell the kernel, unconditionally if _IOFDSET is set."""
        if self._active:
            return
        self._activate(1)
        self.loop._anfd(self._fd).watchers.insert(0, self)
        self.loop._fd_change(self._fd, (self._events & _IOFDSET) | ANFD_REIFY)
        self._events &= ~_IOFDSET

    def _ev_stop(self):
        """ev_io_stop: leave the fd's watchers; fd_reify will tell the kernel."""
        self.loop._clear_pending(self)
        if not self._active:
            return
        self.loop._anfds[self._fd].watchers.remove(self)
        self._deactivate()
        self.loop._fd_change(self._fd, ANFD_REIFY)

    @property
    def fd(self):
        return self._fd

    @fd.setter
    def fd(self, fd):
        if self._active:
            raise AttributeError(
                "'io' watcher attribute 'fd' is read-only while watcher is active")
        self._fd = _checked_fd(fd)
        self._events |= _IOFDSET

    @property
    def events(self):
        return self._events

    @events.setter
    def events(self, events):
        if self._active:
            raise AttributeError(
                "'io' watcher attribute 'events' is read-only while watcher is active")
        self._events = _checked_events(events) | _IOFDSET

    @property
    def events_str(self):
        return _events_to_str(self._events)

    def _format(self):
        return " fd=%s events=%s" % (self._fd, self.events_str)


_EVENT_NAMES = (
    (READ, "READ"), (WRITE, "WRITE"), (_IOFDSET, "_IOFDSET"), (PERIODIC, "PERIODIC"),
    (SIGNAL, "SIGNAL"), (CHILD, "CHILD"), (STAT, "STAT"), (IDLE, "IDLE"),
    (PREPARE, "PREPARE"), (CHECK, "CHECK"), (EMBED, "EMBED"), (FORK, "FORK"),
    (CLEANUP, "CLEANUP"), (ASYNC, "ASYNC"), (CUSTOM, "CUSTOM"), (ERROR, "ERROR"),
)


def _events_to_str(events):
    """Event bits by name, as gevent shows them: 'READ|WRITE|_IOFDSET'."""
    names = []
    for flag, name in _EVENT_NAMES:
        if events & flag:
            names.append(name)
            events &= ~flag
    if events:
        names.append(hex(events))
    return "|".join(names)


# ---- timer


def _seconds(value):
    """A number of seconds as a float. Strings are refused, as by C's ``double``."""
    if not isinstance(value, numbers.Real):
        raise TypeError("must be real number, not %s" % type(value).__name__)
    return float(value)


class timer(watcher):
    """Fires ``after`` seconds after start(), then every ``repeat`` seconds if
    ``repeat`` > 0. ``at`` is libev's: while the timer is active, the loop's monotonic
    time it fires at; while not, the time that was left: ``after`` before it first
    starts, 0 or less once it has fired (restarting a fired timer fires it at once)."""

    __slots__ = ("_at", "_repeat")

    def __init__(self, loop, after=0.0, repeat=0.0, ref=True, priority=None):
        after, repeat = _seconds(after), _seconds(repeat)
        if repeat < 0.0:
            raise ValueError("repeat must be positive or zero: %r" % repeat)
        super().__init__(loop, ref, priority)
        self._at = after  # relative while inactive, absolute (monotonic) while active
        self._repeat = repeat  # 0: fire once

    def start(self, callback, *args, update=None):
        """``update`` refreshes the loop's time first, so that ``after`` counts from
        now and not from the start of the iteration. By default it does so only while
        the loop runs run_callback's callbacks (``starting_timer_may_update_loop_time``)."""
        if update is None:
            update = self.loop.starting_timer_may_update_loop_time
        if update:
            self.loop.update_now()
        self._start(callback, args)

    def again(self, callback, *args, update=True):
        """ev_timer_again: (re)start a repeating timer ``repeat`` seconds from now. A
        non-repeating one ends up stopped, as by stop(): its callback dropped and, if
        it is unreferenced, the loop's count given back."""
        self.loop._check()
        self.callback = callback
        self._args = args
        self._libev_unref()
        if update:
            self.loop._time_update()
        self._ev_again()
        if not self._active:
            # corecext stops it in libev only, and its activecnt stays one short
            self.stop()

    @property
    def at(self):
        return self._at

    def _ev_start(self):
        """ev_timer_start: ``at`` becomes absolute, and the timer joins the heap."""
        if self._active:
            return
        timers = self.loop._timers
        self._at += self.loop._mn_now
        timers.append(self)
        self._activate(len(timers))
        upheap(timers, len(timers) - 1)

    def _ev_stop(self):
        """ev_timer_stop: the last timer of the heap takes this one's slot; ``at``
        becomes relative again."""
        self.loop._clear_pending(self)
        if not self._active:
            return
        timers = self.loop._timers
        last = timers.pop()
        if last is not self:
            k = self._active - 1
            timers[k] = last
            last._active = k + 1
            adjustheap(timers, k)
        self._at -= self.loop._mn_now
        self._deactivate()

    def _ev_again(self):
        """ev_timer_again, libev's part."""
        self.loop._clear_pending(self)
        if self._active:
            if self._repeat:
                self._at = self.loop._mn_now + self._repeat
                adjustheap(self.loop._timers, self._active - 1)
            else:
                self._ev_stop()
        elif self._repeat:
            self._at = self._repeat
            self._ev_start()


# ---- Watchers kept in one array per kind: prepare, check, fork, async, idle


def _array_del(array, w):
    """Remove w from its kind's array in O(1): the last watcher takes its slot. So the
    order of an array changes when a watcher stops, as in libev."""
    last = array.pop()
    if last is not w:
        array[w._active - 1] = last
        last._active = w._active


class _ArrayWatcher(watcher):
    """ev_prepare_start / _stop and their kin: each subclass names its array."""

    __slots__ = ()

    def _ev_start(self):
        if self._active:
            return
        array = self._array()
        array.append(self)
        self._activate(len(array))

    def _ev_stop(self):
        self.loop._clear_pending(self)
        if not self._active:
            return
        _array_del(self._array(), self)
        self._deactivate()


class prepare(_ArrayWatcher):
    """Called in every iteration, before the loop polls. gevent runs its callbacks
    from one."""

    __slots__ = ()

    def _array(self):
        return self.loop._prepares


class check(_ArrayWatcher):
    """Called in every iteration, after the loop polled."""

    __slots__ = ()

    def _array(self):
        return self.loop._checks


class fork(_ArrayWatcher):
    """Called at the start of the first iteration in the child after a fork (the loop
    notices the new pid, or reinit() tells it)."""

    __slots__ = ()

    def _array(self):
        return self.loop._forks


class async_(_ArrayWatcher):
    """Called after send(), which is safe from any thread; ``pending`` is true from
    send() until the loop picks the send up."""

    __slots__ = ("_sent",)

    def __init__(self, loop, ref=True, priority=None):
        super().__init__(loop, ref, priority)
        self._sent = False  # send() was called, and the loop has not yet seen it

    def _array(self):
        return self.loop._asyncs

    def _ev_start(self):
        if not self._active:
            self._sent = False  # ev_async_start forgets sends made while stopped
        super()._ev_start()

    def send(self):
        """ev_async_send: mark, then wake the loop through its evpipe."""
        self.loop._check()
        self._sent = True
        self.loop._async_send()

    def send_ignoring_arg(self, _ignored):
        """send(), callable as a greenlet's switch(value) (gevent's rawlink waiters)."""
        return self.send()

    @property
    def pending(self):
        return self._sent  # ev_async_pending


class idle(watcher):
    """Called in iterations where nothing of its priority or higher is pending; while
    one is active, the loop polls without blocking."""

    __slots__ = ()

    def _ev_start(self):
        """ev_idle_start: idle watchers are kept per priority, and counted (idleall)."""
        if self._active:
            return
        self._pri_adjust()
        array = self.loop._idles[self._priority - MINPRI]
        array.append(self)
        self.loop._idleall += 1
        self._activate(len(array))

    def _ev_stop(self):
        self.loop._clear_pending(self)
        if not self._active:
            return
        _array_del(self.loop._idles[self._priority - MINPRI], self)
        self._deactivate()
        self.loop._idleall -= 1


# ---- signal: one table for the process, since a signal handler is process-wide


class _Signal:
    """libev's ANSIG: a watched signal."""

    __slots__ = ("loop", "previous", "pending", "watchers")

    def __init__(self, loop, previous):
        self.loop = loop  # the one loop it wakes: a signal belongs to one loop at a time
        self.previous = previous  # the handler to put back when nobody watches it
        self.pending = False  # it arrived, and the loop has not yet told the watchers
        self.watchers = []  # its active watchers, newest first


signals = {}  # signum -> _Signal, while some loop watches it (libev's signals array)


def _sighandler(signum, frame):
    """ev_sighandler. Python calls it in the main thread between two bytecodes,
    wherever the loop happens to be, so, as a C signal handler would, it only sets
    flags and wakes the loop, which tells the watchers later (its ``_pipecb``)."""
    sig = signals.get(signum)
    if sig is not None:
        sig.pending = True
        sig.loop._feed_signal()


class signal(watcher):
    """A signal arriving in the process (the handler is Python's: it runs in the main
    thread, and the loop that watches a signal must run there). ValueError for a
    number outside 1..NSIG-1, or for a signal another loop watches."""

    __slots__ = ("_signalnum",)

    def __init__(self, loop, signalnum, ref=True, priority=None):
        signalnum = operator.index(signalnum)
        if signalnum < 1 or signalnum >= _signalmodule.NSIG:
            raise ValueError("illegal signal number: %r" % signalnum)
        super().__init__(loop, ref, priority)
        self._signalnum = signalnum

    def _ev_start(self):
        """ev_signal_start: the first watcher of a signal installs the handler."""
        if self._active:
            return
        sig = signals.get(self._signalnum)
        if sig is None:  # the entry first: the handler may run as soon as it is installed
            sig = signals[self._signalnum] = _Signal(self.loop, None)
            try:
                sig.previous = _signal_signal(self._signalnum, _sighandler)
            except BaseException:  # not the main thread, say: nothing was installed
                del signals[self._signalnum]
                raise
        elif sig.loop is not self.loop:  # libev asserts
            raise ValueError("signal %d is watched by another loop" % self._signalnum)
        self._activate(1)
        sig.watchers.insert(0, self)

    def _ev_stop(self):
        """ev_signal_stop: the last watcher of a signal puts the previous handler back
        (libev puts SIG_DFL, which would make Ctrl-C kill Python, not interrupt it)."""
        self.loop._clear_pending(self)
        if not self._active:
            return
        sig = signals[self._signalnum]
        sig.watchers.remove(self)
        self._deactivate()
        if not sig.watchers:
            del signals[self._signalnum]
            previous = sig.previous
            _signal_signal(self._signalnum, _signalmodule.SIG_DFL if previous is None else previous)


# ---- child


class child(watcher):
    """A child process that exited (or stopped or continued, if ``trace``); ``pid``
    0 means any child. ``rpid`` and ``rstatus`` say which child and its waitpid
    status. Only the default loop reaps children (it watches SIGCHLD): TypeError on
    another loop. No priority: the loop runs child watchers at MAXPRI."""

    __slots__ = ("_pid", "_trace", "rpid", "rstatus")

    def __init__(self, loop, pid, trace=0, ref=True):
        if not loop.default:
            raise TypeError("child watchers are only available on the default loop")
        loop.install_sigchld()
        super().__init__(loop, ref)
        self._pid = operator.index(pid)
        self._trace = bool(trace)
        self.rpid = 0  # the pid waitpid returned
        self.rstatus = 0  # its status, for os.waitstatus_to_exitcode and the like

    @property
    def pid(self):
        return self._pid

    def _ev_start(self):
        """ev_child_start: children are looked up by pid (libev hashes them)."""
        if self._active:
            return
        self._activate(1)
        self.loop._childs.setdefault(self._pid, []).insert(0, self)
        self.loop._watch_child(self._pid, self._trace)

    def _ev_stop(self):
        self.loop._clear_pending(self)
        if not self._active:
            return
        watchers = self.loop._childs[self._pid]
        watchers.remove(self)
        if not watchers:
            del self.loop._childs[self._pid]
            self.loop._unwatch_child(self._pid)
        self._deactivate()

    def _format(self):
        return " pid=%r rstatus=%r" % (self._pid, self.rstatus)


# ---- stat

DEF_STAT_INTERVAL = 5.0074891  # libev's poll interval when none is given
MIN_STAT_INTERVAL = 0.1074891  # and its shortest: odd numbers, so that timers spread out
_STAT_FIELDS = (
    "st_dev", "st_ino", "st_mode", "st_nlink", "st_uid", "st_gid", "st_rdev",
    "st_size", "st_atime_ns", "st_mtime_ns", "st_ctime_ns",
)


def _lstat(path):
    """ev_stat_stat: the path's lstat(), or None if it does not exist (libev: nlink 0)."""
    try:
        return os.lstat(path)
    except OSError:
        return None


def _stat_key(result):
    """What stat_timer_cb compares (libev compares whole seconds; we take nanoseconds)."""
    return None if result is None else tuple(getattr(result, f) for f in _STAT_FIELDS)


class stat(watcher):
    """Changes in what lstat() says of ``path``: ``attr`` is the new result and
    ``prev`` the one before (None while the path does not exist). libev asks inotify
    where it can; this one polls, every ``interval`` seconds (at least
    MIN_STAT_INTERVAL once started; 0 means DEF_STAT_INTERVAL). ``path`` is a str."""

    __slots__ = ("_path", "_paths", "_interval", "_attr", "_prev", "_timer")

    def __init__(self, loop, path, interval=0.0, ref=True, priority=None):
        if not isinstance(path, str):
            raise TypeError("Argument 'path' has incorrect type (expected str, got %s)"
                            % type(path).__name__)
        super().__init__(loop, ref, priority)
        self._path = path
        self._paths = os.fsencode(path)  # the bytes lstat() is given, as gevent keeps them
        self._interval = _seconds(interval)
        self._attr = None  # the last lstat()
        self._prev = None  # the lstat() before the last change
        self._timer = loop.timer(0.0, ref=False)  # libev's ev_stat embeds a timer too

    def _ev_start(self):
        """ev_stat_start: take a first lstat(), then poll with the timer."""
        if self._active:
            return
        self._attr = _lstat(self._paths)
        if self._interval and self._interval < MIN_STAT_INTERVAL:
            self._interval = MIN_STAT_INTERVAL
        self._timer._repeat = self._interval or DEF_STAT_INTERVAL
        self._timer.priority = self._priority
        self._timer.again(self._stat_timer_cb)
        self._activate(1)

    def _ev_stop(self):
        self.loop._clear_pending(self)
        if not self._active:
            return
        self._timer.stop()
        self._deactivate()

    def _stat_timer_cb(self):
        """stat_timer_cb: lstat() again; if anything changed, the watcher is pending."""
        prev, self._attr = self._attr, _lstat(self._paths)
        if _stat_key(prev) != _stat_key(self._attr):
            self._prev = prev
            self.loop._feed_event(self, STAT)

    @property
    def path(self):
        return self._path

    @property
    def attr(self):
        return self._attr

    @property
    def prev(self):
        return self._prev

    @property
    def interval(self):
        return self._interval

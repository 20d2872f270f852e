"""A pure-Python libev loop with gevent's loop interface (gevent's ``corecext.loop``).

    from impls.libev.pyloop import loop

    evloop = loop(default=False)
    t = evloop.timer(0.5)
    t.start(print, "half a second later")
    evloop.run_callback(print, "first")
    evloop.run()          # returns when no referenced watcher is active, no callback queued
    evloop.destroy()

Two layers, as in gevent. libev's (``deps/libev/ev.c``): a watcher becomes *pending*
when its event happens, and pending watchers are called by priority; ``run`` is
``ev_run``, with one method per step of an iteration, each named after libev's code.
gevent's (``corecext.pyx``, ``callbacks.c``): Python callbacks with arguments,
``run_callback`` callbacks run from a prepare watcher, errors routed to
``handle_error``. The real gevent runs on it when told to:
``GEVENT_LOOP=impls.libev.pyloop.loop``.

Next door: ``watchers`` (the kinds of watcher), ``backends`` (epoll, poll, select),
``timerheap`` (the timers' heap) and ``ev`` (libev's numbers).
"""
import os
import sys
import time as _time
import traceback
from collections import deque
from signal import SIGCHLD

from gevent._interfaces import ICallback, ILoop
from gevent.exceptions import HubDestroyed
from gevent.monkey import get_original
from zope.interface import classImplements

from . import watchers
from .backends import BACKENDS
from .ev import *  # noqa: F403 -- libev's numbers are part of this module's interface
from .ev import _IOFDSET
from .timerheap import downheap

__all__ = [
    "get_version",
    "get_header_version",
    "supported_backends",
    "recommended_backends",
    "embeddable_backends",
    "time",
    "loop",
]

_waitpid = get_original("os", "waitpid")  # gevent may patch it to wait cooperatively
_pidfd_open = getattr(os, "pidfd_open", None)  # Linux 5.3 and later
_monotonic = _time.monotonic

CALLBACK_CHECK_COUNT = 50  # run_callback's callbacks run between two looks at the clock
GEVENT_CORE_EVENTS = EVENTS = watchers.GEVENT_CORE_EVENTS


# ---- The module's functions, as gevent's libev modules have them


def get_version():
    """The libev whose rules this loop follows."""
    return "libev-4.33"


get_header_version = get_version


def supported_backends():
    return [backend.name for backend in BACKENDS]


recommended_backends = supported_backends


def embeddable_backends():
    return []


def time():
    """The wall-clock time (ev_time)."""
    return _time.time()


# Backend and flag names, in the order libev tries the backends (loop_init)
_FLAG_NAMES = {
    "port": BACKEND_PORT,
    "kqueue": BACKEND_KQUEUE,
    "linux_iouring": BACKEND_IOURING,
    "linux_aio": BACKEND_LINUXAIO,
    "epoll": BACKEND_EPOLL,
    "poll": BACKEND_POLL,
    "select": BACKEND_SELECT,
    "noenv": NOENV,
    "forkcheck": FORKCHECK,
    "noinotify": NOINOTIFY,
    "signalfd": SIGNALFD,
    "nosigmask": NOSIGMASK,
}


def _flags_to_int(flags):
    """libev's flags from what gevent accepts: an int, a name, a comma-separated
    string of names, or a list of names (gevent's GEVENT_BACKEND setting)."""
    if not flags:
        return 0
    if isinstance(flags, int):
        return flags
    if isinstance(flags, str):
        flags = flags.split(",")
    result = 0
    for name in flags:
        name = name.strip().lower()
        if not name:
            continue
        if name not in _FLAG_NAMES:
            raise ValueError("Invalid backend or flag: %r\nPossible values: %s"
                             % (name, ", ".join(sorted(_FLAG_NAMES))))
        result |= _FLAG_NAMES[name]
    return result


def _flags_to_list(flags):
    return [name for name, flag in _FLAG_NAMES.items() if flags & flag]


def _backend_class(flags):
    """loop_init's choice: the first backend, in libev's order, that the flags name and
    this system has; the first this system has if they name none."""
    wanted = flags & BACKEND_MASK
    if wanted and not wanted & BACKEND_ALL:
        raise ValueError("Invalid value for backend: 0x%x" % wanted)
    for backend in BACKENDS:
        if not wanted or wanted & backend.flag:
            return backend
    raise ValueError("Unsupported backend: %s" % "|".join(_flags_to_list(wanted)))


class loop:
    """An event loop: libev's ``struct ev_loop`` and gevent's ``corecext.loop`` in one.

    ``flags`` names the backend: "epoll", "poll", "select", or a list of them (the
    first this system has, in that order, by default). ``default`` (None means True)
    makes this a loop that reaps child processes (child watchers). Unlike libev's
    default loop, which is one per process, each ``loop(default=True)`` is a loop of
    its own; gevent's hub makes one, in the main thread.

    A loop belongs to one thread: only run_callback_threadsafe and the ``send`` of
    async watchers may be called from others. Once ``destroy()`` ed, a loop raises
    ValueError for anything but destroy, reinit, fileno, default and handle_error.
    """

    MINPRI = MINPRI
    MAXPRI = MAXPRI
    approx_timer_resolution = 0.00001  # a guess, the one gevent's libev loops make

    def __init__(self, flags=None, default=None):
        flags = _flags_to_int(flags)
        backend = _backend_class(flags)
        # ---- libev's state (struct ev_loop)
        self._backend = backend(self)  # the kernel interface the loop waits in
        self._origflags = flags | NOENV | FORKCHECK  # what gevent passes to libev
        self._mn_now = _monotonic()  # monotonic time of the last update: timers run on it
        self._rt_now = _time.time()  # wall-clock time of the last update: now()
        self._activecnt = 0  # active referenced watchers (see activecnt for callbacks)
        self._loop_done = EVBREAK_CANCEL  # what break_() asked for
        self._loop_count = 0  # iterations so far (iteration)
        self._loop_depth = 0  # run() calls in progress (depth)
        self._pendings = [[] for _ in range(NUMPRI)]  # per priority: [watcher, revents]s
        self._pendingpri = 0  # the priority invoke_pending is at; a feed resets it to the top
        self._anfds = {}  # fd -> _FD: its io watchers, and what the kernel was asked for
        self._fdchanges = []  # fds whose watchers changed since the last fd_reify
        self._timers = []  # active timers, a heap by expiry time (timerheap)
        self._idles = [[] for _ in range(NUMPRI)]  # active idle watchers, per priority
        self._idleall = 0  # active idle watchers, all priorities together
        self._prepares = []  # active prepare watchers
        self._checks = []  # active check watchers
        self._forks = []  # active fork watchers
        self._asyncs = []  # active async watchers
        self._childs = {}  # pid -> its active child watchers, newest first (0: any child)
        self._pidfds = {}  # pid -> the io watcher on its pidfd, while child watchers watch it
        self._curpid = os.getpid()  # EVFLAG_FORKCHECK: another pid means we are a forked child
        self._postfork = 0  # 1: we forked; 2: the backend's kernel state must be rebuilt
        self._evpipe = None  # (read fd, write fd): a write wakes the poll
        self._pipe_w = None  # the io watcher on the evpipe's read end
        self._pipe_write_wanted = False  # the loop may be in the poll: a wakeup must write
        self._pipe_write_skipped = False  # a wakeup did not write: the next poll must not block
        self._async_pending = False  # an async watcher was sent
        self._sig_pending = False  # a signal arrived
        # ---- gevent's state (corecext.loop)
        self._callbacks = deque()  # run_callback's callback objects, oldest first
        self.error_handler = None  # where handle_error sends errors: the Hub, when it runs us
        self.starting_timer_may_update_loop_time = False  # True while callbacks run
        self._default = True if default is None else bool(default)
        self._destroyed = False
        self._sigchld_reset = False  # SIGCHLD was given away: install_sigchld takes it back
        # ---- The loop's own watchers, which must not keep run() going (ref=False)
        self._evpipe_init()
        self._prepare = self.prepare(ref=False)  # runs the callbacks, before each poll
        self._prepare.start(self._run_callbacks)
        self._timer0 = self.timer(0.0)  # started while callbacks wait: the poll must not block
        self._threadsafe_async = self.async_(ref=False)  # wakes the loop for another thread
        self._threadsafe_async.start(_noop)
        self._childev = self.signal(SIGCHLD, ref=False, priority=MAXPRI) if self._default else None

    # ---- Life cycle

    def destroy(self):
        """ev_loop_destroy: close the loop's file descriptors and give back the signals
        it watches. A loop destroyed while it runs returns from run(). Destroying
        twice does nothing."""
        if self._destroyed:
            return
        self._release_signals()
        for pid in list(self._pidfds):
            self._unwatch_child(pid)
        for fd in self._evpipe:
            os.close(fd)
        self._backend.close()
        self._destroyed = True
        self._loop_done = EVBREAK_ALL

    def _release_signals(self):
        """Put back the previous handler of every signal this loop watches. libev leaves
        its handlers, pointing at the freed loop (a signal then writes to a dead loop's
        memory); ours would write to the closed evpipe."""
        for sig in [sig for sig in watchers.signals.values() if sig.loop is self]:
            for w in list(sig.watchers):
                w._ev_stop()

    def reinit(self):
        """ev_loop_fork: call it in the child after a fork. Without it, the loop notices
        the new pid at its next iteration (EVFLAG_FORKCHECK, which gevent always sets)."""
        if not self._destroyed:
            self._postfork = 1

    def _check(self):
        if self._destroyed:
            raise ValueError("operation on destroyed loop")

    # ---- ev_run: one iteration, step by step

    def run(self, nowait=False, once=False):
        """ev_run: iterate until no referenced watcher is active and no callback is
        queued, or until break_(). With ``once``: one iteration, which waits for
        something to happen; with ``nowait``: one iteration, which does not wait."""
        self._check()
        flags = (EVRUN_NOWAIT if nowait else 0) | (EVRUN_ONCE if once else 0)
        self._loop_depth += 1
        self._loop_done = EVBREAK_CANCEL
        try:
            self._invoke_pending()  # a nested run() first finishes what was pending
            while True:
                self._forkcheck()
                if self._prepares:
                    self._queue_events(self._prepares, PREPARE)
                    self._invoke_pending()
                if self._loop_done:
                    break
                if self._postfork:
                    self._loop_fork()
                self._fd_reify()
                self._time_update()  # a stale clock would lengthen the wait: timers late
                self._pipe_write_wanted = True  # from here on, a wakeup must write the pipe
                self._loop_count += 1
                self._backend_poll(self._waittime(flags))
                self._pipe_write_wanted = False
                if self._pipe_write_skipped:  # a wakeup came while we could not hear it
                    self._feed_event(self._pipe_w, CUSTOM)
                self._time_update()
                self._timers_reify()
                self._idle_reify()
                if self._checks:
                    self._queue_events(self._checks, CHECK)
                self._invoke_pending()
                if not self._activecnt + len(self._callbacks) or self._loop_done or flags:
                    break
        finally:
            if self._loop_done == EVBREAK_ONE:
                self._loop_done = EVBREAK_CANCEL
            self._loop_depth -= 1

    def _forkcheck(self):
        """The fork check: in the first iteration of a forked child, the fork watchers
        run before anything else."""
        pid = os.getpid()
        if pid != self._curpid:
            self._curpid = pid
            self._postfork = 1
        if self._postfork and self._forks:
            self._queue_events(self._forks, FORK)
            self._invoke_pending()

    def _loop_fork(self):
        """loop_fork: rebuild the kernel state the child shares with its parent: the
        backend's (epoll's), and, after a real fork, the evpipe, whose writes would
        wake the parent too. A backend that lost track of the kernel asks for the
        first part only (postfork == 2)."""
        self._backend.fork()
        if self._postfork != 2:
            self._pipe_w.stop()
            for fd in self._evpipe:
                os.close(fd)
            self._evpipe_init()
            self._feed_event(self._pipe_w, CUSTOM)  # a wakeup may have been lost meanwhile
        self._postfork = 0

    def _time_update(self):
        """time_update: read both clocks. libev reads the wall clock only every half
        second and derives it from the monotonic one meanwhile; in Python, reading
        it costs no more than deriving it."""
        self._mn_now = _monotonic()
        self._rt_now = _time.time()

    def _waittime(self, flags):
        """How long the poll may block. Not at all with ``nowait``, idle watchers,
        nothing to keep the loop going, or a wakeup that could not write; otherwise
        until the first timer, at most MAX_BLOCKTIME, and no less than the backend
        can measure (0 for a timer already due)."""
        if (flags & EVRUN_NOWAIT or self._idleall or self._pipe_write_skipped
                or not self._activecnt + len(self._callbacks)):
            return 0.0
        waittime = MAX_BLOCKTIME
        if self._timers:
            waittime = min(waittime, self._timers[0]._at - self._mn_now)
        mintime = self._backend.mintime
        if waittime < mintime:
            waittime = 0.0 if waittime <= 0.0 else mintime
        return waittime

    def _backend_poll(self, waittime):
        """backend_poll: wait; the backend feeds the ready fds' watchers. A signal
        handler that raises (Python's SIGINT handler: KeyboardInterrupt) raises in
        the wait; as gevent does for signals, the error goes to handle_error with no
        context, and the hub raises it in the main greenlet."""
        try:
            self._backend.poll(waittime)
        except BaseException:
            self._handle_error(None)

    def _timers_reify(self):
        """timers_reify: each expired timer is re-armed (if repeating) or stopped, then
        fed; fed latest-expiring first, so that the earliest is called first. A late
        repeating timer is re-armed from now: it does not fire again to catch up."""
        timers = self._timers
        mn_now = self._mn_now
        expired = []
        while timers and timers[0]._at < mn_now:
            w = timers[0]
            if w._repeat:
                w._at = max(w._at + w._repeat, mn_now)
                downheap(timers, 0)
            else:
                w._ev_stop()
            expired.append(w)
        for w in reversed(expired):
            self._feed_event(w, TIMER)

    def _idle_reify(self):
        """idle_reify: feed the idle watchers of the highest priority at which nothing
        is pending, unless something is pending above it."""
        if self._idleall:
            for pri in range(NUMPRI - 1, -1, -1):
                if self._pendings[pri]:
                    break
                if self._idles[pri]:
                    self._queue_events(self._idles[pri], IDLE)
                    break

    def _queue_events(self, ws, revents):
        """queue_events: feed every watcher of one kind's array, in the array's order."""
        for w in ws:
            self._feed_event(w, revents)

    def _invoke_pending(self):
        """ev_invoke_pending: call the pending watchers, highest priority first and,
        within a priority, the last fed first. A watcher fed meanwhile (a callback may
        feed one) moves the scan back to the top priority."""
        pendings = self._pendings
        self._pendingpri = NUMPRI
        while self._pendingpri:
            self._pendingpri -= 1
            while pendings[self._pendingpri]:
                w, revents = pendings[self._pendingpri].pop()
                if w is not None:  # None: stopped while pending
                    w._pending = 0
                    w._invoke(revents)

    # ---- Pending watchers

    def _feed_event(self, w, revents):
        """ev_feed_event: make w pending with revents, or add revents to its pending
        event. A watcher's ``_pending`` is 1 + its index in its priority's queue."""
        pending = self._pendings[w._priority - MINPRI]
        if w._pending:
            pending[w._pending - 1][1] |= revents
        else:
            pending.append([w, revents])
            w._pending = len(pending)
        self._pendingpri = NUMPRI - 1

    def _clear_pending(self, w):
        """clear_pending: drop w's pending event. Its entry stays, emptied, so that the
        other entries keep their index (libev puts a dummy watcher there)."""
        if w._pending:
            self._pendings[w._priority - MINPRI][w._pending - 1][0] = None
            w._pending = 0

    # ---- Reference counting and breaking

    def ref(self):
        """ev_ref: one more reason for run() to go on."""
        self._check()
        self._activecnt += 1

    def unref(self):
        """ev_unref: one reason less."""
        self._check()
        self._activecnt -= 1

    @property
    def activecnt(self):
        """libev's activecnt: active referenced watchers plus callbacks waiting; run()
        returns when it is 0. gevent's run_callback refs the loop, and each callback
        unrefs it when it runs, so libev's count includes the queued callbacks. Here
        they are counted by the queue's length, the same number, because a deque
        append is atomic and ``+= 1`` on an attribute is not (run_callback_threadsafe
        runs in other threads)."""
        self._check()
        return self._activecnt + len(self._callbacks)

    def break_(self, how=EVBREAK_ONE):
        """ev_break: run() returns at the end of this iteration (EVBREAK_ONE: the
        innermost run(); EVBREAK_ALL: all of them)."""
        self._check()
        self._loop_done = how

    # ---- File descriptors

    def _anfd(self, fd):
        """fd's _FD, made on first use (libev grows an array indexed by fd)."""
        anfd = self._anfds.get(fd)
        if anfd is None:
            anfd = self._anfds[fd] = _FD()
        return anfd

    def _fd_change(self, fd, flags):
        """fd_change: fd's watchers changed; fd_reify will look at it."""
        anfd = self._anfd(fd)
        if not anfd.reify:
            self._fdchanges.append(fd)
        anfd.reify |= flags

    def _fd_reify(self):
        """fd_reify: tell the backend what each changed fd's watchers want now, if it
        changed, or if a new watcher asked for it (_IOFDSET: the fd number may name a
        new file, which the kernel does not know). Changes made meanwhile (fd_kill)
        wait for the next iteration."""
        changes, self._fdchanges = self._fdchanges, []
        for fd in changes:
            anfd = self._anfds[fd]
            o_events, o_reify = anfd.events, anfd.reify
            anfd.reify = 0
            anfd.events = 0
            for w in anfd.watchers:
                anfd.events |= w._events
            if o_events != anfd.events or o_reify & _IOFDSET:
                self._backend.modify(fd, o_events, anfd.events)

    def _fd_event(self, fd, revents):
        """fd_event: feed fd's watchers that want these events, unless fd changed
        during the poll (the events may be for its old file)."""
        anfd = self._anfds.get(fd)
        if anfd is not None and not anfd.reify:
            self._fd_event_nocheck(anfd, revents)

    def _fd_event_nocheck(self, anfd, revents):
        for w in anfd.watchers:
            events = w._events & revents
            if events:
                self._feed_event(w, events)

    def _fd_kill(self, fd):
        """fd_kill: fd is unusable (closed while watched): stop its watchers and feed
        each ERROR | READ | WRITE, so that their callbacks find out."""
        ws = self._anfds[fd].watchers
        while ws:
            w = ws[0]
            w._ev_stop()
            self._feed_event(w, ERROR | READ | WRITE)

    def _fd_ebadf(self):
        """fd_ebadf: the backend got EBADF: fd_kill every watched fd that is not open."""
        for fd, anfd in list(self._anfds.items()):
            if anfd.events and not watchers.fd_valid(fd):
                self._fd_kill(fd)

    def _fd_rearm_all(self):
        """fd_rearm_all: the backend was rebuilt: tell it every watched fd again."""
        for fd, anfd in self._anfds.items():
            if anfd.events:
                anfd.events = 0
                self._fd_change(fd, _IOFDSET | ANFD_REIFY)

    def closing_fd(self, fd):
        """gevent calls it before closing fd: the fd's active watchers are fed (their
        callbacks find the fd closing), and True says some were, so that gevent
        closes the fd only after they have run."""
        self._check()
        before = self.pendingcnt
        anfd = self._anfds.get(fd)
        if anfd is not None:
            self._fd_event_nocheck(anfd, 0xFFFF)
        return self.pendingcnt > before

    # ---- Waking the poll: the evpipe, for async sends and signals

    def _evpipe_init(self):
        """evpipe_init: a pipe, and an io watcher on its read end (libev's pipe_w),
        which runs before every other watcher (MAXPRI)."""
        self._evpipe = os.pipe()
        for fd in self._evpipe:
            os.set_blocking(fd, False)
        self._pipe_w = self.io(self._evpipe[0], READ, ref=False, priority=MAXPRI)
        self._pipe_w.start(self._pipecb, pass_events=True)

    def _evpipe_write(self):
        """evpipe_write: wake the poll. The write is made only when the loop may be in
        the poll; otherwise it is noted as skipped, which keeps the next poll from
        blocking. Safe in other threads and in a signal handler: it sets flags and
        writes, nothing else."""
        self._pipe_write_skipped = True
        if self._pipe_write_wanted:
            self._pipe_write_skipped = False
            try:
                os.write(self._evpipe[1], b"\0")
            except BlockingIOError:
                pass  # the pipe is full: it wakes the poll anyway

    def _async_send(self):
        """An async watcher was sent (it set its own flag first)."""
        if not self._async_pending:
            self._async_pending = True
            self._evpipe_write()

    def _feed_signal(self):
        """A signal arrived (the handler set its own flag first): ev_feed_signal."""
        if not self._sig_pending:
            self._sig_pending = True
            self._evpipe_write()

    def _pipecb(self, revents):
        """pipecb, the evpipe watcher's callback: empty the pipe, then feed the
        watchers of the signals that arrived and the async watchers that were sent."""
        if revents & READ:
            try:
                os.read(self._evpipe[0], 4096)
            except BlockingIOError:
                pass
        self._pipe_write_skipped = False
        if self._sig_pending:
            self._sig_pending = False
            for signum, sig in list(watchers.signals.items()):
                if sig.loop is self and sig.pending:
                    self._feed_signal_event(signum)
        if self._async_pending:
            self._async_pending = False
            for w in reversed(self._asyncs):
                if w._sent:
                    w._sent = False
                    self._feed_event(w, ASYNC)

    def _feed_signal_event(self, signum):
        """ev_feed_signal_event: feed the watchers of a signal that arrived."""
        sig = watchers.signals[signum]
        sig.pending = False
        for w in sig.watchers:
            self._feed_event(w, SIGNAL)

    # ---- Child processes: a pidfd per child, or the default loop's SIGCHLD watcher

    def install_sigchld(self):
        """Reap children from now on (gevent_install_sigchld_handler): watch SIGCHLD.
        gevent waits for the first child watcher, so that a program's own SIGCHLD
        handler works until then; after reset_sigchld, it takes the signal back.
        Only the default loop reaps children. Where there are pidfds, SIGCHLD waits
        for a child watcher that needs it (see _watch_child)."""
        if self._childev is None:
            return
        if not self._childev.active:
            if _pidfd_open is None:
                self._childev.start(self._childcb)
        elif self._sigchld_reset:
            watchers._signal_signal(SIGCHLD, watchers._sighandler)
        self._sigchld_reset = False

    def reset_sigchld(self):
        """gevent gave SIGCHLD to someone else (SIG_DFL or SIG_IGN): the next
        install_sigchld takes it back."""
        self._sigchld_reset = True

    def _watch_child(self, pid, trace):
        """A child watcher started. A child of its own is watched through its pidfd,
        which becomes readable when the child exits: no handler for SIGCHLD, which
        CPython would also write to the program's set_wakeup_fd (libev's handler is
        C, and CPython never sees the signal). Any child (pid 0), stops and continues
        (trace), or no pidfds: SIGCHLD, as in libev."""
        if pid in self._pidfds:
            return
        if pid <= 0 or trace or _pidfd_open is None:
            if not self._childev.active:
                self._childev.start(self._childcb)
            return
        try:
            fd = _pidfd_open(pid)
        except ProcessLookupError:  # reaped already, by someone else: it will never be seen
            return
        w = self._pidfds[pid] = self.io(fd, READ, ref=False, priority=MAXPRI)
        w.start(self._pidfdcb, pid)

    def _unwatch_child(self, pid):
        """No child watcher watches pid any more, or the child is gone."""
        w = self._pidfds.pop(pid, None)
        if w is not None:
            w.stop()
            os.close(w.fd)

    def _pidfdcb(self, pid):
        """A watched child exited: reap it and feed its watchers, as childcb would.
        If it was reaped meanwhile (a waitpid of the program's, or childcb), its
        watchers have been fed already, or never will be, as with libev."""
        try:
            rpid, status = _waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            rpid = -1
        if rpid:
            self._unwatch_child(pid)
        if rpid > 0:
            self._child_reap(rpid, status)

    def _childcb(self):
        """childcb, the SIGCHLD watcher's callback: reap one child and feed its
        watchers; the SIGCHLD watcher is fed again first, to reap the next one.
        Like libev, it reaps every child of the process, watched or not."""
        try:
            pid, status = _waitpid(-1, os.WNOHANG | os.WUNTRACED | os.WCONTINUED)
        except ChildProcessError:
            return
        if pid <= 0:
            return
        self._feed_event(self._childev, SIGNAL)
        self._child_reap(pid, status)

    def _child_reap(self, pid, status):
        """child_reap: feed the watchers of this pid and of any child (pid 0); a stop
        or a continue only to those that trace. They run now, at the SIGCHLD watcher's
        priority (libev: "this *must* be the same prio as the signal watcher"). libev
        also sets the priority of a watcher already pending at another one (fed by
        hand), which strands its queue entry; ours moves the entry first."""
        traced = os.WIFSTOPPED(status) or os.WIFCONTINUED(status)
        for key in (pid, 0):
            for w in self._childs.get(key, ()):
                if not traced or w._trace:
                    if w._pending and w._priority != MAXPRI:
                        revents = self._pendings[w._priority - MINPRI][w._pending - 1][1]
                        self._clear_pending(w)
                        w._priority = MAXPRI
                        self._feed_event(w, revents)
                    w._priority = MAXPRI
                    w.rpid, w.rstatus = pid, status
                    self._feed_event(w, CHILD)

    # ---- gevent's callbacks: run_callback

    def run_callback(self, func, *args):
        """Call ``func(*args)`` soon, in the loop's thread: in the next prepare phase,
        before the loop waits, or in the current one if callbacks are running (a
        callback added by a callback runs in the same pass). Callbacks run in the
        order they were added. Returns a ``callback``, whose ``stop()`` cancels the
        call. An error goes to handle_error, with the callback as context."""
        if self._destroyed:  # _check(), inlined: this runs once per greenlet switch
            raise ValueError("operation on destroyed loop")
        cb = callback(func, args)
        self._callbacks.append(cb)
        return cb

    def run_callback_threadsafe(self, func, *args):
        """run_callback, from any thread: it also wakes the loop if it is waiting."""
        cb = self.run_callback(func, *args)
        self._threadsafe_async.send()
        return cb

    def _run_callbacks(self):
        """gevent's _run_callbacks, the loop's prepare watcher's callback: run the
        callbacks, oldest first, including those added meanwhile. Every 50 callbacks
        it reads the clock, and stops once the pass has taken the interpreter's switch
        interval (5 ms), so that a flood of callbacks cannot starve I/O; the zero-second
        timer it then starts keeps the next poll from blocking."""
        # The hot path of the loop. What it uses once per callback is bound to a local
        # first: a local costs an index into the frame, an attribute a lookup per use.
        callbacks = self._callbacks
        popleft = callbacks.popleft
        handle_error = self._handle_error
        count = CALLBACK_CHECK_COUNT
        expiration = self._rt_now + sys.getswitchinterval()
        self._timer0.stop()
        self.starting_timer_may_update_loop_time = True
        try:
            while callbacks:
                cb = popleft()
                func, args = cb.callback, cb.args
                if func is not None and args is not None:  # else it was stopped
                    cb.callback = None  # pending is false while it runs...
                    try:
                        func(*args)
                    except BaseException:
                        handle_error(cb)
                    cb.args = None  # ...and bool(cb) once it has returned
                count -= 1
                if not count and callbacks:
                    count = CALLBACK_CHECK_COUNT
                    self._time_update()
                    if self._rt_now >= expiration:
                        break
            else:
                self._time_update()
            if callbacks:
                self._timer0.start(_noop)
        finally:
            self.starting_timer_may_update_loop_time = False

    # ---- Errors

    def handle_error(self, context, type, value, tb):
        """Where every exception raised by a callback goes, with its watcher or
        callback object as context (None for one raised in the wait). The
        error_handler decides (gevent's Hub: it prints, and raises system errors in
        the main greenlet); without one, the error is printed and run() returns.
        HubDestroyed drops the callbacks and ends run()."""
        if type is HubDestroyed:
            self._callbacks.clear()
            self.break_()
            return
        handler = self.error_handler
        if handler is not None:
            # looked up each time, so that replacing the Hub's handle_error works
            getattr(handler, "handle_error", handler)(context, type, value, tb)
        else:
            self._default_handle_error(context, type, value, tb)

    def _default_handle_error(self, context, type, value, tb):
        traceback.print_exception(type, value, tb)
        if not self._destroyed:
            self._loop_done = EVBREAK_ONE

    def _handle_error(self, context):
        """gevent_handle_error: hand the exception being handled to handle_error. An
        error in there is printed, never raised into the loop."""
        t, v, tb = sys.exc_info()
        try:
            self.handle_error(context, t, v, tb)
        except BaseException:
            try:
                traceback.print_exc()
            except BaseException:
                pass  # printing failed too (sys.stderr raises): nowhere is left to report it

    # ---- Time

    def now(self):
        """ev_now: the wall-clock time of the loop's last time update, so that the
        callbacks of one iteration agree on the time."""
        self._check()
        return self._rt_now

    def update_now(self):
        """ev_now_update: read the clocks now, for code that ran a long time."""
        self._check()
        self._time_update()

    update = update_now  # the old name

    # ---- Watcher factories

    def io(self, fd, events, ref=True, priority=None):
        return watchers.io(self, fd, events, ref, priority)

    def timer(self, after, repeat=0.0, ref=True, priority=None):
        return watchers.timer(self, after, repeat, ref, priority)

    def signal(self, signum, ref=True, priority=None):
        return watchers.signal(self, signum, ref, priority)

    def idle(self, ref=True, priority=None):
        return watchers.idle(self, ref, priority)

    def prepare(self, ref=True, priority=None):
        return watchers.prepare(self, ref, priority)

    def check(self, ref=True, priority=None):
        return watchers.check(self, ref, priority)

    def fork(self, ref=True, priority=None):
        return watchers.fork(self, ref, priority)

    def async_(self, ref=True, priority=None):
        return watchers.async_(self, ref, priority)

    def child(self, pid, trace=0, ref=True):
        return watchers.child(self, pid, trace, ref)

    def stat(self, path, interval=0.0, ref=True, priority=None):
        return watchers.stat(self, path, interval, ref, priority)

    # ---- Introspection

    @property
    def default(self):
        return self._default and not self._destroyed

    @property
    def iteration(self):
        self._check()
        return self._loop_count

    @property
    def depth(self):
        self._check()
        return self._loop_depth

    @property
    def backend(self):
        self._check()
        return self._backend.name

    @property
    def backend_int(self):
        self._check()
        return self._backend.flag

    @property
    def pendingcnt(self):
        """ev_pending_count: pending events, counting those stopped since (libev too)."""
        self._check()
        return sum(map(len, self._pendings))

    @property
    def sig_pending(self):
        """A signal arrived, or a watched child exited, and the loop has not yet fed
        its watchers: gevent's Popen.poll() then runs the loop a moment."""
        self._check()
        return int(self._sig_pending or any(map(_exited, self._pidfds)))

    @property
    def origflags(self):
        return _flags_to_list(self.origflags_int)

    @property
    def origflags_int(self):
        self._check()
        return self._origflags

    @property
    def ptr(self):
        """gevent's tests tell loops apart by their C pointer: ours is the id, 0 once destroyed."""
        return 0 if self._destroyed else id(self)

    def fileno(self):
        """The backend's file descriptor (epoll's), or None."""
        return None if self._destroyed else self._backend.fileno()

    def verify(self):
        """ev_verify: AssertionError if a structure of the loop lost its invariant."""
        self._check()
        for k, w in enumerate(self._timers):
            assert w._active == k + 1, "timer heap slot"
            assert not k or self._timers[(k - 1) >> 1]._at <= w._at, "timer heap order"
        for array in (self._prepares, self._checks, self._forks, self._asyncs, *self._idles):
            for k, w in enumerate(array):
                assert w._active == k + 1, "watcher array slot"
        for pri, pending in enumerate(self._pendings):
            for k, (w, _) in enumerate(pending):
                assert w is None or w._pending == k + 1, "pending slot"
                assert w is None or w._priority - MINPRI == pri, "pending priority"
        for fd, anfd in self._anfds.items():
            for w in anfd.watchers:
                assert w._active and w._fd == fd, "io watcher list"

    def _format(self):
        if self._destroyed:
            return "destroyed"
        text = self._backend.name + (" default" if self._default else "")
        text += " pending=%s ref=%s" % (self.pendingcnt, self.activecnt)
        fileno = self.fileno()
        return text if fileno is None else text + " fileno=%s" % fileno

    def __repr__(self):
        return "<%s at 0x%x %s>" % (type(self).__name__, id(self), self._format())


setattr(loop, "async", loop.async_)  # the name before Python 3.7 made it a keyword


class _FD:
    """libev's ANFD: what the loop knows of one file descriptor."""

    __slots__ = ("watchers", "events", "reify")

    def __init__(self):
        self.watchers = []  # its active io watchers, newest first (libev's wlist)
        self.events = 0  # the union of their events, as the backend was last told
        self.reify = 0  # ANFD_REIFY | _IOFDSET: changed since the last fd_reify


class callback:
    """What run_callback returns: a call to be made. ``pending`` until the call
    starts; true (``bool``) until it has returned; ``stop()`` or ``close()`` cancels it."""

    __slots__ = ("callback", "args")

    def __init__(self, callback, args):
        self.callback = callback  # None once started or stopped
        self.args = args  # None once returned or stopped

    def stop(self):
        self.callback = None
        self.args = None

    close = stop

    def __bool__(self):
        return self.args is not None

    @property
    def pending(self):
        return self.callback is not None

    def __repr__(self):
        state = " pending" if self.pending else ""
        if self.callback is not None:
            state += " callback=%r" % (self.callback,)
        if self.args is not None:
            state += " args=%r" % (self.args,)
        if self.callback is None and self.args is None:
            state += " stopped"
        return "<callback at 0x%x%s>" % (id(self), state)


def _exited(pid):
    """Whether the child has exited and is not yet reaped (waitid WNOWAIT leaves it)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return False


def _noop(*args):
    """The callback of the loop's watchers that are there only to wake it."""


# gevent checks a loop against its interface (zope.interface's verifyObject, test__hub)
classImplements(loop, ILoop)
classImplements(callback, ICallback)

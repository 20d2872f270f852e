# cython: language_level=3, auto_pickle=False, binding=False
"""gevent's loop over the system's libev: a Cython wrapper built like gevent's ``corecext``.

    from impls.libev.core import loop

    evloop = loop(default=False)
    evloop.timer(0.5).start(print, "half a second later")
    evloop.run_callback(print, "first")
    evloop.run()          # returns when no referenced watcher is active, no callback queued
    evloop.destroy()

libev (Debian's ``libev-dev``: ``ev.h`` and ``-lev``) does the work; this module
gives it gevent's interface, in three pieces, as gevent's ``src/gevent/libev/
corecext.pyx`` and ``callbacks.c`` do:

* ``loop`` owns a ``struct ev_loop*``. Its prepare watcher runs run_callback's
  callbacks before each poll, its zero-second timer keeps that poll from blocking
  while callbacks remain, and ``run`` releases the GIL around ``ev_run``.
* every watcher class embeds its libev struct (``ev_io``, ``ev_timer``, ...), whose
  ``data`` points back at the Python watcher. While libev may call it, the watcher
  holds a reference to itself, so that ``data`` never points at freed memory.
* one C callback per kind of watcher takes the GIL, finds the watcher through
  ``data`` and calls its Python callback; an exception goes to ``loop.handle_error``.

The real gevent runs on it when told to: ``GEVENT_LOOP=impls.libev.core.loop``.
"""
cimport cython
from cpython.exc cimport PyErr_CheckSignals, PyErr_SetFromErrno
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from libc.errno cimport errno
from libc.signal cimport SIGCHLD
from libc.string cimport memcpy
from posix.fcntl cimport F_GETFD, fcntl
from posix.signal cimport sigaction, sigaction_t
from posix.stat cimport struct_stat
from posix.time cimport timespec

from . cimport libev

import os
import signal as signalmodule
import sys
import traceback

from gevent._interfaces import ICallback, ILoop
from gevent.exceptions import HubDestroyed
from zope.interface import classImplements

__all__ = [
    "get_version",
    "get_header_version",
    "supported_backends",
    "recommended_backends",
    "embeddable_backends",
    "time",
    "loop",
]

# ---- libev's numbers, under the names gevent gives them (gevent.core.READ, ...)

UNDEF = libev.EV_UNDEF
NONE = libev.EV_NONE
READ = libev.EV_READ
WRITE = libev.EV_WRITE
TIMER = libev.EV_TIMER
PERIODIC = libev.EV_PERIODIC
SIGNAL = libev.EV_SIGNAL
CHILD = libev.EV_CHILD
STAT = libev.EV_STAT
IDLE = libev.EV_IDLE
PREPARE = libev.EV_PREPARE
CHECK = libev.EV_CHECK
EMBED = libev.EV_EMBED
FORK = libev.EV_FORK
CLEANUP = libev.EV_CLEANUP
ASYNC = libev.EV_ASYNC
CUSTOM = libev.EV_CUSTOM
ERROR = libev.EV_ERROR
READWRITE = libev.EV_READ | libev.EV_WRITE
MINPRI = libev.EV_MINPRI
MAXPRI = libev.EV_MAXPRI

# Backends and flags by name (GEVENT_BACKEND), the backends in the order libev tries
# them (loop_init in ev.c)
_FLAG_BITS = {
    "port": libev.EVBACKEND_PORT,
    "kqueue": libev.EVBACKEND_KQUEUE,
    "linux_iouring": libev.EVBACKEND_IOURING,
    "linux_aio": libev.EVBACKEND_LINUXAIO,
    "epoll": libev.EVBACKEND_EPOLL,
    "poll": libev.EVBACKEND_POLL,
    "select": libev.EVBACKEND_SELECT,
    "noenv": libev.EVFLAG_NOENV,
    "forkcheck": libev.EVFLAG_FORKCHECK,
    "noinotify": libev.EVFLAG_NOINOTIFY,
    "signalfd": libev.EVFLAG_SIGNALFD,
    "nosigmask": libev.EVFLAG_NOSIGMASK,
}

cdef enum:
    _CALLBACK_CHECK_COUNT = 50  # run_callback's callbacks run between two looks at the clock
    _PROBED_INTS = 64  # how far into struct ev_loop _find_loop_fields looks, in ints


class _EVENTSType:
    """The placeholder that ``io.start(..., pass_events=True)`` puts first in the
    args; the revents take its place when the callback is called."""

    def __repr__(self):
        return "gevent.core.EVENTS"


GEVENT_CORE_EVENTS = EVENTS = _EVENTSType()


# ---- The module's functions, as gevent's libev modules have them


def get_version():
    """The libev this module runs on."""
    return "libev-%d.%02d" % (libev.ev_version_major(), libev.ev_version_minor())


def get_header_version():
    """The libev whose ev.h it was compiled against."""
    return "libev-%d.%02d" % (libev.EV_VERSION_MAJOR, libev.EV_VERSION_MINOR)


def supported_backends():
    return _flags_to_list(libev.ev_supported_backends())


def recommended_backends():
    return _flags_to_list(libev.ev_recommended_backends())


def embeddable_backends():
    return _flags_to_list(libev.ev_embeddable_backends())


def time():
    """The wall-clock time (ev_time)."""
    return libev.ev_time()


def _flags_to_list(unsigned int flags):
    return [name for name, bit in _FLAG_BITS.items() if flags & bit]


cdef unsigned int _flags_to_int(flags) except? 0:
    """libev's flags from what gevent accepts: an int, a name, a comma-separated
    string of names, or a list of names (gevent's GEVENT_BACKEND setting). A
    backend this system does not have is a ValueError here, before libev aborts."""
    cdef unsigned int result = 0
    if isinstance(flags, int):
        result = flags
    elif flags:
        for name in flags.split(",") if isinstance(flags, str) else flags:
            name = name.strip().lower()
            if name and name not in _FLAG_BITS:
                raise ValueError("Invalid backend or flag: %r\nPossible values: %s" % (name, ", ".join(_FLAG_BITS)))
            result |= _FLAG_BITS.get(name, 0)
    cdef unsigned int backends = result & libev.EVBACKEND_MASK
    if backends and not backends & libev.ev_supported_backends():
        raise ValueError("Unsupported backend: %s" % "|".join(_flags_to_list(backends)))
    return result


# ---- Two fields from inside libev's struct ev_loop
# libev counts a loop's active, referenced watchers (plus ev_ref, minus ev_unref) in
# activecnt, and ev_run returns when it drops to 0; backend_fd is the epoll fd the
# loop waits on. gevent's tests and ours read both, but ev.h only declares `struct
# ev_loop;`: where the fields are depends on how the library was configured. gevent
# compiles libev into corecext and reads them by name (its libev.h); built against
# the system's libev, it reports -1. We find them, once, on a loop made to be looked at.

cdef Py_ssize_t _ACTIVECNT  # the index of activecnt in struct ev_loop, counted in ints
cdef Py_ssize_t _BACKEND_FD  # the index of backend_fd


cdef int _find_loop_fields() except -1:
    """ev_ref is ``++activecnt`` and nothing else, and ev_break only sets loop_done:
    on a fresh loop, the int each one changes is that field. libev's ev_vars.h lists
    ``backend, activecnt, loop_done, backend_fd`` in a row; finding the first three
    where it says, we take the fourth. They are among the first fields, well within
    the first _PROBED_INTS ints of the struct (which is far bigger: 1.3 kB here)."""
    global _ACTIVECNT, _BACKEND_FD
    cdef libev.ev_loop* probe = libev.ev_loop_new(libev.EVFLAG_NOENV)
    cdef int* fields = <int*>probe
    cdef int before[_PROBED_INTS]
    if probe == NULL:
        raise ImportError("libev could not make a loop")
    memcpy(before, fields, sizeof(before))
    libev.ev_ref(probe)
    cdef Py_ssize_t activecnt = _the_changed_int(before, fields)
    memcpy(before, fields, sizeof(before))
    libev.ev_break(probe, libev.EVBREAK_ALL)
    cdef Py_ssize_t loop_done = _the_changed_int(before, fields)
    cdef bint as_listed = (activecnt > 0 and loop_done == activecnt + 1
                           and fields[activecnt - 1] == <int>libev.ev_backend(probe)
                           and fields[loop_done] == libev.EVBREAK_ALL)
    libev.ev_loop_destroy(probe)
    if not as_listed:
        raise ImportError("cannot find activecnt and backend_fd in this libev's struct ev_loop")
    _ACTIVECNT, _BACKEND_FD = activecnt, loop_done + 1
    return 0


cdef Py_ssize_t _the_changed_int(const int* before, const int* after) noexcept:
    """The index of the one int that differs between two looks at the struct; -1 if
    not exactly one does."""
    cdef Py_ssize_t i, found = -1
    for i in range(_PROBED_INTS):
        if after[i] != before[i]:
            if found != -1:
                return -1
            found = i
    return found


_find_loop_fields()


# ---- The default loop and SIGCHLD
# libev has one default loop per process, the only one that reaps children: it
# watches SIGCHLD. Every loop(default=True) shares it; the last one destroyed
# destroys it. Like gevent (gevent_ev_default_loop in its libev.h), we put back the
# SIGCHLD handler the program had, so that libev does not reap children behind
# os.waitpid's back, and install libev's only once child watchers are wanted.

cdef int _default_users = 0  # loop objects on libev's default loop, alive
cdef sigaction_t _libev_sigchld  # libev's SIGCHLD handler, set aside
cdef int _sigchld_state = 0  # 0: no default loop yet; 1: libev's handler set aside; 2: installed


cdef libev.ev_loop* _default_loop(unsigned int flags) noexcept:
    """ev_default_loop, which, the first time, installs libev's SIGCHLD handler: we
    keep it aside and put the program's back."""
    global _sigchld_state
    cdef sigaction_t program_handler
    if _sigchld_state:
        return libev.ev_default_loop(flags)
    sigaction(SIGCHLD, NULL, &program_handler)
    cdef libev.ev_loop* ptr = libev.ev_default_loop(flags)
    sigaction(SIGCHLD, &program_handler, &_libev_sigchld)
    _sigchld_state = 1
    return ptr


cdef void _install_sigchld() noexcept:
    """gevent_install_sigchld_handler: from now on, libev reaps the children."""
    global _sigchld_state
    if _sigchld_state == 1:
        sigaction(SIGCHLD, &_libev_sigchld, NULL)
        _sigchld_state = 2


cdef void _destroy_ev_loop(libev.ev_loop* ptr) noexcept:
    """ev_loop_destroy. The default loop stays if a loop object uses it again (made
    while a run() held its destruction back); once gone, the next one starts over
    with SIGCHLD."""
    global _sigchld_state
    if libev.ev_is_default_loop(ptr):
        if _default_users:
            return
        _sigchld_state = 0
    libev.ev_loop_destroy(ptr)


# ---- Signals: libev lets one loop at a time watch a signal
# Its signal table is process-wide (`signals` in ev.c), and it asserts (aborts the
# process) when a second loop starts watching a signal. We count each signal's active
# watchers and their loop to refuse with a ValueError instead.

_signal_owners = {}  # signum -> [loop pointer, its active watchers of that signal]


cdef int _claim_signal(loop evloop, int signum) except -1:
    cdef size_t ptr = <size_t>evloop._ptr
    owner = _signal_owners.get(signum)
    if owner is None and signum == SIGCHLD and _default_users and not evloop._default:
        raise ValueError("signal %d is watched by the default loop (it reaps children)" % signum)
    if owner is None:
        _signal_owners[signum] = [ptr, 1]
    elif owner[0] != ptr:
        raise ValueError("signal %d is watched by another loop" % signum)
    else:
        owner[1] += 1
    return 0


cdef void _release_signal(int signum) noexcept:
    owner = _signal_owners[signum]
    owner[1] -= 1
    if not owner[1]:
        del _signal_owners[signum]


# ---- libev's system errors
# Without a hook, libev prints and aborts the process when a system call it cannot
# do without fails (epoll_wait, say). As gevent's corecext does, we give the error to
# a loop's handle_error instead: the default loop's, or else the first loop's.

cdef PyObject* _syserr_loop = NULL  # borrowed: the loop clears it when it goes


cdef void _syserr_callback(const char* msg) noexcept with gil:
    """ev_syserr's hook (ev_set_syserr_cb)."""
    error = SystemError("%s: %s" % (msg.decode(errors="replace"), os.strerror(errno)))
    if _syserr_loop == NULL:
        print(error, file=sys.stderr)
        return
    try:
        (<loop>_syserr_loop).handle_error(None, SystemError, error, None)
    except BaseException:
        traceback.print_exc()


libev.ev_set_syserr_cb(_syserr_callback)


# ---- Errors: nothing raised in a callback may reach libev


cdef void _handle_error(loop evloop, object context) noexcept:
    """gevent_handle_error: give the exception being handled to evloop.handle_error,
    with the watcher or callback it came from as context (None for a signal). An
    error in handle_error itself is printed."""
    t, v, tb = sys.exc_info()
    try:
        evloop.handle_error(context, t, v, tb)
    except BaseException:
        traceback.print_exc()


cdef void _check_signals(loop evloop) noexcept:
    """gevent_check_signals: ev_run runs without the GIL, so Python's signal handlers
    (SIGINT's KeyboardInterrupt) wait for someone to run them. Every loop runs them
    before each callback (gevent's default loop only, which is its main thread's hub's;
    Python runs them in the main thread only anyway). An exception goes to handle_error
    with no context, and the hub raises it in the main greenlet."""
    try:
        PyErr_CheckSignals()
    except BaseException:
        _handle_error(evloop, None)


cdef inline int _check(loop evloop) except -1:
    if evloop._ptr == NULL:
        raise ValueError("operation on destroyed loop")
    return 0


# ---- run_callback's callbacks


@cython.final
cdef class callback:
    """What run_callback returns: a call to be made. ``pending`` until the call
    starts; true (``bool``) until it has returned; ``stop()`` or ``close()`` cancels it."""

    cdef public object callback  # None once the call started, or was stopped
    cdef public tuple args  # None once the call returned, or was stopped

    def __init__(self, callback, args):
        self.callback = callback
        self.args = args

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
        state = " pending" if self.callback is not None else ""
        if self.callback is not None:
            state += " callback=%r" % (self.callback,)
        if self.args is not None:
            state += " args=%r" % (self.args,)
        if self.callback is None and self.args is None:
            state += " stopped"
        return "<callback at 0x%x%s>" % (id(self), state)


# ---- The loop


cdef class loop:
    """An event loop: a libev ``struct ev_loop`` with gevent's ``corecext.loop`` on top.

    ``flags`` names the backend: "epoll", "poll", "select", or a list of them (libev
    picks by default). ``default`` (None means True) takes libev's default loop, the
    one that reaps child processes; loops that are not default have a loop of their
    own (ev_loop_new).

    A loop belongs to one thread: only run_callback_threadsafe and the ``send`` of
    async watchers may be called from others. Once ``destroy()`` ed, a loop raises
    ValueError for anything but destroy, reinit, fileno, default and handle_error.
    """

    # ---- libev's side
    cdef libev.ev_loop* _ptr  # the libev loop; NULL once destroyed
    cdef libev.ev_prepare _prepare  # runs the callbacks, before every poll
    cdef libev.ev_timer _timer0  # started while callbacks wait: the poll must not block
    cdef libev.ev_async _threadsafe_async  # wakes the poll for run_callback_threadsafe
    cdef libev.ev_loop* _destroy_after_run  # destroy() came during run(): ev_run's caller frees it
    cdef bint _default  # we share libev's default loop
    # ---- gevent's side
    cdef list _callbacks  # run_callback's queue, oldest first (gevent: a linked list)...
    cdef Py_ssize_t _taken  # ...whose first _taken callbacks _run_callbacks has taken off
    cdef PyObject* _held  # the watchers libev may call, a list through watcher._held_next
    cdef public object error_handler  # where handle_error sends errors: the Hub, while it runs us
    cdef readonly bint starting_timer_may_update_loop_time  # True while callbacks run

    MINPRI = libev.EV_MINPRI
    MAXPRI = libev.EV_MAXPRI
    approx_timer_resolution = 0.00001  # the guess gevent's libev loops make

    def __cinit__(self, flags=None, default=None):
        global _default_users, _syserr_loop
        cdef unsigned int c_flags = _flags_to_int(flags) | libev.EVFLAG_NOENV | libev.EVFLAG_FORKCHECK
        self._default = True if default is None else bool(default)
        if self._default:
            self._ptr = _default_loop(c_flags)
        else:
            self._ptr = libev.ev_loop_new(c_flags)
        if self._ptr == NULL:
            raise SystemError("libev could not make a loop with flags 0x%x" % c_flags)
        self._callbacks = []
        _default_users += self._default
        if self._default or _syserr_loop == NULL:
            _syserr_loop = <PyObject*>self
        self._start_own_watchers()

    cdef void _start_own_watchers(self) noexcept:
        """The loop's own watchers. The prepare and async ones are always active and
        must not keep run() going: each is unref'd once started (libev's advice for
        such watchers). _timer0 stays referenced: while it runs, callbacks wait."""
        libev.ev_prepare_init(&self._prepare, _prepare_callback)
        self._prepare.data = <void*>self
        libev.ev_prepare_start(self._ptr, &self._prepare)
        libev.ev_unref(self._ptr)
        libev.ev_timer_init(&self._timer0, _wake_only_timer, 0.0, 0.0)
        libev.ev_async_init(&self._threadsafe_async, _wake_only_async)
        libev.ev_async_start(self._ptr, &self._threadsafe_async)
        libev.ev_unref(self._ptr)

    # ---- Life cycle

    def destroy(self):
        """Stop every watcher of the loop and free the libev loop (ev_loop_destroy).
        gevent's corecext leaves the watchers alone; stopping them releases their
        references, and keeps libev's process-wide signal and child tables from
        pointing into freed memory. Destroying twice does nothing; destroying during
        run() makes that run() return, and the loop is freed when it does."""
        global _syserr_loop
        if self._ptr == NULL:
            return
        self._stop_held_watchers()
        self._drop_callbacks()
        if _syserr_loop == <PyObject*>self:
            _syserr_loop = NULL
        self._release_ptr()

    def __dealloc__(self):
        global _syserr_loop
        if _syserr_loop == <PyObject*>self:
            _syserr_loop = NULL
        if self._ptr != NULL:
            if self._callbacks is not None:  # None if the garbage collector cleared us first
                self._drop_callbacks()  # their refs: other loop objects may share the default loop
            self._release_ptr()

    cdef void _stop_held_watchers(self) noexcept:
        """stop() every watcher libev may call, listed first: each stop changes the list."""
        cdef list held = []
        cdef PyObject* cursor = self._held
        while cursor != NULL:
            held.append(<object>cursor)
            cursor = (<watcher>cursor)._held_next
        for w in held:
            (<watcher>w)._stop()

    cdef void _release_ptr(self) noexcept:
        """Give the libev loop back: stop our own watchers, then ev_loop_destroy,
        unless other loop objects still share the default loop, or ev_run is under
        way (freeing its loop would crash it): run() destroys it when ev_run returns."""
        global _default_users
        cdef libev.ev_loop* ptr = self._ptr
        self._ptr = NULL
        libev.ev_ref(ptr)
        libev.ev_prepare_stop(ptr, &self._prepare)
        libev.ev_timer_stop(ptr, &self._timer0)
        libev.ev_ref(ptr)
        libev.ev_async_stop(ptr, &self._threadsafe_async)
        if self._default:
            _default_users -= 1
            if _default_users:
                return
        if libev.ev_depth(ptr):
            libev.ev_break(ptr, libev.EVBREAK_ALL)
            self._destroy_after_run = ptr
        else:
            _destroy_ev_loop(ptr)

    def reinit(self):
        """ev_loop_fork: call it in the child after a fork. Without it, the loop notices
        the new pid at its next iteration (EVFLAG_FORKCHECK, which gevent always sets)."""
        if self._ptr != NULL:
            libev.ev_loop_fork(self._ptr)

    # ---- Running

    def run(self, nowait=False, once=False):
        """ev_run: iterate until no referenced watcher is active and no callback is
        queued, or until break_(). With ``once``: one iteration, which waits for
        something to happen; with ``nowait``: one iteration, which does not wait.
        The GIL is released meanwhile; each callback takes it back."""
        _check(self)
        cdef libev.ev_loop* ptr = self._ptr
        cdef int flags = (libev.EVRUN_NOWAIT if nowait else 0) | (libev.EVRUN_ONCE if once else 0)
        with nogil:
            libev.ev_run(ptr, flags)
        if self._destroy_after_run == ptr and not libev.ev_depth(ptr):
            self._destroy_after_run = NULL
            _destroy_ev_loop(ptr)

    def break_(self, int how=libev.EVBREAK_ONE):
        """ev_break: run() returns at the end of this iteration (EVBREAK_ONE: the
        innermost run(); EVBREAK_ALL: all of them)."""
        _check(self)
        libev.ev_break(self._ptr, how)

    def ref(self):
        """ev_ref: one more reason for run() to go on."""
        _check(self)
        libev.ev_ref(self._ptr)

    def unref(self):
        """ev_unref: one reason less."""
        _check(self)
        libev.ev_unref(self._ptr)

    def verify(self):
        """ev_verify: libev checks its structures and aborts the process if one is
        corrupt (Debian's libev keeps its assertions)."""
        _check(self)
        libev.ev_verify(self._ptr)

    # ---- gevent's callbacks: run_callback

    def run_callback(self, func, *args):
        """Call ``func(*args)`` soon, in the loop's thread: in the next prepare phase,
        before the loop waits, or in the current one if callbacks are running. They
        run in the order they were added. Returns a ``callback``, whose ``stop()``
        cancels the call. Each queued callback refs the loop, so run() waits for it."""
        _check(self)
        cdef callback cb = callback.__new__(callback)
        cb.callback = func
        cb.args = args
        self._callbacks.append(cb)
        libev.ev_ref(self._ptr)
        return cb

    def run_callback_threadsafe(self, func, *args):
        """run_callback, from any thread, which also wakes the loop if it waits (the
        GIL makes the queue safe; ev_async_send is made for other threads)."""
        cb = self.run_callback(func, *args)
        libev.ev_async_send(self._ptr, &self._threadsafe_async)
        return cb

    @cython.boundscheck(False)  # _taken < len(_callbacks), checked by the loop
    @cython.wraparound(False)
    cdef void _run_callbacks(self) noexcept:
        """gevent's _run_callbacks, the prepare watcher's work: run the callbacks,
        oldest first, including those added meanwhile. Every 50 callbacks it reads
        the clock, and stops once the pass has taken the interpreter's switch
        interval (5 ms), so that a flood of callbacks cannot starve I/O; the
        zero-second timer it then starts keeps the next poll from blocking."""
        if not self._callbacks:
            return  # most iterations of a busy server: nothing queued, nothing to time
        cdef libev.ev_loop* ptr = self._ptr
        cdef int count = _CALLBACK_CHECK_COUNT
        cdef libev.ev_tstamp expiration = libev.ev_now(ptr) + sys.getswitchinterval()
        cdef callback cb
        libev.ev_timer_stop(ptr, &self._timer0)
        self.starting_timer_may_update_loop_time = True
        while self._taken < len(self._callbacks):
            cb = <callback>self._callbacks[self._taken]
            self._callbacks[self._taken] = None  # let go at once: its memory serves the next one
            self._taken += 1
            libev.ev_unref(ptr)  # the ref run_callback took: this one no longer waits
            self._call(cb)
            count -= 1
            if count == 0 and self._taken < len(self._callbacks):
                count = _CALLBACK_CHECK_COUNT
                libev.ev_now_update(ptr)
                if libev.ev_now(ptr) >= expiration:
                    break
        else:
            libev.ev_now_update(ptr)
        del self._callbacks[:self._taken]  # one slice: cheaper than popping the front each time
        self._taken = 0
        if self._callbacks:
            libev.ev_timer_start(ptr, &self._timer0)
        self.starting_timer_may_update_loop_time = False

    cdef inline void _call(self, callback cb) noexcept:
        """gevent_call (callbacks.c): ``pending`` turns false as the call starts,
        ``bool`` once it returns. A stopped callback is skipped."""
        cdef object func = cb.callback
        cdef tuple args = cb.args
        if func is None or args is None:
            return
        cb.callback = None
        try:
            func(*args)
        except BaseException:
            _handle_error(self, cb)
        cb.args = None

    cdef void _drop_callbacks(self) noexcept:
        """Forget the queued callbacks, giving back the ref each one took."""
        for _ in range(len(self._callbacks) - self._taken):
            libev.ev_unref(self._ptr)
        del self._callbacks[:]
        self._taken = 0

    # ---- Errors

    def handle_error(self, context, type, value, tb):
        """Where every exception raised by a callback goes, with its watcher or
        callback object as context (None for a signal or a system error). The
        error_handler decides (gevent's Hub: it prints, and raises system errors in
        the main greenlet); without one, the error is printed and run() returns.
        HubDestroyed drops the callbacks and ends run()."""
        if type is HubDestroyed:
            self._drop_callbacks()
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
        if self._ptr != NULL:
            libev.ev_break(self._ptr, libev.EVBREAK_ONE)

    # ---- Time

    def now(self):
        """ev_now: the wall-clock time of the loop's last time update, so that the
        callbacks of one iteration agree on the time."""
        _check(self)
        return libev.ev_now(self._ptr)

    def update_now(self):
        """ev_now_update: read the clocks now, for code that ran a long time."""
        _check(self)
        libev.ev_now_update(self._ptr)

    update = update_now  # the old name

    # ---- Watcher factories

    def io(self, int fd, int events, ref=True, priority=None):
        return io(self, fd, events, ref, priority)

    def timer(self, double after, double repeat=0.0, ref=True, priority=None):
        return timer(self, after, repeat, ref, priority)

    def signal(self, int signum, ref=True, priority=None):
        return signal(self, signum, ref, priority)

    def idle(self, ref=True, priority=None):
        return idle(self, ref, priority)

    def prepare(self, ref=True, priority=None):
        return prepare(self, ref, priority)

    def check(self, ref=True, priority=None):
        return check(self, ref, priority)

    def fork(self, ref=True, priority=None):
        return fork(self, ref, priority)

    def async_(self, ref=True, priority=None):
        return async_(self, ref, priority)

    async = async_  # the name before Python 3.7 made it a keyword (gevent's tests use it)

    def child(self, int pid, bint trace=0, ref=True):
        return child(self, pid, trace, ref)

    def stat(self, str path, double interval=0.0, ref=True, priority=None):
        return stat(self, path, interval, ref, priority)

    # ---- Child processes

    def install_sigchld(self):
        """Let libev reap the children from now on (gevent's subprocess calls it)."""
        _install_sigchld()

    def reset_sigchld(self):
        """gevent gave SIGCHLD to someone else: the next install_sigchld takes it back."""
        global _sigchld_state
        if _sigchld_state:
            _sigchld_state = 1

    # ---- File descriptors

    def closing_fd(self, int fd):
        """gevent calls it before closing fd: the fd's active watchers are fed (their
        callbacks find the fd closing), and True says some were, so that gevent
        closes the fd only after they have run."""
        _check(self)
        cdef unsigned int before = libev.ev_pending_count(self._ptr)
        libev.ev_feed_fd_event(self._ptr, fd, 0xFFFF)
        return libev.ev_pending_count(self._ptr) > before

    def fileno(self):
        """The backend's file descriptor (epoll's), or None: the select and poll
        backends have none, and a destroyed loop has nothing."""
        if self._ptr != NULL and (<int*>self._ptr)[_BACKEND_FD] >= 0:
            return (<int*>self._ptr)[_BACKEND_FD]

    # ---- Introspection

    @property
    def default(self):
        return self._default and self._ptr != NULL

    @property
    def activecnt(self):
        """libev's activecnt: active referenced watchers, plus queued callbacks (each
        refs the loop), plus ev_ref, minus ev_unref. run() returns when it is 0."""
        _check(self)
        return (<int*>self._ptr)[_ACTIVECNT]

    @property
    def pendingcnt(self):
        """ev_pending_count: pending events, counting those stopped since (libev too)."""
        _check(self)
        return libev.ev_pending_count(self._ptr)

    @property
    def iteration(self):
        _check(self)
        return libev.ev_iteration(self._ptr)

    @property
    def depth(self):
        _check(self)
        return libev.ev_depth(self._ptr)

    @property
    def backend_int(self):
        _check(self)
        return libev.ev_backend(self._ptr)

    @property
    def backend(self):
        names = _flags_to_list(self.backend_int)
        return names[0] if names else self.backend_int

    @property
    def ptr(self):
        """The libev loop's address, 0 once destroyed (gevent's tests tell loops apart by it)."""
        return <size_t>self._ptr

    def _format(self):
        if self._ptr == NULL:
            return "destroyed"
        return "%s%s pending=%s ref=%s" % (
            self.backend, " default" if self._default else "", self.pendingcnt, self.activecnt)

    def __repr__(self):
        return "<%s at 0x%x %s>" % (type(self).__name__, id(self), self._format())


cdef void _prepare_callback(libev.ev_loop* ptr, libev.ev_prepare* w, int revents) noexcept with gil:
    """gevent_run_callbacks (callbacks.c): the loop's prepare watcher."""
    cdef loop evloop = <loop>w.data
    _check_signals(evloop)
    evloop._run_callbacks()


cdef void _wake_only_timer(libev.ev_loop* ptr, libev.ev_timer* w, int revents) noexcept nogil:
    """_timer0's callback: the timer exists to end the poll at once (gevent_noop)."""


cdef void _wake_only_async(libev.ev_loop* ptr, libev.ev_async* w, int revents) noexcept nogil:
    """_threadsafe_async's callback: the send exists to end the poll (gevent_noop)."""


# ---- Watchers: what every kind shares


cdef class watcher:
    """What every kind of watcher shares. A watcher is *active* from start() until
    stop(), or until libev stops it (a timer that fired, an io watcher on a bad fd);
    it is *pending* from the moment the loop sees its event until its callback is
    called, or until stop(). A watcher belongs to one loop and one thread."""

    cdef readonly loop loop  # the loop it belongs to
    cdef object _callback  # called when the event happens
    cdef public tuple args  # its arguments; None while stopped
    cdef libev.ev_watcher* _w  # our ev_TYPE struct, which each kind embeds, as its common part
    cdef bint _unref_wanted  # ref=False: this watcher must not keep run() going
    cdef bint _owes_ref  # we ev_unref'd the loop for this watcher, and owe it an ev_ref
    cdef bint _held  # we hold a reference to ourselves: libev may call us
    cdef PyObject* _held_prev  # our neighbours in the loop's list of held watchers
    cdef PyObject* _held_next

    def __cinit__(self, loop loop not None, *args, **kwargs):
        if type(self) is watcher:
            raise TypeError("watcher is abstract: use loop.io(), loop.timer(), ...")
        self.loop = loop

    cdef int _setup(self, libev.ev_watcher* w, ref, priority) except -1:
        """What each kind's __cinit__ ends with, once it has made its ev_TYPE struct.
        libev's ev_init set the priority to 0: the one asked for comes after it."""
        self._w = w
        w.data = <void*>self
        self._unref_wanted = not ref
        if priority is not None:
            libev.ev_set_priority(w, priority)
        return 0

    # ---- What each kind does: ev_TYPE_start and ev_TYPE_stop

    cdef int _ev_start(self) except -1:
        raise NotImplementedError  # every kind has its own: Cython dispatches through this one

    cdef void _ev_stop(self) noexcept:
        pass  # likewise

    # ---- Starting and stopping: gevent's layer over libev's

    def start(self, callback, *args):
        """Watch for the event: call ``callback(*args)`` each time it happens. Starting
        an active watcher only replaces the callback and args. TypeError if the
        callback is not callable; ValueError if the loop was destroyed."""
        self._start(callback, args)

    cdef int _start(self, callback, tuple args) except -1:
        """corecext's _watcher_start, for start() and the kinds' own versions of it."""
        _check(self.loop)
        if not callable(callback):
            raise TypeError("Expected callable, not %r" % (callback,))
        self._ev_start()  # first: a kind that refuses to start leaves everything as it was
        self._callback = callback
        self.args = args
        self._unref_if_wanted()
        self._hold()
        return 0

    def stop(self):
        """Stop watching; a pending event is dropped. Stopping twice is harmless."""
        _check(self.loop)
        self._stop()

    cdef void _stop(self) noexcept:
        """stop(), also when libev stopped the watcher itself, or when the loop is being
        destroyed. The last step may free the watcher."""
        if self.loop._ptr != NULL:
            self._ref_back()
            self._ev_stop()  # ev_TYPE_stop also drops a pending event
        self._callback = None
        self.args = None
        self._release()

    def close(self):
        """stop(): the struct is part of the object (gevent's CFFI watchers free one)."""
        self.stop()

    def __enter__(self):
        return self

    def __exit__(self, t, v, tb):
        self.close()

    def feed(self, int revents, callback, *args):
        """Make the watcher pending now with ``revents``, as if its event had happened
        (ev_feed_event), with this callback and args; it runs in the loop's next pass
        over pending watchers, started or not."""
        _check(self.loop)
        self.callback = callback
        self.args = args
        self._unref_if_wanted()
        # libev indexes its pending queues by priority and only ev_start clamps it
        libev.ev_set_priority(self._w, min(max(libev.ev_priority(self._w), libev.EV_MINPRI), libev.EV_MAXPRI))
        libev.ev_feed_event(self.loop._ptr, self._w, revents)
        self._hold()

    # ---- The reference to ourselves: libev's data pointer must not dangle

    cdef void _hold(self) noexcept:
        """While libev may call this watcher (started, or fed), ``data`` points at it:
        the watcher holds a reference to itself (gevent's _python_incref), and joins
        the loop's list of held watchers, which destroy() stops."""
        if self._held:
            return
        Py_INCREF(self)
        self._held = True
        self._held_prev = NULL
        self._held_next = self.loop._held
        if self._held_next != NULL:
            (<watcher>self._held_next)._held_prev = <PyObject*>self
        self.loop._held = <PyObject*>self

    cdef void _release(self) noexcept:
        """Leave the list and drop the reference (gevent's _python_decref): last, as it
        may free the watcher."""
        if not self._held:
            return
        if self._held_prev != NULL:
            (<watcher>self._held_prev)._held_next = self._held_next
        else:
            self.loop._held = self._held_next
        if self._held_next != NULL:
            (<watcher>self._held_next)._held_prev = self._held_prev
        self._held = False
        Py_DECREF(self)

    # ---- ref: whether an active watcher keeps run() going
    # libev counts active watchers in activecnt. One that must not count (ref=False)
    # takes its count back with an ev_unref when it starts, and gives it back with an
    # ev_ref before it stops (ev.h's advice; gevent's _libev_unref and _libev_ref).

    cdef void _unref_if_wanted(self) noexcept:
        if self._unref_wanted and not self._owes_ref:
            libev.ev_unref(self.loop._ptr)
            self._owes_ref = True

    cdef void _ref_back(self) noexcept:
        if self._owes_ref:
            libev.ev_ref(self.loop._ptr)
            self._owes_ref = False

    @property
    def ref(self):
        return not self._unref_wanted

    @ref.setter
    def ref(self, value):
        _check(self.loop)
        if value:
            self._ref_back()
            self._unref_wanted = False
        else:
            self._unref_wanted = True
            if libev.ev_is_active(self._w):
                self._unref_if_wanted()

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
    def priority(self):
        return libev.ev_priority(self._w)

    @priority.setter
    def priority(self, int priority):
        if libev.ev_is_active(self._w):
            raise AttributeError("Cannot set priority of an active watcher")
        if libev.ev_is_pending(self._w):  # libev finds its queue slot by priority
            raise AttributeError("Cannot set priority of a pending watcher")
        libev.ev_set_priority(self._w, priority)

    @property
    def active(self):
        return bool(libev.ev_is_active(self._w))

    @property
    def pending(self):
        return bool(libev.ev_is_pending(self._w))

    def __repr__(self):
        details = self._format()
        if self.active:
            details += " active"
        if self.pending:
            details += " pending"
        if self._callback is not None:
            details += " callback=%r" % (self._callback,)
        if self.args is not None:
            details += " args=%r" % (self.args,)
        return "<%s at 0x%x%s>" % (type(self).__name__, id(self), details)

    def _format(self):
        return ""


cdef void _invoke(watcher w, int revents) noexcept:
    """gevent_callback (callbacks.c), which each kind's C callback calls: call w's
    Python callback. An exception goes to handle_error with w as context, and an io
    watcher is then stopped: its fd, still ready, would call the failing callback
    forever. A watcher that libev stopped (a timer that fired) is stopped here too,
    which drops its callback, args and the reference to itself."""
    cdef watcher alive = w  # a reference of our own: the callback may stop w, which drops w's
    cdef loop evloop = w.loop
    cdef tuple args = w.args
    _check_signals(evloop)
    if args is None:
        args = ()
    elif args and args[0] is GEVENT_CORE_EVENTS:
        args = (revents,) + args[1:]
    try:
        w._callback(*args)
    except BaseException:
        _handle_error(evloop, w)
        if revents & (libev.EV_READ | libev.EV_WRITE):
            w._stop()
            return
    if not libev.ev_is_active(w._w):
        w._stop()


# ---- io


cdef class io(watcher):
    """Readiness of a file descriptor for READ, WRITE or both (``events``). ``fd``
    and ``events`` can change only while the watcher is stopped. ``start(callback,
    *args, pass_events=True)`` passes the revents as the callback's first argument.
    A negative fd or an illegal mask is a ValueError; a closed fd, OSError EBADF."""

    cdef libev.ev_io _watcher

    def __cinit__(self, loop loop, int fd, int events, ref=True, priority=None):
        _check_fd(fd)
        _check_events(events)
        if fcntl(fd, F_GETFD) == -1:  # libev's fd_valid: a closed fd, EBADF
            PyErr_SetFromErrno(OSError)
        libev.ev_io_init(&self._watcher, _io_callback, fd, events)
        self._setup(<libev.ev_watcher*>&self._watcher, ref, priority)

    def start(self, callback, *args, pass_events=False):
        if pass_events:
            args = (GEVENT_CORE_EVENTS,) + args
        self._start(callback, args)

    cdef int _ev_start(self) except -1:
        """ev_io_start. A closed fd would reach epoll_ctl, and Debian's libev, built
        with its assertions, aborts there; a release libev stops the fd's watchers and
        feeds them ERROR | READ | WRITE (fd_kill). We do that part before it gets there."""
        if libev.ev_is_active(&self._watcher) or fcntl(self._watcher.fd, F_GETFD) != -1:
            libev.ev_io_start(self.loop._ptr, &self._watcher)
        else:
            libev.ev_feed_event(self.loop._ptr, &self._watcher, libev.EV_ERROR | libev.EV_READ | libev.EV_WRITE)
        return 0

    cdef void _ev_stop(self) noexcept:
        libev.ev_io_stop(self.loop._ptr, &self._watcher)

    @property
    def fd(self):
        return self._watcher.fd

    @fd.setter
    def fd(self, int fd):
        self._check_stopped("fd")
        _check_fd(fd)
        libev.ev_io_set(&self._watcher, fd, self._watcher.events)

    @property
    def events(self):
        return self._watcher.events

    @events.setter
    def events(self, int events):
        self._check_stopped("events")
        _check_events(events)
        libev.ev_io_set(&self._watcher, self._watcher.fd, events)

    cdef int _check_stopped(self, name) except -1:
        if libev.ev_is_active(&self._watcher):
            raise AttributeError("'io' watcher attribute '%s' is read-only while watcher is active" % name)
        return 0

    def _format(self):
        return " fd=%s events=%s" % (self._watcher.fd, self._watcher.events)


cdef int _check_fd(int fd) except -1:
    if fd < 0:
        raise ValueError("fd must be non-negative: %r" % fd)
    return 0


cdef int _check_events(int events) except -1:
    """libev asserts (aborts) when it starts a watcher with other bits."""
    if events & ~(libev.EV__IOFDSET | libev.EV_READ | libev.EV_WRITE):
        raise ValueError("illegal event mask: %r" % events)
    return 0


cdef void _io_callback(libev.ev_loop* ptr, libev.ev_io* w, int revents) noexcept with gil:
    _invoke(<watcher>w.data, revents)


# ---- timer


cdef class timer(watcher):
    """Fires ``after`` seconds after start(), then every ``repeat`` seconds if
    ``repeat`` > 0. ``at`` is libev's: while the timer is active, the loop's monotonic
    time it fires at; while not, the time that was left: ``after`` before it first
    starts, 0 or less once it has fired (restarting a fired timer fires it at once)."""

    cdef libev.ev_timer _watcher

    def __cinit__(self, loop loop, double after=0.0, double repeat=0.0, ref=True, priority=None):
        if repeat < 0.0:
            raise ValueError("repeat must be positive or zero: %r" % repeat)
        libev.ev_timer_init(&self._watcher, _timer_callback, after, repeat)
        self._setup(<libev.ev_watcher*>&self._watcher, ref, priority)

    def start(self, callback, *args, update=None):
        """``update`` refreshes the loop's time first, so that ``after`` counts from
        now and not from the start of the iteration. By default it does so only while
        the loop runs run_callback's callbacks (``starting_timer_may_update_loop_time``)."""
        _check(self.loop)
        if update is None:
            update = self.loop.starting_timer_may_update_loop_time
        if update:
            libev.ev_now_update(self.loop._ptr)
        self._start(callback, args)

    def again(self, callback, *args, update=True):
        """ev_timer_again: (re)start a repeating timer ``repeat`` seconds from now. A
        timer that does not repeat is stopped (gevent keeps its callback; we drop it,
        as nothing will call it)."""
        _check(self.loop)
        self.callback = callback
        self.args = args
        self._unref_if_wanted()
        if update:
            libev.ev_now_update(self.loop._ptr)
        libev.ev_timer_again(self.loop._ptr, &self._watcher)
        if libev.ev_is_active(&self._watcher):
            self._hold()
        else:
            self._stop()

    cdef int _ev_start(self) except -1:
        libev.ev_timer_start(self.loop._ptr, &self._watcher)
        return 0

    cdef void _ev_stop(self) noexcept:
        libev.ev_timer_stop(self.loop._ptr, &self._watcher)

    @property
    def at(self):
        return self._watcher.at


cdef void _timer_callback(libev.ev_loop* ptr, libev.ev_timer* w, int revents) noexcept with gil:
    _invoke(<watcher>w.data, revents)


# ---- signal


cdef class signal(watcher):
    """A signal arriving in the process. libev's handler takes the signal from
    Python's; after the last watcher of a signal stops, the signal's action is the
    default one (SIG_DFL), as with gevent. ValueError for a number outside
    1..NSIG-1, or for a signal another loop watches."""

    cdef libev.ev_signal _watcher

    def __cinit__(self, loop loop, int signalnum, ref=True, priority=None):
        if signalnum < 1 or signalnum >= signalmodule.NSIG:
            raise ValueError("illegal signal number: %r" % signalnum)
        libev.ev_signal_init(&self._watcher, _signal_callback, signalnum)
        self._setup(<libev.ev_watcher*>&self._watcher, ref, priority)

    cdef int _ev_start(self) except -1:
        if not libev.ev_is_active(&self._watcher):
            _claim_signal(self.loop, self._watcher.signum)
        libev.ev_signal_start(self.loop._ptr, &self._watcher)
        return 0

    cdef void _ev_stop(self) noexcept:
        if libev.ev_is_active(&self._watcher):
            _release_signal(self._watcher.signum)
        libev.ev_signal_stop(self.loop._ptr, &self._watcher)


cdef void _signal_callback(libev.ev_loop* ptr, libev.ev_signal* w, int revents) noexcept with gil:
    _invoke(<watcher>w.data, revents)


# ---- idle, prepare, check, fork


cdef class idle(watcher):
    """Called in iterations where nothing of its priority or higher is pending; while
    one is active, the loop polls without blocking."""

    cdef libev.ev_idle _watcher

    def __cinit__(self, loop loop, ref=True, priority=None):
        libev.ev_idle_init(&self._watcher, _idle_callback)
        self._setup(<libev.ev_watcher*>&self._watcher, ref, priority)

    cdef int _ev_start(self) except -1:
        libev.ev_idle_start(self.loop._ptr, &self._watcher)
        return 0

    cdef void _ev_stop(self) noexcept:
        libev.ev_idle_stop(self.loop._ptr, &self._watcher)


cdef void _idle_callback(libev.ev_loop* ptr, libev.ev_idle* w, int revents) noexcept with gil:
    _invoke(<watcher>w.data, revents)


cdef class prepare(watcher):
    """Called in every iteration, before the loop polls. gevent runs its callbacks
    from one (the loop's own)."""

    cdef libev.ev_prepare _watcher

    def __cinit__(self, loop loop, ref=True, priority=None):
        libev.ev_prepare_init(&self._watcher, _prepare_watcher_callback)
        self._setup(<libev.ev_watcher*>&self._watcher, ref, priority)

    cdef int _ev_start(self) except -1:
        libev.ev_prepare_start(self.loop._ptr, &self._watcher)
        return 0

    cdef void _ev_stop(self) noexcept:
        libev.ev_prepare_stop(self.loop._ptr, &self._watcher)


cdef void _prepare_watcher_callback(libev.ev_loop* ptr, libev.ev_prepare* w, int revents) noexcept with gil:
    _invoke(<watcher>w.data, revents)


cdef class check(watcher):
    """Called in every iteration, after the loop polled."""

    cdef libev.ev_check _watcher

    def __cinit__(self, loop loop, ref=True, priority=None):
        libev.ev_check_init(&self._watcher, _check_callback)
        self._setup(<libev.ev_watcher*>&self._watcher, ref, priority)

    cdef int _ev_start(self) except -1:
        libev.ev_check_start(self.loop._ptr, &self._watcher)
        return 0

    cdef void _ev_stop(self) noexcept:
        libev.ev_check_stop(self.loop._ptr, &self._watcher)


cdef void _check_callback(libev.ev_loop* ptr, libev.ev_check* w, int revents) noexcept with gil:
    _invoke(<watcher>w.data, revents)


cdef class fork(watcher):
    """Called at the start of the first iteration in the child after a fork (the loop
    notices the new pid, or reinit() tells it)."""

    cdef libev.ev_fork _watcher

    def __cinit__(self, loop loop, ref=True, priority=None):
        libev.ev_fork_init(&self._watcher, _fork_callback)
        self._setup(<libev.ev_watcher*>&self._watcher, ref, priority)

    cdef int _ev_start(self) except -1:
        libev.ev_fork_start(self.loop._ptr, &self._watcher)
        return 0

    cdef void _ev_stop(self) noexcept:
        libev.ev_fork_stop(self.loop._ptr, &self._watcher)


cdef void _fork_callback(libev.ev_loop* ptr, libev.ev_fork* w, int revents) noexcept with gil:
    _invoke(<watcher>w.data, revents)


# ---- async


cdef class async_(watcher):
    """Called after send(), which is safe from any thread; ``pending`` is true from
    send() until the loop picks the send up."""

    cdef libev.ev_async _watcher

    def __cinit__(self, loop loop, ref=True, priority=None):
        libev.ev_async_init(&self._watcher, _async_callback)
        self._setup(<libev.ev_watcher*>&self._watcher, ref, priority)

    cdef int _ev_start(self) except -1:
        libev.ev_async_start(self.loop._ptr, &self._watcher)
        return 0

    cdef void _ev_stop(self) noexcept:
        libev.ev_async_stop(self.loop._ptr, &self._watcher)

    def send(self):
        """ev_async_send: mark the watcher and wake the loop."""
        _check(self.loop)
        libev.ev_async_send(self.loop._ptr, &self._watcher)

    def send_ignoring_arg(self, _ignored):
        """send(), callable as a greenlet's switch(value) (gevent's rawlink waiters)."""
        self.send()

    @property
    def pending(self):
        return bool(libev.ev_async_pending(&self._watcher))


cdef void _async_callback(libev.ev_loop* ptr, libev.ev_async* w, int revents) noexcept with gil:
    _invoke(<watcher>w.data, revents)


# ---- child


cdef class child(watcher):
    """A child process that exited (or stopped or continued, if ``trace``); ``pid``
    0 means any child. ``rpid`` and ``rstatus`` say which child and its waitpid
    status. Only the default loop reaps children: TypeError on another loop. No
    priority: libev calls child watchers at the priority of its SIGCHLD watcher."""

    cdef libev.ev_child _watcher

    def __cinit__(self, loop loop, int pid, bint trace=0, ref=True):
        if not loop.default:
            raise TypeError("child watchers are only available on the default loop")
        _install_sigchld()
        libev.ev_child_init(&self._watcher, _child_callback, pid, trace)
        self._setup(<libev.ev_watcher*>&self._watcher, ref, None)

    cdef int _ev_start(self) except -1:
        libev.ev_child_start(self.loop._ptr, &self._watcher)
        return 0

    cdef void _ev_stop(self) noexcept:
        libev.ev_child_stop(self.loop._ptr, &self._watcher)

    @property
    def pid(self):
        return self._watcher.pid

    @property
    def rpid(self):
        return self._watcher.rpid

    @rpid.setter
    def rpid(self, int value):
        self._watcher.rpid = value

    @property
    def rstatus(self):
        return self._watcher.rstatus

    @rstatus.setter
    def rstatus(self, int value):
        self._watcher.rstatus = value

    def _format(self):
        return " pid=%r rstatus=%r" % (self._watcher.pid, self._watcher.rstatus)


cdef void _child_callback(libev.ev_loop* ptr, libev.ev_child* w, int revents) noexcept with gil:
    _invoke(<watcher>w.data, revents)


# ---- stat


cdef class stat(watcher):
    """Changes in what lstat() says of ``path``: ``attr`` is the new result and
    ``prev`` the one before, as os.stat_result (None while the path does not exist).
    libev asks inotify where it can, and polls every ``interval`` seconds besides
    (0: libev's default, about 5 s)."""

    cdef libev.ev_stat _watcher
    cdef readonly str path
    cdef readonly bytes _paths  # what libev's path points into: it must live as long as we do

    def __cinit__(self, loop loop, str path, double interval=0.0, ref=True, priority=None):
        self.path = path
        self._paths = os.fsencode(path)
        libev.ev_stat_init(&self._watcher, _stat_callback, self._paths, interval)
        self._setup(<libev.ev_watcher*>&self._watcher, ref, priority)

    cdef int _ev_start(self) except -1:
        libev.ev_stat_start(self.loop._ptr, &self._watcher)
        return 0

    cdef void _ev_stop(self) noexcept:
        libev.ev_stat_stop(self.loop._ptr, &self._watcher)

    @property
    def attr(self):
        return _stat_result(&self._watcher.attr)

    @property
    def prev(self):
        return _stat_result(&self._watcher.prev)

    @property
    def interval(self):
        return self._watcher.interval


cdef object _stat_result(struct_stat* st):
    """A struct stat as os.stat returns it (gevent's stathelper.c does it in C), or
    None if libev found no file (st_nlink 0)."""
    if not st.st_nlink:
        return None
    cdef dict extra = {"st_blksize": st.st_blksize, "st_blocks": st.st_blocks, "st_rdev": st.st_rdev}
    return os.stat_result(
        (st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
         _add_time(extra, "atime", st.st_atim),
         _add_time(extra, "mtime", st.st_mtim),
         _add_time(extra, "ctime", st.st_ctim)),
        extra,
    )


cdef object _add_time(dict extra, str name, timespec t):
    """One time, three ways, as CPython's fill_time gives it: whole seconds (returned,
    for the tuple), and in ``extra`` float seconds and integer nanoseconds."""
    extra["st_" + name] = t.tv_sec + t.tv_nsec * 1e-9
    extra["st_" + name + "_ns"] = <object>t.tv_sec * 1000000000 + t.tv_nsec
    return t.tv_sec


cdef void _stat_callback(libev.ev_loop* ptr, libev.ev_stat* w, int revents) noexcept with gil:
    _invoke(<watcher>w.data, revents)


# gevent checks a loop against its interface (zope.interface's verifyObject, test__hub)
classImplements(loop, ILoop)
classImplements(callback, ICallback)

# The parts of libev's ev.h that core.pyx uses, as Cython sees them.
#
# Only declarations: Cython writes `#include <ev.h>` and the C compiler checks every
# name against the real header. So nothing here redefines libev's configuration
# (EV_MULTIPLICITY, EV_COMMON, the priorities): the struct layouts are the ones the
# system's libev was built with. The ev_TYPE_init, ev_is_active, ... of ev.h are
# macros; declared as functions, Cython calls them like functions.
from posix.stat cimport struct_stat

cdef extern from "ev.h" nogil:
    int EV_VERSION_MAJOR  # the header's version; ev_version_major() is the library's
    int EV_VERSION_MINOR
    int EV_MINPRI  # -2: pending watchers run from EV_MAXPRI down to EV_MINPRI
    int EV_MAXPRI  # +2

    # ---- Event bits: what a watcher waits for, what its callback is told (revents)
    int EV_UNDEF
    int EV_NONE
    int EV_READ
    int EV_WRITE
    int EV__IOFDSET  # internal: tell the kernel about this fd again (it may be a new file)
    int EV_TIMER
    int EV_PERIODIC
    int EV_SIGNAL
    int EV_CHILD
    int EV_STAT
    int EV_IDLE
    int EV_PREPARE
    int EV_CHECK
    int EV_EMBED
    int EV_FORK
    int EV_CLEANUP
    int EV_ASYNC
    int EV_CUSTOM
    int EV_ERROR

    # ---- Loop flags and backends (ev_loop_new's argument)
    unsigned int EVFLAG_NOENV
    unsigned int EVFLAG_FORKCHECK
    unsigned int EVFLAG_NOINOTIFY
    unsigned int EVFLAG_SIGNALFD
    unsigned int EVFLAG_NOSIGMASK
    unsigned int EVBACKEND_SELECT
    unsigned int EVBACKEND_POLL
    unsigned int EVBACKEND_EPOLL
    unsigned int EVBACKEND_KQUEUE
    unsigned int EVBACKEND_PORT
    unsigned int EVBACKEND_LINUXAIO
    unsigned int EVBACKEND_IOURING
    unsigned int EVBACKEND_MASK

    int EVRUN_NOWAIT
    int EVRUN_ONCE
    int EVBREAK_ONE
    int EVBREAK_ALL

    # ---- The loop: opaque, ev.h declares `struct ev_loop;` and nothing more
    struct ev_loop
    ctypedef double ev_tstamp

    # ---- Watchers. Each starts with the common fields (EV_WATCHER in ev.h), so any
    # of them can be seen as an ev_watcher. Only the fields we touch are listed.
    ctypedef struct ev_watcher:
        void* data  # EV_COMMON: ours to use; we point it at the Python watcher

    ctypedef struct ev_io:
        void* data
        int fd
        int events

    ctypedef struct ev_timer:
        void* data
        ev_tstamp at  # relative while stopped, absolute (monotonic) while active

    ctypedef struct ev_signal:
        void* data
        int signum

    ctypedef struct ev_idle:
        void* data

    ctypedef struct ev_prepare:
        void* data

    ctypedef struct ev_check:
        void* data

    ctypedef struct ev_fork:
        void* data

    ctypedef struct ev_async:
        void* data

    ctypedef struct ev_child:
        void* data
        int pid
        int rpid
        int rstatus

    ctypedef struct ev_stat:
        void* data
        ev_tstamp interval
        struct_stat prev  # ev_statdata is `struct stat`; st_nlink 0: the path is missing
        struct_stat attr

    # ---- The library
    int ev_version_major()
    int ev_version_minor()
    unsigned int ev_supported_backends()
    unsigned int ev_recommended_backends()
    unsigned int ev_embeddable_backends()
    ev_tstamp ev_time()
    void ev_set_syserr_cb(void (*cb)(const char* msg) noexcept)

    # ---- Loops
    ev_loop* ev_default_loop(unsigned int flags)
    ev_loop* ev_loop_new(unsigned int flags)
    int ev_is_default_loop(ev_loop*)
    void ev_loop_destroy(ev_loop*)
    void ev_loop_fork(ev_loop*)
    int ev_run(ev_loop*, int flags)
    void ev_break(ev_loop*, int how)
    void ev_ref(ev_loop*)
    void ev_unref(ev_loop*)
    ev_tstamp ev_now(ev_loop*)
    void ev_now_update(ev_loop*)
    unsigned int ev_backend(ev_loop*)
    unsigned int ev_iteration(ev_loop*)
    unsigned int ev_depth(ev_loop*)
    unsigned int ev_pending_count(ev_loop*)
    void ev_verify(ev_loop*)
    void ev_feed_event(ev_loop*, void* w, int revents)
    void ev_feed_fd_event(ev_loop*, int fd, int revents)

    # ---- Watchers: the macros every kind shares
    int ev_is_active(void* w)
    int ev_is_pending(void* w)
    int ev_priority(void* w)
    void ev_set_priority(void* w, int priority)

    # ---- One init (a macro), start and stop per kind. The callback types are ev.h's:
    # the C compiler checks that ours take the right kind of watcher.
    void ev_io_init(ev_io*, void (*cb)(ev_loop*, ev_io*, int) noexcept, int fd, int events)
    void ev_io_set(ev_io*, int fd, int events)  # sets _IOFDSET too, and leaves the priority
    void ev_io_start(ev_loop*, ev_io*)
    void ev_io_stop(ev_loop*, ev_io*)

    void ev_timer_init(ev_timer*, void (*cb)(ev_loop*, ev_timer*, int) noexcept, ev_tstamp after, ev_tstamp repeat)
    void ev_timer_start(ev_loop*, ev_timer*)
    void ev_timer_stop(ev_loop*, ev_timer*)
    void ev_timer_again(ev_loop*, ev_timer*)

    void ev_signal_init(ev_signal*, void (*cb)(ev_loop*, ev_signal*, int) noexcept, int signum)
    void ev_signal_start(ev_loop*, ev_signal*)
    void ev_signal_stop(ev_loop*, ev_signal*)

    void ev_idle_init(ev_idle*, void (*cb)(ev_loop*, ev_idle*, int) noexcept)
    void ev_idle_start(ev_loop*, ev_idle*)
    void ev_idle_stop(ev_loop*, ev_idle*)

    void ev_prepare_init(ev_prepare*, void (*cb)(ev_loop*, ev_prepare*, int) noexcept)
    void ev_prepare_start(ev_loop*, ev_prepare*)
    void ev_prepare_stop(ev_loop*, ev_prepare*)

    void ev_check_init(ev_check*, void (*cb)(ev_loop*, ev_check*, int) noexcept)
    void ev_check_start(ev_loop*, ev_check*)
    void ev_check_stop(ev_loop*, ev_check*)

    void ev_fork_init(ev_fork*, void (*cb)(ev_loop*, ev_fork*, int) noexcept)
    void ev_fork_start(ev_loop*, ev_fork*)
    void ev_fork_stop(ev_loop*, ev_fork*)

    void ev_async_init(ev_async*, void (*cb)(ev_loop*, ev_async*, int) noexcept)
    void ev_async_start(ev_loop*, ev_async*)
    void ev_async_stop(ev_loop*, ev_async*)
    void ev_async_send(ev_loop*, ev_async*)
    int ev_async_pending(ev_async*)

    void ev_child_init(ev_child*, void (*cb)(ev_loop*, ev_child*, int) noexcept, int pid, int trace)
    void ev_child_start(ev_loop*, ev_child*)
    void ev_child_stop(ev_loop*, ev_child*)

    void ev_stat_init(ev_stat*, void (*cb)(ev_loop*, ev_stat*, int) noexcept, const char* path, ev_tstamp interval)
    void ev_stat_start(ev_loop*, ev_stat*)
    void ev_stat_stop(ev_loop*, ev_stat*)

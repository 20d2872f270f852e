"""The numbers of libev's ``ev.h`` that the loop, its watchers and its backends share.

The values are libev's own, so that a program written against gevent's
``gevent.core`` (``loop.io(fd, READ)``, ``revents & ERROR``) runs unchanged.
"""

# ---- Event bits: what a watcher waits for, and what it is told happened (revents)
UNDEF = -1  # EV_UNDEF: guaranteed to be invalid
NONE = 0x00
READ = 0x01  # io: the fd is readable
WRITE = 0x02  # io: the fd is writable
_IOFDSET = 0x80  # io, internal: the fd number may be a new file; tell the kernel again
TIMER = 0x100
PERIODIC = 0x200
SIGNAL = 0x400
CHILD = 0x800
STAT = 0x1000
IDLE = 0x2000
PREPARE = 0x4000
CHECK = 0x8000
EMBED = 0x10000
FORK = 0x20000
CLEANUP = 0x40000
ASYNC = 0x80000
CUSTOM = 0x1000000  # fed by the loop itself (the evpipe watcher after a skipped write)
ERROR = -0x80000000  # the sign bit of a C int, as gevent's corecext shows it
READWRITE = READ | WRITE

# ---- Priorities: pending watchers run from MAXPRI down to MINPRI
MINPRI = -2
MAXPRI = 2
NUMPRI = MAXPRI - MINPRI + 1

# ---- Backends (the kernel interface) and loop flags, as ev_loop_new takes them
BACKEND_SELECT = 0x01
BACKEND_POLL = 0x02
BACKEND_EPOLL = 0x04
BACKEND_KQUEUE = 0x08
BACKEND_DEVPOLL = 0x10
BACKEND_PORT = 0x20
BACKEND_LINUXAIO = 0x40
BACKEND_IOURING = 0x80
BACKEND_ALL = 0xFF  # every backend libev knows
BACKEND_MASK = 0xFFFF  # the bits of flags that name backends
NOINOTIFY = 0x100000
SIGNALFD = 0x200000
NOSIGMASK = 0x400000
NOENV = 0x1000000
FORKCHECK = 0x2000000

# ---- run() and break_()
EVRUN_NOWAIT = 1  # poll without waiting, one iteration
EVRUN_ONCE = 2  # wait for something to happen, one iteration
EVBREAK_CANCEL = 0  # no break asked
EVBREAK_ONE = 1  # the innermost run() returns
EVBREAK_ALL = 2  # every nested run() returns

# ---- Limits
MAX_BLOCKTIME = 59.743  # the longest poll: libev wakes at least this often to notice clock jumps
ANFD_REIFY = 1  # an fd's watchers changed: recompute what to ask the kernel for (EV_ANFD_REIFY)

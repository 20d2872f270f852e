"""The pollers: the system call the IOLoop waits in, behind one small interface.

Every poller has ``register(fd, events)``, ``modify(fd, events)``,
``unregister(fd)``, ``poll(timeout)`` (seconds; returns a list of ``(fd, events)``)
and ``close()``. Events are the IOLoop's bits below, which are epoll's own
(EPOLLIN, EPOLLOUT, EPOLLERR | EPOLLHUP) and poll's too (POLLIN, POLLOUT, POLLERR |
POLLHUP): so ``select.epoll`` already is a poller, as it was for tornado 4.5, and
poll needs only its timeout converted.

We write these rather than use ``selectors``: it folds errors and hangups into
READ | WRITE and costs a Python layer and a key object on every call.
"""
import errno
import os
import select

READ = 0x001  # the fd can be read without blocking: EPOLLIN, POLLIN
WRITE = 0x004  # the fd can be written without blocking: EPOLLOUT, POLLOUT
ERROR = 0x008 | 0x010  # an error or a hangup: EPOLLERR | EPOLLHUP, POLLERR | POLLHUP


def make_poller(name=None):
    """A new poller: the one named, or the best this platform has."""
    available = [known for known, factory in POLLERS.items() if factory is not None]
    if name is None:
        name = available[0]
    if name not in available:
        raise ValueError(f"no poller {name!r} here; available: {', '.join(available)}")
    return POLLERS[name]()


def _check_fd(fd):
    """Refuse now what epoll_ctl() refuses, for the pollers that would accept it
    and fail later: poll() reports a closed fd at every call, select() raises."""
    if fd < 0:
        raise ValueError(f"file descriptor cannot be a negative integer ({fd})")
    os.fstat(fd)  # OSError(EBADF) if fd is not open


class PollPoller:
    """poll(2): the same event bits as epoll, a timeout in milliseconds, and no
    kernel object to close. The kernel scans every registered fd at each call."""

    def __init__(self):
        self._poll = select.poll()  # the fds and the events asked for each

    def register(self, fd, events):
        _check_fd(fd)
        self._poll.register(fd, events)

    def modify(self, fd, events):
        self._poll.modify(fd, events)

    def unregister(self, fd):
        self._poll.unregister(fd)

    def poll(self, timeout):
        # POLLNVAL: the fd was closed without being removed; report it as an error
        # so that its handler runs and can remove it, as epoll's would.
        return [
            (fd, ERROR if events & select.POLLNVAL else events)
            for fd, events in self._poll.poll(timeout * 1000)
        ]

    def close(self):
        pass  # poll() keeps its fd set in user space: nothing to release


class SelectPoller:
    """select(2): the portable fallback. It only sees fds below FD_SETSIZE (1024),
    and it has no error set (its "exceptional" set means urgent data), so an
    error or a hangup shows up as READ or WRITE, never as ERROR."""

    def __init__(self):
        self._readers = set()  # fds registered for READ
        self._writers = set()  # fds registered for WRITE

    def register(self, fd, events):
        _check_fd(fd)
        if events & READ:
            self._readers.add(fd)
        if events & WRITE:
            self._writers.add(fd)

    def modify(self, fd, events):
        self.unregister(fd)
        self.register(fd, events)

    def unregister(self, fd):
        self._readers.discard(fd)
        self._writers.discard(fd)

    def poll(self, timeout):
        try:
            readable, writable, _ = select.select(self._readers, self._writers, (), timeout)
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
            # An fd was closed without being removed: report it as an error, so
            # that its handler runs and can remove it, as epoll's would.
            return [(fd, ERROR) for fd in self._readers | self._writers if _is_closed(fd)]
        events = dict.fromkeys(readable, READ)
        for fd in writable:
            events[fd] = events.get(fd, 0) | WRITE
        return list(events.items())

    def close(self):
        pass  # select() keeps nothing in the kernel between calls


def _is_closed(fd):
    """Whether fd is no longer open: what makes select() fail with EBADF."""
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


# By name, best first. select.epoll is used as it is: its calls already take and
# return the IOLoop's bits and seconds, and its fd is close-on-exec (PEP 446).
POLLERS = {
    "epoll": getattr(select, "epoll", None),
    "poll": PollPoller if hasattr(select, "poll") else None,
    "select": SelectPoller,
}

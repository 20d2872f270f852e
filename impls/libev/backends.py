"""The kernel interfaces the loop waits in: libev's ``ev_epoll.c``, ``ev_poll.c``, ``ev_select.c``.

A backend does two things for the loop. ``modify(fd, oev, nev)`` tells the kernel that
the events wanted on ``fd`` changed from ``oev`` to ``nev`` (the loop's ``fd_reify``
calls it, once per changed fd per iteration). ``poll(timeout)`` waits at most
``timeout`` seconds and hands each ready fd to the loop's ``_fd_event``. ``mintime``
is the shortest wait worth asking the kernel for.

gevent's ``patch_select`` removes ``select.epoll`` and makes ``select.poll`` and
``select.select`` cooperative, and gevent imports the loop after patching: a loop must
wait in the real ones, so they are fetched with ``get_original``.
"""
import errno
import math
import select

from gevent.monkey import get_original

from .ev import BACKEND_EPOLL, BACKEND_POLL, BACKEND_SELECT, READ, READWRITE, WRITE


def _original(name):
    """The unpatched ``select.<name>``, or None where the system has none (epoll is Linux's)."""
    try:
        return get_original("select", name)
    except AttributeError:
        return None


_epoll, _poll, _select = _original("epoll"), _original("poll"), _original("select")

# What the kernel reports, folded into the loop's two bits. An error or a hangup wakes
# both readers and writers: their next read or write will see it.
_READ_LIKE = select.POLLIN | select.POLLERR | select.POLLHUP
_WRITE_LIKE = select.POLLOUT | select.POLLERR | select.POLLHUP  # the EPOLL* values are the same


def _kernel_mask(events):
    """The loop's READ / WRITE as the kernel's POLLIN / POLLOUT (EPOLLIN / EPOLLOUT)."""
    return (select.POLLIN if events & READ else 0) | (select.POLLOUT if events & WRITE else 0)


def _loop_events(kernel_events):
    readable = READ if kernel_events & _READ_LIKE else 0
    return readable | (WRITE if kernel_events & _WRITE_LIKE else 0)


class EpollBackend:
    """ev_epoll.c. epoll keeps the interest list in the kernel, so the loop makes a
    system call only when what it wants of an fd changes. libev never removes an fd
    from it (no EPOLL_CTL_DEL): the kernel forgets a closed fd by itself, and an fd
    merely no longer watched costs one spurious wakeup, after which ``poll`` modifies it.
    A watcher starting on an fd number that may be a new file (``_IOFDSET``) makes
    ``fd_reify`` call ``modify`` even when the events wanted did not change.

    libev also stamps a generation count in epoll's data word, to recognise events
    meant for an earlier file with the same fd number; Python's epoll object keeps
    the data word to itself, so such an event reaches the new fd's watchers as a
    spurious wakeup (gevent's sockets retry on EWOULDBLOCK).
    """

    name = "epoll"
    flag = BACKEND_EPOLL
    available = _epoll is not None
    mintime = 1e-3  # epoll_wait counts in milliseconds, and sometimes returns early

    _EPERM = 0x80  # an emask meaning "epoll refused this fd" (libev's EV_EMASK_EPERM)

    def __init__(self, loop):
        self._loop = loop
        self._epoll = _epoll()  # the kernel object, close-on-exec
        self._emask = {}  # fd -> events the kernel was last told (libev's anfd.emask)
        self._eperms = set()  # fds epoll refuses (regular files): always ready

    def fileno(self):
        return self._epoll.fileno()

    def close(self):
        self._epoll.close()

    def fork(self):
        """epoll_fork: a child shares its parent's epoll object; make one of its own
        and tell it every watched fd again (the loop's ``fd_rearm_all``)."""
        self._epoll.close()
        self._epoll = _epoll()
        self._emask.clear()
        self._eperms.clear()
        self._loop._fd_rearm_all()

    def modify(self, fd, oev, nev):
        """epoll_modify: ADD or MOD, whichever the kernel needs now; never DEL."""
        if not nev:
            return  # see the class docstring: the fd stays in the kernel's list
        oldmask = self._emask.get(fd, 0)
        self._emask[fd] = nev
        mask = _kernel_mask(nev)
        try:
            if oev and oldmask != nev:
                self._epoll.modify(fd, mask)
            else:
                self._epoll.register(fd, mask)
            return
        except OSError as exc:
            err = exc.errno
        if err == errno.EPERM:  # a regular file: always ready, but epoll will not say so
            self._emask[fd] = self._EPERM
            self._eperms.add(fd)
            return
        try:
            if err == errno.ENOENT:  # MOD of an fd the kernel forgot (closed, number reused)
                self._epoll.register(fd, mask)
                return
            if err == errno.EEXIST:  # ADD of an fd that we never DELeted
                if oldmask != nev:
                    self._epoll.modify(fd, mask)
                return
        except OSError:
            pass
        self._loop._fd_kill(fd)  # EBADF and the like: the fd is not usable

    def poll(self, timeout):
        """epoll_poll: wait, then hand each ready fd to fd_event."""
        if self._eperms:
            timeout = 0.0  # regular files are always ready: do not block
        anfds = self._loop._anfds
        for fd, kernel_events in self._epoll.poll(timeout):
            anfd = anfds.get(fd)
            want = anfd.events if anfd is not None else 0
            got = _loop_events(kernel_events)
            if got & ~want and not self._unwant(fd, want):
                continue
            self._loop._fd_event(fd, got)
        self._poll_eperms()

    def _unwant(self, fd, want):
        """The kernel reported events no watcher wants (we skipped a DEL): MOD it to
        what is wanted, or DEL it if nothing is. If the kernel refuses, its state is not
        ours: ask the loop to rebuild it (``postfork |= 2``), and drop this event."""
        self._emask[fd] = want
        try:
            if want:
                self._epoll.modify(fd, _kernel_mask(want))
            else:
                self._epoll.unregister(fd)
        except OSError:
            self._loop._postfork |= 2
            return False
        return True

    def _poll_eperms(self):
        """Report the regular files as ready, as select and poll would."""
        anfds = self._loop._anfds
        for fd in list(self._eperms):
            events = anfds[fd].events & READWRITE
            if self._emask.get(fd) == self._EPERM and events:
                self._loop._fd_event(fd, events)
            else:  # unwatched, or the fd number now names something epoll accepts
                self._eperms.discard(fd)


class PollBackend:
    """ev_poll.c: the interest list lives in this process and goes to poll() on every call."""

    name = "poll"
    flag = BACKEND_POLL
    available = _poll is not None
    mintime = 1e-3  # poll counts in milliseconds

    def __init__(self, loop):
        self._loop = loop
        self._poll = _poll()

    def fileno(self):
        return None  # no kernel object

    def close(self):
        pass

    def fork(self):
        pass  # nothing in the kernel to rebuild

    def modify(self, fd, oev, nev):
        """poll_modify: add, change or remove the fd's entry."""
        if oev == nev:
            return
        if nev:
            self._poll.register(fd, _kernel_mask(nev))  # register also modifies
        else:
            self._poll.unregister(fd)

    def poll(self, timeout):
        """poll_poll: POLLNVAL means the fd was closed while watched: fd_kill."""
        for fd, kernel_events in self._poll.poll(math.ceil(timeout * 1e3)):
            if kernel_events & select.POLLNVAL:
                self._loop._fd_kill(fd)
            else:
                self._loop._fd_event(fd, _loop_events(kernel_events))


class SelectBackend:
    """ev_select.c: two sets of fds, handed to select() on every call."""

    name = "select"
    flag = BACKEND_SELECT
    available = _select is not None
    mintime = 1e-6  # select counts in microseconds

    def __init__(self, loop):
        self._loop = loop
        self._readers = set()
        self._writers = set()

    def fileno(self):
        return None  # no kernel object

    def close(self):
        pass

    def fork(self):
        pass  # nothing in the kernel to rebuild

    def modify(self, fd, oev, nev):
        """select_modify: put the fd in, or take it out of, each set."""
        for events, fds in ((READ, self._readers), (WRITE, self._writers)):
            if nev & events:
                fds.add(fd)
            else:
                fds.discard(fd)

    def poll(self, timeout):
        """select_poll: EBADF means some fd was closed while watched: find it (fd_ebadf)."""
        try:
            readable, writable, _ = _select(self._readers, self._writers, (), timeout)
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
            self._loop._fd_ebadf()
            return
        ready = dict.fromkeys(readable, READ)
        for fd in writable:
            ready[fd] = ready.get(fd, 0) | WRITE
        for fd, got in ready.items():
            self._loop._fd_event(fd, got)


BACKENDS = [b for b in (EpollBackend, PollBackend, SelectBackend) if b.available]  # libev's order

"""The cooperative socket (gevent's ``_socketcommon.py`` and ``_socket3.py``).

The OS socket underneath is always non-blocking. Each call that could block is tried
first; on EWOULDBLOCK the greenlet waits, in the hub, on an io watcher for the fd
(``_read_event`` or ``_write_event``), then tries again. The socket's own timeout
(``settimeout``) bounds each wait and raises ``socket.timeout('timed out')``.
"""
import _socket
import contextlib
import errno
import numbers
import os
import socket as _stdlib

from .exceptions import ConcurrentObjectUseError

READ, WRITE = 1, 2  # libev's EV_READ and EV_WRITE
_CONNECT_PENDING = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY)
_NO_DEADLINE = contextlib.nullcontext()  # reusable: it holds nothing


class socket:
    runtime = None  # the Runtime this class was bound to

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        self._sock = _socket.socket(family, type, proto, fileno)  # the OS socket; -1: default
        self._sock.setblocking(False)  # it never blocks; we wait instead
        self.timeout = _stdlib.getdefaulttimeout()  # None: wait as long as it takes
        self.hub = self.runtime.get_hub()  # whose loop watches the fd
        fd = self._sock.fileno()
        self._read_event = self.hub.loop.io(fd, READ)  # started while a reader waits
        self._write_event = self.hub.loop.io(fd, WRITE)  # started while a writer waits

    def __getattr__(self, name):
        # What cannot block (bind, listen, fileno, setsockopt, getsockname...) is the
        # OS socket's own. gevent lists these names; forwarding them is shorter.
        if name == "_sock":  # __init__ failed before setting it: no recursion
            raise AttributeError(name)
        return getattr(self._sock, name)

    def __repr__(self):
        return f"<cooperative {self._sock!r}>"

    # ---- Timeouts

    def settimeout(self, howlong):
        """None: block; 0.0: never wait (raise BlockingIOError); else seconds."""
        if howlong is not None:
            if not isinstance(howlong, numbers.Real):
                raise TypeError(f"'{type(howlong).__name__}' object cannot be interpreted as an integer")
            howlong = float(howlong)
            if howlong < 0.0:
                raise ValueError("Timeout value out of range")
        self.timeout = howlong

    def gettimeout(self):
        return self.timeout

    def setblocking(self, flag):
        self.timeout = None if flag else 0.0

    # ---- The one idea: try, and on EWOULDBLOCK wait for the fd and try again

    def _wait(self, watcher):
        """Park this greenlet on ``watcher`` until it fires or the timeout passes.
        One waiter per watcher: a second is an error, as in gevent (the hub could
        only wake one of them)."""
        if watcher.callback is not None:
            raise ConcurrentObjectUseError(
                f"This socket is already used by another greenlet: {watcher.callback!r}")
        with self._deadline():
            self.hub.wait(watcher)

    def _deadline(self):
        """A Timeout for one blocking call; none to arm without a timeout (gevent's
        ``Timeout._start_new_or_dummy``): no timer is made on every wait."""
        if self.timeout is None:
            return _NO_DEADLINE
        return self.runtime.Timeout(self.timeout, _stdlib.timeout("timed out"))

    def _retry(self, watcher, call, *args):
        while True:
            try:
                return call(*args)
            except BlockingIOError:
                if self.timeout == 0.0:  # a non-blocking socket: the caller's problem
                    raise
            self._wait(watcher)

    def recv(self, *args):
        return self._retry(self._read_event, self._sock.recv, *args)

    def recv_into(self, *args):
        return self._retry(self._read_event, self._sock.recv_into, *args)

    def send(self, *args):
        return self._retry(self._write_event, self._sock.send, *args)

    def sendall(self, data):
        """Send everything; the timeout bounds the whole call, not each chunk."""
        with memoryview(data).cast("B") as view, self._deadline():
            while view:
                view = view[self.send(view):]

    def accept(self):
        fd, address = self._retry(self._read_event, self._sock._accept)
        return type(self)(self.family, self.type, self.proto, fileno=fd), address

    def connect(self, address):
        """A non-blocking connect, then a wait for writability, then the verdict in
        SO_ERROR. (gevent resolves host names cooperatively first; we do not.)"""
        result = self._sock.connect_ex(address)
        if result in _CONNECT_PENDING and self.timeout != 0.0:
            self._wait(self._write_event)
            result = self._sock.getsockopt(_stdlib.SOL_SOCKET, _stdlib.SO_ERROR)
        if result not in (0, errno.EISCONN):
            raise OSError(result, os.strerror(result))

    # ---- Closing, possibly under a greenlet that waits on it

    def close(self):
        """Close now for this greenlet: every later call raises EBADF. A greenlet
        waiting on the socket is woken with EBADF, and only then is the fd closed
        (gevent's ``_drop_events_and_close``)."""
        sock, self._sock = self._sock, _ClosedSocket(self._sock)
        if sock.fileno() == -1:
            return  # closed already: a no-op, as for a real socket
        error = OSError(errno.EBADF, "File descriptor was closed in another greenlet")
        self.hub.cancel_waits_then((self._read_event, self._write_event), error, sock.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class _ClosedSocket:
    """What a closed socket forwards to: every call fails with EBADF, as the OS would."""

    def __init__(self, sock):
        self.family, self.type, self.proto = sock.family, sock.type, sock.proto

    def fileno(self):
        return -1

    def close(self):
        pass

    def __getattr__(self, name):
        def closed(*args, **kwargs):
            raise OSError(errno.EBADF, "Bad file descriptor")
        return closed


def socketpair(runtime, family=_stdlib.AF_UNIX, type=_stdlib.SOCK_STREAM, proto=0):
    """Two connected cooperative sockets."""
    a, b = _socket.socketpair(family, type, proto)
    return tuple(runtime.socket.socket(s.family, s.type, s.proto, s.detach()) for s in (a, b))


def create_connection(runtime, address, timeout=_stdlib._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """Connect to ``(host, port)``, trying each address the name resolves to (the
    resolution itself blocks: gevent's resolvers are a subject of their own)."""
    host, port = address
    error = OSError(f"getaddrinfo returns an empty list for {host!r}")
    for family, type, proto, _, sockaddr in _stdlib.getaddrinfo(host, port, 0, _stdlib.SOCK_STREAM):
        sock = runtime.socket.socket(family, type, proto)
        try:
            if timeout is not _stdlib._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error

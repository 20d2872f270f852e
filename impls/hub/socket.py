"""The cooperative socket (gevent's ``_socketcommon.py`` and ``_socket3.py``), complete
enough for the standard library's own network code once monkey patching has put it in
place of ``socket.socket``.

The OS socket underneath is always non-blocking. Each call that could block is tried
first; on EWOULDBLOCK the greenlet waits, in the hub, on an io watcher for the fd
(``_read_event`` or ``_write_event``), then tries again. The socket's own timeout
(``settimeout``) bounds each wait and raises ``socket.timeout('timed out')``.

What cannot block (bind, listen, setsockopt, shutdown...) is the OS socket's own. What
the stdlib's socket class writes in Python over the blocking calls (``makefile``,
``dup``, ``sendfile``...) is borrowed from it unchanged: it calls our ``recv_into`` and
``send``. Host names are looked up by the hub's resolver (``resolver.py``).
"""
import _socket
import errno
import functools
import numbers
import os
import socket as _stdlib

from .exceptions import ConcurrentObjectUseError

READ, WRITE = 1, 2  # libev's EV_READ and EV_WRITE
_CONNECT_PENDING = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY)
_DONT_WAIT = int(_stdlib.MSG_DONTWAIT)  # asks one call never to wait (an int: a MsgFlag's & is Python)
_RESOLVABLE = (_stdlib.AF_INET, _stdlib.AF_INET6)  # the families whose addresses name hosts

# What monkey patching puts in the stdlib's socket module (gevent's ``__implements__``).
# create_server is not among them: once ``socket`` is ours, the stdlib's own makes ours.
IMPLEMENTS = ("socket", "SocketType", "socketpair", "fromfd", "create_connection", "getaddrinfo",
              "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo")


class socket:
    runtime = None  # the Runtime this class was bound to

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        self._sock = _socket.socket(family, type, proto, fileno)  # the OS socket; -1: default
        self._sock.setblocking(False)  # it never blocks; we wait instead
        self.timeout = _stdlib.getdefaulttimeout()  # None: wait as long as it takes
        self._io_refs = 0  # files made by makefile() and not closed: they keep the fd open
        self._closed = False  # close() was called; the fd may still wait for those files
        self.hub = self.runtime.get_hub()  # whose loop watches the fd
        fd = self._sock.fileno()
        self._read_event = self.hub.loop.io(fd, READ)  # started while a reader waits
        self._write_event = self.hub.loop.io(fd, WRITE)  # started while a writer waits

    # ---- What cannot block is the OS socket's own, forwarded one by one, as gevent's
    # SocketMixin does. A __getattr__ would be shorter, but CPython's test_socket asks
    # the class (hasattr(socket.socket, "bind")), and in the compiled module it would
    # slow down every attribute lookup on the socket, recv and send too.

    def _accept(self):
        return self._sock._accept()  # never waits: accept() below is what waits

    def fileno(self):
        return self._sock.fileno()

    def bind(self, address):
        return self._sock.bind(address)

    def listen(self, *backlog):
        return self._sock.listen(*backlog)

    def getsockname(self):
        return self._sock.getsockname()

    def getpeername(self):
        return self._sock.getpeername()

    def getsockopt(self, *args):
        return self._sock.getsockopt(*args)

    def setsockopt(self, *args):
        return self._sock.setsockopt(*args)

    def shutdown(self, how):
        return self._sock.shutdown(how)

    @property
    def family(self):
        return _stdlib._intenum_converter(self._sock.family, _stdlib.AddressFamily)

    @property
    def type(self):
        return _stdlib._intenum_converter(self._sock.type, _stdlib.SocketKind)

    @property
    def proto(self):
        return self._sock.proto

    # ---- Borrowed from the stdlib's socket class: Python over the calls below.
    # makefile() wraps us in a SocketIO and counts it in _io_refs; closing that file
    # calls _decref_socketios, which calls close() again if close() was called before.

    makefile = _stdlib.socket.makefile
    _decref_socketios = _stdlib.socket._decref_socketios
    dup = _stdlib.socket.dup
    get_inheritable = _stdlib.socket.get_inheritable
    set_inheritable = _stdlib.socket.set_inheritable
    __repr__ = _stdlib.socket.__repr__
    __enter__ = _stdlib.socket.__enter__
    __exit__ = _stdlib.socket.__exit__
    __getstate__ = _stdlib.socket.__getstate__  # a socket refuses pickling: TypeError
    # sendfile() tries _sendfile_use_sendfile, and when it gives up, its fallback:
    # _sendfile_use_send, send() in a loop, over our send.
    sendfile = _stdlib.socket.sendfile
    _sendfile_use_send = _stdlib.socket._sendfile_use_send
    _check_sendfile_params = _stdlib.socket._check_sendfile_params

    def _sendfile_use_sendfile(self, file, offset=0, count=None):
        """Give up at once (gevent's does too): os.sendfile would wait for a full
        socket with select(), blocking every greenlet."""
        raise _stdlib._GiveupOnSendfile("os.sendfile would block every greenlet")

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

    def getblocking(self):
        return self.timeout != 0.0

    # ---- The one idea: try, and on EWOULDBLOCK wait for the fd and try again

    def _wait(self, watcher):
        """Park this greenlet on ``watcher`` until it fires or the timeout passes.
        One waiter per watcher: a second is an error, as in gevent (the hub could
        only wake one of them)."""
        if watcher.callback is not None:
            raise ConcurrentObjectUseError(
                f"This socket is already used by another greenlet: {watcher.callback!r}")
        if self.timeout is None:  # the common case: no timer to arm (gevent skips it too)
            self.hub.wait(watcher)
            return
        with self._deadline():
            self.hub.wait(watcher)

    def _deadline(self):
        """A Timeout of the socket's timeout, for one blocking call."""
        return self.runtime.Timeout(self.timeout, _stdlib.timeout("timed out"))

    def _retry(self, watcher, flags, call, args):
        """``call(*args)``, again each time ``watcher`` fires, until it does not raise
        EWOULDBLOCK; ``flags`` are the caller's, which may forbid waiting."""
        while True:
            try:
                return call(*args)
            except BlockingIOError:
                if self.timeout == 0.0 or flags & _DONT_WAIT:  # the caller's: never wait
                    raise
            self._wait(watcher)

    def recv(self, bufsize, flags=0):
        return self._retry(self._read_event, flags, self._sock.recv, (bufsize, flags))

    def recv_into(self, buffer, nbytes=0, flags=0):
        return self._retry(self._read_event, flags, self._sock.recv_into, (buffer, nbytes, flags))

    def recvfrom(self, bufsize, flags=0):
        return self._retry(self._read_event, flags, self._sock.recvfrom, (bufsize, flags))

    def recvfrom_into(self, buffer, nbytes=0, flags=0):
        return self._retry(self._read_event, flags, self._sock.recvfrom_into, (buffer, nbytes, flags))

    def recvmsg(self, bufsize, ancbufsize=0, flags=0):
        return self._retry(self._read_event, flags, self._sock.recvmsg, (bufsize, ancbufsize, flags))

    def recvmsg_into(self, buffers, ancbufsize=0, flags=0):
        return self._retry(self._read_event, flags, self._sock.recvmsg_into, (buffers, ancbufsize, flags))

    def send(self, data, flags=0):
        return self._retry(self._write_event, flags, self._sock.send, (data, flags))

    def sendto(self, *args):
        """sendto(data, address) or sendto(data, flags, address); any other count is
        the OS socket's to refuse, with its message ("takes 2 or 3 arguments")."""
        flags = args[1] if len(args) == 3 else 0
        return self._retry(self._write_event, flags, self._sock.sendto, args)

    def sendmsg(self, buffers, ancdata=(), flags=0, address=None):
        return self._retry(self._write_event, flags, self._sock.sendmsg, (buffers, ancdata, flags, address))

    def sendall(self, data, flags=0):
        """Send everything; the timeout bounds the whole call, not each chunk."""
        if self.timeout is None:
            self._send_all(data, flags)
            return
        with self._deadline():
            self._send_all(data, flags)

    def _send_all(self, data, flags):
        # One send of the data as given first: most often it takes all of it, and no
        # memoryview is made. Only the len() of bytes is sure to count bytes.
        sent = self.send(data, flags)
        if type(data) is bytes and sent == len(data):
            return
        with memoryview(data).cast("B") as view:
            while sent < len(view):
                sent += self.send(view[sent:], flags)

    def accept(self):
        fd, address = self._retry(self._read_event, 0, self._sock._accept, ())
        return type(self)(self.family, self.type, self.proto, fileno=fd), address

    # ---- Connecting, to a host name too

    def connect(self, address):
        """A non-blocking connect, then a wait for writability, then the verdict in
        SO_ERROR: OSError(errno) is the stdlib's subclass for it (ConnectionRefusedError...)."""
        result = self._sock.connect_ex(self._resolved(address))
        if result in _CONNECT_PENDING and self.timeout != 0.0:
            self._wait(self._write_event)
            result = self._sock.getsockopt(_stdlib.SOL_SOCKET, _stdlib.SO_ERROR)
        if result not in (0, errno.EISCONN):
            raise OSError(result, os.strerror(result))

    def connect_ex(self, address):
        """connect(), returning the errno instead of raising it (0 on success); a timeout
        is EAGAIN and a failed lookup still raises, as the stdlib does."""
        try:
            self.connect(address)
        except _stdlib.timeout:
            return errno.EAGAIN
        except _stdlib.gaierror:
            raise
        except OSError as error:
            if error.errno is None:
                raise
            return error.errno
        return 0

    def _resolved(self, address):
        """``(host, port)`` with the host name looked up by the resolver, so that the
        C library does not look it up, blocking. An IP address is kept as it is:
        resolving it again could lose an IPv6 scope id (gevent's ``_resolve_addr``)."""
        if self._sock.family not in _RESOLVABLE or not isinstance(address, tuple):
            return address
        host, port = address[:2]
        try:
            _socket.inet_pton(self._sock.family, host)
        except (OSError, TypeError):  # not an address of this family: a name
            sockaddr = self.runtime.socket.getaddrinfo(host, None, self._sock.family)[0][4]
            return (sockaddr[0], port, *sockaddr[2:])
        return address

    # ---- Closing, possibly under a greenlet that waits on it

    def close(self):
        """The stdlib's rule: the fd is closed now, or, while a file made by
        makefile() is open, when the last of them is closed (http.client closes its
        connection while the response is still being read)."""
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def _real_close(self):
        """Close the fd now (close() calls this once no makefile() file is open)."""
        self._drop_fd(_socket.socket.close)

    def detach(self):
        """Stop using the fd and return it, open: it is the caller's now."""
        self._closed = True
        fd = self._sock.fileno()
        self._drop_fd(_socket.socket.detach)
        return fd

    def _drop_fd(self, release):
        """Every later call raises EBADF. A greenlet waiting on the socket is woken
        with EBADF, and only then is ``release(os_socket)`` called (gevent's
        ``_drop_events_and_close``): no watcher ever watches a closed fd."""
        sock, self._sock = self._sock, _ClosedSocket(self._sock)
        if sock.fileno() == -1:
            return  # closed already: a no-op, as for a real socket
        error = OSError(errno.EBADF, "File descriptor was closed in another greenlet")
        watchers = (self._read_event, self._write_event)
        self.hub.cancel_waits_then(watchers, error, functools.partial(release, sock))


class _ClosedSocket:
    """What a closed socket forwards to: every call fails with EBADF, as the OS would."""

    def __init__(self, sock):
        self.family, self.type, self.proto = sock.family, sock.type, sock.proto

    def fileno(self):
        return -1

    def __getattr__(self, name):
        def closed(*args, **kwargs):
            raise OSError(errno.EBADF, "Bad file descriptor")
        return closed


# ---- The module's functions: the runtime comes first (Runtime binds it)


def socketpair(runtime, family=_stdlib.AF_UNIX, type=_stdlib.SOCK_STREAM, proto=0):
    """Two connected cooperative sockets."""
    a, b = _socket.socketpair(family, type, proto)
    return tuple(runtime.socket.socket(s.family, s.type, s.proto, s.detach()) for s in (a, b))


def fromfd(runtime, fd, family, type, proto=0):
    """A cooperative socket on a duplicate of ``fd``."""
    return runtime.socket.socket(family, type, proto, os.dup(fd))


def create_server(runtime, address, **options):
    """The stdlib's ``create_server`` (its options and checks), whose listening fd
    becomes a cooperative socket's: binding and listening never block."""
    sock = _stdlib.create_server(address, **options)
    return runtime.socket.socket(sock.family, sock.type, sock.proto, sock.detach())


def create_connection(runtime, address, timeout=_stdlib._GLOBAL_DEFAULT_TIMEOUT, source_address=None, *,
                      all_errors=False):
    """Connect to ``(host, port)``, trying each address the name resolves to in
    turn. If none answers: the last error, or all of them in an ExceptionGroup."""
    host, port = address
    errors = []
    for family, type, proto, _, sockaddr in runtime.socket.getaddrinfo(host, port, 0, _stdlib.SOCK_STREAM):
        try:
            return _connected(runtime.socket.socket(family, type, proto), sockaddr, timeout, source_address)
        except OSError as error:
            if not all_errors:
                errors.clear()  # only the last is raised
            errors.append(error)
    if not errors:
        raise OSError("getaddrinfo returns an empty list")
    try:
        raise ExceptionGroup("create_connection failed", errors) if all_errors else errors[0]
    finally:
        errors.clear()  # the traceback holds this frame, which holds the errors: a cycle


def _connected(sock, sockaddr, timeout, source_address):
    """One attempt of create_connection; the socket is closed if it fails, whatever
    the reason (a Timeout or a kill too)."""
    try:
        if timeout is not _stdlib._GLOBAL_DEFAULT_TIMEOUT:
            sock.settimeout(timeout)
        if source_address:
            sock.bind(source_address)
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


# ---- Looking names up: the hub's resolver, which may use a thread (resolver.py)


def getaddrinfo(runtime, host, port, family=0, type=0, proto=0, flags=0):
    """The resolver's answer, with the stdlib's enums for family and type."""
    answer = runtime.get_hub().resolver.getaddrinfo(host, port, family, type, proto, flags)
    return [(_stdlib._intenum_converter(af, _stdlib.AddressFamily),
             _stdlib._intenum_converter(kind, _stdlib.SocketKind), protocol, canonname, sockaddr)
            for af, kind, protocol, canonname, sockaddr in answer]


def gethostbyname(runtime, hostname):
    return runtime.get_hub().resolver.gethostbyname(hostname)


def gethostbyname_ex(runtime, hostname):
    return runtime.get_hub().resolver.gethostbyname_ex(hostname)


def gethostbyaddr(runtime, ip_address):
    return runtime.get_hub().resolver.gethostbyaddr(ip_address)


def getnameinfo(runtime, sockaddr, flags):
    return runtime.get_hub().resolver.getnameinfo(sockaddr, flags)

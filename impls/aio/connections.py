"""Servers and connections: what turns sockets into transports (asyncio's
``base_events.py``: ``Server``, ``create_connection``, ``create_server``;
``unix_events.py``: the ``create_unix_*`` pair; ``selector_events.py``: the accept loop).

    server = await create_server(loop, Echo, "127.0.0.1", 0)    # loop.create_server(...)
    transport, protocol = await create_connection(loop, Client, *server.sockets[0].getsockname())

The hub's ``StreamServer`` runs a task that blocks in ``accept()``. Here a reader on
the listening socket accepts, and each connection gets a protocol from
``protocol_factory`` and a `SocketTransport` to call it back.

These are functions taking the loop first; the loop's methods of the same names forward
to them. Only the loop's public API is used, so they run on asyncio's loop as on ours.
"""
import asyncio
import collections.abc
import errno
import os
import socket
import stat
import sys
from asyncio.log import logger
from asyncio.trsock import TransportSocket
from ssl import SSLSocket

from .transports import SocketTransport

NO_TLS = ("ssl= is not implemented: TLS is left out of this loop "
          "(chapters/asyncio.md lists what is missing)")
ACCEPT_RETRY_DELAY = 1  # seconds without accepting after running out of fds (asyncio's)
# accept() errors that mean "out of resources": another accept would fail the same way.
OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class Server(asyncio.AbstractServer):
    """Listening sockets and the connections accepted from them.

    ``async with server:`` closes it at the end (asyncio.AbstractServer's
    ``__aexit__``: close(), then wait_closed()).
    """

    def __init__(self, loop, sockets, protocol_factory, backlog):
        self._loop = loop
        self._sockets = sockets  # the listening sockets; None once closed
        self._protocol_factory = protocol_factory  # one protocol per connection
        self._backlog = backlog  # listen()'s queue, and the most accepts per readiness
        self._serving = False  # accepting: a reader is on each listening socket
        self._serving_forever_fut = None  # what serve_forever() awaits; close() cancels it
        self._active_count = 0  # transports accepted and not yet lost
        self._waiters = []  # futures of wait_closed(); None once they are woken

    def __repr__(self):
        return f"<{type(self).__name__} sockets={self.sockets!r}>"

    @property
    def sockets(self):
        # TransportSockets: the user may look at them but not close them under us.
        return () if self._sockets is None else tuple(map(TransportSocket, self._sockets))

    def get_loop(self):
        return self._loop

    def is_serving(self):
        return self._serving

    # ---- Accepting

    async def start_serving(self):
        self._start_serving()
        # asyncio yields once here (its proactor loop starts accepting in a callback);
        # so do we, so that code after start_serving() runs at the same moment on both.
        await asyncio.sleep(0)

    def _start_serving(self):
        if self._serving:
            return
        self._serving = True
        for sock in self._sockets:
            sock.listen(self._backlog)
            self._loop.add_reader(sock.fileno(), self._accept_connections, sock)

    def _accept_connections(self, sock):
        """The listening socket is readable: accept what is waiting, up to the backlog
        (one at a time would leave a crowd of clients waiting an iteration each)."""
        for _ in range(self._backlog):
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # no one left waiting (or the client gave up first)
            except OSError as exc:
                if exc.errno not in OUT_OF_RESOURCES:
                    raise  # the loop reports it, and we try again next time
                self._pause_accepting(sock, exc)
                return  # (asyncio goes on through the backlog, failing each time)
            self._new_connection(conn, address)

    def _new_connection(self, conn, address):
        conn.setblocking(False)
        try:
            protocol = self._protocol_factory()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            # asyncio reports this in debug mode only, and leaves the socket to the
            # garbage collector; we close it, and always say why.
            conn.close()
            self._loop.call_exception_handler({
                "message": "Error on transport creation for incoming connection",
                "exception": exc,
            })
            return
        SocketTransport(self._loop, conn, protocol, extra={"peername": address}, server=self)

    def _pause_accepting(self, sock, exc):
        # Out of fds, the socket stays readable (Linux), and the loop would spin on
        # it: stop listening for a while, in the hope that connections end meanwhile.
        self._loop.call_exception_handler({
            "message": "socket.accept() out of system resource",
            "exception": exc,
            "socket": TransportSocket(sock),
        })
        self._loop.remove_reader(sock.fileno())
        self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume_accepting, sock)

    def _resume_accepting(self, sock):
        if self._serving:  # not closed in the meantime
            self._loop.add_reader(sock.fileno(), self._accept_connections, sock)

    # ---- The transports tell us when they come and go

    def _attach(self):
        self._active_count += 1

    def _detach(self):
        self._active_count -= 1
        if self._active_count == 0 and self._sockets is None:
            self._wakeup()

    def _wakeup(self):
        waiters, self._waiters = self._waiters, None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # ---- Closing

    def close(self):
        """Stop accepting and close the listening sockets. The connections already
        accepted go on: their protocols close them (3.13 adds close_clients())."""
        sockets, self._sockets = self._sockets, None
        if sockets is None:
            return
        for sock in sockets:
            self._loop.remove_reader(sock.fileno())  # before close(), while the fd is ours
            sock.close()
        self._serving = False
        if self._serving_forever_fut is not None and not self._serving_forever_fut.done():
            self._serving_forever_fut.cancel()
        if self._active_count == 0:
            self._wakeup()

    async def wait_closed(self):
        """Wait until the server is closed and its last connection is lost.

        As in Python 3.11, a server already closed returns at once, even with
        connections still open; 3.12 made it wait for them (CPython gh-79033).
        """
        if self._sockets is None or self._waiters is None:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter

    async def serve_forever(self):
        """Accept until cancelled; then close the server, and let the cancellation go on."""
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise
        finally:
            self._serving_forever_fut = None


# ---- Connecting

async def create_connection(loop, protocol_factory, host=None, port=None, *, ssl=None,
                            family=0, proto=0, flags=0, sock=None, local_addr=None,
                            server_hostname=None, ssl_handshake_timeout=None,
                            ssl_shutdown_timeout=None, happy_eyeballs_delay=None,
                            interleave=None):
    """Connect to ``host:port`` (or adopt the connected ``sock``) and return
    ``(transport, protocol)`` once the protocol's connection_made() has run.

    ``happy_eyeballs_delay`` and ``interleave`` are accepted and ignored: racing
    the addresses (RFC 8305) finds a working one sooner, but we try them in turn,
    which finds the same connection, only more slowly when the first ones hang.
    """
    _refuse_tls(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)
    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        sock = await _connect_to_any(loop, host, port, family, proto, flags, local_addr)
    elif sock is None:
        raise ValueError("host and port was not specified and no sock specified")
    else:
        _check_stream_socket(sock)
    return await _make_transport(loop, sock, protocol_factory)


async def connect_accepted_socket(loop, protocol_factory, sock, *, ssl=None,
                                  ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
    """A transport for a socket accepted elsewhere (by a server of another library)."""
    _check_stream_socket(sock)
    _refuse_tls(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
    return await _make_transport(loop, sock, protocol_factory)


async def _make_transport(loop, sock, protocol_factory):
    """A transport and a protocol for a connected socket, returned once the protocol
    has heard of the connection."""
    sock.setblocking(False)
    protocol = protocol_factory()
    waiter = loop.create_future()  # the transport sets it after connection_made()
    transport = SocketTransport(loop, sock, protocol, waiter)
    try:
        await waiter
    except BaseException:  # cancelled: the transport is ours to close
        transport.close()
        raise
    return transport, protocol


async def _connect_to_any(loop, host, port, family, proto, flags, local_addr):
    """Try each address the name resolves to, in order; the first that connects wins."""
    infos = await _resolve(loop, host, port, family, proto, flags)
    local_infos = None
    if local_addr is not None:
        local_infos = await _resolve(loop, *local_addr[:2], family, proto, flags)
    errors = []
    for info in infos:
        try:
            return await _connect_one(loop, info, local_infos)
        except OSError as exc:
            errors.append(exc)
    raise _connection_error(errors)


async def _connect_one(loop, info, local_infos):
    family, type_, proto, _, address = info
    sock = socket.socket(family, type_, proto)
    try:
        sock.setblocking(False)
        if local_infos is not None:
            _bind_local(sock, local_infos)
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock


async def _resolve(loop, host, port, family, proto, flags):
    """getaddrinfo() for a stream socket. A numeric address is resolved here and now:
    with AI_NUMERICHOST, getaddrinfo() never asks DNS, so it cannot block. A name
    goes to loop.getaddrinfo(), which resolves it in a thread (asyncio's
    ``_ensure_resolved`` takes the same shortcut with ``_ipaddr_info``)."""
    numeric = flags | socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, proto, numeric)
    except socket.gaierror:
        infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM,
                                       proto=proto, flags=flags)
    if not infos:  # a getaddrinfo() of the loop's, or a mock, may say so
        raise OSError(f"getaddrinfo({host!r}) returned empty list")
    return infos


def _bind_local(sock, local_infos):
    """Bind to the first local address of the socket's family that works."""
    error = OSError(f"no matching local address with family={sock.family!r} found")
    for family, _, _, _, address in local_infos:
        if family != sock.family:
            continue
        try:
            sock.bind(address)
            return
        except OSError as exc:
            error = OSError(exc.errno, f"error while attempting to bind on address "
                                       f"{address!r}: {exc.strerror.lower()}")
    raise error


def _connection_error(errors):
    """asyncio's rule: one error, or several that read the same, is raised as it is;
    different ones are summed up in one OSError."""
    if all(str(exc) == str(errors[0]) for exc in errors):
        return errors[0]
    return OSError("Multiple exceptions: {}".format(", ".join(map(str, errors))))


# ---- Serving

async def create_server(loop, protocol_factory, host=None, port=None, *,
                        family=socket.AF_UNSPEC, flags=socket.AI_PASSIVE, sock=None,
                        backlog=100, ssl=None, reuse_address=None, reuse_port=None,
                        ssl_handshake_timeout=None, ssl_shutdown_timeout=None,
                        start_serving=True):
    """Listen on every address ``host`` (a name, or a list of them) resolves to, or on
    the listening ``sock``, and return the Server, accepting unless told not to."""
    _refuse_tls_server(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        if reuse_address is None:
            reuse_address = os.name == "posix" and sys.platform != "cygwin"
        infos = await _resolve_hosts(loop, host, port, family, flags)
        sockets = _bind_all(infos, reuse_address, reuse_port)
    elif sock is None:
        raise ValueError("Neither host/port nor sock were specified")
    else:
        _check_stream_socket(sock)
        sockets = [sock]
    return await _serve(loop, sockets, protocol_factory, backlog, start_serving)


async def _serve(loop, sockets, protocol_factory, backlog, start_serving):
    for sock in sockets:
        sock.setblocking(False)
    server = Server(loop, sockets, protocol_factory, backlog)
    if start_serving:
        await server.start_serving()
    return server


async def _resolve_hosts(loop, host, port, family, flags):
    """The addresses of every host, each once. '' and None both mean every interface."""
    if host == "":
        hosts = [None]
    elif isinstance(host, str) or not isinstance(host, collections.abc.Iterable):
        hosts = [host]
    else:
        hosts = host
    resolved = await asyncio.gather(*(_resolve(loop, h, port, family, 0, flags) for h in hosts))
    return list(dict.fromkeys(info for infos in resolved for info in infos))  # in order, once


def _bind_all(infos, reuse_address, reuse_port):
    """One bound socket per address; if one bind fails, none is kept."""
    sockets = []
    try:
        for family, type_, proto, _, address in infos:
            try:
                sock = socket.socket(family, type_, proto)
            except OSError:
                continue  # a family this kernel lacks (IPv6 turned off): serve the others
            sockets.append(sock)
            _bind_listener(sock, address, reuse_address, reuse_port)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind_listener(sock, address, reuse_address, reuse_port):
    if reuse_address:
        # Restart at once on a port whose old connections are still in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
    if reuse_port:
        if not hasattr(socket, "SO_REUSEPORT"):
            raise ValueError("reuse_port not supported by socket module")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, True)
    if sock.family == socket.AF_INET6:
        # Linux lets an IPv6 socket take IPv4 too, and the IPv4 socket beside it
        # would then fail to bind: keep each to its own family.
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
    try:
        sock.bind(address)
    except OSError as exc:
        raise OSError(exc.errno, f"error while attempting to bind on address "
                                 f"{address!r}: {exc.strerror.lower()}") from None


# ---- Unix domain sockets: the same, with a path for an address

async def create_unix_connection(loop, protocol_factory, path=None, *, ssl=None, sock=None,
                                 server_hostname=None, ssl_handshake_timeout=None,
                                 ssl_shutdown_timeout=None):
    _refuse_tls(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)
    if path is not None:
        if sock is not None:
            raise ValueError("path and sock can not be specified at the same time")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, os.fspath(path))
        except BaseException:
            sock.close()
            raise
    elif sock is None:
        raise ValueError("no path and sock were specified")
    else:
        _check_unix_socket(sock)
    return await _make_transport(loop, sock, protocol_factory)


async def create_unix_server(loop, protocol_factory, path=None, *, sock=None, backlog=100,
                             ssl=None, ssl_handshake_timeout=None, ssl_shutdown_timeout=None,
                             start_serving=True):
    _refuse_tls_server(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    if path is not None:
        if sock is not None:
            raise ValueError("path and sock can not be specified at the same time")
        sock = _bind_unix(os.fspath(path))
    elif sock is None:
        raise ValueError("path was not specified, and no sock specified")
    else:
        _check_unix_socket(sock)
    return await _serve(loop, [sock], protocol_factory, backlog, start_serving)


def _bind_unix(path):
    # A socket file left by a server that died would make bind() fail: remove it.
    # An abstract address (Linux: starting with NUL) has no file.
    if path[0] not in (0, "\x00"):
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.remove(path)
        except FileNotFoundError:
            pass
        except OSError as exc:  # a directory we may create in but not look into
            logger.error("Unable to check or remove stale UNIX socket %r: %r", path, exc)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
        raise
    except BaseException:
        sock.close()
        raise
    return sock


# ---- Argument checks, with asyncio's messages

def _refuse_tls(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout):
    if ssl:
        raise NotImplementedError(NO_TLS)
    for name, value in (("server_hostname", server_hostname),
                        ("ssl_handshake_timeout", ssl_handshake_timeout),
                        ("ssl_shutdown_timeout", ssl_shutdown_timeout)):
        if value is not None:
            raise ValueError(f"{name} is only meaningful with ssl")


def _refuse_tls_server(ssl, ssl_handshake_timeout, ssl_shutdown_timeout):
    # A server needs a context with its certificate: True is not enough.
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    _refuse_tls(ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)


def _check_stream_socket(sock):
    if isinstance(sock, SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A Stream Socket was expected, got {sock!r}")


def _check_unix_socket(sock):
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")

"""The cooperative socket as the standard library uses it: ``makefile`` and its closing
order, ``dup``, ``detach``, ``shutdown``, datagrams, ``sendfile``, the enums, the errors
and timeouts the stdlib raises, and the module's functions (``create_connection``,
``create_server``, ``fromfd``), with every other name of the stdlib's module kept.

Every test runs on gevent and on our runtime over each greenlet × loop pair, bounded
as in test_hub.py, on 127.0.0.1 with ports the OS chooses. Nothing here patches the
stdlib: where a stdlib class makes its own socket, the test hands it ours.
"""
import errno
import gc
import http.client
import http.server
import os
import pickle
import socket as stdlib_socket
import socketserver
import tempfile
import warnings

import pytest

pytestmark = pytest.mark.usefixtures("bounded")  # tests/conformance/conftest.py


@pytest.fixture
def pair(hub):
    left, right = hub.socket.socketpair()
    yield left, right
    left.close(), right.close()


@pytest.fixture
def listener(hub):
    sock = hub.socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    yield sock
    sock.close()


def _refused_address(hub):
    """A bound socket that does not listen: connecting to it is refused at once."""
    sock = hub.socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()


# ---- makefile


def test_makefile_reads_lines_and_writes_on_flush(hub, pair):
    left, right = pair
    reader, writer = left.makefile("rb"), left.makefile("wb")
    right.sendall(b"one\ntwo\n")
    assert reader.readline() == b"one\n" and reader.readline() == b"two\n"
    writer.write(b"buffered")
    writer.flush()
    assert right.recv(100) == b"buffered"
    reader.close(), writer.close()


def test_makefile_in_text_mode(hub, pair):
    left, right = pair
    with left.makefile("rw", encoding="utf-8", newline="") as file:
        right.sendall("héllo\r\n".encode())
        assert file.readline() == "héllo\r\n"
        file.write("ok\n")
        file.flush()
    assert right.recv(100) == b"ok\n"


def test_a_reader_of_a_makefile_waits_while_other_greenlets_run(hub, pair):
    left, right = pair
    reader = hub.spawn(left.makefile("rb").readline)
    hub.sleep(0.01)
    assert not reader.ready()
    right.sendall(b"late\n")
    assert reader.get() == b"late\n"


def test_closing_the_socket_keeps_the_fd_open_for_its_files(hub, pair):
    left, right = pair
    file = left.makefile("rb")
    left.close()  # the file still reads: the stdlib's _io_refs
    right.sendall(b"still here\n")
    assert file.readline() == b"still here\n"
    file.close()  # now the fd is closed: the peer sees the end
    assert right.recv(10) == b"" and left.fileno() == -1


def test_makefile_readline_times_out_with_the_sockets_timeout(hub, pair):
    left, right = pair
    left.settimeout(0.02)
    file = left.makefile("rb")
    with pytest.raises(TimeoutError, match="timed out"):
        file.readline()
    file.close()


def test_makefile_refuses_a_mode_it_does_not_know(hub, pair):
    with pytest.raises(ValueError, match="invalid mode"):
        pair[0].makefile("rx")


# ---- dup, detach, shutdown, fromfd


def test_dup_is_a_second_socket_on_the_same_connection(hub, pair):
    left, right = pair
    left.settimeout(3)
    twin = left.dup()
    assert twin.fileno() != left.fileno() and twin.gettimeout() == 3
    left.close()
    twin.sendall(b"from the twin")
    assert right.recv(100) == b"from the twin"
    twin.close()


def test_detach_gives_the_open_fd_away(hub, pair):
    left, right = pair
    fd = left.fileno()
    assert left.detach() == fd and left.fileno() == -1
    adopted = hub.socket.socket(fileno=fd)
    adopted.sendall(b"adopted")
    assert right.recv(100) == b"adopted"
    adopted.close()
    assert left.detach() == -1  # detached already


def test_shutdown_ends_the_peers_reads_and_wakes_its_reader(hub, pair):
    left, right = pair
    reader = hub.spawn(right.recv, 10)
    hub.sleep(0.01)
    left.shutdown(stdlib_socket.SHUT_WR)
    assert reader.get() == b""
    right.sendall(b"the other way still works")
    assert left.recv(100) == b"the other way still works"


def test_fromfd_makes_a_cooperative_socket_on_a_duplicate(hub, pair):
    left, right = pair
    twin = hub.socket.fromfd(left.fileno(), stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    assert isinstance(twin, hub.socket.socket) and twin.fileno() != left.fileno()
    reader = hub.spawn(twin.recv, 10)
    right.sendall(b"dup")
    assert reader.get() == b"dup"
    twin.close()


# ---- What a socket says about itself


def test_family_is_the_stdlibs_enum(hub, listener):
    assert listener.family is stdlib_socket.AddressFamily.AF_INET


@pytest.mark.fidelity("gevent's type is a plain int (its own property, which strips SOCK_NONBLOCK); "
                      "the stdlib's, and ours, is a SocketKind")
def test_type_is_the_stdlibs_enum(hub, listener):
    assert listener.type is stdlib_socket.SocketKind.SOCK_STREAM


def test_getblocking_follows_the_timeout(hub, listener):
    assert listener.getblocking() and listener.gettimeout() is None
    listener.setblocking(False)
    assert not listener.getblocking() and listener.gettimeout() == 0.0
    listener.settimeout(1)
    assert listener.getblocking()


def test_repr_shows_the_fd_and_whether_closed(hub):
    sock = hub.socket.socket()
    assert f"fd={sock.fileno()}" in repr(sock)
    sock.close()
    assert "[closed]" in repr(sock)


def test_an_unclosed_socket_warns_when_collected(hub):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sock = hub.socket.socket()
        del sock
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) and "unclosed" in str(w.message) for w in caught)


# ---- Datagrams, messages, files


def test_sendto_and_recvfrom_on_udp(hub):
    a, b = hub.socket.socket(type=stdlib_socket.SOCK_DGRAM), hub.socket.socket(type=stdlib_socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    reader = hub.spawn(b.recvfrom, 100)
    hub.sleep(0.01)
    assert not reader.ready()  # it waits, cooperatively
    a.sendto(b"datagram", b.getsockname())
    assert reader.get() == (b"datagram", a.getsockname())
    a.sendto(b"into", b.getsockname())
    buffer = bytearray(10)
    assert b.recvfrom_into(buffer) == (4, a.getsockname()) and buffer[:4] == b"into"
    a.close(), b.close()


def test_sendmsg_and_recvmsg(hub, pair):
    left, right = pair
    reader = hub.spawn(right.recvmsg, 100)
    hub.sleep(0.01)
    assert left.sendmsg([b"two ", b"parts"]) == 9
    data, ancdata, flags, _ = reader.get()
    assert (data, ancdata, flags) == (b"two parts", [], 0)


def test_recvmsg_into_fills_the_buffers_in_turn(hub, pair):
    left, right = pair
    first, second = bytearray(4), bytearray(10)
    reader = hub.spawn(right.recvmsg_into, [first, second])
    hub.sleep(0.01)
    assert not reader.ready()  # it waits, cooperatively
    left.sendall(b"two parts")
    assert reader.get()[:3] == (9, [], 0)
    assert (first, second[:5]) == (b"two ", b"parts")


def test_sendfile_sends_a_file_from_an_offset(hub, pair):
    left, right = pair
    with tempfile.TemporaryFile() as file:
        file.write(b"0123456789" * 1000)
        file.seek(0)
        sender = hub.spawn(left.sendfile, file, 5, 9000)
        received = b""
        while len(received) < 9000:
            received += right.recv(65536)
        assert sender.get() == 9000 and received == (b"0123456789" * 1000)[5:9005]
        assert file.tell() == 9005


def test_sendfile_gives_up_on_os_sendfile_and_sends_instead(hub, pair):
    # os.sendfile would block every greenlet: the stdlib's sendfile() falls back to
    # send() when _sendfile_use_sendfile gives up, which CPython's tests call directly.
    left, right = pair
    with tempfile.TemporaryFile() as file:
        file.write(b"file data")
        file.seek(0)
        with pytest.raises(stdlib_socket._GiveupOnSendfile):
            left._sendfile_use_sendfile(file)
        assert left._sendfile_use_send(file) == 9 and right.recv(100) == b"file data"


# ---- Timeouts and errors, as the stdlib raises them


def test_a_timeout_is_a_timeout_error_timed_out(hub, pair):
    left, right = pair
    assert hub.socket.timeout is TimeoutError
    left.settimeout(0.02)
    with pytest.raises(TimeoutError, match="timed out"):
        left.sendall(b"x" * (1 << 24))  # the peer never reads: the buffers fill


def _fill(sock):
    """Send until the socket's buffer is full: one more byte would have to wait."""
    sock.setblocking(False)
    try:
        while True:
            sock.send(b"x" * 65536)
    except BlockingIOError:
        sock.setblocking(True)


def test_sendmsg_given_msg_dontwait_raises_rather_than_waits(hub, pair):
    left, _ = pair
    _fill(left)
    with pytest.raises(BlockingIOError):
        left.sendmsg([b"x"], [], stdlib_socket.MSG_DONTWAIT)


DONT_WAIT = {  # a call that would wait, given MSG_DONTWAIT; and whose socket it uses
    "recv": (lambda sock: sock.recv(10, stdlib_socket.MSG_DONTWAIT), "empty"),
    "recv_into": (lambda sock: sock.recv_into(bytearray(10), 0, stdlib_socket.MSG_DONTWAIT), "empty"),
    "recvfrom": (lambda sock: sock.recvfrom(10, stdlib_socket.MSG_DONTWAIT), "empty"),
    "recvfrom_into": (lambda sock: sock.recvfrom_into(bytearray(10), 0, stdlib_socket.MSG_DONTWAIT), "empty"),
    "recvmsg": (lambda sock: sock.recvmsg(10, 0, stdlib_socket.MSG_DONTWAIT), "empty"),
    "recvmsg_into": (lambda sock: sock.recvmsg_into([bytearray(10)], 0, stdlib_socket.MSG_DONTWAIT), "empty"),
    "send": (lambda sock: sock.send(b"x", stdlib_socket.MSG_DONTWAIT), "full"),
}


@pytest.mark.fidelity("gevent honours MSG_DONTWAIT in sendmsg only: its recv, send and the others wait")
@pytest.mark.parametrize("call", DONT_WAIT)
def test_any_call_given_msg_dontwait_raises_rather_than_waits(hub, pair, call):
    left, right = pair
    attempt, side = DONT_WAIT[call]
    if side == "full":
        _fill(left)
    with hub.Timeout(0.2), pytest.raises(BlockingIOError):  # gevent's would wait: a Timeout
        attempt(left if side == "full" else right)


def test_connecting_to_a_refused_port_raises_connection_refused(hub):
    closed, address = _refused_address(hub)
    with pytest.raises(ConnectionRefusedError):
        hub.socket.create_connection(address)
    sock = hub.socket.socket()
    assert sock.connect_ex(address) == errno.ECONNREFUSED
    sock.close(), closed.close()


def test_create_connection_with_all_errors_raises_an_exception_group(hub):
    closed, address = _refused_address(hub)
    with pytest.raises(ExceptionGroup, match="create_connection failed") as raised:
        hub.socket.create_connection(address, all_errors=True)
    assert all(isinstance(error, ConnectionRefusedError) for error in raised.value.exceptions)
    closed.close()


def test_create_connection_tries_each_address_of_a_name(hub, listener):
    # 'localhost' may be ::1 first, where nothing listens; 127.0.0.1 answers.
    port = listener.getsockname()[1]
    sock = hub.socket.create_connection(("localhost", port), timeout=3, source_address=("127.0.0.1", 0))
    assert sock.getpeername() == ("127.0.0.1", port) and sock.gettimeout() == 3
    conn, address = listener.accept()
    assert address == sock.getsockname()
    conn.close(), sock.close()


# ---- What CPython's test_socket asks of the class


def test_the_class_names_the_os_sockets_methods(hub):
    # test_socket_methods looks for them on the class, not on a socket
    for name in ("_accept", "bind", "connect", "connect_ex", "getpeername", "getsockname", "listen",
                 "recvfrom", "recvfrom_into", "sendto", "setsockopt", "shutdown"):
        assert hasattr(hub.socket.socket, name), name


def test_pickling_a_socket_raises_type_error(hub, pair):
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError):
            pickle.dumps(pair[0], protocol)


@pytest.mark.fidelity("gevent's message is its own: 'Cannot serialize socket object'")
def test_pickling_a_socket_raises_the_stdlibs_message(hub, pair):
    with pytest.raises(TypeError, match="^cannot pickle 'socket' object$"):
        pickle.dumps(pair[0])


def test_the_default_selector_bears_gevents_name(hub):
    # Named PollSelector, it would pass for selectors.PollSelector: CPython's
    # test_modify_unregister mocks that class's _selector_cls, which ours would not use.
    assert hub.selectors.DefaultSelector is hub.selectors.GeventSelector
    assert hub.selectors.DefaultSelector.__name__ == "GeventSelector"


# ---- The module


def test_the_module_keeps_the_stdlibs_other_names(hub):
    for name in ("inet_aton", "inet_pton", "htons", "gaierror", "herror", "timeout", "error", "SocketIO",
                 "_GLOBAL_DEFAULT_TIMEOUT", "AddressFamily", "SocketKind", "getdefaulttimeout", "has_ipv6"):
        assert getattr(hub.socket, name) is getattr(stdlib_socket, name), name


@pytest.mark.fidelity("gevent.socket lacks CAPI and the stdlib module's own imports (sys, errno, "
                      "selectors, array...); ours keeps every name")
def test_the_module_has_every_name_of_the_stdlibs(hub):
    names = [name for name in vars(stdlib_socket) if not name.startswith("__")]
    assert [name for name in names if not hasattr(hub.socket, name)] == []


@pytest.mark.fidelity("gevent.socket.create_server is the stdlib's own: unpatched, it makes a stdlib "
                      "socket, whose accept blocks every greenlet")
def test_create_server_makes_a_cooperative_listener(hub):
    server = hub.socket.create_server(("127.0.0.1", 0))
    try:
        assert isinstance(server, hub.socket.socket)
        acceptor = hub.spawn(server.accept)
        client = hub.socket.create_connection(server.getsockname())
        conn, _ = acceptor.get()
        conn.close(), client.close()
    finally:
        server.close()


# ---- The stdlib's own classes over our sockets


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_http_client_talks_to_http_server_over_cooperative_sockets(hub):
    server = socketserver.TCPServer(("127.0.0.1", 0), _Hello, bind_and_activate=False)
    server.socket.close()
    server.socket = hub.socket.socket()  # the stdlib's classes, our socket
    server.server_bind(), server.server_activate()
    handler = hub.spawn(server._handle_request_noblock)  # accept: a cooperative wait
    connection = http.client.HTTPConnection(*server.server_address, timeout=5)
    connection._create_connection = hub.socket.create_connection
    try:
        connection.request("GET", "/path")
        response = connection.getresponse()
        connection.close()  # before reading: the response's file keeps the fd open
        assert (response.status, response.read()) == (200, b"hello from /path")
        handler.join()
    finally:
        connection.close(), server.server_close()
    assert handler.successful()


def test_nothing_leaks_fds(hub):
    hub.sleep(0.01)  # let earlier tests' deferred closes run
    before = len(os.listdir("/proc/self/fd"))
    left, right = hub.socket.socketpair()
    file = left.makefile("rwb")
    twin = left.dup()
    left.close(), twin.close(), right.close()
    file.close()
    hub.sleep(0.01)
    assert len(os.listdir("/proc/self/fd")) == before

"""One program, every runtime: the same scenarios on every runtime of the course.

A scenario is written once, as a generator that yields requests (see
``scenario_runtimes``), and runs on every runtime ``conftest.REGISTRY`` lists under
``runtime``: our PEP 342 scheduler, our gen coroutines on our IOLoop, our hub on each
greenlet x loop pair, gevent, and tornado 6 with tornado.gen. They must all give the
same observable results. A new runtime in the registry gets every scenario.

Every run is bounded by a watchdog that ends the process (dumping every thread's
stack) if a scenario hangs, and leaves no file descriptor open behind it.
"""
import faulthandler
import os
import sys

import pytest

from scenario_runtimes import (
    KILLED, Accept, Close, Connect, Join, Kill, Listen, Recv, SendAll, Sleep, SocketPair,
    Spawn, TimedOut, WithTimeout,
)

WATCHDOG = 120.0  # seconds: a scenario still running after this has hung


def warm_up():
    yield Sleep(0)


@pytest.fixture(autouse=True)
def bounded_and_no_fd_left(runtime):
    faulthandler.dump_traceback_later(WATCHDOG, exit=True, file=sys.__stderr__)
    runtime.run(warm_up)  # what lasts from run to run (a hub and its loop) exists now
    before = set(os.listdir("/proc/self/fd"))
    yield
    faulthandler.cancel_dump_traceback_later()
    assert set(os.listdir("/proc/self/fd")) <= before, "a scenario left a file descriptor open"


# ---- Sleeps wake in the order of their deadlines


def sleeper(log, name, seconds):
    yield Sleep(seconds)
    log.append(name)


def sleeps(names_and_seconds):
    log = []
    tasks = []
    for name, seconds in names_and_seconds:
        tasks.append((yield Spawn(sleeper, (log, name, seconds))))
    yield from join_all(tasks)
    return log


def test_sleeps_wake_in_deadline_order(runtime):
    plan = [("c", 0.06), ("a", 0.02), ("d", 0.08), ("b", 0.04), ("now", 0)]
    assert runtime.run(sleeps, plan) == ["now", "a", "b", "c", "d"]


# ---- Ping-pong over a socket pair


def player(sock, hits, serve, says):
    """Answer every ball with says; the server starts the rally and ends it."""
    if serve:
        yield SendAll(sock, says)
    for _ in range(hits - serve):
        ball = yield Recv(sock, 4)
        yield SendAll(sock, says)
    if serve:
        ball = yield Recv(sock, 4)
    return ball


def ping_pong(hits):
    left, right = yield SocketPair()
    ping = yield Spawn(player, (left, hits, True, b"ping"))
    pong = yield Spawn(player, (right, hits, False, b"pong"))
    last_seen = (yield Join(ping)), (yield Join(pong))
    yield Close(left)
    yield Close(right)
    return last_seen


def test_ping_pong_a_thousand_times(runtime):
    # 4-byte balls, one in flight at a time: each Recv gets exactly one
    assert runtime.run(ping_pong, 1000) == (b"pong", b"ping")


# ---- An echo server and many concurrent clients


def handler(conn):
    echoed = 0
    while data := (yield Recv(conn, 65536)):
        yield SendAll(conn, data)
        echoed += len(data)
    yield Close(conn)
    return echoed


def acceptor(listener, clients):
    handlers = []
    for _ in range(clients):
        conn = yield Accept(listener)
        handlers.append((yield Spawn(handler, (conn,))))
    yield Close(listener)
    return (yield from join_all(handlers))


def join_all(tasks):
    answers = []
    for task in tasks:
        answers.append((yield Join(task)))
    return answers


def client(port, n, size, chunk):
    """Send size bytes of a pattern of its own, chunk by chunk, reading each chunk
    back before the next; answer whether every byte came back."""
    payload = n.to_bytes(4, "big") * (size // 4)
    sock = yield Connect(port)
    received = bytearray()
    for start in range(0, size, chunk):
        yield SendAll(sock, payload[start:start + chunk])
        while len(received) < min(start + chunk, size):
            received += yield Recv(sock, 65536)
    yield Close(sock)
    return bytes(received) == payload


def echo(clients, size, chunk):
    listener, port = yield Listen()
    server = yield Spawn(acceptor, (listener, clients))
    tasks = []
    for n in range(clients):
        tasks.append((yield Spawn(client, (port, n, size, chunk))))
    answers = yield from join_all(tasks)
    return answers, (yield Join(server))


def test_echo_server_with_200_clients_of_100_kib_each(runtime):
    size = 100 * 1024
    answers, echoed = runtime.run(echo, 200, size, 16 * 1024)
    assert answers == [True] * 200
    assert echoed == [size] * 200


# ---- Timeouts


def timeouts():
    left, right = yield SocketPair()
    outcome = []
    try:
        yield WithTimeout(0.05, Recv(left, 10))  # nothing comes
    except TimedOut:
        outcome.append("timed out")
    outcome.append((yield WithTimeout(5, Sleep(0))))  # in time: the request's answer
    yield SendAll(right, b"late")  # the socket still works after the timeout
    outcome.append((yield WithTimeout(5, Recv(left, 10))))
    yield Close(left)
    yield Close(right)
    return outcome


def test_a_timeout_fires_and_leaves_the_socket_usable(runtime):
    assert runtime.run(timeouts) == ["timed out", None, b"late"]


# ---- An exception crosses join


def failing(message):
    yield Sleep(0.01)
    raise ValueError(message)


def catch_through_join():
    task = yield Spawn(failing, ("boom",))
    try:
        yield Join(task)
    except ValueError as exc:
        return f"caught {exc}"


def test_an_exception_crosses_join(runtime):
    assert runtime.run(catch_through_join) == "caught boom"


# ---- Killing a task that waits on a socket


def reader(sock, log):
    try:
        log.append((yield Recv(sock, 10)))
    finally:
        log.append("cleaned up")


def kill_a_reader():
    left, right = yield SocketPair()
    log = []
    task = yield Spawn(reader, (left, log))
    yield Sleep(0.01)  # it waits on the socket now
    yield Kill(task)
    outcome = [log.copy(), (yield Join(task))]
    yield Kill(task)  # a dead task: nothing happens
    yield SendAll(right, b"after")  # the killed reader left the socket free
    outcome.append((yield Recv(left, 10)))
    yield Close(left)
    yield Close(right)
    return outcome


def test_killing_a_task_waiting_on_a_socket(runtime):
    assert runtime.run(kill_a_reader) == [["cleaned up"], KILLED, b"after"]

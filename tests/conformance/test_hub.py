"""The contract of the hub and cooperative sockets: gevent's public names.

Every test runs on gevent itself and on our runtime over each greenlet × loop pair.
The namespace ``hub`` carries spawn, sleep, joinall, wait, iwait, Timeout, Greenlet,
get_hub, getcurrent, LoopExit, ConcurrentObjectUseError, GreenletExit, socket and
StreamServer. Every test is bounded: the ``bounded`` fixture raises a Timeout in the
test if it blocks for more than a few seconds. Its timer is unreferenced, so that it
does not itself keep the loop running (which would hide a LoopExit).
"""
import errno
import gc
import os
import weakref

import pytest

pytestmark = pytest.mark.usefixtures("bounded")  # tests/conformance/conftest.py


def _kill_all(*tasks):
    for task in tasks:
        task.kill()


# ---- spawn and the task's outcome


def test_spawned_task_runs_only_when_the_spawner_blocks(hub):
    order = []
    task = hub.spawn(order.append, "task")
    order.append("spawner")
    assert order == ["spawner"] and not task.ready()
    task.join()
    assert order == ["spawner", "task"]


def test_tasks_start_in_the_order_they_were_spawned(hub):
    order = []
    tasks = [hub.spawn(order.append, n) for n in range(5)]
    hub.joinall(tasks)
    assert order == list(range(5))


def test_spawning_what_is_not_callable_is_a_type_error(hub):
    with pytest.raises(TypeError, match="must be callable"):
        hub.spawn(42)


def test_linking_what_is_not_callable_is_a_type_error(hub):
    task = hub.spawn(lambda: None)
    for link in (task.link, task.rawlink):
        with pytest.raises(TypeError, match="Expected callable: 42"):
            link(42)
    task.join()


def test_a_finished_task_holds_its_value(hub):
    task = hub.spawn(lambda x, y: x + y, 2, y=3)
    task.join()
    assert (task.value, task.exception, task.ready(), task.successful()) == (5, None, True, True)


def test_a_failed_task_holds_its_exception(hub):
    def fail():
        raise ValueError("boom")

    task = hub.spawn(fail)
    task.join()
    assert isinstance(task.exception, ValueError) and str(task.exception) == "boom"
    assert task.ready() and not task.successful() and task.value is None


def test_a_running_task_is_not_ready(hub):
    task = hub.spawn(hub.sleep, 5)
    hub.sleep(0)
    assert not task.ready() and not task.successful() and task.exception is None
    task.kill()


def test_a_task_is_true_from_start_until_it_finishes(hub):
    # Found by tests/differential/test_hub_programs.py: greenlet's truth is "running",
    # false before the first switch; gevent's is "started or scheduled, not finished".
    made = hub.Greenlet(hub.sleep, 0)
    assert not made
    made.start()
    assert made  # scheduled, not yet switched to
    hub.sleep(0)
    assert made  # running, blocked in sleep
    made.join()
    assert not made
    killed = hub.spawn(hub.sleep, 0)
    killed.kill()  # before it began
    assert not killed


def test_join_with_a_timeout_returns_while_the_task_still_runs(hub):
    task = hub.spawn(hub.sleep, 5)
    assert task.join(timeout=0.01) is None
    assert not task.ready()
    task.kill()


def test_get_returns_the_value_or_raises_the_error(hub):
    def fail():
        raise ValueError("boom")

    assert hub.spawn(lambda: 42).get() == 42
    with pytest.raises(ValueError, match="boom"):
        hub.spawn(fail).get()


def test_get_of_an_unfinished_task_raises_timeout(hub):
    task = hub.spawn(hub.sleep, 5)
    with pytest.raises(hub.Timeout):
        task.get(block=False)
    with pytest.raises(hub.Timeout):
        task.get(timeout=0.01)
    assert not task.ready()
    task.kill()


def test_kill_raises_greenlet_exit_which_counts_as_success(hub):
    cleaned = []

    def worker():
        try:
            hub.sleep(5)
        finally:
            cleaned.append(True)

    task = hub.spawn(worker)
    hub.sleep(0)
    task.kill()
    assert cleaned == [True] and task.dead and task.ready() and task.successful()
    assert isinstance(task.value, hub.GreenletExit)


def test_kill_with_another_exception_records_it(hub):
    task = hub.spawn(hub.sleep, 5)
    hub.sleep(0)
    task.kill(KeyError)
    assert isinstance(task.exception, KeyError) and not task.successful()


def test_a_task_killed_before_it_starts_never_runs(hub):
    ran = []
    task = hub.spawn(ran.append, 1)
    task.kill()
    hub.sleep(0.01)
    assert ran == [] and task.dead and task.ready() and task.successful()


def test_a_task_killed_before_it_starts_is_not_started_again(hub):
    ran = []
    task = hub.Greenlet(ran.append, 1)
    task.kill()
    task.start()
    hub.sleep(0.01)
    assert ran == [] and task.dead


def test_killing_a_dead_task_is_a_no_op(hub):
    task = hub.spawn(lambda: 7)
    task.join()
    task.kill()
    task.kill(KeyError)
    assert task.value == 7 and task.successful()


# ---- links


def test_rawlink_and_link_are_called_with_the_task_when_it_ends(hub):
    seen = []
    task = hub.spawn(lambda: "done")
    task.rawlink(lambda t: seen.append(("raw", t.value)))
    task.link(lambda t: seen.append(("link", t.value)))
    task.join()
    hub.sleep(0.01)
    assert sorted(seen) == [("link", "done"), ("raw", "done")]


def test_a_link_added_after_the_end_is_still_called(hub):
    task = hub.spawn(lambda: 1)
    task.join()
    seen = []
    task.rawlink(seen.append)
    hub.sleep(0.01)
    assert seen == [task]


def test_unlink_removes_a_link(hub):
    seen = []
    task = hub.spawn(lambda: 1)
    task.rawlink(seen.append)
    task.unlink(seen.append)
    task.join()
    hub.sleep(0.01)
    assert seen == []


# ---- joinall, wait, iwait


def test_joinall_waits_for_every_task(hub):
    tasks = [hub.spawn(hub.sleep, d) for d in (0.02, 0.01, 0)]
    done = hub.joinall(tasks)
    assert sorted(map(id, done)) == sorted(map(id, tasks)) and all(t.ready() for t in tasks)


def test_joinall_with_a_timeout_returns_the_finished_ones(hub):
    quick, slow = hub.spawn(hub.sleep, 0), hub.spawn(hub.sleep, 5)
    assert hub.joinall([quick, slow], timeout=0.3) == [quick]
    slow.kill()


def test_joinall_raise_error_raises_the_first_error(hub):
    def fail():
        raise KeyError("k")

    slow = hub.spawn(hub.sleep, 5)
    with pytest.raises(KeyError):
        hub.joinall([slow, hub.spawn(fail)], raise_error=True)
    slow.kill()


@pytest.mark.fidelity("gevent's joinall leaves its links on the tasks it did not get to, "
                      "so `late` schedules a notification when it ends and comes first")
def test_joinall_raise_error_leaves_no_link_on_the_tasks_still_running(hub):
    # Found by tests/differential/test_hub_programs.py. `error` is kept alive (as a
    # caller that logs it later would): ours must not rely on it being freed.
    def fail():
        raise KeyError("k")

    failing, late, early = hub.spawn(fail), hub.spawn(hub.sleep, 0), hub.spawn(lambda: None)
    try:
        hub.joinall([failing, late], raise_error=True)
    except KeyError as exc:
        error = exc
    hub.sleep(0)  # `late` ends meanwhile; `early` ended long ago
    assert list(hub.iwait([early, late])) == [early, late]
    assert isinstance(error, KeyError)


def test_wait_with_count_returns_the_first_to_finish(hub):
    tasks = [hub.spawn(hub.sleep, d) for d in (0.15, 0.01, 5)]
    assert hub.wait(tasks, count=1) == [tasks[1]]
    # A task that has already finished is reported again, first.
    assert hub.wait(tasks, count=2, timeout=1) == [tasks[1], tasks[0]]
    tasks[2].kill()


def test_iwait_yields_tasks_in_the_order_they_finish(hub):
    tasks = [hub.spawn(lambda d=d: hub.sleep(d) or d) for d in (0.15, 0.05, 0.1)]
    assert [t.value for t in hub.iwait(tasks)] == [0.05, 0.1, 0.15]


def test_iwait_keeps_what_finished_while_the_caller_was_busy(hub):
    tasks = [hub.spawn(hub.sleep, d) for d in (0.01, 0.02, 0.2)]
    seen = []
    for task in hub.iwait(tasks):
        seen.append(task)
        if len(seen) == 1:
            hub.sleep(0.1)  # the second finishes meanwhile
    assert seen == tasks


def test_iwait_stops_at_the_timeout(hub):
    tasks = [hub.spawn(hub.sleep, d) for d in (0.01, 5)]
    assert list(hub.iwait(tasks, timeout=0.3)) == [tasks[0]]  # wide: a loaded machine
    tasks[1].kill()


def test_wait_without_objects_returns_when_the_loop_is_idle(hub):
    hub.spawn(hub.sleep, 0.01)
    assert hub.wait() is True


# ---- sleep


def test_sleep_zero_lets_each_ready_task_run_once(hub):
    order = []

    def worker(name):
        for step in range(2):
            order.append((name, step))
            hub.sleep(0)

    hub.joinall([hub.spawn(worker, "a"), hub.spawn(worker, "b")])
    assert order == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]


def test_sleeps_end_in_order_of_their_length(hub):
    order = []
    tasks = [hub.spawn(lambda d=d: hub.sleep(d) or order.append(d)) for d in (0.15, 0.05, 0.1)]
    hub.joinall(tasks)
    assert order == [0.05, 0.1, 0.15]


# ---- Timeout


def test_timeout_raises_itself_in_its_with_block(hub):
    with pytest.raises(hub.Timeout) as raised:
        with hub.Timeout(0.01) as timeout:
            hub.sleep(5)
    assert raised.value is timeout and not timeout.pending


def test_a_silent_timeout_is_swallowed_by_its_with_block(hub):
    with hub.Timeout(0.01, False):
        hub.sleep(5)
        pytest.fail("the timeout did not fire")


def test_timeout_raises_the_exception_it_was_given(hub):
    with pytest.raises(KeyError):
        with hub.Timeout(0.01, KeyError("late")):
            hub.sleep(5)


def test_a_timeout_given_a_string_raises_itself(hub):
    with pytest.raises(hub.Timeout):
        with hub.Timeout(0.01, "late"):
            hub.sleep(1)


def test_start_new_starts_and_cancel_stops(hub):
    timeout = hub.Timeout.start_new(0.01)
    assert timeout.pending
    timeout.cancel()
    assert not timeout.pending
    hub.sleep(0.02)  # a cancelled timeout never fires
    timeout = hub.Timeout.start_new(0.01)
    with pytest.raises(hub.Timeout):
        hub.sleep(5)
    timeout.close()


def test_a_timeout_that_ends_before_expiring_does_nothing(hub):
    with hub.Timeout(5):
        hub.sleep(0.001)
    hub.sleep(0.01)


# ---- LoopExit


def test_loop_exit_without_arguments_shows_its_name(hub):
    assert str(hub.LoopExit()) == "LoopExit()"


def test_waiting_for_what_nothing_can_wake_raises_loop_exit(hub):
    with pytest.raises(hub.LoopExit):
        hub.get_hub().switch()


def test_joining_a_task_blocked_forever_raises_loop_exit(hub):
    stuck = hub.spawn(lambda: hub.get_hub().switch())
    with pytest.raises(hub.LoopExit):
        with hub.Timeout(None):
            stuck.join()
    stuck.kill()


# ---- sockets


def test_echo_between_two_tasks_over_a_socketpair(hub):
    left, right = hub.socket.socketpair()

    def echo():
        data = right.recv(100)
        right.sendall(data.upper())

    task = hub.spawn(echo)
    left.sendall(b"hello")
    assert left.recv(100) == b"HELLO"
    task.join()
    left.close(), right.close()


def test_recv_into_and_a_large_sendall(hub):
    left, right = hub.socket.socketpair()
    payload = os.urandom(1 << 20)  # more than the socket buffers hold: send must wait
    sender = hub.spawn(right.sendall, payload)
    received = bytearray()
    buffer = bytearray(65536)
    while len(received) < len(payload):
        received += buffer[: left.recv_into(buffer)]
    sender.join()
    assert received == payload and sender.successful()
    left.close(), right.close()


def test_echo_over_tcp_on_localhost(hub):
    listener = hub.socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)

    def serve():
        conn, _ = listener.accept()
        conn.sendall(conn.recv(100) * 2)
        conn.close()

    server = hub.spawn(serve)
    client = hub.socket.create_connection(listener.getsockname())
    client.sendall(b"ab")
    assert client.recv(100) == b"abab"
    server.join()
    client.close(), listener.close()


def test_recv_times_out_with_socket_timeout(hub):
    left, right = hub.socket.socketpair()
    left.settimeout(0.01)
    with pytest.raises(hub.socket.timeout) as raised:
        left.recv(1)
    assert str(raised.value) == "timed out"
    left.close(), right.close()


def test_a_second_reader_of_a_socket_gets_a_clear_error(hub):
    left, right = hub.socket.socketpair()
    first = hub.spawn(left.recv, 1)
    second = hub.spawn(left.recv, 1)
    hub.sleep(0.01)
    assert isinstance(second.exception, hub.ConcurrentObjectUseError)
    assert str(second.exception).startswith("This socket is already used by another greenlet")
    right.sendall(b"x")
    first.join()
    assert first.value == b"x"
    left.close(), right.close()


def test_closing_a_socket_wakes_its_reader_with_ebadf(hub):
    left, right = hub.socket.socketpair()
    reader = hub.spawn(left.recv, 1)
    hub.sleep(0.01)
    left.close()
    reader.join()
    assert isinstance(reader.exception, OSError) and reader.exception.errno == errno.EBADF
    right.close()


def test_stream_server_echoes_to_twenty_clients(hub):
    def echo(sock, address):
        sock.sendall(sock.recv(100))

    server = hub.StreamServer(("127.0.0.1", 0), echo)
    server.start()

    def client(n):
        sock = hub.socket.create_connection(("127.0.0.1", server.address[1]))
        sock.sendall(b"%d" % n)
        reply = sock.recv(100)
        sock.close()
        return reply

    clients = [hub.spawn(client, n) for n in range(20)]
    hub.joinall(clients)
    server.stop()
    assert [c.value for c in clients] == [b"%d" % n for n in range(20)]


# ---- bad input


def test_recv_on_a_closed_socket_raises_ebadf(hub):
    left, right = hub.socket.socketpair()
    left.close()
    with pytest.raises(OSError) as raised:
        left.recv(1)
    assert raised.value.errno == errno.EBADF
    right.close()


def test_a_socket_timeout_that_is_not_a_number_is_a_type_error(hub):
    sock = hub.socket.socket()
    try:
        with pytest.raises(TypeError):
            sock.settimeout("1")
    finally:
        sock.close()


def test_a_negative_socket_timeout_is_a_value_error(hub):
    sock = hub.socket.socket()
    with pytest.raises(ValueError, match="Timeout value out of range"):
        sock.settimeout(-1)
    sock.close()


@pytest.mark.fidelity("gevent lets a greenlet join itself: it then waits forever")
def test_a_task_joining_itself_gets_a_clear_error(hub):
    def join_self():
        hub.getcurrent().join()

    task = hub.spawn(join_self)
    task.join(timeout=0.05)
    try:
        assert isinstance(task.exception, RuntimeError)
        assert "itself" in str(task.exception)
    finally:
        task.kill()


# ---- leaks


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_nothing_leaks_fds_watchers_or_greenlets(hub):
    loop = hub.get_hub().loop
    hub.sleep(0.01)  # let earlier tests' deferred closes run
    fds, watchers = _open_fds(), loop.activecnt
    server = hub.StreamServer(("127.0.0.1", 0), lambda sock, address: sock.sendall(sock.recv(10)))
    server.start()

    def client():
        with hub.socket.create_connection(("127.0.0.1", server.address[1])) as sock:
            sock.sendall(b"x")
            return sock.recv(10)

    clients = [hub.spawn(client) for _ in range(5)]
    hub.joinall(clients)
    left, right = hub.socket.socketpair()
    reader = hub.spawn(left.recv, 1)
    hub.sleep(0.01)
    left.close(), right.close()
    reader.join()
    server.stop()
    refs = [weakref.ref(task) for task in clients + [reader]]
    del clients, reader
    hub.sleep(0.01)
    gc.collect()
    assert (_open_fds(), loop.activecnt) == (fds, watchers)
    assert [ref() for ref in refs] == [None] * len(refs)

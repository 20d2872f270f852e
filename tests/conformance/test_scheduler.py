"""The contract of the PEP 342 task scheduler: tasks are generators, and what they
yield are system calls (GetTid, NewTask, KillTask, WaitTask, Sleep, ReadWait,
WriteWait, or a plain ``yield``). No library to compare with: it runs on ours only.

Every run is bounded: `Scheduler.run(timeout=...)` raises TimeoutError instead of
hanging, and the ``with`` block kills whatever is left.
"""
import logging
import socket
import time

import pytest

LIMIT = 10.0  # seconds any one scheduler run may take


def run(scheduler, *tasks):
    """Run the generators as tasks to the end, within LIMIT seconds."""
    with scheduler.Scheduler() as sched:
        for task in tasks:
            sched.new(task)
        sched.run(timeout=LIMIT)


def recorder(scheduler, call):
    """A task that makes one system call and records what it got: ("ok", answer)
    or ("error", exception)."""
    got = []

    def task():
        try:
            got.append(("ok", (yield call)))
        except Exception as exc:
            got.append(("error", exc))

    return task(), got


# ---- Tasks and the ready queue


def test_run_returns_at_once_without_tasks(scheduler):
    run(scheduler)


def test_a_task_runs_to_its_end_and_run_returns(scheduler):
    log = []

    def task():
        log.append("start")
        yield
        log.append("end")

    run(scheduler, task())
    assert log == ["start", "end"]


def test_new_refuses_what_is_not_a_generator(scheduler):
    def not_called():
        yield

    with scheduler.Scheduler() as sched:
        with pytest.raises(TypeError, match="generator"):
            sched.new(not_called)


def test_plain_yield_gives_way_to_the_other_ready_tasks(scheduler):
    log = []

    def task(name):
        for _ in range(3):
            log.append(name)
            yield

    run(scheduler, task("a"), task("b"))
    assert "".join(log) == "ababab"


def test_get_tid_answers_the_id_new_returned(scheduler):
    got = []

    def task():
        got.append((yield scheduler.GetTid()))

    with scheduler.Scheduler() as sched:
        tids = [sched.new(task()) for _ in range(3)]
        sched.run(timeout=LIMIT)
    assert got == tids
    assert len(set(tids)) == 3


def test_new_task_answers_the_id_and_the_child_starts_first(scheduler):
    log = []

    def child():
        log.append("child starts")
        log.append(("child", (yield scheduler.GetTid())))

    def parent():
        tid = yield scheduler.NewTask(child())
        log.append(("parent", tid))

    run(scheduler, parent())
    assert log[0] == "child starts"
    assert log[1][0] == "parent"
    assert log[1][1] == log[2][1]


# ---- Waiting for tasks


def test_wait_task_receives_the_return_value(scheduler):
    got = []

    def child():
        yield scheduler.Sleep(0.01)
        return 42

    def parent():
        got.append((yield scheduler.WaitTask((yield scheduler.NewTask(child())))))

    run(scheduler, parent())
    assert got == [42]


def test_wait_task_receives_the_exception_that_ended_the_task(scheduler):
    got = []

    def child():
        yield
        raise ValueError("boom")

    def parent():
        tid = yield scheduler.NewTask(child())
        try:
            yield scheduler.WaitTask(tid)
        except ValueError as exc:
            got.append(str(exc))

    run(scheduler, parent())
    assert got == ["boom"]


def test_a_task_that_raises_is_logged_with_its_id_and_the_others_go_on(scheduler, caplog):
    log = []

    def crasher():
        yield
        raise ZeroDivisionError("bad")

    def worker():
        for i in range(3):
            log.append(i)
            yield

    with scheduler.Scheduler() as sched:
        tid = sched.new(crasher())
        sched.new(worker())
        with caplog.at_level(logging.ERROR, logger="switchyard.scheduler"):
            sched.run(timeout=LIMIT)
    assert log == [0, 1, 2]
    [record] = [r for r in caplog.records if r.name == "switchyard.scheduler"]
    assert str(tid) in record.getMessage()
    assert record.exc_info[0] is ZeroDivisionError


def test_waiting_for_a_finished_task_gets_its_outcome_at_once(scheduler):
    got = []

    def child():
        return "done"
        yield

    def parent():
        tid = yield scheduler.NewTask(child())
        yield scheduler.Sleep(0.01)  # the child is long finished
        got.append((yield scheduler.WaitTask(tid)))

    run(scheduler, parent())
    assert got == ["done"]


def test_every_waiter_receives_the_result(scheduler):
    got = []

    def child():
        yield scheduler.Sleep(0.01)
        return "r"

    def waiter(tid):
        got.append((yield scheduler.WaitTask(tid)))

    def parent():
        tid = yield scheduler.NewTask(child())
        for _ in range(3):
            yield scheduler.NewTask(waiter(tid))

    run(scheduler, parent())
    assert got == ["r", "r", "r"]


def test_waiting_for_an_unknown_task_id_raises_lookup_error_in_the_waiter(scheduler):
    task, got = recorder(scheduler, scheduler.WaitTask(999))
    run(scheduler, task)
    [(kind, exc)] = got
    assert kind == "error" and isinstance(exc, LookupError)
    assert "999" in str(exc)


def test_waiting_with_an_id_that_is_not_an_int_raises_type_error(scheduler):
    task, got = recorder(scheduler, scheduler.WaitTask("1"))
    run(scheduler, task)
    [(kind, exc)] = got
    assert kind == "error" and isinstance(exc, TypeError)


def test_a_task_cannot_wait_for_itself(scheduler):
    got = []

    def task():
        try:
            yield scheduler.WaitTask((yield scheduler.GetTid()))
        except RuntimeError as exc:
            got.append(exc)

    run(scheduler, task())
    assert len(got) == 1 and "itself" in str(got[0])


def test_a_cycle_of_waits_ends_run_since_no_task_can_run(scheduler):
    def a(tids):
        yield scheduler.WaitTask(tids["b"])

    def b(tids):
        yield scheduler.WaitTask(tids["a"])

    tids = {}
    with scheduler.Scheduler() as sched:
        tids["a"] = sched.new(a(tids))
        tids["b"] = sched.new(b(tids))
        started = time.monotonic()
        sched.run(timeout=LIMIT)
        assert time.monotonic() - started < 1


# ---- Killing tasks


def test_kill_throws_generator_exit_and_runs_finally_blocks(scheduler):
    log = []

    def victim():
        try:
            yield scheduler.Sleep(60)
        except GeneratorExit:
            log.append("GeneratorExit")
            raise
        finally:
            log.append("finally")

    def killer():
        tid = yield scheduler.NewTask(victim())
        yield  # let the victim reach its Sleep
        log.append((yield scheduler.KillTask(tid)))

    started = time.monotonic()
    run(scheduler, killer())
    assert log == ["GeneratorExit", "finally", True]
    assert time.monotonic() - started < 5  # the killed sleeper no longer holds run()


def test_kill_answers_false_for_a_finished_task(scheduler):
    got = []

    def child():
        return
        yield

    def killer():
        tid = yield scheduler.NewTask(child())
        yield
        got.append((yield scheduler.KillTask(tid)))

    run(scheduler, killer())
    assert got == [False]


def test_kill_of_an_unknown_task_id_raises_lookup_error(scheduler):
    task, got = recorder(scheduler, scheduler.KillTask(12345))
    run(scheduler, task)
    [(kind, exc)] = got
    assert kind == "error" and isinstance(exc, LookupError)


def test_waiters_of_a_killed_task_receive_task_killed(scheduler):
    got = []

    def victim():
        yield scheduler.Sleep(60)

    def waiter(tid):
        try:
            yield scheduler.WaitTask(tid)
        except scheduler.TaskKilled as exc:
            got.append(exc)

    def killer():
        tid = yield scheduler.NewTask(victim())
        yield scheduler.NewTask(waiter(tid))
        yield
        yield scheduler.KillTask(tid)

    run(scheduler, killer())
    assert len(got) == 1


def test_a_task_killed_while_ready_never_runs_again(scheduler):
    log = []

    def victim():
        while True:
            log.append("victim")
            yield

    def killer():
        tid = yield scheduler.NewTask(victim())  # the victim runs once, then is ready
        yield scheduler.KillTask(tid)

    run(scheduler, killer())
    assert log == ["victim"]


def test_a_task_killed_while_waiting_for_a_task_is_no_longer_its_waiter(scheduler):
    got = []

    def slow():
        yield scheduler.Sleep(0.02)
        return "slow"

    def waiter(tid):
        got.append((yield scheduler.WaitTask(tid)))

    def parent():
        slow_tid = yield scheduler.NewTask(slow())
        waiter_tid = yield scheduler.NewTask(waiter(slow_tid))
        yield
        yield scheduler.KillTask(waiter_tid)
        got.append((yield scheduler.WaitTask(slow_tid)))

    run(scheduler, parent())
    assert got == ["slow"]


def test_a_task_may_kill_itself_and_its_finally_blocks_run(scheduler):
    log = []

    def task():
        try:
            yield scheduler.KillTask((yield scheduler.GetTid()))
            log.append("not reached")
        finally:
            log.append("finally")

    run(scheduler, task())
    assert log == ["finally"]


def test_a_killed_task_whose_cleanup_raises_reports_that_exception(scheduler, caplog):
    got = []

    def victim():
        try:
            yield scheduler.Sleep(60)
        finally:
            raise OSError("cleanup failed")

    def killer():
        tid = yield scheduler.NewTask(victim())
        yield
        yield scheduler.KillTask(tid)
        try:
            yield scheduler.WaitTask(tid)
        except OSError as exc:
            got.append(str(exc))

    with caplog.at_level(logging.ERROR, logger="switchyard.scheduler"):
        run(scheduler, killer())
    assert got == ["cleanup failed"]
    assert any("while it was killed" in r.getMessage() for r in caplog.records)


def test_close_kills_the_tasks_left_and_runs_their_finally_blocks(scheduler):
    log = []

    def stuck():
        try:
            yield scheduler.Sleep(60)
        finally:
            log.append("finally")

    sched = scheduler.Scheduler()
    sched.new(stuck())
    with pytest.raises(TimeoutError):
        sched.run(timeout=0.05)
    sched.close()
    assert log == ["finally"]


# ---- Sleeping


def test_sleepers_wake_in_deadline_order(scheduler):
    log = []

    def sleeper(seconds):
        yield scheduler.Sleep(seconds)
        log.append(seconds)

    run(scheduler, *(sleeper(s) for s in (0.03, 0.01, 0.02, 0)))
    assert log == [0, 0.01, 0.02, 0.03]


def test_equal_deadlines_wake_in_the_order_tasks_slept(scheduler):
    log = []

    def sleeper(name):
        yield scheduler.Sleep(0)
        log.append(name)

    run(scheduler, *(sleeper(i) for i in range(20)))
    assert log == list(range(20))


def test_sleep_lasts_at_least_its_duration(scheduler):
    elapsed = []

    def task():
        started = time.monotonic()
        yield scheduler.Sleep(0.05)
        elapsed.append(time.monotonic() - started)

    run(scheduler, task())
    assert elapsed[0] >= 0.05


def test_a_task_that_keeps_yielding_does_not_starve_timers(scheduler):
    woke = []

    def spinner():
        while not woke:
            yield

    def sleeper():
        yield scheduler.Sleep(0.01)
        woke.append(True)

    run(scheduler, spinner(), sleeper())
    assert woke == [True]


def test_run_with_a_timeout_raises_timeout_error_while_tasks_are_at_work(scheduler):
    def forever():
        while True:
            yield

    with scheduler.Scheduler() as sched:
        sched.new(forever())
        with pytest.raises(TimeoutError):
            sched.run(timeout=0.05)


# ---- Bad system calls


def test_sleep_with_a_non_number_raises_type_error_in_the_task(scheduler):
    task, got = recorder(scheduler, scheduler.Sleep("1"))
    run(scheduler, task)
    [(kind, exc)] = got
    assert kind == "error" and isinstance(exc, TypeError)
    assert "Sleep" in str(exc)


def test_new_task_with_a_non_generator_raises_type_error_in_the_task(scheduler):
    task, got = recorder(scheduler, scheduler.NewTask(lambda: None))
    run(scheduler, task)
    [(kind, exc)] = got
    assert kind == "error" and isinstance(exc, TypeError)


def test_read_wait_on_a_non_socket_raises_type_error_in_the_task(scheduler):
    task, got = recorder(scheduler, scheduler.ReadWait("not a socket"))
    run(scheduler, task)
    [(kind, exc)] = got
    assert kind == "error" and isinstance(exc, TypeError)
    assert "ReadWait" in str(exc)


def test_yielding_what_is_not_a_system_call_raises_type_error_in_the_task(scheduler):
    task, got = recorder(scheduler, 42)
    run(scheduler, task)
    [(kind, exc)] = got
    assert kind == "error" and isinstance(exc, TypeError)
    assert "42" in str(exc)


def test_a_bad_system_call_disturbs_no_other_task(scheduler, caplog):
    log = []

    def bad():
        yield scheduler.Sleep(None)  # raises TypeError here, uncaught: the task ends

    def good():
        for i in range(3):
            yield scheduler.Sleep(0)
            log.append(i)

    with caplog.at_level(logging.ERROR, logger="switchyard.scheduler"):
        run(scheduler, bad(), good())
    assert log == [0, 1, 2]
    assert len(caplog.records) == 1  # the bad task's own TypeError, reported


# ---- Nested coroutines


def test_nested_coroutines_return_values_through_yield_from(scheduler):
    got = []

    def leaf(x):
        yield scheduler.Sleep(0)
        return x * 2

    def middle(x):
        return (yield from leaf(x)) + 1

    def top():
        got.append((yield from middle(20)))

    run(scheduler, top())
    assert got == [41]


def test_exceptions_cross_yield_from_levels_both_ways(scheduler):
    got = []

    def leaf():
        yield scheduler.Sleep(0)
        raise KeyError("from the leaf")

    def waits_for_unknown_task():
        yield scheduler.WaitTask(424242)  # the scheduler throws in at this level

    def top():
        try:
            yield from leaf()
        except KeyError as exc:
            got.append(exc.args[0])
        try:
            yield from waits_for_unknown_task()
        except LookupError:
            got.append("lookup")

    run(scheduler, top())
    assert got == ["from the leaf", "lookup"]


# ---- Sockets


def test_read_wait_wakes_the_task_when_data_arrives(scheduler):
    a, b = socket.socketpair()
    got = []

    def reader():
        yield scheduler.ReadWait(a)
        got.append(a.recv(100))

    def writer():
        yield scheduler.Sleep(0.01)
        b.send(b"hello")

    with a, b:
        run(scheduler, reader(), writer())
    assert got == [b"hello"]


def test_write_wait_wakes_at_once_on_a_writable_socket(scheduler):
    a, b = socket.socketpair()
    got = []

    def writer():
        yield scheduler.WriteWait(a.fileno())  # a plain file descriptor is fine too
        got.append(a.send(b"x"))

    with a, b:
        run(scheduler, writer())
    assert got == [1]


def test_one_task_may_read_a_socket_while_another_writes_it(scheduler):
    a, b = socket.socketpair()
    log = []

    def reader():
        yield scheduler.ReadWait(a)
        log.append(("read", a.recv(10)))

    def writer():
        yield scheduler.WriteWait(a)
        a.send(b"ping")
        log.append(("wrote", None))

    def peer():
        yield scheduler.ReadWait(b)
        b.send(b.recv(10))

    with a, b:
        run(scheduler, reader(), writer(), peer())
    assert log == [("wrote", None), ("read", b"ping")]


def test_a_second_reader_of_one_socket_gets_runtime_error(scheduler):
    a, b = socket.socketpair()
    got = []

    def first():
        yield scheduler.ReadWait(a)
        got.append(a.recv(10))

    def second():
        try:
            yield scheduler.ReadWait(a)
        except RuntimeError as exc:
            got.append(type(exc))
        b.send(b"x")

    with a, b:
        run(scheduler, first(), second())
    assert got == [RuntimeError, b"x"]


def test_a_task_killed_while_waiting_on_a_socket_leaves_it_unregistered(scheduler):
    a, b = socket.socketpair()
    got = []

    def victim(sock):
        try:
            yield scheduler.ReadWait(sock)
        finally:
            sock.close()

    def main():
        tid = yield scheduler.NewTask(victim(a))
        yield
        yield scheduler.KillTask(tid)
        c, d = socket.socketpair()  # may well reuse a's file descriptor
        with c, d:
            d.send(b"again")
            yield scheduler.ReadWait(c)
            got.append(c.recv(10))

    with b:
        run(scheduler, main())
    assert got == [b"again"]


# ---- An echo server written as generator tasks


def accept(scheduler, sock):
    yield scheduler.ReadWait(sock)
    return sock.accept()


def recv(scheduler, sock, size):
    yield scheduler.ReadWait(sock)
    return sock.recv(size)


def sendall(scheduler, sock, data):
    while data:
        yield scheduler.WriteWait(sock)
        data = data[sock.send(data):]


def echo_server(scheduler, listener):
    while True:
        conn, _ = yield from accept(scheduler, listener)
        conn.setblocking(False)
        yield scheduler.NewTask(echo_handler(scheduler, conn))


def echo_handler(scheduler, conn):
    with conn:
        while data := (yield from recv(scheduler, conn, 4096)):
            yield from sendall(scheduler, conn, data)


def echo_client(scheduler, port, n_messages, replies):
    with socket.socket() as sock:
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        yield scheduler.WriteWait(sock)  # the non-blocking connect is done
        for i in range(n_messages):
            message = f"message {i} from {id(sock)}\n".encode()
            yield from sendall(scheduler, sock, message)
            received = b""
            while len(received) < len(message):
                chunk = yield from recv(scheduler, sock, 4096)
                assert chunk, "the server closed the connection early"
                received += chunk
            replies.append(received == message)


def test_echo_server_serves_many_clients_at_once(scheduler):
    clients, messages = 50, 5
    replies = []

    def main(listener):
        server = yield scheduler.NewTask(echo_server(scheduler, listener))
        port = listener.getsockname()[1]
        tids = []
        for _ in range(clients):
            tids.append((yield scheduler.NewTask(echo_client(scheduler, port, messages, replies))))
        for tid in tids:
            yield scheduler.WaitTask(tid)
        yield scheduler.KillTask(server)

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(clients)
        listener.setblocking(False)
        run(scheduler, main(listener))
    assert replies == [True] * (clients * messages)

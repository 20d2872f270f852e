"""The contract of gevent's locks: ``gevent.lock``'s Semaphore, BoundedSemaphore, RLock
and DummySemaphore, and ``gevent.thread.LockType`` (the runtime's ``hub.Lock``, what
``threading.Lock`` becomes under the thread patch).

Every test runs on gevent itself and on our runtime over each greenlet × loop pair,
in this process: nothing here patches the stdlib. Every test is bounded, as in
test_hub.py: a Timeout with an unreferenced timer fails a test that blocks too long.
"""
import _thread

import pytest

pytestmark = pytest.mark.usefixtures("bounded")  # tests/conformance/conftest.py


# ---- Semaphore: a count, and greenlets that wait for it


def test_a_semaphore_starts_at_one(hub):
    sem = hub.Semaphore()
    assert sem.counter == 1 and not sem.locked() and sem.ready()
    assert sem.acquire() is True
    assert sem.counter == 0 and sem.locked() and not sem.ready()


def test_a_negative_initial_value_is_a_value_error(hub):
    with pytest.raises(ValueError, match="semaphore initial value must be >= 0"):
        hub.Semaphore(-1)


def test_acquire_without_blocking_fails_at_zero(hub):
    sem = hub.Semaphore(0)
    assert sem.acquire(blocking=False) is False
    assert sem.counter == 0


def test_acquire_with_a_timeout_gives_up_and_returns_false(hub):
    sem = hub.Semaphore(0)
    assert sem.acquire(timeout=0.01) is False
    sem.release()
    assert sem.acquire(blocking=False) is True  # the timed-out wait left no link to steal it


def test_release_returns_the_count_and_may_go_above_the_start(hub):
    sem = hub.Semaphore(1)
    assert sem.release() == 2 and sem.release() == 3


def test_a_greenlet_waiting_for_a_semaphore_lets_the_others_run(hub):
    sem = hub.Semaphore(0)
    order = []

    def waiter():
        sem.acquire()
        order.append("acquired")

    task = hub.spawn(waiter)
    hub.sleep(0)
    order.append("main runs")
    sem.release()
    task.join()
    assert order == ["main runs", "acquired"] and sem.counter == 0


def test_waiters_are_woken_in_the_order_they_waited(hub):
    sem = hub.Semaphore(0)
    order = []
    tasks = [hub.spawn(lambda n=n: (sem.acquire(), order.append(n))) for n in range(5)]
    hub.sleep(0)
    for _ in range(5):
        sem.release()
    hub.joinall(tasks)
    assert order == list(range(5))


def test_a_semaphore_of_two_admits_two_at_a_time(hub):
    sem = hub.Semaphore(2)
    inside, most = [], []

    def worker():
        with sem:
            inside.append(1)
            most.append(len(inside))
            hub.sleep(0.01)
            inside.pop()

    hub.joinall([hub.spawn(worker) for _ in range(6)])
    assert max(most) == 2 and sem.counter == 2


def test_a_killed_waiter_gives_its_turn_to_the_next(hub):
    sem = hub.Semaphore(0)
    got = []
    first = hub.spawn(sem.acquire)
    second = hub.spawn(lambda: got.append(sem.acquire()))
    hub.sleep(0)
    first.kill()
    sem.release()
    second.join()
    assert got == [True] and sem.counter == 0


def test_wait_returns_the_count_without_taking_it(hub):
    sem = hub.Semaphore(2)
    assert sem.wait() == 2 and sem.counter == 2
    empty = hub.Semaphore(0)
    assert empty.wait(timeout=0.01) == 0


def test_wait_wakes_every_waiter_when_the_count_is_free(hub):
    sem = hub.Semaphore(0)
    tasks = [hub.spawn(sem.wait) for _ in range(3)]
    hub.sleep(0)
    sem.release()
    hub.joinall(tasks)
    assert [task.value for task in tasks] == [1, 1, 1] and sem.counter == 1


def test_a_semaphore_is_a_context_manager(hub):
    sem = hub.Semaphore()
    with sem:
        assert sem.locked()
    assert not sem.locked()


def test_blocking_forever_on_a_semaphore_is_a_loop_exit(hub):
    with pytest.raises(hub.LoopExit):
        hub.Semaphore(0).acquire()


def test_rawlink_calls_back_with_the_semaphore_once_it_is_free(hub):
    sem = hub.Semaphore(0)
    called = []
    sem.rawlink(called.append)
    hub.sleep(0)
    assert called == []
    sem.release()
    hub.sleep(0)
    assert called == [sem]


def test_unlink_forgets_a_callback(hub):
    sem = hub.Semaphore(0)
    called = []
    sem.rawlink(called.append)
    sem.unlink(called.append)
    sem.unlink(called.append)  # twice: no error
    sem.release()
    hub.sleep(0)
    assert called == []


def test_rawlink_of_what_is_not_callable_is_a_type_error(hub):
    with pytest.raises(TypeError, match="Expected callable: 42"):
        hub.Semaphore().rawlink(42)


# ---- BoundedSemaphore


def test_a_bounded_semaphore_released_too_often_is_a_value_error(hub):
    sem = hub.BoundedSemaphore(2)
    sem.acquire()
    assert sem.release() == 2
    with pytest.raises(ValueError, match="Semaphore released too many times"):
        sem.release()
    assert sem.counter == 2


# ---- Lock: threading.Lock's signature on a bounded semaphore of one


def test_a_lock_is_held_by_one_at_a_time(hub):
    lock = hub.Lock()
    assert lock.acquire() is True and lock.locked()
    assert lock.acquire(False) is False
    assert lock.acquire(timeout=0.01) is False
    lock.release()
    assert not lock.locked()


def test_a_lock_released_when_unlocked_is_the_thread_modules_error(hub):
    lock = hub.Lock()
    with pytest.raises(_thread.error, match="Semaphore released too many times"):
        lock.release()


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((False, 1), ValueError, "can't specify a timeout for a non-blocking call"),
        ((True, -2), ValueError, "timeout value must be strictly positive"),
        ((True, 1e30), OverflowError, "timeout value is too large"),
    ],
)
def test_a_lock_refuses_the_arguments_the_stdlib_lock_refuses(hub, args, error, message):
    with pytest.raises(error, match=message):
        hub.Lock().acquire(*args)


def test_a_lock_cannot_be_subclassed(hub):
    with pytest.raises(TypeError):
        type("MyLock", (hub.Lock,), {})


def test_a_waiting_lock_lets_the_holder_run(hub):
    lock = hub.Lock()
    order = []

    def holder():
        with lock:
            hub.sleep(0.01)
            order.append("holder done")

    task = hub.spawn(holder)
    hub.sleep(0)
    with lock:
        order.append("main has it")
    task.join()
    assert order == ["holder done", "main has it"]


def test_a_spin_lock_yields_so_the_holder_can_release(hub):
    # A failed non-blocking acquire yields to the others; without that the loop
    # below would spin for ever on the one OS thread.
    lock = hub.Lock()
    task = hub.spawn(lambda: (lock.acquire(), hub.sleep(0), hub.sleep(0), lock.release()))
    hub.sleep(0)
    spins = 0
    while not lock.acquire(False):
        spins += 1
    assert spins >= 1 and task.join() is None


# ---- RLock: reentrant, per greenlet


def test_an_rlock_may_be_acquired_again_by_its_owner(hub):
    rlock = hub.RLock()
    assert rlock.acquire() and rlock.acquire() and rlock.locked()
    rlock.release()
    assert rlock.locked()
    rlock.release()
    assert not rlock.locked()


def test_an_rlock_held_by_one_greenlet_blocks_another(hub):
    rlock = hub.RLock()
    rlock.acquire()
    rlock.acquire()
    other = hub.spawn(lambda: rlock.acquire(timeout=0.01))
    other.join()
    assert other.value is False
    waiter = hub.spawn(rlock.acquire)
    hub.sleep(0)
    rlock.release()
    hub.sleep(0)
    assert not waiter.ready()  # still held once
    rlock.release()
    waiter.join()
    assert waiter.value is True


def test_an_rlock_released_by_another_greenlet_is_a_runtime_error(hub):
    rlock = hub.RLock()
    rlock.acquire()
    task = hub.spawn(rlock.release)
    task.join()
    assert isinstance(task.exception, RuntimeError)
    assert str(task.exception).startswith("cannot release un-acquired lock. Owner: ")
    rlock.release()


def test_an_rlock_released_when_unlocked_is_a_runtime_error(hub):
    with pytest.raises(RuntimeError, match="cannot release un-acquired lock. Owner: None"):
        hub.RLock().release()


def test_an_rlock_saves_and_restores_its_depth_for_a_condition(hub):
    rlock = hub.RLock()
    rlock.acquire()
    rlock.acquire()
    assert rlock._is_owned()
    state = rlock._release_save()
    assert not rlock.locked() and not rlock._is_owned()
    rlock._acquire_restore(state)
    assert rlock._is_owned()
    rlock.release()
    rlock.release()
    assert not rlock.locked()


# ---- DummySemaphore: never blocks


def test_a_dummy_semaphore_never_blocks(hub):
    sem = hub.DummySemaphore(3)
    assert sem.acquire() and sem.acquire(False) and sem.wait() == 1
    assert not sem.locked() and sem.ready()
    sem.release()
    with sem:
        pass

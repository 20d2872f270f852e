"""The rest of gevent's task API: a stray switch caught by join, get and kill; a
Timeout after close() and one given a value that is not an exception; Greenlet
subclasses that define ``_run``; ``spawn_later``, ``killall``, ``spawn_raw``; and the
spawn tree that each task records (``spawning_greenlet``, ``spawning_stack``,
``spawn_tree_locals``).

Every test runs on gevent and on our runtime over each greenlet × loop pair, bounded
as in test_hub.py.
"""
import re
import traceback

import pytest

pytestmark = pytest.mark.usefixtures("bounded")  # tests/conformance/conftest.py


def _stray_switch_later(hub, seconds=0):
    """Switch the current greenlet, from the hub, with a value nothing waits for."""
    current = hub.getcurrent()
    if seconds == 0:
        hub.get_hub().loop.run_callback(current.switch, "stray")
        return None
    timer = hub.get_hub().loop.timer(seconds)
    timer.start(current.switch, "stray")
    return timer


# ---- A stray switch: join, get and kill check what woke them


def test_a_stray_switch_into_join_raises_invalid_switch_error(hub):
    task = hub.spawn(hub.sleep, 5)
    _stray_switch_later(hub)
    with pytest.raises(hub.InvalidSwitchError, match=r"Invalid switch into Greenlet\.join\(\): 'stray'"):
        task.join()
    assert not task.ready()
    task.kill()


def test_a_stray_switch_into_get_raises_invalid_switch_error(hub):
    task = hub.spawn(hub.sleep, 5)
    _stray_switch_later(hub)
    with pytest.raises(hub.InvalidSwitchError, match=r"Invalid switch into Greenlet\.get\(\): 'stray'"):
        task.get()
    task.kill()


def test_a_stray_switch_while_kill_waits_raises_invalid_switch_error(hub):
    # kill waits for the task to end through join, which checks what woke it.
    def stubborn():
        try:
            hub.sleep(5)
        except hub.GreenletExit:
            hub.sleep(0.2)  # dies slowly: the stray switch comes first

    task = hub.spawn(stubborn)
    hub.sleep(0)
    timer = _stray_switch_later(hub, 0.02)
    with pytest.raises(hub.InvalidSwitchError, match=r"Greenlet\.join\(\): 'stray'"):
        task.kill()
    timer.close()
    task.join()
    assert task.dead


# ---- Timeout: closed for good, and a value that is not an exception


def test_starting_a_closed_timeout_is_an_assertion_error(hub):
    timeout = hub.Timeout(0.01)
    timeout.close()
    with pytest.raises(AssertionError, match="non-expiring timer cannot be started"):
        timeout.start()


def test_a_closed_timeout_without_seconds_still_starts_as_a_no_op(hub):
    timeout = hub.Timeout()
    timeout.close()
    timeout.start()
    assert not timeout.pending


def test_a_timeout_given_a_non_exception_fails_in_the_hub_and_the_greenlet_waits_on(hub, capfd):
    # gevent throws the value itself: throw(42) fails, in the hub, which prints the
    # TypeError; the greenlet is not woken and its sleep runs its course.
    with hub.Timeout(0.01, 42):
        hub.sleep(0.1)
    err = capfd.readouterr().err
    assert "TypeError: exceptions must be classes, or instances, not int" in err


# ---- Greenlet subclasses that define _run


def test_a_subclass_defining_run_runs_it(hub):
    class Double(hub.Greenlet):
        def __init__(self, n):
            super().__init__()
            self.n = n

        def _run(self):
            return self.n * 2

    task = Double(21)
    task.start()
    task.join()
    assert task.value == 42 and task.successful()


def test_a_subclass_run_receives_the_constructor_arguments(hub):
    class Add(hub.Greenlet):
        def _run(self, a, b=0):
            return a + b

    task = Add.spawn(None, 2, b=3)
    assert task.get() == 5


def test_the_run_argument_is_kept_as_run_until_the_task_ends(hub):
    def work():
        return 1

    task = hub.Greenlet(work)
    assert task._run is work
    task.start()
    task.join()
    assert task._run is not work  # let go: the class's _run shows again


def test_a_task_without_a_run_returns_none(hub):
    task = hub.Greenlet()
    task.start()
    assert task.get() is None


def test_the_repr_names_the_function_and_its_arguments(hub):
    def fetch(url, timeout=None):
        hub.sleep(5)

    task = hub.spawn(fetch, "http://example", timeout=5)
    assert re.fullmatch(r"<Greenlet (\"[^\"]*\" )?at 0x[0-9a-f]+: fetch\('http://example', timeout=5\)>",
                        repr(task)), repr(task)
    task.kill()


def test_the_repr_of_a_subclass_names_its_run(hub):
    class Job(hub.Greenlet):
        def _run(self):
            hub.sleep(5)

    task = Job.spawn()
    assert re.fullmatch(r"<Job (\"[^\"]*\" )?at 0x[0-9a-f]+: _run>", repr(task)), repr(task)
    task.kill()


# ---- spawn_later


def test_spawn_later_starts_the_task_after_the_delay(hub):
    order = []
    late = hub.spawn_later(0.1, order.append, "late")
    soon = hub.spawn_later(0.01, order.append, "soon")
    hub.sleep(0.03)
    assert order == ["soon"] and late and not late.ready()
    late.join()
    assert order == ["soon", "late"]


def test_spawn_later_is_also_a_classmethod(hub):
    task = hub.Greenlet.spawn_later(0.01, lambda x: x * 2, 21)
    assert task.get() == 42


def test_a_task_killed_before_its_delay_never_runs(hub):
    ran = []
    task = hub.spawn_later(0.02, ran.append, 1)
    task.kill()
    hub.sleep(0.05)
    assert ran == [] and task.dead and task.successful()


def test_spawn_later_without_a_function_is_a_type_error(hub):
    with pytest.raises(TypeError):
        hub.spawn_later(0.01)
    with pytest.raises(TypeError, match="must be callable"):
        hub.spawn_later(0.01, 42)


# ---- killall


def test_killall_kills_every_task_and_waits(hub):
    cleaned = []

    def worker(n):
        try:
            hub.sleep(5)
        finally:
            cleaned.append(n)

    tasks = [hub.spawn(worker, n) for n in range(3)]
    hub.sleep(0)
    hub.killall(tasks)
    assert sorted(cleaned) == [0, 1, 2]
    assert all(t.dead and isinstance(t.value, hub.GreenletExit) for t in tasks)


def test_killall_with_an_exception_records_it(hub):
    tasks = [hub.spawn(hub.sleep, 5) for _ in range(2)]
    hub.sleep(0)
    hub.killall(tasks, KeyError)
    assert all(isinstance(t.exception, KeyError) for t in tasks)


def test_killall_of_tasks_not_yet_begun_means_they_never_run(hub):
    ran = []
    tasks = [hub.spawn(ran.append, n) for n in range(3)]
    hub.killall(tasks)
    hub.sleep(0.01)
    assert ran == [] and all(t.dead for t in tasks)


def test_killall_without_block_returns_at_once(hub):
    tasks = [hub.spawn(hub.sleep, 5) for _ in range(2)]
    hub.sleep(0)
    hub.killall(tasks, block=False)
    assert not any(t.ready() for t in tasks)
    hub.joinall(tasks)
    assert all(t.dead for t in tasks)


def test_killall_waits_for_tasks_that_die_slowly(hub):
    def slow_to_die():
        try:
            hub.sleep(5)
        except hub.GreenletExit:
            hub.sleep(0.05)
            return "cleaned up"

    task = hub.spawn(slow_to_die)
    hub.sleep(0)
    hub.killall([task])
    assert task.value == "cleaned up"


def test_killall_with_a_timeout_raises_timeout(hub):
    def refuses_to_die():
        while True:
            try:
                hub.sleep(5)
            except hub.GreenletExit:
                pass

    task = hub.spawn(refuses_to_die)
    hub.sleep(0)
    with pytest.raises(hub.Timeout):
        hub.killall([task], timeout=0.05)
    task.kill(KeyError)  # not a GreenletExit: it ends


# ---- spawn_raw


def test_spawn_raw_runs_the_function_in_a_bare_greenlet(hub):
    seen = []
    greenlet = hub.spawn_raw(lambda a, b=None: seen.append((a, b)), 1, b=2)
    assert not hasattr(greenlet, "join")
    hub.sleep(0)
    assert seen == [(1, 2)] and greenlet.dead


def test_spawn_raw_of_what_is_not_callable_is_a_type_error(hub):
    with pytest.raises(TypeError, match="function must be callable"):
        hub.spawn_raw(42)


# ---- The spawn tree


def test_a_task_records_who_spawned_it(hub):
    def spawner():
        return hub.spawn(hub.sleep, 0)

    parent = hub.spawn(spawner)
    child = parent.get()
    child.join()
    assert parent.spawning_greenlet() is hub.getcurrent()
    assert child.spawning_greenlet() is parent


def test_a_spawn_tree_shares_its_locals(hub):
    def spawner():
        return hub.spawn(hub.sleep, 0)

    first, second = hub.spawn(spawner), hub.spawn(spawner)
    grandchild = first.get()
    second.join()
    assert grandchild.spawn_tree_locals is first.spawn_tree_locals
    # Each task the main greenlet spawns begins a tree of its own.
    assert first.spawn_tree_locals is not second.spawn_tree_locals


def test_a_task_records_where_it_was_spawned(hub):
    task = hub.spawn(hub.sleep, 0)
    task.join()
    newest = traceback.extract_stack(task.spawning_stack)[-1]
    assert newest.name == "test_a_task_records_where_it_was_spawned"
    assert newest.line == "task = hub.spawn(hub.sleep, 0)"


def test_a_spawning_stack_is_limited(hub):
    def nest(depth):
        return nest(depth - 1) if depth else hub.spawn(hub.sleep, 0)

    task = nest(30)
    task.join()
    assert len(traceback.extract_stack(task.spawning_stack)) == hub.Greenlet.spawning_stack_limit == 10

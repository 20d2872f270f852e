"""The greenlet contract: every test runs on ours (``threaded``, ``stackswitch``) and on
greenlet 3.

``greenlet`` is the implementation's namespace: ``greenlet.greenlet``,
``greenlet.getcurrent``, ``greenlet.GreenletExit``, ``greenlet.error``,
``greenlet.settrace``, ``greenlet.gettrace``. A test marked ``fidelity`` states where the
implementations knowingly differ from greenlet: it passes on ours and must fail on
greenlet. Most of them are differences of the thread model alone (``of=THREAD_MODEL``):
they must fail on ``stackswitch`` too, which behaves as greenlet does there.

No test may hang or leak: a watchdog ends the process (dumping every thread's stack) if
a test runs too long, helper threads are joined with a timeout, and after each test,
once the garbage is collected, no thread may be left over: a greenlet that finished,
or was collected and killed, leaves none behind. (One fidelity test leaves a thread
parked for good, on purpose, and says so.)
"""
import contextlib
import contextvars
import copy
import faulthandler
import functools
import gc
import pickle
import re
import sys
import threading
import time
import types
import weakref

import pytest

WATCHDOG = 60.0  # seconds: a test still running after this has hung; the process ends
JOIN = 10.0  # seconds a helper thread may take

VAR = contextvars.ContextVar("VAR", default="unset")
THREAD_MODEL = ("threaded",)  # the implementations where the fidelity tests pass


@pytest.fixture(autouse=True)
def no_hang_no_leftover_thread(greenlet):
    """The watchdog and the thread count. A test that leaves threads parked on purpose asks
    for this fixture by name and adds them to .parked."""
    before = threading.active_count()
    allowance = types.SimpleNamespace(parked=0)
    faulthandler.dump_traceback_later(WATCHDOG, exit=True, file=sys.__stderr__)
    yield allowance
    # Again: pytest cancels it when a test fails, and killing collected greenlets can hang.
    faulthandler.dump_traceback_later(WATCHDOG, exit=True, file=sys.__stderr__)
    try:
        gc.collect()
        greenlet.getcurrent()  # kills the greenlets other threads collected (greenlet's deleteme)
        after = threading.active_count()
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert after == before + allowance.parked, "a thread outlived its greenlet"


def in_thread(function):
    """function() run in a new thread, joined with a timeout: its result, or its error."""
    outcome = {}

    def target():
        try:
            outcome["result"] = function()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)  # if it hangs, exit all the same
    thread.start()
    thread.join(JOIN)
    assert not thread.is_alive(), "the helper thread hangs"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def eventually(predicate):
    """Wait until predicate() is true, for up to JOIN seconds."""
    deadline = time.monotonic() + JOIN
    while not predicate():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.01)


def assert_still_switching(greenlet):
    """After an error, the current greenlet still switches: a fresh greenlet runs."""
    main = greenlet.getcurrent()
    g = greenlet.greenlet(lambda x: main.switch(x + 1) * 2)
    assert g.switch(1) == 2
    assert g.switch(5) == 10


def suspended_greenlet(greenlet):
    """A started greenlet waiting in a switch; it returns what it catches, if it catches."""
    main = greenlet.getcurrent()

    def run():
        try:
            return main.switch()
        except BaseException as exc:
            return ("caught", exc)

    g = greenlet.greenlet(run)
    g.switch()
    return g


# ---- Main greenlets, starting, switching, finishing


def test_first_getcurrent_in_a_thread_is_its_main_greenlet(greenlet):
    main = greenlet.getcurrent()
    assert main is greenlet.getcurrent() is greenlet.greenlet.getcurrent()
    assert main.parent is None
    assert main and not main.dead
    assert main.gr_frame is None
    with pytest.raises(AttributeError, match="Main greenlets do not have a run attribute"):
        main.run


def test_each_thread_has_its_own_main_greenlet(greenlet):
    there, its_parent = in_thread(lambda: (greenlet.getcurrent(), greenlet.getcurrent().parent))
    assert there is not greenlet.getcurrent()
    assert its_parent is None


def test_new_greenlet_is_unstarted_with_its_creator_as_parent(greenlet):
    g = greenlet.greenlet(lambda: None)
    assert g.parent is greenlet.getcurrent()
    assert not g and not g.dead
    assert g.gr_frame is None


def test_first_switch_calls_run_with_its_arguments_and_returns_its_result(greenlet):
    g = greenlet.greenlet(lambda *args, **kwargs: (args, kwargs))
    assert g.switch(1, 2, key="value") == ((1, 2), {"key": "value"})
    assert g.dead and not g


def test_suspended_greenlet_resumes_where_it_switched_away(greenlet):
    main = greenlet.getcurrent()
    log = []

    def run():
        log.append("started")
        log.append(main.switch("paused"))
        return "finished"

    g = greenlet.greenlet(run)
    assert g.switch() == "paused"
    assert g and not g.dead
    assert g.switch("resumed") == "finished"
    assert log == ["started", "resumed"]
    assert g.dead


def test_two_greenlets_play_ping_pong(greenlet):
    log = []

    def play(name, partner, ball):
        while ball < 6:
            log.append((name, ball))
            partner, ball = partner.switch(greenlet.getcurrent(), ball + 1)
        return ball

    ping = greenlet.greenlet(functools.partial(play, "ping"))
    pong = greenlet.greenlet(functools.partial(play, "pong"))
    assert ping.switch(pong, 0) == 6
    assert log == [("ping", 0), ("pong", 1), ("ping", 2), ("pong", 3), ("ping", 4), ("pong", 5)]
    # pong still waits. It passed itself to switch(), so its own stack refers to it and it
    # will never be collected: only a throw ends it.
    assert isinstance(pong.throw(), greenlet.GreenletExit)


@pytest.fixture
def echo(greenlet):
    """A greenlet that sends back, each time, what its switch to us returned."""
    main = greenlet.getcurrent()

    def run():
        received = main.switch()
        while True:
            received = main.switch(received)

    g = greenlet.greenlet(run)
    g.switch()
    yield g
    g.throw()  # before the check for leftover threads


def test_switch_packing_no_arguments_give_an_empty_tuple(echo):
    assert echo.switch() == ()


def test_switch_packing_one_argument_comes_alone(echo):
    assert echo.switch(1) == 1
    assert echo.switch((1, 2)) == (1, 2)
    assert echo.switch(None) is None


def test_switch_packing_several_arguments_give_a_tuple(echo):
    assert echo.switch(1, 2) == (1, 2)


def test_switch_packing_keywords_alone_give_a_dict(echo):
    assert echo.switch(a=1) == {"a": 1}
    assert echo.switch(self=1) == {"self": 1}


def test_switch_packing_arguments_and_keywords_give_a_pair(echo):
    assert echo.switch(1, a=2) == ((1,), {"a": 2})


def test_switch_to_the_current_greenlet_returns_the_arguments(greenlet):
    assert greenlet.getcurrent().switch(1, 2) == (1, 2)


def test_switch_to_dead_greenlet_goes_to_parent(greenlet):
    main = greenlet.getcurrent()
    received = []

    def collect():
        while True:
            received.append(main.switch())

    parent = greenlet.greenlet(collect)
    parent.switch()
    child = greenlet.greenlet(lambda: "child's result", parent=parent)
    assert child.switch() == ()  # the result went to the parent, which switched to us
    assert child.switch("late") == ()
    assert received == ["child's result", "late"]
    finished = greenlet.greenlet(lambda: None)
    finished.switch()
    assert finished.switch(1, 2) == (1, 2)  # its parent is us


def test_finished_greenlet_result_starts_an_unstarted_parent(greenlet):
    parent = greenlet.greenlet(lambda *args: ("parent ran with", args))
    child = greenlet.greenlet(lambda: "child's result", parent=parent)
    assert child.switch() == ("parent ran with", ("child's result",))
    assert child.dead and parent.dead


def test_finished_greenlet_result_skips_dead_parents(greenlet):
    dead = greenlet.greenlet(lambda: None)
    dead.switch()
    child = greenlet.greenlet(lambda: "result", parent=dead)
    assert child.switch() == "result"


def test_unstarted_parent_without_run_passes_the_error_further_up(greenlet):
    child = greenlet.greenlet(lambda: "result", parent=greenlet.greenlet())
    with pytest.raises(AttributeError):
        child.switch()
    assert child.dead
    assert_still_switching(greenlet)


def test_exception_in_greenlet_propagates_to_parent(greenlet):
    def run():
        raise KeyError("lost")

    g = greenlet.greenlet(run)
    with pytest.raises(KeyError, match="lost"):
        g.switch()
    assert g.dead
    assert_still_switching(greenlet)


def test_greenlet_exit_is_returned_to_the_parent_not_raised(greenlet):
    def run():
        raise greenlet.GreenletExit("bye")

    result = greenlet.greenlet(run).switch()
    assert isinstance(result, greenlet.GreenletExit)
    assert result.args == ("bye",)


def test_module_functions_are_on_the_class_too(greenlet):
    for name in ("getcurrent", "settrace", "gettrace"):
        assert getattr(greenlet.greenlet, name) is getattr(greenlet, name)


def test_exception_classes(greenlet):
    assert issubclass(greenlet.GreenletExit, BaseException)
    assert not issubclass(greenlet.GreenletExit, Exception)
    assert issubclass(greenlet.error, Exception)
    assert greenlet.greenlet.GreenletExit is greenlet.GreenletExit
    assert greenlet.greenlet.error is greenlet.error


# ---- throw


def test_throw_kills_a_suspended_greenlet_with_greenlet_exit_by_default(greenlet):
    g = suspended_greenlet(greenlet)
    caught, exc = g.throw()
    assert caught == "caught" and type(exc) is greenlet.GreenletExit
    assert g.dead


def test_throw_raises_where_the_greenlet_is_suspended(greenlet):
    g = suspended_greenlet(greenlet)
    caught, exc = g.throw(KeyError, "key")
    assert type(exc) is KeyError and exc.args == ("key",)


def test_throw_builds_the_exception_as_raise_does(greenlet):
    instance = ValueError("instance")
    assert suspended_greenlet(greenlet).throw(instance)[1] is instance
    assert suspended_greenlet(greenlet).throw(ValueError, instance)[1] is instance
    assert suspended_greenlet(greenlet).throw(KeyError, (1, 2))[1].args == (1, 2)
    assert type(suspended_greenlet(greenlet).throw(KeyError)[1]) is KeyError


def test_throw_keeps_the_given_traceback(greenlet):
    try:
        raise ValueError("with a past")
    except ValueError as exc:
        error, tb = exc, exc.__traceback__
    caught = suspended_greenlet(greenlet).throw(ValueError, error, tb)[1]
    frames = []
    tb_entry = caught.__traceback__
    while tb_entry is not None:
        frames.append(tb_entry.tb_frame)
        tb_entry = tb_entry.tb_next
    assert tb.tb_frame in frames


def test_uncaught_throw_propagates_to_parent(greenlet):
    main = greenlet.getcurrent()
    g = greenlet.greenlet(main.switch)
    g.switch()
    with pytest.raises(ValueError, match="thrown"):
        g.throw(ValueError("thrown"))
    assert g.dead


def test_throw_into_unstarted_greenlet_kills_it(greenlet):
    ran = []
    g = greenlet.greenlet(lambda: ran.append(True))
    assert isinstance(g.throw(), greenlet.GreenletExit)
    assert g.dead
    h = greenlet.greenlet(lambda: ran.append(True))
    with pytest.raises(KeyError):
        h.throw(KeyError)
    assert h.dead
    assert ran == []


def test_throw_into_unstarted_greenlet_drops_its_run(greenlet):
    def run():
        pass

    gone = weakref.ref(run)
    g = greenlet.greenlet(run)
    del run
    with pytest.raises(KeyError):
        g.throw(KeyError)
    gc.collect()  # the traceback of the KeyError may hold it in a cycle
    assert g.dead and gone() is None


def test_throw_into_dead_greenlet_goes_to_parent(greenlet):
    g = greenlet.greenlet(lambda: None)
    g.switch()
    assert isinstance(g.throw(), greenlet.GreenletExit)  # returned, as a result would be
    with pytest.raises(KeyError):
        g.throw(KeyError)


@pytest.mark.parametrize("args, message", [
    ((1,), "exceptions must be classes, or instances, not int"),
    (("boom",), "exceptions must be classes, or instances, not str"),
    ((object,), "exceptions must be classes, or instances, not type"),
    ((ValueError("v"), "extra"), "instance exception may not have a separate value"),
    ((ValueError, None, "no traceback"), "throw() third argument must be a traceback object"),
], ids=["int", "str", "not_an_exception_class", "instance_and_value", "bad_traceback"])
def test_throw_bad_arguments_raise_type_error_and_break_nothing(greenlet, args, message):
    g = suspended_greenlet(greenlet)
    with pytest.raises(TypeError, match=re.escape(message)):
        g.throw(*args)
    assert g and not g.dead  # nothing was thrown into it
    assert g.switch("fine") == "fine"
    assert_still_switching(greenlet)


# ---- run


def test_run_is_gone_once_the_greenlet_has_started(greenlet):
    main = greenlet.getcurrent()
    run = main.switch
    g = greenlet.greenlet(run)
    assert g.run == run
    g.switch()
    with pytest.raises(AttributeError):
        g.run
    with pytest.raises(AttributeError, match="run cannot be set after the start of the greenlet"):
        g.run = run


def test_greenlet_without_run_fails_at_switch_and_stays_unstarted(greenlet):
    g = greenlet.greenlet()
    with pytest.raises(AttributeError):
        g.switch()
    assert not g and not g.dead
    g.run = lambda: "given late"
    assert g.switch() == "given late"
    h = greenlet.greenlet(lambda: "deleted")
    del h.run
    with pytest.raises(AttributeError):
        h.switch()


def test_run_not_callable_raises_type_error_at_first_switch(greenlet):
    g = greenlet.greenlet(42)  # accepted until it is called
    with pytest.raises(TypeError, match="not callable"):
        g.switch()
    assert g.dead
    assert_still_switching(greenlet)


def test_run_given_as_none_is_a_run_and_fails_at_first_switch(greenlet):
    g = greenlet.greenlet(None)
    assert g.run is None
    with pytest.raises(TypeError, match="'NoneType' object is not callable"):
        g.switch()
    assert g.dead


def test_greenlet_started_while_its_run_is_read_is_switched_to_not_started_again(greenlet):
    """Reading run can run code that starts the greenlet (greenlet's fail_initialstub_
    already_started.py): the switch that was starting it becomes a plain switch to it."""
    main = greenlet.getcurrent()
    log = []

    class Started(greenlet.greenlet):
        reading = False

        def __getattribute__(self, name):
            if name == "run" and not self.reading:
                self.reading = True
                log.append(("reading run", self.switch()))  # starts it, and waits here
            return object.__getattribute__(self, name)

        def run(self, *args):
            log.append(("run", args))
            return ("returned", main.switch("started while read"))

    started = Started()
    starter = greenlet.greenlet(lambda: started.switch("from the starter"))
    assert starter.switch() == "started while read"
    assert starter.switch("back") == ("returned", "from the starter")
    assert log == [("run", ()), ("reading run", "back")]
    assert started.dead and not starter.dead


def test_run_given_is_dropped_in_the_greenlet_as_it_starts(greenlet):
    """When a subclass's run attribute is another callable, the one given to the
    constructor goes as the greenlet starts, before run is called, and in the greenlet:
    greenlet's fail_clearing_run_switches.py."""
    main = greenlet.getcurrent()
    log = []

    class Given:
        def __del__(self):
            log.append(("given dropped in", greenlet.getcurrent() is not main))
            main.switch("from the given run's __del__")

    class Other(greenlet.greenlet):
        def __getattribute__(self, name):
            if name == "run":
                return lambda: log.append("run called")
            return object.__getattribute__(self, name)

    g = Other(Given())
    assert g.switch() == "from the given run's __del__"
    g.switch()
    assert log == [("given dropped in", True), "run called"]
    assert g.dead


def test_subclass_run_method_is_the_run(greenlet):
    class Worker(greenlet.greenlet):
        def __init__(self):  # skips greenlet's __init__: still a greenlet
            pass

        def run(self, x):
            return ("worked", x)

    worker = Worker()
    assert worker.parent is greenlet.getcurrent()
    assert worker.switch(1) == ("worked", 1)



def test_a_subclass_truth_does_not_change_what_the_greenlet_knows_of_itself(greenlet):
    # gevent's Greenlet is true from start() on, before its first switch: its gr_frame
    # and gr_context must still be those of an unstarted greenlet.
    class Scheduled(greenlet.greenlet):
        def __bool__(self):
            return True

    g = Scheduled(lambda: None)
    assert g.gr_frame is None
    context = contextvars.Context()
    g.gr_context = context  # allowed before the start, whatever bool() says
    assert g.gr_context is context
    g.switch()
    assert g.dead

# ---- parent


def test_parent_is_reassignable_and_receives_the_result(greenlet):
    adopter = greenlet.greenlet(lambda *args: ("adopted", args))
    child = greenlet.greenlet(lambda: "result")
    child.parent = adopter
    assert child.parent is adopter
    assert child.switch() == ("adopted", ("result",))


def test_parent_cycle_raises_value_error(greenlet):
    a = greenlet.greenlet(lambda: None)
    b = greenlet.greenlet(lambda: None, parent=a)
    with pytest.raises(ValueError, match="cyclic parent chain"):
        a.parent = b
    with pytest.raises(ValueError, match="cyclic parent chain"):
        a.parent = a
    assert a.parent is greenlet.getcurrent()
    assert_still_switching(greenlet)


def test_parent_must_be_a_greenlet_and_cannot_be_deleted(greenlet):
    g = greenlet.greenlet(lambda: None)
    with pytest.raises(TypeError, match="Expected any type of greenlet, not NoneType"):
        g.parent = None
    with pytest.raises(TypeError, match="Expected any type of greenlet, not int"):
        greenlet.greenlet(lambda: None, parent=3)
    with pytest.raises(AttributeError):
        del g.parent
    assert g.parent is greenlet.getcurrent()


def test_main_greenlet_parent_cannot_be_set(greenlet):
    with pytest.raises(AttributeError, match="cannot set the parent of a main greenlet"):
        greenlet.getcurrent().parent = greenlet.greenlet(lambda: None)
    assert greenlet.getcurrent().parent is None


def test_started_greenlet_cannot_take_a_parent_from_another_thread(greenlet):
    elsewhere = in_thread(greenlet.getcurrent)
    g = suspended_greenlet(greenlet)
    with pytest.raises(ValueError, match="parent cannot be on a different thread"):
        g.parent = elsewhere
    assert g.parent is greenlet.getcurrent()


# ---- Threads


@contextlib.contextmanager
def another_thread(greenlet):
    """A live thread's greenlets: its main (running there), one unstarted, one suspended.

    The thread ends, and is joined, when the block ends."""
    ready, done = threading.Event(), threading.Event()
    there = {}

    def other_thread():
        main = there["main"] = greenlet.getcurrent()
        there["unstarted"] = greenlet.greenlet(lambda: None)
        there["suspended"] = greenlet.greenlet(main.switch)
        there["suspended"].switch()
        ready.set()
        done.wait(JOIN)

    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        assert ready.wait(JOIN)
        yield there
    finally:
        done.set()
        thread.join(JOIN)
    assert not thread.is_alive()


def test_cross_thread_switch_raises_error(greenlet):
    with another_thread(greenlet) as there:
        for target in there.values():
            with pytest.raises(greenlet.error, match="Cannot switch to a different thread"):
                target.switch()
        with pytest.raises(greenlet.error, match="Cannot switch to a different thread"):
            there["suspended"].throw()
    for target in there.values():  # greenlet says "(which happens to have exited)", in time
        with pytest.raises(greenlet.error, match="(?i)cannot switch to a different thread"):
            target.switch()
    eventually(lambda: there["main"].dead)
    assert_still_switching(greenlet)


def test_context_of_a_greenlet_running_in_another_thread_is_out_of_reach(greenlet):
    with another_thread(greenlet) as there:
        running = "of a greenlet that is running in a different thread"
        with pytest.raises(ValueError, match=f"cannot get context {running}"):
            there["main"].gr_context
        with pytest.raises(ValueError, match=f"cannot set context {running}"):
            there["main"].gr_context = None


def test_finished_and_killed_greenlets_leave_no_thread_behind(greenlet):
    before = threading.active_count()
    main = greenlet.getcurrent()
    finished = [greenlet.greenlet(functools.partial(int, i)) for i in range(20)]
    assert [g.switch() for g in finished] == list(range(20))
    suspended = [greenlet.greenlet(main.switch) for _ in range(20)]
    for g in suspended:
        g.switch()
    for g in suspended[:10]:
        g.throw()
    del finished, suspended, g  # the last ten are killed as they are collected
    assert threading.active_count() == before


# ---- Frames, attributes


def test_gr_frame_is_the_frame_that_switched_away(greenlet):
    main = greenlet.getcurrent()

    def outer():
        inner()

    def inner():
        main.switch()

    g = greenlet.greenlet(outer)
    assert g.gr_frame is None
    g.switch()
    assert g.gr_frame.f_code.co_name == "inner"
    assert g.gr_frame.f_back.f_code.co_name == "outer"
    g.switch()
    assert g.gr_frame is None


def test_gr_frame_is_none_while_running(greenlet):
    assert greenlet.greenlet(lambda: greenlet.getcurrent().gr_frame).switch() is None


def test_suspended_main_greenlet_shows_its_frame(greenlet):
    main = greenlet.getcurrent()

    def switching_from_main():
        return greenlet.greenlet(lambda: main.gr_frame.f_code.co_name).switch()

    assert switching_from_main() == "switching_from_main"


def test_greenlet_has_a_dict_and_weak_references(greenlet):
    g = greenlet.greenlet(lambda: None)
    assert g.__dict__ == {}
    g.name = "named"
    assert g.__dict__ == {"name": "named"}
    assert weakref.ref(g)() is g


# ---- Per-greenlet state: contextvars, sys.exc_info, recursion


def test_dict_can_be_replaced_by_a_dict_but_not_deleted(greenlet):
    g = greenlet.greenlet()
    g.__dict__ = {"kept": 1}
    assert g.kept == 1
    with pytest.raises(TypeError, match="__dict__ may not be deleted"):
        del g.__dict__
    with pytest.raises(TypeError, match="__dict__ must be"):
        g.__dict__ = 42
    g.run = lambda: "set"
    del g.run  # other attributes are set and deleted as ever
    assert not hasattr(g, "run") and g.kept == 1


def test_repr_says_what_state_a_greenlet_is_in(greenlet):
    main = greenlet.getcurrent()
    assert repr(main).endswith(" current active started main>")
    assert repr(greenlet.greenlet()).endswith(" pending>")
    g = greenlet.greenlet(lambda: main.switch((repr(greenlet.getcurrent()), repr(main))))
    inside, of_main = g.switch()
    assert inside.endswith(" current active started>")
    assert of_main.endswith(" suspended active started main>")
    assert repr(g).endswith(" suspended active started>")
    g.switch()
    assert repr(g).endswith(" dead>") and "active" not in repr(g)
    exited = in_thread(greenlet.getcurrent)
    eventually(lambda: exited.dead)
    assert repr(exited).endswith(" (thread exited) dead>")


def test_greenlet_cannot_be_copied_or_pickled(greenlet):
    class Sub(greenlet.greenlet):
        pass

    for g, name in [(greenlet.greenlet(), "greenlet.greenlet"), (Sub(), "Sub")]:
        for copier in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError, match=re.escape(f"cannot serialize '{name}' object")):
                copier(g)


def test_gr_context_is_per_greenlet(greenlet):
    main = greenlet.getcurrent()

    def run():
        assert VAR.get() == "unset"  # a new greenlet starts with an empty context
        VAR.set("in greenlet")
        main.switch()
        return VAR.get()

    token = VAR.set("in main")
    try:
        g = greenlet.greenlet(run)
        assert g.gr_context is None
        g.switch()
        assert VAR.get() == "in main"
        assert g.gr_context[VAR] == "in greenlet"
        assert g.switch() == "in greenlet"
        assert g.gr_context[VAR] == "in greenlet"  # kept after death
    finally:
        VAR.reset(token)


def test_gr_context_given_before_the_start_is_used(greenlet):
    context = contextvars.Context()
    context.run(VAR.set, "given")
    g = greenlet.greenlet(VAR.get)
    g.gr_context = context
    assert g.gr_context is context
    assert g.switch() == "given"


def test_gr_context_given_before_the_start_is_the_dead_greenlets_gr_context(greenlet):
    context = contextvars.Context()
    g = greenlet.greenlet(lambda: VAR.set("set in run"))
    g.gr_context = context
    g.switch()
    assert g.dead
    assert g.gr_context is context and context[VAR] == "set in run"


def test_gr_context_must_be_a_context_or_none(greenlet):
    g = greenlet.greenlet(VAR.get)
    with pytest.raises(TypeError, match="greenlet context must be a contextvars.Context or None"):
        g.gr_context = {}
    g.gr_context = None
    assert g.switch() == "unset"


def test_exc_info_is_per_greenlet(greenlet):
    main = greenlet.getcurrent()

    def run():
        assert sys.exc_info() == (None, None, None)  # not the exception main handles
        try:
            raise KeyError("the greenlet's")
        except KeyError:
            main.switch()
            return sys.exc_info()[0]

    g = greenlet.greenlet(run)
    try:
        raise ValueError("main's")
    except ValueError:
        g.switch()
        assert sys.exc_info()[0] is ValueError
        assert g.switch() is KeyError
        assert sys.exc_info()[0] is ValueError


@pytest.fixture
def modest_recursion_limit():
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 100)
    yield
    sys.setrecursionlimit(limit)


def how_deep():
    """How many more nested calls fit before RecursionError."""
    def dive(n):
        try:
            return dive(n + 1)
        except RecursionError:
            return n

    return dive(0)


def test_deep_recursion_in_a_greenlet_raises_recursion_error(greenlet, modest_recursion_limit):
    def recurse():
        return recurse()

    g = greenlet.greenlet(recurse)
    with pytest.raises(RecursionError):
        g.switch()
    assert g.dead
    assert_still_switching(greenlet)


# ---- Garbage collection


def dying_greenlet(greenlet, log):
    """A suspended greenlet that logs, as it dies, the exception it dies of and its parent."""
    main = greenlet.getcurrent()

    def run():
        try:
            main.switch()
        finally:
            log.append((sys.exc_info()[0], greenlet.getcurrent().parent))

    g = greenlet.greenlet(run)
    g.switch()
    return g


def test_garbage_collected_suspended_greenlet_runs_finally(greenlet):
    log = []
    g = dying_greenlet(greenlet, log)
    del g
    assert log == [(greenlet.GreenletExit, greenlet.getcurrent())]


def test_garbage_collected_greenlet_is_told_why_it_dies(greenlet):
    main = greenlet.getcurrent()
    caught = []

    def run():
        try:
            main.switch()
        except greenlet.GreenletExit as exc:
            caught.append(exc.args)
            raise

    g = greenlet.greenlet(run)
    g.switch()
    del g
    assert caught == [("Killing the greenlet because all references have vanished.",)]


def test_greenlet_collected_while_suspended_in_a_throw_is_killed(greenlet):
    """Its throw keeps nothing alive: not the exception it threw, whose traceback holds
    the frames (and the greenlets) it was raised through."""
    main = greenlet.getcurrent()
    log = []

    def run():
        try:
            main.throw(ValueError)
        finally:
            log.append(sys.exc_info()[0])

    g = greenlet.greenlet(run)
    with pytest.raises(ValueError):
        g.switch()
    del g
    gc.collect()
    assert log == [greenlet.GreenletExit]


def test_greenlet_that_threw_an_exception_it_still_holds_is_killed_when_dropped(greenlet):
    """Its frame holds the exception it threw, whose traceback holds the frames of the
    switch it was raised from: they must not hold the greenlet that switch went to."""
    main = greenlet.getcurrent()
    log = []

    def run():
        main.switch()
        thrown = ValueError("thrown")
        try:
            main.throw(thrown)
        finally:
            log.append(sys.exc_info()[0])

    g = greenlet.greenlet(run)
    g.switch()
    with pytest.raises(ValueError):
        g.switch()  # raises here, through this switch: its traceback holds our frames
    del g
    assert log == [greenlet.GreenletExit]


def test_greenlet_exit_of_a_kill_is_gone_once_the_dying_greenlet_drops_it(greenlet):
    """Nothing but the dying greenlet holds it: what its traceback's frames refer to can
    go while the greenlet dies."""
    main = greenlet.getcurrent()
    seen = []

    def run():
        try:
            main.switch()
        except greenlet.GreenletExit as exc:
            seen.append(weakref.ref(exc))
        seen.append(seen[0]() is None)

    g = greenlet.greenlet(run)
    g.switch()
    del g
    assert seen[1:] == [True]


def test_suspended_thrower_keeps_no_exception_it_built(greenlet):
    """throw(Class) builds the exception; once the target has dropped it, it is gone,
    though the thrower still waits in its throw (greenlet moves it into the switch)."""
    main = greenlet.getcurrent()
    built = []

    class Built(Exception):
        def __init__(self):
            super().__init__()
            built.append(weakref.ref(self))

    def catch():
        try:
            main.switch()
        except Built:
            pass
        main.switch("caught")

    catcher = greenlet.greenlet(catch)
    catcher.switch()
    thrower = greenlet.greenlet(lambda: catcher.throw(Built))
    assert thrower.switch() == "caught"
    gc.collect()
    assert thrower and [ref() for ref in built] == [None]


def test_collected_greenlet_dies_into_the_collecting_greenlet(greenlet):
    main = greenlet.getcurrent()
    log = []
    parent = greenlet.greenlet(main.switch)
    parent.switch()
    g = dying_greenlet(greenlet, log)
    g.parent = parent
    del g
    assert log == [(greenlet.GreenletExit, main)]  # not its parent: that one still waits
    assert parent and not parent.dead


def test_error_in_a_collected_greenlet_is_unraisable(greenlet, monkeypatch):
    main = greenlet.getcurrent()

    def run():
        try:
            main.switch()
        finally:
            raise ValueError("raised while dying")

    g = greenlet.greenlet(run)
    g.switch()
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(u.exc_type))
    del g
    assert unraisable == [ValueError]
    assert_still_switching(greenlet)


def test_greenlet_collected_inside_another_greenlet_dies_into_it(greenlet):
    log = []

    def run():
        g = dying_greenlet(greenlet, log)  # its parent: this greenlet
        g.parent = greenlet.getcurrent().parent
        del g
        return greenlet.getcurrent()

    collector = greenlet.greenlet(run)
    assert collector.switch() is collector
    assert log == [(greenlet.GreenletExit, collector)]


def test_greenlet_dropped_as_a_greenlet_finishes_dies_before_the_result_moves_on(greenlet):
    log = []

    def run():
        g = dying_greenlet(greenlet, log)
        g.parent = greenlet.getcurrent().parent
        return "done"  # g goes as this frame does

    finishing = greenlet.greenlet(run)
    assert finishing.switch() == "done"
    assert log == [(greenlet.GreenletExit, finishing)]


@contextlib.contextmanager
def dropping_one_per_event(victims, after):
    """Drop one of victims (pop it) at each profiler event, once a call of the function after
    has returned. Collections can drop greenlets at any moment; this tries every moment.

    The profiler sees this thread (where greenlet runs every greenlet) and the threads
    started in the block (where the model runs its greenlets), for as long as they run.
    """
    returned = []

    def drop(frame, event, arg):
        if returned and victims:
            victims.pop()
        elif event == "return" and frame.f_code is after.__code__:
            returned.append(True)

    sys.setprofile(drop)
    threading.setprofile(drop)
    try:
        yield
    finally:
        sys.setprofile(None)
        threading.setprofile(None)


def test_greenlets_dropped_as_another_ends_are_killed_before_its_outcome_arrives(greenlet):
    log = []

    def ending():
        return "ended"

    def scenario():  # in a thread of its own, joined with a timeout: a hang would show
        victims = [dying_greenlet(greenlet, log) for _ in range(40)]
        with dropping_one_per_event(victims, ending):
            result = greenlet.greenlet(ending).switch()
        dropped, killed = 40 - len(victims), len(log)
        victims.clear()  # the rest die here, at once
        return result, dropped, killed

    result, dropped, killed = in_thread(scenario)
    assert result == "ended"
    assert killed == dropped > 0
    assert [exc for exc, _ in log] == [greenlet.GreenletExit] * 40


def test_collected_greenlet_that_survives_greenlet_exit_is_reported_and_kept(greenlet, capsys):
    main = greenlet.getcurrent()

    def run():
        try:
            main.switch()
        except greenlet.GreenletExit:
            main.switch("not dead")  # the second GreenletExit comes here, and kills

    g = greenlet.greenlet(run)
    g.switch()
    survivor = weakref.ref(g)
    del g
    assert capsys.readouterr().err == f"GreenletExit did not kill {survivor()!r}\n"
    assert survivor() and not survivor().dead  # kept alive, as greenlet keeps it
    assert isinstance(survivor().throw(), greenlet.GreenletExit)
    assert survivor().dead


def test_greenlet_collected_in_another_thread_dies_in_its_own(greenlet):
    log = []
    held = [dying_greenlet(greenlet, log)]
    in_thread(held.clear)
    assert log == []  # another thread cannot switch into it
    greenlet.getcurrent()  # its own thread kills it at its next call into greenlet
    assert log == [(greenlet.GreenletExit, greenlet.getcurrent())]


# ---- Tracing


def test_settrace_sees_switch_and_throw(greenlet):
    main = greenlet.getcurrent()
    events = []

    def tracer(event, args):
        origin, target = args
        events.append((event, origin, target, greenlet.getcurrent() is target))

    g = greenlet.greenlet(lambda: main.switch() or main.switch())
    dying = greenlet.greenlet(lambda: 1 / 0)
    previous = greenlet.settrace(tracer)
    try:
        assert greenlet.gettrace() is tracer
        g.switch()
        g.switch()
        with pytest.raises(KeyError):
            g.throw(KeyError)
        with pytest.raises(ZeroDivisionError):
            dying.switch()
    finally:
        assert greenlet.settrace(previous) is tracer
    name = {main: "main", g: "g", dying: "dying"}
    assert [(event, name[o], name[t], in_target) for event, o, t, in_target in events] == [
        ("switch", "main", "g", True), ("switch", "g", "main", True),
        ("switch", "main", "g", True), ("switch", "g", "main", True),
        ("throw", "main", "g", True), ("throw", "g", "main", True),
        ("switch", "main", "dying", True), ("throw", "dying", "main", True),
    ]


def test_settrace_sees_a_switch_to_oneself(greenlet):
    events = []
    previous = greenlet.settrace(lambda event, args: events.append((event, args[0] is args[1])))
    try:
        me = greenlet.getcurrent()
        assert me.switch(1) == 1
        with pytest.raises(KeyError):
            me.throw(KeyError)
    finally:
        greenlet.settrace(previous)
    assert events == [("switch", True), ("throw", True)]


def test_settrace_is_per_thread(greenlet):
    previous = greenlet.settrace(lambda event, args: None)
    try:
        assert in_thread(greenlet.gettrace) is None
    finally:
        greenlet.settrace(previous)


def test_tracer_that_raises_is_removed_and_its_error_raised(greenlet):
    def tracer(event, args):
        raise RuntimeError("tracer failed")

    g = greenlet.greenlet(lambda: "never runs")
    previous = greenlet.settrace(tracer)
    try:
        with pytest.raises(RuntimeError, match="tracer failed"):
            g.switch()  # raised in g, as it starts: g dies of it
        assert greenlet.gettrace() is None
        assert g.dead
    finally:
        greenlet.settrace(previous)
    assert_still_switching(greenlet)


# ---- Where ours knowingly differ (fidelity: must fail on greenlet)


@pytest.mark.fidelity(
    "greenlet: all the greenlets of a thread run on that thread", of=THREAD_MODEL)
def test_each_greenlet_runs_on_an_os_thread_of_its_own(greenlet):
    assert greenlet.greenlet(threading.get_ident).switch() != threading.get_ident()


@pytest.mark.fidelity(
    "greenlet: the first frame of a greenlet has no f_back", of=THREAD_MODEL)
def test_first_frame_of_a_greenlet_sits_on_its_threads_frames(greenlet):
    main = greenlet.getcurrent()

    def first():
        main.switch()

    g = greenlet.greenlet(first)
    g.switch()
    assert g.gr_frame.f_code.co_name == "first"
    assert g.gr_frame.f_back is not None


@pytest.mark.fidelity(
    "greenlet: a started greenlet that never used contextvars has no context", of=THREAD_MODEL)
def test_started_greenlet_shows_a_context_even_if_it_never_used_one(greenlet):
    main = greenlet.getcurrent()
    g = greenlet.greenlet(main.switch)
    g.switch()
    assert isinstance(g.gr_context, contextvars.Context)


@pytest.mark.fidelity(
    "greenlet: a running greenlet's gr_context is the live context itself", of=THREAD_MODEL)
def test_running_greenlets_gr_context_is_a_copy(greenlet):
    def run():
        VAR.set("before")
        seen = greenlet.getcurrent().gr_context
        VAR.set("after")
        return seen[VAR]

    assert greenlet.greenlet(run).switch() == "before"


@pytest.mark.fidelity(
    "greenlet can replace the context of a started greenlet", of=THREAD_MODEL)
def test_context_of_a_started_greenlet_cannot_be_replaced(greenlet):
    g = suspended_greenlet(greenlet)
    with pytest.raises(NotImplementedError):
        g.gr_context = contextvars.Context()


@pytest.mark.fidelity("greenlet: a new greenlet inherits the recursion depth of its starter")
def test_greenlet_starts_with_a_fresh_recursion_depth(greenlet, modest_recursion_limit):
    def fifty_calls_deeper(n=50):
        if n:
            return fifty_calls_deeper(n - 1)
        return how_deep(), greenlet.greenlet(how_deep).switch()

    here, there = fifty_calls_deeper()
    assert there > here + 25  # greenlet: there is here, less a frame or two


@pytest.mark.fidelity(
    "greenlet frees a greenlet of an exited thread without running it", of=THREAD_MODEL)
def test_greenlet_of_an_exited_thread_is_unwound_when_collected(greenlet):
    log = []

    def other_thread():
        return dying_greenlet(greenlet, log)

    g = in_thread(other_thread)
    del g
    gc.collect()
    assert [exc for exc, _ in log] == [greenlet.GreenletExit]


@pytest.mark.fidelity(
    "greenlet frees a greenlet of an exited thread without running it", of=THREAD_MODEL)
def test_greenlet_of_an_exited_thread_that_will_not_die_is_reported(
        greenlet, capsys, no_hang_no_leftover_thread):
    log = []

    def other_thread():
        main = greenlet.getcurrent()

        def run():
            try:
                main.switch()
            except greenlet.GreenletExit:
                log.append("caught")
                main.switch()  # to a main greenlet whose thread has exited

        g = greenlet.greenlet(run)
        g.switch()
        return g

    held = [in_thread(other_thread)]
    in_thread(held.clear)  # collected in a helper thread: a hang would show, not block
    assert log == ["caught"]
    assert capsys.readouterr().err.startswith("GreenletExit did not kill ")
    no_hang_no_leftover_thread.parked += 1  # no switch can reach it again: parked for good


@pytest.mark.fidelity(
    "greenlet frees a greenlet of an exited thread without running it", of=THREAD_MODEL)
def test_greenlets_dropped_as_one_of_an_exited_thread_is_unwound_die_with_it(greenlet):
    log, held, victims = [], [], []

    def unwound():
        greenlet.getcurrent().parent.switch()

    def other_thread():
        victims.extend(dying_greenlet(greenlet, log) for _ in range(40))
        with dropping_one_per_event(victims, unwound):  # its thread starts in the block
            held.append(greenlet.greenlet(unwound))
            held[0].switch()

    in_thread(other_thread)
    in_thread(held.clear)  # unwinds it; its end drops victims of the same exited thread
    dropped, killed = 40 - len(victims), len(log)
    victims.clear()
    assert killed == dropped > 0
    assert [exc for exc, _ in log] == [greenlet.GreenletExit] * 40


@pytest.mark.fidelity(
    "greenlet runs as many greenlets at once as memory holds", of=THREAD_MODEL)
def test_greenlet_past_the_models_thread_limit_fails_at_once(greenlet, monkeypatch):
    monkeypatch.setattr(greenlet, "MAX_THREADS", threading.active_count() + 3, raising=False)
    main = greenlet.getcurrent()
    held = []
    with pytest.raises(greenlet.error, match=r"a thread of its own.*MAX_THREADS = "):
        for _ in range(6):
            held.append(greenlet.greenlet(main.switch))
            held[-1].switch()
    assert len(held) == 4 and not held[-1] and not held[-1].dead  # it never started
    held.clear()  # their threads end as they die
    assert_still_switching(greenlet)


@pytest.mark.fidelity(
    "greenlet starts an unstarted parent with no arguments when a greenlet dies of "
    "GreenletExit: it hands the exception over where the argument tuple belongs, which "
    "reads as empty (and crashes the interpreter if the exception has a __dict__)")
def test_greenlet_exit_result_starts_an_unstarted_parent_with_it(greenlet):
    parent = greenlet.greenlet(lambda *args: args)
    child = greenlet.greenlet(lambda: None, parent)
    started_with = child.throw()  # kills child before it starts: its result goes to parent
    assert len(started_with) == 1 and isinstance(started_with[0], greenlet.GreenletExit)


@pytest.mark.fidelity(
    "greenlet cannot lose a switch: one stack, and a switch happens or raises",
    of=THREAD_MODEL)
def test_a_switch_the_model_loses_fails_fast_in_main(greenlet):
    """A greenlet that holds the turn but waits for a switch, handing over nothing, can
    never pass it on: the main greenlet sees it and raises instead of waiting for ever.
    (No program can do this; the model's own machinery could, if it broke: here a
    greenlet calls the model's wait directly.)"""
    main = greenlet.getcurrent()
    g = greenlet.greenlet(lambda: greenlet._wake_up(greenlet._thread_state(),
                                                    greenlet._local.baton))
    started = time.monotonic()
    with pytest.raises(greenlet.error, match="the model lost a switch: the turn is .*, and "
                                             "its thread waits for a switch that cannot come"):
        g.switch()
    assert time.monotonic() - started < 5 * greenlet._POLL
    assert greenlet.getcurrent() is main
    assert_still_switching(greenlet)


@pytest.mark.fidelity("greenlet never collects a suspended greenlet in a reference cycle")
def test_greenlet_in_a_reference_cycle_is_killed_by_the_collector(greenlet):
    log = []
    g = dying_greenlet(greenlet, log)
    g.itself = g
    del g
    gc.collect()
    assert [exc for exc, _ in log] == [greenlet.GreenletExit]

"""What only the stack-switching greenlet has: stack slots, copies, and the thread state it swaps.

The greenlet contract itself is tests/conformance/test_greenlet.py. Here: greenlets share
a few slots and are copied out and back without losing a byte, memory and mappings do
not pile up, running out of memory is a MemoryError, deep recursion meets RecursionError
(or the guard page) and never corrupts memory, the interpreter state each switch saves and restores
(exceptions, contextvars, recursion depth, tracing), collection, threads, and a switch
that asks nothing of the kernel. What could crash the interpreter runs in a child process.
"""
import contextvars
import functools
import gc
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import traceback

import pytest

# The stand-in stackswitch.py raises a plain ImportError saying why the extension is
# not built; importorskip skips on ModuleNotFoundError only, unless told (pytest 8.2).
stackswitch = pytest.importorskip("impls.greenlet.stackswitch", exc_type=ImportError)
greenlet, getcurrent = stackswitch.greenlet, stackswitch.getcurrent

SLOTS = 16  # stackswitch.pyx's stack slots per thread

VAR = contextvars.ContextVar("VAR", default="unset")


def run_child(code, **environment):
    """Run code in a fresh interpreter (faulthandler on), with these environment variables
    besides ours; its CompletedProcess, as text."""
    return subprocess.run([sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **environment})


def mappings():
    """How many memory mappings this process has (two per stack: guard and stack)."""
    with open("/proc/self/maps") as maps:
        return sum(1 for _ in maps)


def resident_bytes():
    """This process's resident memory."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def live_greenlets():
    """How many greenlet objects exist (the collector tracks them all)."""
    return sum(isinstance(o, greenlet) for o in gc.get_objects())


def in_a_thread_of_its_own(test):
    """Run the test in a new thread, whose greenlets get slots of their own: greenlets
    that earlier tests left suspended are then never copied out by it, and the counts of
    _memory() move by this test's greenlets alone."""
    @functools.wraps(test)
    def run():
        failures = []

        def body():
            try:
                test()
            except BaseException as failure:
                failures.append(failure)

        thread = threading.Thread(target=body)
        thread.start()
        thread.join()
        if failures:
            raise failures[0]

    return run


def suspended():
    """A greenlet suspended in its first switch back to us."""
    g = greenlet(getcurrent().switch)
    g.switch()
    return g


def c_recursion(depth):
    """depth levels of Python -> C -> Python re-entry: each level uses C stack."""
    if depth:
        return sorted([0], key=lambda _: c_recursion(depth - 1))
    return getcurrent().parent.switch()


# ---- Slots and copies


@in_a_thread_of_its_own
def test_finished_greenlets_leave_nothing_held_or_copied():
    gc.collect()
    before = stackswitch._memory()
    waiting = [suspended() for _ in range(3)]
    assert stackswitch._memory()[0] == before[0] + 3
    for g in waiting:
        g.switch()
    assert stackswitch._memory() == before


def test_unstarted_greenlets_hold_nothing():
    before = stackswitch._memory()
    unstarted = [greenlet(lambda: None) for _ in range(100)]
    assert stackswitch._memory() == before
    assert all(not g.dead for g in unstarted)


@in_a_thread_of_its_own
def test_greenlets_beyond_the_slots_are_copied_out_and_freed_when_collected():
    before = stackswitch._memory()
    waiting = [suspended() for _ in range(3 * SLOTS)]
    held, copied, copied_bytes = stackswitch._memory()
    assert held == before[0] + 3 * SLOTS
    assert copied >= before[1] + 2 * SLOTS  # at most one per slot is in it
    assert copied_bytes > before[2]
    del waiting  # each is killed: copied back in, GreenletExit, then its place goes
    assert stackswitch._memory() == before


@in_a_thread_of_its_own
def test_a_million_greenlets_come_and_go_leaving_no_mapping_and_no_memory_behind():
    def lifetime(n):
        suspended_ones = [suspended() for _ in range(n % 50)]  # many beyond the slots
        g = greenlet(c_recursion)
        g.switch(20)  # some C stack used, below an emptied slot's warm top
        g.switch()
        del suspended_ones

    for n in range(200):  # every slot is mapped, the interpreter warms up
        lifetime(n)
    gc.collect()
    maps, rss, objects, memory = mappings(), resident_bytes(), live_greenlets(), stackswitch._memory()
    started = 0
    for n in range(40_000):  # 25.5 greenlets each on average: a million and more
        lifetime(n)
        started += n % 50 + 1
    gc.collect()
    assert started > 1_000_000
    assert (live_greenlets(), stackswitch._memory()) == (objects, memory)
    assert mappings() <= maps + 2  # the slots were mapped already: nothing more is
    assert resident_bytes() - rss < 16 << 20


def test_many_live_greenlets_each_resume_on_their_own_frames():
    main = getcurrent()

    def deep(n):
        return sorted([0], key=lambda _: deep(n - 1)) if n else main.switch(n)

    live = [greenlet(deep) for _ in range(200)]  # more than the slots: most are copied out
    for g in live:
        g.switch(30)
    for g in live:  # each resumes at the bottom of its own 30 levels of C recursion
        assert g.switch() == [0]
        assert g.dead


def test_frames_of_copied_out_greenlets_can_be_walked_and_formatted():
    # On 3.12 the chain of a greenlet's frames passes through frames on its C stack
    # (wherever C called into Python): copied out, those bytes are someone else's.
    def inner(n):
        if n:
            return list(map(lambda _: inner(n - 1), [0]))  # C calls into Python here
        return getcurrent().parent.switch()

    parked = [greenlet(inner) for _ in range(3 * SLOTS)]  # most of them copied out
    for g in parked:
        g.switch(3)
    gc.collect()
    for g in parked:
        names, frame = [], g.gr_frame
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        assert names == ["inner", "<lambda>"] * 3 + ["inner"]
        assert len(traceback.format_stack(g.gr_frame)) == 7
    for g in parked:  # and they run on, their frames whole
        assert g.switch() == [[[()]]]  # what an empty switch() brings


def test_one_slot_copies_at_every_switch_and_loses_nothing():
    # The worst case, forced: with one slot, every switch between two greenlets copies,
    # through the switcher's stack when both are bound to it.
    result = run_child("""
        import gc
        from impls.greenlet.stackswitch import greenlet, getcurrent, _memory

        def deep(n, then):  # n levels of C recursion, then a call of then()
            if n == 0:
                return then()
            box = []
            sorted([0], key=lambda _: box.append(deep(n - 1, then)))
            return box[0]

        def player(name):
            def play(ball):
                while ball < 300:
                    ball = deep(40, lambda: players[name].switch(ball + 1))
                return ball
            return play

        ping, pong = greenlet(player("pong")), greenlet(player("ping"))
        players = {"ping": ping, "pong": pong}
        print("ended at", ping.switch(0))
        parked = [greenlet(lambda: deep(5, getcurrent().parent.switch)) for _ in range(3)]
        for g in parked:
            g.switch()
        print("frames", [g.gr_frame.f_code.co_name for g in parked])  # two are copied out
        caught = []
        for g in parked:
            try:
                g.throw(ValueError(len(caught)))
            except ValueError as error:
                caught.append(error.args[0])
        print("thrown", caught, all(g.dead for g in parked))
        parent = greenlet(lambda: child.switch() + 1)
        child = greenlet(lambda: 41, parent=parent)  # it dies into its parent's slot
        print("to the parent", parent.switch())
        del ping, pong, players, parked, g
        gc.collect()
        print("left", _memory())
    """, SWITCHYARD_STACK_SLOTS="1")
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "ended at 300", "frames ['deep', 'deep', 'deep']", "thrown [0, 1, 2] True",
        "to the parent 42", "left (0, 0, 0)"]


def test_calls_across_the_end_of_a_greenlets_root_chunk_reuse_cpythons_chunk():
    # Frames past a greenlet's small root chunk go to a 16 KiB chunk of CPython's, freed
    # when the call returns: without the kept spares, each such call would map a fresh
    # chunk and fault its first page in.
    def chain(n):
        return chain(n - 1) if n else None

    def many_calls():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(10_000):
            chain(40)
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    assert greenlet(many_calls).switch() < 100  # not one page fault per call


@pytest.mark.parametrize("slots", ["0", "many", "5000"])
def test_a_bad_number_of_slots_is_refused_at_the_first_start(slots):
    result = run_child("""
        from impls.greenlet.stackswitch import greenlet
        g = greenlet(lambda: None)
        try:
            g.switch()
        except ValueError as error:
            print(error, g.dead, bool(g))
    """, SWITCHYARD_STACK_SLOTS=slots)
    assert result.stdout == (f"SWITCHYARD_STACK_SLOTS must be a number from 1 to 4096, "
                             f"not {slots!r} False False\n")


def test_running_out_of_memory_raises_memory_error_and_the_process_goes_on():
    result = run_child("""
        import resource
        from impls.greenlet.stackswitch import greenlet, getcurrent, _memory

        main = getcurrent()
        held = []

        def hold(n):
            for _ in range(n):
                g = greenlet(main.switch)
                g.switch()
                held.append(g)

        hold(100)  # the slots are mapped
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (size + (64 << 20), resource.RLIM_INFINITY))
        try:
            hold(10**7)
        except MemoryError as error:
            failure = str(error)
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2)
        # Whichever allocation failed first: ours names the count, Python's says nothing.
        print("held", len(held) > 10_000, failure in ("", *(
            f"{what} ({len(held):,} greenlets held)" for what in (
                "no memory to start a greenlet", "no memory for a greenlet's frames",
                "no memory to copy a greenlet's stack out"))))
        del held[1000:]  # the rest are killed and freed
        hold(10)
        print("alive", _memory()[0])
    """)
    assert result.stderr == ""
    assert result.stdout.splitlines() == ["held True True", "alive 1010"]


# ---- Deep recursion


def test_recursion_through_c_meets_recursion_error_at_the_default_limit():
    # At the default limit of 1000, such recursions need up to 2.5 MiB of C stack.
    result = run_child("""
        import sys
        from impls.greenlet.stackswitch import greenlet
        assert sys.getrecursionlimit() == 1000

        def through_key(n):
            return sorted([1, 2], key=lambda x: through_key(n + 1))

        class Deeper:
            def __lt__(self, other):
                return sorted([Deeper(), Deeper()])

        def through_comparisons(n):
            return sorted([Deeper(), Deeper()])

        for recurse in (through_key, through_comparisons, through_key):
            try:
                greenlet(recurse).switch(0)
            except RecursionError:
                print("RecursionError")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["RecursionError"] * 3


def test_each_greenlet_starts_at_recursion_depth_zero():
    limit = sys.getrecursionlimit()

    def depth_left(n=0):
        try:
            return depth_left(n + 1)
        except RecursionError:
            return n

    def dive(n):
        return dive(n - 1) if n else (depth_left(), greenlet(depth_left).switch())

    here, in_new_greenlet = dive(limit // 2)
    assert in_new_greenlet > here + limit // 3


def test_recursion_depth_is_kept_per_greenlet_across_a_new_limit():
    main = getcurrent()
    limit = sys.getrecursionlimit()

    def dive(n):
        return dive(n - 1) if n else main.switch()

    g = greenlet(dive)
    g.switch(100)  # g waits 100 calls deep
    try:
        sys.setrecursionlimit(limit + 500)
        g.switch()  # comes back out of its 100 calls: the counter must not go negative
    finally:
        sys.setrecursionlimit(limit)
    assert g.dead


def test_overflowing_a_stack_hits_its_guard_page():
    # faulthandler's test helper recurses in C until the stack runs out: past a greenlet's
    # 8 MiB, the guard page stops it with a SIGSEGV (and faulthandler's report).
    result = run_child("""
        import faulthandler
        from impls.greenlet.stackswitch import greenlet

        greenlet(faulthandler._stack_overflow).switch()
    """)
    assert result.returncode == -signal.SIGSEGV
    assert "Fatal Python error: Segmentation fault" in result.stderr


# ---- The interpreter state each greenlet keeps


def test_exception_being_handled_is_per_greenlet_even_inside_generators():
    main = getcurrent()

    def handling(name):
        try:
            raise KeyError(name)
        except KeyError:
            yield
            yield sys.exception().args[0]

    def run():
        inner = handling("in generator")
        next(inner)
        try:
            raise ValueError("in greenlet")
        except ValueError:
            main.switch()
            assert sys.exception().args == ("in greenlet",)
        return next(inner)

    g = greenlet(run)
    try:
        raise OSError("in main")
    except OSError:
        g.switch()
        assert sys.exception().args == ("in main",)
        assert g.switch() == "in generator"
        assert sys.exception().args == ("in main",)
    assert sys.exception() is None


def test_each_greenlet_sees_its_own_context_variables():
    main = getcurrent()

    def run(n):
        VAR.set(n)
        for _ in range(3):
            main.switch()
            assert VAR.get() == n
        return VAR.get()

    crowd = [greenlet(run) for _ in range(50)]
    for n, g in enumerate(crowd):
        g.switch(n)
    assert VAR.get() == "unset"
    for _ in range(3):
        for n, g in enumerate(crowd):
            assert g.switch() == (n if g.dead else ())
    assert [g.gr_context[VAR] for g in crowd] == list(range(50))


def test_tracing_set_in_one_greenlet_traces_the_others():
    main = getcurrent()
    calls = []

    def called_after_the_switch():
        pass

    def tracer(frame, event, arg):
        calls.append(frame.f_code.co_name)

    g = greenlet(lambda: main.switch() or called_after_the_switch())
    g.switch()
    sys.settrace(tracer)  # set in main: sys.settrace() is per thread, not per greenlet
    try:
        g.switch()
    finally:
        sys.settrace(None)
    assert "called_after_the_switch" in calls


def test_frames_of_a_greenlet_start_on_its_own_stack():
    main = getcurrent()

    def first():
        second()

    def second():
        main.switch()

    g = greenlet(first)
    g.switch()
    frame = g.gr_frame
    assert [frame.f_code.co_name, frame.f_back.f_code.co_name] == ["second", "first"]
    assert frame.f_back.f_back is None
    g.switch()


# ---- Starting


def test_a_run_superseded_by_a_subclass_method_is_dropped_in_the_new_greenlet():
    main = getcurrent()
    events = []

    class Given:
        def __del__(self):  # runs, and may switch, as the new greenlet starts
            events.append(getcurrent())
            main.switch("from the dropped run")

    class Worker(greenlet):
        def run(self):
            events.append("run")

    g = Worker(Given())
    assert g.switch() == "from the dropped run"
    assert events == [g]
    g.switch()
    assert events == [g, "run"] and g.dead


# ---- Collection and threads


@in_a_thread_of_its_own
def test_collected_greenlets_run_their_finally_blocks_and_free_their_stacks():
    before = stackswitch._memory()
    unwound = []

    def run(n):
        try:
            getcurrent().parent.switch()
        finally:
            unwound.append(n)

    crowd = [greenlet(run) for _ in range(100)]
    for n, g in enumerate(crowd):
        g.switch(n)
    crowd[0].cycle = crowd  # one in a reference cycle: the collector kills it too
    del crowd, g
    gc.collect()
    assert sorted(unwound) == list(range(100))
    assert stackswitch._memory() == before


def test_a_thread_switches_among_its_own_greenlets_and_ends_cleanly():
    before = stackswitch._memory()
    result = {}

    def thread():
        main = getcurrent()
        ping = greenlet(lambda n: [main.switch(n + i) for i in range(3)])
        result["values"] = [ping.switch(10), ping.switch(), ping.switch()]
        result["main"] = main
        result["left suspended"] = ping  # its thread exits under it...
        result["crowd"] = [greenlet(main.switch) for _ in range(3 * SLOTS)]
        for g in result["crowd"]:  # ...and so under these, most of them copied out
            g.switch()

    worker = threading.Thread(target=thread)
    worker.start()
    worker.join()
    assert result["values"] == [10, 11, 12]
    assert result["main"].dead and result["left suspended"].dead
    assert result["main"] is not getcurrent()
    result.clear()  # the orphans are freed as they stand, then their thread's slots
    assert stackswitch._memory() == before


def test_greenlets_collected_elsewhere_die_at_their_threads_exit_at_the_latest():
    unwound, held = [], []
    ready, release = threading.Event(), threading.Event()

    def thread():
        def run():
            try:
                getcurrent().parent.switch()
            finally:
                unwound.append(threading.get_ident())

        held.append(greenlet(run))
        held[0].switch()
        ready.set()
        release.wait(10)  # then exits without another call into the module

    worker = threading.Thread(target=thread)
    worker.start()
    ready.wait(10)
    held.clear()  # collected here: left to its own thread
    assert unwound == []
    release.set()
    worker.join(10)
    assert unwound == [worker.ident]


def test_interpreter_exits_cleanly_with_suspended_greenlets_everywhere():
    result = run_child("""
        import threading
        from impls.greenlet.stackswitch import greenlet, getcurrent

        def park():
            main = getcurrent()
            parked = [greenlet(main.switch) for _ in range(5)]
            for g in parked:
                g.switch()
            return parked

        kept = park()
        left = []
        thread = threading.Thread(target=lambda: left.append(park()))
        thread.start()
        thread.join()
        print("exiting")
    """)
    assert (result.returncode, result.stdout, result.stderr) == (0, "exiting\n", "")


# ---- The switch itself


def test_switching_makes_no_signal_mask_system_call():
    # swapcontext() would make one rt_sigprocmask call per switch; the assembly, none.
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")

    def count(switches):
        result = subprocess.run([strace, "-f", "-qq", "-e", "trace=rt_sigprocmask",
                                 sys.executable, "-c", textwrap.dedent("""
            import sys
            from impls.greenlet.stackswitch import greenlet, getcurrent
            main = getcurrent()
            g = greenlet(lambda: [main.switch() for _ in iter(int, 1)])
            for _ in range(int(sys.argv[1])):
                g.switch()
            """), str(switches)], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            pytest.skip(f"strace cannot trace here: {result.stderr.strip()[:200]}")
        return result.stderr.count("rt_sigprocmask(")

    assert count(20_000) - count(0) == 0


def test_an_error_whose_ancestors_left_the_thread_goes_to_its_main_greenlet():
    """D's parent P was moved to another thread and started there: when D ends, P cannot
    take its result, nor can P's parent (that thread's exited main greenlet). The error
    goes to this thread's main greenlet, as in the thread model; real greenlet stops the
    process here (Py_FatalError: it runs out of parents)."""
    done = run_child("""
        import threading
        from impls.greenlet.stackswitch import error, getcurrent, greenlet
        main = getcurrent()
        P = greenlet(lambda: getcurrent().parent.switch("from P"))
        D = greenlet(lambda: main.switch("suspended") or "D's result", parent=P)
        assert D.switch() == "suspended"

        def other_thread():
            P.parent = getcurrent()
            assert P.switch() == "from P"

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        try:
            D.switch()
        except error as exc:
            print("main got:", exc)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("main got: cannot switch to a different thread")

"""What only the stack-switching greenlet has: stacks, their pool, and the thread state it swaps.

The greenlet contract itself is tests/conformance/test_greenlet.py. Here: stacks go back
to the pool and mappings do not pile up, deep recursion meets RecursionError (or the guard
page) and never corrupts memory, the interpreter state each switch saves and restores
(exceptions, contextvars, recursion depth, tracing), collection, threads, and a switch
that asks nothing of the kernel. What could crash the interpreter runs in a child process.
"""
import contextvars
import gc
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

# The stand-in stackswitch.py raises a plain ImportError saying why the extension is
# not built; importorskip skips on ModuleNotFoundError only, unless told (pytest 8.2).
stackswitch = pytest.importorskip("impls.greenlet.stackswitch", exc_type=ImportError)
greenlet, getcurrent = stackswitch.greenlet, stackswitch.getcurrent

POOL_MAX = 16  # stackswitch.pyx's pool size

VAR = contextvars.ContextVar("VAR", default="unset")


def run_child(code):
    """Run code in a fresh interpreter (faulthandler on); its CompletedProcess, as text."""
    return subprocess.run([sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


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


# ---- Stacks and their pool


def test_finished_greenlets_give_their_stacks_back_to_the_pool():
    gc.collect()
    in_use, pooled = stackswitch._stacks()
    waiting = [suspended() for _ in range(3)]
    assert stackswitch._stacks()[0] == in_use + 3
    for g in waiting:
        g.switch()
    assert stackswitch._stacks() == (in_use, min(pooled + 3, POOL_MAX))


def test_unstarted_greenlets_hold_no_stack():
    in_use, _ = stackswitch._stacks()
    unstarted = [greenlet(lambda: None) for _ in range(100)]
    assert stackswitch._stacks()[0] == in_use
    assert all(not g.dead for g in unstarted)


def test_collected_suspended_greenlets_give_their_stacks_back():
    in_use, _ = stackswitch._stacks()
    waiting = [suspended() for _ in range(2 * POOL_MAX)]  # more than the pool keeps
    assert stackswitch._stacks()[0] == in_use + 2 * POOL_MAX
    del waiting  # each is killed: GreenletExit, then its stack goes back
    assert stackswitch._stacks() == (in_use, POOL_MAX)


def test_ten_thousand_greenlets_leave_no_mapping_and_no_memory_behind():
    def lifetime(n):
        suspended_ones = [suspended() for _ in range(n % 50)]  # some beyond the pool
        g = greenlet(c_recursion)
        g.switch(20)  # some C stack used, below the pool's warm top
        g.switch()
        del suspended_ones

    for n in range(200):  # the pool fills up, the interpreter warms up
        lifetime(n)
    gc.collect()
    maps, rss, objects, stacks = mappings(), resident_bytes(), live_greenlets(), stackswitch._stacks()
    for n in range(10_000):
        lifetime(n)
    gc.collect()
    assert (live_greenlets(), stackswitch._stacks()) == (objects, stacks)
    assert mappings() <= maps + 2  # the pool was already full: nothing more is mapped
    assert resident_bytes() - rss < 16 << 20


def test_many_live_greenlets_each_have_a_stack_of_their_own():
    main = getcurrent()

    def deep(n):
        return sorted([0], key=lambda _: deep(n - 1)) if n else main.switch(n)

    live = [greenlet(deep) for _ in range(200)]
    for g in live:
        g.switch(30)
    for g in live:  # each resumes at the bottom of its own 30 levels of C recursion
        assert g.switch() == [0]
        assert g.dead


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


def test_collected_greenlets_run_their_finally_blocks_and_free_their_stacks():
    in_use, _ = stackswitch._stacks()
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
    assert stackswitch._stacks()[0] == in_use


def test_a_thread_switches_among_its_own_greenlets_and_ends_cleanly():
    in_use, _ = stackswitch._stacks()
    result = {}

    def thread():
        main = getcurrent()
        ping = greenlet(lambda n: [main.switch(n + i) for i in range(3)])
        result["values"] = [ping.switch(10), ping.switch(), ping.switch()]
        result["main"] = main
        result["left suspended"] = ping  # its thread exits under it

    worker = threading.Thread(target=thread)
    worker.start()
    worker.join()
    assert result["values"] == [10, 11, 12]
    assert result["main"].dead and result["left suspended"].dead
    assert result["main"] is not getcurrent()
    result.clear()  # the orphan's stack is freed as it stands
    assert stackswitch._stacks()[0] == in_use


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

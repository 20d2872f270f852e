"""What the conformance suite cannot see of the Cython core: the C side of it.

The loop contract (``tests/conformance/test_loop.py``) runs on this module like on
every other loop. These tests check what only a wrapper of the system's libev has to
get right: references held for libev's raw pointers and released again, the GIL
released around ``ev_run``, file descriptors and process-wide signal state given back
on destroy, and libev's assertions (which abort the process) kept out of reach of bad
input. Whatever could crash the interpreter if the core got it wrong runs in a
subprocess, so that a failure is a failed test and not a dead test run.
"""
import gc
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

# The stand-in core.py raises a plain ImportError saying why the core is not built;
# importorskip skips on ModuleNotFoundError only, unless told (pytest 8.2).
core = pytest.importorskip("impls.libev.core", exc_type=ImportError)

ROOT = Path(__file__).resolve().parents[1]  # the repository, for subprocesses
SAFETY = 5.0  # seconds: a loop still running after this has failed the test


@pytest.fixture
def evloop():
    evloop = core.loop(default=False)
    yield evloop
    evloop.destroy()


def run_bounded(evloop, **kwargs):
    """run(), broken by an unreferenced safety timer if it goes on too long."""
    safety = evloop.timer(SAFETY, ref=False)
    safety.start(evloop.break_)
    evloop.run(**kwargs)
    safety.stop()


def run_script(code, timeout=60, **env):
    """Run ``code`` in a fresh interpreter; return its stdout, or fail with its stderr
    (a negative return code is the signal that killed it: a crash)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT, env=dict(os.environ, **env), capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    return result.stdout


def open_fds():
    return sorted(os.listdir("/proc/self/fd"))


linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc/self/fd (Linux)")


# ---- References: libev holds raw pointers, the watcher holds itself


def test_a_started_watcher_holds_one_reference_to_itself_until_stopped(evloop):
    timer = evloop.timer(10)
    before = sys.getrefcount(timer)
    timer.start(lambda: None)
    assert sys.getrefcount(timer) == before + 1
    timer.start(lambda: None)  # starting again takes no second reference
    assert sys.getrefcount(timer) == before + 1
    timer.stop()
    assert sys.getrefcount(timer) == before
    timer.stop()
    assert sys.getrefcount(timer) == before


def test_a_forgotten_watcher_lives_until_it_fires_then_is_freed(evloop):
    class Arg:
        pass

    def timers():
        gc.collect()
        return sum(type(o) is core.timer for o in gc.get_objects())

    fired = []
    arg = Arg()
    before = timers()
    evloop.timer(0.01).start(fired.append, arg)  # nothing but the loop keeps the timer
    assert timers() == before + 1
    assert sys.getrefcount(arg) == 3  # arg, getrefcount's argument, the timer's args
    run_bounded(evloop)
    fired.clear()
    assert timers() == before
    assert sys.getrefcount(arg) == 2


def test_a_fed_watcher_is_held_until_its_callback_has_run(evloop):
    idle = evloop.idle()
    before = sys.getrefcount(idle)
    idle.feed(core.IDLE, lambda: None)
    assert sys.getrefcount(idle) == before + 1
    evloop.run(nowait=True)
    assert sys.getrefcount(idle) == before and idle.callback is None


def test_starting_and_stopping_many_watchers_leaks_nothing(evloop):
    a, b = socket.socketpair()

    def cycle():
        timer = evloop.timer(0)
        timer.start(lambda *args: None, 1, 2)
        reader = evloop.io(a.fileno(), core.READ)
        reader.start(lambda: None, pass_events=True)
        reader.stop()
        evloop.run_callback(lambda x: x, 3)
        evloop.run(nowait=True)

    def blocks_after(rounds):
        for _ in range(rounds):
            cycle()
        gc.collect()
        return sys.getallocatedblocks()

    try:
        warm = blocks_after(2000)
        assert blocks_after(20000) - warm < 200
    finally:
        a.close()
        b.close()


# ---- The GIL


def test_run_releases_the_gil_while_the_loop_waits(evloop):
    # The thread needs the GIL to record the time; with the GIL held in the poll it
    # would get it only when run() returns, half a second later.
    marks = []

    def other_thread():
        time.sleep(0.05)
        marks.append(time.monotonic())

    evloop.timer(0.5).start(lambda: None)
    thread = threading.Thread(target=other_thread)
    started = time.monotonic()
    thread.start()
    run_bounded(evloop)
    thread.join(SAFETY)
    assert marks and marks[0] - started < 0.3


def test_callbacks_run_on_a_loop_running_in_another_thread():
    got = []

    def in_thread():
        evloop = core.loop(default=False)
        evloop.timer(0.01).start(got.append, threading.current_thread().name)
        evloop.run_callback(got.append, "callback")
        run_bounded(evloop)
        evloop.destroy()

    thread = threading.Thread(target=in_thread, name="looper")
    thread.start()
    thread.join(SAFETY)
    assert got == ["callback", "looper"]


def test_the_default_loop_runs_pythons_signal_handlers_before_its_callbacks():
    # A signal sent from another thread: Python's C handler only sets a flag, which
    # nobody looks at while ev_run holds no GIL. The default loop looks before each
    # callback, and routes what the handler raises to handle_error with no context.
    out = run_script("""
        import os, signal, threading
        from impls.libev.core import loop

        class Boom(Exception):
            pass

        def handler(signum, frame):
            raise Boom

        signal.signal(signal.SIGUSR2, handler)
        evloop = loop(default=True)
        seen = []
        evloop.error_handler = lambda context, t, v, tb: (seen.append((context, t)), evloop.break_())
        evloop.timer(0.01, 0.01).start(lambda: None)
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR2)).start()
        evloop.timer(5, ref=False).start(evloop.break_)
        evloop.run()
        print(seen)
    """)
    assert out.strip() == "[(None, <class '__main__.Boom'>)]"


# ---- Destroy: everything given back, nothing left pointing at freed memory


def test_destroy_stops_the_active_watchers_and_releases_them(evloop):
    a, b = socket.socketpair()
    try:
        watchers = [
            evloop.timer(10), evloop.io(a.fileno(), core.READ), evloop.idle(), evloop.prepare(),
            evloop.check(), evloop.async_(), evloop.fork(), evloop.signal(signal.SIGUSR1),
            evloop.stat(__file__),
        ]
        before = [sys.getrefcount(w) for w in watchers]
        assert all(w.start(lambda: None) is None for w in watchers)  # no loop variable left over
        evloop.destroy()
        assert [sys.getrefcount(w) for w in watchers] == before
        assert not any(w.active for w in watchers)
        assert all(w.callback is None for w in watchers)
    finally:
        a.close()
        b.close()


@linux_only
def test_destroy_closes_the_loops_file_descriptors():
    before = open_fds()
    evloop = core.loop(default=False)
    backend_fd = evloop.fileno()
    assert os.readlink(f"/proc/self/fd/{backend_fd}") == "anon_inode:[eventpoll]"
    evloop.async_().start(lambda: None)  # libev's eventfd, to wake the loop
    evloop.stat(__file__).start(lambda: None)  # libev's inotify fd
    evloop.run(nowait=True)
    assert len(open_fds()) >= len(before) + 3
    evloop.destroy()
    assert open_fds() == before and evloop.fileno() is None


def test_a_signal_of_a_destroyed_loop_can_be_watched_by_another():
    # libev's signal table is process-wide: had destroy() left the SIGUSR1 watcher
    # in it, the second loop's start would hit libev's "a signal must not be attached
    # to two different loops" assertion, or the signal would reach the freed loop.
    out = run_script("""
        import os, signal
        from impls.libev.core import loop

        first = loop(default=False)
        first.signal(signal.SIGUSR1).start(lambda: None)
        first.destroy()
        second = loop(default=False)
        got = []
        watcher = second.signal(signal.SIGUSR1)
        watcher.start(lambda: (got.append("usr1"), watcher.stop()))
        second.timer(0.01, ref=False).start(os.kill, os.getpid(), signal.SIGUSR1)
        second.run()
        print(got)
    """)
    assert out.strip() == "['usr1']"


def test_destroying_the_loop_from_its_own_callback_ends_run_and_frees_it_after():
    out = run_script("""
        from impls.libev.core import loop

        evloop = loop(default=False)
        evloop.timer(0.01).start(evloop.destroy)
        evloop.timer(5).start(lambda: None)
        evloop.run()
        print(evloop.ptr, evloop.default, evloop.fileno())
    """)
    assert out.split() == ["0", "False", "None"]


def test_a_loop_with_a_long_queue_of_callbacks_is_freed_whichever_way_it_goes():
    # destroy(), the last reference dropped, or the garbage collector breaking a
    # cycle through the queue: none may free the callbacks one inside the other
    # (gevent's corecext, whose queue is a linked list, crashes freeing such a loop).
    out = run_script("""
        import gc
        from impls.libev.core import loop

        for finish, cycle in (("destroy", True), ("del", False), ("collect", True)):
            evloop = loop(default=False)
            for _ in range(1_000_000):
                evloop.run_callback(print, evloop if cycle else None)
            if finish == "destroy":
                evloop.destroy()
            del evloop
            gc.collect()
        print("ok")
    """)
    assert out.strip() == "ok"


def test_a_nested_run_takes_the_callbacks_that_follow_and_the_outer_pass_goes_on(evloop):
    order = []

    def nested():
        order.append("nested run <")
        evloop.run(nowait=True)
        order.append("nested run >")

    evloop.run_callback(nested)
    evloop.run_callback(order.append, "b")
    evloop.run_callback(order.append, "c")
    run_bounded(evloop)
    assert order == ["nested run <", "b", "c", "nested run >"]
    assert evloop.activecnt == 0


# ---- The default loop: one per process, shared


def test_loop_objects_share_the_default_loop_and_the_last_one_destroys_it():
    out = run_script("""
        from impls.libev.core import loop

        first, second = loop(default=True), loop(default=True)
        assert first.ptr == second.ptr != 0
        first.destroy()
        fired = []
        second.timer(0.01).start(fired.append, "still running")
        second.run()
        second.destroy()
        third = loop(default=True)
        third.timer(0.01).start(fired.append, "a new default loop")
        third.run()
        third.destroy()
        print(fired)
    """)
    assert out.strip() == "['still running', 'a new default loop']"


def test_the_default_loop_leaves_sigchld_to_the_program_until_child_watchers_are_wanted():
    # libev reaps every child in its SIGCHLD handler: until install_sigchld(), the
    # program's own handler and os.waitpid keep working.
    out = run_script("""
        import os, signal
        from impls.libev.core import loop

        calls = []
        signal.signal(signal.SIGCHLD, lambda *args: calls.append("program's handler"))
        evloop = loop(default=True)
        pid = os.fork()
        if pid == 0:
            os._exit(3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), calls)
    """)
    assert out.strip() == "3 [\"program's handler\"]"


def test_a_child_watcher_on_a_loop_that_is_not_default_is_a_type_error(evloop):
    with pytest.raises(TypeError, match="only available on the default loop"):
        evloop.child(os.getpid())


# ---- Bad input stays away from libev's assertions (each one aborts the process)


def test_a_signal_watched_by_another_loop_is_a_value_error(evloop):
    other = core.loop(default=False)
    try:
        first = evloop.signal(signal.SIGUSR1)
        first.start(lambda: None)
        with pytest.raises(ValueError, match="watched by another loop"):
            other.signal(signal.SIGUSR1).start(lambda: None)
        first.stop()
        second = other.signal(signal.SIGUSR1)
        second.start(lambda: None)  # free again
        second.stop()
    finally:
        other.destroy()


def test_feeding_a_watcher_whose_priority_is_out_of_range_clamps_it():
    # libev indexes its pending queues by priority; only ev_start clamps it.
    out = run_script("""
        from impls.libev.core import loop, IDLE

        evloop = loop(default=False)
        idle = evloop.idle()
        idle.priority = 100
        got = []
        idle.feed(IDLE, lambda: got.append(idle.priority))
        evloop.run(nowait=True)
        evloop.verify()
        print(got)
    """)
    assert out.strip() == "[2]"


def test_starting_an_io_watcher_on_a_closed_fd_feeds_an_error_instead_of_aborting():
    out = run_script("""
        import socket
        from impls.libev.core import loop, READ, WRITE, ERROR

        evloop = loop(default=False)
        a, b = socket.socketpair()
        reader = evloop.io(a.fileno(), READ)
        a.close()
        got = []
        reader.start(got.append, pass_events=True)
        evloop.run(nowait=True)
        print(got == [ERROR | READ | WRITE], reader.active)
    """)
    assert out.split() == ["True", "False"]


def test_a_bare_watcher_cannot_be_made(evloop):
    with pytest.raises(TypeError, match="abstract"):
        core.watcher(evloop)


# ---- libev's own count


def test_activecnt_is_libevs_own_count(evloop):
    # Read from libev's struct, so it follows what libev does by itself: a timer
    # that fires is stopped by libev, and counts no more, before any Python runs.
    seen = []
    timer = evloop.timer(0.01)
    timer.start(lambda: seen.append(evloop.activecnt))
    assert evloop.activecnt == 1
    run_bounded(evloop)
    assert seen == [0]


# ---- The real gevent on it


GEVENT_SERVER_SCRIPT = """
import gevent
from gevent import socket, subprocess
from gevent.server import StreamServer

assert type(gevent.get_hub().loop).__module__ == "impls.libev.core"

def echo(sock, address):
    while True:
        data = sock.recv(100)
        if not data:
            break
        sock.sendall(data.upper())

server = StreamServer(("127.0.0.1", 0), echo)
server.start()

def client(n):
    with socket.create_connection(server.address) as conn:
        for i in range(20):
            conn.sendall(b"ping %d" % n)
            assert conn.recv(100) == b"PING %d" % n
    return n

jobs = [gevent.spawn(client, n) for n in range(10)]
gevent.joinall(jobs, timeout=10, raise_error=True)
assert sorted(job.value for job in jobs) == list(range(10))
server.stop()

# child watchers and SIGCHLD, through gevent.subprocess
assert subprocess.check_output(["echo", "child"]).strip() == b"child"
print("ok")
"""


def test_gevent_streamserver_and_subprocess_run_on_the_core():
    out = run_script(GEVENT_SERVER_SCRIPT, timeout=60, GEVENT_LOOP="impls.libev.core.loop")
    assert out.strip() == "ok"

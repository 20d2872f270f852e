"""The contract of monkey patching (``gevent.monkey``) and of threads as greenlets
(``gevent.thread``), on each of our runtimes and on gevent itself.

A patch changes the stdlib for the whole process, so every patching test runs in a
child process, with a time limit: ``child(code)`` runs ``code`` in a fresh interpreter
where ``hub`` is the runtime under test (``impls.hub.runtimes.<name>``) and ``monkey``
its ``hub.monkey`` (``gevent.monkey`` for gevent). The code asserts; the test checks
that it exited cleanly. The thread API without patching is tested in this process.

The threaded greenlet model runs each greenlet on a ``threading.Thread``: the thread
patch, which turns threads into greenlets, cannot apply to it. Its runtimes refuse
(a fidelity test says so), and the tests that need the patch are expected to fail
there (the ``thread_patch`` fixture).
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 60  # seconds a child process may take
THREADED = ("threaded_core", "threaded_pyloop", "threaded_corecext")
PRELUDE = """\
import sys
from impls.hub import runtimes
hub = getattr(runtimes, sys.argv[1])
monkey = hub.monkey
"""


@pytest.fixture
def runtime_name(hub, request):
    return request.node.get_closest_marker("impl").args[1]


@pytest.fixture
def child(runtime_name):
    """``child(code, *args)``: run ``code`` after PRELUDE in a new interpreter; return
    what it printed. It must exit with status 0 within LIMIT seconds."""

    def run(code, *args, cwd=ROOT):
        result = _run([sys.executable, "-c", PRELUDE + textwrap.dedent(code), runtime_name, *args], cwd)
        assert result.returncode == 0, f"status {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    return run


def _run(command, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=LIMIT)


@pytest.fixture
def thread_patch(runtime_name, request):
    """For a test that needs the thread patch: on the threaded model, which refuses it,
    a strict expected failure."""
    if runtime_name in THREADED:
        request.applymarker(pytest.mark.xfail(strict=True, reason=(
            "the threaded greenlet model is made of threading.Thread: patch_thread refuses it "
            "(test_the_threaded_model_refuses_the_thread_patch)")))


# ---- What is replaced, and the queries


def test_patch_all_replaces_what_gevent_replaces(child, thread_patch):
    child("""
        import select, selectors, socket, threading, time, _thread, queue
        originals = time.sleep, socket.socket, select.select, threading.Lock
        assert monkey.patch_all()
        replaced = {"time": ["sleep"], "select": ["select", "poll"], "selectors": ["DefaultSelector"],
                    "socket": ["socket", "SocketType", "socketpair", "fromfd", "create_connection",
                               "getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr",
                               "getnameinfo"],
                    "_thread": ["allocate_lock", "get_ident", "start_new_thread", "LockType", "_local"],
                    "threading": ["Lock", "_allocate_lock", "get_ident", "_start_new_thread",
                                  "_set_sentinel", "local", "Event"],
                    "queue": ["Queue", "LifoQueue", "PriorityQueue", "SimpleQueue"]}
        for module, names in replaced.items():
            assert monkey.is_module_patched(module), module
            for name in names:
                assert monkey.is_object_patched(module, name), (module, name)
        assert (time.sleep, socket.socket, select.select, threading.Lock) != originals
        assert not hasattr(select, "epoll") and not hasattr(selectors, "EpollSelector")
        assert not monkey.is_object_patched("time", "time")
    """)


@pytest.mark.fidelity("gevent patches os (fork, waitpid), ssl, subprocess and signal too")
def test_patch_all_accepts_gevents_keywords_and_leaves_os_ssl_subprocess_signal_alone(child):
    child("""
        assert monkey.patch_all(thread=False, os=True, ssl=True, subprocess=True, signal=True,
                                sys=False, builtins=True, contextvars=True, my_plugin=True)
        for module in ("os", "ssl", "subprocess", "signal"):
            assert not monkey.is_module_patched(module), module
    """)


def test_each_patch_replaces_only_its_own_module(child):
    child("""
        import time
        monkey.patch_time()
        assert monkey.is_object_patched("time", "sleep")
        assert time.sleep is not monkey.get_original("time", "sleep")
        for other in ("socket", "select", "selectors", "threading", "_thread", "queue"):
            assert not monkey.is_module_patched(other), other
    """)


def test_get_original_is_the_attribute_before_any_patch(child):
    child("""
        import socket, time
        sleep, sock = time.sleep, socket.socket
        assert monkey.get_original("time", "sleep") is sleep  # nothing patched yet
        monkey.patch_time()
        monkey.patch_socket()
        assert monkey.get_original("time", "sleep") is sleep and time.sleep is not sleep
        assert monkey.get_original("socket", ["socket", "gethostname"]) == [sock, socket.gethostname]
    """)


def test_get_original_of_an_unknown_name_is_an_attribute_error(child):
    child("""
        monkey.patch_time()
        for module, name in (("time", "no_such_name"), ("socket", "no_such_name")):
            try:
                monkey.get_original(module, name)
            except AttributeError as error:
                assert "no_such_name" in str(error)
            else:
                raise AssertionError("no error")
        try:
            monkey.get_original("no_such_module", "sleep")
        except ImportError:
            pass
        else:
            raise AssertionError("no error")
    """)


def test_patching_twice_is_harmless(child):
    child("""
        import warnings
        warnings.simplefilter("error")  # a warning would fail the test
        import socket, time
        sleep = time.sleep
        monkey.patch_all(thread=False)
        patched = time.sleep, socket.socket
        monkey.patch_all(thread=False)
        monkey.patch_time()
        assert (time.sleep, socket.socket) == patched
        assert monkey.get_original("time", "sleep") is sleep
    """)


def test_patching_again_with_other_arguments_warns(child):
    output = child("""
        import socket, warnings
        warnings.simplefilter("always")
        monkey.patch_all(thread=False, socket=False)
        assert not monkey.is_module_patched("socket")
        monkey.patch_all(thread=False)
        assert monkey.is_object_patched("socket", "socket")
    """)
    assert "MonkeyPatchWarning: Patching more than once will result in the union of all True " \
           "parameters being patched" in output


def test_patching_outside_the_main_thread_warns(child, thread_patch):
    output = child("""
        import threading, warnings
        warnings.simplefilter("always")
        thread = threading.Thread(target=monkey.patch_all)
        thread.start()
        thread.join()
    """)
    assert "MonkeyPatchWarning: Monkey-patching outside the main native thread. Some APIs will not " \
           "be available. Expect a KeyError to be printed at shutdown." in output
    assert "MonkeyPatchWarning: Monkey-patching not on the main thread; " \
           "threading.main_thread().join() will hang from a greenlet" in output


def test_patching_from_the_main_thread_after_threads_ran_does_not_warn(child, thread_patch):
    # gevent warns only when it patches from a thread other than the main one.
    child("""
        import threading, warnings
        warnings.simplefilter("error")
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
        monkey.patch_all()
        assert threading.current_thread() is threading.main_thread()
    """)


def test_get_original_gives_the_native_thread_functions_after_the_patch(child, thread_patch):
    # The contract of the thread pool and the monitor: their OS threads are real ones.
    child("""
        import os, time
        monkey.patch_all()
        names = ["start_new_thread", "allocate_lock"]
        start_new_thread, allocate_lock = monkey.get_original("_thread", names)
        real_sleep = monkey.get_original("time", "sleep")
        started, done = allocate_lock(), allocate_lock()
        started.acquire()
        done.acquire()
        seen = []

        def in_an_os_thread():
            seen.append(len(os.listdir("/proc/self/task")))
            started.release()
            real_sleep(0.01)
            done.release()

        start_new_thread(in_an_os_thread, ())
        assert started.acquire(timeout=10) and done.acquire(timeout=10)
        assert seen == [2]
    """)


@pytest.mark.fidelity("gevent has one hub per thread, and no runtimes to choose between")
def test_a_second_runtime_is_refused(child, runtime_name):
    # On gevent, ours patching after gevent's patch goes through: the test fails there.
    # Two runtimes of pure Python and the real greenlet: they load on any machine.
    other = "threaded_pyloop" if runtime_name == "greenlet_pyloop" else "greenlet_pyloop"
    child(f"""
        monkey.patch_time()
        try:
            runtimes.{other}.monkey.patch_time()
        except RuntimeError as error:
            assert "already patched" in str(error)
        else:
            raise AssertionError("patched twice, by two runtimes")
    """)


@pytest.mark.fidelity("gevent's threads are greenlets whatever greenlet it runs on", of=THREADED)
def test_the_threaded_model_refuses_the_thread_patch(child):
    child("""
        import threading
        try:
            monkey.patch_all()
        except RuntimeError as error:
            assert "patch_thread" in str(error)
        else:
            raise AssertionError("patched")
        assert not monkey.is_module_patched("threading")
    """)


# ---- Threads are greenlets


def test_threads_are_greenlets_on_one_os_thread(child, thread_patch):
    child("""
        monkey.patch_all()
        import os, threading, time
        tasks, order = [], []

        def work(n):
            for step in range(3):
                order.append(n)
                tasks.append(len(os.listdir("/proc/self/task")))
                time.sleep(0.001)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert set(tasks) == {1}, tasks
        assert order[:3] == [0, 1, 2], order  # they take turns
    """)


def test_a_lock_blocks_only_the_greenlet_that_waits(child, thread_patch):
    child("""
        monkey.patch_all()
        import threading, time
        lock, order = threading.Lock(), []

        def holder():
            with lock:
                order.append("holder has it")
                time.sleep(0.02)
                order.append("holder lets go")

        def bystander():
            order.append("bystander runs")

        def waiter():
            with lock:
                order.append("waiter has it")

        threads = [threading.Thread(target=f) for f in (holder, waiter, bystander)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert order == ["holder has it", "bystander runs", "holder lets go", "waiter has it"], order
    """)


def test_get_ident_and_current_thread_are_per_greenlet(child, thread_patch):
    child("""
        import threading, time
        monkey.patch_all()
        seen = []

        def record():
            seen.append((threading.get_ident(), threading.current_thread()))

        def record_while_alive():  # ids are distinct among the greenlets alive only
            record()
            time.sleep(0.01)

        threads = [threading.Thread(target=record_while_alive) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [thread for _, thread in seen] == threads
        assert len({ident for ident, _ in seen} | {threading.get_ident()}) == 4
        assert threading.current_thread() is threading.main_thread()
        assert threading.main_thread().ident == threading.get_ident()
        spawned = hub.spawn(threading.current_thread)  # not started by threading: a dummy
        spawned.join()
        assert spawned.value is not threading.main_thread() and spawned.value.daemon
    """)


def test_a_greenlets_dummy_thread_goes_with_the_greenlet(child, thread_patch):
    # Else they would pile up, and a greenlet at a recycled address would be taken
    # for a dead one, with its threading.local values.
    child("""
        monkey.patch_all()
        import gc, threading
        tasks = [hub.spawn(threading.current_thread) for _ in range(100)]
        hub.joinall(tasks)
        assert len({id(task.value) for task in tasks}) == 100
        assert all(type(task.value).__name__ == "_DummyThread" for task in tasks)
        del tasks
        hub.sleep(0.01)
        gc.collect()
        assert list(threading._active.values()) == [threading.main_thread()], threading._active
    """)


def test_join_waits_for_the_thread_and_join_with_a_timeout_does_not(child, thread_patch):
    child("""
        monkey.patch_all()
        import threading, time
        event = threading.Event()
        thread = threading.Thread(target=event.wait)
        thread.start()
        thread.join(timeout=0.01)
        assert thread.is_alive()
        event.set()
        thread.join()
        assert not thread.is_alive()
    """)


def test_threading_local_is_per_greenlet(child, thread_patch):
    child("""
        monkey.patch_all()
        import threading, time
        local = threading.local()
        local.name = "main"
        seen = []

        def work(n):
            assert not hasattr(local, "name")
            local.name = n
            time.sleep(0.001)
            seen.append(local.name)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(seen) == [0, 1, 2] and local.name == "main"
    """)


def test_patching_inside_an_import_keeps_the_import_lock_releasable(child, thread_patch, tmp_path):
    # The module lock of the import is held by the OS thread while the module patches;
    # releasing it compares its owner with _thread.get_ident(), the greenlet's by then.
    (tmp_path / "patches_on_import.py").write_text("import __main__\n__main__.monkey.patch_all()\n")
    child(f"""
        sys.path.insert(0, {str(tmp_path)!r})
        import patches_on_import
        import threading
        assert threading.current_thread() is threading.main_thread()
    """)


# ---- Waiting cooperatively: sleep, select, poll, selectors


def test_time_sleep_lets_the_other_greenlets_run(child):
    child("""
        monkey.patch_time()
        import time
        order = []

        def tick(name):
            for _ in range(3):
                order.append(name)
                time.sleep(0.001)

        hub.joinall([hub.spawn(tick, "a"), hub.spawn(tick, "b")])
        assert order == ["a", "b"] * 3, order
    """)


@pytest.mark.parametrize("waiter", ["select", "poll", "selectors"])
def test_waiting_for_a_socket_lets_the_other_greenlets_run(child, waiter):
    child(f"""
        monkey.patch_select()
        monkey.patch_selectors()
        import select, selectors, socket
        r, w = socket.socketpair()  # the stdlib's: only the waiting is under test
        order = []

        def with_select():
            return select.select([r], [], [], 5)[0] == [r]

        def with_poll():
            poll = select.poll()
            poll.register(r, select.POLLIN)
            return poll.poll(5000) == [(r.fileno(), select.POLLIN)]

        def with_selectors():
            with selectors.DefaultSelector() as selector:
                selector.register(r, selectors.EVENT_READ)
                return [key.fileobj for key, events in selector.select(5)] == [r]

        def wait():
            order.append("waits")
            order.append(with_{waiter}())

        def write():
            order.append("writes")
            w.send(b"x")

        hub.joinall([hub.spawn(wait), hub.spawn(write)])
        assert order == ["waits", "writes", True], order
    """)


def test_select_with_a_timeout_returns_empty_lists_when_nothing_is_ready(child):
    child("""
        monkey.patch_select()
        import select, socket
        r, w = socket.socketpair()
        assert select.select([r], [], [], 0.01) == ([], [], [])
        assert select.select([r], [], [], 0) == ([], [], [])
        poll = select.poll()
        poll.register(r, select.POLLIN)
        assert poll.poll(10) == [] and poll.poll(0) == []
    """)


ERROR_OF = """
def error_of(call, *args):
    try:
        call(*args)
    except Exception as caught:
        return type(caught), str(caught)
    raise AssertionError(f"no error from {call}{args}")
"""


def test_select_and_poll_refuse_bad_descriptors_and_timeouts(child):
    child(ERROR_OF + """
monkey.patch_select()
import select
assert error_of(select.select, [], [], [], -1) == (ValueError, "timeout must be non-negative")
assert error_of(select.select, [object()], [], [], 0) == (
    TypeError, "argument must be an int, or have a fileno() method.")
assert error_of(select.select, [-1], [], [], 0) == (
    ValueError, "file descriptor cannot be a negative integer (-1)")
assert error_of(select.poll().register, -1)[0] is ValueError
""")


@pytest.mark.fidelity("gevent: a timeout of the wrong type fails in a comparison, a sequence that is "
                      "not one in list(), modify() registers an fd never registered, and a closed "
                      "fd is waited for instead of reported POLLNVAL")
def test_select_and_poll_raise_the_stdlibs_errors(child):
    child(ERROR_OF + """
monkey.patch_select()
import select
assert error_of(select.select, [], [], [], "x") == (TypeError, "timeout must be a float or None")
assert error_of(select.select, 3, [], [], 0) == (TypeError, "arguments 1-3 must be sequences")
poll = select.poll()
assert error_of(poll.register, -1) == (ValueError, "file descriptor cannot be a negative integer (-1)")
assert error_of(poll.modify, 99, select.POLLIN)[0] is FileNotFoundError
assert error_of(poll.unregister, 99) == (KeyError, "99")
assert error_of(poll.poll, "x") == (TypeError, "timeout must be an integer or None")
poll.register(99)  # no such open fd: the kernel says POLLNVAL at once
with hub.Timeout(5):
    assert poll.poll() == [(99, select.POLLNVAL)]
""")


# ---- The stdlib on top: servers, whether imported before the patch or after


@pytest.mark.parametrize("imported", ["before", "after"])
def test_http_server_with_threads_serves_clients_imported_before_or_after_the_patch(
        child, thread_patch, imported):
    child(f"""
        if {imported == "before"}:
            import http.server, socketserver, urllib.request
        monkey.patch_all()
        import http.server, threading, urllib.request

        class Hello(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "5")
                self.end_headers()
                self.wfile.write(b"hello")

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.request_queue_size = 64  # every client at once
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
        serving = threading.Thread(target=server.serve_forever, kwargs={{"poll_interval": 0.05}})
        serving.start()
        url = f"http://127.0.0.1:{{server.server_address[1]}}/"
        bodies = []

        def fetch():
            with urllib.request.urlopen(url, timeout=10) as response:
                bodies.append(response.read())

        clients = [threading.Thread(target=fetch) for _ in range(20)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        server.shutdown()
        serving.join()
        server.server_close()
        assert bodies == [b"hello"] * 20
    """)


def test_ssl_still_imports_after_the_patch(child, thread_patch):
    # We do not patch ssl (gevent does): its SSLSocket subclasses the patched socket class.
    child("""
        monkey.patch_all()
        import ssl
        assert ssl.create_default_context().verify_mode == ssl.CERT_REQUIRED
    """)


def test_logging_locks_made_before_the_patch_are_made_anew(child, thread_patch):
    child("""
        import logging
        logging.getLogger("x").addHandler(logging.StreamHandler())
        monkey.patch_all()
        import threading
        assert monkey.is_object_patched("logging", "_lock")
        assert isinstance(logging._lock, threading._PyRLock)
    """)


# ---- python -m impls.hub.monkey script.py, as python -m gevent.monkey script.py


def test_running_a_script_through_the_monkey_module_patches_it_first(runtime_name, thread_patch,
                                                                     tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import socket, sys
        from impls.hub import monkey as ours
        from gevent import monkey as gevents
        assert __name__ == "__main__"
        assert ours.is_module_patched("socket") or gevents.is_module_patched("socket")
        print(sys.argv[1:], socket.socket.__module__)
    """))
    if runtime_name == "gevent":
        command = [sys.executable, "-m", "gevent.monkey", str(script), "a", "b"]
    else:
        command = [sys.executable, "-m", "impls.hub.monkey", "--runtime", runtime_name, str(script),
                   "a", "b"]
    result = _run(command, ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(" ", 2)[:2] == ["['a',", "'b']"]
    assert result.stdout.split()[-1] in ("impls.hub.socket", "gevent._socket3")


# ---- gevent.thread's API, without patching (in this process)


def test_start_new_thread_spawns_a_greenlet_and_returns_its_ident(hub):
    seen = []
    ident = hub.thread.start_new_thread(lambda *args, **kwargs: seen.append(
        (hub.thread.get_ident(), args, kwargs)), (1, 2), {"x": 3})
    assert seen == []  # it runs when we block
    hub.sleep(0.01)
    assert seen == [(ident, (1, 2), {"x": 3})] and ident != hub.thread.get_ident()


def test_get_ident_is_the_ident_of_the_greenlet_given(hub):
    task = hub.spawn(hub.thread.get_ident)
    task.join()
    assert task.value == hub.thread.get_ident(task) != hub.thread.get_ident()


def test_thread_exit_ends_the_greenlet_quietly(hub):
    task = hub.spawn(hub.thread.exit)
    task.join()
    assert task.successful() and isinstance(task.value, hub.GreenletExit)


def test_allocate_lock_is_the_cooperative_lock(hub):
    lock = hub.thread.allocate_lock()
    assert isinstance(lock, hub.thread.LockType) and lock.acquire() and not lock.acquire(False)


def test_stack_size_refuses_what_the_stdlib_refuses(hub):
    assert hub.thread.stack_size() >= 0
    assert hub.thread.stack_size(0) == 0
    with pytest.raises(ValueError):
        hub.thread.stack_size(123)


def test_gevent_resolver_block_looks_names_up_in_the_hubs_thread(child, monkeypatch):
    # GEVENT_RESOLVER=block: the C library's lookups, made where they are called, so
    # no worker thread ever starts (gevent/resolver/blocking.py; ours in resolver.py).
    monkeypatch.setenv("GEVENT_RESOLVER", "block")
    child("""
        import os
        resolver = hub.get_hub().resolver
        assert "Blocking" in type(resolver).__name__ or type(resolver).__module__.endswith("blocking"), resolver
        assert hub.socket.getaddrinfo("localhost", 80)
        assert hub.socket.gethostbyname("localhost")
        assert len(os.listdir("/proc/self/task")) == 1
    """)


def test_an_unknown_resolver_name_is_refused(child, monkeypatch):
    monkeypatch.setenv("GEVENT_RESOLVER", "no-such-resolver")
    child("""
        try:
            hub.get_hub().resolver
        except Exception as error:
            print(type(error).__name__, error)
        else:
            raise AssertionError("an unknown resolver was accepted")
    """)


def test_the_monitor_makes_no_hub_of_its_own_under_the_thread_patch(child, thread_patch, monkeypatch):
    # The monitor's report shows every greenlet; a patched Thread's repr asks is_alive(),
    # a non-blocking acquire of our LockType, on the monitor's own OS thread. A failed
    # try must not sleep there: that would make a hub, its loop, and another monitor.
    monkeypatch.setenv("GEVENT_MONITOR_THREAD_ENABLE", "1")
    monkeypatch.setenv("GEVENT_MAX_BLOCKING_TIME", "0.002")
    output = child("""
        monkey.patch_all()
        import os, threading, time

        def busy():
            end = time.perf_counter() + 0.2
            while time.perf_counter() < end:
                pass
            time.sleep(0.01)  # a switch: the episode ends, the next report can come

        threads = [threading.Thread(target=busy) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print("OS threads:", len(os.listdir("/proc/self/task")))
    """)
    assert "appears to be blocked" in output
    threads = int(output.split("OS threads:")[1].split()[0])
    # Ours: the program's and one monitor's; gevent's shows 3 to 6 here, more on a
    # loaded machine (its thread pool). A monitor that made hubs made 31 in one run.
    assert threads <= 8, output

"""The contract of the threadpool and the thread resolver: gevent's ``ThreadPool``
(``gevent.threadpool``), ``hub.threadpool``, ``Resolver`` (``gevent.resolver.thread``)
and the socket module's lookups, ``hub.resolver``.

Every test runs on gevent and on our runtime over each greenlet × loop pair, bounded
as in test_hub.py. A pool a test makes is killed before the test ends, so that no
worker thread outlives it; the hub's own pool lives as long as the hub, as gevent's.
No test touches the network: names are 'localhost' (from /etc/hosts) or refused
before any lookup (AI_NUMERICHOST).
"""
import socket as stdlib_socket
import sys
import threading
import time
import types

import pytest

pytestmark = pytest.mark.usefixtures("bounded")  # tests/conformance/conftest.py
NAP = 0.25  # how long a blocking call in a worker lasts


@pytest.fixture
def pool(hub):
    pool = hub.ThreadPool(3)
    yield pool
    pool.kill()


def _fail(message):
    raise ValueError(message)


def _until(condition, hub):
    """Sleep in short steps until ``condition()``; False if it never came (bounded)."""
    deadline = time.monotonic() + 5
    while not condition():
        if time.monotonic() > deadline:
            return False
        hub.sleep(0.005)
    return True


# ---- Results and errors


def test_spawn_returns_a_result_that_holds_the_value(hub, pool):
    result = pool.spawn(lambda x, y: x + y, 2, y=3)
    assert result.get() == 5
    assert result.ready() and result.successful() and result.value == 5


def test_apply_calls_with_args_and_kwds_and_returns_the_value(hub, pool):
    assert pool.apply(divmod, (7, 2)) == (3, 1)
    assert pool.apply(int, ("ff",), {"base": 16}) == 255
    assert pool.apply(lambda: "no arguments") == "no arguments"


def test_an_error_raised_in_the_worker_is_raised_in_the_greenlet(hub, pool):
    with pytest.raises(ValueError, match="in the worker"):
        pool.apply(_fail, ("in the worker",))
    result = pool.spawn(_fail, "kept")
    with pytest.raises(ValueError, match="kept"):
        result.get()
    assert isinstance(result.exception, ValueError) and not result.successful()


def test_the_function_runs_on_another_os_thread(hub, pool):
    assert pool.apply(threading.get_ident) != threading.get_ident()


def test_map_and_imap_keep_the_order_of_their_input(hub, pool):
    delays = [0.06, 0.03, 0.0]  # the first to start is the last to finish

    def echo(delay):
        time.sleep(delay)
        return delay

    assert pool.map(echo, delays) == delays
    assert list(pool.imap(echo, delays)) == delays
    assert list(pool.imap(pow, [2, 3], [3, 2])) == [8, 9]


def test_apply_async_returns_a_greenlet_and_calls_back_with_the_value(hub, pool):
    seen = []
    task = pool.apply_async(divmod, (7, 2), callback=seen.append)
    task.join()
    assert task.value == (3, 1) and seen == [(3, 1)]


def test_a_worker_calling_apply_on_its_pool_runs_the_call_itself(hub, pool):
    # It has no hub to wait in: waiting for another worker would never end.
    outer, inner = pool.apply(lambda: (threading.get_ident(), pool.apply(threading.get_ident)))
    assert outer == inner


# ---- Concurrency: blocking calls overlap, and the hub keeps running


def test_two_blocking_calls_on_two_workers_overlap(hub, pool):
    started = time.perf_counter()
    results = [pool.spawn(time.sleep, NAP) for _ in range(2)]
    for result in results:
        result.get()
    assert time.perf_counter() - started < 2 * NAP  # they ran at once


def test_other_greenlets_run_while_one_waits_on_the_pool(hub, pool):
    ticks = []

    def ticker():
        for _ in range(5):
            hub.sleep(0.01)
            ticks.append(time.perf_counter())

    task = hub.spawn(ticker)
    pool.apply(time.sleep, (NAP,))
    assert len(ticks) == 5  # all while the worker slept
    task.join()


def test_waiting_for_a_worker_is_not_a_loop_exit(hub, pool):
    # Nothing else is active in the loop: the task's async watcher keeps it alive.
    assert pool.apply(lambda: time.sleep(0.05) or "done") == "done"


def test_many_tasks_on_few_workers_all_finish(hub):
    pool = hub.ThreadPool(2)
    try:
        results = [pool.spawn(pow, n, 2) for n in range(50)]
        assert [result.get() for result in results] == [n * n for n in range(50)]
        assert pool.size <= 2
    finally:
        pool.kill()


def test_join_waits_for_every_task(hub, pool):
    done = []
    for n in range(3):
        pool.spawn(lambda n=n: time.sleep(0.02) or done.append(n))
    pool.join()
    assert sorted(done) == [0, 1, 2] and len(pool) == 0


def test_len_counts_the_tasks_not_yet_finished(hub, pool):
    results = [pool.spawn(time.sleep, 0.05) for _ in range(2)]
    assert len(pool) == 2
    for result in results:
        result.get()
    assert _until(lambda: len(pool) == 0, hub)


# ---- Worker threads: started on demand, gone once killed


def test_workers_are_started_only_when_tasks_need_them(hub):
    pool = hub.ThreadPool(5)
    try:
        assert pool.size == 0 and pool.maxsize == 5
        pool.apply(abs, (-1,))
        assert pool.size == 1
    finally:
        pool.kill()


def test_no_more_workers_than_maxsize(hub):
    pool = hub.ThreadPool(2)
    try:
        idents = pool.map(lambda _: time.sleep(0.02) or threading.get_ident(), range(6))
        assert len(set(idents)) <= 2 and pool.size <= 2
    finally:
        pool.kill()


def test_kill_leaves_no_worker_thread(hub):
    pool = hub.ThreadPool(3)
    together = threading.Barrier(3)

    def meet():
        together.wait(5)  # each task waits for the other two: three threads at once
        return threading.get_ident()

    idents = {result.get() for result in [pool.spawn(meet) for _ in range(3)]}
    assert len(idents) == 3
    pool.kill()
    assert pool.size == 0
    # The thread ends just after it says so: give it a moment, bounded.
    assert _until(lambda: not idents & set(sys._current_frames()), hub)


def test_a_killed_pool_starts_workers_again_when_used(hub):
    pool = hub.ThreadPool(2)
    try:
        pool.apply(abs, (-1,))
        pool.kill()
        assert pool.apply(abs, (-2,)) == 2 and pool.size == 1
    finally:
        pool.kill()


def test_size_starts_and_stops_workers(hub):
    pool = hub.ThreadPool(3)
    try:
        pool.size = 2
        assert pool.size == 2
        pool.size = 1
        assert pool.size == 1
    finally:
        pool.kill()


def test_maxsize_can_grow(hub):
    pool = hub.ThreadPool(1)
    try:
        pool.maxsize = 3
        started = time.perf_counter()
        results = [pool.spawn(time.sleep, NAP) for _ in range(3)]
        for result in results:
            result.get()
        assert time.perf_counter() - started < 2 * NAP and pool.maxsize == 3
    finally:
        pool.kill()


# ---- The hub's pool


def test_the_hub_makes_its_threadpool_once_with_ten_workers_at_most(hub):
    threadpool = hub.get_hub().threadpool
    assert threadpool is hub.get_hub().threadpool
    assert threadpool.maxsize == 10
    assert threadpool.apply(abs, (-3,)) == 3


# ---- Bad input


def test_a_maxsize_that_is_not_an_integer_is_a_type_error(hub):
    with pytest.raises(TypeError, match="maxsize must be integer: 1.5"):
        hub.ThreadPool(1.5)


def test_a_negative_maxsize_is_a_value_error(hub):
    with pytest.raises(ValueError, match="maxsize must not be negative: -1"):
        hub.ThreadPool(-1)


def test_a_size_out_of_range_is_a_value_error(hub, pool):
    with pytest.raises(ValueError, match="Size of the pool cannot be negative: -1"):
        pool.size = -1
    with pytest.raises(ValueError, match="Size of the pool cannot be bigger than maxsize: 4 > 3"):
        pool.size = 4


# ---- The resolver: the socket module's lookups


def test_getaddrinfo_of_an_ip_address_is_the_stdlibs(hub):
    for host in ("127.0.0.1", "::1", None):
        expected = stdlib_socket.getaddrinfo(host, 80, type=stdlib_socket.SOCK_STREAM)
        assert hub.socket.getaddrinfo(host, 80, type=stdlib_socket.SOCK_STREAM) == expected


def test_getaddrinfo_of_localhost_is_the_stdlibs_with_its_enums(hub):
    answer = hub.socket.getaddrinfo("localhost", "80", 0, stdlib_socket.SOCK_STREAM)
    assert answer == stdlib_socket.getaddrinfo("localhost", "80", 0, stdlib_socket.SOCK_STREAM)
    family, kind = answer[0][:2]
    assert isinstance(family, stdlib_socket.AddressFamily) and isinstance(kind, stdlib_socket.SocketKind)


def test_the_other_lookups_are_the_stdlibs(hub):
    assert hub.socket.gethostbyname("localhost") == stdlib_socket.gethostbyname("localhost")
    assert hub.socket.gethostbyname_ex("localhost") == stdlib_socket.gethostbyname_ex("localhost")
    assert hub.socket.gethostbyaddr("127.0.0.1") == stdlib_socket.gethostbyaddr("127.0.0.1")
    flags = stdlib_socket.NI_NUMERICHOST | stdlib_socket.NI_NUMERICSERV
    assert hub.socket.getnameinfo(("127.0.0.1", 80), flags) == ("127.0.0.1", "80")


def test_a_resolver_of_ones_own_answers_as_the_hubs_does(hub):
    resolver = hub.Resolver()
    assert resolver.getaddrinfo("localhost", 80) == stdlib_socket.getaddrinfo("localhost", 80)
    assert hub.get_hub().resolver is hub.get_hub().resolver


def test_a_name_refused_without_lookup_raises_the_stdlibs_gaierror(hub):
    flags = stdlib_socket.AI_NUMERICHOST  # a name may not be looked up: no network
    with pytest.raises(stdlib_socket.gaierror) as expected:
        stdlib_socket.getaddrinfo("no.such.host.invalid", 80, flags=flags)
    with pytest.raises(stdlib_socket.gaierror) as raised:
        hub.socket.getaddrinfo("no.such.host.invalid", 80, flags=flags)
    assert (raised.value.errno, str(raised.value)) == (expected.value.errno, str(expected.value))


def test_a_port_of_the_wrong_type_raises_the_stdlibs_error(hub):
    for host in ("127.0.0.1", "localhost"):
        with pytest.raises(OSError, match="Int or String expected"):
            hub.socket.getaddrinfo(host, 80.5)
    with pytest.raises(TypeError, match="'str' object cannot be interpreted as an integer"):
        hub.socket.getaddrinfo("127.0.0.1", 80, flags="x")


def test_a_socket_connects_to_a_host_name_through_the_resolver(hub):
    listener = hub.socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = hub.socket.socket()
    client.connect(("localhost", listener.getsockname()[1]))  # AF_INET: 127.0.0.1
    conn, _ = listener.accept()
    assert conn.getpeername() == client.getsockname()
    conn.close(), client.close(), listener.close()


@pytest.mark.fidelity("gevent's thread resolver sends every lookup to the pool, "
                      "an IP address too; ours resolves an address in place (AI_NUMERICHOST)")
def test_an_ip_address_is_resolved_without_a_thread(hub):
    pool = hub.ThreadPool(1)
    host = types.SimpleNamespace(threadpool=pool, NOT_ERROR=())  # the two a Resolver reads
    try:
        resolver = hub.Resolver(hub=host)
        assert resolver.getaddrinfo("127.0.0.1", 80)[0][4] == ("127.0.0.1", 80)
        assert pool.size == 0
    finally:
        pool.kill()

"""Ten thousand connections: a TCP echo server on every runtime, loaded from other
processes, as ratios in one run; round trips per second, p99 latency and the memory
each connection costs the server.

    python -m benchmarks.c10k                       # the full run, about eight minutes
    python -m benchmarks.c10k --quick               # 10 to 1,000 connections, 0.3 s runs
    python -m benchmarks.c10k --runtimes stackswitch_core,gevent --rows c10k --repeat 5

Three rows, the same load at three sizes: 100, 1,000 and 10,000 connections open at once
(``--quick``: a tenth of each), each making echo round trips: send 64 bytes, receive
until all 64 are back, check every byte, send again. The server runs in a process of
its own (``python -m benchmarks.c10k --serve COLUMN``) on 127.0.0.1, on a port the OS
chooses, and echoes whatever it receives. The load comes from two other processes of
``build/loadgen`` (benchmarks/loadgen.c: epoll, non-blocking sockets, half the
connections each), compiled with ``cc -O2`` on first use if ``make bench`` has not built
it; without a C compiler, from two processes of a Python generator here, and the table
says so. A run: the generators open their connections (at most 256 each not yet
answered, a failed connect tried again up to 5 times) and make one round trip on each;
the server's ``VmRSS`` (and ``VmPTE``, its page tables) is read from /proc before and
then; every generator is started at once and loads for 3 s (``--quick``: 0.3 s), and
the replies still in flight are received and checked. A byte that comes back wrong, a
connection the server drops, a reply that never comes: the run is an error, with the
first such error in words, and the command fails.

Columns: our hub (impls/hub) on each greenlet implementation over each loop, named as
in ``impls.hub.runtimes``, ``<greenlet>_<loop>``, serving with ``StreamServer`` and the
echo handler of benchmarks.hub; gevent itself, the same program (the reference);
tornado 6 (a ``TCPServer`` whose ``async def handle_stream`` echoes, on IOStreams) and
asyncio (streams), in their own idioms; our IOLoop (impls/ioloop, which has no
IOStream: non-blocking sockets on read handlers, as benchmarks.ioloop's echo row) and
our asyncio loop (impls/aio) running asyncio's streams program. The thread model of
greenlet (``threaded_*``) is not run above 1,000 connections, which would be as many OS
threads; the table says so. The main ratio is stackswitch_core/gevent (the target:
at least 1.0 at 10,000 connections, in less memory per connection); under the table,
every column over gevent, then the p99 latency and the memory per connection of each.

The soft limit on open files is raised to the hard one in every process; where the
hard limit is below what a row needs, the row is measured at the most connections that
fit, and a note under the table names the limit and how to raise it. The rest (a fresh
process per measurement, medians of ``--repeat`` runs, the ratio table, the JSON, the
findings of each run carried to the cells, a row a column is not run in) is `harness`'s;
every wait is bounded, and a server or generator that overruns is killed.
"""
import asyncio
import collections
import functools
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script, `python benchmarks/c10k.py`: import from the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
from benchmarks.harness import ROOT, NotMeasured, Row, describe, version_label  # noqa: E402
from benchmarks.hub import RUNTIMES as HUB_RUNTIMES  # noqa: E402
from benchmarks.hub import MESSAGE, HubBenchmark, serve as echo  # noqa: E402

HOST = "127.0.0.1"
BACKLOG = 1024  # every server's listen() queue: room for both generators' ramps (256 each)
SECONDS, QUICK_SECONDS = 3.0, 0.3  # the load of one run, full and --quick
DURATION = "SWITCHYARD_C10K_SECONDS"  # how the parent tells its children the load's length
GENERATORS = 2  # load processes, each with its share of the connections
RESERVE = 64  # open files a process needs besides its connections
THREADS_AT_MOST = 1000  # connections (OS threads) the thread model is run with, at most
START_LIMIT = 30.0  # seconds a server may take to listen
DRAIN = 10.0  # seconds the last replies may take after the load ends, generators' exit included
SOURCE = ROOT / "benchmarks" / "loadgen.c"
LOADGEN = ROOT / "build" / "loadgen"  # not tracked; `make build/loadgen` builds it too


def raise_open_files():
    """The soft limit on open files raised to the hard one; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---- The servers: for each column, what its process runs
#
# A column's factory loads its runtime (failing there makes the column unavailable) and
# returns serve(announce): listen on HOST with BACKLOG, call announce(port), and echo
# on every connection until the process is stopped.


def hub(name):
    """Our hub on one greenlet x loop pair, or gevent: StreamServer and the echo handler
    of benchmarks.hub, the very program benchmarks.hub measures."""
    from impls.hub import runtimes

    rt = getattr(runtimes, name)
    rt.get_hub()  # made now, so that an unloadable loop is found here
    return functools.partial(serve_hub, rt)


def serve_hub(rt, announce):
    listener = rt.socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    listener.listen(BACKLOG)
    server = rt.StreamServer(listener, echo)
    server.start()
    announce(listener.getsockname()[1])
    server.serve_forever()


def tornado6():
    import tornado.iostream
    import tornado.netutil
    import tornado.tcpserver

    class EchoServer(tornado.tcpserver.TCPServer):
        async def handle_stream(self, stream, address):
            stream.set_nodelay(True)
            try:
                while True:
                    await stream.write(await stream.read_bytes(65536, partial=True))
            except tornado.iostream.StreamClosedError:  # the client has gone
                pass

    async def serve(announce):
        listeners = tornado.netutil.bind_sockets(0, HOST, backlog=BACKLOG)
        EchoServer().add_sockets(listeners)
        announce(listeners[0].getsockname()[1])
        await asyncio.Event().wait()  # forever

    return lambda announce: asyncio.run(serve(announce))


async def streams_server(announce):
    """asyncio's streams: each connection's handler writes back what it reads."""

    async def handle(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, HOST, 0, backlog=BACKLOG)
    announce(server.sockets[0].getsockname()[1])
    await server.serve_forever()


def plain_asyncio():
    return lambda announce: asyncio.run(streams_server(announce))


def our_aio():
    import impls.aio

    return lambda announce: impls.aio.run(streams_server(announce))


def our_ioloop():
    from impls.ioloop.pollioloop import IOLoop

    return functools.partial(serve_ioloop, IOLoop)


def serve_ioloop(IOLoop, announce):
    """Non-blocking sockets on read handlers: our IOLoop has no IOStream. One message is
    in flight per connection, so a send of what one recv() returned always fits in the
    socket's buffer; a send that did not would raise, and the loop would log it."""
    loop = IOLoop()
    listener = socket.create_server((HOST, 0), backlog=BACKLOG)
    listener.setblocking(False)

    def on_readable(conn, events):
        if data := conn.recv(65536):
            conn.sendall(data)
        else:  # the client has gone
            loop.remove_handler(conn)
            conn.close()

    def on_connection(listener, events):
        while True:  # every connection waiting, as tornado's add_accept_handler does
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            loop.add_handler(conn, on_readable, IOLoop.READ)

    loop.add_handler(listener, on_connection, IOLoop.READ)
    announce(listener.getsockname()[1])
    loop.start()


# name -> (column heading, factory): benchmarks.hub's hub columns (ours on every greenlet
# x loop pair, and gevent; not its hub-from-.py column: what compiling buys is its
# question), each now a server, and the thread model's greenlet on our core; then
# tornado 6 and asyncio (benchmarks.hub's too, but their servers are here), our IOLoop
# and our asyncio loop
RUNTIMES = {
    **{name: (heading, functools.partial(hub, name)) for name, (heading, _) in HUB_RUNTIMES.items()
       if name not in ("stackswitch_core_py", "tornado", "asyncio")},
    "threaded_core": ("ours: threaded, core", functools.partial(hub, "threaded_core")),
    "tornado": (version_label("tornado"), tornado6),
    "asyncio": ("asyncio", plain_asyncio),
    "pollioloop": ("ours: IOLoop, handlers", our_ioloop),
    "aio": ("ours: asyncio loop", our_aio),
}


def serve(column, lifetime):
    """The server process: its first line of stdout is {"port": N} once it listens, or
    {"unavailable": why} if its runtime cannot load; then it echoes until stopped."""
    raise_open_files()
    signal.alarm(int(lifetime))  # never outlive the benchmark, even if it is killed

    def announce(port):
        print(json.dumps({"port": port}), flush=True)

    try:
        run = RUNTIMES[column][1]()
    except Exception as exc:  # not built here, an import error, ...
        print(json.dumps({"unavailable": describe(exc)}), flush=True)
        return 0
    run(announce)
    return 0


# ---- The processes of one run: the server, the generators


def read_line(stream, deadline, what):
    """The next line of a child's stdout, parsed as JSON; waited for until deadline.
    (Each child writes a line, then waits for us or ends: no second line can be left
    unseen in the stream's buffer while we wait on its descriptor.)"""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"no {what} in time")
    line = stream.readline()
    if not line:
        raise RuntimeError(f"no {what}: the process ended")
    return json.loads(line)


class Server:
    """A column's server in a process of its own, on the port it announced."""

    def __init__(self, column, lifetime):
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.c10k", "--serve", column, str(lifetime)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr,
            text=True)
        try:
            first = read_line(self.process.stdout, time.monotonic() + START_LIMIT, "port")
        except Exception as exc:
            why = f"the server did not start: {describe(exc)}; {self.last_words()}"
            self.stop()
            raise RuntimeError(why) from None
        if "unavailable" in first:
            self.stop()
            raise NotMeasured(first["unavailable"])
        self.port = first["port"]

    def memory(self):
        """(VmRSS, VmPTE) in bytes: its resident set and its page tables, now."""
        fields = {}
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                fields[name] = value
        return tuple(int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "VmPTE"))

    def last_words(self):
        """The end of its stderr: why it failed, if it did."""
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return f"the server's stderr ends: {lines[-1]}" if lines else "nothing on its stderr"

    def stop(self):
        """Stop it; why it had died on its own before, or None."""
        died = self.process.poll()
        stop(self.process)
        reason = None if died is None else f"the server died ({died}); {self.last_words()}"
        self.stderr.close()
        return reason


def stop(process):
    """End a child we started, gently if it listens, and collect it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        if stream:
            stream.close()


def generator_command():
    """How to start one load process, and what it is, for the table."""
    if LOADGEN.exists():
        return [str(LOADGEN)], f"{GENERATORS} processes of build/loadgen (C, epoll)"
    return ([sys.executable, "-m", "benchmarks.c10k", "--load"],
            f"{GENERATORS} processes of our Python generator (build/loadgen could not be built)")


def build_loadgen():
    """Compile benchmarks/loadgen.c into build/loadgen if it is absent or older, saying
    so; where it cannot be (no C compiler, not Linux), say that the load will come from
    the Python generator instead."""
    if LOADGEN.exists() and LOADGEN.stat().st_mtime >= SOURCE.stat().st_mtime:
        return
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        print("c10k: no C compiler (cc) to build build/loadgen: the load comes from a "
              "Python generator, weaker than the C one", file=sys.stderr)
        return
    print(f"c10k: compiling {SOURCE.relative_to(ROOT)} into {LOADGEN.relative_to(ROOT)} "
          f"with {compiler} -O2", file=sys.stderr)
    LOADGEN.parent.mkdir(exist_ok=True)
    partial = LOADGEN.with_suffix(f".{os.getpid()}")  # then renamed: another build may run
    done = subprocess.run([compiler, "-O2", "-Wall", "-o", str(partial), str(SOURCE)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        print(f"c10k: build/loadgen does not build here ({done.stderr.strip()[-300:]}): "
              "the load comes from a Python generator, weaker than the C one",
              file=sys.stderr)
        return
    partial.replace(LOADGEN)


# ---- One measurement


def duration():
    """Seconds of load in one run: what the parent said, else a full run's."""
    return float(os.environ.get(DURATION, SECONDS))


def fit(n):
    """How many connections this machine's limit on open files lets the server hold
    (the generators need half as many each), and a note if that is fewer than n."""
    limit = raise_open_files()
    if limit == resource.RLIM_INFINITY or n + RESERVE <= limit:
        return n, None
    fits = limit - RESERVE
    return fits, (f"measured at {fits:,} connections, not {n:,}: the hard limit on open "
                  f"files (RLIMIT_NOFILE) is {limit:,}; raise it to {n + RESERVE:,} "
                  f"(`ulimit -Hn {n + RESERVE}` as root, or nofile in "
                  f"/etc/security/limits.conf)")


def load_test(column, n, timeout):
    """One run on one column: the server, its connections opened and answered once, the
    load, the merged reports; the findings as a dict for the parent."""
    if column.startswith("threaded_") and n > THREADS_AT_MOST:
        raise NotMeasured(f"not run above {THREADS_AT_MOST:,} connections: {n:,} would "
                          f"be {n:,} OS threads, one per greenlet")
    n, note = fit(n)
    seconds = duration()
    deadline = time.monotonic() + timeout
    server = Server(column, lifetime=timeout + seconds + DRAIN + 60)
    generators = []
    try:
        before = server.memory()
        command, _ = generator_command()
        shares = [n // GENERATORS + (i < n % GENERATORS) for i in range(GENERATORS)]
        for i, share in enumerate(shares):
            generators.append(subprocess.Popen(
                [*command, HOST, str(server.port), str(share), str(seconds), str(timeout),
                 str(sum(shares[:i]))],  # the first connection's number
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        after, reports = drive(generators, server, seconds, deadline)
        result = merge(reports, seconds)
    except Exception as exc:  # a generator silent or gone, the server gone
        result = {"error": describe(exc)}
    finally:
        for generator in generators:
            stop(generator)
    failure = f"{result['error']}; {server.last_words()}" if "error" in result else None
    died = server.stop()
    if failure or died:
        raise RuntimeError(failure or died)
    return {**result, "connections": n, "notes": [note] if note else [],
            "bytes_per_connection": (after[0] - before[0]) / n,
            "page_tables_per_connection": (after[1] - before[1]) / n}


def drive(generators, server, seconds, deadline):
    """Wait until every generator has its connections open and answered once, read the
    server's memory, start them all at once, and collect their reports: (the memory,
    the reports). A generator whose ramp failed reports at once, and the load is not
    started."""
    ramps = [read_line(g.stdout, deadline, "ready line from a generator") for g in generators]
    memory = server.memory()
    if failed := [ramp for ramp in ramps if "ready" not in ramp]:
        return memory, failed
    for generator in generators:
        generator.stdin.write("go\n")
        generator.stdin.flush()
    finish = time.monotonic() + seconds + DRAIN
    return memory, [read_line(g.stdout, finish, "report from a generator") for g in generators]


def merge(reports, seconds):
    """The generators' reports as one: round trips per second, p50 and p99 (from the
    merged histograms), or an error naming every kind of failure and the first."""
    errors = collections.Counter()
    for report in reports:
        errors.update(report["errors"])
    failed = {kind: count for kind, count in errors.items() if count}
    if failed:
        first = next((r["first_error"] for r in reports if r["first_error"]), "?")
        return {"error": f"{sum(failed.values()):,} connections failed "
                         f"({', '.join(f'{c:,} {k}' for k, c in failed.items())}); "
                         f"the first: {first}"}
    histogram = collections.Counter()
    for report in reports:
        histogram.update({us: count for us, count in report["histogram"]})
    trips = sum(report["round_trips"] for report in reports)
    if not trips:
        return {"error": "no round trip was completed"}
    return {"seconds": seconds, "ops_per_s": trips / seconds, "round_trips": trips,
            "p50_ms": percentile(histogram, 0.50) / 1000,
            "p99_ms": percentile(histogram, 0.99) / 1000}


def percentile(histogram, q):
    """The microseconds under which a fraction q of the latencies fell: the upper end
    of the bucket (at most about 3 % wide) that holds the q-th."""
    rank, seen = q * sum(histogram.values()), 0
    for floor in sorted(histogram):
        seen += histogram[floor]
        if seen >= rank:
            break
    return floor + (1 << max(0, floor.bit_length() - 6))  # loadgen.c's bucket widths


# ---- The Python generator: loadgen.c's protocol and checks, where it cannot be built


def bucket(us):
    """The lower end of us's bucket in loadgen.c's histogram: exact below 32, then 32
    buckets per power of two."""
    shift = max(0, us.bit_length() - 6)
    return us >> shift << shift


class Failed(Exception):
    """A connection that failed: its kind (loadgen.c's error kinds) and what happened."""

    def __init__(self, kind, what):
        super().__init__(what)
        self.kind = kind


def python_load(host, port, n, seconds, timeout, first):
    """One load process (the command line of loadgen.c; its comment says what each
    phase does), on asyncio: weaker than the C one, but the same checks."""
    raise_open_files()
    load = PythonLoad(host, int(port), int(n), float(seconds), float(timeout), int(first))
    asyncio.run(load.run())
    return 1 if load.errors else 0


class PythonLoad:
    """loadgen.c's phases, checks and report, with an asyncio task per connection."""

    RAMP, TRIES = 256, 5  # as loadgen.c's

    def __init__(self, host, port, n, seconds, timeout, first):
        self.host, self.port, self.n = host, port, n
        self.seconds, self.timeout, self.first = seconds, timeout, first
        self.errors = collections.Counter()  # kind -> connections failed so
        self.first_error = ""  # in words
        self.latencies = []  # microseconds, of the round trips counted
        self.deadline = None  # set by the signal to start

    async def run(self):
        loop = asyncio.get_running_loop()
        ramp, go = asyncio.Semaphore(self.RAMP), loop.create_future()
        answered = [loop.create_future() for _ in range(self.n)]
        tasks = [asyncio.create_task(self.connection(i, ramp, answered[i], go))
                 for i in range(self.n)]
        await asyncio.wait(answered, timeout=self.timeout)
        late = [task for task, ramped in zip(tasks, answered) if not ramped.done()]
        self.fail_all(late, "unanswered", f"{len(late)} of {self.n} connections not "
                      f"open and answered within {self.timeout:g} s")
        print(json.dumps({"ready": self.n - sum(self.errors.values())}), flush=True)
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), self.timeout)
        self.deadline = time.perf_counter() + self.seconds
        go.set_result(None)
        await asyncio.sleep(self.seconds)
        done, pending = await asyncio.wait(tasks, timeout=DRAIN / 2)
        self.fail_all(pending, "unanswered", f"{len(pending)} replies not back "
                      f"{DRAIN / 2:g} s after the end")
        histogram = collections.Counter(map(bucket, self.latencies))
        print(json.dumps({"connections": self.n, "round_trips": len(self.latencies),
                          "seconds": self.seconds, "errors": self.errors,
                          "first_error": self.first_error,
                          "histogram": sorted(histogram.items())}), flush=True)

    def fail(self, kind, what):
        self.errors[kind] += 1
        self.first_error = self.first_error or what

    def fail_all(self, tasks, kind, what):
        for task in tasks:
            task.cancel()
            self.fail(kind, what)

    async def connection(self, i, ramp, answered, go):
        conn = self.first + i
        try:
            async with ramp:
                reader, writer = await self.connect(conn)
                await self.round_trip(reader, writer, conn, 0)
            answered.set_result(None)
            await go
            trip = 1
            while time.perf_counter() < self.deadline:
                started = time.perf_counter()
                await self.round_trip(reader, writer, conn, trip)
                trip += 1
                if (ended := time.perf_counter()) < self.deadline:
                    self.latencies.append(round((ended - started) * 1e6))
            writer.close()
        except Failed as failure:
            self.fail(failure.kind, str(failure))
        if not answered.done():
            answered.set_result(None)

    async def connect(self, conn):
        for attempt in range(1, self.TRIES + 1):
            try:
                return await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                if attempt == self.TRIES:
                    raise Failed("connect", f"connection {conn}: connect(): {exc}, "
                                            f"{attempt} tries") from None
                await asyncio.sleep(0.01 * 2 ** (attempt - 1))

    async def round_trip(self, reader, writer, conn, trip):
        sent = bytes((conn * 131 + trip * 17 + i) & 255 for i in range(len(MESSAGE)))
        try:
            writer.write(sent)
            received = await reader.readexactly(len(sent))
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise Failed("closed", f"connection {conn}: {describe(exc)} after {trip} "
                                   "round trips") from None
        if received != sent:
            at = next(k for k in range(len(sent)) if received[k] != sent[k])
            raise Failed("mismatch", f"connection {conn}, round trip {trip}: byte {at} is "
                                     f"{received[at]}, expected {sent[at]}")


# ---- What this benchmark adds to the harness

# what a run finds besides its rate: the latencies' median and 99th percentile, and
# the growth of the server's resident set and of its page tables, per connection
FOUND = ("p50_ms", "p99_ms", "bytes_per_connection", "page_tables_per_connection")


class C10kBenchmark(HubBenchmark):
    """The harness's Benchmark (with benchmarks.hub's table of every column over
    gevent), where a row's workload is `load_test(column, n, timeout)`, run in the child
    in place of the harness's subject (the column's factory is its server, run in a
    process of its own): its rate is of round trips, and its findings (`FOUND`) are in
    its result; the table ends with the p99 latency and the memory per connection."""

    def measure(self, row_name, column, n, timeout):
        # No subject to make here: load_test starts the column's server itself. A row
        # the column is not run in (NotMeasured) passes to the harness.
        try:
            return self.rows[row_name].workload(column, n, timeout)
        except Exception as exc:
            return {"error": describe(exc)}

    def run_all(self, rows, columns, repeat, scale, timeout, progress):
        build_loadgen()
        os.environ.setdefault(DURATION, str(QUICK_SECONDS if scale > 1 else SECONDS))
        for row in rows:
            if note := fit(max(1, row.size // scale))[1]:
                print(f"c10k: {row.name}: {note}", file=sys.stderr)
        return super().run_all(rows, columns, repeat, scale, timeout, progress)

    def table(self, rows, columns, results, repeat):
        lines = [f"round trips of 64 B per second, {duration():g} s runs; load: "
                 f"{generator_command()[1]}; the server alone in its process",
                 super().table(rows, columns, results, repeat)]
        lines += grid("p99 latency, ms", rows, columns, results,
                      lambda cell: f"{cell['p99_ms']:,.0f}" if cell["p99_ms"] >= 100
                      else f"{cell['p99_ms']:.3g}")
        lines += grid("KiB per connection: server VmRSS growth + its page tables'", rows,
                      columns, results, lambda cell: f"{cell['bytes_per_connection'] / 1024:.1f}"
                      f"+{cell['page_tables_per_connection'] / 1024:.1f}")
        if self.ours in columns and self.reference in columns:
            lines.append(self.memory_verdict(rows, results))
        return "\n".join(lines)

    def memory_verdict(self, rows, results):
        """Memory per connection, ours over the reference, row by row; the target (less
        than the reference's) is judged on the resident set and page tables together."""
        ratios = []
        for row in rows:
            mine, theirs = results[row.name][self.ours], results[row.name][self.reference]
            if "bytes_per_connection" in mine and "bytes_per_connection" in theirs:
                ratio = memory(mine) / memory(theirs)
                ratios.append(f"{row.name} {ratio:.2f}x" + (
                    f" (target < 1.0: {'yes' if ratio < 1.0 else 'NO'})"
                    if row.name == "c10k" else ""))
        return (f"memory per connection (VmRSS + VmPTE), {self.ours}/{self.reference}: "
                + (", ".join(ratios) or "none measured"))


def memory(cell):
    return cell["bytes_per_connection"] + cell["page_tables_per_connection"]


def grid(title, rows, columns, results, show):
    """A table of one finding: rows down, columns across, "-" where it was not measured."""
    body = [[row.name, *(show(cell) if "ops_per_s" in (cell := results[row.name][name])
                         else "-" for name in columns)] for row in rows]
    lines = [[title, *columns], *body]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return ["", *("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                            for i, (cell, w) in enumerate(zip(line, widths)))
                  for line in lines)]


# The target is at 10,000 connections; the smaller rows show the way there.
ROWS = {
    row.name: row
    for row in [
        Row("c100", "connections, echo round trips of 64 B", 100, None, load_test),
        Row("c1k", "connections, echo round trips of 64 B", 1000, None, load_test),
        Row("c10k", "connections, echo round trips of 64 B", 10**4, 1.0, load_test),
    ]
}

BENCHMARK = C10kBenchmark(
    module="benchmarks.c10k",
    description="A TCP echo server holding up to 10,000 connections on every runtime, "
                "loaded from other processes: round trips per second, p99 latency and "
                "memory per connection, against gevent, as ratios in one run.",
    columns=RUNTIMES,
    rows=ROWS,
    ours="stackswitch_core",
    reference="gevent",
    option="runtimes",
    noun="runtime",
    findings=FOUND,
)


def main(argv=None):
    """The harness's command line; and the two roles this module's processes take in a
    run: a server (``--serve COLUMN LIFETIME``) and a Python load generator (``--load``,
    with loadgen.c's arguments)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        return serve(argv[1], float(argv[2]))
    if argv[:1] == ["--load"]:
        return python_load(*argv[1:])
    return BENCHMARK.main(argv)


if __name__ == "__main__":
    sys.exit(main())

"""Our hub and cooperative sockets against gevent, with tornado 6 and asyncio alongside,
as ratios in one run.

    python -m benchmarks.hub                        # the full run, about two minutes
    python -m benchmarks.hub --quick                # sizes / 10, one repeat
    python -m benchmarks.hub --runtimes stackswitch_core,gevent --repeat 5

Two rows, each a TCP echo over loopback with the server and its clients in one process,
on one hub (one event loop): a client sends 64 bytes, waits for all 64 to come back, and
does it again; the server echoes whatever it receives. Both ends set ``TCP_NODELAY``.
The server listens on 127.0.0.1, on a port the OS chooses. Connecting is not timed: the
clock runs from the start of the first client's round trips to the end of the last's.

    echo1     N round trips, one client
    echo100   N round trips in all, shared by 100 clients that run at once

Columns: our hub (impls/hub) on each greenlet implementation over each loop, named as
in ``impls.hub.runtimes``, ``<greenlet>_<loop>``: stackswitch (ours, Cython) or greenlet
3, over core (ours, Cython over the system libev), pyloop (ours, pure Python) or gevent's
corecext; gevent itself (the reference); tornado 6 (``TCPServer`` / ``TCPClient`` and
``IOStream``, with ``async def``) and asyncio (streams), as landmarks. The hub columns,
ours and gevent's, run the very same program, written once against the runtime's
gevent-like names (``spawn``, ``joinall``, ``socket``, ``StreamServer``); tornado and
asyncio run it in their own idiom. Our hub runs compiled where ``pip install -e .``
built it (``impls.hub.compiled()``); stackswitch_core_py is stackswitch_core with the hub
run from its .py sources (SWITCHYARD_PURE_HUB=1), to show what compiling buys. The main
ratio is stackswitch_core/gevent; under the table, every column over gevent. The rest (a
fresh process per measurement, medians, the ratio table) is `harness`'s.
"""
import asyncio
import os
import socket as _stdlib
import sys
from pathlib import Path
from time import perf_counter

if not __package__:  # run as a script, `python benchmarks/hub.py`: import from the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
from benchmarks.harness import Benchmark, Row, version_label  # noqa: E402

MESSAGE = b"x" * 64  # one echo message
CLIENTS = {"echo1": 1, "echo100": 100}  # row -> how many clients run at once
HOST = "127.0.0.1"


def shares(n, clients):
    """n round trips shared by the clients as evenly as can be: [3, 3, 2] for 8 by 3."""
    return [n // clients + (i < n % clients) for i in range(clients)]


# ---- The hub columns: ours on every greenlet x loop pair, and gevent, one program


class Hub:
    """One hub column: a namespace of gevent's names, from ``impls.hub.runtimes``."""

    def __init__(self, name):
        from impls.hub import runtimes

        self.rt = getattr(runtimes, name)  # raises if a part cannot load: unavailable
        self.rt.get_hub()  # made now, so that an unloadable loop shows here, not in a row

    def echo(self, clients, n, timeout):
        rt = self.rt
        server = rt.StreamServer((HOST, 0), serve)
        server.start()
        sockets = []
        try:
            for _ in range(clients):  # the server accepts while we wait to connect
                sock = rt.socket.create_connection(server.address)
                sock.setsockopt(_stdlib.IPPROTO_TCP, _stdlib.TCP_NODELAY, 1)
                sockets.append(sock)
            started = perf_counter()
            tasks = [rt.spawn(client, sock, count)
                     for sock, count in zip(sockets, shares(n, clients))]
            rt.joinall(tasks, timeout=timeout)
            seconds = perf_counter() - started
            unfinished = [task for task in tasks if not task.ready()]
            for task in unfinished:
                task.kill()
            if unfinished:
                raise TimeoutError(f"{len(unfinished)} of {clients} clients unfinished "
                                   f"after {timeout:g} s")
            for task in tasks:
                if task.exception is not None:
                    raise task.exception
            return seconds
        finally:
            for sock in sockets:  # each handler's recv then returns b"" and it ends
                sock.close()
            server.stop()

    def close(self):
        pass


def serve(sock, address):
    """The echo handler: whatever arrives goes back, until the client closes."""
    sock.setsockopt(_stdlib.IPPROTO_TCP, _stdlib.TCP_NODELAY, 1)
    while data := sock.recv(65536):
        sock.sendall(data)


def client(sock, count):
    """count round trips: send the message, then receive until all of it is back."""
    size = len(MESSAGE)
    for _ in range(count):
        sock.sendall(MESSAGE)
        received = 0
        while received < size:
            data = sock.recv(size - received)
            if not data:
                raise ConnectionError("the server closed the connection")
            received += len(data)


# ---- The landmarks: tornado 6 and asyncio, each in its own idiom


class Tornado:
    """tornado 6: a TCPServer whose ``async def handle_stream`` echoes, and TCPClient's
    IOStreams, all on tornado's IOLoop (which runs on asyncio)."""

    def __init__(self):
        import tornado.iostream
        import tornado.netutil
        import tornado.tcpclient
        import tornado.tcpserver

        self.tornado = tornado

    def echo(self, clients, n, timeout):
        return asyncio.run(self._echo(clients, n, timeout))

    async def _echo(self, clients, n, timeout):
        tornado = self.tornado
        closed = tornado.iostream.StreamClosedError

        handlers = set()  # the tasks running handle_stream, awaited before the loop ends

        class EchoServer(tornado.tcpserver.TCPServer):
            async def handle_stream(self, stream, address):
                handlers.add(asyncio.current_task())
                stream.set_nodelay(True)
                try:
                    while True:
                        await stream.write(await stream.read_bytes(65536, partial=True))
                except closed:  # the client has gone
                    pass

        async def client(stream, count):
            size = len(MESSAGE)
            for _ in range(count):
                await stream.write(MESSAGE)
                await stream.read_bytes(size)

        server = EchoServer()
        listeners = tornado.netutil.bind_sockets(0, HOST)
        server.add_sockets(listeners)
        port = listeners[0].getsockname()[1]
        connect = tornado.tcpclient.TCPClient().connect
        streams = []
        try:
            for _ in range(clients):
                stream = await connect(HOST, port)
                stream.set_nodelay(True)
                streams.append(stream)
            started = perf_counter()
            await asyncio.wait_for(asyncio.gather(
                *(client(stream, count) for stream, count in zip(streams, shares(n, clients)))),
                timeout)
            return perf_counter() - started
        finally:
            for stream in streams:  # each handler's read then fails, and it ends
                stream.close()
            server.stop()
            await settle(handlers)

    def close(self):
        pass


class Asyncio:
    """asyncio's streams: ``start_server`` and ``open_connection`` (asyncio sets
    TCP_NODELAY on TCP sockets itself)."""

    def echo(self, clients, n, timeout):
        return asyncio.run(asyncio.wait_for(streams_echo(clients, n), timeout))

    def close(self):
        pass


async def settle(handlers):
    """Let the server's handlers see their clients go and end, before asyncio.run()
    cancels whatever is left (which asyncio would log as an error)."""
    if handlers:
        await asyncio.wait(handlers, timeout=1.0)


async def streams_echo(clients, n):
    """n round trips of 64 bytes over asyncio's streams, shared by the clients, each
    writing a message and reading exactly as much back; the server echoes whatever it
    reads. Connecting is not timed: the seconds of the rest are returned. The asyncio
    column here runs it, and every loop of benchmarks.aio."""
    handlers = set()  # the tasks running serve, awaited before the program ends

    async def serve(reader, writer):
        handlers.add(asyncio.current_task())
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def client(reader, writer, count):
        for _ in range(count):
            writer.write(MESSAGE)
            await writer.drain()
            await reader.readexactly(len(MESSAGE))

    server = await asyncio.start_server(serve, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    pairs = []
    try:
        for _ in range(clients):
            pairs.append(await asyncio.open_connection(HOST, port))
        started = perf_counter()
        await asyncio.gather(*(client(reader, writer, count)
                               for (reader, writer), count in zip(pairs, shares(n, clients))))
        return perf_counter() - started
    finally:
        for _, writer in pairs:  # each handler's read then returns b"", and it ends
            writer.close()
        server.close()
        await settle(handlers)


def hub(name, sources=False):
    def make():
        if sources:  # read by impls/hub/build.py: this fresh child has not imported impls.hub yet
            os.environ["SWITCHYARD_PURE_HUB"] = "1"
        return Hub(name)

    return make


# name -> (column heading, factory); the hub names are impls.hub.runtimes' (and the
# registry's in conftest.py)
RUNTIMES = {
    "stackswitch_core": ("ours: stackswitch, core", hub("stackswitch_core")),
    "stackswitch_core_py": ("ours: stackswitch, core, hub from .py", hub("stackswitch_core", sources=True)),
    "stackswitch_pyloop": ("ours: stackswitch, pyloop", hub("stackswitch_pyloop")),
    "stackswitch_corecext": ("ours: stackswitch, corecext", hub("stackswitch_corecext")),
    "greenlet_core": ("ours: greenlet, core", hub("greenlet_core")),
    "greenlet_pyloop": ("ours: greenlet, pyloop", hub("greenlet_pyloop")),
    "greenlet_corecext": ("ours: greenlet, corecext", hub("greenlet_corecext")),
    "gevent": (version_label("gevent"), hub("gevent")),
    "tornado": (version_label("tornado"), Tornado),
    "asyncio": ("asyncio", Asyncio),
}


def echo(row):
    def workload(subject, n, timeout):
        return subject.echo(CLIENTS[row], n, timeout)

    return workload


ROWS = {
    row.name: row
    for row in [
        Row("echo1", "TCP echo round trips, 64 B, 1 client", 5 * 10**4, 1.2, echo("echo1")),
        Row("echo100", "TCP echo round trips, 64 B, 100 clients", 10**5, 1.2, echo("echo100")),
    ]
}


class HubBenchmark(Benchmark):
    """The harness's Benchmark; the table ends with a second one, every column over the
    reference (gevent), a row per row."""

    def table(self, rows, columns, results, repeat):
        text = super().table(rows, columns, results, repeat)
        others = [name for name in columns if name != self.reference]
        if self.reference not in columns or not others:
            return text
        header = [f"over {self.reference}", *others]
        body = [[row.name, *(f"{ratio:.2f}x" if (ratio := self.ratio(results[row.name], name))
                             is not None else "-" for name in others)] for row in rows]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        return "\n".join([text, *("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                            for i, (cell, w) in enumerate(zip(line, widths)))
                                  for line in [header, *body])])


BENCHMARK = HubBenchmark(
    module="benchmarks.hub",
    description="Our hub and cooperative sockets, on each greenlet and loop, against "
                "gevent, with tornado 6 and asyncio alongside, as ratios in one run.",
    columns=RUNTIMES,
    rows=ROWS,
    ours="stackswitch_core",
    reference="gevent",
    option="runtimes",
    noun="runtime",
)
main = BENCHMARK.main

if __name__ == "__main__":
    sys.exit(main())

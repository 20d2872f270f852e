"""The runtimes of the scenario suite, and the requests a scenario makes of them.

A scenario is a generator function. It yields requests (``Sleep(0.1)``, ``Spawn(f, x)``,
``Recv(sock, 100)``, ...) and receives their answers, as a task of the PEP 342
scheduler yields system calls; it is written once, and every runtime serves it:

- a greenlet runtime (our hub on each greenlet x loop pair, gevent itself) answers a
  request by making the blocking call: ``hub.sleep``, ``sock.recv``...; the hub
  switches away underneath;
- a generator runtime passes the request on as what it knows how to wait for: a
  system call of our scheduler, or a Future for a ``gen.coroutine`` on an IOLoop
  (ours, or tornado 6's);
- an async/await runtime (on asyncio's own loop, or on ours) awaits the loop's
  ``sock_*`` method or asyncio function that answers it.

A task is a scenario started by ``Spawn``; ``Join`` answers its return value, or
raises what it raised, or answers ``KILLED`` if it was killed. A kill raises the
runtime's own exception where the task waits (GreenletExit, GeneratorExit, `Killed`,
CancelledError), so a scenario cleans up with ``finally``. ``WithTimeout(seconds,
request)`` raises `TimedOut` if the request is not answered in time, and leaves nothing
behind.

Each runtime is made from the namespace ``conftest.REGISTRY`` names for it, and runs a
scenario with ``runtime.run(scenario, *args)``, returning what the scenario returns.
"""
import dataclasses
import errno
import socket
from asyncio import sleep, timeout, wait  # by name: `asyncio` here is a runtime (__getattr__)
from typing import Any

# ---- The requests


@dataclasses.dataclass
class Sleep:
    seconds: float


@dataclasses.dataclass
class Spawn:
    scenario: Any  # a generator function
    args: tuple = ()


@dataclasses.dataclass
class Join:
    task: Any


@dataclasses.dataclass
class Kill:
    task: Any  # answered once the task is dead; a dead task is left alone


@dataclasses.dataclass
class SocketPair:
    pass  # answers two connected sockets


@dataclasses.dataclass
class Listen:
    pass  # answers (a listening socket on 127.0.0.1, its port)


@dataclasses.dataclass
class Accept:
    listener: Any


@dataclasses.dataclass
class Connect:
    port: int


@dataclasses.dataclass
class Recv:
    sock: Any
    size: int  # answers at most size bytes; b"" once the peer has closed


@dataclasses.dataclass
class SendAll:
    sock: Any
    data: bytes


@dataclasses.dataclass
class Close:
    sock: Any


@dataclasses.dataclass
class WithTimeout:
    seconds: float
    request: Any


class TimedOut(Exception):
    """What a WithTimeout raises when its request was not answered in time."""


KILLED = "killed"  # what Join answers for a task that was killed


class Killed(Exception):
    """A kill, in the gen.coroutine runtimes: the IOLoop's Futures carry Exceptions
    only (tornado's Runner lets anything else escape into the loop)."""


# ---- Greenlet runtimes: a request is a blocking call


class GreenletRuntime:
    """Our hub on one greenlet x loop pair, or gevent: any namespace with gevent's names."""

    def __init__(self, hub):
        self.hub = hub

    def run(self, scenario, *args):
        return self.drive(scenario(*args))

    def drive(self, task):
        """Run the generator task to its end, answering each request by blocking."""
        answer, error = None, None
        while True:
            try:
                request = task.send(answer) if error is None else task.throw(error)
            except StopIteration as stop:
                return stop.value
            try:
                answer, error = self.perform(request), None
            except BaseException as exc:  # a kill (GreenletExit) goes into the task too
                answer, error = None, exc

    def perform(self, request):
        hub = self.hub
        match request:
            case Sleep(seconds):
                return hub.sleep(seconds)
            case Spawn(scenario, args):
                return hub.spawn(self.drive, scenario(*args))
            case Join(task):
                task.join()
                if task.exception is not None:
                    raise task.exception
                return KILLED if isinstance(task.value, hub.GreenletExit) else task.value
            case Kill(task):
                return task.kill()
            case SocketPair():
                return hub.socket.socketpair()
            case Listen():
                listener = hub.socket.socket()
                return _listening(listener)
            case Accept(listener):
                return listener.accept()[0]
            case Connect(port):
                return hub.socket.create_connection(("127.0.0.1", port))
            case Recv(sock, size):
                return sock.recv(size)
            case SendAll(sock, data):
                return sock.sendall(data)
            case Close(sock):
                return sock.close()
            case WithTimeout(seconds, inner):
                with hub.Timeout(seconds, TimedOut(f"no answer in {seconds} s")):
                    return self.perform(inner)
        raise TypeError(f"not a request: {request!r}")


def _listening(listener):
    listener.bind(("127.0.0.1", 0))  # a port the OS picks
    listener.listen(256)
    return listener, listener.getsockname()[1]


def _non_blocking(*socks):
    for sock in socks:
        sock.setblocking(False)
    return socks[0] if len(socks) == 1 else socks


def _connect_error(sock):
    """The outcome of a non-blocking connect, once the socket is writable."""
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, f"connect: {errno.errorcode.get(code, code)}")


class GeneratorRuntime:
    """What the scheduler and the gen.coroutine runtimes share: a task is a generator
    that serves a scenario, each request answered by a nested generator, `perform`,
    which yields what this runtime waits on (``wait_readable`` and ``wait_writable``)."""

    def drive(self, task, state=None):
        answer, error = None, None
        while True:
            try:
                request = task.send(answer) if error is None else task.throw(error)
            except StopIteration as stop:
                return stop.value
            try:
                answer, error = (yield from self.perform(request, state)), None
            except BaseException as exc:  # a kill (GeneratorExit, Killed) goes in too
                answer, error = None, exc

    def perform(self, request, state):
        """Sockets are non-blocking; where one would block, wait on it."""
        match request:
            case SocketPair():
                return _non_blocking(*socket.socketpair())
            case Listen():
                return _listening(_non_blocking(socket.socket()))
            case Accept(listener):
                while True:
                    try:
                        return _non_blocking(listener.accept()[0])
                    except BlockingIOError:
                        yield from self.wait_readable(listener, state)
            case Connect(port):
                sock = _non_blocking(socket.socket())
                if sock.connect_ex(("127.0.0.1", port)) == errno.EINPROGRESS:
                    yield from self.wait_writable(sock, state)
                    _connect_error(sock)
                return sock
            case Recv(sock, size):
                while True:
                    try:
                        return sock.recv(size)
                    except BlockingIOError:
                        yield from self.wait_readable(sock, state)
            case SendAll(sock, data):
                view = memoryview(data)
                while view:
                    try:
                        view = view[sock.send(view):]
                    except BlockingIOError:
                        yield from self.wait_writable(sock, state)
            case Close(sock):
                sock.close()
            case _:
                raise TypeError(f"not a request: {request!r}")


# ---- The PEP 342 scheduler: a request becomes system calls


class SchedulerRuntime(GeneratorRuntime):
    def __init__(self, scheduler):
        self.s = scheduler  # the module impls.coroutine.scheduler

    def run(self, scenario, *args):
        outcome = {}

        def main():
            try:
                outcome["value"] = yield from self.drive(scenario(*args))
            except Exception as exc:
                outcome["error"] = exc

        with self.s.Scheduler() as scheduler:
            scheduler.new(main())
            scheduler.run()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def perform(self, request, state):
        s = self.s
        match request:
            case Sleep(seconds):
                yield s.Sleep(seconds)
            case Spawn(scenario, args):
                return (yield s.NewTask(self.drive(scenario(*args))))
            case Join(tid):
                try:
                    return (yield s.WaitTask(tid))
                except s.TaskKilled:
                    return KILLED
            case Kill(tid):
                yield s.KillTask(tid)
            case WithTimeout(seconds, inner):
                return (yield from self.with_timeout(seconds, inner))
            case _:
                return (yield from super().perform(request, state))

    def with_timeout(self, seconds, request):
        """The request in a task of its own, and a timer task that kills it."""
        s = self.s

        def expire(tid):
            yield s.Sleep(seconds)
            yield s.KillTask(tid)

        tid = yield s.NewTask(self.drive(_only(request)))
        timer = yield s.NewTask(expire(tid))
        try:
            answer = yield s.WaitTask(tid)
        except s.TaskKilled:  # by the timer
            raise TimedOut(f"no answer in {seconds} s") from None
        except Exception:
            yield s.KillTask(timer)
            raise
        yield s.KillTask(timer)
        return answer

    def wait_readable(self, sock, state):
        yield self.s.ReadWait(sock)

    def wait_writable(self, sock, state):
        yield self.s.WriteWait(sock)


# ---- gen.coroutine on an IOLoop: a request becomes a Future


class Task:
    """A spawned scenario of a gen.coroutine runtime: its Future, and the Future it
    waits on now, which a kill resolves with `Killed` (a coroutine has no kill)."""

    def __init__(self):
        self.future = None  # the coroutine's result
        self.waiting = None  # the Future it waits on now, or None
        self.killed = False


class CoroutineRuntime(GeneratorRuntime):
    def __init__(self, gen):
        self.gen = gen  # impls.coroutine.gen or tornado.gen: coroutine, sleep, IOLoop, Future
        self.loop = None
        self.coroutine = gen.coroutine(self.drive)

    def run(self, scenario, *args):
        self.loop = self.gen.IOLoop(make_current=False)
        try:
            return self.loop.run_sync(lambda: self.spawn(scenario, args).future)
        finally:
            self.loop.close()

    def spawn(self, scenario, args):
        task = Task()
        task.future = self.coroutine(scenario(*args), task)
        return task

    def perform(self, request, task):
        match request:
            case Sleep(seconds):
                yield from self.wait(self.gen.sleep(seconds), task)
            case Spawn(scenario, args):
                return self.spawn(scenario, args)
            case Join(other):
                try:
                    return (yield from self.wait(other.future, task))
                except Killed:
                    return KILLED
            case Kill(other):
                yield from self.kill(other, task)
            case WithTimeout(seconds, inner):
                return (yield from self.with_timeout(seconds, inner, task))
            case _:
                return (yield from super().perform(request, task))

    def wait(self, future, task):
        """Wait for future in a Future of our own, which a kill can resolve first."""
        waiting = task.waiting = self.gen.Future()
        self.loop.add_future(future, lambda done: _copy(done, waiting))
        try:
            answer = yield waiting
        finally:
            task.waiting = None
        if task.killed:  # while the answer was on its way in
            raise Killed()
        return answer

    def kill(self, victim, task):
        """Kill victim where it waits, and wait for it to be dead."""
        if not victim.future.done():
            self.kill_soon(victim)
            try:
                yield from self.wait(victim.future, task)
            except Killed:
                pass

    @staticmethod
    def kill_soon(victim):
        victim.killed = True
        if victim.waiting is not None and not victim.waiting.done():
            victim.waiting.set_exception(Killed())

    def with_timeout(self, seconds, request, task):
        """The request in a task of its own, and a timer that kills it."""
        attempt = self.spawn(_only, (request,))
        timer = self.loop.call_later(seconds, self.kill_soon, attempt)
        try:
            return (yield from self.wait(attempt.future, task))
        except Killed:
            if task.killed:  # not the timer: we are the one killed
                raise
            raise TimedOut(f"no answer in {seconds} s") from None
        finally:
            self.loop.remove_timeout(timer)

    def _io(self, sock, events, task):
        fd = sock.fileno()
        ready = self.gen.Future()
        self.loop.add_handler(fd, lambda *_: ready.done() or ready.set_result(None), events)
        try:
            yield from self.wait(ready, task)
        finally:
            self.loop.remove_handler(fd)

    def wait_readable(self, sock, task):
        yield from self._io(sock, self.loop.READ, task)

    def wait_writable(self, sock, task):
        yield from self._io(sock, self.loop.WRITE, task)


def _only(request):
    """A scenario that makes one request and returns its answer."""
    return (yield request)


def _copy(source, target):
    """Pass a done Future's outcome on, unless a kill got to the target first."""
    if target.done():
        return
    if source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


# ---- async/await on an asyncio loop: a request becomes an await


class AsyncRuntime:
    """A task is an asyncio Task that serves a scenario, each request answered by an
    await on the loop (``sock_*``) or on asyncio's functions, which run on any loop.
    A kill is ``Task.cancel()``: CancelledError goes into the scenario where it waits."""

    def __init__(self, aio):
        self.aio = aio  # asyncio or impls.aio: anything with new_event_loop()
        self.loop = None

    def run(self, scenario, *args):
        loop = self.loop = self.aio.new_event_loop()
        try:
            return loop.run_until_complete(self.drive(scenario(*args)))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def drive(self, task):
        answer, error = None, None
        while True:
            try:
                request = task.send(answer) if error is None else task.throw(error)
            except StopIteration as stop:
                return stop.value
            try:
                answer, error = (await self.perform(request)), None
            except BaseException as exc:  # a kill (CancelledError) goes into the task too
                answer, error = None, exc

    async def perform(self, request):
        """Sockets are non-blocking, as the loop's sock_* methods require."""
        loop = self.loop
        match request:
            case Sleep(seconds):
                return await sleep(seconds)
            case Spawn(scenario, args):
                return loop.create_task(self.drive(scenario(*args)))
            case Join(task):
                await wait([task])  # unlike `await task`, tells its cancel from ours
                return KILLED if task.cancelled() else task.result()
            case Kill(task):
                task.cancel()
                await wait([task])
            case SocketPair():
                return _non_blocking(*socket.socketpair())
            case Listen():
                return _listening(_non_blocking(socket.socket()))
            case Accept(listener):
                return _non_blocking((await loop.sock_accept(listener))[0])
            case Connect(port):
                sock = _non_blocking(socket.socket())
                try:
                    await loop.sock_connect(sock, ("127.0.0.1", port))
                except BaseException:
                    sock.close()
                    raise
                return sock
            case Recv(sock, size):
                return await loop.sock_recv(sock, size)
            case SendAll(sock, data):
                return await loop.sock_sendall(sock, data)
            case Close(sock):
                return sock.close()
            case WithTimeout(seconds, inner):
                try:
                    async with timeout(seconds):
                        return await self.perform(inner)
                except TimeoutError:
                    raise TimedOut(f"no answer in {seconds} s") from None
            case _:
                raise TypeError(f"not a request: {request!r}")


# ---- The runtimes, by the names conftest.REGISTRY gives them


def __getattr__(name):
    """``scenario_runtimes.<name>``: the runtime, made on first use (PEP 562), so that
    one whose parts cannot load fails alone, with the reason."""
    import importlib

    if name == "scheduler":
        runtime = SchedulerRuntime(importlib.import_module("impls.coroutine.scheduler"))
    elif name == "gen":
        runtime = CoroutineRuntime(importlib.import_module("impls.coroutine.gen"))
    elif name == "tornado":
        runtime = CoroutineRuntime(importlib.import_module("tornado.gen"))
    elif name == "asyncio":
        runtime = AsyncRuntime(importlib.import_module("asyncio"))
    elif name == "aio":
        runtime = AsyncRuntime(importlib.import_module("impls.aio"))
    elif name == "gevent" or name.startswith("hub_"):
        hubs = importlib.import_module("impls.hub.runtimes")
        runtime = GreenletRuntime(getattr(hubs, name.removeprefix("hub_")))
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = runtime
    return runtime

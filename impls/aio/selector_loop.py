"""An asyncio event loop of our own, on the ``selectors`` module, in pure Python.

The loop keeps a deque of ready callbacks and a heap of timers, and each
iteration (``_run_once``) waits in the selector for the registered sockets, the
self-pipe or the first deadline, queues the handlers of what became ready and
the timers that are due, then runs every callback queued so far. Everything
else (futures, tasks, sockets, streams) is callbacks in that deque. The
callbacks are asyncio's own ``Handle`` and ``TimerHandle``; Future and Task are
ours (``futures``, ``tasks``); transports and servers live in ``connections``.
"""
import collections
import concurrent.futures
import errno
import functools
import heapq
import itertools
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
import weakref

import asyncio
from asyncio import constants, coroutines, events
from asyncio.events import Handle, TimerHandle
from asyncio.log import logger  # the "asyncio" logger, where asyncio reports too

from . import connections, futures, tasks

__all__ = ["SelectorEventLoop"]

# Compact the timer heap when it holds more than this many entries and more than
# half of them are cancelled; below that, dropping them at the head is cheaper.
_MIN_SCHEDULED_TIMERS = 100
_MIN_CANCELLED_FRACTION = 0.5

_MAX_SELECT_TIMEOUT = 24 * 3600  # some selectors refuse longer waits

_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE

_SYSTEM_EXITS = (SystemExit, KeyboardInterrupt)  # raised through the loop, never reported


def _left_out(name, what):
    """A method this loop does not implement: awaiting it raises NotImplementedError."""

    async def method(self, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__}.{name}() is not implemented: {what} is left out of "
            f"this loop (chapters/asyncio.md lists what is missing)")

    method.__name__ = method.__qualname__ = name
    return method


class SelectorEventLoop(asyncio.AbstractEventLoop):
    """asyncio's event loop, rebuilt to be read. Use it as asyncio's own:

        loop = SelectorEventLoop()
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    or through ``policy.EventLoopPolicy`` / ``policy.run``, so that
    ``asyncio.run()`` and libraries built on asyncio (tornado 6) run on it.
    Only ``call_soon_threadsafe`` may be called from another thread.
    """

    def __init__(self, selector=None):
        # ---- Callbacks and timers
        self._ready = collections.deque()  # Handles to run, in order
        self._scheduled = []  # heap of (deadline, sequence, TimerHandle)
        self._timer_sequence = itertools.count()  # FIFO among equal deadlines
        self._timer_cancelled_count = 0  # cancelled TimerHandles still in the heap
        self._clock_resolution = time.get_clock_info("monotonic").resolution
        # ---- I/O
        self._selector = selector or selectors.DefaultSelector()  # fd -> [reader, writer]
        self._ssock, self._csock = socket.socketpair()  # the self-pipe: read end, write end
        self._signal_handlers = {}  # signal number -> Handle
        # ---- Running and stopping
        self._thread_id = None  # the thread inside run_forever(), else None
        self._stopping = False  # stop() was called: end after this iteration
        self._closed = False
        # ---- Debug mode and errors
        self._debug = coroutines._is_debug_mode()  # python -X dev, or PYTHONASYNCIODEBUG
        self.slow_callback_duration = 0.1  # seconds; slower callbacks are logged in debug mode
        self._current_handle = None  # the Handle running, in debug mode
        self._saved_origin_depth = None  # coroutine origin tracking depth before debug mode
        self._exception_handler = None  # None: default_exception_handler
        # ---- Tasks, executor, async generators
        self._task_factory = None  # None: our Task
        self._default_executor = None  # created on first use (tests read this name)
        self._executor_shutdown_called = False
        self._asyncgens = weakref.WeakSet()  # async generators iterated by this loop
        self._asyncgens_shutdown_called = False

        self._ssock.setblocking(False)
        self._csock.setblocking(False)  # a full pipe already means "wake up"
        self._watch(self._ssock.fileno(), _READ, self._read_from_self, ())

    def __repr__(self):
        return (f"<{type(self).__name__} running={self.is_running()} "
                f"closed={self.is_closed()} debug={self.get_debug()}>")

    # ---- Running and stopping

    def run_forever(self):
        """Run iterations until ``stop()``; at least one, even if stop() came first."""
        self._check_closed()
        self._check_running()
        self._track_coroutine_origins(self._debug)
        old_agen_hooks = sys.get_asyncgen_hooks()
        try:
            self._thread_id = threading.get_ident()
            sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                                   finalizer=self._asyncgen_finalizer_hook)
            events._set_running_loop(self)  # what asyncio.get_running_loop() returns
            while True:
                self._run_once()
                if self._stopping:
                    break
        finally:
            self._stopping = False
            self._thread_id = None
            events._set_running_loop(None)
            self._track_coroutine_origins(False)
            sys.set_asyncgen_hooks(*old_agen_hooks)

    def run_until_complete(self, future):
        """Run until ``future`` (a Future, or a coroutine wrapped in a Task) is
        done; return its result or raise its exception."""
        self._check_closed()
        self._check_running()
        new_task = not asyncio.isfuture(future)
        future = asyncio.ensure_future(future, loop=self)
        if new_task:
            # The caller never sees this Task: if the loop stops early, the
            # RuntimeError below says so, and "destroyed but pending" would repeat it.
            future._log_destroy_pending = False
        future.add_done_callback(self._stop_when_done)
        try:
            self.run_forever()
        except BaseException:
            if new_task and future.done() and not future.cancelled():
                future.exception()  # it escaped already: do not log it as never retrieved
            raise
        finally:
            future.remove_done_callback(self._stop_when_done)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()

    def _stop_when_done(self, future):
        # A Task that raised SystemExit or KeyboardInterrupt has already ended
        # run_forever by raising through it; a stop() now would end the next run.
        if future.cancelled() or not isinstance(future.exception(), _SYSTEM_EXITS):
            self.stop()

    def _check_running(self):
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if events._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def stop(self):
        """End ``run_forever()`` after the current iteration: the callbacks already
        queued still run. Called while not running: the next run stops after one."""
        self._stopping = True

    def is_running(self):
        return self._thread_id is not None

    def is_closed(self):
        return self._closed

    def close(self):
        """Drop what is queued; release the signal handlers, the selector, the
        self-pipe and the default executor (without waiting for its threads).
        Twice: the second does nothing."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        if self._debug:
            logger.debug("Close %r", self)
        if not sys.is_finalizing():  # the signal module may be gone already
            for signum in list(self._signal_handlers):
                self.remove_signal_handler(signum)
        self._closed = True
        self._ready.clear()
        self._scheduled.clear()
        self._selector.close()
        self._ssock.close()
        self._csock.close()  # a late call_soon_threadsafe() then fails quietly
        self._executor_shutdown_called = True
        executor, self._default_executor = self._default_executor, None
        if executor is not None:
            executor.shutdown(wait=False)

    def __del__(self, _warn=warnings.warn):
        if not self.is_closed():
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            if not self.is_running():
                self.close()

    def _check_closed(self):
        if self._closed:
            raise RuntimeError("Event loop is closed")

    # ---- Scheduling callbacks

    def call_soon(self, callback, *args, context=None):
        """Call ``callback(*args)`` in ``context`` (a copy of the current one by
        default) in the next iteration; callbacks run in the order they came.
        Returns a Handle whose ``cancel()`` prevents the call."""
        if self._closed:  # _check_closed(), inlined: call_soon is the hottest path
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
        if self._debug or not callable(callback):
            self._check_callback(callback, "call_soon")
        handle = Handle(callback, args, self, context)
        if handle._source_traceback:  # debug mode: end the traceback at our caller
            del handle._source_traceback[-1]
        self._ready.append(handle)
        return handle

    def call_soon_threadsafe(self, callback, *args, context=None):
        """``call_soon`` from any thread: the deque's append is atomic, and the
        byte written to the self-pipe ends the loop's wait in the selector."""
        self._check_closed()
        self._check_callback(callback, "call_soon_threadsafe")
        handle = Handle(callback, args, self, context)
        if handle._source_traceback:
            del handle._source_traceback[-1]
        self._ready.append(handle)
        self._write_to_self()
        return handle

    def call_later(self, delay, callback, *args, context=None):
        """``call_at(self.time() + delay, ...)``."""
        if delay is None:
            raise TypeError("delay must not be None")
        timer = self.call_at(self.time() + delay, callback, *args, context=context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        return timer

    def call_at(self, when, callback, *args, context=None):
        """Call ``callback(*args)`` once ``time()`` reaches ``when``; timers with
        equal deadlines run in the order they were added. Returns a TimerHandle."""
        if when is None:
            raise TypeError("when cannot be None")
        if self._closed:  # the checks inlined as in call_soon: every sleep() comes here
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
        if self._debug or not callable(callback):
            self._check_callback(callback, "call_at")
        timer = TimerHandle(when, callback, args, self, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        heapq.heappush(self._scheduled, (when, next(self._timer_sequence), timer))
        timer._scheduled = True  # in the heap: its cancel() must be counted
        return timer

    def time(self):
        """The loop's clock: ``time.monotonic()``, immune to changes of the date."""
        return time.monotonic()

    def _check_callback(self, callback, method):
        # asyncio checks only in debug mode. callable() is cheap enough to check
        # always, so that the mistake is reported where it is made, not later in
        # the loop; the check for a coroutine function costs more: debug mode only.
        if callable(callback) and not (self._debug and coroutines.iscoroutinefunction(callback)):
            return
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError(f"coroutines cannot be used with {method}()")
        raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")

    def _check_thread(self):
        # Debug mode only: the loop's structures are not thread-safe.
        if self._thread_id is not None and threading.get_ident() != self._thread_id:
            raise RuntimeError("Non-thread-safe operation invoked on an event loop "
                               "other than the current one")

    def _timer_handle_cancelled(self, timer):
        """Called by ``TimerHandle.cancel()``: the timer stays in the heap until it
        reaches the head or a compaction, and is counted meanwhile."""
        if timer._scheduled:
            self._timer_cancelled_count += 1

    # ---- The iteration

    def _run_once(self):
        """One iteration: wait for I/O (not at all if callbacks are ready), queue
        the handlers of the ready fds and the due timers, then run every callback
        queued so far; those they queue wait for the next iteration, after a poll."""
        ready = self._ready
        scheduled = self._scheduled
        self._drop_cancelled_timers()

        if ready or self._stopping:
            timeout = 0
        elif scheduled:
            timeout = min(max(0, scheduled[0][0] - self.time()), _MAX_SELECT_TIMEOUT)
        else:
            timeout = None  # nothing to do until an fd, a signal or another thread wakes us
        self._process_events(self._selector.select(timeout))

        if scheduled:
            # Within a clock tick counts as due: select() may return that early,
            # and waiting again for less than a tick would spin.
            end_time = self.time() + self._clock_resolution
            while scheduled and scheduled[0][0] < end_time:
                timer = heapq.heappop(scheduled)[2]
                timer._scheduled = False
                ready.append(timer)

        # Counted first: only the callbacks queued before this point run now.
        ntodo = len(ready)
        if self._debug:
            for _ in range(ntodo):
                self._run_handle_timed(ready.popleft())
            return
        popleft = ready.popleft
        for _ in range(ntodo):
            handle = popleft()
            if not handle._cancelled:
                handle._run()  # routes what the callback raises to call_exception_handler

    def _drop_cancelled_timers(self):
        # Cancelled timers are left in the heap (finding one costs a search).
        # When they are many and most of it, rebuild the heap without them;
        # otherwise drop only those at the head, which would set the timeout.
        scheduled = self._scheduled
        if (len(scheduled) > _MIN_SCHEDULED_TIMERS and
                self._timer_cancelled_count / len(scheduled) > _MIN_CANCELLED_FRACTION):
            live = []
            for entry in scheduled:
                if entry[2]._cancelled:
                    entry[2]._scheduled = False
                else:
                    live.append(entry)
            heapq.heapify(live)
            scheduled[:] = live  # in place: _run_once holds the list
            self._timer_cancelled_count = 0
            return
        while scheduled and scheduled[0][2]._cancelled:
            self._timer_cancelled_count -= 1
            heapq.heappop(scheduled)[2]._scheduled = False

    def _process_events(self, event_list):
        # The selector returns each ready fd once, with the events it is ready
        # for; the key's data is that fd's [reader, writer].
        ready = self._ready
        for key, mask in event_list:
            reader, writer = key.data
            if mask & _READ and reader is not None:
                ready.append(reader)
            if mask & _WRITE and writer is not None:
                ready.append(writer)

    def _run_handle_timed(self, handle):
        # Debug mode: run one callback, remember it for default_exception_handler,
        # and log it if it held the loop longer than slow_callback_duration.
        if handle._cancelled:
            return
        self._current_handle = handle
        start = self.time()
        try:
            handle._run()
        finally:
            self._current_handle = None
        duration = self.time() - start
        if duration >= self.slow_callback_duration:
            logger.warning("Executing %s took %.3f seconds", _format_handle(handle), duration)
        # The frame outlives the call when a Task's exception was raised below it
        # (its traceback keeps the frames): without this, the frame would keep the
        # Handle, and so the Task, alive until the garbage collector runs.
        del handle

    # ---- Futures and tasks

    def create_future(self):
        return futures.Future(loop=self)

    def create_task(self, coro, *, name=None, context=None):
        """Wrap ``coro`` in a Task (ours, or the task factory's), which starts
        it in the next iteration."""
        self._check_closed()
        if self._task_factory is None:
            task = tasks.Task(coro, loop=self, name=name, context=context)
            if task._source_traceback:
                del task._source_traceback[-1]
            return task
        if context is None:
            task = self._task_factory(self, coro)  # factories older than 3.11 take no context
        else:
            task = self._task_factory(self, coro, context=context)
        if name is not None:
            task.set_name(name)
        return task

    def set_task_factory(self, factory):
        """``factory(loop, coro, context=None)`` makes create_task's tasks; None: ours."""
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self):
        return self._task_factory

    # ---- Readers and writers

    def add_reader(self, fd, callback, *args):
        """Call ``callback(*args)`` whenever ``fd`` (an int or an object with
        fileno()) is readable, until remove_reader; replaces fd's reader."""
        self._watch(fd, _READ, callback, args)

    def remove_reader(self, fd):
        """Stop watching ``fd`` for reading; True if it had a reader."""
        return self._unwatch(fd, _READ)

    def add_writer(self, fd, callback, *args):
        """Call ``callback(*args)`` whenever ``fd`` is writable, until remove_writer."""
        self._watch(fd, _WRITE, callback, args)

    def remove_writer(self, fd):
        """Stop watching ``fd`` for writing; True if it had a writer."""
        return self._unwatch(fd, _WRITE)

    def _watch(self, fd, event, callback, args):
        # One selector key per fd, whose data is the list [reader, writer]:
        # slot 0 for _READ, 1 for _WRITE. Returns the new Handle.
        self._check_closed()
        handle = Handle(callback, args, self, None)
        slot = 0 if event == _READ else 1
        try:
            key = self._selector.get_key(fd)
        except KeyError:
            handles = [None, None]
            handles[slot] = handle
            self._selector.register(fd, event, handles)
            return handle
        handles = key.data
        if not key.events & event:
            self._selector.modify(fd, key.events | event, handles)  # if it fails, nothing changed
        replaced, handles[slot] = handles[slot], handle
        if replaced is not None:
            replaced.cancel()  # it may be queued in this iteration already
        return handle

    def _unwatch(self, fd, event):
        # The fd leaves the selector with its last reader or writer.
        if self._closed:
            return False
        try:
            key = self._selector.get_key(fd)
        except KeyError:
            return False
        handles = key.data
        slot = 0 if event == _READ else 1
        removed, handles[slot] = handles[slot], None
        if removed is not None:
            removed.cancel()  # it may be queued in this iteration already
        if key.events & ~event:
            self._selector.modify(fd, key.events & ~event, handles)
        else:
            self._selector.unregister(fd)
        return removed is not None

    # ---- The self-pipe

    def _write_to_self(self):
        # From any thread, maybe during or after close(): then the socket is
        # closed and send() fails. A full pipe (BlockingIOError) will wake us anyway.
        try:
            self._csock.send(b"\0")
        except OSError:
            pass

    def _read_from_self(self):
        # Empty the pipe. call_soon_threadsafe writes zeros; the C signal
        # handler (signal.set_wakeup_fd) writes the numbers of the signals caught.
        while True:
            try:
                data = self._ssock.recv(4096)
            except InterruptedError:
                continue
            except BlockingIOError:
                return
            if not data:
                return
            for signum in data:
                if signum:
                    self._handle_signal(signum)

    # ---- Socket operations
    # Each tries the operation at once, since the socket is mostly ready, and
    # otherwise waits until the selector says it is (_sock_when_ready).

    async def sock_recv(self, sock, nbytes):
        """Up to ``nbytes`` bytes from ``sock``; b"" at end of stream."""
        self._check_nonblocking(sock)
        try:
            return sock.recv(nbytes)
        except (BlockingIOError, InterruptedError):
            return await self._sock_when_ready(sock, _READ, sock.recv, nbytes)

    async def sock_recv_into(self, sock, buf):
        """Receive into ``buf``; the number of bytes received."""
        self._check_nonblocking(sock)
        try:
            return sock.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            return await self._sock_when_ready(sock, _READ, sock.recv_into, buf)

    async def sock_sendall(self, sock, data):
        """Send all of ``data``, waiting for room as often as needed."""
        self._check_nonblocking(sock)
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        view = memoryview(data).cast("B")  # counts bytes, and slices without copying
        while sent < len(view):
            view = view[sent:]
            sent = await self._sock_when_ready(sock, _WRITE, sock.send, view)

    async def sock_connect(self, sock, address):
        """Connect ``sock`` to ``address``; a host name is resolved first."""
        self._check_nonblocking(sock)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            address = await self._resolve(sock, address)
        try:
            sock.connect(address)
        except (BlockingIOError, InterruptedError):
            # In progress: the socket becomes writable when it has ended.
            await self._sock_when_ready(sock, _WRITE, _connect_result, sock, address)

    async def sock_accept(self, sock):
        """``(connection, address)`` from a listening socket; the connection is
        non-blocking, ready for the other sock_* methods."""
        self._check_nonblocking(sock)
        try:
            conn, address = sock.accept()
        except (BlockingIOError, InterruptedError):
            conn, address = await self._sock_when_ready(sock, _READ, sock.accept)
        conn.setblocking(False)
        return conn, address

    def _check_nonblocking(self, sock):
        # A blocking socket would stop the whole loop. asyncio checks only in
        # debug mode; we always do, it costs one call.
        if sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")

    def _sock_when_ready(self, sock, event, operation, *args):
        # A Future of operation(*args), tried each time sock is ready for event.
        # Once it is done, cancelled included, the reader or writer goes.
        future = self.create_future()
        fd = sock.fileno()
        handle = self._watch(fd, event, _try_operation, (future, operation, args))
        future.add_done_callback(functools.partial(self._sock_unwatch, fd, event, handle))
        return future

    def _sock_unwatch(self, fd, event, handle, future):  # future: the done callback's argument
        if not handle.cancelled():  # else someone else's reader or writer is there now
            self._unwatch(fd, event)

    async def _resolve(self, sock, address):
        # An address whose host is a number is used as it is, so that no
        # executor thread is needed (asyncio: _ensure_resolved); a name is looked up.
        host, port = address[:2]
        try:
            socket.inet_pton(sock.family, host)
            return address
        except (OSError, TypeError):
            pass
        infos = await self.getaddrinfo(host, port, family=sock.family,
                                       type=sock.type, proto=sock.proto)
        return infos[0][4]

    # ---- The executor, and name resolution through it

    def run_in_executor(self, executor, func, *args):
        """A Future of ``func(*args)`` run in ``executor``, or in the default
        ThreadPoolExecutor (created on first use) if it is None."""
        self._check_closed()
        if self._debug:
            self._check_callback(func, "run_in_executor")
        if executor is None:
            if self._executor_shutdown_called:
                raise RuntimeError("Executor shutdown has been called")
            if self._default_executor is None:
                self._default_executor = concurrent.futures.ThreadPoolExecutor(
                    thread_name_prefix="asyncio")
            executor = self._default_executor
        return asyncio.wrap_future(executor.submit(func, *args), loop=self)

    def set_default_executor(self, executor):
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor instance")
        self._default_executor = executor

    async def shutdown_default_executor(self, timeout=None):
        """Wait for the default executor's threads to finish (in a thread of
        its own, so that the loop keeps running); at most ``timeout`` seconds."""
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is None:
            return
        done = self.create_future()
        thread = threading.Thread(target=self._join_executor, args=(executor, done))
        thread.start()
        try:
            async with asyncio.timeout(timeout):
                await done
        except TimeoutError:
            warnings.warn("The executor did not finishing joining its threads "
                          f"within {timeout} seconds.", RuntimeWarning, stacklevel=2)
            executor.shutdown(wait=False)
        else:
            thread.join()

    def _join_executor(self, executor, done):
        # In a thread of its own. The outcome reaches the loop through the
        # self-pipe, unless the loop was closed meanwhile.
        try:
            executor.shutdown(wait=True)
            error = None
        except Exception as exc:
            error = exc
        if not self.is_closed():
            self.call_soon_threadsafe(_settle, done, error)

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        """``socket.getaddrinfo``, in the executor: it may block on the network."""
        return await self.run_in_executor(None, socket.getaddrinfo, host, port,
                                          family, type, proto, flags)

    async def getnameinfo(self, sockaddr, flags=0):
        """``socket.getnameinfo``, in the executor."""
        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)

    # ---- Transports and servers (connections.py)

    async def create_connection(self, protocol_factory, host=None, port=None, **options):
        return await connections.create_connection(self, protocol_factory, host, port, **options)

    async def create_server(self, protocol_factory, host=None, port=None, **options):
        return await connections.create_server(self, protocol_factory, host, port, **options)

    async def connect_accepted_socket(self, protocol_factory, sock, **options):
        return await connections.connect_accepted_socket(self, protocol_factory, sock, **options)

    async def create_unix_connection(self, protocol_factory, path=None, **options):
        return await connections.create_unix_connection(self, protocol_factory, path, **options)

    async def create_unix_server(self, protocol_factory, path=None, **options):
        return await connections.create_unix_server(self, protocol_factory, path, **options)

    # What this loop leaves out; each is listed in the chapter.
    start_tls = _left_out("start_tls", "TLS")
    sendfile = _left_out("sendfile", "sendfile")
    sock_sendfile = _left_out("sock_sendfile", "sendfile")
    create_datagram_endpoint = _left_out("create_datagram_endpoint", "datagram (UDP) support")
    sock_recvfrom = _left_out("sock_recvfrom", "datagram (UDP) support")
    sock_recvfrom_into = _left_out("sock_recvfrom_into", "datagram (UDP) support")
    sock_sendto = _left_out("sock_sendto", "datagram (UDP) support")
    connect_read_pipe = _left_out("connect_read_pipe", "pipe support")
    connect_write_pipe = _left_out("connect_write_pipe", "pipe support")
    subprocess_exec = _left_out("subprocess_exec", "subprocess support")
    subprocess_shell = _left_out("subprocess_shell", "subprocess support")

    # ---- Signals

    def add_signal_handler(self, sig, callback, *args):
        """Call ``callback(*args)`` in the loop when signal ``sig`` arrives.
        Main thread only: only it may set the wakeup fd (else RuntimeError)."""
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        _check_signal(sig)
        self._check_closed()
        try:
            # Python's C-level handler writes the signal's number into the
            # self-pipe, which wakes the selector; _read_from_self reads it.
            signal.set_wakeup_fd(self._csock.fileno())
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc))
        self._signal_handlers[sig] = Handle(callback, args, self, None)
        try:
            signal.signal(sig, _ignore_signal)  # the wakeup fd does the work
            signal.siginterrupt(sig, False)  # restart interrupted system calls
        except OSError as exc:
            del self._signal_handlers[sig]
            if not self._signal_handlers:
                _clear_wakeup_fd()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught")
            raise

    def remove_signal_handler(self, sig):
        """Restore ``sig``'s default handling; True if it had a handler here."""
        _check_signal(sig)
        if self._signal_handlers.pop(sig, None) is None:
            return False
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, default)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught")
            raise
        if not self._signal_handlers:
            _clear_wakeup_fd()
        return True

    def _handle_signal(self, signum):
        handle = self._signal_handlers.get(signum)
        if handle is not None:  # else removed since the signal arrived
            self._ready.append(handle)

    # ---- Errors: the exception handler

    def get_exception_handler(self):
        return self._exception_handler

    def set_exception_handler(self, handler):
        """``handler(loop, context)`` receives what call_exception_handler gets;
        None restores default_exception_handler."""
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context):
        """Log ``context`` to the "asyncio" logger: its message, then its other
        keys sorted, then the exception's traceback, in asyncio's format."""
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        exc_info = False
        if exception is not None:
            exc_info = (type(exception), exception, exception.__traceback__)
        handle = self._current_handle
        if "source_traceback" not in context and handle is not None and handle._source_traceback:
            context["handle_traceback"] = handle._source_traceback  # debug mode
        lines = [message]
        for key in sorted(context):
            if key not in ("message", "exception"):
                lines.append(f"{key}: {_format_context_value(key, context[key])}")
        logger.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context):
        """Report an error the loop caught (a callback that raised, a Task's
        exception never retrieved...): ``context`` holds "message" and maybe
        "exception", "future", "task", "handle", "transport", "socket"..."""
        if self._exception_handler is None:
            self._default_handler_guarded(context, "Exception in default exception handler")
            return
        # The handler runs in the contextvars context of what failed (a Task, a
        # callback's Handle from 3.12), as asyncio's does from 3.12 (gh-96704).
        subject = context.get("task") or context.get("future") or context.get("handle")
        get_context = getattr(subject, "get_context", None)
        try:
            if get_context is None:
                self._exception_handler(self, context)
            else:
                get_context().run(self._exception_handler, self, context)
        except _SYSTEM_EXITS:
            raise
        except BaseException as exc:
            self._default_handler_guarded(
                {"message": "Unhandled error in exception handler", "exception": exc,
                 "context": context},
                "Exception in default exception handler while handling an unexpected "
                "error in custom exception handler")

    def _default_handler_guarded(self, context, last_words):
        # A subclass may override default_exception_handler, and it may fail:
        # then only the logger is left. No error reported here stops the loop.
        try:
            self.default_exception_handler(context)
        except _SYSTEM_EXITS:
            raise
        except BaseException:
            logger.error(last_words, exc_info=True)

    # ---- Debug mode

    def get_debug(self):
        return self._debug

    def set_debug(self, enabled):
        """Debug mode: callback tracebacks, slow-callback warnings, thread checks,
        and where each coroutine never awaited was created."""
        self._debug = enabled
        if self.is_running():
            self.call_soon_threadsafe(self._track_coroutine_origins, enabled)

    def _track_coroutine_origins(self, enabled):
        # sys.set_coroutine_origin_tracking_depth makes "coroutine ... was never
        # awaited" say where it was created; the previous depth is restored after.
        if bool(enabled) == (self._saved_origin_depth is not None):
            return
        if enabled:
            self._saved_origin_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(constants.DEBUG_STACK_DEPTH)
        else:
            sys.set_coroutine_origin_tracking_depth(self._saved_origin_depth)
            self._saved_origin_depth = None

    # ---- Asynchronous generators

    def _asyncgen_firstiter_hook(self, agen):
        # run_forever installs this hook: an async generator's first step
        # registers it, so that shutdown_asyncgens can close it.
        if self._asyncgens_shutdown_called:
            warnings.warn(f"asynchronous generator {agen!r} was scheduled after "
                          f"loop.shutdown_asyncgens() call", ResourceWarning, source=self)
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen):
        # Called by the garbage collector, maybe in another thread: its aclose()
        # must run in the loop, as a Task.
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_asyncgens(self):
        """Close the async generators still suspended (their ``finally`` runs)."""
        self._asyncgens_shutdown_called = True
        closing = list(self._asyncgens)
        if not closing:
            return
        self._asyncgens.clear()
        results = await asyncio.gather(*[agen.aclose() for agen in closing],
                                       return_exceptions=True)
        for result, agen in zip(results, closing):
            if isinstance(result, Exception):
                self.call_exception_handler({
                    "message": "an error occurred during closing of "
                               f"asynchronous generator {agen!r}",
                    "exception": result,
                    "asyncgen": agen,
                })


def _try_operation(future, operation, args):
    # The reader or writer of a sock_* call that had to wait: retried on each
    # readiness until it does not block; a socket error goes to the Future.
    if future.done():  # cancelled: the unwatch is queued, but this fd event came first
        return
    try:
        result = operation(*args)
    except (BlockingIOError, InterruptedError):
        return  # a spurious wake-up: wait again
    except Exception as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _settle(future, error):
    # Unless the waiter gave up (a timeout cancelled the Future).
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _connect_result(sock, address):
    # A non-blocking connect has ended once the socket is writable; SO_ERROR
    # says how.
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err != 0:
        raise OSError(err, f"Connect call failed {address}")


def _format_handle(handle):
    # A Task's step is a Handle whose callback is a method of the Task: show the Task.
    owner = getattr(handle._callback, "__self__", None)
    return repr(owner) if asyncio.isfuture(owner) else str(handle)


def _format_context_value(key, value):
    # The two tracebacks of debug mode are printed as tracebacks, the rest as reprs.
    titles = {"source_traceback": "Object created at", "handle_traceback": "Handle created at"}
    if key not in titles:
        return repr(value)
    frames = "".join(traceback.format_list(value)).rstrip()
    return f"{titles[key]} (most recent call last):\n{frames}"


def _check_signal(sig):
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in signal.valid_signals():
        raise ValueError(f"invalid signal number {sig}")


def _ignore_signal(signum, frame):
    """The Python-level handler of the signals the loop handles: a no-op, since
    the wakeup fd has woken the loop already."""


def _clear_wakeup_fd():
    try:
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError) as exc:
        logger.info("set_wakeup_fd(-1) failed: %s", exc)

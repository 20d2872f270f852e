"""A task scheduler for generators: the operating system of PEP 342, in modern Python.

A task is a generator. Whatever it yields is a *system call*, a request the scheduler
answers by sending the answer back in (or throwing an exception in) when it can:

    def countdown(n):
        me = yield GetTid()
        while n:
            print(f"task {me}: {n}")
            yield Sleep(0.1)
            n -= 1
        return "liftoff"

    def main():
        tid = yield NewTask(countdown(3))
        print((yield WaitTask(tid)))        # "liftoff", once countdown has returned

    with Scheduler() as scheduler:
        scheduler.new(main())
        scheduler.run()                     # returns when no task can run anymore

The scheduler is a trampoline: every yield comes back to `Scheduler.run`, which
decides who runs next. Nested coroutines need no help from it: a task calls one with
``yield from``, which passes the system calls up and the return value (or exception)
back down.
"""
import heapq
import itertools
import logging
import math
import numbers
import selectors
import time
import types
from collections import deque

log = logging.getLogger("switchyard.scheduler")


class TaskKilled(Exception):
    """What the tasks waiting for a killed task receive instead of its result."""


class Task:
    """One generator driven by the scheduler, and what the scheduler owes it.

    A live task is in exactly one place at a time: running, in the ready queue, or
    parked (on a timer, a socket, or another task); ``unpark`` is set only while it
    is parked. A killed task may linger in the ready queue, to be skipped there.
    """

    __slots__ = ("tid", "target", "value", "error", "unpark", "waiters", "result", "exception")

    def __init__(self, tid, target):
        self.tid = tid  # the id system calls name the task by
        self.target = target  # the generator; None once the task has finished
        self.value = None  # what the next step sends into the generator
        self.error = None  # or the exception it throws in instead
        self.unpark = None  # takes the task off whatever it is parked on
        self.waiters = []  # tasks parked in WaitTask for this one
        self.result = None  # the return value, once finished
        self.exception = None  # or the exception that ended it


class Scheduler:
    """Runs tasks until none can run anymore; each yield is a system call to answer."""

    def __init__(self):
        # ---- Scheduler state
        self._tasks = {}  # tid -> Task, finished ones too: a late WaitTask gets the outcome
        self._ready = deque()  # Tasks ready to run, in the order they became ready
        self._sleeping = []  # heap of (deadline, sequence, Task) for Sleep
        self._sequence = itertools.count()  # breaks ties between equal deadlines, FIFO
        self._selector = selectors.DefaultSelector()  # sockets waited on; key.data: event -> Task
        self._ids = itertools.count(1)  # task ids, never reused
        self._clock = time.monotonic  # the clock of Sleep deadlines

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # ---- The life cycle of a task

    def new(self, target):
        """Make the generator `target` a task, ready to run; return its id."""
        if not isinstance(target, types.GeneratorType):
            raise TypeError(f"a task is a generator, got {target!r}")
        task = Task(next(self._ids), target)
        self._tasks[task.tid] = task
        self._ready.append(task)
        return task.tid

    def run(self, timeout=None):
        """Run tasks until none is ready and none waits for a timer or a socket.

        Tasks parked on each other (a cycle of WaitTask) cannot run, so they do not
        keep `run` going. With `timeout`, raise TimeoutError if tasks are still at work
        after that many seconds; they stay where they are, so `run` may be called
        again, or `close` may kill them.
        """
        deadline = math.inf if timeout is None else self._clock() + timeout
        ready = self._ready
        while ready or self._sleeping or self._selector.get_map():
            if self._clock() > deadline:
                raise TimeoutError(f"tasks still at work after {timeout} seconds")
            self._poll(self._poll_timeout(deadline))
            # Only the tasks ready now: one that keeps yielding must not starve the
            # sockets and timers, which get their poll before its next turn.
            for _ in range(len(ready)):
                self._step(ready.popleft())

    def close(self):
        """Kill the tasks still alive, so their finally blocks run, and release the selector."""
        for task in list(self._tasks.values()):
            if task.target is not None:
                self._kill(task)
        self._selector.close()

    def _step(self, task):
        # Run one task up to its next yield, and serve what it yielded.
        gen = task.target
        if gen is None:  # killed while it sat in the ready queue: lazily dropped here
            return
        try:
            call = gen.send(task.value) if task.error is None else gen.throw(task.error)
        except StopIteration as stop:
            self._finish(task, stop.value, None)
        except Exception as exc:
            log.error("Exception in task %d", task.tid, exc_info=True)
            self._finish(task, None, exc)
        else:
            self._answer(task, call)

    def _answer(self, task, call):
        # Serve a system call. Whatever goes wrong serving it (a bad argument, an
        # unknown task id) is thrown into the task that made it, nowhere else.
        if call is None:  # a plain yield: give way to the other ready tasks
            self._resume(task)
            return
        try:
            if not isinstance(call, SystemCall):
                raise TypeError(f"task {task.tid} yielded {call!r}, which is not a system call")
            call.handle(self, task)
        except Exception as exc:
            self._resume(task, error=exc)

    def _resume(self, task, value=None, error=None):
        # The one way into the ready queue: with the answer the next step delivers.
        task.value, task.error, task.unpark = value, error, None
        self._ready.append(task)

    def _finish(self, task, result, exception):
        # The task is over: keep its outcome and hand it to everyone waiting for it.
        task.target = None  # frees the generator and its frame
        task.result, task.exception = result, exception
        for waiter in task.waiters:
            self._resume(waiter, result, exception)

    def _kill(self, task):
        # Take the task off whatever it waits on first, so that a socket it closes
        # in a finally block is no longer registered; then GeneratorExit goes in.
        if task.unpark is not None:
            task.unpark()
        try:
            task.target.close()
        except Exception as exc:  # its cleanup raised, or it yielded instead of exiting
            log.error("Exception in task %d while it was killed", task.tid, exc_info=True)
            self._finish(task, None, exc)
        else:
            self._finish(task, None, TaskKilled(f"task {task.tid} was killed"))

    def _lookup(self, tid):
        # The task a system call names, with a clear error for a bad id.
        if not isinstance(tid, int):
            raise TypeError(f"a task id is an int, got {tid!r}")
        try:
            return self._tasks[tid]
        except KeyError:
            raise LookupError(f"no task with id {tid}") from None

    # ---- Timers and sockets

    def _poll_timeout(self, deadline):
        # How long the poll may block: not at all when tasks are ready, else until
        # the first timer or the deadline; forever (None) if only sockets are left.
        if self._ready:
            return 0
        wake = min(self._sleeping[0][0], deadline) if self._sleeping else deadline
        return None if wake == math.inf else max(wake - self._clock(), 0)

    def _poll(self, timeout):
        # Wait for sockets up to `timeout`, then make ready each task whose socket
        # or timer has come.
        for key, mask in self._selector.select(timeout):
            for event, task in list(key.data.items()):
                if mask & event:
                    self._remove_io(key.fileobj, event)
                    self._resume(task)
        sleeping, now = self._sleeping, self._clock()
        while sleeping and sleeping[0][0] <= now:
            self._resume(heapq.heappop(sleeping)[2])

    def _add_io(self, task, fileobj, event):
        # Park a task on a socket. One task may wait to read a socket while another
        # waits to write it, so a key's data maps each event to its task.
        selector = self._selector
        try:
            key = selector.get_key(fileobj)
        except KeyError:
            selector.register(fileobj, event, {event: task})
        else:
            if event in key.data:
                raise RuntimeError(f"task {key.data[event].tid} already waits for {fileobj!r}")
            key.data[event] = task
            selector.modify(fileobj, key.events | event, key.data)
        task.unpark = lambda: self._remove_io(fileobj, event)

    def _remove_io(self, fileobj, event):
        # Forget who waits for `event` on a socket: woken, or killed.
        key = self._selector.get_key(fileobj)
        del key.data[event]
        if key.data:
            self._selector.modify(fileobj, key.events & ~event, key.data)
        else:
            self._selector.unregister(fileobj)

    def _add_timer(self, task, seconds):
        # Park a task in the timer heap. A killed sleeper is removed at once, not
        # lazily: a dead entry would keep `run` waiting for nothing.
        entry = (self._clock() + seconds, next(self._sequence), task)
        heapq.heappush(self._sleeping, entry)
        task.unpark = lambda: self._remove_timer(entry)

    def _remove_timer(self, entry):
        # Unpark a killed sleeper: a linear search, then the heap is whole again.
        self._sleeping.remove(entry)
        heapq.heapify(self._sleeping)


# ---- System calls: what a task may yield


class SystemCall:
    """A request from a task. `handle` runs in the scheduler with the task that made
    it, and either answers at once (`Scheduler._resume`) or parks the task; an
    exception it raises is thrown into the task."""


class GetTid(SystemCall):
    """Answers the id of the task that asks."""

    def handle(self, scheduler, task):
        scheduler._resume(task, task.tid)


class NewTask(SystemCall):
    """Starts a generator as a new task; answers its id. It runs before the caller
    resumes, since it joins the ready queue first."""

    def __init__(self, target):
        self.target = target

    def handle(self, scheduler, task):
        scheduler._resume(task, scheduler.new(self.target))


class KillTask(SystemCall):
    """Throws GeneratorExit into a task, so its finally blocks run; answers True,
    or False if it had already finished. A task may kill itself."""

    def __init__(self, tid):
        self.tid = tid

    def handle(self, scheduler, task):
        victim = scheduler._lookup(self.tid)
        alive = victim.target is not None
        if alive:
            scheduler._kill(victim)
        scheduler._resume(task, alive)  # a task that killed itself is dropped by _step


class WaitTask(SystemCall):
    """Waits for a task to finish; answers its return value, or throws in the
    exception that ended it (TaskKilled if it was killed)."""

    def __init__(self, tid):
        self.tid = tid

    def handle(self, scheduler, task):
        other = scheduler._lookup(self.tid)
        if other is task:
            raise RuntimeError(f"task {task.tid} cannot wait for itself")
        if other.target is None:  # already over: its outcome was kept for this
            scheduler._resume(task, other.result, other.exception)
            return
        other.waiters.append(task)
        task.unpark = lambda: other.waiters.remove(task)


class Sleep(SystemCall):
    """Waits `seconds`; tasks whose deadlines are equal wake in the order they slept."""

    def __init__(self, seconds):
        self.seconds = seconds

    def handle(self, scheduler, task):
        if not isinstance(self.seconds, numbers.Real):
            raise TypeError(f"Sleep needs a number of seconds, got {self.seconds!r}")
        scheduler._add_timer(task, self.seconds)


class _SocketWait(SystemCall):
    # What ReadWait and WriteWait share; they differ in the event they wait for.
    event = None

    def __init__(self, fileobj):
        self.fileobj = fileobj

    def handle(self, scheduler, task):
        if not isinstance(self.fileobj, int) and not hasattr(self.fileobj, "fileno"):
            name = type(self).__name__
            raise TypeError(f"{name} needs a socket or a file descriptor, got {self.fileobj!r}")
        scheduler._add_io(task, self.fileobj, self.event)


class ReadWait(_SocketWait):
    """Waits until a socket (or any object with fileno(), or a file descriptor) is
    readable: a recv or an accept on it will not block."""

    event = selectors.EVENT_READ


class WriteWait(_SocketWait):
    """Waits until a socket is writable: a send on it will not block, a non-blocking
    connect has finished."""

    event = selectors.EVENT_WRITE

"""gevent's queues (``queue.py``): the stdlib's ``queue`` interface, between greenlets.

    q = Queue(maxsize=2)
    spawn(q.put, "a")          # would block on a full queue until a get() makes room
    q.get()                    # "a": blocks until the spawned greenlet has put it
    q.put(StopIteration)
    list(q)                    # iteration stops at the StopIteration class itself

Blocked greenlets wait in two lines, ``getters`` and ``putters``, oldest first. Whoever
changes the queue while someone waits schedules one loop callback, ``_unlock``, which
moves items from the blocked putters into the queue and wakes blocked getters, in
order, until neither can move. Since gevent 25.4.1, ``Queue`` is the joinable queue
(``task_done``/``join``), ``JoinableQueue`` its old name, and ``SimpleQueue`` the base.
"""
import collections
import heapq
import queue as _stdlib
import sys
import types
import warnings

from .exceptions import InvalidSwitchError
from .waiter import Waiter

Full = _stdlib.Full  # gevent raises the stdlib's own errors
Empty = _stdlib.Empty


class SimpleQueue:
    """A FIFO queue; ``maxsize`` None, 0 or negative means unbounded (0 warns: in
    gevent it once meant a channel)."""

    runtime = None  # the Runtime this class was bound to
    __class_getitem__ = classmethod(types.GenericAlias)  # SimpleQueue[int], as the stdlib's

    def __init__(self, maxsize=None, items=(), _warn_depth=2):
        if maxsize == 0:  # _warn_depth: the warning names the caller, through subclasses
            warnings.warn("Queue(0) now equivalent to Queue(None); if you want a channel, use Channel",
                          DeprecationWarning, stacklevel=_warn_depth)
        self.maxsize = maxsize  # through the setter below
        self.getters = collections.deque()  # Waiters of the greenlets blocked in get/peek
        self.putters = collections.deque()  # _ItemWaiters of the greenlets blocked in put
        self.hub = self.runtime.get_hub()  # as gevent: the hub of the thread that made it
        self._unlocking = None  # the scheduled call of _unlock, until it has returned
        if items:
            self._init(maxsize, items)
        else:  # a stdlib-style subclass defines _init(self, maxsize)
            self._init(maxsize)

    @property
    def maxsize(self):
        """The bound, or None."""
        return self._maxsize

    @maxsize.setter
    def maxsize(self, value):
        # As in gevent, greenlets blocked in put() are not woken when it grows.
        self._maxsize = value if value is not None and value > 0 else None

    # ---- The storage: the stdlib's bottleneck methods, which subclasses override

    def _init(self, maxsize, items=()):
        self.queue = collections.deque(items)

    def _qsize(self):
        return len(self.queue)

    def _put(self, item):
        self.queue.append(item)

    def _get(self):
        return self.queue.popleft()

    def _peek(self):
        return self.queue[0]

    def _enqueue(self, item):
        """Every item enters through here (Queue counts it as a task)."""
        self._put(item)

    # ---- Size

    def qsize(self):
        return self._qsize()

    def __len__(self):
        return self._qsize()

    def __bool__(self):
        return True  # as before queues had a length: true even when empty

    def empty(self):
        return not self._qsize()

    def full(self):
        """Only a bounded queue is ever full."""
        return self._maxsize is not None and self._qsize() >= self._maxsize

    # ---- Putting

    def put(self, item, block=True, timeout=None):
        """Put ``item``, waiting for room if the queue is full and ``block`` is true, at
        most ``timeout`` seconds; no room (in time): raise Full."""
        if not self.full():
            if block and timeout is not None and timeout < 0:  # as CPython, where there is room
                raise ValueError("'timeout' must be a non-negative number")
            self._enqueue(item)
            if self.getters:
                self._schedule_unlock()
            return
        if self.hub is self.runtime.getcurrent():
            self._put_in_hub(item)
        elif not block:
            raise Full
        else:
            self._wait_to_put(item, timeout)

    def put_nowait(self, item):
        self.put(item, False)

    def _wait_to_put(self, item, timeout):
        waiter = _ItemWaiter(self.hub, item)
        self.putters.append(waiter)
        try:
            with self.runtime.Timeout(timeout, Full):  # time is up: raise Full here
                if self.getters:
                    self._schedule_unlock()
                result = waiter.get()
        finally:
            _discard(self.putters, waiter)  # still there after a Timeout or a kill
        if result is not waiter:
            raise InvalidSwitchError(f"Invalid switch into Queue.put: {result!r}")

    def _put_in_hub(self, item):
        """The hub cannot wait: wake blocked getters to make room, else raise Full."""
        while self.getters and self.full():
            getter = self.getters.popleft()
            getter.switch(getter)  # it takes an item before it switches back
        if self.full():
            raise Full
        self._enqueue(item)

    # ---- Getting

    def get(self, block=True, timeout=None):
        """Remove and return the next item, waiting for one if the queue is empty and
        ``block`` is true, at most ``timeout`` seconds; none (in time): raise Empty."""
        if self._qsize():
            if self.putters:
                self._schedule_unlock()  # room for a blocked putter
            return self._get()
        return self._wait_for_item(self._get, block, timeout)

    def get_nowait(self):
        return self.get(False)

    def peek(self, block=True, timeout=None):
        """get() without removing the item."""
        if self._qsize():
            return self._peek()
        return self._wait_for_item(self._peek, block, timeout)

    def peek_nowait(self):
        return self.peek(False)

    def _wait_for_item(self, take, block, timeout):
        """get() or peek() on an empty queue: ``take`` once an item has come."""
        if block and timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        if self.hub is self.runtime.getcurrent():
            return self._take_in_hub(take)
        if not block:
            raise Empty
        waiter = Waiter(self.hub)
        self.getters.append(waiter)
        try:
            with self.runtime.Timeout(timeout, Empty):  # time is up: raise Empty here
                if self.putters:
                    self._schedule_unlock()
                result = waiter.get()
        finally:
            _discard(self.getters, waiter)
        if result is not waiter:
            raise InvalidSwitchError(f"Invalid switch into Queue.get: {result!r}")
        return take()

    def _take_in_hub(self, take):
        """The hub cannot wait: take an item from a blocked putter, else raise Empty."""
        while self.putters:
            self._admit(self.putters.popleft())
            if self._qsize():
                return take()
        raise Empty

    # ---- Waking the blocked: one callback at a time, in the hub

    def _schedule_unlock(self):
        # A loop callback is true until it has returned: one is enough, since it loops.
        if not self._unlocking:
            self._unlocking = self.hub.loop.run_callback(self._unlock)

    def _unlock(self):
        """Move items from blocked putters into the queue, and from the queue to blocked
        getters, oldest first, until neither can move. Each woken greenlet runs until it
        blocks again, then the hub comes back here."""
        while True:
            moved = False
            if self.putters and not self.full():
                self._admit(self.putters.popleft())
                moved = True
            if self.getters and self._qsize():
                getter = self.getters.popleft()
                getter.switch(getter)
                moved = True
            if not moved:
                return

    def _admit(self, putter):
        """Put a blocked putter's item, then wake it; an error of ``_put`` (a subclass's)
        is raised in the putter instead."""
        try:
            self._enqueue(putter.item)
        except BaseException:
            putter.throw(*sys.exc_info())
        else:
            putter.switch(putter)

    # ---- Iteration, copies, and how it shows

    def __iter__(self):
        return self

    def __next__(self):
        item = self.get()
        if item is StopIteration:  # the class itself, not an instance: gevent's marker
            raise item
        return item

    def copy(self):
        return type(self)(self.maxsize, self.queue)

    def __repr__(self):
        return f"<{type(self).__name__} at {id(self):#x}{self._format()}>"

    def __str__(self):
        return f"<{type(self).__name__}{self._format()}>"

    def _format(self):
        parts = [f"maxsize={self.maxsize!r}"] if self.maxsize is not None else []
        if self.queue:
            parts.append(f"queue={self.queue!r}")
        if self.getters:
            parts.append(f"getters[{len(self.getters)}]")
        if self.putters:
            parts.append(f"putters[{len(self.putters)}]")
        return "".join(" " + part for part in parts)


class Queue(SimpleQueue):
    """A SimpleQueue that counts unfinished tasks: every item put is one, until a
    consumer calls ``task_done()``; ``join()`` waits until none is left."""

    def __init__(self, maxsize=None, items=(), unfinished_tasks=None):
        super().__init__(maxsize, items, _warn_depth=3)
        self.unfinished_tasks = unfinished_tasks or self._qsize()  # items given count
        self._all_done = self.runtime.Event()  # set while no task is unfinished
        if not self.unfinished_tasks:
            self._all_done.set()

    def _enqueue(self, item):
        self._put(item)  # an error here counts nothing
        self.unfinished_tasks += 1
        self._all_done.clear()

    def task_done(self):
        """One task taken with get() is finished; ValueError if none is unfinished."""
        if self.unfinished_tasks <= 0:
            raise ValueError("task_done() called too many times")
        self.unfinished_tasks -= 1
        if self.unfinished_tasks == 0:
            self._all_done.set()

    def join(self, timeout=None):
        """Wait until every task is done (True), or ``timeout`` seconds (False)."""
        return self._all_done.wait(timeout)

    def copy(self):
        return type(self)(self.maxsize, self.queue, self.unfinished_tasks)

    def _format(self):
        tasks = f" tasks={self.unfinished_tasks}" if self.unfinished_tasks else ""
        return super()._format() + tasks


JoinableQueue = Queue  # its name before gevent 25.4.1


class PriorityQueue(Queue):
    """Lowest first: items are typically ``(priority, data)`` tuples; a heap."""

    def _init(self, maxsize, items=()):
        self.queue = list(items)
        heapq.heapify(self.queue)

    def _put(self, item):
        heapq.heappush(self.queue, item)

    def _get(self):
        return heapq.heappop(self.queue)


class LifoQueue(Queue):
    """Last in, first out: a stack."""

    def _init(self, maxsize, items=()):
        self.queue = list(items)

    def _get(self):
        return self.queue.pop()

    def _peek(self):
        return self.queue[-1]


class _ItemWaiter(Waiter):
    """The Waiter of a blocked putter, carrying the item it waits to put."""

    def __init__(self, hub, item):
        super().__init__(hub)
        self.item = item  # put into the queue by _admit, in the hub


def _discard(waiters, waiter):
    if waiter in waiters:  # _unlock may have taken it already
        waiters.remove(waiter)

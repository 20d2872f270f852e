"""gevent's ``ThreadPool`` (``threadpool.py``): blocking functions run on real OS
threads, while the greenlet that asked waits in the hub and the others run.

    pool = ThreadPool(4)
    pool.apply(time.sleep, (1,))         # this greenlet waits; the others run
    result = pool.spawn(sum, [1, 2, 3])  # an AsyncResult
    result.get()                         # 6, or the error sum raised, raised here

A task crosses threads twice. spawn(), in the hub's thread, puts it on a queue the
worker threads take from. A worker runs it, records the outcome and calls ``send()``
on the task's async watcher, the one call into a loop that is safe from another
thread: it wakes the loop, which runs the watcher's callback in the hub, and the
callback hands the outcome to the AsyncResult the caller waits on. Until then the
active watcher keeps the loop alive: the waiting greenlet gets no LoopExit.
"""
from _queue import SimpleQueue  # C: its get() blocks the OS thread, even once queue is patched

from .monkey import get_original

# A real OS thread, even once the thread patch makes _thread's start a greenlet.
start_new_thread = get_original("_thread", "start_new_thread")


class ThreadPool:
    runtime = None  # the Runtime this class was bound to

    def __init__(self, maxsize, hub=None):
        self.hub = hub if hub is not None else self.runtime.get_hub()  # whose loop hears of results
        self._tasks = SimpleQueue()  # tasks for the workers, in order; a None stops one worker
        self._workers = set()  # one token per live worker thread; each thread removes its own
        self._wanted = 0  # workers started minus workers told to stop: what size is heading for
        self._unfinished = 0  # tasks spawned whose outcome has not reached the hub yet
        self._slots = self.runtime.Semaphore(0)  # a count per task that may start now
        self._maxsize = 0  # set through the property below, which checks it
        self.maxsize = maxsize

    @property
    def maxsize(self):
        """The most worker threads, and the most tasks in flight: spawn() waits for a
        free slot beyond. (gevent's semaphore starts at one, and lets maxsize + 1 in.)"""
        return self._maxsize

    @maxsize.setter
    def maxsize(self, maxsize):
        if not isinstance(maxsize, int):
            raise TypeError(f"maxsize must be integer: {maxsize!r}")
        if maxsize < 0:
            raise ValueError(f"maxsize must not be negative: {maxsize!r}")
        for _ in range(maxsize - self._maxsize):
            self._slots.release()  # each may wake a spawn() that waits
        self._slots.counter -= max(self._maxsize - maxsize, 0)  # below 0 while too many run
        self._maxsize = maxsize
        self._stop_workers(self._wanted - maxsize)  # they finish the tasks queued first

    @property
    def size(self):
        """The worker threads alive. Setting it starts workers, or stops some and
        waits, in this greenlet, until they have finished the tasks queued and exited."""
        return len(self._workers)

    @size.setter
    def size(self, size):
        if size < 0:
            raise ValueError(f"Size of the pool cannot be negative: {size!r}")
        if size > self._maxsize:
            raise ValueError(f"Size of the pool cannot be bigger than maxsize: {size!r} > {self._maxsize!r}")
        while self._wanted < size:
            self._start_worker()
        self._stop_workers(self._wanted - size)
        self._sleep_until(lambda: len(self._workers) <= self._wanted)

    def __len__(self):
        """The tasks not yet finished (so a pool is false when idle, as gevent's is)."""
        return self._unfinished

    def __repr__(self):
        return (f"<{type(self).__name__} at {id(self):#x} tasks={len(self)} size={self.size} "
                f"maxsize={self.maxsize}>")

    # ---- Running a call on a worker

    def spawn(self, func, *args, **kwargs):
        """Run ``func(*args, **kwargs)`` on a worker thread; return an AsyncResult of
        its value or error. Waits while ``maxsize`` tasks are in flight; starts a
        worker if every one is busy. Only from the hub's thread: the loop's watchers
        may only be made there."""
        self._slots.acquire()
        try:
            if self._wanted < min(self._unfinished + 1, self._maxsize):
                self._start_worker()
        except BaseException:  # no thread could be started: give the slot back
            self._slots.release()
            raise
        task = _Task(self, func, args, kwargs)
        self._unfinished += 1
        self._tasks.put(task)
        return task.result

    def _finished(self):
        """In the hub, as a task's outcome arrives: its slot is free."""
        self._unfinished -= 1
        self._slots.release()

    def apply(self, func, args=None, kwds=None):
        """Call ``func(*args, **kwds)`` on a worker: return what it returns, raise what it
        raises. Called in any other thread (a worker's own task, say), it calls ``func``
        right there: that thread has no hub to wait in (gevent's ``_apply_immediately``)."""
        args, kwds = args or (), kwds or {}
        if not self._in_hub_thread():
            return func(*args, **kwds)
        return self.spawn(func, *args, **kwds).get()

    def apply_cb(self, func, args=None, kwds=None, callback=None):
        """apply(), then ``callback(value)`` in this greenlet if a callback is given."""
        value = self.apply(func, args, kwds)
        if callback is not None:
            callback(value)
        return value

    def apply_async(self, func, args=None, kwds=None, callback=None):
        """A greenlet running apply_cb(), returned at once: never waits for a slot."""
        return self.runtime.spawn(self.apply_cb, func, args, kwds, callback)

    def map(self, func, iterable):
        """``[func(item) for item in iterable]``, the calls spread over the workers."""
        return [result.get() for result in [self.spawn(func, item) for item in iterable]]

    def imap(self, func, *iterables):
        """``func(*args)`` for each ``args`` of ``zip(*iterables)``, all spawned now;
        an iterator of the values, in order."""
        results = [self.spawn(func, *args) for args in zip(*iterables)]
        return (result.get() for result in results)

    def join(self):
        """Wait until every task spawned has finished."""
        self._sleep_until(lambda: not self._unfinished)

    def kill(self):
        """Stop every worker, once the tasks queued have run, and wait until they have
        exited. A later spawn() starts workers again."""
        self.size = 0

    # ---- The workers: OS threads, started on demand, stopped by a None

    def _start_worker(self):
        token = object()  # in _workers before the thread runs: size counts it at once
        self._workers.add(token)
        try:
            start_new_thread(self._work, (token,))
        except BaseException:
            self._workers.discard(token)
            raise
        self._wanted += 1

    def _stop_workers(self, count):
        """Queue ``count`` Nones: whichever workers take them exit, after the tasks
        queued before them."""
        for _ in range(count):
            self._tasks.put(None)
            self._wanted -= 1

    def _work(self, token):
        """A worker thread's whole life. It touches nothing of the hub's but the
        tasks' async watchers, through send(); set operations are atomic under the GIL."""
        try:
            for task in iter(self._tasks.get, None):
                task.run()
        finally:
            self._workers.discard(token)

    # ---- Helpers

    def _in_hub_thread(self):
        """Whether the caller runs in the hub's thread: its root greenlet is the
        thread's main greenlet, the hub's parent (as ``Runtime.get_hub`` finds hubs;
        not a thread id: the threaded greenlet model runs each greenlet on its own)."""
        root = self.runtime.getcurrent()
        while root.parent is not None:
            root = root.parent
        return root is self.hub.parent

    def _sleep_until(self, condition):
        """Sleep until ``condition()``, looking again at growing intervals: the worker
        threads end, and the hub delivers, without telling anyone (gevent polls too)."""
        delay = 0.0005
        while not condition():
            self.runtime.sleep(delay)
            delay = min(delay * 2, 0.05)


class _Task:
    """One call, from spawn() to a worker and back: the worker fills in the outcome
    and sends the async watcher; the loop then runs ``_deliver`` in the hub."""

    def __init__(self, pool, func, args, kwargs):
        self.pool = pool
        self.call = (func, args, kwargs)  # dropped once called
        self.value = self.error = None  # the outcome, written by the worker
        self.result = pool.runtime.AsyncResult()  # what the caller waits on
        self.done = pool.hub.loop.async_()  # active until delivered: the loop stays alive
        self.done.start(self._deliver)

    def run(self):
        """In a worker thread. Whatever ``func`` raises goes back to the caller."""
        func, args, kwargs = self.call
        self.call = None
        try:
            self.value = func(*args, **kwargs)
        except BaseException as error:
            self.error = error
        self.done.send()  # last: from here on the hub may be reading this task

    def _deliver(self):
        """In the hub. Unlike gevent, the error is not also printed through
        ``hub.handle_error``: it is raised where the result is read, and a failed name
        lookup is no bug to report."""
        self.done.close()
        self.pool._finished()
        if self.error is None:
            self.result.set(self.value)
        else:
            self.result.set_exception(self.error)
        self.value = self.error = None  # the worker holds this task until its next one

"""gevent's ``Group`` and ``Pool`` (``pool.py``, with the iterators of ``_imap.py``).

    group = Group()
    group.spawn(fetch, url)          # tracked until it ends
    group.join()                     # until the group is empty

    pool = Pool(10)                  # at most ten at once:
    pool.map(fetch, urls)            # spawn blocks while ten run
    for page in pool.imap_unordered(fetch, urls): ...   # as they finish

A Group is a set of running tasks: each one is linked to the group, which forgets it
when it ends, and an Event is set whenever the set is empty. A Pool is a Group whose
``add`` first takes one count of a Semaphore of ``size``, given back by each end.
"""
import functools

from .queue import Full


class PoolFull(Full):
    """A Pool had no place for one more task in time (or at once, not blocking)."""


class Group:
    runtime = None  # the Runtime this class was bound to
    greenlet_class = None  # what spawn makes: the Runtime sets its Greenlet

    def __init__(self, greenlets=()):
        self.greenlets = set()  # the tasks still running, in no order
        self.dying = set()  # those kill() has raised GreenletExit in: not raised in twice
        self._empty = self.runtime.Event()  # set whenever no task is in the group
        self._empty.set()
        for greenlet in greenlets:
            self.add(greenlet)

    # ---- Membership: a task is in from add() until it ends or is discarded

    def add(self, greenlet):
        """Track ``greenlet``: it leaves the group by itself when it ends."""
        greenlet.rawlink(self._discard)
        self.greenlets.add(greenlet)
        self._empty.clear()

    def _discard(self, greenlet):
        self.greenlets.discard(greenlet)
        self.dying.discard(greenlet)
        if not self.greenlets:
            self._empty.set()

    def discard(self, greenlet):
        """Stop tracking ``greenlet``, which runs on."""
        self._discard(greenlet)
        greenlet.unlink(self._discard)

    def start(self, greenlet):
        """Add a task not yet started, then start it."""
        self.add(greenlet)
        greenlet.start()

    def spawn(self, *args, **kwargs):
        """Make a task of ``greenlet_class`` with these arguments, add it, start it."""
        greenlet = self.greenlet_class(*args, **kwargs)
        self.start(greenlet)
        return greenlet

    def __len__(self):
        return len(self.greenlets)  # so an empty group is false

    def __contains__(self, greenlet):
        return greenlet in self.greenlets

    def __iter__(self):
        return iter(self.greenlets)

    def full(self):
        """A Group has no bound: never full."""
        return False

    def wait_available(self, timeout=None):
        """A Group has no bound: returns at once."""

    # ---- Waiting for the tasks, and ending them

    def join(self, timeout=None, raise_error=False):
        """Wait until the group is empty (True) or ``timeout`` seconds pass (False).
        With ``raise_error``, then raise the error of a task that was in the group
        when join began, if one failed."""
        greenlets = list(self.greenlets) if raise_error else ()
        emptied = self._empty.wait(timeout)
        for greenlet in greenlets:
            if greenlet.exception is not None:
                raise greenlet.exception
        return emptied

    def kill(self, exception=None, block=True, timeout=None):
        """Kill every task (GreenletExit, or ``exception``), including those added
        meanwhile; if ``block``, wait until the group is empty, at most ``timeout``."""
        with self.runtime.Timeout(timeout, False):  # time is up: stop waiting, silently
            while self.greenlets:
                for greenlet in list(self.greenlets):
                    if greenlet not in self.dying:
                        greenlet.kill(exception, block=False)
                        self.dying.add(greenlet)
                if not block:
                    break
                self.runtime.joinall(self.greenlets)

    def killone(self, greenlet, exception=None, block=True, timeout=None):
        """Kill ``greenlet`` if it is in the group and not already being killed."""
        if greenlet not in self.dying and greenlet in self.greenlets:
            greenlet.kill(exception, block=False)
            self.dying.add(greenlet)
            if block:
                greenlet.join(timeout)

    # ---- Running functions in the group: apply and map, as multiprocessing.Pool's

    def apply(self, func, args=None, kwds=None):
        """``func(*args, **kwds)`` in a task of the group; wait and return its value (or
        raise its error). From one of the group's own tasks, call it directly: waiting
        for a place the caller itself holds could wait forever."""
        args, kwds = args or (), kwds or {}
        if self.runtime.getcurrent() in self:
            return func(*args, **kwds)
        return self.spawn(func, *args, **kwds).get()

    def apply_async(self, func, args=None, kwds=None, callback=None):
        """apply() without waiting: return the task; ``callback(value)`` runs if it
        succeeds. Never blocks: when the group is full, a task outside it waits instead."""
        args, kwds = args or (), kwds or {}
        if self.full():
            return self.runtime.spawn(self.apply_cb, func, args, kwds, callback)
        task = self.spawn(func, *args, **kwds)
        if callback is not None:
            task.link(_pass_value(callback))
        return task

    def apply_cb(self, func, args=None, kwds=None, callback=None):
        """apply(), then ``callback(value)`` in a greenlet of its own."""
        result = self.apply(func, args, kwds)
        if callback is not None:
            self.runtime.spawn(callback, result)
        return result

    def map(self, func, iterable):
        """``[func(item) for item in iterable]``, each call in a task of the group."""
        tasks = [self.spawn(func, item) for item in iterable]
        return [task.get() for task in tasks]

    def map_async(self, func, iterable, callback=None):
        """map() in a task outside the group; ``callback(results)`` at the end."""
        return self.runtime.spawn(self.map_cb, func, iterable, callback)

    def map_cb(self, func, iterable, callback=None):
        result = self.map(func, iterable)
        if callback is not None:
            callback(result)
        return result

    def imap(self, func, *iterables, maxsize=None):
        """An iterator of ``func(*args)`` over the zipped ``iterables``, in their order,
        each call in a task of the group. ``maxsize``: at most that many results may
        wait unread before the calls stop being spawned."""
        return IMap(self, func, zip(*iterables), maxsize)

    def imap_unordered(self, func, *iterables, maxsize=None):
        """imap(), but each result as soon as its call ends."""
        return IMapUnordered(self, func, zip(*iterables), maxsize)

    def __repr__(self):
        return f"<{type(self).__name__} at {id(self):#x} {self.greenlets}>"


class Pool(Group):
    """A Group of at most ``size`` tasks: adding one more waits for a place. ``size``
    None: no bound; 0: no place ever (only wait_available with a timeout makes sense)."""

    def __init__(self, size=None, greenlet_class=None):
        if size is not None and size < 0:
            raise ValueError(f"size must not be negative: {size!r}")
        super().__init__()
        self.size = size  # the most tasks at once, or None
        if greenlet_class is not None:
            self.greenlet_class = greenlet_class
        # One count per place; a Dummy one never blocks.
        self._semaphore = self.runtime.DummySemaphore() if size is None else self.runtime.Semaphore(size)

    def add(self, greenlet, blocking=True, timeout=None):
        """Take a place for ``greenlet``, waiting for one if ``blocking``, at most
        ``timeout`` seconds; no place (in time): raise PoolFull."""
        if not self._semaphore.acquire(blocking, timeout):
            raise PoolFull()
        super().add(greenlet)

    def start(self, greenlet, blocking=True, timeout=None):
        self.add(greenlet, blocking, timeout)
        greenlet.start()

    def _discard(self, greenlet):
        if greenlet in self.greenlets:
            # Its place, given back once: gevent releases at every call, so discarding
            # a task that already ended would make one place too many.
            self._semaphore.release()
        super()._discard(greenlet)

    def full(self):
        return self.free_count() <= 0

    def free_count(self):
        """How many tasks could be added now without waiting (1 if unbounded)."""
        if self.size is None:
            return 1
        return max(0, self.size - len(self))

    def wait_available(self, timeout=None):
        """Wait until a place is free, at most ``timeout`` seconds; return how many are."""
        return self._semaphore.wait(timeout)


def _pass_value(callback):
    """A link that calls ``callback(value)`` if the task succeeded."""

    def link(task):
        if task.successful():
            callback(task.value)

    return link


# ---- The iterators of imap: a feeder task spawns the calls, each result is queued


class _Failure:
    """An error travelling through the results queue: a call's, the iterable's, or
    StopIteration, the end."""

    def __init__(self, error):
        self.error = error


class IMapUnordered:
    """What ``imap_unordered`` returns. A feeder task spawns each call in the group
    (waiting while a Pool is full); a link on each call queues its outcome; the
    iterator reads the queue. The end is a queued StopIteration, once the feeder has
    spawned everything and every call has ended."""

    def __init__(self, group, func, iterable, maxsize=None):
        runtime = group.runtime
        self._results = runtime.SimpleQueue()  # outcomes, as _add queues them
        # maxsize: one count per result that may wait unread; each read gives one back.
        self._allowance = runtime.Semaphore(maxsize) if maxsize else None
        self._spawned = 0  # calls spawned so far, which is the next one's index
        self._running = 0  # calls spawned and not yet ended
        self._all_spawned = False  # the feeder has reached the end of the iterable
        runtime.spawn(self._feed, group.spawn, func, iterable)

    def __iter__(self):
        return self

    def __next__(self):
        if self._allowance is not None:
            self._allowance.release()
        outcome = self._next_outcome()
        if isinstance(outcome, _Failure):
            raise outcome.error
        return outcome

    def _next_outcome(self):
        return self._results.get()

    def _add(self, index, outcome):
        self._results.put(outcome)  # unbounded: never blocks, also from the hub

    def _feed(self, spawn, func, iterable):
        try:
            for args in iterable:
                if self._allowance is not None:
                    self._allowance.acquire()
                task = spawn(func, *args)
                task.rawlink(functools.partial(self._on_result, self._spawned))
                self._spawned += 1
                self._running += 1
        except BaseException as error:  # the iterable, or spawn, failed: the reader gets it
            self._add(self._spawned, _Failure(error))
            return
        self._all_spawned = True
        self._end_if_done()

    def _on_result(self, index, task):
        """In the hub, as a link: queue the outcome of call ``index``."""
        self._running -= 1
        self._add(index, task.value if task.successful() else _Failure(task.exception))
        self._end_if_done()

    def _end_if_done(self):
        if self._all_spawned and not self._running:
            self._add(self._spawned, _Failure(StopIteration()))


class IMap(IMapUnordered):
    """What ``imap`` returns: the same, but each outcome is queued with its index, and
    those that arrive before their turn wait in a dict."""

    def __init__(self, *args, **kwargs):
        self._early = {}  # index -> outcome that came before its turn
        self._index = 0  # the index of the next outcome to return
        super().__init__(*args, **kwargs)

    def _add(self, index, outcome):
        self._results.put((index, outcome))

    def _next_outcome(self):
        while self._index not in self._early:
            index, outcome = self._results.get()
            self._early[index] = outcome
        outcome = self._early.pop(self._index)
        self._index += 1
        return outcome

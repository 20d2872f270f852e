"""gevent's ``Greenlet`` (``greenlet.py``): a greenlet that runs under the hub and
keeps its outcome, so that others can join it, kill it and be told when it ends.

    g = Greenlet.spawn(int, "42")   # scheduled: it runs when the spawner blocks
    g.join()
    g.value, g.exception, g.ready(), g.successful()   # 42, None, True, True

A mixin, like ``Hub``: ``Runtime`` puts it in front of its greenlet class, whose
``switch``, ``throw``, ``parent`` and ``dead`` it uses.
"""
import sys

from .waiter import Waiter

_PENDING = object()  # the task has not finished


class Greenlet:
    runtime = None  # the Runtime this class was bound to

    def __init__(self, run=None, *args, **kwargs):
        # gevent overrides greenlet's run method; we give ours as the run argument,
        # which every greenlet implementation honours. The hub is the parent.
        if run is not None and not callable(run):
            raise TypeError("The run argument or self._run must be callable")  # gevent's words
        super().__init__(self._main, self.runtime.get_hub())
        self._function = run  # what to run (gevent calls it _run, a name ours avoid)
        self.args = args  # its arguments
        self.kwargs = kwargs
        self.value = None  # what it returned, or the GreenletExit that killed it
        self._exception = _PENDING  # _PENDING, then None or the error it raised
        self._links = []  # callables to call with self, in the hub, when it ends
        self._notifier = None  # the scheduled call of _notify_links, while pending
        self._start = None  # the run_callback that switches here the first time
        self._started = False  # it has begun to run
        self._cancelled = False  # killed before it began: it never will

    @classmethod
    def spawn(cls, *args, **kwargs):
        """Create and start: ``spawn(f, *args)`` runs ``f(*args)`` soon."""
        task = cls(*args, **kwargs)
        task.start()
        return task

    def start(self):
        """Schedule the first switch here through ``run_callback``, as gevent does:
        nothing runs until the current greenlet blocks and the hub runs callbacks."""
        if self._start is None and not self._cancelled:  # killed before it began: never
            self._start = self.parent.loop.run_callback(self.switch)

    # ---- The run: record the outcome, then tell the links

    def _main(self):
        self._started = True
        try:
            result = None if self._function is None else self._function(*self.args, **self.kwargs)
        except BaseException as error:  # GreenletExit too: a kill ends it normally
            self._report_error(error)
        else:
            self._finish(result, None)
        finally:
            self._function, self.args, self.kwargs = None, (), {}  # let them go now

    def _report_error(self, error):
        if isinstance(error, self.runtime.GreenletExit):
            self._finish(error, None)  # killed: gevent counts that as a success
            return
        self._finish(None, error)
        self.parent.handle_error(self, type(error), error, error.__traceback__)

    def _finish(self, value, exception):
        self.value, self._exception = value, exception
        self._schedule_links()

    def _schedule_links(self):
        if self._links and self._notifier is None:
            self._notifier = self.parent.loop.run_callback(self._notify_links)

    def _notify_links(self):
        # A link may add or remove links: pop them one at a time (gevent does too).
        while self._links:
            link = self._links.pop(0)
            try:
                link(self)
            except BaseException:  # a link must not take the hub down
                self.parent.handle_error((link, self), *sys.exc_info())
        self._notifier = None

    # ---- The outcome

    @property
    def exception(self):
        """The error it raised, or None (also while it runs)."""
        return None if self._exception is _PENDING else self._exception

    def ready(self):
        """It has finished: returned, raised, or was killed."""
        return self._exception is not _PENDING

    def successful(self):
        """It has finished without an error (a kill is not an error)."""
        return self._exception is None

    @property
    def dead(self):
        """It will not run again: finished, or killed before it could begin."""
        return self._cancelled or super().dead

    def __bool__(self):
        """True from ``start()`` until it finishes: scheduled or running (greenlet's
        truth is "running" only, false before the first switch)."""
        return self._start is not None and not self.ready()

    # ---- Links: callables told when it ends

    def rawlink(self, callback):
        """Call ``callback(self)`` in the hub when it ends (at once, if it has)."""
        if not callable(callback):
            raise TypeError(f"Expected callable: {callback!r}")
        self._links.append(callback)
        if self.ready():
            self._schedule_links()

    def link(self, callback):
        """Like rawlink, but the callback runs in a greenlet of its own, so it may
        block (gevent's ``SpawnedLink``)."""
        if not callable(callback):
            raise TypeError(f"Expected callable: {callback!r}")
        self.rawlink(_SpawnedLink(callback, self.runtime.greenlet.greenlet))

    def unlink(self, callback):
        """Forget a callback given to link or rawlink; no error if it is not there."""
        if callback in self._links:
            self._links.remove(callback)

    # ---- Waiting for it, and ending it

    def join(self, timeout=None):
        """Wait until it ends, or ``timeout`` seconds; return None either way."""
        if not self.ready():
            with self.runtime.Timeout(timeout, False):  # False: expire silently
                self._wait()

    def get(self, block=True, timeout=None):
        """Its value once it ends, or raise the error it raised. If it has not ended
        when ``block`` is false, or after ``timeout`` seconds, raise Timeout."""
        if not self.ready():
            if not block:
                raise self.runtime.Timeout()
            with self.runtime.Timeout(timeout):  # expires by raising itself, here
                self._wait()
        if self.exception is not None:
            raise self.exception
        return self.value

    def _wait(self):
        current = self.runtime.getcurrent()
        if current is self:
            # gevent would wait forever here; threading.Thread.join raises too.
            raise RuntimeError("cannot join a greenlet from inside itself")
        self.rawlink(current.switch)
        try:
            self.parent.switch()
        finally:
            self.unlink(current.switch)

    def kill(self, exception=None, block=True, timeout=None):
        """Raise ``exception`` (GreenletExit by default) in it and, if ``block``, wait
        for it to end. A task that has not begun never will; a finished one is left
        alone (gevent's ``kill``)."""
        if exception is None:
            exception = self.runtime.GreenletExit
        if self.ready():
            return
        if not self._started:
            self._kill_before_start(exception)
            return
        waiter = Waiter(self.parent) if block else None
        self.parent.loop.run_callback(_kill, self, exception, waiter)
        if waiter is not None:
            waiter.get()
            self.join(timeout)

    def _kill_before_start(self, exception):
        if self._start is not None:
            self._start.stop()
        self._cancelled = True
        self._report_error(exception() if isinstance(exception, type) else exception)


def _kill(task, exception, waiter):
    """In the hub: throw into the task; it runs until it blocks again or ends."""
    try:
        if not task.dead:
            task.throw(exception)
    except BaseException:
        task.parent.handle_error(task, *sys.exc_info())
    if waiter is not None:
        waiter.switch(None)


class _SpawnedLink:
    """A link that runs its callback in a new greenlet, child of the hub."""

    def __init__(self, callback, greenlet_class):
        self.callback = callback  # what the user linked
        self.greenlet_class = greenlet_class  # the runtime's raw greenlet

    def __call__(self, task):
        self.greenlet_class(self.callback, task.parent).switch(task)

    def __eq__(self, other):  # so that unlink(callback) finds it
        return self.callback == getattr(other, "callback", other)

    __hash__ = None

"""gevent's ``Greenlet`` (``greenlet.py``): a greenlet that runs under the hub and
keeps its outcome, so that others can join it, kill it and be told when it ends.

    g = Greenlet.spawn(int, "42")   # scheduled: it runs when the spawner blocks
    g.join()
    g.value, g.exception, g.ready(), g.successful()   # 42, None, True, True

    class Job(Greenlet):            # or a subclass that defines _run
        def _run(self):
            return 42

A mixin, like ``Hub``: ``Runtime`` puts it in front of its greenlet class, whose
``switch``, ``throw``, ``parent``, ``dead`` and ``gr_frame`` it uses. Each task also
records who spawned it and where, for ``format_run_info`` (util.py).
"""
import functools
import sys
import weakref

from .exceptions import InvalidSwitchError
from .util import env_flag
from .waiter import Waiter

_PENDING = object()  # the task has not finished

# gevent's GEVENT_TRACK_GREENLET_TREE: false makes a spawn cheaper, and the spawn tree
# (spawning_greenlet, spawning_stack, spawn_tree_locals) None.
TRACK_GREENLET_TREE = env_flag("GEVENT_TRACK_GREENLET_TREE", True)


class Greenlet:
    runtime = None  # the Runtime this class was bound to
    spawning_stack_limit = 10  # how many frames of the spawner's stack to keep (gevent's)

    def __init__(self, run=None, *args, **kwargs):
        # gevent overrides greenlet's run method; we give ours as the run argument,
        # which every greenlet implementation honours. The hub is the parent.
        super().__init__(self._main, self.runtime.get_hub())
        if run is not None:
            self._run = run  # what to run: it hides the class's _run, as in gevent
        if not callable(self._run):
            raise TypeError("The run argument or self._run must be callable")  # gevent's words
        self.args = args  # its arguments
        self.kwargs = kwargs
        self.value = None  # what it returned, or the GreenletExit that killed it
        self._exception = _PENDING  # _PENDING, then None or the error it raised
        self._links = []  # callables to call with self, in the hub, when it ends
        self._notifier = None  # the scheduled call of _notify_links, while pending
        self._start = None  # the callback or timer that switches here the first time
        self._started = False  # it has begun to run
        self._cancelled = False  # killed before it began: it never will
        self._spawned_at = None  # where: (code, line) of the spawner's frames, newest first
        if TRACK_GREENLET_TREE:
            _track_spawner(self, self.runtime.getcurrent())
            self._spawned_at = _spawner_lines(self.spawning_stack_limit)

    @property
    def spawning_stack(self):
        """Where it was spawned, as frames that ``traceback.format_stack`` reads, the
        newest first; None if not recorded. Made when read: a spawn only copies pairs."""
        stack = None
        for code, lineno in reversed(self._spawned_at or ()):  # the oldest first
            stack = _Frame(code, lineno, stack)
        return stack

    def _run(self):
        """What a task made without a run argument runs: nothing. A subclass defines
        its own, which takes the arguments given to the constructor."""
        return None

    @classmethod
    def spawn(cls, *args, **kwargs):
        """Create and start: ``spawn(f, *args)`` runs ``f(*args)`` soon."""
        task = cls(*args, **kwargs)
        task.start()
        return task

    @classmethod
    def spawn_later(cls, seconds, *args, **kwargs):
        """Create, and start ``seconds`` from now: ``spawn_later(1, f, x)``."""
        if cls is cls.runtime.Greenlet and not args and "run" not in kwargs:
            raise TypeError("")  # gevent's, empty: nothing to run, and no subclass's _run
        task = cls(*args, **kwargs)
        task.start_later(seconds)
        return task

    def start(self):
        """Schedule the first switch here through ``run_callback``, as gevent does:
        nothing runs until the current greenlet blocks and the hub runs callbacks."""
        if self._start is None and not self._cancelled:  # killed before it began: never
            self._start = self.parent.loop.run_callback(self.switch)

    def start_later(self, seconds):
        """Schedule the first switch here on a timer, ``seconds`` from now."""
        if self._start is None and not self._cancelled:
            self._start = self.parent.loop.timer(seconds)
            self._start.start(self.switch)

    # ---- The run: record the outcome, then tell the links

    def _main(self):
        self._started = True
        try:
            result = self._run(*self.args, **self.kwargs)
        except BaseException as error:  # GreenletExit too: a kill ends it normally
            self._report_error(error)
        else:
            self._finish(result, None)
        finally:
            self._free()

    def _free(self):
        # Let the function and its arguments go now, not when the task is collected.
        self.__dict__.pop("_run", None)  # the class's _run shows again, as in gevent
        self.args, self.kwargs = (), {}

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

    def __repr__(self):
        """gevent's: ``<Greenlet at 0x7f...: fetch('http://...', timeout=5)>``."""
        return f"<{type(self).__name__} at {hex(id(self))}: {self._formatinfo()}>"

    def _formatinfo(self):
        # What it runs, named as gevent names it: a subclass's own _run is "_run".
        function = self._run
        owner = getattr(function, "__self__", None)
        if owner is self:
            name = "_run"
        elif owner is not None:
            name = repr(function)
        else:
            name = getattr(function, "__name__", "") or repr(function)
        args = [repr(arg)[:50] for arg in self.args]
        args += [f"{key}={repr(value)[:50]}" for key, value in self.kwargs.items()]
        return f"{name}({', '.join(args)})" if args else name

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
                self._wait("join")

    def get(self, block=True, timeout=None):
        """Its value once it ends, or raise the error it raised. If it has not ended
        when ``block`` is false, or after ``timeout`` seconds, raise Timeout."""
        if not self.ready():
            if not block:
                raise self.runtime.Timeout()
            with self.runtime.Timeout(timeout):  # expires by raising itself, here
                self._wait("get")
        if self.exception is not None:
            raise self.exception
        return self.value

    def _wait(self, method):
        current = self.runtime.getcurrent()
        if current is self:
            # gevent would wait forever here; threading.Thread.join raises too.
            raise RuntimeError("cannot join a greenlet from inside itself")
        self.rawlink(current.switch)
        try:
            result = self.parent.switch()
        finally:
            self.unlink(current.switch)
        if result is not self:  # only our end may wake us: anything else is a stray switch
            raise InvalidSwitchError(f"Invalid switch into Greenlet.{method}(): {result!r}")

    def kill(self, exception=None, block=True, timeout=None):
        """Raise ``exception`` (GreenletExit by default) in it and, if ``block``, wait
        for it to end. A task that has not begun never will; a finished one is left
        alone (gevent's ``kill``)."""
        if exception is None:
            exception = self.runtime.GreenletExit
        if self._end_before_start(exception):
            return
        waiter = Waiter(self.parent) if block else None
        self.parent.loop.run_callback(_throw_into_each, [self], exception, waiter)
        if waiter is not None:
            waiter.get()
            self.join(timeout)

    def _end_before_start(self, exception):
        """True if there is nothing to throw into: it has ended, or it had not begun
        and now never will (its links are told it was killed). kill and killall ask."""
        if self.ready():
            return True
        if self._started:
            return False
        if self._start is not None:
            self._start.stop()
        self._cancelled = True
        self._free()
        self._report_error(exception() if isinstance(exception, type) else exception)
        return True


# ---- Ending many at once, and greenlets without a task around them


def killall(runtime, greenlets, exception=None, block=True, timeout=None):
    """Raise ``exception`` (GreenletExit by default) in every greenlet, all from one
    callback of the hub (gevent's ``killall``). Tasks that have not begun never will.
    With ``block``, wait until all have ended; raise Timeout after ``timeout`` seconds."""
    if exception is None:
        exception = runtime.GreenletExit
    alive = [greenlet for greenlet in greenlets
             if not (isinstance(greenlet, Greenlet) and greenlet._end_before_start(exception))]
    if not alive:
        return
    hub = runtime.get_hub()
    waiter = Waiter(hub) if block else None
    hub.loop.run_callback(_throw_into_each, alive, exception, waiter)
    if waiter is not None:
        with runtime.Timeout(timeout):
            survivors = waiter.get()
            runtime.joinall(survivors)  # they caught it, and end in their own time


def _throw_into_each(greenlets, exception, waiter):
    """In the hub: throw into each greenlet in turn; each runs until it blocks again or
    ends. The waiter, if any, is given those still alive."""
    for greenlet in greenlets:
        try:
            if not greenlet.dead:
                greenlet.throw(exception)
        except BaseException:
            greenlet.parent.handle_error(greenlet, *sys.exc_info())
    if waiter is not None:
        waiter.switch([greenlet for greenlet in greenlets if not greenlet.dead])


def spawn_raw(runtime, function, *args, **kwargs):
    """A bare greenlet, child of the hub, that runs ``function(*args, **kwargs)`` soon
    (gevent's ``spawn_raw``): no outcome kept, no links, no join; cheaper than a task.
    What it raises goes to the hub, which prints it."""
    if not callable(function):
        raise TypeError("function must be callable")  # gevent's words
    hub = runtime.get_hub()
    greenlet = runtime.greenlet.greenlet(functools.partial(function, *args, **kwargs), hub)
    if TRACK_GREENLET_TREE:
        _track_spawner(greenlet, runtime.getcurrent())  # the stack is too dear here (gevent)
    hub.loop.run_callback(greenlet.switch)
    return greenlet


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


# ---- The spawn tree: who spawned a greenlet, and where


def _track_spawner(greenlet, spawner):
    """Record the spawner, weakly (a spawner that ends may go), and the dict that its
    whole spawn tree shares, ``spawn_tree_locals``; each greenlet that the main greenlet
    spawns starts a tree of its own (gevent's ``Greenlet.__init__``)."""
    greenlet.spawning_greenlet = weakref.ref(spawner)
    tree_locals = getattr(spawner, "spawn_tree_locals", None)  # not try: main never has one
    if tree_locals is None:
        tree_locals = {}
        if spawner.parent is not None:
            spawner.spawn_tree_locals = tree_locals
    greenlet.spawn_tree_locals = tree_locals


class _Frame:
    """One frame of a spawning stack: as much of a frame as ``traceback`` reads, its
    code and line (gevent's ``_Frame``). A real frame would keep its locals alive."""

    __slots__ = ("f_code", "f_lineno", "f_back")
    f_globals = None  # traceback asks, for linecache; the module is not kept either

    def __init__(self, code, lineno, back):
        self.f_code = code
        self.f_lineno = lineno
        self.f_back = back  # the caller's _Frame, or None past the limit


def _spawner_lines(limit):
    """(code, line) of the ``limit`` newest frames of the spawner: from past this
    module's own frames (spawn; a subclass's ``__init__`` is the user's, and is kept) to
    where the spawner's own task began (its _main). This runs at every spawn: pairs are
    cheaper to make than _Frames (gevent's C is)."""
    try:
        frame = sys._getframe()
    except ValueError:
        # No Python frame at all: compiled, this module's functions have none, and
        # a greenlet may have run only those so far (gevent's _extract_stack says so too).
        return []
    ours = globals()  # looked up once, not per frame
    while frame is not None and frame.f_globals is ours:
        frame = frame.f_back
    lines = []
    while frame is not None and frame.f_globals is not ours and len(lines) < limit:
        lines.append((frame.f_code, frame.f_lineno))
        frame = frame.f_back
    return lines

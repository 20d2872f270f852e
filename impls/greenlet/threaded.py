"""The greenlet API on OS threads: every greenlet runs on a thread of its own, one at a time.

Each greenlet has a baton, a lock its thread waits on. A switch leaves a message in the
target's baton, releases it, and waits on its own. Slow on purpose (a thread per greenlet,
tens of microseconds a switch), the model states greenlet's rules with nothing hidden:
contextvars and ``sys.exc_info()`` are per greenlet because they are per thread. Where
threads cannot do what greenlet does (gr_frame, gr_context, recursion depth, greenlets of
exited threads, thousands of greenlets at once), the code says so where it happens.

    >>> from impls.greenlet.threaded import greenlet, getcurrent
    >>> def doubler(x):
    ...     while True:
    ...         x = getcurrent().parent.switch(2 * x)
    >>> g = greenlet(doubler)
    >>> g.switch(1), g.switch(5)
    (2, 10)
"""
import contextvars
import sys
import threading
import types

__all__ = ["greenlet", "getcurrent", "GreenletExit", "error", "settrace", "gettrace"]


class GreenletExit(BaseException):
    """Thrown into a greenlet to kill it; a greenlet that ends with it returns it as its result."""


class error(Exception):
    """A switch that cannot be made: to a greenlet of another thread, or one that can never
    come back (the model's own)."""


# ---- The baton: which greenlet runs


class _Baton:
    """A greenlet's turn to run: the lock its thread waits on, and what the switch brings.

    The lock is held at all times but the instant between a hand-over and the wake-up it
    causes. A greenlet's thread keeps its baton, never the greenlet itself, so that a
    suspended greenlet nobody refers to is collected (and killed), as in greenlet.
    """

    __slots__ = ("lock", "message", "waiting")

    def __init__(self):
        self.lock = threading.Lock()
        self.lock.acquire()
        self.message = None  # (origin, exception or None, args, kwargs), read on wake-up
        self.waiting = False  # its thread waits for it in _wait: it cannot pass the turn on


class _ThreadState:
    """The greenlets of one real thread (greenlet's ThreadState): one of them holds the baton."""

    def __init__(self):
        self.thread = threading.current_thread()  # the real thread; its greenlets end with it
        self.main = object.__new__(greenlet)  # the thread's own code, seen as a greenlet
        self.main._setup(None, self, self.thread)  # no parent, started from birth
        self.current = self.main  # the greenlet holding the baton
        self.trace = None  # the settrace() callback: per thread, as in greenlet
        self.deleteme = []  # greenlets collected by other threads, to kill here (_Doomed)
        self.unwinding = threading.Lock()  # held by who stands in for main, the thread gone
        self.switches = 0  # hand-overs so far: a wait that sees it stand still may be lost


_local = threading.local()  # per OS thread: .state, its _ThreadState; .baton, what it waits on


def _thread_state():
    """This thread's _ThreadState, made on first use; greenlets others collected die here."""
    state = getattr(_local, "state", None)
    if state is None:
        state = _local.state = _ThreadState()
        _local.baton = state.main._baton
    if state.deleteme:
        state.deleteme.clear()  # each _Doomed dropped here kills its greenlet (see _collect)
    return state


def getcurrent():
    """The running greenlet; the first call in a thread makes the thread's main greenlet."""
    return _thread_state().current


# ---- The greenlet object

_NO_RUN = object()  # the run of a greenlet that has none: never given, deleted, or started


class greenlet:
    """A function run as a greenlet: the first switch() starts it, later ones resume it.

        >>> main = getcurrent()
        >>> g = greenlet(lambda a, b: main.switch(a + b) * 10)
        >>> g.switch(1, 2)  # runs g until it switches back to us
        3
        >>> g.switch(4)  # resumes g; it returns, and its result comes to its parent, us
        40
        >>> g.dead
        True
    """

    __slots__ = ("_parent", "_state", "_thread", "_baton", "_run_callable", "_dead", "_context",
                 "__dict__", "__weakref__")
    getcurrent = staticmethod(getcurrent)  # greenlet also offers these on the class
    GreenletExit = GreenletExit
    error = error

    def __new__(cls, *args, **kwargs):
        # Set up here, not in __init__, as greenlet's green_new does: a subclass that skips
        # __init__ still gets a working greenlet, its creator as parent.
        parent = getcurrent()
        self = super().__new__(cls)
        self._setup(parent, None, None)
        return self

    def _setup(self, parent, state, thread):
        self._parent = parent  # where its outcome goes; None only for a main greenlet
        self._state = state  # its thread's _ThreadState once started (a main's from birth)
        self._thread = thread  # the OS thread it runs on once started
        self._baton = _Baton()  # what that thread waits on
        self._run_callable = _NO_RUN  # what to start with, until taken (_run is gevent's, a subclass's)
        self._dead = False  # its run has returned or raised
        self._context = None  # gr_context: as given, a snapshot per switch, the one it died in

    def __init__(self, run=_NO_RUN, parent=None):
        if run is not _NO_RUN:  # a run given as None is kept, and fails when called
            self.run = run
        if parent is not None:
            self.parent = parent

    @property
    def run(self):
        """The function the first switch calls; it is gone once the greenlet has started."""
        if self._parent is None:
            raise AttributeError("Main greenlets do not have a run attribute.")
        if self._run_callable is _NO_RUN:
            raise AttributeError("run")
        return self._run_callable

    @run.setter
    def run(self, run):
        self._check_run_settable()
        self._run_callable = run

    @run.deleter
    def run(self):
        self._check_run_settable()
        self._run_callable = _NO_RUN

    def _check_run_settable(self):
        if self._parent is None:
            raise AttributeError("Main greenlets do not have a run attribute.")
        if self._state is not None:
            raise AttributeError("run cannot be set after the start of the greenlet")

    @property
    def parent(self):
        """The greenlet that receives this one's outcome; any greenlet of the same thread."""
        return self._parent

    @parent.setter
    def parent(self, parent):
        if self._parent is None:
            raise AttributeError("cannot set the parent of a main greenlet")
        if not isinstance(parent, greenlet):
            raise TypeError(
                f"GreenletChecker: Expected any type of greenlet, not {type(parent).__name__}")
        ancestor = parent
        while ancestor is not None:
            if ancestor is self:
                raise ValueError("cyclic parent chain")
            ancestor = ancestor._parent
        if self._state is not None and _owner(parent) is not self._state:
            raise ValueError("parent cannot be on a different thread")
        self._parent = parent

    @parent.deleter
    def parent(self):
        raise AttributeError("can't delete attribute")

    @property
    def dead(self):
        """Finished, or left behind by a thread that has exited."""
        return self._state is not None and (self._dead or not self._state.thread.is_alive())

    def __bool__(self):
        """Started and not dead: running, or suspended in a switch."""
        return self._state is not None and not self.dead

    @property
    def gr_frame(self):
        """The frame a suspended greenlet switched away from; None if it is not suspended."""
        if not greenlet.__bool__(self) or self is self._state.current:  # not a subclass's
            return None
        frame = sys._current_frames().get(self._thread.ident)
        while frame is not None and frame.f_globals is globals():
            frame = frame.f_back  # below the switch machinery: the caller of switch()
        return frame  # its f_back chain runs on past run() into the thread's own frames

    @property
    def gr_context(self):
        """The contextvars.Context the greenlet runs in: None until it has one.

        Python can copy the context a thread runs in but cannot name it, so a live greenlet
        shows a copy, taken when it last switched away (or now, if it runs). A dead one
        shows the Context its run ran in: the one given before the start, if any.
        """
        if self._state is None or self is not self._state.current:
            return self._context  # as given, the last snapshot, or the one it died in
        if self._state is not _thread_state():
            raise ValueError(
                "cannot get context of a greenlet that is running in a different thread")
        return contextvars.copy_context()

    @gr_context.setter
    def gr_context(self, context):
        if context is not None and type(context) is not contextvars.Context:
            raise TypeError("greenlet context must be a contextvars.Context or None")
        if greenlet.__bool__(self):  # started and alive, whatever a subclass's says
            if self is self._state.current and self._state is not _thread_state():
                raise ValueError(
                    "cannot set context of a greenlet that is running in a different thread")
            # greenlet swaps the context under running code; Python offers no way to.
            raise NotImplementedError(
                "the threaded model cannot replace the context of a started greenlet")
        self._context = context

    def switch(self, /, *args, **kwargs):
        """Run this greenlet until a switch comes back to the caller; return what it brings.

        One value comes alone, several as a tuple, none as (), keywords as a dict, both
        as (args, kwargs). A dead greenlet passes the switch on to its parent.
        """
        try:
            return _switch(self, [None], args, kwargs)
        except BaseException:
            del self  # the traceback keeps this frame: it must not keep the greenlet alive
            raise

    def throw(self, typ=GreenletExit, val=None, tb=None, /):
        """Raise an exception in this greenlet where it is suspended; kill it by default."""
        thrown = [_exception(typ, val, tb)]  # bad arguments fail here, before any switch
        try:
            if self._dead and isinstance(thrown[0], GreenletExit):
                return _switch(self, [None], (thrown.pop(),), {})  # as if it had returned it
            return _switch(self, thrown, (), {})
        except BaseException:
            del self  # as in switch()
            raise

    def __del__(self):
        # A suspended greenlet nobody refers to is killed, as greenlet does on dealloc; not
        # at interpreter shutdown (greenlet neither), when its daemon thread just stops.
        if (self._parent is not None and self._state is not None and not self._dead
                and not sys.is_finalizing()):
            _collect(self)

    def __delattr__(self, name):
        if name == "__dict__":  # a Python object's may go; greenlet's C getset refuses
            raise TypeError("__dict__ may not be deleted")
        super().__delattr__(name)

    def __getstate__(self):
        # copy and pickle ask for it; a copy of a greenlet would share its thread and baton.
        name = "greenlet.greenlet" if type(self) is greenlet else type(self).__name__
        raise TypeError(f"cannot serialize '{name}' object")  # greenlet's C type's name

    def __repr__(self):
        # In greenlet's words; otid tells the threads apart (greenlet's is its ThreadState).
        state = _owner(self)
        head = (f"<{type(self).__module__}.{type(self).__qualname__} object at {id(self):#x} "
                f"(otid={id(state):#x})")
        if self._state is None:
            return f"{head} pending>"
        if self.dead:
            return f"{head} {'' if state.thread.is_alive() else '(thread exited) '}dead>"
        here = self is state.current and state is getattr(_local, "state", None)
        return (f"{head} {'current' if here else 'suspended'} active started"
                f"{' main' if self._parent is None else ''}>")


# ---- switch: hand the baton over, wait for it to come back


def _switch(target, thrown, args, kwargs):
    """Make target run, carrying args or the exception in thrown (a list of one, emptied as
    it goes: the switcher must not keep it alive while it waits, nor, through its
    traceback, the greenlets there); return what the switch back to us brings."""
    state, baton = _thread_state(), _local.baton
    _hand_over(state, target, (state.current, thrown.pop(), args, kwargs))
    del target  # nor may this frame, in the traceback of what the switch back raises
    return _unpack(*_wake_up(state, baton))


def _hand_over(state, target, message):
    """Pass the baton to target, or to the greenlet standing in for it: that one runs now."""
    target = _resolve(state, target)
    if not state.current._dead:  # what gr_context shows meanwhile (a dead one's: _finish)
        state.current._context = contextvars.copy_context()
    state.switches += 1
    target._baton.message = message  # nothing from here allocates: no __del__ runs
    state.current = target  # its turn, and its message is there already (see _wait)
    target._baton.lock.release()


def _resolve(state, target):
    """The greenlet a switch to target makes run: target, or its nearest ancestor that has
    not finished; started if it has not started yet."""
    while True:
        _check_thread(state, target)
        while target._dead:  # a dead greenlet's switches go to its parent
            target = target._parent
        if target._state is not None or _start(state, target):
            return target


def _owner(g):
    """The _ThreadState of g: its own once started, else that of its first started ancestor."""
    while g._state is None:
        g = g._parent
    return g._state


def _check_thread(state, target):
    """Greenlets switch only among those of their thread: greenlet's error and messages."""
    owner = _owner(target)
    if owner is not state:
        if not owner.thread.is_alive():
            raise error("cannot switch to a different thread (which happens to have exited)")
        raise error(f"Cannot switch to a different thread\n"
                    f"\tCurrent:  {state.main!r}\n\tExpected: {owner.main!r}")


MAX_THREADS = 2000  # then starting a greenlet fails at once: many thousands of threads crawl


def _start(state, target):
    """A greenlet's first switch: its thread starts, and parks on the greenlet's baton.
    False if reading run started it already (code there switched to it): look again.

    The thread takes run, and the Context to run it in: the given one, or a new, empty one.
    A new thread starts at recursion depth 0 (greenlet's greenlets inherit their starter's),
    and has its own threading.get_ident() and threading.local values.
    """
    run = target.run  # a missing run raises here, in the switcher, as in greenlet
    if target._state is not None:
        return False
    if threading.active_count() >= MAX_THREADS:
        raise error(f"the threaded model runs a greenlet on a thread of its own, and this "
                    f"process has {threading.active_count()} threads (its limit: "
                    f"MAX_THREADS = {MAX_THREADS})")
    context = contextvars.Context() if target._context is None else target._context
    start = [target._run_callable, context, run]  # emptied by the thread as it starts (_outcome)
    thread = threading.Thread(target=_run_greenlet, args=(state, target._baton, start),
                              daemon=True)  # a suspended greenlet does not keep Python up
    thread.start()
    target._run_callable, target._state, target._thread = _NO_RUN, state, thread
    return True


def _wake_up(state, baton):
    """Wait for the baton; bury a finished origin, call the tracer, kill what was left to
    kill, then raise or return."""
    _wait(state, baton)
    message, baton.message = baton.message, None
    origin, exc, args, kwargs = message
    if origin._dead:  # it handed us its outcome and its thread is ending: let it end first
        origin._thread.join()
    if state.trace is not None:
        exc = _trace(state, origin, exc)
    del message, origin  # a traceback through this frame must not keep the origin alive
    state.deleteme.clear()  # greenlets collected where they could not be killed (_collect)
    if exc is not None:
        try:
            raise exc
        finally:  # its traceback holds this frame: no cycle, so it goes once it is caught
            del exc
    return args, kwargs


_POLL = 0.5  # seconds between two looks at a hand-over that may never come


def _wait(state, baton):
    """Take the baton when it is handed over. The thread's main greenlet also watches for a
    hand-over that can never come, and raises error instead of waiting for ever."""
    baton.waiting = True
    try:
        seen = None
        watching = baton is state.main._baton  # the others just wait (timeout -1)
        while not baton.lock.acquire(timeout=_POLL if watching else -1):
            seen = _lost_turn(state, seen)
    finally:
        baton.waiting = False


def _lost_turn(state, seen):
    """What the wait sees (the greenlet whose turn it is, the count of hand-overs), or None.
    The turn is lost if that greenlet cannot pass it on, its thread being gone or waiting
    for a baton nobody has (a model breakdown greenlet cannot have), and no hand-over came
    since the last look: then the turn comes back to main, with the error."""
    current = state.current
    thread_gone = current._thread is not None and not current._thread.is_alive()
    if not (thread_gone or current._baton.waiting and current._baton.message is None):
        return None
    if seen != (current, state.switches):
        return current, state.switches
    state.current = state.main
    raise error(f"the model lost a switch: the turn is {current!r}'s, and its thread "
                f"{'has exited' if thread_gone else 'waits for a switch that cannot come'}")


def _unpack(args, kwargs):
    """What switch() returns: one value alone, else a tuple, a dict, or (args, kwargs)."""
    if kwargs:
        return (args, kwargs) if args else kwargs
    return args[0] if len(args) == 1 else args


# ---- throw: an exception instead of arguments


def _exception(typ, val, tb):
    """throw()'s arguments as one exception instance, checked as greenlet checks them."""
    if tb is not None and not isinstance(tb, types.TracebackType):
        raise TypeError("throw() third argument must be a traceback object")
    if isinstance(typ, type) and issubclass(typ, BaseException):
        args = () if val is None else val if isinstance(val, tuple) else (val,)
        exc = val if isinstance(val, typ) else typ(*args)
    elif isinstance(typ, BaseException):
        if val is not None:
            raise TypeError("instance exception may not have a separate value")
        exc = typ
    else:
        raise TypeError(f"exceptions must be classes, or instances, not {type(typ).__name__}")
    return exc if tb is None else exc.with_traceback(tb)


# ---- Finishing: the outcome goes to the parent, the thread ends


def _run_greenlet(state, baton, start):
    """The life of a greenlet's thread: wait for the first switch, run, pass the outcome on."""
    _local.state, _local.baton = state, baton
    context = start[1]
    _finish(state, context, _outcome(state, baton, start))


def _outcome(state, baton, start):
    """Run the greenlet; what it ended with, as (exception, args, kwargs) for its parent.
    start ([the run given, Context, run]) is emptied as the greenlet wakes up: whatever
    dropping them runs, runs in it, and nothing it ran is left once it has ended."""
    try:
        args, kwargs = _wake_up(state, baton)  # a throw() into a new greenlet raises here
        run, context = start.pop(), start.pop()
        start.clear()  # the run given, if the attribute read was another: gone first
        return None, (context.run(run, *args, **kwargs),), {}
    except GreenletExit as killed:  # killed, or left on purpose: a result, not an error
        return None, (killed,), {}
    except BaseException as exc:
        return exc, (), {}
    finally:
        start.clear()


def _finish(state, context, outcome):
    """Hand the outcome of a dead greenlet to its parent, or further up if that cannot start."""
    me = state.current
    me._dead, me._context = True, context  # it shows the Context it ran in from now on
    target = me._parent
    while True:
        try:
            return _hand_over(state, target, (me,) + outcome)
        except BaseException as exc:  # an unstarted parent without a run: that error goes up
            target, outcome = target._parent or state.main, (exc, (), {})


# ---- Garbage collection: killing the unreachable


def _collect(g):
    """Kill an unreachable suspended greenlet now, if that can be done here; else leave it on
    its thread's delete list (greenlet's deleteme), for the next greenlet of that thread to
    wake up or call in.

    It can be killed here if this OS thread runs its thread's current greenlet, between two
    switches; or if its thread has exited, and no one else stands in for that thread.
    """
    state = g._state
    running = state.current
    if (getattr(_local, "baton", None) is running._baton
            and not running._dead and running._baton.message is None):
        _kill(g)  # not finishing (a dead greenlet passes switches on), nor still waking up
    elif not state.thread.is_alive() and state.unwinding.acquire(blocking=False):
        try:
            _unwind(g)
        finally:
            state.unwinding.release()
    else:
        state.deleteme.append(_Doomed(g))


_survivors = []  # collected greenlets that GreenletExit did not kill: greenlet leaks them


def _kill(g):
    """Throw GreenletExit into g; the current greenlet is its parent meanwhile, to get it back.

    One that catches it and switches back instead of dying is reported in greenlet's words,
    and kept, as greenlet keeps it: its thread waits, and a weak reference can still end it.
    """
    parent, g._parent = g._parent, getcurrent()
    try:
        _switch(g, [GreenletExit("Killing the greenlet because all references have vanished.")],
                (), {})  # not g.throw(exc): it would keep exc, and its traceback, while g runs
    finally:
        g._parent = parent
        if not g._dead:
            _survivors.append(g)
            print(f"GreenletExit did not kill {g!r}", file=sys.stderr)


class _Doomed:
    """A greenlet collected in another thread: dropped in its own thread, it is collected there.

    Python calls a __del__ once per object, hence this stand-in for greenlet's second dealloc.
    """

    __slots__ = ("greenlet",)

    def __init__(self, g):
        self.greenlet = g

    def __del__(self):
        _collect(self.greenlet)


def _unwind(g):
    """A greenlet of an exited thread. greenlet frees it without running it again; a thread can
    only end by returning, so this thread stands in for the exited one's main greenlet and
    kills g as that one would: whatever g does, the baton comes back here."""
    state = g._state
    state.trace = None  # the exited thread's tracer is not ours to call
    saved = getattr(_local, "state", None), getattr(_local, "baton", None), state.main._context
    _local.state, _local.baton = state, state.main._baton  # this OS thread is its main now
    try:
        _kill(g)
    finally:  # and itself again; the exited main keeps the gr_context it had
        _local.state, _local.baton, state.main._context = saved


# ---- Tracing


def settrace(callback):
    """Set this thread's switch tracer and return the previous one.

    After each switch, the target calls callback(event, (origin, target)), event being
    "switch", or "throw" if an exception comes. A tracer that raises is removed.
    """
    state = _thread_state()
    previous, state.trace = state.trace, callback
    return previous


def gettrace():
    """This thread's switch tracer, or None."""
    return _thread_state().trace


# On the class too, as getcurrent is: greenlet copies them there (copy_on_greentype).
greenlet.settrace, greenlet.gettrace = staticmethod(settrace), staticmethod(gettrace)


def _trace(state, origin, exc):
    """Call the tracer; if it raises, remove it: its error is what the switch raises then."""
    try:
        state.trace("throw" if exc is not None else "switch", (origin, state.current))
    except BaseException as failure:
        state.trace = None
        return failure
    return exc

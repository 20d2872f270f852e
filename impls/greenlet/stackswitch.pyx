# cython: language_level=3, auto_pickle=False, binding=False
"""The greenlet API by true stack switching: every greenlet runs on a C stack of its own.

greenlet keeps all the greenlets of a thread on the thread's one stack, copying slices of
it to the heap and back as they switch. Here each greenlet gets a stack of its own
(mmap'd, with a guard page, from a pool), and a switch is: save the interpreter state
that belongs to the running greenlet, restore the target's, swap the stack pointer.
CPython 3.11 and 3.12 on x86-64 Linux only.

    >>> from impls.greenlet.stackswitch import greenlet, getcurrent
    >>> def doubler(x):
    ...     while True:
    ...         x = getcurrent().parent.switch(2 * x)
    >>> g = greenlet(doubler)
    >>> g.switch(1), g.switch(5)
    (2, 10)
"""
import sys
from contextvars import Context
from types import TracebackType

from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from posix.mman cimport (MADV_DONTNEED, MAP_ANONYMOUS, MAP_FAILED, MAP_NORESERVE,
                         MAP_PRIVATE, MAP_STACK, PROT_NONE, PROT_READ, PROT_WRITE,
                         madvise, mmap, mprotect, munmap)
from posix.unistd cimport _SC_PAGESIZE, sysconf

cdef extern from "Python.h":  # for greenlet's __dict__ (see greenlet.__setattr__)
    int PyObject_GenericSetAttr(object o, object name, PyObject *value) except -1
    int PyObject_GenericSetDict(object o, object value, void *context) except -1

__all__ = ["greenlet", "getcurrent", "GreenletExit", "error", "settrace", "gettrace"]


class GreenletExit(BaseException):
    """Thrown into a greenlet to kill it; a greenlet that ends with it returns it as its result."""


class error(Exception):
    """A switch that cannot be made: to a greenlet of another thread."""


# ---- Stack memory: one mmap'd stack per started greenlet, and a pool of free ones
#
# Invariant: a started, unfinished greenlet owns exactly one Stack; any other Stack is in
# the pool, at most POOL_MAX of them. Below each stack lies a guard page that faults when
# touched, so an overflow is a SIGSEGV (with faulthandler, a traceback), never a silent
# write into whatever memory comes next.

cdef enum:
    # The bytes of stack of a greenlet: as much as a thread gets by default (ulimit -s).
    # At the default recursion limit, recursing through sorted()'s key function needs
    # 1.7 MiB of C stack before RecursionError, through its comparisons 2.5 MiB. The pages
    # are only reserved (MAP_NORESERVE): memory is used as they are touched.
    STACK_SIZE = 8 << 20
    POOL_MAX = 16  # free stacks kept: starting a greenlet then costs no system call
    WARM_TOP = 64 << 10  # a pooled stack's top, where most greenlets stay, stays in memory

cdef struct Stack:
    char *guard  # the lowest address of the mapping: the guard page, then the stack
    _PyStackChunk *chunk  # in the pool: the data-stack chunk its last greenlet left, or NULL
    Stack *next  # in the pool: the next free stack

cdef Stack *_pool = NULL  # the free stacks, the most recently freed first
cdef int _pooled = 0  # how many there are
cdef int _in_use = 0  # how many stacks started greenlets hold (for the tests)
cdef size_t _page = sysconf(_SC_PAGESIZE)


cdef Stack *_stack_take() except NULL:
    """A stack for a greenlet that starts: the pool's most recent, else a new mapping."""
    global _pool, _pooled, _in_use
    cdef Stack *stack = _pool
    if stack != NULL:
        _pool, _pooled = stack.next, _pooled - 1
    else:
        stack = _stack_map()
    _in_use += 1
    return stack


cdef Stack *_stack_map() except NULL:
    """A new stack: one mapping for the guard page and the stack, the guard made untouchable."""
    cdef Stack *stack = <Stack *>PyMem_RawMalloc(sizeof(Stack))
    cdef void *memory = mmap(NULL, _page + STACK_SIZE, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0)
    if stack != NULL and memory != MAP_FAILED and mprotect(memory, _page, PROT_NONE) == 0:
        stack.guard, stack.chunk, stack.next = <char *>memory, NULL, NULL
        return stack
    if memory != MAP_FAILED:
        munmap(memory, _page + STACK_SIZE)
    PyMem_RawFree(stack)
    raise MemoryError("cannot map a greenlet stack (too many live greenlets for vm.max_map_count?)")


cdef inline char *_stack_top(Stack *stack) noexcept:
    """The stack's highest address: stacks grow down from there."""
    return stack.guard + _page + STACK_SIZE


cdef void _stack_give(Stack *stack, _PyStackChunk *chunk) noexcept:
    """Take back a finished greenlet's stack, with the data-stack chunk it leaves: into the
    pool, the pages below its warm top returned to the kernel (zeroes when next touched;
    returning them all would cost the next greenlet a page fault per page it uses), or if
    the pool is full, unmapped and freed."""
    global _pool, _pooled, _in_use
    _in_use -= 1
    if _pooled == POOL_MAX:
        _chunks_free(chunk)
        munmap(stack.guard, _page + STACK_SIZE)
        PyMem_RawFree(stack)
        return
    madvise(stack.guard + _page, STACK_SIZE - WARM_TOP, MADV_DONTNEED)
    stack.chunk, stack.next = chunk, _pool
    _pool, _pooled = stack, _pooled + 1


cdef void _chunks_free(_PyStackChunk *chunk) noexcept:
    """Free a data-stack chunk and those before it, as CPython frees them: through the
    arena allocator (which _PyObject_VirtualFree wraps, like greenlet's did_finish)."""
    cdef PyObjectArenaAllocator arena
    cdef _PyStackChunk *previous
    PyObject_GetArenaAllocator(&arena)
    while chunk != NULL:
        previous = chunk.previous
        arena.free(arena.ctx, chunk, chunk.size)
        chunk = previous


# ---- Saved interpreter state
#
# Invariant: while a greenlet runs, the thread state (PyThreadState) holds its share of
# the interpreter's state; while it is suspended, its SavedState and its _context and
# _exc_value fields do (those two are None while it runs). Each greenlet saves its own
# state as it switches away and restores it when it is back; a new greenlet enters a
# fresh one (_enter). The list is greenlet's (TPythonState.cpp, TExceptionState.cpp).

cdef struct SavedState:
    _PyCFrame *cframe  # the innermost C-level call into the eval loop: on this greenlet's stack
    void *current_frame  # the innermost Python frame: the one that switched away
    int recursion_depth  # a depth, not what remains: setrecursionlimit() may come between
    int c_recursion_depth  # 3.12's separate count of C calls (0 on 3.11)
    int trash_delete_nesting  # how deep in nested deallocations ("the trashcan")
    _PyErr_StackItem *exc_info  # the top of the stack of exceptions being handled
    _PyStackChunk *datastack_chunk  # where its Python frames live
    PyObject **datastack_top
    PyObject **datastack_limit


cdef void _save(greenlet g, PyThreadState *tstate) noexcept:
    """Move the state of g, the running greenlet, out of the thread state."""
    cdef SavedState *saved = &g._saved
    saved.cframe = tstate.cframe
    saved.current_frame = tstate.cframe.current_frame
    saved.recursion_depth = tstate.recursion_limit - tstate.recursion_remaining
    saved.c_recursion_depth = switchyard_c_depth(tstate)
    saved.trash_delete_nesting = tstate.trash_delete_nesting
    saved.exc_info = tstate.exc_info
    saved.datastack_chunk = tstate.datastack_chunk
    saved.datastack_top = tstate.datastack_top
    saved.datastack_limit = tstate.datastack_limit
    g._exc_value = _moved(&tstate.exc_state.exc_value)  # the bottom entry of that stack
    g._context = _moved(&tstate.context)


cdef void _restore(greenlet g, PyThreadState *tstate) noexcept:
    """Move g's saved state into the thread state: g runs from now on."""
    cdef SavedState *saved = &g._saved
    cdef _PyCFrame *leaving = tstate.cframe  # the greenlet's that left, still
    tstate.cframe = saved.cframe
    switchyard_carry_tracing(leaving, tstate.cframe)  # sys.settrace() is per thread
    tstate.cframe.current_frame = saved.current_frame
    tstate.recursion_remaining = tstate.recursion_limit - saved.recursion_depth
    switchyard_set_c_depth(tstate, saved.c_recursion_depth)
    tstate.trash_delete_nesting = saved.trash_delete_nesting
    tstate.exc_info = saved.exc_info
    tstate.datastack_chunk = saved.datastack_chunk
    tstate.datastack_top = saved.datastack_top
    tstate.datastack_limit = saved.datastack_limit
    tstate.exc_state.exc_value = _given(g._exc_value)
    g._exc_value = None
    tstate.context = _given(g._context)
    g._context = None
    tstate.context_ver += 1  # contextvars caches its last lookup per version: invalidate it


cdef inline object _moved(PyObject **slot):
    """The reference in *slot, moved out of it (NULL comes out as None)."""
    cdef PyObject *held = slot[0]
    slot[0] = NULL
    if held == NULL:
        return None
    value = <object>held  # a reference of our own...
    Py_DECREF(value)  # ...instead of the slot's
    return value


cdef inline PyObject *_given(object value) noexcept:
    """A new reference to value, for a slot of the thread state (None goes in as NULL)."""
    if value is None:
        return NULL
    Py_INCREF(value)
    return <PyObject *>value


# ---- The greenlets of a thread
#
# Invariant: a thread that has used greenlets has one _ThreadState. A C thread-local
# pointer finds it; a _ThreadExit in the thread's state dict owns it. Only the thread's
# exit clears that dict, so the _ThreadExit's end is the thread's end: its main greenlet
# dies then, and no greenlet of the thread can be switched to again.

cdef extern from *:
    """
    static __thread PyObject *switchyard_thread_state;  /* borrowed: see _thread_state() */
    """
    PyObject *switchyard_thread_state


cdef class _ThreadState:
    """The greenlets of one OS thread (greenlet's ThreadState)."""
    cdef greenlet main  # the thread's own code, seen as a greenlet
    cdef greenlet current  # the running greenlet
    cdef object tracer  # the settrace() callback, or None
    cdef list deleteme  # greenlets other threads collected, to kill here (see __del__)
    # A switch in flight: left by the greenlet that leaves, taken by the one that resumes.
    cdef greenlet origin  # the greenlet that left
    cdef tuple args  # what it sends: positional arguments...
    cdef dict kwargs  # ...and keywords (or None)...
    cdef object error  # ...or an exception to raise (or None)
    cdef object run  # a start in flight: what the new greenlet calls

    def __cinit__(self):
        self.deleteme = []


cdef class _ThreadExit:
    """What a thread's state dict keeps for us: it goes when the thread exits."""
    cdef _ThreadState state

    def __dealloc__(self):
        global switchyard_thread_state
        if self.state.deleteme and not _Py_IsFinalizing():  # their last chance to unwind
            _kill_deleteme(self.state)
        if switchyard_thread_state == <PyObject *>self.state:  # at shutdown, the main thread
            switchyard_thread_state = NULL  # clears the dicts of the other threads too
        self.state.main._status = DEAD
        self.state.main._thread = NULL
        # Its greenlets still suspended can never run again: their __dealloc__ frees them as
        # they stand, once no one holds them. The thread state lets go of them all.
        self.state.main = self.state.current = self.state.tracer = self.state.deleteme = None


cdef _ThreadState _thread_state():
    """This thread's _ThreadState; the first call in a thread makes it, and its main greenlet."""
    global switchyard_thread_state
    if switchyard_thread_state != NULL:
        return <_ThreadState>switchyard_thread_state
    cdef _ThreadState state = _ThreadState()
    switchyard_thread_state = <PyObject *>state
    cdef greenlet main = greenlet.__new__(greenlet)  # its parent, the running greenlet: none yet
    main._is_main, main._status, main._thread = True, ACTIVE, switchyard_thread_state
    state.main = state.current = main
    cdef _ThreadExit exit = _ThreadExit()
    exit.state = state
    (<dict>PyThreadState_GetDict())[_ThreadExit] = exit  # the key: a name no other module uses
    return state


def getcurrent():
    """The running greenlet; the first call in a thread makes the thread's main greenlet."""
    return _current()


cdef greenlet _current():
    """The running greenlet, once the greenlets other threads collected are killed: every
    call into the module from Python kills them, as greenlet does (see __del__)."""
    cdef _ThreadState state = _thread_state()
    if state.deleteme:
        _kill_deleteme(state)
    return state.current


def settrace(callback):
    """Set this thread's switch tracer; return the previous one.

    After each switch, the greenlet entered calls callback(event, (origin, target)), event
    being "switch", or "throw" if an exception comes. A tracer that raises is removed,
    and its error is what the switch raises.
    """
    state = _thread_state()
    previous, state.tracer = state.tracer, callback
    return previous


def gettrace():
    """This thread's switch tracer, or None."""
    return _thread_state().tracer


# ---- The greenlet object

cdef enum Status:
    NEW  # not started: no stack yet
    ACTIVE  # started and not finished: running, or suspended in a switch
    DEAD  # its run has returned or raised; a main greenlet: its thread has exited

cdef object _NO_RUN = object()  # the run of a greenlet that has none: not given, or taken


cdef class greenlet:
    """A function run on a stack of its own: the first switch() starts it, later ones resume it.

        >>> main = getcurrent()
        >>> g = greenlet(lambda a, b: main.switch(a + b) * 10)
        >>> g.switch(1, 2)  # runs g until it switches back to us
        3
        >>> g.switch(4)  # resumes g; it returns, and its result comes to its parent, us
        40
        >>> g.dead
        True
    """
    cdef object _parent  # where its outcome goes; None only for a main greenlet
    cdef greenlet _main  # once started: the main greenlet of its thread (None in a main)
    cdef object _run  # what its start calls, until the start takes it
    cdef Status _status
    cdef bint _is_main  # the thread's own code, on the thread's own stack
    cdef PyObject *_thread  # a main greenlet's _ThreadState (borrowed); NULL once it exits
    cdef Stack *_stack  # from start to finish: its C stack
    cdef void *_sp  # while suspended: its stack pointer (see switch_x86_64.h)
    cdef SavedState _saved  # while suspended: its share of the interpreter's state...
    cdef object _context  # ...its contextvars.Context (None: none yet)...
    cdef object _exc_value  # ...and the exception it is handling (None: none)
    cdef dict __dict__
    cdef object __weakref__

    getcurrent = staticmethod(getcurrent)  # greenlet also offers these on the class
    settrace = staticmethod(settrace)
    gettrace = staticmethod(gettrace)
    GreenletExit = GreenletExit
    error = error

    def __cinit__(self, *args, **kwargs):
        # Here, not in __init__, as greenlet's green_new: a subclass that skips __init__
        # still gets a working greenlet, its creator as parent.
        self._parent = _current()  # None while a thread's main greenlet is being made
        self._run = _NO_RUN

    def __init__(self, run=_NO_RUN, parent=None):
        # Straight into the fields, as greenlet's green_init does: `self.run = run` would
        # land in the instance dict of a subclass that defines a run method, and hide it.
        if run is not _NO_RUN:  # greenlet(None) has a run: None, which fails when called
            self._set_run(run)
        if parent is not None:
            self._set_parent(parent)

    @property
    def run(self):
        """The function the first switch calls; it is gone once the greenlet has started."""
        if self._is_main:
            raise AttributeError("Main greenlets do not have a run attribute.")
        if self._status != NEW or self._run is _NO_RUN:
            raise AttributeError("run")
        return self._run

    @run.setter
    def run(self, run):
        self._set_run(run)

    @run.deleter
    def run(self):
        self._set_run(_NO_RUN)

    cdef int _set_run(self, run) except -1:
        if self._is_main:
            raise AttributeError("Main greenlets do not have a run attribute.")
        if self._status != NEW:
            raise AttributeError("run cannot be set after the start of the greenlet")
        self._run = run
        return 0

    @property
    def parent(self):
        """The greenlet that receives this one's outcome: any greenlet of the same thread."""
        return self._parent

    @parent.setter
    def parent(self, parent):
        self._set_parent(parent)

    @parent.deleter
    def parent(self):
        raise AttributeError("can't delete attribute")

    cdef int _set_parent(self, parent) except -1:
        if self._is_main:
            raise AttributeError("cannot set the parent of a main greenlet")
        if not isinstance(parent, greenlet):
            raise TypeError(
                f"GreenletChecker: Expected any type of greenlet, not {type(parent).__name__}")
        ancestor = parent
        while ancestor is not None:
            if ancestor is self:
                raise ValueError("cyclic parent chain")
            ancestor = (<greenlet>ancestor)._parent
        if self._status != NEW and _lineage_main(parent) is not self._main:
            raise ValueError("parent cannot be on a different thread")
        self._parent = parent
        return 0

    @property
    def dead(self):
        """Finished, or left behind by a thread that has exited."""
        return self._status != NEW and not _alive(self)

    def __bool__(self):
        """Started and not dead: running, or suspended in a switch."""
        return _alive(self)

    @property
    def gr_frame(self):
        """The frame a suspended greenlet switched away from; None unless it is suspended
        (in its thread, or left there by the thread's exit)."""
        if self._status != ACTIVE or _running(self):
            return None
        return _frame_object(self._saved.current_frame)

    @property
    def gr_context(self):
        """The contextvars.Context the greenlet runs in; None until it has one."""
        if not _running(self):
            return self._context
        if not _running_here(self):
            raise ValueError(
                "cannot get context of a greenlet that is running in a different thread")
        context = PyThreadState_Get().context
        return None if context == NULL else <object>context

    @gr_context.setter
    def gr_context(self, context):
        if context is not None and type(context) is not Context:
            raise TypeError("greenlet context must be a contextvars.Context or None")
        if not _running(self):
            self._context = context
            return
        if not _running_here(self):
            raise ValueError(
                "cannot set context of a greenlet that is running in a different thread")
        cdef PyThreadState *tstate = PyThreadState_Get()
        replaced = _moved(&tstate.context)  # dropped as we return, once the new one is in
        tstate.context = _given(context)
        tstate.context_ver += 1

    @gr_context.deleter
    def gr_context(self):
        raise AttributeError("can't delete context attribute")

    def switch(self, *args, **kwargs):
        """Run this greenlet until a switch comes back to the caller; return what it brings.

        One value comes alone, several as a tuple, none as (), keywords as a dict, both
        as (args, kwargs). A finished greenlet passes the switch on to its parent.
        """
        return _switch(self, args, kwargs or None, None)

    def throw(self, typ=GreenletExit, val=None, tb=None, /):
        """Raise an exception in this greenlet where it is suspended; kill it by default."""
        thrown = [_exception(typ, val, tb)]  # bad arguments fail here, before any switch
        if self._status == DEAD and isinstance(thrown[0], GreenletExit):
            return _switch(self, (thrown.pop(),), None, None)  # as if it had returned it
        return _switch(self, (), None, thrown)

    def __del__(self):
        # A suspended greenlet nobody can reach is killed, so that its finally blocks run
        # (greenlet does it in its dealloc). Another thread's is left to that thread, which
        # kills it at its next switch; one whose thread has exited, or any while the
        # interpreter shuts down, is left to __dealloc__.
        if self._status != ACTIVE or self._is_main or _Py_IsFinalizing():
            return
        cdef PyObject *owner = self._main._thread
        if owner == NULL:
            return
        if owner != switchyard_thread_state:
            (<_ThreadState>owner).deleteme.append(self)  # which brings it back to life
            return
        _kill(self)
        if _alive(self):  # it caught GreenletExit and switched away: greenlet's warning
            print(f"GreenletExit did not kill {self!r}", file=sys.stderr)
            Py_INCREF(self)  # and its remedy: kept for good, never freed while suspended

    def __setattr__(self, name, value):
        # Cython makes a cdef class's __dict__ read-only; greenlet's takes any dict.
        if name != "__dict__":
            PyObject_GenericSetAttr(self, name, <PyObject *>value)
        elif not isinstance(value, dict):
            raise TypeError("__dict__ must be a dictionary")
        else:
            PyObject_GenericSetDict(self, value, NULL)  # Cython's own __dict__ slot

    def __delattr__(self, name):
        if name == "__dict__":
            raise TypeError("__dict__ may not be deleted")
        PyObject_GenericSetAttr(self, name, NULL)  # NULL: delete it

    def __reduce__(self):
        # copy and pickle ask for it; a greenlet's stack and frames cannot be copied.
        name = "greenlet.greenlet" if type(self) is greenlet else type(self).__name__
        raise TypeError(f"cannot serialize '{name}' object")  # greenlet's C type's name

    def __dealloc__(self):
        # Still holding a stack: a greenlet that can never run again (its thread has exited,
        # or it survived GreenletExit). Its stack and frames are freed as they stand; the
        # references held there are lost, as in greenlet.
        if self._stack != NULL:
            _chunks_free(self._saved.datastack_chunk)
            _stack_give(self._stack, NULL)

    def __repr__(self):
        # In greenlet's words; otid tells the threads apart (greenlet's is its ThreadState).
        cdef greenlet main = _lineage_main(self)
        head = (f"<{type(self).__module__}.{type(self).__qualname__} object at {id(self):#x} "
                f"(otid={<size_t>main._thread:#x})")
        if self._status == NEW:
            return f"{head} pending>"
        if not _alive(self):
            return f"{head} {'(thread exited) ' if main._status == DEAD else ''}dead>"
        where = "current" if _running_here(self) else "suspended"
        return f"{head} {where} active started{' main' if self._is_main else ''}>"


cdef greenlet _lineage_main(greenlet g):
    """The main greenlet of g's thread: the thread it started in or, if it has not
    started, the one its nearest started ancestor runs in."""
    while g._status == NEW:
        g = g._parent
    return g if g._is_main else g._main


cdef bint _alive(greenlet g):
    """Started and not finished, in a thread that has not exited."""
    return g._status == ACTIVE and (g._is_main or g._main._status == ACTIVE)


cdef bint _running(greenlet g):
    """g is the running greenlet of its thread (this one or another)."""
    return _alive(g) and (<_ThreadState>_lineage_main(g)._thread).current is g


cdef bint _running_here(greenlet g):
    """g is the running greenlet of this thread."""
    return switchyard_thread_state != NULL and (<_ThreadState>switchyard_thread_state).current is g


cdef object _frame_object(void *frame):
    """The frame object for a suspended greenlet's innermost frame, made if need be.
    PyThreadState_GetFrame() makes it for a thread, reading only tstate->cframe->current_frame,
    so it is handed a stand-in thread state: one whose C frame shows this frame."""
    cdef _PyCFrame cframe
    cdef PyThreadState stand_in
    cframe.current_frame = frame
    stand_in.cframe = &cframe
    cdef PyObject *found = <PyObject *>PyThreadState_GetFrame(&stand_in)
    if found == NULL:
        return None
    result = <object>found
    Py_DECREF(result)  # PyThreadState_GetFrame's reference: ours is result
    return result


# ---- Switching
#
# A switch, in the greenlet that leaves: _resolve finds the greenlet to enter (starting it
# if need be), the thread state takes what the switch carries, _swap saves our state,
# swaps stacks and, when a switch comes back, restores it; then _arrive takes what that
# switch brought. Nothing between _resolve and the stack swap allocates, so neither the
# garbage collector nor any Python code can run, and switch, in the middle.

cdef object _switch(greenlet target, tuple args, dict kwargs, list thrown):
    """Enter target, or the greenlet standing in for it, carrying args and kwargs, or the
    error in thrown (a list of one, or None) to raise there; return what the switch that
    brings us back carries. The error is moved out of thrown, not copied: a greenlet
    suspended here must not keep it alive, nor, through its traceback, the greenlets there."""
    cdef _ThreadState state = _thread_state()
    if state.deleteme:
        _kill_deleteme(state)
    target = _resolve(state, target)
    if target is state.current:  # a switch to oneself: nothing to swap, but traced
        error = thrown.pop() if thrown else None
        if state.tracer is not None:
            error = _trace(state, target, error)
        if error is not None:
            raise error
        return _pack(args, kwargs)
    state.args, state.kwargs = args, kwargs
    state.error = thrown.pop() if thrown else None
    _swap(state, target)
    return _arrive(state, False)


cdef greenlet _resolve(_ThreadState state, greenlet target):
    """The greenlet a switch to target enters: target or, if it has finished, its nearest
    unfinished ancestor; started first if it has not started yet."""
    while True:
        _check_thread(state, target)
        while target._status == DEAD:
            target = target._parent
        if target._status == ACTIVE:
            return target
        run = (<object>target).run  # a subclass's run method, or the run given
        # Any code may have run there, even switches: unless target is still unstarted,
        # look again; if it is, its parent may have moved to another thread.
        if target._status == NEW:
            _check_thread(state, target)
            _start(state, target, run)
            return target


cdef int _check_thread(_ThreadState state, greenlet target) except -1:
    """Greenlets switch only among those of their own thread: greenlet's error and messages."""
    cdef greenlet main = _lineage_main(target)
    if main is state.main:
        return 0
    if main._status == DEAD:
        raise error("cannot switch to a different thread (which happens to have exited)")
    raise error(f"Cannot switch to a different thread\n"
                f"\tCurrent:  {state.main!r}\n\tExpected: {main!r}")


cdef int _start(_ThreadState state, greenlet g, object run) except -1:
    """Give g a stack that its first switch enters at _greenlet_main, and the start of a
    fresh interpreter state (_enter completes it): no context unless one was given, no
    exception, recursion depth 0 (a new stack, where greenlet's continues its starter's),
    and the data-stack chunk the stack's last greenlet left (if none, the interpreter
    makes one at the first call)."""
    cdef Stack *stack = _stack_take()
    cdef _PyStackChunk *chunk = stack.chunk
    stack.chunk = NULL
    g._stack = stack
    g._sp = switchyard_prepare(_stack_top(stack), _greenlet_main)
    g._saved.datastack_chunk = chunk
    if chunk != NULL:  # empty, as CPython leaves a root chunk: data[0] is never used
        g._saved.datastack_top = &chunk.data[1]
        g._saved.datastack_limit = <PyObject **>(<char *>chunk + chunk.size)
    state.run = run  # g's _run may be another (see _arrive): dropping it could run code
    g._main, g._status = state.main, ACTIVE
    return 0


cdef void _swap(_ThreadState state, greenlet target) noexcept:
    """Leave the running greenlet for target; return when a switch comes back to it."""
    cdef PyThreadState *tstate = PyThreadState_Get()
    cdef PyObject *me = <PyObject *>state.current  # borrowed: our stack must not keep us alive
    _save(<greenlet>me, tstate)
    state.origin = state.current  # the thread state's reference to us goes with the switch
    state.current = target
    switchyard_swap(&(<greenlet>me)._sp, target._sp)
    _restore(<greenlet>me, tstate)


cdef object _arrive(_ThreadState state, bint starting):
    """Take what the switch that resumed us carries: give a finished origin's stack back,
    call the tracer, then raise the error, or return the arguments (as switch() returns
    them or, for a start, as (args, kwargs))."""
    cdef greenlet origin = state.origin
    cdef tuple args = state.args
    cdef dict kwargs = state.kwargs
    cdef object error = state.error
    state.origin = state.args = state.kwargs = state.error = None
    if origin._status == DEAD:  # it left its stack for good: now we can reuse it
        _stack_give(origin._stack, origin._saved.datastack_chunk)
        origin._stack, origin._saved.datastack_chunk = NULL, NULL
    if state.tracer is not None:
        error = _trace(state, origin, error)
    origin = None  # a suspended origin no one else holds is killed now (see __del__)
    if starting:  # the run it was given: called, or superseded by a subclass's run
        state.current._run = _NO_RUN
    if error is not None:
        raise error
    if starting:
        return args, kwargs
    return _pack(args, kwargs)


cdef inline object _pack(tuple args, dict kwargs):
    """What switch() returns: one value alone, else a tuple; keywords as a dict; both as a pair."""
    if kwargs:
        return (args, kwargs) if args else kwargs
    return args[0] if len(args) == 1 else args


# ---- A greenlet's life
#
# The stack of a started greenlet begins with _greenlet_main, entered by its first
# switch. It never returns: a finished greenlet leaves its stack by a last switch, and
# the greenlet that switch enters gives the stack back (_arrive). So _greenlet_main holds
# no reference of its own, which would leak: only pointers that the thread state keeps valid.

cdef void _greenlet_main() noexcept:
    """The first function on every greenlet's stack."""
    cdef _PyCFrame root_cframe  # the interpreter's list of C frames starts afresh here
    cdef PyObject *state = switchyard_thread_state
    cdef PyObject *heir = _live(<_ThreadState>state, &root_cframe)
    _swap(<_ThreadState>state, <greenlet>heir)


cdef PyObject *_live(_ThreadState state, _PyCFrame *root_cframe) noexcept:
    """Run the greenlet that has just started, to its end. Returns the greenlet to switch
    to next, which its outcome has been sent to (borrowed: an ancestor of ours)."""
    _enter(state.current, root_cframe)
    args, kwargs, error = _outcome(state)
    cdef greenlet heir = _heir(state, args, kwargs, error)
    return <PyObject *>heir


cdef void _enter(greenlet g, _PyCFrame *root_cframe) noexcept:
    """A new greenlet's first moment: its fresh interpreter state (see _start) goes in."""
    cdef PyThreadState *tstate = PyThreadState_Get()
    root_cframe.current_frame = NULL  # its first frame will have no f_back
    root_cframe.previous = &tstate.root_cframe
    g._saved.cframe = root_cframe
    g._saved.exc_info = &tstate.exc_state  # the bottom entry, which holds _exc_value: None
    _restore(g, tstate)


cdef tuple _outcome(_ThreadState state):
    """Call run with what the first switch brought; return what the greenlet ends with,
    for its parent: (args, kwargs, error). GreenletExit ends it as a result."""
    run, state.run = state.run, None  # ours alone: gone with this frame
    try:
        args, kwargs = _arrive(state, True)  # a throw() into a new greenlet raises here
        return (run(*args, **kwargs) if kwargs else run(*args),), None, None
    except GreenletExit as exc:
        return (exc,), None, None
    except BaseException as exc:
        return (), None, exc


cdef greenlet _heir(_ThreadState state, tuple args, dict kwargs, object error):
    """The greenlet a finished one hands its outcome to: its parent or, if that cannot be
    entered (unstarted, without a run, of another thread), the next ancestor, with that
    error instead. Past the last ancestor (the chain left this thread), this thread's main
    greenlet takes the error. Sends the outcome; the finished greenlet is dead from now on."""
    cdef greenlet parent = state.current._parent
    cdef greenlet heir
    while True:
        try:
            heir = _resolve(state, parent)
            break
        except BaseException as exc:
            args, kwargs, error = (), None, exc
            parent = parent._parent if parent._parent is not None else state.main
    state.current._status = DEAD
    state.args, state.kwargs, state.error = args, kwargs, error
    return heir


# ---- Killing the unreachable

cdef void _kill(greenlet g) noexcept:
    """Throw GreenletExit into g, which dies into the running greenlet, its parent meanwhile.
    An error it dies of has nowhere to go: Cython reports it as unraisable, as greenlet does."""
    if g._status != ACTIVE:  # already dead: it died of something else while it waited here
        return
    parent, g._parent = g._parent, _thread_state().current
    try:
        _switch(g, (), None, [GreenletExit(
            "Killing the greenlet because all references have vanished.")])
    finally:
        g._parent = parent


cdef int _kill_deleteme(_ThreadState state) except -1:
    """Kill the greenlets of this thread that other threads have collected."""
    doomed, state.deleteme = state.deleteme, []
    for g in doomed:
        _kill(g)
    return 0


# ---- throw()'s arguments

cdef object _exception(typ, val, tb):
    """throw()'s arguments as one exception instance, checked as greenlet checks them."""
    if tb is not None and not isinstance(tb, TracebackType):
        raise TypeError("throw() third argument must be a traceback object")
    if isinstance(typ, BaseException):
        if val is not None:
            raise TypeError("instance exception may not have a separate value")
        exc = typ
    elif isinstance(typ, type) and issubclass(typ, BaseException):
        if isinstance(val, typ):
            exc = val
        elif val is None:
            exc = typ()
        else:
            exc = typ(*val) if isinstance(val, tuple) else typ(val)
    else:
        raise TypeError(f"exceptions must be classes, or instances, not {type(typ).__name__}")
    return exc if tb is None else exc.with_traceback(tb)


# ---- Tracing

cdef object _trace(_ThreadState state, greenlet origin, object error):
    """Call the tracer; return the error the switch raises: its own, or the tracer's."""
    try:
        state.tracer("throw" if error is not None else "switch", (origin, state.current))
    except BaseException as failure:
        state.tracer = None
        return failure
    return error


# ---- For the tests

def _stacks():
    """(stacks held by greenlets, stacks in the pool)."""
    return _in_use, _pooled

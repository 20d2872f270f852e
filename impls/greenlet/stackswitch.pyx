# cython: language_level=3, auto_pickle=False, binding=False
"""The greenlet API by true stack switching, on a few full-size C stacks per thread.

greenlet keeps all the greenlets of a thread on the thread's one stack, copying slices of
it to the heap and back as they switch. Here a thread has a few stack slots (mmap'd, with
a guard page each); a switch is: save the interpreter state of the running greenlet,
restore the target's, swap the stack pointer, once the target's bytes are in its slot.
CPython 3.11 and 3.12 on x86-64 Linux only.

    >>> from impls.greenlet.stackswitch import greenlet, getcurrent
    >>> def doubler(x):
    ...     while True:
    ...         x = getcurrent().parent.switch(2 * x)
    >>> g = greenlet(doubler)
    >>> g.switch(1), g.switch(5)
    (2, 10)
"""
import os
import sys
from contextvars import Context
from types import TracebackType

from cpython.mem cimport PyMem_RawCalloc, PyMem_RawFree, PyMem_RawMalloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from posix.mman cimport (MADV_DONTNEED, MAP_ANONYMOUS, MAP_FAILED, MAP_NORESERVE,
                         MAP_PRIVATE, MAP_STACK, PROT_NONE, PROT_READ, PROT_WRITE,
                         madvise, mmap, mprotect, munmap)
from libc.stdint cimport uintptr_t
from libc.string cimport memcpy
from posix.unistd cimport _SC_PAGESIZE, sysconf

cdef extern from "Python.h":  # for greenlet's __dict__ (see greenlet.__setattr__)
    int PyObject_GenericSetAttr(object o, object name, PyObject *value) except -1
    int PyObject_GenericSetDict(object o, object value, void *context) except -1

__all__ = ["greenlet", "getcurrent", "GreenletExit", "error", "settrace", "gettrace"]


class GreenletExit(BaseException):
    """Thrown into a greenlet to kill it; a greenlet that ends with it returns it as its result."""


class error(Exception):
    """A switch that cannot be made: to a greenlet of another thread."""


# ---- Stack memory: a few full-size slots per thread, shared by its greenlets
#
# Invariant: a started, unfinished greenlet (other than a main one) is bound for life to
# one slot of its thread: whenever it runs, its C frames are at that slot's addresses (C
# frames hold pointers to each other, so they cannot move). At most one greenlet bound
# to a slot, its occupant, has its bytes in the slot; every other one keeps its live
# bytes, from its stack pointer to the slot's top, in a heap buffer of exactly that
# size, its copy, and they are copied back in before it runs. A switch to the occupant
# is a plain stack swap; any other costs two copies, the bytes that are live only.
# Below each slot lies a guard page that faults when touched, so an overflow is a
# SIGSEGV (with faulthandler, a traceback), never a silent write into the next slot.

cdef enum:
    # The bytes of a slot: as much as a thread gets by default (ulimit -s). At the
    # default recursion limit, recursing through sorted()'s key function needs 1.7 MiB
    # of C stack before RecursionError, through its comparisons 2.5 MiB. The pages are
    # only reserved (MAP_NORESERVE): memory is used as they are touched.
    STACK_SIZE = 8 << 20
    SLOTS = 16  # per thread, unless SWITCHYARD_STACK_SLOTS says otherwise
    WARM_TOP = 64 << 10  # an emptied slot's top, where most greenlets stay, stays in memory
    SWITCHER_SIZE = 32 << 10  # the small stack that copies into a slot are made from
    ROOT_CHUNK = 2 << 10  # a greenlet's first data-stack chunk (CPython's own: 16 KiB)

cdef struct Slots  # one thread's

cdef struct Slot:
    char *guard  # the lowest address of its mapping, the guard page; NULL: not mapped yet
    PyObject *occupant  # the greenlet whose bytes are in the slot (borrowed), or NULL
    unsigned long long entered  # when one of its greenlets was last entered; 0: empty
    Slots *owner

cdef struct Slots:
    Slot *slot  # an array of count
    int count
    Py_ssize_t bound  # greenlets bound to these slots
    bint orphaned  # its thread has exited: the last greenlet to leave frees them
    char *switcher  # SWITCHER_SIZE bytes: the switcher's stack (see _switcher_main)

cdef size_t _page = sysconf(_SC_PAGESIZE)
cdef unsigned long long _clock = 0  # counts the entries into slots: their recency
cdef Py_ssize_t _held = 0  # started, unfinished greenlets of every thread, for errors
cdef Py_ssize_t _copied = 0  # how many of them are copied out, and their bytes (the tests)
cdef size_t _copied_bytes = 0


cdef int _slot_count() except -1:
    """How many slots a thread gets: SWITCHYARD_STACK_SLOTS, or SLOTS. One forces every
    switch between two greenlets through the copies: the worst case, for tests."""
    asked = os.environ.get("SWITCHYARD_STACK_SLOTS", "")
    if not asked:
        return SLOTS
    if not asked.isdigit() or not 1 <= int(asked) <= 4096:
        raise ValueError(f"SWITCHYARD_STACK_SLOTS must be a number from 1 to 4096, not {asked!r}")
    return int(asked)


cdef Slots *_slots_new(int count) except NULL:
    """A thread's slots, none mapped yet: each is mapped when first given out."""
    cdef Slots *slots = <Slots *>PyMem_RawCalloc(1, sizeof(Slots))
    if slots != NULL:
        slots.slot = <Slot *>PyMem_RawCalloc(count, sizeof(Slot))
        slots.switcher = <char *>PyMem_RawMalloc(SWITCHER_SIZE)
    if slots == NULL or slots.slot == NULL or slots.switcher == NULL:
        _slots_free(slots)
        raise MemoryError("no memory for a thread's greenlet stack slots")
    slots.count = count
    for i in range(count):
        slots.slot[i].owner = slots
    return slots


cdef void _slots_free(Slots *slots) noexcept:
    """Unmap and free a thread's slots (or what of them was allocated)."""
    if slots == NULL:
        return
    if slots.slot != NULL:
        for i in range(slots.count):
            if slots.slot[i].guard != NULL:
                munmap(slots.slot[i].guard, _page + STACK_SIZE)
    PyMem_RawFree(slots.slot)
    PyMem_RawFree(slots.switcher)
    PyMem_RawFree(slots)


cdef Slot *_slot_for_new(Slots *slots) except NULL:
    """The slot a greenlet that starts is bound to: the one entered least recently (an
    empty one first), so that the greenlets that run often, such as a hub, keep theirs."""
    cdef Slot *slot = &slots.slot[0]
    for i in range(1, slots.count):
        if slots.slot[i].entered < slot.entered:
            slot = &slots.slot[i]
    if slot.guard == NULL:
        _slot_map(slot)
    return slot


cdef int _slot_map(Slot *slot) except -1:
    """Map a slot: one mapping for the guard page and the stack, the guard made untouchable."""
    cdef void *memory = mmap(NULL, _page + STACK_SIZE, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0)
    if memory != MAP_FAILED and mprotect(memory, _page, PROT_NONE) == 0:
        slot.guard = <char *>memory
        return 0
    if memory != MAP_FAILED:
        munmap(memory, _page + STACK_SIZE)
    raise MemoryError(f"cannot map a greenlet stack slot ({_held:,} greenlets held)")


cdef inline char *_slot_top(Slot *slot) noexcept:
    """The slot's highest address: stacks grow down from there."""
    return slot.guard + _page + STACK_SIZE


cdef void _slot_empty(Slot *slot) noexcept:
    """Its occupant has finished: the slot is free, and the pages below its warm top go
    back to the kernel (zeroes when next touched; returning them all would cost the next
    greenlet a page fault per page it uses)."""
    slot.occupant = NULL
    slot.entered = 0
    madvise(slot.guard + _page, STACK_SIZE - WARM_TOP, MADV_DONTNEED)


# ---- Data-stack chunks
#
# A greenlet's Python frames start in a small root chunk of its own (see _start). Those
# that do not fit go to chunks CPython allocates, of 16 KiB and more, and frees as soon
# as the first frame in one returns: a greenlet whose calls go back and forth across
# the root's end would map and unmap 16 KiB on every such call. So the allocator CPython
# takes chunks from keeps a few freed 16 KiB chunks for the next, from the first start.

cdef enum:
    CPYTHON_CHUNK = 16 << 10  # DATA_STACK_CHUNK_SIZE in CPython's Python/pystate.c
    SPARES = 16  # freed CPython chunks kept, at most

cdef PyObjectArenaAllocator _arena  # CPython's allocator, which ours hands everything else to
cdef void *_spare[SPARES]
cdef int _spares = 0


cdef void *_arena_alloc(void *ctx, size_t size) noexcept:
    """A kept chunk if one fits, else CPython's allocator's memory."""
    global _spares
    if size == CPYTHON_CHUNK and _spares:
        _spares -= 1
        return _spare[_spares]
    return _arena.alloc(_arena.ctx, size)


cdef void _arena_free(void *ctx, void *memory, size_t size) noexcept:
    """Keep a freed chunk if there is room, else give it to CPython's allocator to free."""
    global _spares
    if size == CPYTHON_CHUNK and _spares < SPARES:
        _spare[_spares] = memory
        _spares += 1
        return
    _arena.free(_arena.ctx, memory, size)


cdef int _keep_chunks() except -1:
    """Put our allocator in front of CPython's, once (the GIL serializes its calls)."""
    if _arena.alloc != NULL:
        return 0
    PyObject_GetArenaAllocator(&_arena)
    cdef PyObjectArenaAllocator ours
    ours.ctx, ours.alloc, ours.free = NULL, _arena_alloc, _arena_free
    PyObject_SetArenaAllocator(&ours)
    return 0


cdef _PyStackChunk *_root_chunk() except NULL:
    """A new greenlet's first data-stack chunk, small and ours: CPython frees a chunk when
    the first frame in it returns, except a root chunk (previous is NULL), whose data[0]
    it never uses."""
    cdef _PyStackChunk *chunk = <_PyStackChunk *>PyMem_RawMalloc(ROOT_CHUNK)
    if chunk == NULL:
        raise MemoryError(f"no memory for a greenlet's frames ({_held:,} greenlets held)")
    chunk.previous, chunk.size = NULL, ROOT_CHUNK
    return chunk


cdef void _chunks_free(_PyStackChunk *chunk) noexcept:
    """Free a data-stack chunk and those before it: ours (the root) as we allocated it,
    CPython's as CPython would (_PyObject_VirtualFree; greenlet's did_finish does too)."""
    cdef _PyStackChunk *previous
    while chunk != NULL:
        previous = chunk.previous
        if previous == NULL:
            PyMem_RawFree(chunk)
        else:
            _arena_free(NULL, chunk, chunk.size)
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
    switchyard_tracing_leaves(tstate.cframe)  # for the greenlet that enters next
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
    tstate.cframe = saved.cframe
    switchyard_tracing_enters(tstate.cframe)  # sys.settrace() is per thread (see _save)
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


cdef inline object _moved(PyObject **field):
    """The reference in *field, moved out of it (NULL comes out as None)."""
    cdef PyObject *held = field[0]
    field[0] = NULL
    if held == NULL:
        return None
    value = <object>held  # a reference of our own...
    Py_DECREF(value)  # ...instead of the slot's
    return value


cdef inline PyObject *_given(object value) noexcept:
    """A new reference to value, for a field of the thread state (None goes in as NULL)."""
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
    cdef bint stranded  # the switcher found no memory and came back (see _swap)
    cdef Slots *slots  # its greenlets' stack slots, from the first start on

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
        cdef Slots *slots = self.state.slots
        if slots != NULL:  # freed now, or by the last of its greenlets to go
            slots.orphaned = True
            if slots.bound == 0:
                _slots_free(slots)
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
    cdef Slot *_slot  # from start to finish: the stack slot its C frames live in
    cdef void *_sp  # while suspended: its stack pointer (see switch_x86_64.h)
    cdef char *_copy  # while copied out of its slot: its bytes from _sp to the slot's top
    cdef Relink *_relinks  # while copied out, on 3.12: links of its frames bent (see _bend)
    cdef int _relinked
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
        # Still bound to a slot: a greenlet that can never run again (its thread has exited,
        # or it survived GreenletExit). Its stack and frames are freed as they stand; the
        # references held there are lost, as in greenlet.
        if self._slot != NULL:
            _unbind(self)

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
# switch brought. Nothing between _resolve and the stack swap allocates a Python object
# (the copies of _swap take raw memory), so neither the garbage collector nor any Python
# code can run, and switch, in the middle.

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
    if _swap(state, target) < 0:
        state.args = state.kwargs = state.error = None
        if state.run is not None:  # target was to start with this switch
            _unstart(state, target)
        raise MemoryError(f"no memory to copy a greenlet's stack out ({_held:,} greenlets held)")
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
    """Bind g to a slot, copied out: its copy is the context its first switch enters (at
    _greenlet_main). Give it the start of a fresh interpreter state (_enter completes it):
    no context unless one was given, no exception, recursion depth 0 (a new stack, where
    greenlet's continues its starter's), and a root data-stack chunk of its own."""
    global _held
    if state.slots == NULL:
        _keep_chunks()
        state.slots = _slots_new(_slot_count())
    cdef Slot *slot = _slot_for_new(state.slots)
    cdef _PyStackChunk *chunk = _root_chunk()
    cdef char scratch[128]  # the first context is made here, then copied to g's copy
    cdef char *top = <char *>(<uintptr_t>(scratch + sizeof(scratch)) & ~<uintptr_t>15)
    cdef char *sp = <char *>switchyard_prepare(top, _greenlet_main)
    g._slot = slot
    g._sp = _slot_top(slot) - (top - sp)  # where it will lie in the slot: as far from the top
    if _copy_save(g, sp) < 0:
        g._slot = NULL
        PyMem_RawFree(chunk)
        raise MemoryError(f"no memory to start a greenlet ({_held:,} greenlets held)")
    slot.owner.bound += 1
    _held += 1
    g._saved.datastack_chunk = chunk  # empty, as CPython leaves a root chunk: data[0] unused
    g._saved.datastack_top = &chunk.data[1]
    g._saved.datastack_limit = <PyObject **>(<char *>chunk + chunk.size)
    state.run = run  # g's _run may be another (see _arrive): dropping it could run code
    g._main, g._status = state.main, ACTIVE
    return 0


cdef int _unstart(_ThreadState state, greenlet g) except -1:
    """Undo _start: g's first switch found no memory, and g is as new again."""
    _unbind(g)
    g._main, g._status = None, NEW
    state.run = None
    return 0


cdef int _swap(_ThreadState state, greenlet target) noexcept:
    """Leave the running greenlet for target; return 0 when a switch comes back to it, or
    -1 at once, nothing done, if there was no memory to copy a greenlet out."""
    global _clock
    cdef PyThreadState *tstate = PyThreadState_Get()
    cdef PyObject *me = <PyObject *>state.current  # borrowed: our stack must not keep us alive
    cdef Slot *slot = target._slot  # NULL for a main greenlet, always on its thread's stack
    if slot != NULL and slot.occupant != <PyObject *>target and slot.occupant != me:
        if slot.occupant != NULL and _copy_save(<greenlet>slot.occupant,
                                                (<greenlet>slot.occupant)._sp) < 0:
            return -1
        _copy_restore(target)  # from here, where no frame of the slot is running
    _save(<greenlet>me, tstate)
    state.origin = state.current  # _ThreadState's reference to us goes with the switch
    state.current = target
    if slot != NULL:  # its recency, which _slot_for_new reads
        _clock += 1
        slot.entered = _clock
    if slot == NULL or slot.occupant == <PyObject *>target:
        switchyard_swap(&(<greenlet>me)._sp, target._sp)
    else:  # we run in target's slot: the copies are made from the switcher's stack
        switchyard_swap(&(<greenlet>me)._sp, switchyard_prepare(
            state.slots.switcher + SWITCHER_SIZE, _switcher_main))
    _restore(<greenlet>me, tstate)
    if state.stranded:  # the switcher could not copy us out: the switch never happened
        state.stranded = False
        state.current, state.origin = state.origin, None
        return -1
    return 0


# ---- Copies in and out of a slot

cdef int _copy_save(greenlet g, void *sp) noexcept:
    """Copy the bytes at sp, as many as g has from its _sp to its slot's top, into a new
    copy of g's; if g was the slot's occupant, it no longer is. -1 if there is no memory."""
    global _copied, _copied_bytes
    cdef size_t size = _slot_top(g._slot) - <char *>g._sp
    cdef char *copy = <char *>PyMem_RawMalloc(size)
    if copy == NULL:
        return -1
    if _bend(g) < 0:
        PyMem_RawFree(copy)
        return -1
    memcpy(copy, sp, size)
    g._copy = copy
    if g._slot.occupant == <PyObject *>g:
        g._slot.occupant = NULL
    _copied, _copied_bytes = _copied + 1, _copied_bytes + size
    return 0


cdef void _copy_restore(greenlet g) noexcept:
    """Copy g's bytes back to the addresses they came from, and free its copy: g is its
    slot's occupant now."""
    global _copied, _copied_bytes
    cdef size_t size = _slot_top(g._slot) - <char *>g._sp
    memcpy(g._sp, g._copy, size)
    PyMem_RawFree(g._copy)
    g._copy = NULL
    _unbend(g)
    g._slot.occupant = <PyObject *>g
    _copied, _copied_bytes = _copied - 1, _copied_bytes - size


# ---- Frames on the C stack (3.12)
#
# 3.12 keeps an interpreter frame on the C stack wherever C calls into Python (the eval
# loop's entry frame), and the chain of a greenlet's frames, which gr_frame's f_back and
# every traceback walk, passes through them. Once a greenlet's bytes are copied out,
# other bytes lie there. So while it is copied out, each of its frames whose previous is
# on its stack points past it instead, to the next frame elsewhere (or to none).

cdef struct Relink:
    _PyInterpreterFrame *frame  # a frame of the data stack...
    _PyInterpreterFrame *previous  # ...and its own previous, on the C stack


cdef inline bint _on_stack(greenlet g, _PyInterpreterFrame *frame) noexcept:
    """frame lies in g's bytes of its slot."""
    return <char *>g._sp <= <char *>frame < _slot_top(g._slot)


cdef int _bend(greenlet g) noexcept:
    """Bend g's chain of frames past its C stack, noting each link bent; -1 if there is no
    memory for the notes. Nothing to do before 3.12."""
    cdef _PyInterpreterFrame *frame = <_PyInterpreterFrame *>g._saved.current_frame
    cdef _PyInterpreterFrame *beyond
    cdef int most = 0
    if not SWITCHYARD_FRAMES_ON_C_STACK:
        return 0
    while frame != NULL:  # at most this many links to bend
        most += _on_stack(g, frame.previous)
        frame = frame.previous
    if most == 0:
        return 0
    g._relinks = <Relink *>PyMem_RawMalloc(most * sizeof(Relink))
    if g._relinks == NULL:
        return -1
    frame = <_PyInterpreterFrame *>g._saved.current_frame
    while frame != NULL:
        beyond = frame.previous
        while beyond != NULL and _on_stack(g, beyond):
            beyond = beyond.previous
        if beyond != frame.previous:
            g._relinks[g._relinked] = Relink(frame, frame.previous)
            g._relinked += 1
            frame.previous = beyond
        frame = beyond
    return 0


cdef void _unbend(greenlet g) noexcept:
    """Put back the links _bend bent: g's bytes are in place again."""
    while g._relinked:
        g._relinked -= 1
        g._relinks[g._relinked].frame.previous = g._relinks[g._relinked].previous
    PyMem_RawFree(g._relinks)
    g._relinks = NULL


cdef void _switcher_main() noexcept:
    """On the switcher's small stack, for a switch between two greenlets of one slot: copy
    out the one that left (unless it has finished), copy in the target, and enter it. With
    no memory for the first copy, enter the one that left again, stranded. The switcher's
    stack is made afresh for each such switch, so this never returns, and holds only
    borrowed pointers: a reference left here would be lost."""
    cdef PyObject *state = switchyard_thread_state
    cdef PyObject *left = <PyObject *>(<_ThreadState>state).origin
    cdef PyObject *target = <PyObject *>(<_ThreadState>state).current
    cdef void *abandoned  # where the switcher's own context would be kept: never resumed
    if (<greenlet>left)._status != DEAD and _copy_save(<greenlet>left, (<greenlet>left)._sp) < 0:
        (<_ThreadState>state).stranded = True
        switchyard_swap(&abandoned, (<greenlet>left)._sp)
    _copy_restore(<greenlet>target)
    switchyard_swap(&abandoned, (<greenlet>target)._sp)


cdef void _unbind(greenlet g) noexcept:
    """g leaves its slot for good (finished, unstarted again, or freed as it stands): its
    copy and its frames' chunks are freed, and its slot is emptied if g is in it."""
    global _held, _copied, _copied_bytes
    cdef Slot *slot = g._slot
    cdef Slots *slots = slot.owner
    if g._copy != NULL:
        _copied, _copied_bytes = _copied - 1, _copied_bytes - (_slot_top(slot) - <char *>g._sp)
        PyMem_RawFree(g._copy)
        g._copy = NULL
        PyMem_RawFree(g._relinks)  # its frames go too: no link needs its own back
        g._relinks, g._relinked = NULL, 0
    elif slot.occupant == <PyObject *>g:
        _slot_empty(slot)
    _chunks_free(g._saved.datastack_chunk)
    g._saved.datastack_chunk = NULL
    g._slot = NULL
    _held -= 1
    slots.bound -= 1
    if slots.orphaned and slots.bound == 0:
        _slots_free(slots)


cdef object _arrive(_ThreadState state, bint starting):
    """Take what the switch that resumed us carries: unbind a finished origin from its
    slot, call the tracer, then raise the error, or return the arguments (as switch()
    returns them or, for a start, as (args, kwargs))."""
    cdef greenlet origin = state.origin
    cdef tuple args = state.args
    cdef dict kwargs = state.kwargs
    cdef object error = state.error
    state.origin = state.args = state.kwargs = state.error = None
    if origin._status == DEAD:  # it has left its slot for good: its place there goes
        _unbind(origin)
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
# the greenlet that switch enters unbinds it from its slot (_arrive). So _greenlet_main
# holds no reference of its own, which would leak: only pointers _ThreadState keeps.

cdef void _greenlet_main() noexcept:
    """The first function on every greenlet's stack."""
    cdef _PyCFrame root_cframe  # the interpreter's list of C frames starts afresh here
    cdef PyObject *state = switchyard_thread_state
    cdef PyObject *heir = _live(<_ThreadState>state, &root_cframe)
    if _swap(<_ThreadState>state, <greenlet>heir) < 0:  # no way back to report it from
        Py_FatalError("impls.greenlet.stackswitch: no memory to copy a greenlet's stack out "
                      "while a finished greenlet leaves its own")


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

def _memory():
    """(started, unfinished greenlets of every thread; how many of them are copied out of
    their slots; the bytes of those copies)."""
    return _held, _copied, _copied_bytes

# The C declarations stackswitch.pyx uses: the thread state of CPython 3.11 and 3.12, the
# arena allocator, and the switch of switch_x86_64.h. Cython reads this file before the .pyx.
#
# Only the fields the switch saves and restores are declared; Cython needs no more, and the
# C compiler sees CPython's full definitions, from the public header cpython/pystate.h.
# What moved from 3.11 to 3.12 goes by the names of the last block, which maps them.
from cpython.object cimport PyObject


cdef extern from "Python.h":
    # The interpreter keeps one of these per C-level call into the eval loop, on the C
    # stack, in a linked list; a greenlet's part of it starts on its own stack.
    ctypedef struct _PyCFrame:
        void *current_frame  # the running _PyInterpreterFrame (opaque to us), or NULL
        _PyCFrame *previous

    # One entry of the stack of exceptions being handled (sys.exception()).
    ctypedef struct _PyErr_StackItem:
        PyObject *exc_value
        _PyErr_StackItem *previous_item

    # The interpreter's frames live in chunks of this "data stack", not on the C stack.
    ctypedef struct _PyStackChunk:
        _PyStackChunk *previous
        size_t size
        PyObject *data[1]

    ctypedef struct PyThreadState:
        int recursion_remaining "SWITCHYARD_PY_REMAINING"  # Python calls: how many more
        int recursion_limit "SWITCHYARD_PY_LIMIT"  # sys.getrecursionlimit()
        _PyCFrame *cframe
        _PyErr_StackItem *exc_info
        int trash_delete_nesting "SWITCHYARD_TRASH_NESTING"
        PyObject *context
        unsigned long long context_ver
        _PyStackChunk *datastack_chunk
        PyObject **datastack_top
        PyObject **datastack_limit
        _PyErr_StackItem exc_state
        _PyCFrame root_cframe

    ctypedef struct PyFrameObject
    PyThreadState *PyThreadState_Get()
    PyFrameObject *PyThreadState_GetFrame(PyThreadState *tstate)  # new reference, or NULL
    PyObject *PyThreadState_GetDict()  # borrowed
    int _Py_IsFinalizing()
    void Py_FatalError(const char *message)  # prints, and aborts the process

    # The allocator behind the data-stack chunks (_PyObject_VirtualAlloc, not exported),
    # and behind pymalloc's arenas.
    ctypedef struct PyObjectArenaAllocator:
        void *ctx
        void *(*alloc)(void *ctx, size_t size)
        void (*free)(void *ctx, void *ptr, size_t size)
    void PyObject_GetArenaAllocator(PyObjectArenaAllocator *allocator)
    void PyObject_SetArenaAllocator(PyObjectArenaAllocator *allocator)


cdef extern from *:
    """
    #if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030D0000 || defined(PYPY_VERSION)
    #error "impls.greenlet.stackswitch saves the thread state of CPython 3.11 and 3.12 only"
    #elif PY_VERSION_HEX >= 0x030C0000
    /* 3.12 renamed the recursion counters, gave C calls a counter of their own, moved the
       trashcan's nesting into a struct, traces through sys.monitoring rather than
       through a flag in each C frame, and keeps an interpreter frame on the C stack
       wherever C calls into Python (the eval loop's entry frame). */
    #define SWITCHYARD_PY_REMAINING py_recursion_remaining
    #define SWITCHYARD_PY_LIMIT py_recursion_limit
    #define SWITCHYARD_TRASH_NESTING trash.delete_nesting
    #define switchyard_c_depth(ts) (C_RECURSION_LIMIT - (ts)->c_recursion_remaining)
    #define switchyard_set_c_depth(ts, depth) ((ts)->c_recursion_remaining = C_RECURSION_LIMIT - (depth))
    #define switchyard_tracing_leaves(cframe) ((void)(cframe))
    #define switchyard_tracing_enters(cframe) ((void)(cframe))
    #define SWITCHYARD_FRAMES_ON_C_STACK 1
    #else
    /* 3.11 counts C calls with Python's, and keeps sys.settrace()'s on or off in each C
       frame: the target's innermost must carry on as the origin's was. The flag is kept
       aside as the origin leaves: its C frame may be copied over before the target enters. */
    #define SWITCHYARD_PY_REMAINING recursion_remaining
    #define SWITCHYARD_PY_LIMIT recursion_limit
    #define SWITCHYARD_TRASH_NESTING trash_delete_nesting
    #define switchyard_c_depth(ts) 0
    #define switchyard_set_c_depth(ts, depth) ((void)(depth))
    static __thread int switchyard_tracing;
    #define switchyard_tracing_leaves(cframe) (switchyard_tracing = (cframe)->use_tracing)
    #define switchyard_tracing_enters(cframe) ((cframe)->use_tracing = switchyard_tracing)
    #define SWITCHYARD_FRAMES_ON_C_STACK 0
    #endif
    """
    int switchyard_c_depth(PyThreadState *tstate)
    void switchyard_set_c_depth(PyThreadState *tstate, int depth)
    void switchyard_tracing_leaves(_PyCFrame *cframe)
    void switchyard_tracing_enters(_PyCFrame *cframe)
    enum: SWITCHYARD_FRAMES_ON_C_STACK


cdef extern from *:
    """
    #define Py_BUILD_CORE 1  /* the interpreter's frames are in the internal API */
    #include "internal/pycore_frame.h"
    #undef Py_BUILD_CORE
    """
    # The record of a running Python function: on the data stack, or (3.12) on the C stack.
    ctypedef struct _PyInterpreterFrame:
        _PyInterpreterFrame *previous  # the frame it returns to


cdef extern from "switch_x86_64.h":
    void *switchyard_prepare(char *top, void (*entry)() noexcept)
    void switchyard_swap(void **save, void *load)

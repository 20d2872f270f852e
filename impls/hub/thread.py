"""Threads that are greenlets: gevent's ``gevent/thread.py`` and the pieces of
``gevent/threading.py`` that ``patch_thread`` installs.

The stdlib's ``threading`` is written on top of a handful of names it takes from
``_thread``: start a thread, make a lock, tell who is running. Give it ours and it
runs every ``Thread`` as a greenlet of the hub, and every ``Lock`` waits in the hub:

    ident = start_new_thread(runtime, print, ("in a greenlet",))   # a task, not a thread
    get_ident(runtime)        # id() of the current greenlet: distinct per greenlet

``module(runtime)`` gathers them as gevent's ``gevent.thread`` module; after it come
the other pieces ``monkey.patch_thread`` installs in ``threading``.
"""
import _thread
import _threading_local
import functools
import threading
import types
import weakref


def get_ident(runtime, gr=None):
    """The identity of greenlet ``gr`` (the current one by default): its ``id()``, as
    gevent's. Unique among the greenlets alive; a later greenlet may reuse it."""
    return id(runtime.getcurrent() if gr is None else gr)


def start_new_thread(runtime, function, args=(), kwargs=None):
    """Run ``function(*args, **kwargs)`` in a new greenlet; return its identity. It
    starts when the caller next blocks, as any spawned task does."""
    task = runtime.spawn(function, *args, **(kwargs or {}))
    return get_ident(runtime, task)


def exit(runtime):
    """End the current "thread": raise what ends a greenlet quietly."""
    raise runtime.GreenletExit


def stack_size(size=None):
    """``_thread.stack_size``, for threads that are real ones still (a greenlet's
    stack is the greenlet implementation's business). Like gevent, it only ever raises
    the size: lowering it would shrink the stacks of the OS threads that run greenlets."""
    if size is None:
        return _thread.stack_size()
    if size > _thread.stack_size():
        return _thread.stack_size(size)
    if size == 0:
        return 0  # "the default": nothing to change
    if size < 32768:
        raise ValueError(size)  # below the documented minimum, as the stdlib refuses
    return None


def module(runtime):
    """A stand-in for ``gevent.thread``: ``_thread``'s names, threads made greenlets.
    ``_local`` is the stdlib's pure-Python ``_threading_local.local``: it keeps one
    dict per ``threading.current_thread()``, so it is per greenlet once ``threading``
    is patched (gevent writes a ``local`` of its own, per greenlet without a patch).
    ``_set_sentinel`` and ``_DummyThread`` are for the ``threading`` patch (below)."""
    namespace = types.SimpleNamespace(error=_thread.error, TIMEOUT_MAX=_thread.TIMEOUT_MAX,
                                      interrupt_main=_thread.interrupt_main,
                                      get_native_id=_thread.get_native_id)
    namespace.get_ident = functools.partial(get_ident, runtime)
    namespace.start_new_thread = functools.partial(start_new_thread, runtime)
    namespace.exit = functools.partial(exit, runtime)
    namespace.allocate_lock = namespace.LockType = runtime.Lock
    namespace.stack_size = stack_size
    namespace._local = _threading_local.local
    namespace._set_sentinel = functools.partial(set_sentinel, runtime)
    namespace._DummyThread = runtime._bind(_DummyThread)
    return namespace


# ---- What the threading patch adds: a thread's end, and threads threading did not start


def set_sentinel(runtime):
    """``_thread._set_sentinel``: 3.11's ``Thread`` takes this lock as it starts and
    ``join()`` waits for it; the interpreter releases the real one when the OS thread's
    state is deleted, which no greenlet has. Ours is released when the greenlet ends
    (gevent subclasses ``Thread`` to do the same)."""
    lock = runtime.Lock()
    runtime.getcurrent().rawlink(lambda task: lock.release())
    return lock


class _DummyThread(threading._DummyThread):
    """What ``threading.current_thread()`` makes for a greenlet that ``threading``
    did not start: one per greenlet, kept in ``threading._active`` under its identity.

    The stdlib's never leaves ``_active``; one per greenlet would pile up, and a new
    greenlet with a recycled ``id()`` would be taken for a dead one (and see its
    ``threading.local`` values). Ours leaves when its greenlet is freed, which is
    before the ``id()`` can be reused (gevent uses a link where it can, a weakref
    where it cannot; the weakref alone serves every greenlet)."""

    runtime = None  # the Runtime this class was bound to

    def __init__(self):
        super().__init__()
        self._greenlet = weakref.ref(self.runtime.getcurrent(), functools.partial(_forget, self._ident))


def _forget(ident, greenlet_ref):
    threading._active.pop(ident, None)  # the greenlet was freed: its dummy thread goes


def adopt_main_thread(runtime):
    """Make ``threading``'s main thread the main greenlet's: it was filed in
    ``threading._active`` under the OS thread's identity, and ``current_thread()``
    now asks for the greenlet's. Without this, the main greenlet would be a dummy
    thread, and ``threading._shutdown`` would not see the main thread ending."""
    main = threading.main_thread()
    del threading._active[main.ident]
    main._ident = get_ident(runtime)
    threading._active[main._ident] = main


def adopt_module_locks(runtime, native_ident):
    """Import locks held by this thread while it patches (``patch_all()`` run by a
    module as it is imported) are owned by the OS thread's identity, and their release
    compares it with ``_thread.get_ident()``, the greenlet's from now on: give them
    the greenlet's (gevent's ``_patch_existing_locks`` does it for RLocks too)."""
    import importlib._bootstrap as bootstrap

    for ref in list(bootstrap._module_locks.values()):
        lock = ref()
        if lock is not None and lock.owner == native_ident:
            lock.owner = get_ident(runtime)

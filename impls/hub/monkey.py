"""Monkey patching: make the standard library cooperative, in place (gevent's ``monkey``).

    from impls.hub import runtimes
    runtimes.stackswitch_core.monkey.patch_all()   # first, before other imports
    import urllib.request                          # its sockets now park greenlets

A patch replaces attributes of a stdlib module (``time.sleep``, ``socket.socket``...)
with a runtime's cooperative versions. Code that looks them up when it runs
(``time.sleep(1)``, ``socket.socket()``) gets ours from then on; code that copied one
before (``from time import sleep``, at import) keeps the original: that is why
patching comes first. The originals are kept in ``saved`` on first patch, for
``get_original`` and for whoever must block for real (a thread pool's OS threads).

The functions take the runtime first; ``Runtime`` binds them as ``runtime.monkey``,
so that users call ``patch_all()`` as in gevent. A process has one stdlib, so one
runtime patches it: another is refused. ``python -m impls.hub.monkey script.py``
patches, then runs the script (``python -m gevent.monkey script.py``).
"""
import functools
import sys
import types
import warnings

from .thread import adopt_main_thread, adopt_module_locks

saved = {}  # module name -> {attribute name: the original}, kept at the first patch
_patcher = []  # the Runtime that patched the stdlib, once one has
_patch_all_settings = {}  # patch_all's keyword -> the value it was first given


class MonkeyPatchWarning(RuntimeWarning):
    """What patching warns with: done too late, or not where it should be."""


# ---- Querying: what was patched, and what was there before


def is_module_patched(mod_name):
    """True if a patch replaced something in module ``mod_name`` (``'socket'``...)."""
    return mod_name in saved


def is_object_patched(mod_name, item_name):
    """True if a patch replaced ``mod_name.item_name``."""
    return item_name in saved.get(mod_name, {})


def get_original(mod_name, item_name):
    """What ``mod_name.item_name`` was before any patch: the saved original, or the
    module's attribute if it was not patched. A sequence of names gives a list.
    A module that does not exist raises ImportError, a name it lacks AttributeError."""
    names = [item_name] if isinstance(item_name, str) else list(item_name)
    module = __import__(mod_name)
    originals = saved.get(mod_name, {})
    values = [originals[name] if name in originals else getattr(module, name) for name in names]
    return values[0] if isinstance(item_name, str) else values


# ---- Patching one attribute


def patch_item(module, attr, new):
    """Set ``module.attr`` to ``new``, keeping the original the first time: patching
    twice keeps the first original, which is what makes patching twice harmless."""
    old = getattr(module, attr, _MISSING)
    if old is not _MISSING:
        saved.setdefault(module.__name__, {}).setdefault(attr, old)
    setattr(module, attr, new)


def remove_item(module, attr):
    """Delete ``module.attr`` (keeping it as the original), if it is there."""
    old = getattr(module, attr, _MISSING)
    if old is not _MISSING:
        saved.setdefault(module.__name__, {}).setdefault(attr, old)
        delattr(module, attr)


_MISSING = object()  # the attribute did not exist


def _claim(runtime):
    """Refuse a second runtime: the stdlib would hold the greenlets of two hubs."""
    if _patcher and _patcher[0] is not runtime:
        raise RuntimeError(f"the standard library is already patched for {_patcher[0]!r}")
    _patcher[:] = [runtime]


def _warn(message):
    # Point at the line that asked for the patch, however deep in here the warning is.
    level, frame = 2, sys._getframe(1)  # level 1 is this function, 2 its caller
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        level, frame = level + 1, frame.f_back
    warnings.warn(message, MonkeyPatchWarning, stacklevel=level)


# ---- The patches, one module each


def patch_time(runtime):
    """``time.sleep`` -> the runtime's ``sleep``: a sleeping greenlet lets others run."""
    _patch_names(runtime, "time", runtime, ("sleep",))


_DNS_NAMES = ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo",
              "getfqdn")


def patch_socket(runtime, dns=True, aggressive=True):
    """The names ``runtime.socket.__implements__`` lists (the socket class and the
    functions that make sockets, as gevent's) -> the runtime's; without ``dns``, not
    the name lookups. (``aggressive`` is gevent's, for Python 2's ``socket.ssl``:
    accepted, unused.)"""
    names = [name for name in runtime.socket.__implements__ if dns or name not in _DNS_NAMES]
    _patch_names(runtime, "socket", runtime.socket, names)


def patch_dns(runtime):
    """Only the name lookups of ``socket``: ``getaddrinfo`` and friends, which then
    run in the runtime's thread pool."""
    names = [name for name in runtime.socket.__implements__ if name in _DNS_NAMES]
    _patch_names(runtime, "socket", runtime.socket, names)


def _patch_names(runtime, module_name, source, names):
    module = __import__(module_name)
    _claim(runtime)
    for name in names:
        patch_item(module, name, getattr(source, name))


def patch_select(runtime, aggressive=True):
    """``select.select`` and ``select.poll`` -> the runtime's. With ``aggressive``,
    the interfaces we have no cooperative version of (epoll, kqueue, devpoll) are
    removed, so that code which checks for them falls back on poll or select."""
    import select

    _patch_names(runtime, "select", runtime.select, ("select", "poll"))
    if aggressive:
        for name in ("epoll", "kqueue", "kevent", "devpoll"):
            remove_item(select, name)


def patch_selectors(runtime, aggressive=True):
    """``selectors.DefaultSelector`` -> the runtime's, a PollSelector over our poll.

    Modules that chose a selector class as they were imported keep it: socketserver
    keeps ``selectors.PollSelector`` as ``_ServerSelector``. So the classes are
    changed in place too: PollSelector makes its poll object of our poll class (its
    ``_selector_cls``), SelectSelector calls our select (its ``_select``). With
    ``aggressive``, the selectors over epoll, kqueue and devpoll are removed."""
    import selectors

    _patch_names(runtime, "selectors", runtime.selectors, ("DefaultSelector",))
    # Class attributes, not module ones: not in ``saved``; get_original('select', ...)
    # has what they held.
    selectors.PollSelector._selector_cls = runtime.select.poll
    selectors.SelectSelector._select = staticmethod(runtime.select.select)
    if aggressive:
        for name in ("EpollSelector", "KqueueSelector", "DevpollSelector"):
            remove_item(selectors, name)


def patch_queue(runtime):
    """``queue``'s classes -> the runtime's, as gevent's: ``queue.SimpleQueue`` is C
    and would block the OS thread (the others, made of threading's locks, would not)."""
    _patch_names(runtime, "queue", runtime, ("Queue", "LifoQueue", "PriorityQueue", "SimpleQueue"))


# ---- The thread patch: threads become greenlets

# The threaded greenlet model is made of threading.Thread and threading.Lock: patched,
# they would be made of its own greenlets. (It would need the originals, kept at import.)
_MADE_OF_THREADS = ("impls.greenlet.threaded",)


def patch_thread(runtime, threading=True, _threading_local=True, Event=True, logging=True,
                 existing_locks=True):
    """``_thread`` and ``threading``: a new thread is a greenlet, a lock waits in the
    hub, and ``get_ident()`` (so ``current_thread()`` and ``threading.local``) is per
    greenlet, while the main greenlet stays the main thread.

    ``threading`` keeps its own copies of ``_thread``'s functions, made as it was
    imported; both modules are patched. ``threading.local`` becomes the stdlib's
    pure-Python ``_threading_local.local``, per greenlet now that ``current_thread()``
    is (so ``_threading_local`` itself needs no patch: accepted, unused). With
    ``Event``, ``threading.Event`` becomes the runtime's; with ``logging``, the locks
    of the logging module, made before the patch, are made anew; with
    ``existing_locks``, import locks this thread holds change owner (see thread.py)."""
    import threading as threading_module

    if runtime.greenlet.__name__ in _MADE_OF_THREADS:
        raise RuntimeError(f"{runtime!r}: its greenlets are threading.Threads; "
                           "patch_thread would make them of themselves")
    first_time = not is_module_patched("threading")
    native_ident = threading_module.get_ident()  # the OS thread's, before the patch
    on_main_thread = threading_module.current_thread() is threading_module.main_thread()
    _claim(runtime)
    _patch_names(runtime, "_thread", runtime.thread, ("allocate_lock", "LockType", "get_ident",
                                                      "start_new_thread", "exit", "stack_size", "_local"))
    if threading:
        _patch_threading_module(runtime, threading_module, Event)
        if first_time:
            _adopt_main_thread(runtime, threading_module, on_main_thread)
            _patch_shutdown(runtime, threading_module)
        if logging and "logging" in sys.modules:
            _renew_logging_locks(threading_module)
    if existing_locks:
        adopt_module_locks(runtime, native_ident)


def _patch_threading_module(runtime, threading, Event):
    green = runtime.thread
    patch_item(threading, "_start_new_thread", green.start_new_thread)
    patch_item(threading, "_allocate_lock", green.allocate_lock)
    patch_item(threading, "Lock", green.allocate_lock)
    patch_item(threading, "get_ident", green.get_ident)
    patch_item(threading, "_set_sentinel", green._set_sentinel)
    patch_item(threading, "_CRLock", None)  # RLock() then builds the Python RLock, on our locks
    patch_item(threading, "_DummyThread", green._DummyThread)
    patch_item(threading, "local", green._local)
    if Event:
        patch_item(threading, "Event", runtime.Event)


def _adopt_main_thread(runtime, threading, on_main_thread):
    """The main greenlet becomes the main thread. Patched from another thread, the
    main thread is not ours to adopt: gevent's two warnings."""
    if on_main_thread:
        adopt_main_thread(runtime)
        return
    _warn("Monkey-patching outside the main native thread. Some APIs will not be "
          "available. Expect a KeyError to be printed at shutdown.")
    _warn("Monkey-patching not on the main thread; threading.main_thread().join() "
          "will hang from a greenlet")


def _patch_shutdown(runtime, threading):
    """What the interpreter calls at exit, in the main thread: it releases the main
    thread, found by ``get_ident()`` (the main greenlet's, now; if another thread
    patched, set here), then waits for the threads that are not daemons. One still
    waiting for what never comes waits for ever: the stdlib hangs; here the loop runs
    dry and raises LoopExit, and the program ends quietly, as under gevent."""
    main, shutdown = threading.main_thread(), threading._shutdown

    def _shutdown():
        main._ident = threading.get_ident()
        try:
            shutdown()
        except runtime.LoopExit:
            pass

    patch_item(threading, "_shutdown", _shutdown)


def _renew_logging_locks(threading):
    # logging made its locks as it was imported: OS-thread RLocks, which a greenlet
    # that blocks while logging (to a socket) would not hold against the others.
    import logging

    patch_item(logging, "_lock", threading.RLock())
    for ref in logging._handlerList:
        handler = ref()
        if handler is not None:
            handler.lock = threading.RLock()


# ---- Everything, in the order that works


def patch_all(runtime, socket=True, dns=True, time=True, select=True, thread=True, os=True,
              ssl=True, subprocess=True, sys=False, aggressive=True, Event=True, builtins=True,
              signal=True, queue=True, contextvars=True, **kwargs):
    """Every patch this runtime has, with gevent's keywords. Return True.

    Not patched, accepted so that gevent's calls work unchanged: ``os`` (fork and
    waitpid), ``ssl``, ``subprocess``, ``signal``, ``sys``; ``builtins`` and
    ``contextvars`` patch nothing in gevent either, on Python 3. ``ssl`` stays the
    stdlib's: ``import ssl`` still works (its SSLSocket subclasses our socket class),
    but TLS is not cooperative. Called again with other keywords, it patches what
    was not patched yet and warns, as gevent does."""
    settings = dict(socket=socket, dns=dns, time=time, select=select, thread=thread,
                    aggressive=aggressive, Event=Event, queue=queue)
    if _patch_all_settings and settings != _patch_all_settings:
        _warn("Patching more than once will result in the union of all True parameters being patched")
    for name, value in settings.items():
        _patch_all_settings[name] = _patch_all_settings.get(name, False) or value
    # gevent's order: thread before time (gevent's thread patch needs the real sleep;
    # ours would not mind), select before selectors (imported after it, selectors
    # makes its classes of the select it finds).
    if thread:
        patch_thread(runtime, Event=Event)
    if time:
        patch_time(runtime)
    if socket:
        patch_socket(runtime, dns=dns, aggressive=aggressive)
    if select:
        patch_select(runtime, aggressive=aggressive)
        patch_selectors(runtime, aggressive=aggressive)
    if queue:
        patch_queue(runtime)
    return True


def bound(runtime):
    """The functions of this module for one runtime: ``runtime.monkey``."""
    namespace = types.SimpleNamespace(saved=saved, MonkeyPatchWarning=MonkeyPatchWarning,
                                      is_module_patched=is_module_patched,
                                      is_object_patched=is_object_patched, get_original=get_original)
    for patch in (patch_all, patch_time, patch_socket, patch_dns, patch_select, patch_selectors,
                  patch_thread, patch_queue):
        setattr(namespace, patch.__name__, functools.partial(patch, runtime))
    return namespace


# ---- python -m impls.hub.monkey [--runtime NAME] script.py [args...]

USAGE = "usage: python -m impls.hub.monkey [--runtime NAME] script.py [args...]"


def main(argv):
    """Patch everything for the runtime named (a pair of runtimes.py; ours, whole, by
    default), then run the script as ``__main__``, with ``sys.argv`` its own."""
    import runpy

    from . import runtimes

    name = "stackswitch_core"
    if argv[:1] == ["--runtime"] and len(argv) > 1:
        name, argv = argv[1], argv[2:]
    if not argv or argv[0].startswith("-"):
        sys.exit(USAGE)
    # The package's copy of this module, not this __main__ one: the script may import
    # impls.hub.monkey, and must find the same ``saved``.
    getattr(runtimes, name).monkey.patch_all()
    sys.argv[:] = argv
    runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])

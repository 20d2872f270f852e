"""Ready-made namespaces for the conformance suite: ``runtimes.greenlet_pyloop`` is
our hub on the real greenlet over our pure-Python loop, and so on for every
``<greenlet>_<loop>`` pair below; ``runtimes.gevent`` is gevent itself, under the same
names. Each is made on first access (PEP 562's module ``__getattr__``), so a pair
whose parts cannot load fails alone, with the reason.
"""
import importlib
import types

GREENLETS = {  # name -> the module with greenlet's API
    "greenlet": "greenlet",
    "threaded": "impls.greenlet.threaded",
    "stackswitch": "impls.greenlet.stackswitch",
}
LOOPS = {  # name -> a class with gevent's loop interface
    "pyloop": "impls.libev.pyloop:loop",
    "core": "impls.libev.core:loop",
    "corecext": "gevent.libev.corecext:loop",
}


def __getattr__(name):
    if name == "gevent":
        namespace = _gevent()
    else:
        greenlet_name, _, loop_name = name.partition("_")
        if greenlet_name not in GREENLETS or loop_name not in LOOPS:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        namespace = _runtime(GREENLETS[greenlet_name], LOOPS[loop_name])
    globals()[name] = namespace  # made once
    return namespace


def _runtime(greenlet_module, loop_target):
    from .runtime import Runtime

    module, _, cls = loop_target.partition(":")
    return Runtime(importlib.import_module(greenlet_module), getattr(importlib.import_module(module), cls))


def _gevent():
    """gevent's own public names, gathered from the modules that define them."""
    import gevent
    import gevent.exceptions
    import gevent.event
    import gevent.hub
    import gevent.lock
    import gevent.monkey
    import gevent.pool
    import gevent.queue
    import gevent.resolver.thread
    import gevent.select
    import gevent.selectors
    import gevent.server
    import gevent.socket
    import gevent.thread
    import gevent.threadpool
    import gevent.util

    if gevent.hub._get_hub() is None:
        # A loop of its own (default=False), as our runtimes have: libev's default loop
        # is one per process, and other code (the loop tests) runs and destroys it.
        gevent.hub.set_hub(gevent.hub.Hub(default=False))

    names = ("spawn", "sleep", "joinall", "wait", "iwait", "Timeout", "Greenlet", "get_hub", "getcurrent",
             "spawn_later", "killall", "spawn_raw")
    namespace = types.SimpleNamespace(**{name: getattr(gevent, name) for name in names})
    namespace.LoopExit = gevent.exceptions.LoopExit
    namespace.ConcurrentObjectUseError = gevent.exceptions.ConcurrentObjectUseError
    namespace.InvalidSwitchError = gevent.exceptions.InvalidSwitchError
    namespace.GreenletExit = gevent.GreenletExit
    namespace.socket = gevent.socket
    namespace.StreamServer = gevent.server.StreamServer
    namespace.ThreadPool = gevent.threadpool.ThreadPool
    namespace.Resolver = gevent.resolver.thread.Resolver
    for name in ("Semaphore", "BoundedSemaphore", "RLock", "DummySemaphore"):
        setattr(namespace, name, getattr(gevent.lock, name))
    namespace.Lock = gevent.thread.LockType
    namespace.thread, namespace.monkey = gevent.thread, gevent.monkey
    namespace.start_periodic_monitoring_thread = lambda: gevent.get_hub().start_periodic_monitoring_thread()
    namespace.select, namespace.selectors = gevent.select, gevent.selectors
    for module, names in ((gevent.event, ("Event", "AsyncResult")),
                          (gevent.queue, ("SimpleQueue", "Queue", "JoinableQueue", "PriorityQueue",
                                          "LifoQueue", "Full", "Empty")),
                          (gevent.pool, ("Group", "Pool", "PoolFull")),
                          (gevent.util, ("format_run_info", "print_run_info"))):
        for name in names:
            setattr(namespace, name, getattr(module, name))
    return namespace

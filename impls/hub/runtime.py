"""A runtime: the hub and everything on it, bound to one greenlet implementation and
one loop class, chosen when it is made.

    import greenlet
    from impls.libev.pyloop import loop
    gevent = Runtime(greenlet, loop)
    gevent.spawn(...), gevent.sleep(...), gevent.socket.socket(...)

Every class of the hub (``Hub``, ``Greenlet``, ``Timeout``, the socket, the primitives,
the thread pool...) is written once, with a ``runtime`` attribute; a Runtime makes its
own subclasses, which set it (and, for ``Hub`` and ``Greenlet``, put the chosen greenlet
class underneath). Runtimes share nothing, with each other or with gevent.
"""
import functools
import socket as _stdlib
import types

from . import exceptions, monkey, queue, select as select_module, socket as socket_module, thread, waiting
from .event import AsyncResult, Event
from .hub import Hub
from .lock import BoundedSemaphore, DummySemaphore, LockType, RLock, Semaphore
from .pool import Group, Pool, PoolFull
from .resolver import Resolver
from .server import StreamServer
from .task import Greenlet, killall, spawn_raw
from .threadpool import ThreadPool
from .timeout import Timeout
from .util import format_run_info, print_run_info


class Runtime:
    LoopExit = exceptions.LoopExit
    ConcurrentObjectUseError = exceptions.ConcurrentObjectUseError
    InvalidSwitchError = exceptions.InvalidSwitchError

    def __init__(self, greenlet_module, loop_class):
        self.greenlet = greenlet_module  # greenlet's API: greenlet, getcurrent, GreenletExit
        self.loop_class = loop_class  # gevent's loop interface
        self.getcurrent = greenlet_module.getcurrent
        self.GreenletExit = greenlet_module.GreenletExit
        self._hubs = {}  # a thread's main greenlet -> that thread's Hub
        self.Hub = self._bind(Hub, greenlet_module.greenlet)
        self.Greenlet = self._bind(Greenlet, greenlet_module.greenlet)
        self.Timeout = self._bind(Timeout)
        self.StreamServer = self._bind(StreamServer)
        self.Semaphore = self._bind(Semaphore)  # gevent.lock's names...
        self.BoundedSemaphore = self._bind(BoundedSemaphore)
        self.RLock = self._bind(RLock)
        self.DummySemaphore = DummySemaphore
        self.Lock = self._bind(LockType)  # ...and gevent.thread.LockType, threading.Lock once patched
        self.Event = self._bind(Event)  # gevent.event's names...
        self.AsyncResult = self._bind(AsyncResult)
        self.SimpleQueue = self._bind(queue.SimpleQueue)  # ...gevent.queue's...
        self.Queue = self.JoinableQueue = self._bind(queue.Queue, self.SimpleQueue)
        self.PriorityQueue = self._bind(queue.PriorityQueue, self.Queue)
        self.LifoQueue = self._bind(queue.LifoQueue, self.Queue)
        self.Full, self.Empty = queue.Full, queue.Empty
        self.Group = self._bind(Group)  # ...and gevent.pool's
        self.Group.greenlet_class = self.Greenlet
        self.Pool = self._bind(Pool, self.Group)
        self.PoolFull = PoolFull
        self.ThreadPool = self._bind(ThreadPool)  # gevent.threadpool's, and gevent.resolver.thread's
        self.Resolver = self._bind(Resolver)
        self.socket = self._socket_module()
        self.select = select_module.module(self)  # gevent.select, gevent.selectors, gevent.thread
        self.selectors = select_module.selectors_module(self.select.poll)
        self.thread = thread.module(self)
        self.monkey = monkey.bound(self)  # gevent.monkey: patch_all() patches the stdlib for this runtime
        self.spawn = self.Greenlet.spawn
        self.sleep = functools.partial(waiting.sleep, self)
        self.wait = functools.partial(waiting.wait, self)
        self.iwait = functools.partial(waiting.iwait, self)
        self.joinall = functools.partial(waiting.joinall, self)
        self.spawn_later = self.Greenlet.spawn_later
        self.killall = functools.partial(killall, self)
        self.spawn_raw = functools.partial(spawn_raw, self)
        self.format_run_info = functools.partial(format_run_info, self)  # gevent.util's
        self.print_run_info = functools.partial(print_run_info, self)

    def _bind(self, cls, *bases):
        return type(cls.__name__, (cls, *bases), {"runtime": self, "__module__": cls.__module__})

    def _socket_module(self):
        """A stand-in for ``gevent.socket``: every name of the stdlib's socket module,
        with our socket class and our functions, bound to this runtime, in place of
        those that block. ``__implements__`` names them, for monkey patching."""
        module = types.SimpleNamespace(**{k: v for k, v in vars(_stdlib).items() if not k.startswith("__")})
        module.socket = module.SocketType = self._bind(socket_module.socket)
        for name in ("socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo",
                     "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo"):
            setattr(module, name, functools.partial(getattr(socket_module, name), self))
        module.__implements__ = socket_module.IMPLEMENTS
        return module

    def get_hub(self):
        """This thread's hub, made on first use."""
        main = self._main_greenlet()
        hub = self._hubs.get(main)
        if hub is None:
            # default=False: a loop of our own; libev's default loop is gevent's.
            hub = self._hubs[main] = self.Hub(self.loop_class(default=False), main)
        return hub

    def get_hub_if_exists(self):
        """This thread's hub, or None (gevent's ``get_hub_if_exists``): for code that
        may run on an OS thread of its own, a monitor's or a pool worker's, and must
        not make a hub there."""
        return self._hubs.get(self._main_greenlet())

    def _main_greenlet(self):
        """The thread is found through its main greenlet, the root of the current
        greenlet's parents, not a thread-local: the threaded greenlet model runs each
        greenlet on an OS thread of its own."""
        main = self.getcurrent()
        while main.parent is not None:
            main = main.parent
        return main

    def start_periodic_monitoring_thread(self):
        """This thread's hub's monitor thread (monitor.py), started if the environment
        asks for one, as gevent's ``Hub.start_periodic_monitoring_thread``; else None."""
        return self.get_hub().start_periodic_monitoring_thread()

    def __repr__(self):
        return f"<Runtime {self.greenlet.__name__} on {self.loop_class.__module__}.{self.loop_class.__name__}>"

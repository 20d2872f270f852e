"""A runtime: the hub and everything on it, bound to one greenlet implementation and
one loop class, chosen when it is made.

    import greenlet
    from impls.libev.pyloop import loop
    gevent = Runtime(greenlet, loop)
    gevent.spawn(...), gevent.sleep(...), gevent.socket.socket(...)

The classes of ``hub``, ``task``, ``timeout``, ``socket`` and ``server`` are written once,
with a ``runtime`` attribute; a Runtime makes its own subclasses, which set it (and,
for ``Hub`` and ``Greenlet``, put the chosen greenlet class underneath). Runtimes share
nothing, with each other or with gevent.
"""
import functools
import socket as _stdlib
import types

from . import exceptions, waiting
from .hub import Hub
from .server import StreamServer
from .socket import create_connection, socket, socketpair
from .task import Greenlet
from .timeout import Timeout


class Runtime:
    LoopExit = exceptions.LoopExit
    ConcurrentObjectUseError = exceptions.ConcurrentObjectUseError

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
        self.socket = self._socket_module()
        self.spawn = self.Greenlet.spawn
        self.sleep = functools.partial(waiting.sleep, self)
        self.wait = functools.partial(waiting.wait, self)
        self.iwait = functools.partial(waiting.iwait, self)
        self.joinall = functools.partial(waiting.joinall, self)

    def _bind(self, cls, *bases):
        return type(cls.__name__, (cls, *bases), {"runtime": self, "__module__": cls.__module__})

    def _socket_module(self):
        """A stand-in for ``gevent.socket``: the stdlib's names, our socket class."""
        module = types.SimpleNamespace(**{k: v for k, v in vars(_stdlib).items() if k.isupper()})
        module.socket = self._bind(socket)
        module.socketpair = functools.partial(socketpair, self)
        module.create_connection = functools.partial(create_connection, self)
        module.timeout, module.error = _stdlib.timeout, OSError
        return module

    def get_hub(self):
        """This thread's hub, made on first use. The thread is found through its main
        greenlet, the root of the current greenlet's parents, not a thread-local:
        the threaded greenlet model runs each greenlet on an OS thread of its own."""
        main = self.getcurrent()
        while main.parent is not None:
            main = main.parent
        hub = self._hubs.get(main)
        if hub is None:
            # default=False: a loop of our own; libev's default loop is gevent's.
            hub = self._hubs[main] = self.Hub(self.loop_class(default=False), main)
        return hub

    def __repr__(self):
        return f"<Runtime {self.greenlet.__name__} on {self.loop_class.__module__}.{self.loop_class.__name__}>"

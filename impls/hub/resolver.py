"""Looking host names up without blocking the hub: gevent's thread resolver
(``gevent/resolver/thread.py``).

The C library's lookups (``getaddrinfo`` and friends) may wait for a DNS server for
seconds, and cannot be made to wait in the hub instead. So they run where blocking is
harmless: on a worker thread of the hub's threadpool, while the greenlet that asked
waits for the answer and the others run.

    resolver = Resolver()                 # on the current thread's hub
    resolver.getaddrinfo("localhost", 80)

``GEVENT_RESOLVER=block`` chooses the ``BlockingResolver`` instead, as in gevent.
"""
import _socket
import operator
import os


def configured(runtime):
    """The resolver class that GEVENT_RESOLVER names (gevent's ``config.resolver``):
    a comma-separated list, the first one we have wins; "thread" by default."""
    choices = os.environ.get("GEVENT_RESOLVER", "thread")
    for name in choices.replace(",", " ").split():
        if name == "thread":
            return runtime.Resolver
        if name == "block":
            return BlockingResolver
    raise ValueError(f"GEVENT_RESOLVER={choices!r}: ours are 'thread' and 'block'")


class Resolver:
    runtime = None  # the Runtime this class was bound to

    def __init__(self, hub=None):
        hub = hub if hub is not None else self.runtime.get_hub()
        self.pool = hub.threadpool  # where the lookups run and block

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        """Our choice, not gevent's (which sends every call to the pool): an IP address
        or None is resolved here, with AI_NUMERICHOST, which forbids any lookup, so it
        cannot block: connecting to 127.0.0.1 starts no thread. If the C library
        refuses, the host is a name, and a worker looks it up."""
        numeric = operator.index(flags) | _socket.AI_NUMERICHOST  # a bad flags: the stdlib's TypeError
        try:
            return _socket.getaddrinfo(host, port, family, type, proto, numeric)
        except _socket.gaierror:
            pass
        return self.pool.apply(_socket.getaddrinfo, (host, port, family, type, proto, flags))

    # Each of these may look a name up: a worker calls it. CPython's socket module
    # makes them safe to call from several threads at once.

    def gethostbyname(self, hostname):
        return self.pool.apply(_socket.gethostbyname, (hostname,))

    def gethostbyname_ex(self, hostname):
        return self.pool.apply(_socket.gethostbyname_ex, (hostname,))

    def gethostbyaddr(self, ip_address):
        return self.pool.apply(_socket.gethostbyaddr, (ip_address,))

    def getnameinfo(self, sockaddr, flags):
        return self.pool.apply(_socket.getnameinfo, (sockaddr, flags))


class BlockingResolver:
    """gevent's ``gevent/resolver/blocking.py``: the C library's own lookups, made in
    the hub's thread, so every greenlet waits while one looks a name up. For a program
    that only uses addresses, it starts no thread at all."""

    def __init__(self, hub=None):
        pass  # no pool, no hub: nothing to hold

    getaddrinfo = staticmethod(_socket.getaddrinfo)
    gethostbyname = staticmethod(_socket.gethostbyname)
    gethostbyname_ex = staticmethod(_socket.gethostbyname_ex)
    gethostbyaddr = staticmethod(_socket.gethostbyaddr)
    getnameinfo = staticmethod(_socket.getnameinfo)

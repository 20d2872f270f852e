"""The Hub: the greenlet that runs the loop (gevent's ``hub.py`` and ``_hub_primitives.py``).

Every other greenlet of the thread, when it must wait, starts a watcher whose callback
will switch back to it, and switches to the hub. The hub runs the loop; the loop calls
the callbacks; the callbacks switch to the waiting greenlets. When the loop runs out of
work, nothing can wake anyone any more: the hub throws ``LoopExit`` into its parent,
the thread's main greenlet.

``Hub`` is a mixin: ``Runtime`` puts it in front of the greenlet class it was given.
"""
import sys
import traceback

from . import monitor
from .exceptions import BlockingSwitchOutError, InvalidSwitchError, LoopExit
from .resolver import configured as configured_resolver
from .waiter import Waiter

SYSTEM_ERROR = (KeyboardInterrupt, SystemExit, SystemError)  # never just printed


class Hub:
    runtime = None  # the Runtime this class was bound to
    threadpool_size = 10  # gevent's default maxsize for the hub's threadpool

    def __init__(self, loop, parent):
        super().__init__(self._run_loop, parent)  # given, not overridden: see task.py
        self.loop = loop  # the event loop this hub runs, and every watcher lives in
        self._threadpool = None  # made on first use: threads only for who needs them
        self._resolver = None  # likewise; it uses the threadpool
        self.periodic_monitoring_thread = None  # the monitor (monitor.py), if one was started

    # ---- The hub's life: run the loop until it has nothing left to do

    def _run_loop(self):
        """Run the loop; when it ends, throw LoopExit into the main greenlet. The hub
        never returns (a return would look like a value to whoever switched here); a
        later blocking call switches back into this loop, which runs the loop again."""
        self.start_periodic_monitoring_thread()
        while True:
            self.loop.error_handler = self
            try:
                self.loop.run()
            finally:
                self.loop.error_handler = None  # the loop must not keep the hub alive
            self.parent.throw(LoopExit("This operation would block forever", self))

    def start_periodic_monitoring_thread(self):
        """Start the monitor thread, if GEVENT_MONITOR_THREAD_ENABLE asks for one, and
        return it (or None), as gevent's does; the hub starts it when it first runs."""
        if self.periodic_monitoring_thread is None and monitor.enabled():
            self.periodic_monitoring_thread = monitor.PeriodicMonitoringThread(self)
        return self.periodic_monitoring_thread

    def switch(self):
        """Switch into the hub from the current greenlet."""
        return self._switch_from(self.runtime.getcurrent())

    def _switch_from(self, current):
        """Switch into the hub from ``current``, which the caller knows is the current
        greenlet; gevent's ``switch_out`` check, made here: the hub cannot wait for itself."""
        if current is self:
            raise BlockingSwitchOutError("Impossible to call blocking function in the event loop callback")
        return super().switch()

    def wait(self, watcher):
        """Block the current greenlet until ``watcher`` fires (gevent's ``Hub.wait``).
        gevent puts a Waiter between the two; ours has the loop switch straight back to
        the greenlet, since only the hub runs the loop: no Waiter to make, and no
        check, on every wake-up, that the hub is the one waking it."""
        current = self.runtime.getcurrent()
        watcher.start(current.switch, watcher)
        try:
            result = self._switch_from(current)
            if result is not watcher:
                raise InvalidSwitchError(f"Invalid switch into {current}: got {result!r}")
        finally:
            watcher.stop()

    def join(self, timeout=None):
        """Wait until the loop has nothing left to do (True) or ``timeout`` passes
        (False): ``wait()`` with no objects. The timer is unreferenced, so that it does
        not itself keep the loop running."""
        waiter = Waiter(self)
        timer = None if timeout is None else self.loop.timer(timeout, ref=False)
        if timer is not None:
            timer.start(waiter.switch, None)
        try:
            waiter.get()
        except LoopExit:
            return True
        finally:
            if timer is not None:
                timer.close()
        return False

    # ---- Made on first use: the threadpool, and the resolver that runs on it

    @property
    def threadpool(self):
        """The ThreadPool that runs this hub's blocking calls (gevent's ``Hub.threadpool``)."""
        if self._threadpool is None:
            self._threadpool = self.runtime.ThreadPool(self.threadpool_size, hub=self)
        return self._threadpool

    @property
    def resolver(self):
        """The resolver the sockets look host names up with (gevent's ``Hub.resolver``):
        the thread resolver, unless GEVENT_RESOLVER names another."""
        if self._resolver is None:
            self._resolver = configured_resolver(self.runtime)(hub=self)
        return self._resolver

    # ---- Waking waiters with an error: a socket closed under a reader

    def cancel_waits_then(self, watchers, error, then):
        """Close ``watchers``, throw ``error`` into any greenlet waiting on one, then
        call ``then()`` (gevent's ``cancel_waits_close_and_then``). The throws are made
        from a callback, since only the hub may wake a waiter; ``then`` (closing the
        fd) comes after, so no watcher ever watches a closed fd."""
        if any(watcher.callback is not None for watcher in watchers):
            self.loop.run_callback(self._cancel_waits_then, watchers, error, then)
            return
        for watcher in watchers:
            watcher.close()
        then()

    def _cancel_waits_then(self, watchers, error, then):
        for watcher in watchers:
            # The callback is the waiting greenlet's switch (see wait); if the watcher
            # fired meanwhile, that greenlet is already awake and keeps its result.
            waiting = watcher.callback.__self__ if watcher.active else None
            watcher.close()
            if waiting is not None:
                waiting.throw(error)
        then()

    # ---- Errors: the loop reports the errors of its callbacks here

    def handle_error(self, context, type, value, tb):
        """Print an error that a callback or a greenlet let escape; a system error
        (Ctrl-C, sys.exit) and an error with no context (a signal handler's, raised in
        the loop) are raised in the main greenlet instead (gevent's ``Hub.handle_error``
        and ``handle_system_error``)."""
        if context is None or issubclass(type, SYSTEM_ERROR):
            self._raise_in_main(type, value)
            return
        traceback.print_exception(type, value, tb)
        sys.stderr.write(f"{context!r} failed with {type.__name__}\n\n")

    def _raise_in_main(self, type, value):
        if self.runtime.getcurrent() in (self, self.parent):
            self.parent.throw(type, value)
        else:  # from a greenlet: let it switch out first, then raise in main
            self.loop.run_callback(self.parent.throw, type, value)

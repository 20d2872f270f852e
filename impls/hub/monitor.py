"""The monitor thread: an OS thread that watches a hub's loop and reports, on stderr, a
greenlet that kept the loop from running for longer than ``max_blocking_time``
(gevent's ``_monitor.py`` and ``_tracer.py``). Opt-in, with gevent's variables:

    GEVENT_MONITOR_THREAD_ENABLE=1 GEVENT_MAX_BLOCKING_TIME=0.1 python app.py

A hub then starts one when it first runs (or at ``start_periodic_monitoring_thread()``).
A greenlet that computes for half a second, or calls a function that blocks the OS
thread, holds every other greenlet back all that time; the report names it, shows its
stack, then every thread and greenlet (``format_run_info``). One report per episode.

How it tells. gevent counts greenlet switches with ``greenlet.settrace``: a call on
every switch of every greenlet. We watch the loop instead, two calls per turn of the
loop, whatever the greenlets do. A check watcher of the highest priority, the first thing to run after the
poll, notes the time the loop came out of it; a prepare watcher of the lowest, the last
thing before the poll, notes that the loop is about to wait again. Greenlets only run in
between. The thread looks a few times per ``max_blocking_time``: a loop that has not
been back to its poll for that long is held by a greenlet.
"""
import gc
import os
import sys
import time
import traceback
import weakref

from .monkey import get_original
from .util import env_flag, format_run_info, main_of

# The originals, even once the stdlib is patched: the monitor must be a real OS thread
# that really sleeps, or it would be one more greenlet waiting on the loop it watches.
get_thread_ident = get_original("_thread", "get_ident")
start_new_thread = get_original("_thread", "start_new_thread")
thread_sleep = get_original("time", "sleep")


def enabled():
    """GEVENT_MONITOR_THREAD_ENABLE: whether each hub starts a monitor (off by default)."""
    return env_flag("GEVENT_MONITOR_THREAD_ENABLE", False)


def max_blocking_time():
    """GEVENT_MAX_BLOCKING_TIME: the seconds a greenlet may hold the loop (0.1 by default)."""
    seconds = float(os.environ.get("GEVENT_MAX_BLOCKING_TIME") or 0.1)
    if seconds <= 0:
        raise ValueError("Must be positive")  # gevent's words
    return seconds


class PeriodicMonitoringThread:
    """The monitor of one hub, and the OS thread it runs in. Made in the hub's thread,
    by the hub; it ends when killed, or soon after the hub has been freed. Not a
    ``threading.Thread``: patching makes those greenlets (gevent avoids them too)."""

    samples = 4  # looks per max_blocking_time: a report comes at most a quarter late

    def __init__(self, hub):
        self._hub = weakref.ref(hub, self._on_hub_gc)  # weak: the monitor must not keep it
        self.max_blocking_time = max_blocking_time()  # seconds a greenlet may hold the loop
        self.hub_thread_ident = get_thread_ident()  # the thread whose stack a report shows
        self.should_run = True  # False: the thread ends at its next look
        self._polling = False  # the loop waits in its poll: idle, not held
        self._polled = time.perf_counter()  # when it last came out of its poll (or now)
        self._reported = None  # the _polled of the last episode reported
        loop = hub.loop
        # Unreferenced (ref=False): watching the loop must not keep it running.
        self._check = loop.check(ref=False, priority=loop.MAXPRI)
        self._prepare = loop.prepare(ref=False, priority=loop.MINPRI)
        self._check.start(self._after_poll)
        self._prepare.start(self._before_poll)
        self.monitor_thread_ident = start_new_thread(self._run, ())

    # ---- In the hub's thread: the two watchers, and the end

    def _after_poll(self):
        self._polled = time.perf_counter()  # first: see _look, in the other thread
        self._polling = False

    def _before_poll(self):
        self._polling = True

    def kill(self):
        """Stop, from the hub's thread (its watchers are the loop's): the watchers go
        now, the thread at its next look. A second call does nothing."""
        if self.should_run:
            self.should_run = False
            self._check.close()
            self._prepare.close()

    def _on_hub_gc(self, _):
        # The hub was freed, maybe in another thread: leave the loop alone, just end.
        self.should_run = False

    # ---- In the monitor's thread: look, and report

    def _run(self):
        while self.should_run:
            thread_sleep(self.max_blocking_time / self.samples)
            hub = self._hub()
            if hub is None:
                return
            self._look(hub)
            del hub  # not held while we sleep: the hub must stay free to go

    def _look(self, hub):
        """Report if the loop has not been back to its poll for max_blocking_time:
        once per episode, which the time it last came out of its poll names."""
        if self._polling:  # read first: _after_poll sets _polled before it clears this
            return
        polled = self._polled
        if polled != self._reported and time.perf_counter() - polled >= self.max_blocking_time:
            self._reported = polled
            self._report(hub)

    def _report(self, hub):
        """gevent's report: who holds the loop, the stack of the hub's thread, then
        every thread and greenlet (their stacks elided: the one that matters is above).
        Printed a line at a time, as gevent does, so that it never holds stderr long."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        lines = ["=" * 80,
                 f"\n{stamp} : Greenlet {_running_greenlet(hub)} appears to be blocked",
                 f"    Reported by {self!r}",
                 f"Blocked Stack (for thread id {self.hub_thread_ident:#x}):",
                 self._hub_thread_stack(hub),
                 "Info:",
                 *format_run_info(hub.runtime, greenlet_stacks=False,
                                  current_thread_ident=self.monitor_thread_ident)]
        for line in lines:
            print(line, file=sys.stderr)

    def _hub_thread_stack(self, hub):
        frame = sys._current_frames().get(self.hub_thread_ident)
        if frame is None:  # the thread has ended
            return f"Unknown: No thread found for hub {hub!r}\n"  # gevent's words
        return "".join(traceback.format_stack(frame))

    def __repr__(self):
        return (f"<{type(self).__name__} at {hex(id(self))} in thread "
                f"{self.monitor_thread_ident:#x} for {self._hub()!r}>")


def _running_greenlet(hub):
    """The greenlet that runs in the hub's thread: begun, not dead, and without a frame
    to show (gr_frame is a suspended greenlet's). It is found among all greenlets, as
    format_run_info finds them: no greenlet can be asked, since none can run now."""
    greenlet_class = hub.runtime.greenlet.greenlet
    for greenlet in gc.get_objects():
        # The raw greenlet's truth, "begun and not dead": a task's is also true when
        # it is only scheduled, and then it has no frame either.
        if (isinstance(greenlet, greenlet_class) and greenlet_class.__bool__(greenlet)
                and greenlet.gr_frame is None and main_of(greenlet) is hub.parent):
            return greenlet
    return None

"""gevent's monitor thread: an OS thread that looks at the loop from
outside, and reports a greenlet that kept it from running for longer
than max_blocking_time."""
import os
import time

# As if set in the shell (the monitor is off by default):
os.environ["GEVENT_MONITOR_THREAD_ENABLE"] = "1"
os.environ["GEVENT_MAX_BLOCKING_TIME"] = "0.1"  # seconds, the default

from impls.hub import runtimes  # the hub reads them when it starts

gevent = runtimes.stackswitch_core


def crunch():
    until = time.perf_counter() + 0.3
    while time.perf_counter() < until:  # 0.3 s of work, no wait
        pass


def ticker():
    for _ in range(3):
        gevent.sleep(0.05)


gevent.joinall([gevent.spawn(crunch), gevent.spawn(ticker)])

"""Tornado 4.5's set_blocking_log_threshold, rebuilt around our IOLoop's
poller: an alarm armed when the loop stops waiting, disarmed before it
waits again."""
import signal
import time
import traceback

from impls.ioloop.pollioloop import IOLoop

THRESHOLD = 0.1  # seconds


class AlarmedPoller:
    def __init__(self, poller):
        self.poller = poller

    def poll(self, timeout):
        signal.setitimer(signal.ITIMER_REAL, 0)  # waiting: no alarm
        try:
            return self.poller.poll(timeout)
        finally:  # callbacks run from now on
            signal.setitimer(signal.ITIMER_REAL, THRESHOLD)

    def __getattr__(self, name):  # register, modify, unregister...
        return getattr(self.poller, name)


def log_stack(signum, frame):  # in the main thread, inside the culprit
    print(f"IOLoop blocked for {THRESHOLD} seconds in")
    print("".join(traceback.format_stack(frame)), end="")


def handler():
    time.sleep(0.3)  # blocks the loop: nothing else runs meanwhile
    loop.stop()


signal.signal(signal.SIGALRM, log_stack)
loop = IOLoop()
loop._poller = AlarmedPoller(loop._poller)  # the loop's own, wrapped
loop.call_later(0.01, handler)
loop.start()
signal.setitimer(signal.ITIMER_REAL, 0)

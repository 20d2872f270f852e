"""gevent's ``Timeout`` (``timeout.py``): an exception that a timer raises in the
greenlet that started it, if that greenlet is still inside the block when time is up.

    with Timeout(0.5):            # raises Timeout in this greenlet after 0.5 s
        sock.recv(1)
    with Timeout(0.5, False):     # the same, but the with block swallows it
        sock.recv(1)
    t = Timeout.start_new(0.5, socket.timeout("timed out"))  # raise this instead
"""


class Timeout(BaseException):
    runtime = None  # the Runtime this class was bound to

    def __init__(self, seconds=None, exception=None, ref=True, priority=-1):
        super().__init__()
        self.seconds = seconds  # None: never expires
        self.exception = exception  # None: raise self; False: raise self, silently
        self.timer = None  # the loop's timer; None without seconds, or once closed
        if seconds is not None:
            # priority -1, as in gevent: after I/O ready in the same pass (a reply just in time wins)
            loop = self.runtime.get_hub().loop
            self.timer = loop.timer(seconds or 0.0, ref=ref, priority=priority)

    @classmethod
    def start_new(cls, timeout=None, exception=None, ref=True):
        """Create and start a Timeout; given a Timeout, start it if it is not."""
        if isinstance(timeout, Timeout):
            if not timeout.pending:
                timeout.start()
            return timeout
        timeout = cls(timeout, exception, ref)
        timeout.start()
        return timeout

    def start(self):
        """Arm the timer, for the current greenlet; an armed Timeout refuses, and so
        does a closed one (with gevent's words: its timer is gone for good)."""
        if self.pending:
            raise AssertionError(f"{self!r} is already started; to restart it, cancel it first")
        if self.seconds is None:
            return
        if self.timer is None:
            raise AssertionError("non-expiring timer cannot be started")
        # update=True: count the seconds from now, not from the loop's last wake-up
        self.timer.start(self._expire, self.runtime.getcurrent(), self._throws(), update=True)

    def _throws(self):
        """What expiry throws: this Timeout, unless given something else. As in gevent,
        that is anything but None, False or a string, thrown as it is: ``Timeout(1, 42)``
        makes the greenlet's throw fail, in the hub, which reports the TypeError."""
        if self.exception is None or self.exception is False or isinstance(self.exception, str):
            return self
        return self.exception

    @staticmethod
    def _expire(greenlet, exception):
        greenlet.throw(exception)  # in the hub: the greenlet raises where it waits

    @property
    def pending(self):
        """The timer is armed and has not fired."""
        return self.timer is not None and (self.timer.pending or self.timer.active)

    def cancel(self):
        """Disarm; the Timeout may be started again."""
        if self.timer is not None:
            self.timer.stop()

    def close(self):
        """Disarm for good and give the timer back to the loop."""
        if self.timer is not None:
            self.timer.stop()
            self.timer.close()
            self.timer = None

    def __enter__(self):
        if not self.pending:
            self.start()
        return self

    def __exit__(self, type, value, tb):
        self.close()
        return value is self and self.exception is False  # swallow a silent Timeout

    def __str__(self):
        if self.seconds is None:
            return ""
        text = f"{self.seconds} second{'' if self.seconds == 1 else 's'}"
        if self.exception is False:
            return text + " (silent)"
        return text if self.exception is None else f"{text}: {self.exception}"

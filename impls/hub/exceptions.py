"""gevent's errors (``gevent/exceptions.py``), our own classes: no runtime touches gevent."""


class LoopExit(Exception):
    """The loop ran out of work while a greenlet was still waiting: nothing can wake it."""

    def __str__(self):
        return str(self.args[0]) if self.args else repr(self)  # args[1], the hub: debugging


class ConcurrentObjectUseError(AssertionError):
    """Two greenlets tried to wait on the same watcher (read the same socket, say)."""


class BlockingSwitchOutError(AssertionError):
    """A blocking call was made inside the hub, which has nowhere to switch to."""


class InvalidSwitchError(AssertionError):
    """A waiting greenlet was switched to by something other than what it waits for."""

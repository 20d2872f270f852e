"""The Waiter: a one-shot rendezvous between a waiting greenlet and the hub.

The waiting greenlet calls ``get()``, which switches to the hub; a loop callback, in the
hub, calls ``switch(value)`` or ``throw(...)``, which switches back. If the callback
comes first, the value is kept and ``get()`` returns it at once (gevent's ``_waiter.py``).
"""
_EMPTY = object()  # nothing has arrived yet


class Waiter:
    def __init__(self, hub):
        self.hub = hub  # the hub of this thread: the only greenlet allowed to wake us
        self.greenlet = None  # the greenlet blocked in get(), if one is
        self.value = None  # what switch() delivered
        self._exception = _EMPTY  # _EMPTY, None after switch(), or throw()'s arguments

    def switch(self, value):
        """Deliver ``value``: wake the waiting greenlet, or keep it for ``get()``."""
        if self.greenlet is None:
            self.value, self._exception = value, None
            return
        self._check_in_hub()
        self.greenlet.switch(value)

    def throw(self, *throw_args):
        """Raise in the waiting greenlet, or keep the error for ``get()``."""
        if self.greenlet is None:
            self._exception = throw_args
            return
        self._check_in_hub()
        self.greenlet.throw(*throw_args)

    def get(self):
        """Wait, in the hub, for switch() or throw(); the current greenlet blocks."""
        if self._exception is not _EMPTY:
            return self._delivered()
        self.greenlet = self.hub.runtime.getcurrent()
        try:
            return self.hub._switch_from(self.greenlet)  # getcurrent() once, not again
        finally:
            self.greenlet = None

    def clear(self):
        """Forget what was delivered, to wait again (MultipleWaiter does)."""
        self.value, self._exception = None, _EMPTY

    def _delivered(self):
        if self._exception is None:
            return self.value
        raise self._exception[0] if len(self._exception) == 1 else self._exception[1]

    def _check_in_hub(self):
        # gevent asserts the same in Waiter.switch: waking a greenlet from anywhere
        # but the hub would leave the hub's loop iteration half done.
        if self.hub.runtime.getcurrent() is not self.hub:
            raise AssertionError("Can only use Waiter.switch method from the Hub greenlet")


class MultipleWaiter(Waiter):
    """A Waiter that queues every value it is given (gevent's ``MultipleWaiter``), for
    iwait: several greenlets may finish while the waiting greenlet is busy elsewhere."""

    def __init__(self, hub):
        super().__init__(hub)
        self._values = []  # delivered values not yet returned by get()

    def switch(self, value):
        self._values.append(value)
        super().switch(True)

    def get(self):
        if not self._values:
            super().get()
        self.clear()  # a value given while nobody waited left its mark too: drop it
        return self._values.pop(0)

"""The timeout queue: the IOLoop's timers, earliest first, in a binary heap.

Invariants:

- ``heap`` holds ``(deadline, sequence, Timeout)`` tuples. The sequence number
  grows with every push, so timers with equal deadlines come out in the order
  they were added (FIFO), and two tuples never tie, so comparisons stay inside
  C (tuples of floats and ints) and never reach the Timeout objects.
- Cancelling does not remove from the heap (that would cost a search): it sets
  the Timeout's callback to None, and the entry is dropped when it reaches the
  head, or by a compaction once cancelled entries are many and most of the heap.
"""
import heapq
import itertools

# Compact when more than this many cancelled entries wait in the heap (and they
# are more than half of it): below it, skipping them at the head costs less.
COMPACT_THRESHOLD = 512


class Timeout:
    """A timer: the handle that ``call_at`` returns and ``remove_timeout`` takes.
    Its deadline is kept beside it, in its heap entry."""

    __slots__ = ("callback", "args", "kwargs")  # no __dict__: one per timer

    def __init__(self, callback, args, kwargs):
        self.callback = callback  # None once cancelled or run
        self.args = args  # positional arguments for the callback
        self.kwargs = kwargs  # keyword arguments for the callback


class TimeoutQueue:
    """The pending timers, and the count of cancelled ones still in the heap."""

    def __init__(self):
        self.heap = []  # (deadline, sequence, Timeout), smallest first
        self.cancellations = 0  # cancelled Timeouts still in the heap
        self._sequence = itertools.count()  # tie-breaker: FIFO among equal deadlines

    def push(self, deadline, callback, args, kwargs):
        """Add a timer and return its Timeout."""
        timeout = Timeout(callback, args, kwargs)
        heapq.heappush(self.heap, (deadline, next(self._sequence), timeout))
        return timeout

    def cancel(self, timeout):
        """Make sure ``timeout`` will not run. Twice, or after it ran: no-op.

        The count is of cancelled entries in the heap, but a timer cancelled after
        ``pop_due`` took it (by a callback of the same iteration) is counted too:
        the count only decides when to compact, and compaction recounts."""
        if timeout.callback is not None:
            # Free what the timer holds now, not when its entry leaves the heap.
            timeout.callback = timeout.args = timeout.kwargs = None
            self.cancellations += 1

    def pop_due(self, now):
        """Remove and return the Timeouts due at ``now``, in deadline order.
        Cancelled entries met at the head are dropped on the way."""
        heap = self.heap
        due = []
        while heap:
            deadline, _, timeout = heap[0]
            if timeout.callback is None:
                heapq.heappop(heap)
                self.cancellations -= 1
            elif deadline <= now:
                due.append(heapq.heappop(heap)[2])
            else:
                break
        if self.cancellations > COMPACT_THRESHOLD and self.cancellations > len(heap) >> 1:
            self._compact()
        return due

    def _compact(self):
        # Drop every cancelled entry and restore the heap order. In place: the
        # IOLoop holds on to this list while it runs.
        self.heap[:] = [entry for entry in self.heap if entry[2].callback is not None]
        heapq.heapify(self.heap)
        self.cancellations = 0

    def clear(self):
        """Forget every timer (when the IOLoop closes)."""
        self.heap.clear()
        self.cancellations = 0

"""libev's timer heap (``ev.c``: ``upheap``, ``downheap``, ``adjustheap``).

The heap is a list of active timer watchers ordered by their expiry time ``_at``:
``heap[0]`` expires first. Invariant: every timer expires no earlier than its parent,
and every timer in the heap knows its slot, ``heap[w._active - 1] is w`` (libev's
``ev_active``). Knowing its slot is what lets a timer leave the heap from anywhere in
O(log n) and leave nothing behind. The alternative, lazy deletion (``heapq`` plus a
"cancelled" flag, as the Tornado IOLoop does), keeps stopped timers in the heap until
they reach the top; libev, which stops and restarts a timer on every timeout, rejects it.

libev's default heap is 4-ary (``EV_USE_4HEAP``), for cache locality in C; this is its
binary variant. Neither keeps timers that expire at the same time in start order.
"""


def upheap(heap, k):
    """Move the timer in slot ``k`` up until its parent expires no later."""
    w = heap[k]
    while k:
        p = (k - 1) >> 1
        parent = heap[p]
        if parent._at <= w._at:
            break
        heap[k] = parent
        parent._active = k + 1
        k = p
    heap[k] = w
    w._active = k + 1


def downheap(heap, k):
    """Move the timer in slot ``k`` down until its children expire no earlier."""
    w = heap[k]
    n = len(heap)
    while True:
        c = 2 * k + 1
        if c >= n:
            break
        if c + 1 < n and heap[c + 1]._at < heap[c]._at:
            c += 1  # the child that expires first
        if w._at <= heap[c]._at:
            break
        heap[k] = heap[c]
        heap[k]._active = k + 1
        k = c
    heap[k] = w
    w._active = k + 1


def adjustheap(heap, k):
    """Restore the order after the timer in slot ``k`` changed its ``_at``."""
    if k and heap[(k - 1) >> 1]._at > heap[k]._at:
        upheap(heap, k)
    else:
        downheap(heap, k)

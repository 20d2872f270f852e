"""Blocking for time and for tasks: gevent's ``sleep`` (``hub.py``) and ``wait``,
``iwait``, ``joinall`` (``_hub_primitives.py``, ``greenlet.py``).

Each function takes the runtime first; ``Runtime`` binds it, so that users call
``sleep(0.1)`` as in gevent.
"""
from .waiter import MultipleWaiter, Waiter


def sleep(runtime, seconds=0, ref=True):
    """Yield to the other greenlets: for one turn of the callbacks if ``seconds`` <= 0,
    else until a timer fires."""
    hub = runtime.get_hub()
    if seconds <= 0:
        waiter = Waiter(hub)
        hub.loop.run_callback(waiter.switch, None)  # after the callbacks already queued
        waiter.get()
        return
    timer = hub.loop.timer(seconds, ref=ref)
    try:
        hub.loop.update_now()  # count from now, not from the loop's last wake-up
        hub.wait(timer)
    finally:
        timer.close()


def iwait(runtime, objects, timeout=None, count=None):
    """Yield ``objects`` (tasks, or anything with rawlink/unlink) as they finish, at
    most ``count`` of them, until ``timeout`` seconds have passed."""
    hub = runtime.get_hub()
    objects = list(objects)
    count = len(objects) if count is None else min(count, len(objects))
    waiter = MultipleWaiter(hub)
    timer = None if timeout is None else hub.loop.timer(timeout, priority=-1)
    for obj in objects:
        obj.rawlink(waiter.switch)  # all of them, whichever finishes first
    if timer is not None:
        timer.start(waiter.switch, waiter, update=True)  # waiter itself: time is up
    try:
        for _ in range(count):
            item = waiter.get()
            if item is waiter:
                return
            yield item
    finally:  # also when the caller stops iterating early
        if timer is not None:
            timer.close()
        for obj in objects:
            obj.unlink(waiter.switch)


def wait(runtime, objects=None, timeout=None, count=None):
    """The list of ``objects`` that finished within ``timeout``; with no objects,
    wait for the loop to run out of work (True) or the timeout (False)."""
    if objects is None:
        return runtime.get_hub().join(timeout)
    return list(iwait(runtime, objects, timeout, count))


def joinall(runtime, greenlets, timeout=None, raise_error=False, count=None):
    """``wait`` for tasks; with ``raise_error``, raise the first error one of them
    raised, as soon as it has."""
    if not raise_error:
        return wait(runtime, greenlets, timeout, count)
    done = []
    for task in iwait(runtime, greenlets, timeout, count):
        if task.exception is not None:
            raise task.exception
        done.append(task)
    return done

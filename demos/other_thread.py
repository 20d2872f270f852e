"""A greenlet belongs to the thread it started in; another thread
asks that thread's loop."""
import threading

from impls.hub import runtimes

gevent = runtimes.stackswitch_core
greenlet = gevent.greenlet  # greenlet's API: our stackswitch module
hub = gevent.get_hub()  # the main thread's: each thread has its own

result = gevent.AsyncResult()
task = gevent.spawn(result.get)
gevent.sleep(0)  # the task starts, and waits in the main thread's hub


def wrong():  # switch straight into the waiting greenlet
    try:
        task.switch(42)
    except greenlet.error as error:
        print("greenlet.error:", error)


def right():  # the loop's thread-safe door: an async watcher
    hub.loop.run_callback_threadsafe(result.set, 42)


for target in (wrong, right):
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
print("the task got", task.get(timeout=1))

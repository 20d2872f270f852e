"""LoopExit: main waits, and nothing left in the loop could wake it."""
from impls.hub import runtimes

gevent = runtimes.stackswitch_core
queue = gevent.Queue()


def producer():
    for item in ("a", "b"):
        queue.put(item)
    # returns: no one will ever put a third item


gevent.spawn(producer)
try:
    while True:
        print("got", queue.get())  # the third get waits forever
except gevent.LoopExit as error:
    print("LoopExit:", error)

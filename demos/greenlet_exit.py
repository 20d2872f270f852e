"""kill() throws GreenletExit where the greenlet waits: its finally
blocks run."""
from impls.hub import runtimes

gevent = runtimes.stackswitch_core


def polite():
    try:
        gevent.sleep(60)
    finally:
        print("polite: finally runs, the connection is closed")


def stubborn():
    while True:
        try:
            gevent.sleep(60)
        except:  # a bare except: it catches GreenletExit too
            print("stubborn: swallowed the kill, sleeps again")


task = gevent.spawn(polite)
gevent.sleep(0)  # let it start
task.kill()
print("polite: dead", task.dead, "| successful", task.successful(),
      "| value", repr(task.value))

task = gevent.spawn(stubborn)
gevent.sleep(0)
task.kill(timeout=0.1)
print("stubborn: dead", task.dead)

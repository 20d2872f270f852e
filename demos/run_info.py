"""What is every greenlet doing? print_run_info: threads, then
greenlets as a tree."""
from impls.hub import runtimes

gevent = runtimes.stackswitch_core


def fetch(url):
    gevent.sleep(60)  # stands for a slow download


def crawler():
    gevent.joinall([gevent.spawn(fetch, url) for url in ("/a", "/b")])


task = gevent.spawn(crawler)
gevent.sleep(0.01)  # let them start, and park
gevent.print_run_info(thread_stacks=False)
task.kill()

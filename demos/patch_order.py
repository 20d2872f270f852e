"""Patch first: a name copied before the patch keeps the original."""
import time
from time import sleep as early_sleep  # a copy, made at import

from impls.hub import runtimes

gevent = runtimes.stackswitch_core  # our greenlet, our core, our hub
monkey = gevent.monkey

print("time patched?", monkey.is_module_patched("time"))
monkey.patch_all()
print("time patched?", monkey.is_module_patched("time"))
print("time.sleep is gevent.sleep:", time.sleep is gevent.sleep)
original = monkey.get_original("time", "sleep")
print("early_sleep is the original:", early_sleep is original)


def nap(name, sleep, events):
    events.append(f"{name} sleeps")
    sleep(0.1)
    events.append(f"{name} wakes")


for label, sleep in [("early_sleep:", early_sleep),
                     ("time.sleep: ", time.sleep)]:
    events = []
    gevent.joinall([gevent.spawn(nap, name, sleep, events)
                    for name in "ab"])
    print(label, ", ".join(events))

"""gevent's hub and cooperative sockets, on any greenlet implementation over any loop.

    from impls.hub.runtime import Runtime
    import greenlet
    from impls.libev.pyloop import loop

    gevent = Runtime(greenlet, loop)      # a namespace with gevent's public names
    g = gevent.spawn(sum, [1, 2, 3])
    g.join()                              # g runs only now: the spawner blocked
    assert g.value == 6

One module per idea. The hub chapter's: ``exceptions``, ``waiter`` (the one-shot
rendezvous with the hub), ``hub`` (the greenlet that runs the loop), ``task`` (gevent's
``Greenlet``), ``timeout``, ``waiting`` (sleep, wait, iwait, joinall), ``socket``,
``server`` (a ``StreamServer``), ``runtime`` (binds them all to one greenlet module and
one loop class), ``runtimes`` (ready-made pairs, and gevent itself). The primitives
chapter's: ``event``, ``lock``, ``queue``, ``pool``. The monkey chapter's: ``monkey``,
``thread``, ``select``, ``threadpool``, ``resolver``, ``util`` (run info), ``monitor``.

The hot path runs compiled where ``pip install -e .`` could build it: ``build`` says
which modules do, and runs them all from their .py files with SWITCHYARD_PURE_HUB=1.
"""
from .build import compiled  # first: it decides where the other modules are imported from

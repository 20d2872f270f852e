"""How a program selects our loop, in asyncio's conventions (as uvloop does).

    asyncio.set_event_loop_policy(EventLoopPolicy())
    asyncio.run(main())            # now on our SelectorEventLoop

or, without touching the global policy: ``run(main())``, or ``new_event_loop()``.
"""
import asyncio
from asyncio import events

from .selector_loop import SelectorEventLoop

__all__ = ["EventLoopPolicy", "new_event_loop", "run"]


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """asyncio's default policy, making our loops: ``asyncio.new_event_loop()``,
    and ``asyncio.get_event_loop()`` in the main thread, return a SelectorEventLoop."""

    _loop_factory = SelectorEventLoop  # what the base class's new_event_loop() calls


def new_event_loop():
    """A new SelectorEventLoop (the policy is left alone)."""
    return SelectorEventLoop()


def run(main, *, debug=None):
    """``asyncio.run(main)`` on a new SelectorEventLoop, closed at the end.

    asyncio.Runner has taken a ``loop_factory`` since 3.11 (asyncio.run itself
    only from 3.12), so no global policy is swapped, which another thread could
    observe. As with ``loop_factory`` anywhere, the loop is not made the thread's
    current one for ``asyncio.get_event_loop()`` outside the running loop."""
    if events._get_running_loop() is not None:
        raise RuntimeError("asyncio.run() cannot be called from a running event loop")
    with asyncio.Runner(debug=debug, loop_factory=SelectorEventLoop) as runner:
        return runner.run(main)

"""async/await and an asyncio event loop of our own (chapters/asyncio.md).

The names follow asyncio's and uvloop's, so that a program (or the conformance suite)
can swap them in: ``asyncio.run(main(), ...)`` through `EventLoopPolicy`, or
``new_event_loop()`` directly.
"""
from .futures import Future
from .tasks import Task
from .selector_loop import SelectorEventLoop
from .policy import EventLoopPolicy, new_event_loop, run

__all__ = ["Future", "Task", "SelectorEventLoop", "EventLoopPolicy", "new_event_loop", "run"]

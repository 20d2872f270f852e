"""asyncio's debug mode times every callback, and logs the slow ones
after they return."""
import asyncio
import logging
import time

from impls.aio import new_event_loop

logging.basicConfig(format="%(name)s %(levelname)s: %(message)s")


async def handler():
    time.sleep(0.3)  # blocks the loop: nothing else runs meanwhile


loop = new_event_loop()
loop.set_debug(True)
loop.slow_callback_duration = 0.1  # the default
loop.run_until_complete(handler())
loop.close()

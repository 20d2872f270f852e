"""A notebook cell runs inside the kernel's running loop (here, our
loop plays the kernel's)."""
import asyncio

from impls.aio import new_event_loop


async def main():
    await asyncio.sleep(0.01)
    return "done"


def attempt(name, start):
    coroutine = main()
    try:
        print(f"{name}: {start(coroutine)}")
    except RuntimeError as error:
        coroutine.close()  # never started: close it, or Python warns
        print(f"{name}: RuntimeError: {error}")


async def cell():  # the kernel runs a cell from inside its loop
    attempt("loop.run_until_complete", loop.run_until_complete)
    attempt("asyncio.run", asyncio.run)
    print("await main():", await main())  # IPython's top-level await


loop = new_event_loop()
loop.run_until_complete(cell())
loop.close()

"""Calling a gen.coroutine starts it; calling an async def function
starts nothing."""
from impls.aio import run
from impls.coroutine import gen


@gen.coroutine
def tornado_style():
    print("  gen.coroutine: started")
    yield gen.sleep(0.01)
    print("  gen.coroutine: finished")


async def native():
    print("  async def: started")


loop = gen.IOLoop()
print("call tornado_style()")
future = tornado_style()  # runs up to its first yield: a Future
print("call native()")
coroutine = native()  # runs nothing: a coroutine object
print("returned:", type(future).__name__, "and",
      type(coroutine).__name__)
loop.run_sync(lambda: future)  # the loop goes on with the started one
run(coroutine)  # await it (here: run it as a Task): now it starts
native()  # never awaited: Python warns when the object is freed

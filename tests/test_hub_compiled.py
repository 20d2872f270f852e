"""The hub compiled and the hub from its .py sources pass the same conformance tests.

``pip install -e .`` compiles the hub's hot path with Cython (setup.py's HUB_COMPILED),
and the rest of the suite runs on that. Here the hub's conformance modules
(tests/conformance/test_hub*.py) run again from the .py sources (SWITCHYARD_PURE_HUB=1),
in a child pytest, on two runtimes: the full stack (stackswitch over core) and the
greenlet model furthest from it (threaded over pyloop). About 40 seconds of one core.

Last, one check that both must keep: a blocking call inside a loop callback is refused
with gevent's error, whether it waits through a Waiter (sleep) or through ``hub.wait``
(a socket), since only one getcurrent() per wait is left to catch it.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import impls.hub

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ("stackswitch_core", "threaded_pyloop")
LIMIT = 300  # seconds the child pytest may take


def sources_only(command):
    """Run ``command`` in a child whose hub runs from its .py sources."""
    env = {**os.environ, "SWITCHYARD_PURE_HUB": "1"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=LIMIT)


def test_switchyard_pure_hub_imports_every_module_from_its_py_source():
    code = ("import sys, impls.hub\n"
            "compiled = impls.hub.compiled()  # imports every module that has a compiled twin\n"
            "files = [m.__file__ for name, m in sys.modules.items() if name.startswith('impls.hub.')]\n"
            "print(compiled, all(file.endswith('.py') for file in files))")
    done = sources_only([sys.executable, "-c", code])
    assert (done.returncode, done.stdout) == (0, "[] True\n"), done.stderr


def test_the_hub_conformance_tests_pass_on_the_py_sources_too():
    if not impls.hub.compiled():
        pytest.skip("the hub runs from its .py sources here already (not compiled: see setup.py)")
    modules = sorted(str(path.relative_to(ROOT)) for path in ROOT.glob("tests/conformance/test_hub*.py"))
    command = [sys.executable, "-m", "pytest", "-q", *modules,
               *(f"--impl=hub={pair}" for pair in PAIRS)]
    done = sources_only(command)
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
    assert done.returncode == 0, f"{' '.join(command)} with SWITCHYARD_PURE_HUB=1:\n{tail}"


# ---- The check kept on the path where it can fail


def blocking_in_a_callback(hub, block):
    """The error ``block()`` raises when a loop callback calls it, in the hub."""
    raised = []

    def callback():
        try:
            block()
        except BaseException as error:  # what the hub refused it with
            raised.append(error)

    hub.get_hub().loop.run_callback(callback)
    hub.sleep(0.01)
    return raised


def test_sleeping_inside_a_loop_callback_is_refused(hub):
    (error,) = blocking_in_a_callback(hub, lambda: hub.sleep(0))
    assert type(error).__name__ == "BlockingSwitchOutError"
    assert str(error) == "Impossible to call blocking function in the event loop callback"


def test_reading_a_socket_inside_a_loop_callback_is_refused(hub):
    left, right = hub.socket.socketpair()
    with left, right:
        (error,) = blocking_in_a_callback(hub, lambda: left.recv(1))  # nothing to read: it would wait
    assert type(error).__name__ == "BlockingSwitchOutError"
    assert str(error) == "Impossible to call blocking function in the event loop callback"

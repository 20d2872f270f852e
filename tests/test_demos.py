"""The demos of the closing chapter (chapters/practice.md) still print what it shows.

Each ``demos/NAME.py`` runs in a child process, with a timeout, from the repository's
root; what it prints (stdout and stderr together, unbuffered, so in the order written)
must be ``demos/NAME.out``. Some demos also run on gevent itself, with
``runtimes.stackswitch_core`` swapped for ``runtimes.gevent`` before the demo starts:
there the output must be the same, which is what lets the chapter say "gevent prints
the same".

What varies from run to run or from machine to machine is made alike on both sides
before they are compared: memory addresses and thread ids, timestamps, measured
durations, and the line numbers of files that are not demos (the stdlib's, and ours in
``impls/``, which other chapters change). The ``.out`` files themselves hold a real run,
with paths made relative to the repository and the stdlib's written ``<stdlib>``, as
the chapter shows them. After changing a demo, write its output again:

    .venv/bin/python tests/test_demos.py [NAME ...]
"""
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from coursetools import upstream_suite

ROOT = Path(__file__).resolve().parents[1]
DEMOS = ROOT / "demos"
TIMEOUT = 60  # seconds; each demo takes about one
# The demos that print the same on gevent (the others print gevent's own words:
# LoopExit's listing of the hub, its monitor's name, its greenlet's repr).
SAME_ON_GEVENT = {"greenlet_exit", "patch_order", "starvation"}
ON_GEVENT = ("import runpy, sys\n"
             "from impls.hub import runtimes\n"
             "runtimes.stackswitch_core = runtimes.gevent\n"
             "runpy.run_path(sys.argv[1], run_name='__main__')\n")

_ADDRESS = re.compile(r"0x[0-9a-f]{6,}")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_DURATION = re.compile(r"\b\d+\.\d+ seconds")
_LINE_NUMBER = re.compile(r'((?:File "|^|[\s(])(?!demos/)[\w<>./-]+\.py)(", line |:)\d+', re.M)


def names():
    return sorted(path.stem for path in DEMOS.glob("*.py"))


def run(name, on_gevent=False):
    """What the demo prints, with its paths as the chapter shows them."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("GEVENT_") and key != "PYTHONWARNINGS"}  # Python's defaults
    # The hub from its .py files, as the chapters quote them: compiled, its own frames
    # would not show in the stacks two demos print (as gevent's compiled hub's do not).
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), SWITCHYARD_PURE_HUB="1")
    demo = f"demos/{name}.py"
    argv = [sys.executable, "-c", ON_GEVENT, demo] if on_gevent else [sys.executable, demo]
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT)
    return _relative(done.stdout), done.returncode


def _relative(text):
    text = text.replace(f"{ROOT}/", "")
    return text.replace(sysconfig.get_paths()["stdlib"] + "/", "<stdlib>/")


def alike(text):
    """The output with what varies between runs replaced by the same placeholders."""
    text = _ADDRESS.sub("0x...", text)
    text = _TIMESTAMP.sub("<time>", text)
    text = _DURATION.sub("N seconds", text)
    return _LINE_NUMBER.sub(r"\1\2N", text)


def full_stack_missing(name):
    """Why a demo on runtimes.stackswitch_core cannot run here (a machine where the
    Cython extensions did not build), or None."""
    if "stackswitch_core" not in (DEMOS / f"{name}.py").read_text(encoding="utf-8"):
        return None
    return upstream_suite.import_error("impls.greenlet.stackswitch") or \
        upstream_suite.import_error("impls.libev.core")


@pytest.mark.parametrize("name", names())
def test_a_demo_prints_what_the_chapter_shows(name):
    missing = full_stack_missing(name)
    if missing is not None:
        pytest.skip(f"unavailable: our full stack (stackswitch_core): {missing}")
    output, returncode = run(name)
    assert returncode == 0, output
    assert alike(output) == alike((DEMOS / f"{name}.out").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(SAME_ON_GEVENT))
def test_a_demo_prints_the_same_on_gevent(name):
    output, returncode = run(name, on_gevent=True)
    assert returncode == 0, output
    assert alike(output) == alike((DEMOS / f"{name}.out").read_text(encoding="utf-8"))


def test_every_demo_has_its_output_and_every_output_its_demo():
    outputs = sorted(path.stem for path in DEMOS.glob("*.out"))
    assert outputs == names()
    assert SAME_ON_GEVENT <= set(names())


def test_what_varies_is_made_alike_and_the_demos_own_lines_are_not():
    text = ('File "impls/hub/hub.py", line 59, in switch\n'
            'File "demos/loop_exit.py", line 17, in <module>\n'
            "created at <stdlib>/asyncio/tasks.py:680> took 0.300 seconds\n"
            "<Greenlet at 0x7f51eb708ac0: crunch> 2026-12-06T11:35:12Z\n")
    assert alike(text) == ('File "impls/hub/hub.py", line N, in switch\n'
                           'File "demos/loop_exit.py", line 17, in <module>\n'
                           "created at <stdlib>/asyncio/tasks.py:N> took N seconds\n"
                           "<Greenlet at 0x...: crunch> <time>\n")


if __name__ == "__main__":
    for demo in sys.argv[1:] or names():
        output, returncode = run(demo)
        if returncode:
            sys.exit(f"{demo} failed:\n{output}")
        (DEMOS / f"{demo}.out").write_text(output, encoding="utf-8")
        print(f"wrote demos/{demo}.out")

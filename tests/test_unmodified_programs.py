"""Programs nobody wrote for gevent, run unmodified under a monkey patch: ours and gevent's.

Each program in tests/programs/ is plain standard library (threads, sockets,
``http.server``, ``socketserver``, ``xmlrpc``) and names neither gevent nor this
course. It runs in a child process under a patch, as a user would run it:

    python -m impls.hub.monkey --runtime stackswitch_core PROGRAM ARGS   # ours: our
                                    # stack-switching greenlet, our libev core, our hub
    python -m gevent.monkey PROGRAM ARGS                                  # gevent's

and the test checks what the program prints (every client got the right answer, all
its threads were alive at once) and, from outside, how many OS threads the child had:
reading /proc/PID/task while it runs, the most seen must be ONE. A thousand
``threading.Thread``s, one OS thread: that is what the patch does.

Name lookups: urllib, like every client of ``socket.create_connection``, calls
``getaddrinfo`` even for "127.0.0.1", and ``HTTPServer.server_bind`` calls
``socket.getfqdn``, a ``gethostbyaddr``. gevent's default resolver sends every lookup
to its threadpool, whose OS threads would be counted. The children run with
``GEVENT_RESOLVER=block`` (gevent's resolver that calls the system's directly), so the
count is of the program's own threads; ours reads the same setting
(``impls/hub/resolver.py``).

Each child is bounded (``LIMIT``) and killed if it overruns, with its stderr in the
failure; the servers listen on 127.0.0.1 on ports the OS chooses.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "tests" / "programs"
LIMIT = 60.0  # seconds a program may run before it is killed and the test fails
SAMPLE_EVERY = 0.002  # seconds between two readings of the child's OS threads

PATCHES = {  # column -> the command that runs a program under that patch
    "ours": [sys.executable, "-m", "impls.hub.monkey", "--runtime", "stackswitch_core"],
    "gevent": [sys.executable, "-m", "gevent.monkey"],
}
RUNS = {  # program -> (its arguments, how many clients it starts)
    "http_server": (["fanout", "--clients", "1000"], 1000),
    "echo_server": (["--clients", "500"], 500),
    "xmlrpc_server": (["--clients", "100", "--calls", "3"], 100),
}

needs_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(),
                                reason="no /proc/PID/task: a child's OS threads cannot be counted")


def run(command):
    """Run a command in a child process; (its summary, the most OS threads seen).

    stdout and stderr go to files, not pipes: a pipe nobody reads while we sample
    could fill and stop the child.
    """
    with open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        env = {**os.environ, "GEVENT_RESOLVER": "block"}  # see the module's docstring
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdin=stdin, stdout=out, stderr=err)
        most, finished = _most_threads(child)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if not finished:
        pytest.fail(f"still running after {LIMIT:g} s: killed; stderr:\n{stderr[-3000:]}")
    assert child.returncode == 0, f"exit status {child.returncode}; stderr:\n{stderr[-3000:]}"
    lines = stdout.strip().splitlines()
    assert lines, f"no summary printed; stderr:\n{stderr[-3000:]}"
    return json.loads(lines[-1]), most


def _most_threads(child):
    """Read /proc/PID/task until the child exits: (the most OS threads seen, whether
    it finished). A child still running after LIMIT is killed."""
    deadline = time.monotonic() + LIMIT
    most = 0
    while child.poll() is None:
        if time.monotonic() > deadline:
            child.kill()
            child.wait()
            return most, False
        try:
            most = max(most, len(os.listdir(f"/proc/{child.pid}/task")))
        except FileNotFoundError:  # it exited between poll() and listdir()
            pass
        time.sleep(SAMPLE_EVERY)
    return most, True


def patched(column):
    """The command prefix of a column. Ours is unavailable where its greenlet or its
    loop is not built (a machine without libev's headers, say), with the reason."""
    if column == "ours":
        from impls.hub import runtimes

        try:
            getattr(runtimes, "stackswitch_core")
        except Exception as exc:
            pytest.skip(f"unavailable: stackswitch_core: {type(exc).__name__}: {exc}")
    return PATCHES[column]


CASES = [pytest.param(program, column, id=f"{program}-{column}")
         for program in RUNS for column in PATCHES]


@needs_proc
@pytest.mark.parametrize(("program", "column"), CASES)
def test_every_client_is_answered_by_threads_on_one_os_thread(program, column):
    arguments, clients = RUNS[program]
    summary, os_threads = run([*patched(column), str(PROGRAMS / f"{program}.py"), *arguments])
    assert summary["errors"] == []
    assert summary["ok"] == summary.get("calls", clients)
    # every client waited at a barrier, all alive at once, beside main and the server's
    assert summary["threads_alive"] >= clients + 2
    assert os_threads == 1, f"{os_threads} OS threads for {summary['threads_alive']} threads"


@needs_proc
def test_unpatched_the_same_program_runs_on_an_os_thread_per_thread():
    """The control: without a patch, the threads are the OS's, and the count sees them."""
    summary, os_threads = run([sys.executable, str(PROGRAMS / "http_server.py"),
                               "fanout", "--clients", "100"])
    assert summary["ok"] == 100
    assert os_threads > 1


# ---- The benchmark of the HTTP program (benchmarks/programs.py): a smoke test only,
# it runs to the end and reports every cell; speed is judged from its table, not here

BENCHMARK_ROWS = ["c10", "c100", "c1000"]
BENCHMARK_COLUMNS = ["stackswitch_core", "gevent", "threads"]


def quick_benchmark(tmp_path, *options, env=None):
    """`python -m benchmarks.programs --quick` with options; (the run, its JSON)."""
    report = tmp_path / "programs.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.programs", "--quick", "--quiet",
                           "--json", str(report), *options],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done, json.loads(report.read_text())


def test_the_benchmark_reports_every_row_on_every_runtime(tmp_path):
    png = tmp_path / "programs.png"
    done, report = quick_benchmark(tmp_path, "--plot", str(png))
    assert list(report["runtimes"]) == BENCHMARK_COLUMNS
    assert "stackswitch_core/gevent" in done.stdout
    assert png.read_bytes().startswith(b"\x89PNG")
    unavailable = {}
    for row in BENCHMARK_ROWS:
        assert report["labels"][row] in done.stdout
        for column in BENCHMARK_COLUMNS:
            cell = report["results"][row][column]
            if "unavailable" in cell:
                unavailable[f"{column}: {cell['unavailable']}"] = None
                continue
            assert cell["ops_per_s"] > 0 and cell["p99_ms"] > 0, (row, column, cell)
            assert len(cell["samples"]) == 1  # --quick means one repeat
    if unavailable:
        pytest.skip("unavailable: " + "; ".join(unavailable))


def test_without_wrk_the_benchmark_loads_with_a_generator_of_its_own(tmp_path):
    nowhere = tmp_path / "bin"  # a PATH where wrk cannot be found
    nowhere.mkdir()
    done, report = quick_benchmark(tmp_path, "--rows", "c10", "--runtimes", "gevent",
                                   env={**os.environ, "PATH": str(nowhere)})
    assert "wrk was not found" in done.stderr
    assert report["load"].startswith("our asyncio generator")
    cell = report["results"]["c10"]["gevent"]
    assert cell["ops_per_s"] > 0 and cell["p99_ms"] > 0

"""Every benchmark runs to the end on every implementation it compares.

A smoke test only: it checks that every row is measured and reports a positive rate,
never how fast anything is (speed is judged by the ratios the benchmarks print, on a
quiet machine, not by a test).
"""
import json
import os
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from benchmarks.harness import Benchmark, Row

ROOT = Path(__file__).resolve().parent.parent

# benchmark module -> (the option naming its columns, the columns, the rows); the
# columns are the registry's names in conftest.py, plus asyncio
BENCHMARKS = {
    "ioloop": ("loops", ["pollioloop", "tornado", "asyncio"], ["callbacks", "timers", "echo"]),
    "coroutine": ("impls", ["gen", "tornado", "scheduler", "asyncio"],
                  ["spawn", "moments", "switches"]),
    "libev": ("loops", ["core", "pyloop", "corecext", "corecffi"],
              ["callbacks", "timers", "switches", "echo"]),
    "greenlet": ("impls", ["call", "greenlet", "stackswitch", "threaded", "threaded-cpu0"],
                 ["switches", "deep", "spawns", "suspended", "suspended1e6", "cold", "worst"]),
    "hub": ("runtimes", ["stackswitch_core", "stackswitch_core_py", "stackswitch_pyloop",
                         "stackswitch_corecext",
                         "greenlet_core", "greenlet_pyloop", "greenlet_corecext", "gevent",
                         "tornado", "asyncio"],
            ["echo1", "echo100"]),
    "aio": ("loops", ["ours", "asyncio", "uvloop", "ourtask", "pytask"],
            ["callbacks", "timers", "tasks", "sock_echo", "echo1", "echo100"]),
}
CELLS = [(name, column) for name, (_, columns, _) in BENCHMARKS.items() for column in columns]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One `--quick` run of a benchmark on all its columns, made once per module:
    its exit status and stdout, its JSON and the path of its plot."""
    runs = {}

    def run(name):
        if name not in runs:
            option, columns, _ = BENCHMARKS[name]
            out = tmp_path_factory.mktemp(name)
            done = subprocess.run(
                [sys.executable, "-m", f"benchmarks.{name}", "--quick", "--quiet",
                 f"--{option}", ",".join(columns), "--json", str(out / f"{name}.json"),
                 "--plot", str(out / f"{name}.png")],
                cwd=ROOT, capture_output=True, text=True, timeout=600,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            runs[name] = done, json.loads((out / f"{name}.json").read_text()), out / f"{name}.png"
        return runs[name]

    return run


@pytest.mark.parametrize("name", BENCHMARKS)
def test_quick_run_prints_every_row_and_writes_the_plot(quick_run, name):
    done, report, png = quick_run(name)
    option, columns, rows = BENCHMARKS[name]
    for row in rows:
        assert report["labels"][row] in done.stdout
    assert list(report[option]) == columns
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(("name", "column"), CELLS)
def test_every_row_has_a_positive_rate(quick_run, name, column):
    _, report, _ = quick_run(name)
    unavailable = {}  # the reasons; a column may be unavailable in one row only (the
    for row in BENCHMARKS[name][2]:  # thread model is not run holding 10^4 suspended greenlets)
        cell = report["results"][row][column]
        if "unavailable" in cell:
            unavailable[cell["unavailable"]] = None
            continue
        assert cell["ops_per_s"] > 0, (row, cell)
        assert len(cell["samples"]) == 1  # --quick means one repeat
    if unavailable:
        pytest.skip(f"unavailable: {column}: " + "; ".join(unavailable))


def test_the_libev_benchmark_also_compares_pyloop_with_corecffi(quick_run):
    """Its second ratio, beside core/corecext: a column in the table, a cell in the JSON."""
    done, report, _ = quick_run("libev")
    assert "core/corecext" in done.stdout and "pyloop/corecffi" in done.stdout
    assert report["also"] == {"pyloop/corecffi": {"callbacks": 1.2}}
    for row in BENCHMARKS["libev"][2]:
        cell = report["results"][row]["pyloop/corecffi"]
        assert cell["ratio"] > 0
        assert cell["target"] == (1.2 if row == "callbacks" else None)


def test_the_greenlet_benchmark_reports_memory_and_flatness_with_depth(quick_run):
    """Under its table: the memory each suspended greenlet holds (also in the JSON), the
    slowdown from depth 0 to depth 50; and why the thread model's suspended row is empty."""
    done, report, _ = quick_run("greenlet")
    assert "memory per suspended greenlet" in done.stdout
    assert "round trip at depth 50 over depth 0" in done.stdout
    results = report["results"]
    built = ["stackswitch"] if "unavailable" not in results["switches"]["stackswitch"] else []
    for column in ("call", "greenlet", *built):  # stackswitch builds on x86-64 Linux only
        assert results["suspended"][column]["bytes_per_greenlet"] > 0
    for column in ("greenlet", *built, "threaded", "threaded-cpu0"):
        assert results["deep"][column]["depth_slowdown"] > 0
    for column in ("threaded", "threaded-cpu0"):
        assert "OS threads" in report["results"]["suspended"][column]["unavailable"]
        assert report["results"]["switches"][column]["ops_per_s"] > 0


def test_the_hub_benchmark_compares_every_runtime_with_gevent(quick_run):
    done, report, _ = quick_run("hub")
    assert "stackswitch_core/gevent" in done.stdout
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("over gevent "))
    assert header.split()[2:] == [c for c in BENCHMARKS["hub"][1] if c != "gevent"]
    for row in BENCHMARKS["hub"][2]:  # a ratio under every column that was measured
        ratios = next(line for line in lines if line.startswith(f"{row} ")).split()[1:]
        for column, ratio in zip(header.split()[2:], ratios):
            measured = "ops_per_s" in report["results"][row][column]
            assert ratio.endswith("x") if measured else ratio == "-"


def test_the_aio_benchmark_also_compares_our_task_with_pytask(quick_run):
    """Its second ratio, beside ours/asyncio: our pure-Python Task over asyncio's
    _PyTask, both on asyncio's loop, measured in the tasks row only."""
    done, report, _ = quick_run("aio")
    assert "ours/asyncio" in done.stdout and "ourtask/pytask" in done.stdout
    assert report["also"] == {"ourtask/pytask": {"tasks": 1.0}}
    results = report["results"]
    assert results["tasks"]["pytask"]["ops_per_s"] > 0
    for row in BENCHMARKS["aio"][2]:
        if row != "tasks":
            for column in ("ourtask", "pytask"):
                assert "tasks row only" in results[row][column]["unavailable"]
    if "ops_per_s" in results["tasks"]["ourtask"]:  # once impls.aio imports
        assert results["tasks"]["ourtask/pytask"]["ratio"] > 0


class _Subject:
    def close(self):
        pass


def _missing():
    raise ImportError("No module named 'impls.half_written'")


def test_a_column_that_cannot_load_is_reported_unavailable():
    """In the child and in the table, with the reason; the others are still measured."""
    bench = Benchmark(
        module="benchmarks.none", description="",
        rows={"r": Row("r", "ops", 10, 1.0, lambda *_: 0.5)},
        columns={"mine": ("ours", _missing), "ref": ("reference", _Subject)},
        ours="mine", reference="ref",
    )
    assert bench.measure("r", "mine", 10, 1.0) == {
        "unavailable": "ImportError: No module named 'impls.half_written'"}
    assert bench.measure("r", "ref", 10, 1.0) == {"seconds": 0.5, "ops_per_s": 20.0}
    cells = {"size": 10, "mine": {"unavailable": "ImportError: gone"},
             "ref": {"samples": [20.0], "ops_per_s": 20.0}, "ratio": None, "met": None}
    text = bench.table([bench.rows["r"]], ["mine", "ref"], {"r": cells}, 1)
    assert "unavailable" in text.splitlines()[2]
    assert text.splitlines()[-1] == "unavailable: mine: ImportError: gone"


# ---- benchmarks.c10k: a tiny run, and the load generators' checks


def c10k_loadgen():
    """build/loadgen, compiled if it is absent or stale; the test skips, with the reason,
    where it cannot be."""
    from benchmarks import c10k

    c10k.build_loadgen()
    if not c10k.LOADGEN.exists():
        pytest.skip("build/loadgen cannot be built here: no C compiler, or not Linux "
                    "(benchmarks.c10k then loads with its Python generator)")
    return c10k.LOADGEN


def test_the_c10k_benchmark_loads_a_server_from_the_c_generator(tmp_path):
    """10 connections (--quick's c100) for 0.2 s on ours and on gevent, every echo
    checked by build/loadgen: round trips, a p99 and the memory per connection in each
    cell, and the ratio. Our full stack may be unbuilt here (its cell then says why);
    greenlet on our pure-Python loop always runs."""
    c10k_loadgen()
    columns = ("stackswitch_core", "greenlet_pyloop", "gevent")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.c10k", "--quick", "--quiet", "--rows", "c100",
         "--runtimes", ",".join(columns), "--json", str(tmp_path / "c10k.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "SWITCHYARD_C10K_SECONDS": "0.2"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "build/loadgen (C, epoll)" in done.stdout
    assert "stackswitch_core/gevent" in done.stdout and "p99 latency" in done.stdout
    row = json.loads((tmp_path / "c10k.json").read_text())["results"]["c100"]
    assert row["size"] == 10
    for column in columns:
        if column == "stackswitch_core" and "unavailable" in row[column]:
            assert "is not built" in row[column]["unavailable"]
            continue
        assert row[column]["ops_per_s"] > 0 and row[column]["p99_ms"] > 0
        assert "bytes_per_connection" in row[column]
    assert row["ratio"] is None or row["ratio"] > 0


class FaultyEcho(socketserver.BaseRequestHandler):
    """Echoes three messages of 64 bytes on each connection; then changes the first byte
    of what comes, or hangs up."""

    fault = "mismatch"

    def handle(self):
        self.request.settimeout(10)  # a handler thread ends even if the client does not
        seen = 0
        while data := self.request.recv(65536):
            seen += len(data)
            if seen > 3 * 64 and self.fault == "closed":
                return
            if seen > 3 * 64:
                data = bytes([data[0] ^ 1]) + data[1:]
            self.request.sendall(data)


@pytest.mark.parametrize("fault", ["mismatch", "closed"])
@pytest.mark.parametrize("generator", ["C", "Python"])
def test_the_c10k_load_generators_report_a_wrong_byte_or_a_dropped_connection(generator,
                                                                                 fault):
    """Each connection's fourth round trip (number 3, from 0) fails; the generator says
    so in its report (which makes the benchmark's run an error) and exits with status 1."""
    command = ([str(c10k_loadgen())] if generator == "C"
               else [sys.executable, "-m", "benchmarks.c10k", "--load"])
    handler = type("Faulty", (FaultyEcho,), {"fault": fault})
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            done = subprocess.run([*command, "127.0.0.1", str(server.server_address[1]), "4",
                                   "0.3", "10", "0"], cwd=ROOT, input="go\n",
                                  capture_output=True, text=True, timeout=60)
        finally:
            server.shutdown()
            thread.join(10)
    ready, report = map(json.loads, done.stdout.splitlines())
    assert done.returncode == 1, done.stderr
    assert ready == {"ready": 4}
    assert report["errors"][fault] == 4 and sum(report["errors"].values()) == 4
    assert ("round trip 3: byte 0 is" if fault == "mismatch" else "after 3 round trips") \
        in report["first_error"]

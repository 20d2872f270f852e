"""An unmodified ``http.server`` program under our monkey patch and under gevent's,
loaded by ``wrk`` from another process: requests per second and p99 latency.

    python -m benchmarks.programs                   # the full run, about 2.5 minutes
    python -m benchmarks.programs --quick           # 1-second loads, one repeat
    python -m benchmarks.programs --repeat 5 --runtimes stackswitch_core,gevent

The server is tests/programs/http_server.py in its ``serve`` mode: a
``ThreadingHTTPServer`` (a thread per connection, HTTP/1.1 keep-alive) answering every
GET with a 21-byte body, plain standard library. Each column runs it in a fresh process:

    stackswitch_core  python -m impls.hub.monkey --runtime stackswitch_core http_server.py serve
                      (ours: our stack-switching greenlet, our libev core, our hub; any
                      other pair of impls.hub.runtimes may be named the same way)
    gevent            python -m gevent.monkey http_server.py serve       (the reference)
    threads           python http_server.py serve    (unpatched: an OS thread per
                      connection; a landmark)

Each row loads it for --duration seconds with ``wrk -t2 -cN -d{duration}s --latency``
at N = 10, 100 and 1,000 keep-alive connections, and reads the requests per second and
the 99th percentile of the latency, and counts the connections the server accepted
(those a server leaves in its listen queue have no latency in wrk's figures). Without wrk (``make system-deps`` installs it), a
load generator of our own does the same from two processes of asyncio keep-alive
clients, and the table says so. The repeats go round the columns in turn; the table
shows the medians, and each ratio ours/gevent as the median of the repeats' ratios
with their spread (lowest-highest). Targets: requests per second at least 0.9 of
gevent's, and a p99 at most 1/0.9 of gevent's, at every level.
"""
import argparse
import asyncio
import dataclasses
import importlib
import json
import os
import platform
import re
import resource
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if not __package__:  # run as a script, `python benchmarks/programs.py`: import from the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
from benchmarks.harness import _choose, cell_notes, describe, rate, target_label, version_label  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "tests" / "programs" / "http_server.py"
HOST = "127.0.0.1"
REFERENCE = "gevent"
OURS = "stackswitch_core"  # the main ratio's column
TARGET = 0.9  # requests per second, ours over gevent's, at least; p99 at most 1 / TARGET
START_LIMIT = 30.0  # seconds a server may take to print its port
LOAD_PROCESSES = 2  # our own load generator's processes, as wrk's -t2


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    connections: int

    @property
    def label(self):
        return f"{self.connections:,} connections"


ROWS = {row.name: row for row in (Row("c10", 10), Row("c100", 100), Row("c1000", 1000))}


# ---- The columns: the one program, under each patch


def columns():
    """name -> (heading, the command prefix that runs a script under that patch)."""
    from impls.hub import runtimes

    ours = {f"{g}_{loop}": (f"ours: {g}, {loop}", [sys.executable, "-m", "impls.hub.monkey",
                                                   "--runtime", f"{g}_{loop}"])
            for g in runtimes.GREENLETS for loop in runtimes.LOOPS}
    return {OURS: ours.pop(OURS),
            REFERENCE: (version_label("gevent"), [sys.executable, "-m", "gevent.monkey"]),
            "threads": ("unpatched: OS threads", [sys.executable]),
            **ours}


DEFAULT_COLUMNS = [OURS, REFERENCE, "threads"]


def unavailable(name):
    """Why a column cannot run here, or None: its patch must import (ours cannot where
    its greenlet or its loop is not built: a machine without libev's headers, say)."""
    try:
        if name == REFERENCE:
            importlib.import_module("gevent.monkey")
        elif name != "threads":
            from impls.hub import runtimes

            getattr(runtimes, name)
    except Exception as exc:
        return describe(exc)
    return None


class Server:
    """The program serving on a port the OS chose, in a process of its own, until stopped."""

    def __init__(self, prefix):
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen([*prefix, str(PROGRAM), "serve"], cwd=ROOT,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self.stderr)
        try:
            self.port = json.loads(self._first_line())["port"]
        except Exception:
            self.stop()
            raise

    def _first_line(self):
        """The line it prints once it listens, waited for at most START_LIMIT seconds."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(START_LIMIT):
                raise RuntimeError(f"the server printed no port in {START_LIMIT:g} s")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the server exited ({self.process.wait()}): {self.last_words()}")
        return line

    def open_files(self):
        """How many descriptors it holds now (Linux's /proc), or None where unknown."""
        try:
            return len(os.listdir(f"/proc/{self.process.pid}/fd"))
        except OSError:
            return None

    def last_words(self):
        """The end of its stderr: why it failed, if it did."""
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(nothing on stderr)"

    def stop(self):
        """Stop it; the reason if it had died on its own before, else None."""
        died = self.process.poll()
        if died is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        reason = None if died is None else f"the server died ({died}): {self.last_words()}"
        self.stderr.close()
        return reason


# ---- The load: wrk, or our own generator when wrk is absent


def load_with_wrk(port, connections, seconds):
    """{"requests_per_s", "p99_ms", "errors"} from one wrk run against the port."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
               f"http://{HOST}:{port}/"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise RuntimeError(f"wrk failed ({done.returncode}): {output[0] if output else ''}")
    return parse_wrk(done.stdout)


def parse_wrk(text):
    """The figures we report, from wrk's --latency output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\b", text, re.M)
    if not (rps and p99):
        raise RuntimeError(f"cannot read wrk's output: {text.strip()[-200:]!r}")
    to_ms = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[p99.group(2)]
    errors = re.search(r"Socket errors: (.*)", text)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    notes = [f"socket errors: {errors.group(1)}"] if errors else []
    notes += [f"{bad.group(1)} non-2xx answers"] if bad else []
    return {"requests_per_s": float(rps.group(1)), "p99_ms": float(p99.group(1)) * to_ms,
            "errors": "; ".join(notes)}


def load_of_our_own(port, connections, seconds):
    """The same figures from our generator: LOAD_PROCESSES processes sharing the
    connections, each running `generate`; their latencies are merged for the p99."""
    shares = [connections // LOAD_PROCESSES + (i < connections % LOAD_PROCESSES)
              for i in range(LOAD_PROCESSES)]
    children = [subprocess.Popen([sys.executable, "-m", "benchmarks.programs", "--load",
                                  str(port), str(share), str(seconds)],
                                 cwd=ROOT, stdout=subprocess.PIPE, text=True)
                for share in shares if share]
    try:
        reports = [json.loads(child.communicate(timeout=seconds + 30)[0]) for child in children]
    finally:
        for child in children:  # any still running after an error
            child.kill()
            child.wait()
    latencies = sorted(us for report in reports for us in report["latencies_us"])
    if not latencies:
        raise RuntimeError("no request was answered")
    errors = sum(report["errors"] for report in reports)
    return {"requests_per_s": len(latencies) / seconds,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1000,
            "errors": f"{errors} connections failed" if errors else ""}


def generate(port, connections, seconds):
    """One load process: keep-alive GETs on every connection until the time is up; a
    request still unanswered ten seconds after that is dropped, not counted."""
    latencies, errors = [], []

    async def client(deadline):
        request = f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError as exc:
            errors.append(exc)
            return
        try:
            while (started := time.perf_counter()) < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)))
                latencies.append(round((time.perf_counter() - started) * 1e6))
        except (OSError, asyncio.IncompleteReadError) as exc:
            errors.append(exc)
        finally:
            writer.close()

    async def all_clients():
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(client(deadline) for _ in range(connections)))

    try:
        asyncio.run(asyncio.wait_for(all_clients(), seconds + 10))
    except TimeoutError:
        pass
    return {"latencies_us": latencies, "errors": len(errors)}


# ---- One measurement, and every row on every column


def raise_open_files(connections):
    """Let this process and its children (the server, wrk) hold a socket per connection
    and some: the soft limit on open files raised towards the hard one. The reason if it
    cannot be raised far enough, else None."""
    needed = connections + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed or soft == resource.RLIM_INFINITY:
        return None
    if hard != resource.RLIM_INFINITY and hard < needed:
        return (f"{connections} connections need about {needed} open files, and the hard "
                f"limit is {hard} (raise it: `ulimit -Hn {needed}` as root)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return None


def measure(prefix, connections, seconds, load):
    """Serve in a fresh process, load it, stop it: {"requests_per_s", "p99_ms", "errors",
    "accepted"}, or {"error": why}."""
    try:
        server = Server(prefix)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    counting = AcceptedConnections(server)
    try:
        result = load(server.port, connections, seconds)
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["accepted"] = counting.stop()
    died = server.stop()
    return {"error": died} if died else result


class AcceptedConnections(threading.Thread):
    """The most connections the server held open at once during the load: its open
    files, read every 0.1 s, over those it held before. wrk's latencies are of the
    requests answered; a connection left waiting in the listen queue has none, so
    this says how many connections the latencies are of."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.before = server.open_files()  # the listening socket, stdio, ...
        self.most = self.before
        self.done = threading.Event()
        self.start()

    def run(self):
        while not self.done.wait(0.1) and self.before is not None:
            self.most = max(self.most, self.server.open_files() or 0)

    def stop(self):
        """The count, or None where the open files cannot be read."""
        self.done.set()
        self.join()
        return None if self.before is None else self.most - self.before


def run_all(rows, chosen, repeat, seconds, load, progress):
    """{row name: {column: cell, "ratio": ..., "p99_ratio": ...}}; a cell holds every
    sample and their medians, or an error. The repeats go round the columns in turn
    (A B C A B C ...), so a slow minute on the machine falls on all of them."""
    known = columns()
    missing = {name: reason for name in chosen if (reason := unavailable(name))}
    results = {}
    for row in rows:
        cells = results[row.name] = {name: {"unavailable": missing[name]} if name in missing
                                     else {"samples": [], "p99_samples": [], "accepted_samples": []}
                                     for name in chosen}
        if limit := raise_open_files(row.connections):
            for cell in cells.values():
                cell.setdefault("error", limit)
        for attempt in range(repeat):
            for name in chosen:
                cell = cells[name]
                if "error" in cell or "unavailable" in cell:  # not tried (again)
                    continue
                result = measure(known[name][1], row.connections, seconds, load)
                progress(f"{row.name:<6} {name:<17} run {attempt + 1}/{repeat}: "
                         + (result.get("error") or f"{result['requests_per_s']:,.0f} req/s, "
                            f"p99 {result['p99_ms']:.2f} ms, {result['accepted']} connections "
                            f"accepted {result['errors']}"))
                if "error" in result:
                    cell["error"] = result["error"]
                    continue
                cell["samples"].append(result["requests_per_s"])
                cell["p99_samples"].append(result["p99_ms"])
                cell["accepted_samples"].append(result["accepted"])
                if result["errors"]:
                    cell.setdefault("notes", []).append(result["errors"])
        for cell in cells.values():
            if "samples" in cell and "error" not in cell:
                cell["ops_per_s"] = statistics.median(cell["samples"])
                cell["p99_ms"] = statistics.median(cell["p99_samples"])
                counted = [n for n in cell["accepted_samples"] if n is not None]
                cell["accepted"] = round(statistics.median(counted)) if counted else None
        cells["ratio"] = ratios(cells, "samples")
        cells["p99_ratio"] = ratios(cells, "p99_samples")
    return results


def ratios(cells, key, name=OURS):
    """A column (ours unless named) over gevent, repeat by repeat (the runs made in the
    same round): {"median", "low", "high"}, or None if either has no medians."""
    ours, reference = cells.get(name, {}), cells.get(REFERENCE, {})
    pairs = [a / b for a, b in zip(ours.get(key, ()), reference.get(key, ()))]
    if "ops_per_s" not in ours or "ops_per_s" not in reference:
        return None
    return {"median": statistics.median(pairs), "low": min(pairs), "high": max(pairs)}


# ---- Reporting


def met(ratio, lowest=None, highest=None):
    """Whether a ratio's median meets its target, None if there is no ratio."""
    if ratio is None:
        return None
    return ratio["median"] >= lowest if lowest is not None else ratio["median"] <= highest


def spread(ratio):
    return "-" if ratio is None else \
        f"{ratio['median']:.2f}x ({ratio['low']:.2f}-{ratio['high']:.2f})"


def table(rows, chosen, results, repeat, seconds, loader):
    """The medians per column, then the two ratios with their spread and targets."""
    known = columns()
    header = ["", *(f"{known[name][0]}: req/s, p99, accepted" for name in chosen)]
    body = [[row.label, *(f"{rate(cell['ops_per_s'])}, {cell['p99_ms']:.2f} ms, "
                          f"{'-' if cell['accepted'] is None else cell['accepted']}"
                          if "ops_per_s" in (cell := results[row.name][name])
                          else "unavailable" if "unavailable" in cell else "error"
                          for name in chosen)] for row in rows]
    out = [f"requests/s and p99 latency, median of {repeat} run{'s' * (repeat > 1)} of "
           f"{seconds:g} s, each on a fresh server; load: {loader}; Python "
           f"{platform.python_version()}, {platform.system()} {platform.machine()}, "
           f"{os.cpu_count()} CPUs", *aligned([header, *body])]
    if OURS in chosen and REFERENCE in chosen:
        lowest, highest = TARGET, 1 / TARGET
        header = [f"{OURS}/{REFERENCE}", "req/s (spread)", "target", "met",
                  "p99 (spread)", "target", "met"]
        verdict = {None: "-", True: "yes", False: "NO"}
        body = [[row.label, spread(cells["ratio"]), f">= {target_label(lowest)}x",
                 verdict[met(cells["ratio"], lowest=lowest)], spread(cells["p99_ratio"]),
                 f"<= {highest:.2f}x", verdict[met(cells["p99_ratio"], highest=highest)]]
                for row in rows for cells in [results[row.name]]]
        out += ["", *aligned([header, *body])]
    return "\n".join(out + cell_notes(rows, chosen, results))


def aligned(lines):
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(line, widths))) for line in lines]


def plot(rows, chosen, results, path):
    """Two panels of bars, each column over gevent per row (the median of the repeats'
    ratios, as in the table): requests/s and p99."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    known = columns()
    others = [name for name in chosen if name != REFERENCE]
    width = 0.8 / max(1, len(others))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    for ax, key, target, what in ((axes[0], "samples", TARGET, "requests/s (higher is better)"),
                                  (axes[1], "p99_samples", 1 / TARGET,
                                   "p99 latency (lower is better)")):
        for i, name in enumerate(others):
            xs = [r + (i - (len(others) - 1) / 2) * width for r in range(len(rows))]
            ys = [(ratios(results[row.name], key, name) or {"median": 0})["median"]
                  for row in rows]
            bars = ax.bar(xs, ys, width * 0.9, label=known[name][0])
            ax.bar_label(bars, labels=[f"{y:.2f}x" if y else "-" for y in ys], fontsize=8)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.axhline(target, color="black", linestyle="dashed", linewidth=0.8, label="target")
        ax.set_xticks(range(len(rows)), [row.label for row in rows])
        ax.set_title(f"{what}, over {known[REFERENCE][0]}")
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=150)
    plt.close(fig)


# ---- The command line


def wrk_version():
    """wrk's first line of `wrk -v` ("wrk debian/4.1.0-3+b2 [epoll] ..."), shortened."""
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return " ".join(done.stdout.split()[:2])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.programs",
                                     description="An unmodified http.server program under "
                                     "our monkey patch and under gevent's, loaded by wrk: "
                                     "requests/s and p99 latency, as ratios in one run.")
    known = columns()
    parser.add_argument("--repeat", type=int, help="runs per row and runtime (default 3)")
    parser.add_argument("--quick", action="store_true", help="1-second loads and one repeat")
    parser.add_argument("--duration", type=int,
                        help="whole seconds of load per run, as wrk takes them (default 5)")
    parser.add_argument("--runtimes", default=",".join(DEFAULT_COLUMNS),
                        help=f"comma-separated, from {', '.join(known)} "
                             f"(default: {','.join(DEFAULT_COLUMNS)})")
    parser.add_argument("--rows", default=",".join(ROWS),
                        help=f"comma-separated, from {', '.join(ROWS)} (default: all)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--plot", metavar="PATH", help="write a bar chart of the ratios (PNG)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--load", nargs=3, type=int, metavar=("PORT", "CONNECTIONS", "SECONDS"),
                        help=argparse.SUPPRESS)  # one process of our own load generator
    args = parser.parse_args(argv)

    if args.load:
        print(json.dumps(generate(*args.load)))
        return 0

    chosen = _choose(parser, "--runtimes", args.runtimes, known)
    rows = [ROWS[name] for name in _choose(parser, "--rows", args.rows, ROWS)]
    repeat = args.repeat or (1 if args.quick else 3)
    seconds = args.duration or (1 if args.quick else 5)
    if repeat < 1 or seconds < 1:
        parser.error("--repeat and --duration must be at least 1")

    def progress(line):
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    if shutil.which("wrk"):
        load, loader = load_with_wrk, f"{wrk_version()} -t2 --latency"
    else:
        print("wrk was not found (`make system-deps` installs it): loading with our own "
              f"generator, {LOAD_PROCESSES} processes of asyncio keep-alive clients",
              file=sys.stderr)
        load, loader = load_of_our_own, f"our asyncio generator, {LOAD_PROCESSES} processes"
    results = run_all(rows, chosen, repeat, seconds, load, progress)
    print(table(rows, chosen, results, repeat, seconds, loader))
    if args.json:
        write_json(args.json, rows, chosen, results, repeat, seconds, loader, args.quick)
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot(rows, chosen, results, args.plot)
    return 1 if any("error" in results[row.name][name] for row in rows for name in chosen) else 0


def write_json(path, rows, chosen, results, repeat, seconds, loader, quick):
    """The results in the shape the other benchmarks write (a cell's "ops_per_s" is
    its requests per second), with the p99 beside it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "repeat": repeat, "quick": quick, "seconds": seconds,
        "load": loader, "runtimes": {name: columns()[name][0] for name in chosen},
        "targets": {row.name: TARGET for row in rows},
        "labels": {row.name: row.label for row in rows}, "results": results,
    }, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())

"""What every benchmark here shares: fresh processes, medians, the ratio table, the plot.

A benchmark module describes itself as a `Benchmark`: the columns (ours, the
reference, landmarks), each a factory that builds one *subject* to measure (a loop, a
coroutine runtime: anything with ``close()``), and the rows, each a workload
``(subject, n, timeout) -> seconds``. The harness does the rest, the same way for every
benchmark:

- every (row, column, repeat) runs in a fresh interpreter, ``python -m <module>
  --child ROW COLUMN``, which prints one JSON line; a child that crashes or overruns its
  safety timeout by 30 s more becomes an ``error`` cell, never a hang;
- the repeats go round the columns in turn, and the table shows the median of each,
  the ratio ours/reference, the target and whether it is met;
- a column whose factory raises (ours before it is written) is ``unavailable``, with
  the reason under the table; a run that breaks is an ``error`` and the exit status is 1;
- a row may decline a column by raising `NotMeasured` with the reason (the thread model
  asked to hold 10^4 greenlets): that cell alone is ``unavailable``, so every row tries
  every column afresh;
- a row may record *findings*, figures besides its time (the memory per greenlet, a
  p99 latency), in `FINDINGS` in the child (or in the result of a benchmark's own
  `measure`); the benchmark names them (``findings``), and each cell holds the median
  of each over the runs, for the JSON and the lines a benchmark adds under its table;
  notes a run returns (``notes``) are listed under the table, each once;
- a benchmark may name further ratios (``also``), each a column over another with
  targets for some rows, shown after the main one (benchmarks.libev: core/corecext,
  then pyloop/corecffi);
- ``--quick``, ``--repeat``, ``--rows``, the column option, ``--json``, ``--plot``,
  ``--timeout`` and ``--quiet`` mean the same in every benchmark.
"""
import argparse
import dataclasses
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent  # the repository: children run from here
SAFETY_TIMEOUT = 60.0  # seconds a single run may take before it is stopped
FINDINGS = {}  # in a child: what the row found besides its time, name -> figure


class NotMeasured(BaseException):
    """Raised in a child by a row that cannot run on a column, with the reason; the cell
    is shown as unavailable with it, for that row only. A BaseException, so that it
    passes every ``except Exception`` that makes an error of anything else, up to
    `Benchmark.child`."""


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    what: str  # the row's label, after the size
    size: int  # operations in a full run
    target: float | None  # the ratio ours/reference we aim for; None: shown, not aimed at
    workload: Callable  # (subject, n, timeout) -> seconds


def target_label(target):
    """1.5 as "1.5", 1.25 as "1.25": one decimal unless the target needs two."""
    return f"{target:.1f}" if round(target, 1) == target else f"{target:.2f}"


def version_label(distribution, name=None):
    """"tornado 6.6.1": a column heading with the installed version, if there is one."""
    try:
        return f"{name or distribution} {importlib.metadata.version(distribution)}"
    except importlib.metadata.PackageNotFoundError:
        return name or distribution


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A further ratio, column ours over column reference, reported beside the main one."""

    ours: str
    reference: str
    targets: dict  # row name -> the ratio aimed for; a row not named has no target

    @property
    def label(self):
        return f"{self.ours}/{self.reference}"


@dataclasses.dataclass(frozen=True)
class Benchmark:
    module: str  # "benchmarks.ioloop": what `python -m` runs, for the parent and each child
    description: str  # one line, for --help
    columns: dict  # name -> (column heading, factory); factory() -> a subject with close()
    rows: dict  # name -> Row
    ours: str  # the column the ratio is of ...
    reference: str  # ... and the one it is over
    option: str = "loops"  # the option that picks columns, and their key in the JSON
    noun: str = "loop"  # what a column is, in --help
    also: tuple = ()  # further Comparisons, each shown after the main ratio
    findings: tuple = ()  # the names of what a row finds besides its time, in FINDINGS

    # ---- The child: one measurement in a fresh process

    def child(self, row_name, column, n, timeout):
        """What the child prints: `measure`'s result with what the row found, or why the
        row does not run on this column."""
        FINDINGS.clear()
        try:
            result = self.measure(row_name, column, n, timeout)
        except NotMeasured as reason:
            return {"unavailable": str(reason)}
        return {**result, **FINDINGS} if "ops_per_s" in result else result

    def measure(self, row_name, column, n, timeout):
        """Run one row on one column; the result as a dict for the parent (one JSON line)."""
        try:
            subject = self.columns[column][1]()
        except Exception as exc:  # not written yet, an import error, ...
            return {"unavailable": describe(exc)}
        try:
            gc.collect()  # start from the same heap on every column
            seconds = self.rows[row_name].workload(subject, n, timeout)
        except Exception as exc:
            return {"error": describe(exc)}
        finally:
            subject.close()
        return {"seconds": seconds, "ops_per_s": n / seconds}

    def run_child(self, row, column, n, timeout):
        """Measure in a fresh interpreter; a crash or a hang becomes an error, not a hang."""
        command = [sys.executable, "-m", self.module, "--child", row.name, column,
                   "--size", str(n), "--timeout", str(timeout)]
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                  timeout=timeout + 30)  # the child's own guard, plus start-up
        except subprocess.TimeoutExpired:
            return {"error": f"killed after {timeout + 30:g} s"}
        lines = done.stdout.strip().splitlines()
        stderr = done.stderr.strip().splitlines()  # a loop logs a failed callback here
        try:
            result = json.loads(lines[-1])
        except (IndexError, ValueError):
            result = {"error": f"no result from the child (exit status {done.returncode})"}
        if "error" in result and stderr:
            result["error"] += f"; its stderr ends: {stderr[-1]}"
        return result

    # ---- The parent: every row on every column, medians and ratios

    def run_all(self, rows, columns, repeat, scale, timeout, progress):
        """Results as {row name: {"size", column: cell, "ratio", "met"}}, a row at a time."""
        results = {}
        for row in rows:
            n = max(1, row.size // scale)
            cells = {"size": n, **self.run_row(row, columns, n, repeat, timeout, progress)}
            results[row.name] = self.judge(row, cells)
        return results

    def run_row(self, row, columns, n, repeat, timeout, progress):
        """{column: cell} for one row. The repeats go round all the columns in turn
        (A B C A B C ...), so that a slow minute on the machine falls on every column
        rather than on one. A column unavailable or failed in the row is not tried again
        in it; the next row tries it afresh, since a row may decline a column alone."""
        runs = {name: [] for name in columns}  # name -> its results, in order
        for attempt in range(repeat):
            for name in columns:
                if runs[name] and "ops_per_s" not in runs[name][-1]:
                    continue
                result = self.run_child(row, name, n, timeout)
                progress(f"{row.name:<10} {name:<11} run {attempt + 1}/{repeat}: "
                         + (f"{result['ops_per_s']:,.0f} ops/s" if "ops_per_s" in result
                            else result.get("error") or result.get("unavailable")))
                runs[name].append(result)
        return {name: self.cell(runs[name]) for name in columns}

    def cell(self, runs):
        """One column's cell in a row, from its runs: {"unavailable"} or {"error"} if the
        last was so; else {"samples", "ops_per_s"}, the median of each finding found,
        and the runs' notes, each once."""
        if "ops_per_s" not in runs[-1]:
            return runs[-1]
        samples = [run["ops_per_s"] for run in runs]
        cell = {"samples": samples, "ops_per_s": statistics.median(samples)}
        for key in self.findings:
            if found := [run[key] for run in runs if key in run]:
                cell[key] = statistics.median(found)
        if notes := dict.fromkeys(note for run in runs for note in run.get("notes", ())):
            cell["notes"] = list(notes)
        return cell

    def judge(self, row, cells):
        """The row's cells with its ratios: ours over the reference, then each of `also`
        under its label ({"ratio", "target", "met"})."""
        cells["ratio"] = self.ratio(cells, self.ours)
        cells["met"] = meets(cells["ratio"], row.target)
        for also in self.also:
            ratio = self.ratio(cells, also.ours, also.reference)
            target = also.targets.get(row.name)
            cells[also.label] = {"ratio": ratio, "target": target, "met": meets(ratio, target)}
        return cells

    def ratio(self, cells, name, reference=None):
        """ops/s of column name over the reference's (the main one unless named) in one
        row, or None if either is missing."""
        mine, reference = cells.get(name, {}), cells.get(reference or self.reference, {})
        if "ops_per_s" in mine and "ops_per_s" in reference:
            return mine["ops_per_s"] / reference["ops_per_s"]
        return None

    # ---- Reporting

    def table(self, rows, columns, results, repeat):
        """The results as text: ops/s per column, the ratio, the target and whether it is met."""
        headings = [self.columns[name][0] for name in columns]
        header = ["", *headings, f"{self.ours}/{self.reference}", "target", "met"]
        for also in self.also:
            header += [also.label, "target", "met"]
        body = []
        for row in rows:
            cells = results[row.name]
            line = [row_label(row, cells["size"])]
            for name in columns:
                cell = cells[name]
                line.append(rate(cell["ops_per_s"]) if "ops_per_s" in cell
                            else "unavailable" if "unavailable" in cell else "error")
            line += ratio_cells(cells["ratio"], row.target, cells["met"])
            for also in self.also:
                cell = cells[also.label]
                line += ratio_cells(cell["ratio"], cell["target"], cell["met"])
            body.append(line)
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

        def fmt(line):
            return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(line, widths)))

        out = [f"ops/s, median of {repeat} run{'s' if repeat > 1 else ''}, each in a fresh "
               f"process; Python {platform.python_version()}, {platform.system()} "
               f"{platform.machine()}, {os.cpu_count()} CPUs", fmt(header)]
        out += [fmt(line) for line in body]
        return "\n".join(out + cell_notes(rows, columns, results))

    def tick_label(self, row, cells):
        """The row, wrapped, and the reference's own rate: the 1.0 every bar is measured against."""
        label = textwrap.fill(row_label(row, cells["size"]), 22)
        reference = cells.get(self.reference, {})
        return label + (f"\n({self.reference}: {rate(reference['ops_per_s'])} ops/s)"
                        if "ops_per_s" in reference else "")

    def plot(self, rows, columns, results, path):
        """Bars of each column's ops/s over the reference's, per row, with the targets marked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        others = [name for name in columns if name != self.reference]
        width = 0.8 / max(1, len(others))
        fig, ax = plt.subplots(figsize=(max(7, 2.2 * len(rows)), 3.8),  # room for each label
                               layout="constrained")
        for i, name in enumerate(others):
            xs = [r + (i - (len(others) - 1) / 2) * width for r in range(len(rows))]
            ys = [self.ratio(results[row.name], name) or 0.0 for row in rows]
            bars = ax.bar(xs, ys, width * 0.9, label=self.columns[name][0])
            ax.bar_label(bars, labels=[f"{y:.2f}x" if y else "unavailable" for y in ys], fontsize=8)
            if name == self.ours:
                for x, row in zip(xs, rows):
                    if row.target is None:
                        continue
                    ax.hlines(row.target, x - width / 2, x + width / 2, colors="black",
                              linestyles="dashed", label="target" if x == xs[0] else None)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_xticks(range(len(rows)), [self.tick_label(row, results[row.name]) for row in rows])
        ax.set_ylabel(f"ops/s relative to {self.columns[self.reference][0]}")
        ax.set_title(f"Speed relative to {self.columns[self.reference][0]} "
                     "(same run; higher is faster)")
        ax.legend(fontsize=8)
        fig.savefig(path, dpi=150)
        plt.close(fig)

    # ---- The command line

    def main(self, argv=None):
        option, noun = f"--{self.option}", self.noun
        parser = argparse.ArgumentParser(prog=f"python -m {self.module}",
                                         description=self.description)
        parser.add_argument("--repeat", type=int, help=f"runs per row and {noun} (default 3)")
        parser.add_argument("--quick", action="store_true", help="sizes / 10 and one repeat")
        parser.add_argument(option, dest="columns", metavar=self.option.upper(),
                            default=",".join(self.columns),
                            help=f"comma-separated, from {', '.join(self.columns)} (default: all)")
        parser.add_argument("--rows", default=",".join(self.rows),
                            help=f"comma-separated, from {', '.join(self.rows)} (default: all)")
        parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
        parser.add_argument("--plot", metavar="PATH", help="write a bar chart of the ratios (PNG)")
        parser.add_argument("--timeout", type=float, default=SAFETY_TIMEOUT,
                            help=f"seconds one {noun} run may take (default {SAFETY_TIMEOUT:g})")
        parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
        parser.add_argument("--child", nargs=2, metavar=("ROW", "COLUMN"), help=argparse.SUPPRESS)
        parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
        args = parser.parse_args(argv)

        if args.child:
            print(json.dumps(self.child(*args.child, args.size, args.timeout)))
            return 0

        columns = _choose(parser, option, args.columns, self.columns)
        rows = [self.rows[name] for name in _choose(parser, "--rows", args.rows, self.rows)]
        repeat = args.repeat or (1 if args.quick else 3)
        if repeat < 1:
            parser.error("--repeat must be at least 1")

        def progress(line):
            if not args.quiet:
                print(line, file=sys.stderr, flush=True)

        results = self.run_all(rows, columns, repeat, 10 if args.quick else 1, args.timeout,
                               progress)
        print(self.table(rows, columns, results, repeat))
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "repeat": repeat,
                "quick": args.quick,
                self.option: {name: self.columns[name][0] for name in columns},
                "targets": {row.name: row.target for row in rows},
                **({"also": {also.label: also.targets for also in self.also}}
                   if self.also else {}),
                "labels": {row.name: row_label(row, results[row.name]["size"]) for row in rows},
                "results": results,
            }, indent=2) + "\n")
        if args.plot:
            Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
            self.plot(rows, columns, results, args.plot)
        # unavailable columns are reported, not failures; a run that broke is one
        broken = any("error" in results[row.name][name] for row in rows for name in columns)
        return 1 if broken else 0


def cell_notes(rows, columns, results):
    """The lines under a table: each column that could not run, each error, and each
    note a cell carries, in order and each once."""
    notes = {}
    for row in rows:
        for name in columns:
            cell = results[row.name][name]
            if "unavailable" in cell:
                notes[f"unavailable: {name}: {cell['unavailable']}"] = None
            elif "error" in cell:
                notes[f"error: {row.name} on {name}: {cell['error']}"] = None
            for note in cell.get("notes", ()):
                notes[f"note: {row.name} on {name}: {note}"] = None
    return list(notes)


def meets(ratio, target):
    """Whether a ratio meets its target: None if either is missing."""
    return None if None in (ratio, target) else ratio >= target


def ratio_cells(ratio, target, met):
    """One comparison's cells in a row of the table: the ratio, the target, whether met."""
    return ["-" if ratio is None else f"{ratio:.2f}x",
            "-" if target is None else f">= {target_label(target)}x",
            {None: "-", True: "yes", False: "NO"}[met]]


def describe(exc):
    """"TimeoutError: Operation timed out", or the type alone if the message is empty."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _choose(parser, option, text, known):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        parser.error(f"{option}: unknown {', '.join(unknown) or '(none given)'}; "
                     f"choose from {', '.join(known)}")
    return names


def rate(ops):
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if ops >= scale:
            return f"{ops / scale:.3g}{unit}"
    return f"{ops:.3g}"


def size_label(n):
    """1e6, 1e5, 10k: the row names of the reference notes."""
    return f"{n // 1000}k" if n % 1000 == 0 and n < 10**5 else f"{n:.0e}".replace("e+0", "e")


def row_label(row, n):
    return f"{size_label(n)} {row.what}"

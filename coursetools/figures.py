"""Figures of the book that are drawn from real runs: ``python -m coursetools.figures``.

Each figure runs the code it shows, records what happened with a clock, and draws the
record with matplotlib into chapters/figures/. Run this again after changing the code a
figure shows. The timings move a little from run to run; the order of events does not,
and the function that records it asserts that order before anything is drawn.

    python -m coursetools.figures            # every figure
    python -m coursetools.figures --list     # their names
    python -m coursetools.figures ioloop-iteration
"""
from __future__ import annotations

import argparse
import dataclasses
import socket
import threading
import time
from pathlib import Path

FIGURES = Path(__file__).resolve().parents[1] / "chapters" / "figures"

# ---- The IOLoop: one iteration of start(), traced

WORK = 0.0008  # seconds each traced callback, timer and handler spins: visible on the axis
DATA_AFTER = 0.006  # seconds after start() is called, a thread writes to the socket
LATER = 0.015  # seconds: the timer that is not due yet, which bounds the poll's wait
SETTLE = 0.002  # seconds given to the writing thread to reach its wait before start()


@dataclasses.dataclass
class Span:
    """Something the loop did, from ``start`` to ``end`` (perf_counter seconds)."""

    lane: str  # "callbacks", "timers", "poll" or "handlers"
    label: str
    start: float
    end: float
    timeout: float = 0.0  # for a poll: how long the loop asked it to wait at most


class TracedPoller:
    """Stands in for the loop's poller and records each poll() call as a Span.

    The loop binds ``self._poller.poll`` once, when start() begins; so the poller is
    swapped before start(), not patched during it (and select.epoll, a C type, takes
    no new attributes anyway)."""

    def __init__(self, poller, spans):
        self._poller = poller
        self._spans = spans

    def poll(self, timeout):
        start = time.perf_counter()
        pairs = self._poller.poll(timeout)
        ready = "nothing ready" if not pairs else f"{len(pairs)} fd ready"
        self._spans.append(Span("poll", f"poll(timeout={timeout * 1000:.1f} ms): {ready}",
                                start, time.perf_counter(), timeout))
        return pairs

    def __getattr__(self, name):  # register, modify, unregister, close
        return getattr(self._poller, name)


def trace_ioloop_iteration():
    """Run our IOLoop through one full iteration and the start of the next; return
    ``(spans, iterations, returned)``: what ran when, the times at which each iteration
    took its due timers, and the time start() returned, all in ms from start().

    The program: two callbacks, a timer already due, a timer 15 ms away, and a read
    handler on a socket that a thread writes to 6 ms after start() is called; the
    handler queues callback "c", which stops the loop. (The thread is started, and
    has reached its wait, before start() is called: a thread that wants the GIL while
    a callback spins would take it from the loop for up to 5 ms, the switch interval.)"""
    from impls.ioloop.pollioloop import IOLoop

    spans = []
    iterations = []  # when each iteration collected its due timers
    loop = IOLoop(make_current=False)
    sock, peer = socket.socketpair()
    sender = threading.Timer(SETTLE + DATA_AFTER, peer.send, [b"ping"])

    def traced(lane, label, then=None):
        def run(*args):
            start = time.perf_counter()
            if then is not None:
                then(*args)
            while time.perf_counter() - start < WORK:  # stand-in for real work
                pass
            spans.append(Span(lane, label, start, time.perf_counter()))
        return run

    def on_readable(sock, events):
        sock.recv(4096)
        loop.add_callback(traced("callbacks", "c: stop()", then=lambda: loop.stop()))

    pop_due = loop._timeouts.pop_due

    def traced_pop_due(now):
        iterations.append(time.perf_counter())
        return pop_due(now)

    loop._timeouts.pop_due = traced_pop_due  # looked up on each iteration
    loop._poller = TracedPoller(loop._poller, spans)
    loop.add_handler(sock, traced("handlers", "handler(sock, READ)", then=on_readable),
                     IOLoop.READ)
    sender.start()
    time.sleep(SETTLE)
    loop.add_callback(traced("callbacks", "a"))
    loop.add_callback(traced("callbacks", "b"))
    loop.call_later(0, traced("timers", "due timer"))
    later = loop.call_later(LATER, traced("timers", "later timer"))
    try:
        started = time.perf_counter()
        loop.start()
        returned = time.perf_counter()
    finally:
        sender.cancel()
        loop.remove_timeout(later)
        loop.close()
        sock.close()
        peer.close()

    order = [span.label.split(":")[0].split("(")[0] for span in spans]
    assert order == ["a", "b", "due timer", "poll", "handler", "c"], order
    assert len(iterations) == 2, iterations

    def ms(t):
        return (t - started) * 1000

    spans = [dataclasses.replace(span, start=ms(span.start), end=ms(span.end),
                                 timeout=span.timeout * 1000)
             for span in spans]
    return spans, [ms(t) for t in iterations], ms(returned)


LANES = ["callbacks", "timers", "poll", "handlers"]  # top to bottom
COLORS = {"callbacks": "#4c72b0", "timers": "#dd8452", "poll": "#8c8c8c",
          "handlers": "#55a868"}
LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 0.6}  # hides lines behind
LANE_TITLES = {"callbacks": "callbacks", "timers": "due timers",
               "poll": "poll wait", "handlers": "handlers"}


def draw_ioloop_iteration(path):
    """Trace one iteration of our IOLoop and draw it as a timeline into ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for attempt in range(5):  # a run disturbed by other processes is run again
        try:
            spans, iterations, returned = trace_ioloop_iteration()
        except AssertionError:  # the thread wrote too late: the later timer ran first
            if attempt == 4:
                raise
            continue
        if all(span.end - span.start < 2 * WORK * 1000
               for span in spans if span.lane != "poll"):
            break
    style = {
        "svg.hashsalt": "switchyard",  # stable ids: the same drawing, the same file
        "svg.fonttype": "none",  # text stays text: smaller, and selectable
        "font.family": "DejaVu Sans",
        "font.size": 9,
    }
    with plt.rc_context(style):
        _draw_timeline(plt, spans, iterations, returned, path)


def _draw_timeline(plt, spans, iterations, returned, path):
    fig, ax = plt.subplots(figsize=(9, 3.6))
    rows = {lane: len(LANES) - 1 - i for i, lane in enumerate(LANES)}
    for span in spans:
        y = rows[span.lane]
        ax.broken_barh([(span.start, span.end - span.start)], (y - 0.3, 0.6),
                       facecolors=COLORS[span.lane], edgecolors="white", linewidth=0.8)
        ax.text(span.start, y + 0.38, span.label, ha="left", va="bottom", fontsize=8,
                bbox=LABEL_BOX)
    # The iterations, as brackets above the lanes; start() returns at the end of the last.
    top = len(LANES) - 0.05
    bounds = iterations + [returned]
    for number, (begin, end) in enumerate(zip(bounds, bounds[1:]), 1):
        ax.axvline(begin, color="black", linestyle=":", linewidth=0.8, zorder=0)
        ax.annotate("", (begin, top), (end, top), arrowprops={
            "arrowstyle": "<->", "linewidth": 0.8, "shrinkA": 0, "shrinkB": 0})
        ax.text((begin + end) / 2, top + 0.08, f"iteration {number}", ha="center",
                va="bottom", fontsize=8.5, bbox=LABEL_BOX)
    ax.axvline(returned, color="black", linewidth=1, zorder=0)
    ax.text(returned, -0.78, "start() returns", ha="right", va="bottom", fontsize=8.5,
            bbox=LABEL_BOX)
    # Where the poll's wait would have ended had no fd become ready: the later timer.
    poll = next(span for span in spans if span.lane == "poll")
    deadline = poll.start + poll.timeout
    ax.plot([poll.end, deadline], [rows["poll"], rows["poll"]], color=COLORS["poll"],
            linestyle="--", linewidth=1)
    ax.axvline(deadline, color=COLORS["timers"], linestyle="--", linewidth=1)
    ax.text(deadline, rows["poll"] + 0.38,
            "the later timer's deadline:\nthe longest the poll could wait ",
            ha="right", va="bottom", fontsize=8, color="#444444")
    ax.set_yticks([rows[lane] for lane in LANES], [LANE_TITLES[lane] for lane in LANES])
    ax.set_ylim(-0.8, len(LANES) + 0.35)
    ax.set_xlim(0, max(returned, deadline) * 1.03)
    ax.set_xlabel("ms since start() was called")
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.tick_params(axis="y", length=0)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})  # no timestamp: diffs show real changes
    plt.close(fig)


# ---- The command line

DRAW = {
    "ioloop-iteration": (draw_ioloop_iteration, "svg"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m coursetools.figures",
                                     description="Draw the book's figures from real runs.")
    parser.add_argument("names", nargs="*", help="figures to draw (default: all)")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(DRAW))
        return
    for name in args.names or DRAW:
        if name not in DRAW:
            parser.error(f"no figure {name!r}; known: {', '.join(DRAW)}")
        draw, suffix = DRAW[name]
        path = FIGURES / f"{name}.{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        draw(path)
        print(f"wrote {path.relative_to(FIGURES.parents[1])}")


if __name__ == "__main__":
    main()

"""Diagrams of the book drawn by code, not from a run: ``python -m coursetools.diagrams``.

Each diagram is plain SVG written by a function here into chapters/figures/, so that a
change to it is a change to code, reviewed like code. ``tests/test_diagrams.py`` fails
when a file there is not what its function draws; run this module again after changing
one.

    python -m coursetools.diagrams            # write every diagram
"""
from __future__ import annotations

import sys
from pathlib import Path

from coursetools.svg import INK, MUTED, PAPER, line, opening, rect, text

FIGURES = Path(__file__).resolve().parents[1] / "chapters" / "figures"
ARROW = "arrow"
A_COLOUR, B_COLOUR, SAVED = "#c9d7f2", "#f5d9c3", "#e4e4e4"

# ---- Around a switch: two greenlets' stacks, the stack pointer, the thread state

COLUMN_W, COLUMN_H, FRAME_H = 150, 230, 34
COLUMN_GAP = 64  # room for the rsp arrow between the two columns
PANEL_W = 2 * COLUMN_W + COLUMN_GAP


def stack_switch() -> str:
    """Before and after ``switch()`` from greenlet A to greenlet B."""
    left, gap = 64, 50  # a margin for the first rsp arrow, and the room between panels
    width, height = left + 2 * PANEL_W + gap + 10, 440
    parts = [opening(width, height, "Two greenlets' stacks before and after a switch", ARROW)]
    for panel, (title, running) in enumerate(
            [("before: A runs, and calls B.switch()", "A"),
             ("after: B runs, back from its own switch()", "B")]):
        x = left + panel * (PANEL_W + gap)
        parts.append(text(x + PANEL_W / 2, 22, title, 15, INK, weight="bold"))
        parts += _panel(x, 44, running)
    parts.append(text(width / 2, height - 10,
                       "Only the stack pointer moves: no frame is copied. The registers a "
                       "C function must preserve wait on the stack of the greenlet that left.",
                       12, MUTED))
    parts.append("</svg>")
    return "".join(parts)


def _panel(x, y, running):
    parts = []
    for i, name in enumerate("AB"):
        cx = x + i * (COLUMN_W + COLUMN_GAP)
        colour = A_COLOUR if name == "A" else B_COLOUR
        parts.append(text(cx + COLUMN_W / 2, y + 12, f"{name}'s C stack", 13, INK))
        top = y + 20
        parts.append(rect(cx, top, COLUMN_W, COLUMN_H, PAPER, MUTED, dashed=True))
        parts.append(text(cx + COLUMN_W - 4, top + 12, "high addresses", 10, MUTED, "end"))
        frames = ["its first frame", "… Python calls …", "switch()"]
        for j, label in enumerate(frames):
            parts.append(rect(cx + 6, top + 20 + j * FRAME_H, COLUMN_W - 12, FRAME_H - 4,
                              colour, INK))
            parts.append(text(cx + COLUMN_W / 2, top + 20 + j * FRAME_H + 20, label, 12, INK))
        below = top + 20 + len(frames) * FRAME_H
        if name == running:  # running: the stack pointer is the CPU's rsp
            parts.append(_arrow(cx - 4, below, "rsp", left=True))
        else:  # suspended: its registers are pushed, its stack pointer kept in the greenlet
            parts.append(rect(cx + 6, below, COLUMN_W - 12, 44, SAVED, INK))
            parts.append(text(cx + COLUMN_W / 2, below + 17, "saved registers", 12, INK))
            parts.append(text(cx + COLUMN_W / 2, below + 33, "rbp rbx r12–r15 mxcsr", 11, INK))
            parts.append(text(cx + COLUMN_W / 2, below + 62, f"{name}'s saved stack pointer",
                              11, INK))
            parts.append(line(cx + COLUMN_W / 2, below + 52, cx + COLUMN_W / 2, below + 46, ARROW))
        parts.append(text(cx + 4, top + COLUMN_H - 6, "grows down ↓", 10, MUTED, "start"))
    state_y = y + COLUMN_H + 34
    colour = A_COLOUR if running == "A" else B_COLOUR
    parts.append(rect(x, state_y, PANEL_W, 74, colour, INK))
    parts.append(text(x + 8, state_y + 18, "the thread state (PyThreadState):", 12, INK,
                      "start", weight="bold"))
    parts.append(text(x + 8, state_y + 36, f"current frame, data stack, call depth: {running}'s",
                      12, INK, "start"))
    parts.append(text(x + 8, state_y + 53, f"exception being handled, context: {running}'s",
                      12, INK, "start"))
    other = "B" if running == "A" else "A"
    parts.append(text(x + 8, state_y + 69, f"({other}'s are kept in the {other} object)", 11,
                      MUTED, "start"))
    return parts


def _arrow(x, y, label, left):
    start = x - 26 if left else x + 26
    return line(start, y, x, y, ARROW) + text(start - 4, y + 4, label, 12, INK, "end", weight="bold")


# ---- async/await: who hands what to whom, from an await to the selector and back

LAYERS = [  # (name, what it is), top to bottom
    ("the coroutine", "async def: a generator in another hat"),
    ("the Task", "its Runner: __step, __wakeup"),
    ("the Future", "a result to come; its done-callbacks"),
    ("the event loop", "_ready deque, timer heap, _run_once"),
    ("the selector", "epoll: sockets and the self-pipe"),
]
# (lines beside the arrow from layer i to layer i + 1): the wait, going down, on the left
WAIT = [("await fut: fut.__await__()", "yields fut up to the Task"),
        ("fut.add_done_callback(", "task.__wakeup)"),
        ("sock_recv: add_reader(fd, try", "recv, then fut.set_result)"),
        ("select(timeout): sleep until", "an fd is ready or a timer due")]
# (lines beside the arrow from layer i + 1 back up to layer i): the wake-up, on the right
WAKE = [("__step: coro.send(None);", "__await__ returns fut.result()"),
        ("set_result: call_soon(__wakeup),", "run in a later iteration"),
        ("the reader's Handle runs:", "recv the data, fut.set_result(data)"),
        ("ready fds: their readers' Handles", "join the _ready deque")]
LAYER_W, LAYER_H, LAYER_GAP, SIDE = 250, 52, 46, 250


def asyncio_layers() -> str:
    """An await, from the coroutine down to the selector (the wait) and back up (the
    wake-up): the overview of chapters/asyncio.md."""
    width = 2 * SIDE + LAYER_W + 20
    top = 40
    height = top + len(LAYERS) * (LAYER_H + LAYER_GAP) - LAYER_GAP + 50
    x = SIDE + 10
    parts = [opening(width, height, "An await in asyncio: the coroutine, the Task, the "
                     "Future, the loop and the selector; the wait goes down, the wake-up up",
                     ARROW),
             text(x - 30, 22, "the wait", 14, INK, "end", weight="bold"),
             text(x + LAYER_W + 30, 22, "the wake-up", 14, INK, "start", weight="bold")]
    for i, (name, what) in enumerate(LAYERS):
        y = top + i * (LAYER_H + LAYER_GAP)
        parts.append(rect(x, y, LAYER_W, LAYER_H, A_COLOUR if i < 3 else B_COLOUR, INK))
        parts.append(text(x + LAYER_W / 2, y + 21, name, 15, INK, weight="bold"))
        parts.append(text(x + LAYER_W / 2, y + 39, what, 12, INK))
    for i, (down, up) in enumerate(zip(WAIT, WAKE)):
        y1 = top + i * (LAYER_H + LAYER_GAP) + LAYER_H
        y2 = y1 + LAYER_GAP
        left, right = x + 40, x + LAYER_W - 40
        parts.append(line(left, y1 + 2, left, y2 - 2, ARROW))
        parts.append(line(right, y2 - 2, right, y1 + 2, ARROW))
        middle = (y1 + y2) / 2
        for j, words in enumerate(down):
            parts.append(text(left - 10, middle - 3 + 15 * j, words, 12, INK, "end"))
        for j, words in enumerate(up):
            parts.append(text(right + 10, middle - 3 + 15 * j, words, 12, INK, "start"))
    parts.append(text(width / 2, height - 24, "Blue: the objects that wait; orange: the "
                      "loop and the kernel underneath.", 12, MUTED))
    parts.append(text(width / 2, height - 8, "The reader runs in the iteration whose select saw "
                      "the fd; the Task's __wakeup, in the next one.", 12, MUTED))
    parts.append("</svg>")
    return "".join(parts)


DIAGRAMS = {"stack-switch.svg": stack_switch, "asyncio-await.svg": asyncio_layers}


def main(argv):
    if argv:
        sys.exit("usage: python -m coursetools.diagrams")
    for name, draw in DIAGRAMS.items():
        (FIGURES / name).write_text(draw() + "\n", encoding="utf-8")
        print(f"wrote chapters/figures/{name}")


if __name__ == "__main__":
    main(sys.argv[1:])

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

COLUMN_W, COLUMN_H, FRAME_H = 160, 230, 34
COLUMN_GAP = 64  # room for the rsp arrow between the two columns
# What a suspended context keeps above its stack pointer (switch_x86_64.h), high to low
SAVED_WORDS = ["return address", "rbp rbx r12–r15", "x87 control word, mxcsr"]
SAVED_H = 50
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
    parts.append(text(width / 2, height - 26, "Only the stack pointer moves: no frame is "
                      "copied. The registers a C function must preserve, the control words",
                      12, MUTED))
    parts.append(text(width / 2, height - 10, "and the address to return to wait on the stack "
                      "of the greenlet that left, above its saved stack pointer.", 12, MUTED))
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
        else:  # suspended: what switchyard_swap pushed, its stack pointer kept in the greenlet
            parts.append(rect(cx + 6, below, COLUMN_W - 12, SAVED_H, SAVED, INK))
            for j, words in enumerate(SAVED_WORDS):  # high to low, as they were pushed
                parts.append(text(cx + COLUMN_W / 2, below + 15 + 15 * j, words, 11, INK))
            parts.append(text(cx + COLUMN_W / 2, below + SAVED_H + 24,
                              f"{name}'s saved stack pointer", 11, INK))
            parts.append(line(cx + COLUMN_W / 2, below + SAVED_H + 12, cx + COLUMN_W / 2,
                              below + SAVED_H + 2, ARROW))
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


# ---- An Event: two greenlets wait by linking, one set() wakes them, in the hub, in order

WAKE_LANES = ["main", "the hub", "task A", "task B"]
WAKE_LANE_COLOURS = [SAVED, B_COLOUR, A_COLOUR, A_COLOUR]
# (the lane that runs, what happens, the Event's links after it): one row each, time going down
WAKE_ROWS = [
    (0, ("A and B are blocked in event.wait():", "each linked its Waiter's switch"), "A, B"),
    (0, ("main calls event.set(): the flag is", "true, one round is queued; no switch"),
     "A, B; round queued"),
    (0, ("main blocks (a join, a sleep, a recv):", "it switches to the hub"), "A, B; round queued"),
    (1, ("the loop runs the round: _notify_links", "calls A's link, a switch to A"), "B"),
    (2, ("in A, wait() returns True; A runs", "until it blocks again"), "B"),
    (1, ("back in _notify_links: B's link, the", "last of the round, a switch to B"), "none"),
    (3, ("in B, wait() returns True; B runs", "until it blocks again"), "none"),
    (1, ("_notify_links returns; the loop goes", "on with its other callbacks"), "none; no round"),
]
WAKE_TEXT_W, WAKE_LANE_GAP, WAKE_ROW_H = 270, 66, 42


def event_wake() -> str:
    """One Event, two waiters and a setter, as lanes (who runs) and rows (what happens):
    the overview of chapters/primitives.md."""
    lanes = [WAKE_TEXT_W + 46 + i * WAKE_LANE_GAP for i in range(len(WAKE_LANES))]
    state_x = lanes[-1] + 40
    top = 44
    width = state_x + 128
    height = top + len(WAKE_ROWS) * WAKE_ROW_H + 48
    parts = [opening(width, height, "Two greenlets wait on an Event; set() queues one callback, "
                     "which the hub runs later, waking them one at a time, oldest first", ARROW),
             text(6, 22, "what happens", 13, INK, "start", weight="bold"),
             text(state_x, 22, "the Event's links", 13, INK, "start", weight="bold")]
    for x, name in zip(lanes, WAKE_LANES):
        parts.append(text(x, 22, name, 13, INK, weight="bold"))
        parts.append(line(x, top - 12, x, top + len(WAKE_ROWS) * WAKE_ROW_H, dashed=True))
    for i, (lane, words, links) in enumerate(WAKE_ROWS):
        y = top + i * WAKE_ROW_H
        for j, words_line in enumerate(words):
            parts.append(text(6, y + 18 + 14 * j, words_line, 12, INK, "start"))
        parts.append(text(state_x, y + 25, links, 12, INK, "start"))
    first = 0  # the first row of the run of rows the same greenlet runs
    for i in range(1, len(WAKE_ROWS) + 1):
        lane = WAKE_ROWS[first][0]
        if i < len(WAKE_ROWS) and WAKE_ROWS[i][0] == lane:
            continue
        y, end = top + first * WAKE_ROW_H, top + i * WAKE_ROW_H
        parts.append(rect(lanes[lane] - 7, y + 4, 14, end - y - 8, WAKE_LANE_COLOURS[lane], INK,
                          radius=3))
        if i < len(WAKE_ROWS):  # then a switch to the next one, at the row boundary
            step = 8 if WAKE_ROWS[i][0] > lane else -8
            parts.append(line(lanes[lane] + step, end, lanes[WAKE_ROWS[i][0]] - step, end, ARROW,
                              width=1.6))
        first = i
    parts.append(text(width / 2, height - 24, "A bar: the greenlet that runs; an arrow: a switch.",
                      12, MUTED))
    parts.append(text(width / 2, height - 8, "One runs at a time, and every switch has the hub "
                      "on one side.", 12, MUTED))
    parts.append("</svg>")
    return "".join(parts)


# ---- Monkey patching: one recv() before and after the patch, and the threadpool's way back

# (title, boxes): each box is (two lines of text, colour, label of the arrow to the next box)
PATCH_COLUMNS = [
    ("before the patch", [
        (("http.client, unmodified:", "self.sock.recv_into(buffer)"), A_COLOUR, ""),
        (("socket.socket, the stdlib's:", "a blocking socket"), A_COLOUR, ""),
        (("_socket, in C: the recv()", "system call"), SAVED, ""),
        (("the kernel: no data yet, so", "the OS thread sleeps in recv()"), SAVED, None),
    ]),
    ("after patch_all()", [
        (("http.client, unmodified:", "self.sock.recv_into(buffer)"), A_COLOUR, ""),
        (("socket.socket is now the runtime's", "class: impls/hub/socket.py"), A_COLOUR, ""),
        (("recv on a non-blocking fd: EAGAIN,", "so hub.wait(its read watcher)"), A_COLOUR,
         "switch"),
        (("the hub runs the loop: the other", "greenlets run, then epoll waits"), B_COLOUR,
         "readable"),
        (("the watcher's callback switches", "back; recv again: the data"), A_COLOUR, None),
    ]),
    ("a blocking call, on the threadpool", [
        (("a greenlet: hub.threadpool.apply(", "driver.query, (sql,))"), A_COLOUR, ""),
        (("spawn(): the call on a queue; the", "greenlet waits on an AsyncResult"), A_COLOUR,
         "queue"),
        (("a worker, a real OS thread, takes", "it: driver.query() blocks there"), SAVED, ""),
        (("done: the outcome kept, then the", "task's async watcher .send()"), SAVED,
         "wakes the loop"),
        (("in the hub, _deliver sets the", "AsyncResult: the greenlet resumes"), B_COLOUR, None),
    ]),
]
PATCH_W, PATCH_GAP, PATCH_BOX_H, PATCH_STEP = 260, 34, 44, 72


def monkey_patch() -> str:
    """One ``recv`` of an unmodified stdlib program, before and after the patch, and a
    blocking call sent to the threadpool: the overview of chapters/monkey.md."""
    top = 44
    width = 20 + len(PATCH_COLUMNS) * PATCH_W + (len(PATCH_COLUMNS) - 1) * PATCH_GAP
    height = top + 5 * PATCH_STEP - (PATCH_STEP - PATCH_BOX_H) + 70
    parts = [opening(width, height, "One recv() of an unmodified program: before the patch it "
                     "blocks the OS thread; after it, it waits in the hub; a blocking call on the "
                     "threadpool comes back through an async watcher", ARROW)]
    for n, (title, boxes) in enumerate(PATCH_COLUMNS):
        x = 10 + n * (PATCH_W + PATCH_GAP)
        parts.append(text(x + PATCH_W / 2, 24, title, 14, INK, weight="bold"))
        for i, (words, colour, label) in enumerate(boxes):
            y = top + i * PATCH_STEP
            parts.append(rect(x, y, PATCH_W, PATCH_BOX_H, colour, INK))
            parts.append(text(x + PATCH_W / 2, y + 18, words[0], 12, INK))
            parts.append(text(x + PATCH_W / 2, y + 34, words[1], 12, INK))
            if label is not None:  # an arrow down to the next box
                middle = x + PATCH_W / 2
                parts.append(line(middle, y + PATCH_BOX_H + 2, middle, y + PATCH_STEP - 2, ARROW))
                parts.append(text(middle + 8, y + PATCH_BOX_H + 18, label, 11, MUTED, "start"))
    x, y = 10, top + 4 * PATCH_STEP
    parts.append(text(x + PATCH_W / 2, y + 18, "The hub cannot run: every greenlet", 12, INK))
    parts.append(text(x + PATCH_W / 2, y + 34, "of the thread waits with this one.", 12, INK))
    parts.append(text(width / 2, height - 24, "Blue: Python in the greenlet; orange: the hub and "
                      "its loop; grey: C and the kernel, where a call blocks the OS thread it "
                      "runs on.", 12, MUTED))
    parts.append(text(width / 2, height - 8, "No name of a C library's own calls is looked up in "
                      "a Python module: no patch reaches them. The threadpool moves them to "
                      "another thread.", 12, MUTED))
    parts.append("</svg>")
    return "".join(parts)


# ---- Stack slots: a few full-size stacks per thread, their occupants, the others' copies

# (occupant, its bytes' height, running?, the copies of the others bound to the slot)
SLOTS = [("the hub", 56, False, [("C", 1.8), ("F", 1.1)]),
         ("A", 76, True, [("B", 1.8)])]
SLOT_W, SLOT_GAP, SLOT_H, GUARD_H, COPY_H = 140, 52, 200, 16, 22  # a gap holds an rsp arrow
SLOTS_LEFT = 42  # room for the first slot's rsp arrow, should it run
MAIN_W = 116  # the thread's own stack, where the main greenlet runs
SWITCHER = ["the switcher's", "stack, 32 KiB, for", "a switch between", "two of one slot:",
            "A → B, both of slot 2,", "is A → switcher → B"]
SLOTS_CAPTION = [
    "Ours: a switch to main or to an occupant only swaps the stack pointer; to a copied-out",
    "greenlet, it copies the slot's occupant out and the target back in, where it was.",
    "greenlet: a switch copies out what of the stack the target's slice needs, and the slice in."]


def stack_slots() -> str:
    """Ours (the main greenlet on the thread's stack; K slots per thread: occupants in
    place, the others as heap copies; the switcher's stack) beside greenlet's one stack
    in slices: the design of chapters/greenlets.md."""
    width, height, top = 930, 530, 84
    first = SLOTS_LEFT + MAIN_W + SLOT_GAP  # the first slot's left edge
    after = first + len(SLOTS) * (SLOT_W + SLOT_GAP) - SLOT_GAP  # the slots' right edge
    divide = after + 150
    parts = [opening(width, height, "Stack slots: the main greenlet runs on its thread's own "
                     "stack, and each thread has a few full-size stacks for the others; the "
                     "occupant of each is in place, the other greenlets bound to it wait as "
                     "heap copies; greenlet keeps one stack and copies slices of it", ARROW),
             text(divide / 2 + 10, 24, "ours: the thread's stack, and 16 slots (two shown)", 14,
                  INK, weight="bold"),
             text((divide + width) / 2, 24, "greenlet: one stack", 14, INK, weight="bold")]
    parts += _main_stack(SLOTS_LEFT, top)
    for i, slot in enumerate(SLOTS):
        parts += _slot(first + i * (SLOT_W + SLOT_GAP), top, i + 1, *slot)
    parts.append(text(after + 24, top + SLOT_H / 2, "…", 20, MUTED))
    parts.append(rect(after + 10, top + SLOT_H + 30, 128, 92, SAVED, INK))
    for j, words in enumerate(SWITCHER):
        parts.append(text(after + 74, top + SLOT_H + 46 + 14 * j, words, 11, INK))
    parts.append(line(divide, 40, divide, height - 64, dashed=True))
    parts += _sliced(divide + 30, top)
    for j, words in enumerate(SLOTS_CAPTION):
        parts.append(text(width / 2, height - 42 + 16 * j, words, 12, MUTED))
    parts.append("</svg>")
    return "".join(parts)


def _stack_frame(x, y, w, title):
    """The outline of a stack, with its title above it and which way it grows."""
    return [text(x + w / 2, y - 22, title, 13, INK, weight="bold"),
            text(x + w - 4, y - 6, "high addresses", 10, MUTED, "end"),
            rect(x, y, w, SLOT_H, PAPER, MUTED, dashed=True)]


def _main_stack(x, y):
    """The thread's own stack: the main greenlet runs there, and is never copied."""
    return _stack_frame(x, y, MAIN_W, "the thread's stack") + [
        rect(x + 6, y + 6, MAIN_W - 12, 40, SAVED, INK),
        text(x + MAIN_W / 2, y + 24, "main", 12, INK, weight="bold"),
        text(x + MAIN_W / 2, y + 39, "never copied", 11, INK),
        text(x + 4, y + SLOT_H - 6, "grows down ↓", 10, MUTED, "start")]


def _slot(x, y, number, occupant, used, running, copies):
    """One slot: its occupant's bytes at its top, the guard page below, and under it the
    copies of the other greenlets bound to it, with the way back to the slot's top."""
    bottom = y + SLOT_H - GUARD_H
    parts = _stack_frame(x, y, SLOT_W, f"slot {number}") + [
        rect(x + 26, y + 6, SLOT_W - 32, used, A_COLOUR, INK),
        text(x + SLOT_W / 2 + 10, y + 24, occupant, 12, INK, weight="bold"),
        text(x + SLOT_W / 2 + 10, y + 40, "the occupant, runs" if running else "the occupant",
             11, INK),
        text(x + SLOT_W - 6, bottom - 22, "8 MiB reserved", 10, MUTED, "end"),
        text(x + SLOT_W - 6, bottom - 8, "grows down ↓", 10, MUTED, "end"),
        rect(x, bottom, SLOT_W, GUARD_H, SAVED, INK, radius=0),
        text(x + SLOT_W / 2, y + SLOT_H - 4, "guard page", 10, INK)]
    if running:
        parts.append(_arrow(x - 2, y + 6 + used, "rsp", left=True))
    heap = y + SLOT_H + 40
    parts.append(text(x + 26, heap - 10, "copied out:", 11, MUTED, "start"))
    for j, (name, kib) in enumerate(copies):
        parts.append(rect(x + 26, heap + j * (COPY_H + 6), SLOT_W - 34, COPY_H, B_COLOUR, INK))
        parts.append(text(x + SLOT_W / 2 + 9, heap + j * (COPY_H + 6) + 15,
                          f"{name}: {kib} KiB", 11, INK))
    # A copy goes back to the top of the slot, over the occupant's bytes
    parts.append(line(x + 14, heap + COPY_H / 2, x + 14, y + 14, dashed=True))
    parts.append(line(x + 14, y + 14, x + 25, y + 14, ARROW))
    if number == 1:  # said once: the same holds in every slot
        for j, words in enumerate(["copied back to", "the top, over", f"{occupant}'s bytes"]):
            parts.append(text(x + 22, y + used + 26 + 13 * j, words, 10, INK, "start"))
    return parts


def _sliced(x, y):
    """greenlet's one stack: the main greenlet's frames, the running greenlet's slice
    below, and the saved slices of the others on the heap."""
    parts = _stack_frame(x, y, 130, "the thread's stack") + [
        rect(x + 6, y + 6, 118, 40, SAVED, INK),
        text(x + 65, y + 30, "main's frames", 12, INK),
        rect(x + 6, y + 50, 118, 64, A_COLOUR, INK),
        text(x + 65, y + 76, "A's slice", 12, INK, weight="bold"),
        text(x + 65, y + 92, "runs", 11, INK),
        line(x + 158, y + 114, x + 132, y + 114, ARROW),
        text(x + 162, y + 118, "rsp", 12, INK, "start", weight="bold"),
        text(x + 4, y + SLOT_H - 6, "grows down ↓", 10, MUTED, "start")]
    heap = y + SLOT_H + 40
    parts.append(text(x + 26, heap - 10, "saved:", 11, MUTED, "start"))
    for j, words in enumerate(["B's slice", "C's slice", "D's, in part"]):
        parts.append(rect(x + 26, heap + j * (COPY_H + 6), 96, COPY_H, B_COLOUR, INK))
        parts.append(text(x + 74, heap + j * (COPY_H + 6) + 15, words, 11, INK))
    parts.append(line(x + 14, heap + COPY_H / 2, x + 14, y + 116, ARROW, dashed=True))
    return parts

DIAGRAMS = {"stack-switch.svg": stack_switch, "asyncio-await.svg": asyncio_layers,
            "event-wake.svg": event_wake, "monkey-patch.svg": monkey_patch,
            "stack-slots.svg": stack_slots}


def main(argv):
    if argv:
        sys.exit("usage: python -m coursetools.diagrams")
    for name, draw in DIAGRAMS.items():
        (FIGURES / name).write_text(draw() + "\n", encoding="utf-8")
        print(f"wrote chapters/figures/{name}")


if __name__ == "__main__":
    main(sys.argv[1:])

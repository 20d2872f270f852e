"""The map of the course, drawn by code: the chapters as boxes on two tracks, each box
a link to its chapter, as an SVG put inline into the page (an SVG shown as an image
cannot hold links). Both builders draw it from here, each with its own way of linking
to a chapter: the MkDocs hook through ``coursetools.myst`` and the book through the
``{course-map}`` directive of ``coursetools.sphinx_ext``.

    ```{course-map}
    ```
"""
from __future__ import annotations

import dataclasses
from html import escape
from typing import Callable

from coursetools import svg as svgml
from coursetools.svg import INK, MUTED, PAPER


@dataclasses.dataclass(frozen=True)
class Stop:
    """One box of the map."""

    title: tuple[str, ...]  # its lines
    page: str | None  # the chapter (file name without .md); None: a chapter to come
    anchor: str  # a heading's slug in that chapter, or "" for its top
    track: int  # its column: GENERATORS or GREENLETS
    step: int  # its row: the place on its track
    short: bool = False  # a stop of the short path


GENERATORS, GREENLETS = 0, 1
STOPS = {
    "scheduler": Stop(("Generators and", "the task scheduler"), "generators", "", GENERATORS, 0, True),
    "ioloop": Stop(("The Tornado IOLoop",), "ioloop", "", GENERATORS, 1, True),
    "gen": Stop(("gen.coroutine", "and Futures"), "gen", "", GENERATORS, 2),
    "asyncio": Stop(("async/await", "and asyncio"), "asyncio", "", GENERATORS, 3),
    "greenlets": Stop(("Greenlets: switching", "whole C stacks"), "greenlets", "", GREENLETS, 0, True),
    "libev": Stop(("The libev loop", "under gevent"), "libev", "", GREENLETS, 1),
    "hub": Stop(("The hub and", "cooperative sockets"), "hub", "", GREENLETS, 2, True),
    "primitives": Stop(("Events, queues", "and pools"), "primitives", "", GREENLETS, 3),
    "monkey": Stop(("Monkey patching and", "seeing inside"), "monkey", "", GREENLETS, 4),
    "practice": Stop(("What this explains", "about your code"), "practice", "", GREENLETS, 5),
}
# (from, to, label lines): the order along a track, and the ideas one track lends the other.
EDGES = [
    ("scheduler", "ioloop", ()), ("ioloop", "gen", ()), ("gen", "asyncio", ()),
    ("greenlets", "libev", ()), ("libev", "hub", ()), ("hub", "primitives", ()),
    ("primitives", "monkey", ()), ("monkey", "practice", ()),
    ("scheduler", "greenlets", ("why a generator cannot", "switch from a nested call")),
    ("ioloop", "libev", ("epoll, the timer heap,", "the wake-up pipe")),
]
TRACKS = [("Generators:", "each wait is a yield"), ("Greenlets:", "each wait is a switch")]

BOX_W, BOX_H, STEP_GAP = 190, 58, 30  # a box, and the room between two boxes of a track
TRACK_GAP = 170  # the room between the two tracks, where the lent ideas are written
LEFT, TOP = 4, 54  # the margins; the track names go above TOP
ACCENT = "#3f51b5"  # the short path
ARROW = "course-map-arrow"


def svg(link: Callable[[str, str], str]) -> str:
    """The map as one line of SVG markup (a Markdown block must not hold blank lines).
    ``link(page, anchor)`` is the URL of a chapter, from the page the map is on."""
    width = LEFT * 2 + 2 * BOX_W + TRACK_GAP
    steps = 1 + max(stop.step for stop in STOPS.values())
    height = TOP + steps * BOX_H + (steps - 1) * STEP_GAP + 44
    parts = [svgml.opening(width, height, "The map of the course: two tracks of chapters, "
                           "generators and greenlets", ARROW, scalable=True)]
    for track, (name, idea) in enumerate(TRACKS):
        x = _left(track) + BOX_W / 2
        parts.append(svgml.text(x, TOP - 26, name, 15, weight="bold")
                     + svgml.text(x, TOP - 10, idea, 13, MUTED))
    parts += [_edge(STOPS[a], STOPS[b], label) for a, b, label in EDGES]
    parts += [_box(stop, link) for stop in STOPS.values()]
    parts.append(_legend(height - 12))
    parts.append("</svg>")
    return "".join(parts)


def _left(track):
    return LEFT + track * (BOX_W + TRACK_GAP)


def _top(step):
    return TOP + step * (BOX_H + STEP_GAP)


def _box(stop, link):
    x, y = _left(stop.track), _top(stop.step)
    to_come = stop.page is None
    rect = svgml.rect(x, y, BOX_W, BOX_H, PAPER, ACCENT if stop.short else MUTED if to_come else INK,
                      width=3 if stop.short else 1.2, dashed=to_come, radius=8)
    lines = [*stop.title, "(a later chapter)"] if to_come else list(stop.title)
    first = y + BOX_H / 2 - 8.5 * (len(lines) - 1) + 5
    text = "".join(svgml.text(x + BOX_W / 2, first + 17 * i, line,
                              15 if i < len(stop.title) else 12, MUTED if to_come else INK)
                   for i, line in enumerate(lines))
    if to_come:
        return rect + text
    label = " ".join(stop.title)
    return (f'<a href="{escape(link(stop.page, stop.anchor))}" style="text-decoration:none">'
            f"<title>{escape(label)}</title>{rect}{text}</a>")


def _edge(a, b, label):
    if a.track == b.track:  # along a track: bottom edge to top edge
        x = _left(a.track) + BOX_W / 2
        return svgml.line(x, _top(a.step) + BOX_H, x, _top(b.step) - 1, ARROW, width=1.3)
    # across, from the side of one box to the side of the other, the idea written above
    y = _top(a.step) + BOX_H / 2 + 8
    x1, x2 = _left(a.track) + BOX_W, _left(b.track)
    words = "".join(svgml.text((x1 + x2) / 2, y - 8 - 15 * (len(label) - i), line, 12)
                    for i, line in enumerate(label))
    return svgml.line(x1, y, x2 - 1, y, ARROW, dashed=True, width=1.3) + words


def _legend(y):
    x = LEFT
    return (svgml.rect(x + 1, y - 11, 28, 14, PAPER, ACCENT, width=3, radius=3)
            + svgml.text(x + 36, y, "the short path", 13, anchor="start")
            + svgml.line(x + 160, y - 4, x + 188, y - 4, dashed=True, width=1.3)
            + svgml.text(x + 196, y, "an idea one track lends the other", 13, anchor="start"))

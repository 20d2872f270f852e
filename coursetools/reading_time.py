"""How long the chapters take to read, computed from their sources.

    python -m coursetools.reading_time            # print the table
    python -m coursetools.reading_time --write    # and write it where the course shows it

A reader is taken to read prose at 200 words a minute and quoted code at 15 lines a
minute (a line of code is read, not skimmed: it is what the chapter explains). The
*main line* of a chapter is everything but its asides: the admonitions written with
``:class: dropdown``, folded on the site and in the book, which hold the hardening and
the comparisons with the originals. Their time is counted apart.

The *short path* is the stops of ``SHORT_PATH``: sections of chapters (a heading with
everything under it), main line only, the way to the moment gevent makes sense.

The numbers are shown, never typed: ``--write`` puts them between the markers
``<!-- reading-time -->`` and ``<!-- /reading-time -->`` at the top of each chapter, on
the home page and in the README, and ``tests/test_reading_time.py`` fails when what is
written there is no longer what the sources give.
"""
from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

from pymdownx.slugs import slugify as _slugify

from coursetools import myst

ROOT = Path(__file__).resolve().parents[1]
WORDS_PER_MINUTE = 200
CODE_LINES_PER_MINUTE = 15
SHORT_PATH_LIMIT = 240  # minutes
CHAPTER_LIMIT = 75  # minutes of main line, each chapter
COURSE_LIMIT = 8 * 60  # minutes of main line, all chapters together

# (chapter, slug of a heading, what the stop teaches): the short path, in order.
SHORT_PATH = [
    ("generators", "generators", "a function that pauses: send, throw, yield from"),
    ("generators", "the-scheduler", "a loop of generator tasks and their system calls"),
    ("ioloop", "the-pollers", "waiting for many sockets at once: epoll, level-triggered"),
    ("ioloop", "the-timeout-queue", "the timer heap"),
    ("ioloop", "the-future", "a result that comes later"),
    ("ioloop", "one-iteration", "one turn of an event loop"),
    ("greenlets", "why-a-generator-cannot-switch-from-a-nested-call", "the limit of generators"),
    ("greenlets", "before-the-switch-stacks-frames-and-the-thread-state",
     "what a switch must move: C stack, Python frames, thread state"),
    ("greenlets", "how-greenlet-switches-stacks", "how greenlet moves them"),
    ("greenlets", "separate-stacks-instead-of-slices", "a C stack per greenlet"),
    ("greenlets", "switch_x86_64h-the-switch", "the switch itself, in assembly"),
    ("greenlets", "switching", "what a switch carries, and the state it saves"),
    ("hub", "the-cast", "the hub, the loop, the tasks"),
    ("hub", "how-spawn-and-join-really-work", "four switches"),
    ("hub", "how-recv-becomes-a-wait-on-an-io-watcher", "the payoff"),
    ("hub", "the-waiter", "a switch that waits for a value"),
    ("hub", "switching-into-the-hub", "every wait goes through the hub"),
    ("hub", "waiting-on-a-watcher", "hub.wait: start a watcher, switch away"),
    ("hub", "the-cooperative-socket", "recv, send, accept: try, wait, try again"),
]

MARKERS = ("<!-- reading-time -->", "<!-- /reading-time -->")
_REGION = re.compile(re.escape(MARKERS[0]) + r".*?" + re.escape(MARKERS[1]), re.S)
# What is written into the chapters by code and is not read as part of them: these
# times, and the "Your turn" boxes of coursetools/exercises/your_turn.py.
_GENERATED = re.compile(r"<!-- (reading-time|your-turn) -->.*?<!-- /\1 -->", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


@dataclasses.dataclass
class Time:
    """Words of prose and lines of code, of the main line and of the asides."""

    words: int = 0
    code_lines: int = 0
    aside_words: int = 0
    aside_code_lines: int = 0

    @property
    def main_minutes(self) -> float:
        return self.words / WORDS_PER_MINUTE + self.code_lines / CODE_LINES_PER_MINUTE

    @property
    def aside_minutes(self) -> float:
        return (self.aside_words / WORDS_PER_MINUTE
                + self.aside_code_lines / CODE_LINES_PER_MINUTE)

    def add(self, other: Time) -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


# ---- Counting


def measure(text: str, folder: Path, aside: bool = False) -> Time:
    """The reading time of a piece of a chapter; ``folder`` is the chapter's, for the
    paths of its includes."""
    time = Time()
    for item in myst.parse(_GENERATED.sub("", text)):
        if isinstance(item, str):
            _count(time, aside, words=len(item.split()))
        elif item.name == "literalinclude":
            options, _ = myst.split_options(item)
            _, lines = myst.quote(myst.Include(item.argument, options, item.lineno), folder)
            _count(time, aside, code=_code_lines(lines))
        elif item.name in myst.ADMONITIONS:
            options, content = myst.split_options(item)
            folded = aside or "dropdown" in options.get("class", "").split()
            time.add(measure("\n".join([item.argument, *content]), folder, folded))
        elif item.name is None:  # a code block of the chapter's own
            _count(time, aside, code=_code_lines(item.body))
    return time


def _code_lines(lines) -> int:
    return sum(1 for line in lines if line.strip())


def _count(time: Time, aside: bool, words: int = 0, code: int = 0) -> None:
    if aside:
        time.aside_words += words
        time.aside_code_lines += code
    else:
        time.words += words
        time.code_lines += code


def slugify(heading: str) -> str:
    """A heading's anchor, as both builders make it (toc.slugify in mkdocs.yml)."""
    return _slugify(case="lower")(heading.replace("`", ""), "-")


def headings(text: str):
    """(line index, level, slug) of each heading of a chapter, leaving out lines in
    fenced blocks (a # there is a comment)."""
    lineno = 0
    for item in myst.parse(text):
        if isinstance(item, str):
            if heading := _HEADING.match(item):
                yield lineno, len(heading[1]), slugify(heading[2])
            lineno += 1
        else:
            lineno += len(item.raw)


def section_lines(text: str, slug: str) -> tuple[int, int]:
    """The lines (start, end: an index range) of the section whose heading has the slug:
    the heading and what follows, down to the next heading of the same level or higher."""
    found = list(headings(text))
    for n, (start, level, name) in enumerate(found):
        if name == slug:
            end = next((i for i, deeper, _ in found[n + 1:] if deeper <= level),
                       len(text.splitlines()))
            return start, end
    raise LookupError(f"no heading with the slug {slug!r}")


def section(text: str, slug: str) -> str:
    """The text of the section whose heading has the slug (section_lines)."""
    start, end = section_lines(text, slug)
    return "\n".join(text.splitlines()[start:end])


def chapter_path(name: str, root: Path = ROOT) -> Path:
    return root / "chapters" / f"{name}.md"


def chapter_time(name: str, slug: str = "", root: Path = ROOT) -> Time:
    path = chapter_path(name, root)
    _, body, _ = myst.front_matter(path.read_text(encoding="utf-8"))
    return measure(section(body, slug) if slug else body, path.parent)


def chapters(root: Path = ROOT) -> list[str]:
    """The chapters of the course in the order of the nav: the home page and the
    appendix pages (in a folder of their own) left out."""
    from coursetools.sphinx_ext import nav_pages

    folder = root / "chapters"
    return [page.stem for _, page in nav_pages(root / "mkdocs.yml")
            if page.suffix == ".md" and page.parent == folder and page.stem != "index"]


def short_path_minutes(root: Path = ROOT) -> float:
    return sum(chapter_time(name, slug, root).main_minutes for name, slug, _ in SHORT_PATH)


# ---- Showing


def duration(minutes: float) -> str:
    """Rounded to 5 minutes, so that a sentence more does not change what is shown."""
    rounded = max(5, 5 * round(minutes / 5))
    return f"{rounded // 60} h {rounded % 60:02d}" if rounded >= 60 else f"{rounded} min"


def chapter_line(name: str, root: Path = ROOT) -> str:
    time = chapter_time(name, root=root)
    asides = f", and {duration(time.aside_minutes)} of asides" if time.aside_minutes else ""
    return f"*Reading time: {duration(time.main_minutes)} for the main line{asides}.*"


def paths_table(root: Path = ROOT) -> str:
    """The two paths: every chapter, and the stops of the short path."""
    rows = ["| the full path | main line | asides |", "|---|---|---|"]
    total = Time()
    for name in chapters(root):
        time = chapter_time(name, root=root)
        total.add(time)
        rows.append(f"| [{_title(name, root)}]({name}.md) | {duration(time.main_minutes)} "
                    f"| {duration(time.aside_minutes) if time.aside_minutes else '-'} |")
    rows.append(f"| all chapters | {duration(total.main_minutes)} "
                f"| {duration(total.aside_minutes) if total.aside_minutes else '-'} |")
    rows += ["", "| the short path | what it teaches | time |", "|---|---|---|"]
    for name, slug, teaches in SHORT_PATH:
        heading = _heading_text(name, slug, root)
        minutes = chapter_time(name, slug, root).main_minutes
        rows.append(f"| [{heading}]({name}.md#{slug}) | {teaches} | {duration(minutes)} |")
    rows.append(f"| all stops | | {duration(short_path_minutes(root))} |")
    return "\n".join(rows)


def _title(name: str, root: Path) -> str:
    text = chapter_path(name, root).read_text(encoding="utf-8")
    return next(line[2:].strip() for line in text.splitlines() if line.startswith("# "))


def _heading_text(name: str, slug: str, root: Path) -> str:
    first = section(chapter_path(name, root).read_text(encoding="utf-8"), slug).splitlines()[0]
    return _HEADING.match(first)[2]


def readme_table(root: Path = ROOT) -> str:
    """The README's version: links go to the chapter files."""
    return re.sub(r"\]\((\w+)\.md", r"](chapters/\1.md", paths_table(root))


def regions(root: Path = ROOT) -> dict[Path, str]:
    """What goes between the markers, file by file."""
    found = {chapter_path(name, root): chapter_line(name, root) for name in chapters(root)}
    found[root / "chapters" / "index.md"] = paths_table(root)
    found[root / "README.md"] = readme_table(root)
    return found


def rewritten(path: Path, content: str) -> str:
    """The file with its region holding ``content``."""
    text = path.read_text(encoding="utf-8")
    if len(_REGION.findall(text)) != 1:
        raise LookupError(f"{path}: expected one {MARKERS[0]} ... {MARKERS[1]} region")
    return _REGION.sub(lambda _: f"{MARKERS[0]}\n{content}\n{MARKERS[1]}", text)


def main(argv):
    if argv not in ([], ["--write"]):
        sys.exit("usage: python -m coursetools.reading_time [--write]")
    if argv:
        for path, content in regions().items():
            path.write_text(rewritten(path, content), encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    print(paths_table())


if __name__ == "__main__":
    main(sys.argv[1:])

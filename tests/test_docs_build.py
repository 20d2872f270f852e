"""Both builders, end to end: the web site (MkDocs, strict) and the book (Sphinx, -W).

The repository's docs sources are copied into a temporary folder together with a demo
chapter, a demo implementation and a demo notebook, which exercise every translation
the chapters rely on: a literalinclude with a caption and emphasized lines, one inside
an admonition, backticks inside quoted code, a Cython segment that starts on a blank
line, a link to a notebook through the chapters/notebooks symlink. Then both builds
run once (in parallel) and the tests read their HTML.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from coursetools import coursemap, myst
from coursetools.sphinx_ext import nav_pages

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.docs

DEMO_PY = '''\
"""A demo implementation, quoted by the demo chapter of the build test."""
import heapq


class Timer:
    """Calls ``callback`` at ``deadline``.

    ```
    backticks inside quoted code: the fence around it must be longer
    ```
    """

    def __init__(self, deadline, callback):
        self.deadline = deadline  # when to call
        self.callback = callback  # what to call

    def __lt__(self, other):
        return self.deadline < other.deadline


def push(heap, timer):
    heapq.heappush(heap, timer)
'''

DEMO_PYX = '''\
# cython: language_level=3
cdef class Watcher:

    cdef public int active

    def start(self):
        self.active = 1
'''

DEMO_CHAPTER = '''\
---
impl: [impls/demo/demo.py]
---
# Demo chapter

The [demo notebook](notebooks/demo.ipynb) goes with this chapter; the
[timer](#the-timer-class) is below.

## The `Timer` class

```{literalinclude} ../impls/demo/demo.py
:lines: 5-11
:lineno-match:
:caption: impls/demo/demo.py
:emphasize-lines: 2
```

::::{note}
The constructor, quoted inside a note:

```{literalinclude} ../impls/demo/demo.py
:lines: 13-15
:lineno-match:
```
::::

```{literalinclude} ../impls/demo/demo.py
:lines: 17-22
:lineno-match:
```

```{literalinclude} ../impls/demo/demo.py
:lines: 1-2
:lineno-match:
```

::::{admonition} An aside, folded
:class: dropdown
Quoted inside an aside:

```{literalinclude} ../impls/demo/demo.py
:lines: 17-18
:lineno-match:
```
::::

A Cython segment that starts on a blank line (the walkthrough test forbids it in
real chapters; here it proves that neither builder drops the line):

```{literalinclude} ../impls/demo/core.pyx
:language: cython
:lines: 3-7
:lineno-match:
```
'''

DEMO_NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Demo notebook"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["assert 1 + 1 == 2"]},
        {"cell_type": "markdown", "metadata": {}, "source": ["## One `spawn`, one `join`"]},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The repository's docs sources plus the demo, in a temporary folder."""
    tmp = tmp_path_factory.mktemp("docs")
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "build", ".ipynb_checkpoints")
    # symlinks=True keeps chapters/notebooks a link, as in the repository
    for folder in ("chapters", "notebooks", "impls", "coursetools", "demos"):
        shutil.copytree(ROOT / folder, tmp / folder, symlinks=True, ignore=ignore)
    (tmp / "impls" / "demo").mkdir()
    (tmp / "impls" / "demo" / "demo.py").write_text(DEMO_PY)
    (tmp / "impls" / "demo" / "core.pyx").write_text(DEMO_PYX)
    (tmp / "chapters" / "demo.md").write_text(DEMO_CHAPTER)
    (tmp / "notebooks" / "demo.ipynb").write_text(json.dumps(DEMO_NOTEBOOK))
    config = (ROOT / "mkdocs.yml").read_text()
    config, found = re.subn(r"(?m)^nav:\n(?:[ #].*\n)*", lambda nav: nav[0]
                            + "  - demo.md\n  - notebooks/demo.ipynb\n", config)
    assert found == 1, "mkdocs.yml: expected one nav: block"
    (tmp / "mkdocs.yml").write_text(config)
    return tmp


@pytest.fixture(scope="module")
def builds(project):
    """Run both builds at once; {builder: (output folder, seconds)}."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    out = {"mkdocs": project / "_site", "sphinx": project / "_build"}
    commands = {
        "mkdocs": [sys.executable, "-m", "mkdocs", "build", "--strict",
                   "-f", str(project / "mkdocs.yml"), "-d", str(out["mkdocs"])],
        "sphinx": [sys.executable, "-m", "sphinx", "-W", "-q", "-c", str(ROOT / "chapters"),
                   "-b", "html", str(project), str(out["sphinx"])],
    }
    start = time.monotonic()
    running = {name: subprocess.Popen(command, cwd=project, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for name, command in commands.items()}
    results = {}
    for name, process in running.items():
        log, _ = process.communicate(timeout=300)
        results[name] = (process.returncode, log, time.monotonic() - start)
    for name, (returncode, log, _) in results.items():
        assert returncode == 0, f"{name} build failed:\n{log}"
    return {name: (out[name], seconds) for name, (_, _, seconds) in results.items()}


def pages(builder, builds):
    """The HTML pages a build wrote."""
    folder, _ = builds[builder]
    return [p for p in folder.rglob("*.html") if "_static" not in p.parts]


def chapter_page(builder, builds, chapter):
    """The HTML page of chapters/<chapter>.md in a build's output."""
    folder, _ = builds[builder]
    if builder == "mkdocs":
        return folder / ("index.html" if chapter == "index" else f"{chapter}/index.html")
    return folder / "chapters" / f"{chapter}.html"


_BLOCK = re.compile(r'<div class="[^"]*highlight[^"]*">(.*?)</pre>', re.S)
_NUMBER = re.compile(r'class="(?:linenos|normal)"[^>]*>(?:<a [^>]*>)?\s*(\d+)')


def numbered_blocks(html):
    """(first, last) line number of each numbered code block of a page, in order."""
    found = []
    for block in _BLOCK.findall(html):
        numbers = [int(n) for n in _NUMBER.findall(block)]
        if numbers:
            found.append((numbers[0], numbers[-1]))
    return found


def expected_blocks(project, chapter):
    """(first, last) line of each numbered include of a chapter, in document order."""
    path = project / "chapters" / f"{chapter}.md"
    _, body, first_lineno = myst.front_matter(path.read_text())
    found = []
    for include in myst.includes(body, first_lineno):
        if "lineno-match" in include.options:
            start, lines = myst.quote(include, path.parent)
            found.append((start, start + len(lines) - 1))
    return found


def nav_chapters(project):
    """The chapters (names without .md) that the nav lists."""
    chapters = project / "chapters"
    return [page.relative_to(chapters).with_suffix("").as_posix()
            for _, page in nav_pages(project / "mkdocs.yml")
            if page.suffix == ".md" and page.parent == chapters]


@pytest.mark.parametrize("builder", ["mkdocs", "sphinx"])
def test_build_takes_under_a_minute(builds, builder):
    _, seconds = builds[builder]
    assert seconds < 60, f"{builder} took {seconds:.0f} s"


@pytest.mark.parametrize("builder", ["mkdocs", "sphinx"])
def test_no_raw_myst_in_the_output(builds, builder):
    raw = re.compile(r"\{literalinclude\}|:::\{|\{note\}|\{warning\}|\{tip\}")
    folder, _ = builds[builder]
    leftovers = {page.relative_to(folder).as_posix(): raw.findall(page.read_text())
                 for page in pages(builder, builds)}
    assert not {page: found for page, found in leftovers.items() if found}


@pytest.mark.parametrize("builder", ["mkdocs", "sphinx"])
def test_every_chapter_is_built(project, builds, builder):
    for chapter in nav_chapters(project):
        assert chapter_page(builder, builds, chapter).is_file(), chapter


@pytest.mark.parametrize("builder", ["mkdocs", "sphinx"])
def test_line_numbers_are_the_lines_of_the_file(project, builds, builder):
    """Every numbered include starts and ends at its real line numbers (a dropped
    blank line would show as a last number one too small)."""
    assert expected_blocks(project, "demo") == [(5, 11), (13, 15), (17, 22), (1, 2), (17, 18), (3, 7)]
    for chapter in nav_chapters(project):
        html = chapter_page(builder, builds, chapter).read_text()
        assert numbered_blocks(html) == expected_blocks(project, chapter), chapter


@pytest.mark.parametrize("builder", ["mkdocs", "sphinx"])
def test_demo_page_shows_the_quoted_code(builds, builder):
    html = chapter_page(builder, builds, "demo").read_text()
    text = re.sub(r"<[^>]+>", "", html)
    assert "backticks inside quoted code" in text  # the longer fence held
    assert "impls/demo/demo.py" in text  # the caption
    assert "The constructor, quoted inside a note" in text
    assert re.search(r"self\.deadline\s*=\s*deadline", text)
    assert 'id="the-timer-class"' in html  # the same slug as the link in the chapter


def test_emphasized_line_is_the_second_shown(builds):
    """:emphasize-lines: 2 of lines 5-11 marks line 6 in both builds."""
    site = chapter_page("mkdocs", builds, "demo").read_text()
    book = chapter_page("sphinx", builds, "demo").read_text()
    assert re.search(r'<span class="hll">[^\n]*Calls', site)
    assert re.search(r'<span class="hll">[^\n]*Calls', book)


def test_notebook_is_built(builds):
    site, _ = builds["mkdocs"]
    book, _ = builds["sphinx"]
    assert "Demo notebook" in (site / "notebooks" / "demo" / "index.html").read_text()
    assert "Demo notebook" in (book / "notebooks" / "demo.html").read_text()


def test_book_follows_the_nav(builds):
    """The book's sidebar lists the nav's chapters, in the nav's order."""
    book, _ = builds["sphinx"]
    html = (book / "chapters" / "index.html").read_text()
    sidebar = re.findall(r'<li class="toctree-l1[^>]*><a [^>]*href="([^"]+)"', html)
    assert sidebar[-2:] == ["demo.html", "../notebooks/demo.html"]


_ID = re.compile(r'\bid="([^"]+)"')
_TOC_LINK = re.compile(r'<a href="#([^"]+)" class="md-nav__link">\s*<span class="md-ellipsis">\s*(.*?)\s*</span>', re.S)


@pytest.mark.parametrize("builder", ["mkdocs", "sphinx"])
def test_every_link_within_a_page_has_its_target(builds, builder):
    """Every #anchor a page links to (its table of contents above all) is on the page."""
    for page in pages(builder, builds):
        html = page.read_text()
        ids = set(_ID.findall(html))
        missing = {a for a in re.findall(r'href="#([^"]+)"', html) if a not in ids}
        assert not missing, f"{page}: links to missing anchors {sorted(missing)}"


def test_a_notebook_heading_keeps_its_inline_code_in_the_table_of_contents(builds):
    site, _ = builds["mkdocs"]
    html = (site / "notebooks" / "demo" / "index.html").read_text()
    assert ("one-spawn-one-join", "One spawn, one join") in _TOC_LINK.findall(html)


@pytest.mark.parametrize("builder", ["mkdocs", "sphinx"])
def test_every_box_of_the_course_map_links_to_its_chapter(builds, builder):
    """The home page's map: one link per written chapter of coursemap.STOPS, each to a
    page of the build, at a heading that page has."""
    home = chapter_page(builder, builds, "index")
    drawn = re.search(r'<div class="course-map">(.*?)</div>', home.read_text(), re.S)
    assert drawn, "no course map on the home page"
    links = re.findall(r'<a href="([^"]+)"', drawn[1])
    written = [stop for stop in coursemap.STOPS.values() if stop.page]
    assert len(links) == len(written)
    for href, stop in zip(links, written):
        path, _, anchor = href.partition("#")
        target = (home.parent / path).resolve()
        target = target / "index.html" if target.is_dir() else target
        assert target == chapter_page(builder, builds, stop.page).resolve(), href
        if anchor:
            assert f'id="{anchor}"' in target.read_text(), href


def test_an_aside_is_folded_in_both_builds(builds):
    """:class: dropdown: a closed <details> on the site, a toggled admonition in the book."""
    site = chapter_page("mkdocs", builds, "demo").read_text()
    book = chapter_page("sphinx", builds, "demo").read_text()
    assert re.search(r'<details class="note">\s*<summary>An aside, folded</summary>', site)
    assert re.search(r'<div class="dropdown admonition">\s*<p class="admonition-title">'
                     r'An aside, folded</p>', book)
    assert "togglebutton" in book  # the script that folds it

"""The little of MyST Markdown that the chapters use, read by our own code.

Sphinx reads the chapters itself (myst-parser). Two other readers must understand them
too, and both go through this module so that they agree with each other and with Sphinx:

- the MkDocs hook, which turns each ``{literalinclude}`` into a fenced code block
  numbered from its real first line, each MyST admonition into a Material one (folded,
  ``???``, when it has ``:class: dropdown``: an aside of the chapter), and the
  home page's ``{course-map}`` into the SVG of ``coursetools.coursemap``
  (:func:`to_mkdocs`);
- the walkthrough test, which checks that the quoted segments of a chapter cover its
  implementation files (:func:`front_matter`, :func:`includes`, :func:`line_range`).

Fences are matched the way markdown-it (MyST's parser) matches them: a fence closes at
the first later line of the same character, at least as long, with nothing after it.
So a directive that holds another directive needs the longer fence, in MyST as here.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Callable

import yaml

from coursetools import coursemap

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
_DIRECTIVE = re.compile(r"^\{(?P<name>[\w-]+)\}\s*(?P<argument>.*?)\s*$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")

# The options of {literalinclude} that both builders render the same way.
INCLUDE_OPTIONS = {"lines", "lineno-match", "language", "emphasize-lines", "caption"}

# MyST admonition -> (Material type, title). A title of None lets Material write the
# type capitalized ("Note", "Warning"...), which is also what Sphinx writes.
ADMONITIONS = {
    name: (name, None)
    for name in ("note", "warning", "tip", "important", "hint", "caution",
                 "attention", "danger", "error")
}
ADMONITIONS["seealso"] = ("note", "See also")  # Material has no "seealso" style
ADMONITIONS["admonition"] = ("note", None)  # the generic one: its argument is the title


class MystError(ValueError):
    """A chapter asks for something that Sphinx would refuse or render differently."""


@dataclasses.dataclass
class Block:
    """A fenced block of a chapter: a directive (```` ```{name} argument ````) or code."""

    raw: list[str]  # its lines as written, fences included
    indent: str  # the indentation of the opening fence
    name: str | None  # the directive's name; None for a plain code block
    argument: str  # the text after ``{name}``
    body: list[str]  # the lines between the fences, ``indent`` removed
    lineno: int  # the line of the opening fence, 1-based, in the chapter


@dataclasses.dataclass(frozen=True)
class Include:
    """One ``{literalinclude}``, as written."""

    path: str  # relative to the chapter's own folder, as Sphinx reads it
    options: dict[str, str]  # ``:lineno-match:`` is there with the value ""
    lineno: int  # the line of its opening fence in the chapter


def front_matter(text: str) -> tuple[dict, str, int]:
    """Split a chapter into its YAML front matter, its body, and the body's first line
    number (so that messages about the body name lines of the whole file)."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].rstrip() == "---":
        for i in range(1, len(lines)):
            if lines[i].rstrip() == "---":
                meta = yaml.safe_load("".join(lines[1:i])) or {}
                return meta, "".join(lines[i + 1:]), i + 2
    return {}, text, 1


def parse(text: str, first_lineno: int = 1) -> list[str | Block]:
    """The chapter as a list of plain lines and fenced blocks (not looked into)."""
    lines = text.splitlines()
    items: list[str | Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            items.append(lines[i])
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        # An unclosed fence runs to the end of the document, as in markdown-it.
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])),
                   len(lines))
        directive = _DIRECTIVE.match(opening["info"].strip())
        items.append(Block(
            raw=lines[i:end + 1],
            indent=indent,
            name=directive["name"] if directive else None,
            argument=directive["argument"] if directive else "",
            body=[line[len(indent):] if line.startswith(indent) else line.lstrip()
                  for line in lines[i + 1:end]],
            lineno=first_lineno + i,
        ))
        i = end + 1
    return items


def split_options(block: Block) -> tuple[dict[str, str], list[str]]:
    """A directive's ``:key: value`` options, and the content after them."""
    if block.body and block.body[0].strip() == "---":
        raise MystError("write options as ':key: value' lines, not as a YAML block")
    options, content = {}, list(block.body)
    while content and (option := _OPTION.match(content[0])):
        options[option["key"]] = option["value"]
        content.pop(0)
    return options, content


def includes(text: str, first_lineno: int = 1) -> list[Include]:
    """Every ``{literalinclude}`` of a chapter, in document order, nested ones too."""
    found = []
    for block in parse(text, first_lineno):
        if isinstance(block, str) or block.name is None:
            continue
        if block.name == "literalinclude":
            options, _ = split_options(block)
            found.append(Include(block.argument, options, block.lineno))
        elif block.name in ADMONITIONS:  # Markdown inside, which may quote code
            found += includes("\n".join(block.body), block.lineno + 1)
    return found


def line_range(include: Include, total: int) -> tuple[int, int]:
    """The first and last line (1-based) that an include shows of a file of ``total``
    lines, read as Sphinx reads ``:lines:``. Only one range (``a-b``, ``a``, ``a-``,
    ``-b``): Sphinx refuses ``:lineno-match:`` on disjoint lines anyway."""
    spec = include.options.get("lines")
    if spec is None:
        return 1, total
    first, dash, last = spec.strip().partition("-")
    try:
        start = int(first or 1)
        end = int(last or total) if dash else start
    except ValueError:
        raise MystError(f":lines: {spec!r} is not one range a-b") from None
    if not 1 <= start <= end <= total:
        raise MystError(f":lines: {spec} is out of range (the file has {total} lines)")
    return start, end


def quote(include: Include, folder: Path) -> tuple[int, list[str]]:
    """The number of the first line an include shows, and the lines it shows."""
    path = Path(folder, include.path)
    try:
        # splitlines(), as Sphinx's literalinclude reads the file
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MystError(f"cannot read {path}: {exc.strerror}") from None
    start, end = line_range(include, len(lines))
    return start, lines[start - 1:end]


# ---- MyST -> Material for MkDocs

def to_mkdocs(markdown: str, folder: Path, warn: Callable[[str], None],
              first_lineno: int = 1, root: str = "") -> str:
    """The chapter's Markdown with its directives translated for Material for MkDocs.

    ``folder`` is the chapter's folder (include paths are relative to it); ``warn``
    receives one message per directive that cannot be translated, which is then left
    as written so that the raw text shows what went wrong. ``root`` is the way from the
    page to the site's root ("" or "../"), for the links of the course map.
    """
    out: list[str] = []
    for block in parse(markdown, first_lineno):
        if isinstance(block, str) or block.name is None:  # prose, or a plain code block
            out += [block] if isinstance(block, str) else block.raw
            continue
        try:
            if block.name == "literalinclude":
                out += _fenced_code(block, folder)
            elif block.name in ADMONITIONS:
                out += _admonition(block, folder, warn, root)
            elif block.name == "course-map":
                out += _course_map(block, root)
            else:
                raise MystError("has no MkDocs translation")
        except MystError as exc:
            directive = f"{{{block.name}}} {block.argument}".rstrip()
            warn(f"line {block.lineno}: {directive}: {exc}")
            out += block.raw
    return "\n".join(out) + ("\n" if markdown.endswith("\n") else "")


def _fenced_code(block: Block, folder: Path) -> list[str]:
    """A literalinclude as a pymdownx fence: same lines, same numbers, same title."""
    options, _ = split_options(block)
    unknown = sorted(set(options) - INCLUDE_OPTIONS)
    if unknown:
        raise MystError(f"options {unknown} have no MkDocs translation")
    start, lines = quote(Include(block.argument, options, block.lineno), folder)
    attributes = []
    if "lineno-match" in options:
        attributes.append(f'linenums="{start}"')
    if "caption" in options:  # an empty :caption: shows the path, in Sphinx too
        attributes.append(f'title="{options["caption"] or block.argument}"')
    if "emphasize-lines" in options:  # both count from the first line shown
        attributes.append(f'hl_lines="{options["emphasize-lines"].replace(",", " ")}"')
    # Sphinx's default highlight_language reads code as Python.
    info = " ".join([options.get("language") or "python", *attributes])
    # The fence must be longer than any run of backticks in the code it wraps.
    longest = max((len(run) for line in lines for run in re.findall("`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [block.indent + fence + info,
            *(block.indent + line if line else "" for line in lines),
            block.indent + fence]


def _course_map(block: Block, root: str) -> list[str]:
    """The map as inline SVG, in a div that Python-Markdown passes through as it is."""
    if block.argument or any(line.strip() for line in block.body):
        raise MystError("takes no argument and no content")

    def link(page, anchor):  # pages are folders on the site: use_directory_urls
        return f"{root}{page}/" + (f"#{anchor}" if anchor else "")

    return [f'{block.indent}<div class="course-map">{coursemap.svg(link)}</div>']


def _admonition(block: Block, folder: Path, warn: Callable[[str], None],
                root: str) -> list[str]:
    """A MyST admonition as a Python-Markdown one, its content translated in turn."""
    kind, title = ADMONITIONS[block.name]
    options, content = split_options(block)
    folded = options.get("class") == "dropdown"  # an aside: Material's ??? block
    if folded:
        del options["class"]
    elif block.name == "admonition" and options.get("class") in ADMONITIONS:
        kind = ADMONITIONS[options.pop("class")][0]  # a titled one in another style
    if options:
        raise MystError(f"options {sorted(options)} have no MkDocs translation")
    first_lineno = block.lineno + 1
    if block.name == "admonition":
        title = block.argument
    elif block.argument:  # MyST reads it as the first line of the content
        content.insert(0, block.argument)
        first_lineno = block.lineno
    head = ("??? " if folded else "!!! ") + kind + (f' "{title}"' if title else "")
    inner = to_mkdocs("\n".join(content), folder, warn, first_lineno, root)
    return [block.indent + head,
            *(block.indent + "    " + line if line.strip() else "" for line in inner.splitlines())]

"""MkDocs hook (``hooks:`` in mkdocs.yml): hand each chapter's MyST directives to
coursetools.myst, which rewrites them as Material Markdown before MkDocs reads it.

A directive it cannot translate is reported as a warning, so ``mkdocs build --strict``
fails instead of publishing raw ``{literalinclude}`` text.

It also mends the notebooks' tables of contents (``on_page_content``).
"""
import html as htmllib
import re
import sys
from pathlib import Path

from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.toc import get_toc

# MkDocs loads this file by its path, outside any package. coursetools is installed
# with the project; this makes a plain checkout work too, and prefers the checkout's
# copy, which is the one that matches its chapters.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from coursetools import myst  # noqa: E402

log = get_plugin_logger("switchyard")


def on_page_markdown(markdown, page, config, files):
    if not page.file.src_uri.endswith(".md"):  # a notebook: mkdocs-jupyter's business
        return markdown
    # MkDocs has cut the front matter off; count it back so messages name real lines.
    source = page.file.content_string
    first_lineno = 1 + len(source.splitlines()) - len(markdown.splitlines())
    return myst.to_mkdocs(
        markdown,
        Path(page.file.abs_src_path).parent,
        warn=lambda message: log.warning(f"{page.file.src_uri}: {message}"),
        first_lineno=first_lineno,
        root="../" * page.url.count("/"),  # "" for the home page, "../" for a chapter
    )


_HEADING = re.compile(r'<h([1-6]) id="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
_ANCHOR = re.compile(r'<a class="anchor-link".*?</a>', re.S)
_TAG = re.compile(r"<[^>]+>")


def on_page_content(html, page, config, files):
    """mkdocs-jupyter makes a notebook's table of contents from a copy of its Markdown
    with every `inline code` span deleted, so "One `spawn`, one `join`" is listed as
    "One , one" and links to an anchor that does not exist. Make it again from the
    headings of the page as rendered, which keep their text and their ids."""
    if page.file.src_uri.endswith(".ipynb"):
        page.toc = get_toc(toc_tokens(html))
    return html


def toc_tokens(html):
    """The headings of a page, nested by level, as MkDocs's get_toc takes them."""
    root = {"level": 0, "children": []}
    open_headings = [root]  # the chain of headings the next one may nest in
    for level, anchor, inner in _HEADING.findall(html):
        text = htmllib.unescape(_TAG.sub("", _ANCHOR.sub("", inner))).strip()
        token = {"level": int(level), "id": anchor, "name": text, "children": []}
        while open_headings[-1]["level"] >= token["level"]:
            open_headings.pop()
        open_headings[-1]["children"].append(token)
        open_headings.append(token)
    return root["children"]

"""MkDocs hook (``hooks:`` in mkdocs.yml): hand each chapter's MyST directives to
coursetools.myst, which rewrites them as Material Markdown before MkDocs reads it.

A directive it cannot translate is reported as a warning, so ``mkdocs build --strict``
fails instead of publishing raw ``{literalinclude}`` text.
"""
import sys
from pathlib import Path

from mkdocs.plugins import get_plugin_logger

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
    )

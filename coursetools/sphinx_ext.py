"""Sphinx extension of the book: what Sphinx does not already do the way we need.

- The chapter order lives in one place, the ``nav:`` of mkdocs.yml. This adds it to the
  root document as a hidden toctree, so the book and the site list the same chapters in
  the same order (and Sphinx's "not included in any toctree" warning keeps them honest).
- The root document is chapters/index, so the book's front page is
  chapters/index.html; an index.html at the top of the output leads there.
- Sphinx builds its own lexers with ``stripnl=False`` (python, c, ...) but not Cython's:
  Pygments' default drops leading blank lines, and every later line number with them.
- ``{course-map}`` draws the map of the course (``coursetools.coursemap``), its boxes
  linking to the chapters of the book.
"""
from functools import partial
from pathlib import Path

import yaml
from docutils import nodes
from pygments.lexers import CythonLexer
from sphinx.util.docutils import SphinxDirective

from coursetools import coursemap


class _MkDocsYaml(yaml.SafeLoader):
    """Reads mkdocs.yml, whose tags (``!!python/name:``, ``!ENV``) we do not need."""


# Any tag the safe loader does not know reads as None.
_MkDocsYaml.add_multi_constructor("", lambda loader, suffix, node: None)


def setup(app):
    for alias in CythonLexer.aliases:
        app.add_lexer(alias, partial(CythonLexer, stripnl=False))
    app.add_directive("course-map", CourseMap)
    app.connect("source-read", _add_root_toctree)
    app.connect("build-finished", _write_front_door)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


class CourseMap(SphinxDirective):
    """The map of the course, as inline SVG; each box links to its chapter."""

    def run(self):
        builder, here = self.env.app.builder, self.env.docname

        def link(page, anchor):
            uri = builder.get_relative_uri(here, f"chapters/{page}")
            return uri + (f"#{anchor}" if anchor else "")

        return [nodes.raw("", f'<div class="course-map">{coursemap.svg(link)}</div>',
                          format="html")]


def _add_root_toctree(app, docname, source):
    if docname != app.config.root_doc:
        return
    mkdocs_yml = Path(app.srcdir, "mkdocs.yml")
    app.env.note_dependency(mkdocs_yml)  # a changed nav rebuilds the root document
    srcdir = Path(app.srcdir).resolve()
    entries = []
    for title, page in nav_pages(mkdocs_yml):
        # resolve(): a notebook reached through chapters/notebooks is read by Sphinx
        # at its real place, notebooks/.
        target = page.resolve().relative_to(srcdir).with_suffix("")
        if target.as_posix() == app.config.root_doc:
            continue
        entries.append(f"{title} </{target.as_posix()}>" if title else f"/{target.as_posix()}")
    source[0] += "\n\n```{toctree}\n:hidden:\n\n" + "\n".join(entries) + "\n```\n"


def _write_front_door(app, exception):
    if exception is None and app.builder.format == "html":
        target = app.builder.get_target_uri(app.config.root_doc)
        if target == "index.html":  # the root document is already there
            return
        Path(app.outdir, "index.html").write_text(
            f'<!DOCTYPE html><meta http-equiv="refresh" content="0; url={target}">'
            f'<a href="{target}">Switchyard</a>\n', encoding="utf-8")


def nav_pages(mkdocs_yml):
    """(title or None, path) of every page in the nav of mkdocs.yml, in order."""
    config = yaml.load(Path(mkdocs_yml).read_text(encoding="utf-8"), Loader=_MkDocsYaml)
    docs_dir = Path(mkdocs_yml).parent / config.get("docs_dir", "docs")
    return [(title, docs_dir / page) for title, page in _flatten(config.get("nav") or [])]


def _flatten(nav):
    """(title or None, path) of every page of a MkDocs nav; sections opened, links skipped."""
    for item in nav:
        if isinstance(item, str):
            title, value = None, item
        else:
            (title, value), = item.items()
        if isinstance(value, list):
            yield from _flatten(value)
        elif "://" not in value:
            yield title, value

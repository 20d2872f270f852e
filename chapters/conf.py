"""Sphinx configuration of the book.

    sphinx-build -W -c chapters -b html . _build/sphinx

The source folder is the repository root, not chapters/: MkDocs reaches the notebooks
through the symlink chapters/notebooks, but Sphinx resolves symlinks, so a link from a
chapter to notebooks/x.ipynb only resolves when notebooks/ itself is inside the source
folder. The chapter order is mkdocs.yml's nav (see coursetools/sphinx_ext.py).
"""
import sys
from pathlib import Path

# coursetools is installed with the project; this makes a plain checkout work too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

project = "Switchyard"
html_title = "Switchyard"

root_doc = "chapters/index"
include_patterns = ["chapters/**", "notebooks/**"]
exclude_patterns = [
    "chapters/notebooks",  # the symlink MkDocs needs; Sphinx reads notebooks/ itself
    "chapters/TEMPLATE.md",  # how a chapter is written: for writers, not a page
    "**/.ipynb_checkpoints",
    # not read anyway (include_patterns), but excluded folders are not even walked
    ".git", ".venv", "_build", "site", ".cache", "impls", "benchmarks", "tests",
]

extensions = [
    "myst_nb",  # parses Markdown (it brings myst-parser) and notebooks
    "coursetools.sphinx_ext",
    "sphinx_togglebutton",  # an admonition with :class: dropdown is folded, as on the site
]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
# The slugs MkDocs makes too (toc.slugify in mkdocs.yml), so one #anchor works in both.
myst_heading_slug_func = "github"
nb_execution_mode = "off"  # notebooks are run by pytest --nbmake, not by the build

html_theme = "furo"
html_show_copyright = False  # no copyright holder to name; furo would print "Copyright ©"

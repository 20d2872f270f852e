"""Walkthrough completeness: each implementation file is shown whole by one chapter.

The first two tests check the repository. The others check the checker and the MyST
translation of the MkDocs hook (coursetools.myst) on small chapters in tmp_path.
"""
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from coursetools import myst, walkthrough

ROOT = Path(__file__).resolve().parents[1]


# ---- The repository

@pytest.mark.parametrize(
    "chapter", walkthrough.chapters(ROOT),
    ids=lambda chapter: chapter.relative_to(ROOT).as_posix())
def test_chapter_shows_its_files_whole(chapter):
    problems = walkthrough.check_chapter(ROOT, chapter)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_every_implementation_file_is_claimed_by_one_chapter():
    problems = walkthrough.check_claims(ROOT)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ---- The checker, on a small repository: one 20-line file, lines 5 and 12 blank

WAKER = "".join("\n" if n in (5, 12) else f"x{n} = {n}\n" for n in range(1, 21))


def include(lines, path="../impls/demo/waker.py", options=":lineno-match:"):
    return f"```{{literalinclude}} {path}\n:lines: {lines}\n{options}\n```\n"


def chapter(*blocks, impl="impls/demo/waker.py"):
    return f"---\nimpl: [{impl}]\n---\n# Demo\n\n" + "\n".join(blocks)


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "impls" / "demo").mkdir(parents=True)
    (tmp_path / "chapters").mkdir()
    (tmp_path / "impls" / "demo" / "waker.py").write_text(WAKER)
    return tmp_path


def problems_of(repo, text, name="demo.md"):
    path = repo / "chapters" / name
    path.write_text(text)
    return walkthrough.check_chapter(repo, path)


def test_segments_covering_every_nonblank_line_pass(repo):
    assert problems_of(repo, chapter(include("1-4"), include("6-11"), include("13-20"))) == []


def test_lines_never_shown_are_listed(repo):
    assert problems_of(repo, chapter(include("1-4"), include("6-11"), include("13-18"))) == [
        "chapters/demo.md: impls/demo/waker.py: lines never shown: [19, 20]"]


def test_a_range_moved_by_one_line_leaves_that_line_unshown(repo):
    assert problems_of(repo, chapter(include("1-4"), include("7-11"), include("13-20"))) == [
        "chapters/demo.md: impls/demo/waker.py: lines never shown: [6]"]


def test_overlapping_segments_are_named(repo):
    assert problems_of(repo, chapter(include("1-11"), include("6-20"))) == [
        "chapters/demo.md: impls/demo/waker.py: segment 1-11 overlaps 6-20"]


def test_segments_out_of_file_order_are_named(repo):
    assert problems_of(repo, chapter(include("13-20"), include("1-11"))) == [
        "chapters/demo.md: impls/demo/waker.py: segment 1-11 comes after 13-20 "
        "in the chapter but before it in the file"]


def test_a_segment_starting_on_a_blank_line_is_named(repo):
    assert problems_of(repo, chapter(include("1-4"), include("5-11"), include("13-20"))) == [
        "chapters/demo.md: impls/demo/waker.py: segment 5-11 starts on a blank line"]


def test_a_segment_ending_on_a_blank_line_is_named(repo):
    assert problems_of(repo, chapter(include("1-5"), include("6-12"), include("13-20"))) == [
        "chapters/demo.md: impls/demo/waker.py: segment 1-5 ends on a blank line",
        "chapters/demo.md: impls/demo/waker.py: segment 6-12 ends on a blank line"]


def test_a_segment_without_lineno_match_is_named(repo):
    text = chapter(include("1-11", options=":language: python"), include("13-20"))
    assert problems_of(repo, text) == [
        "chapters/demo.md: impls/demo/waker.py: segment 1-11 lacks :lineno-match:"]


def test_a_range_past_the_end_names_the_chapter_line(repo):
    text = chapter(include("1-11"), include("13-25"))
    assert problems_of(repo, text) == [
        "chapters/demo.md: impls/demo/waker.py: line 11: "
        ":lines: 13-25 is out of range (the file has 20 lines)",
        "chapters/demo.md: impls/demo/waker.py: lines never shown: "
        "[13, 14, 15, 16, 17, 18, 19, 20]"]


def test_a_claimed_file_never_quoted_is_named(repo):
    assert problems_of(repo, chapter("No code here.\n")) == [
        "chapters/demo.md: impls/demo/waker.py: claimed, but never quoted"]


def test_a_claimed_file_that_does_not_exist_is_named(repo):
    assert problems_of(repo, chapter(impl="impls/demo/gone.py")) == [
        "chapters/demo.md: impls/demo/gone.py: claimed, but there is no such file"]


def test_includes_inside_admonitions_count_and_other_files_do_not(repo):
    (repo / "impls" / "demo" / "other.py").write_text("y = 1\n")
    text = chapter(
        include("1-4"),
        "::::{note}\n" + include("6-11") + "::::\n",
        include("1", path="../impls/demo/other.py", options=""),
        include("13-20"))
    assert problems_of(repo, text) == []


def test_a_chapter_without_claims_has_nothing_to_check(repo):
    assert problems_of(repo, "# Index\n\nWelcome.\n", name="index.md") == []


def test_an_unclaimed_file_is_named(repo):
    (repo / "chapters" / "index.md").write_text("# Index\n")
    assert walkthrough.check_claims(repo) == ["impls/demo/waker.py is claimed by no chapter"]


def test_a_file_claimed_twice_is_named(repo):
    (repo / "chapters" / "a.md").write_text(chapter())
    (repo / "chapters" / "b.md").write_text(chapter())
    assert walkthrough.check_claims(repo) == [
        "impls/demo/waker.py is claimed by chapters/a.md and chapters/b.md"]


def test_empty_files_generated_c_and_other_suffixes_need_no_claim(repo):
    demo = repo / "impls" / "demo"
    (demo / "__init__.py").write_text("")
    (demo / "core.c").write_text("/* Generated by Cython 3.1 */\nint x;\n")
    (demo / "notes.txt").write_text("not code\n")
    (demo / "switch.h").write_text("int switch_stack(void);\n")
    (repo / "chapters" / "demo.md").write_text(chapter())
    assert walkthrough.check_claims(repo) == ["impls/demo/switch.h is claimed by no chapter"]


# ---- The MyST translation for MkDocs

def translate(text, folder):
    warnings = []
    return myst.to_mkdocs(textwrap.dedent(text), folder, warnings.append), warnings


def test_an_include_becomes_a_fence_numbered_from_its_first_line(repo):
    chapters = repo / "chapters"
    markdown, warnings = translate("""\
        Before.

        ```{literalinclude} ../impls/demo/waker.py
        :lines: 6-9
        :lineno-match:
        :caption: impls/demo/waker.py
        :emphasize-lines: 1,3-4
        ```
        After.
        """, chapters)
    assert warnings == []
    assert markdown == textwrap.dedent("""\
        Before.

        ```python linenums="6" title="impls/demo/waker.py" hl_lines="1 3-4"
        x6 = 6
        x7 = 7
        x8 = 8
        x9 = 9
        ```
        After.
        """)


def test_without_lineno_match_and_caption_the_fence_is_plain(repo):
    markdown, _ = translate("""\
        ```{literalinclude} ../impls/demo/waker.py
        :lines: 20-
        :language: cython
        ```
        """, repo / "chapters")
    assert markdown == "```cython\nx20 = 20\n```\n"


def test_an_empty_caption_shows_the_path_as_written(repo):
    markdown, _ = translate("""\
        ```{literalinclude} ../impls/demo/waker.py
        :lines: 1
        :caption:
        ```
        """, repo / "chapters")
    assert markdown.splitlines()[0] == '```python title="../impls/demo/waker.py"'


def test_the_fence_outgrows_backticks_in_the_code(tmp_path):
    (tmp_path / "doc.py").write_text('"""Use:\n\n````\nx\n````\n"""\n')
    markdown, _ = translate("""\
        ```{literalinclude} doc.py
        :lines: 1-6
        ```
        """, tmp_path)
    assert markdown.splitlines()[0] == "`````python"
    assert markdown.splitlines()[-1] == "`````"


def test_the_course_map_becomes_inline_svg_linking_from_the_page(tmp_path):
    home = myst.to_mkdocs("```{course-map}\n```\n", tmp_path, [].append)
    chapter = myst.to_mkdocs("```{course-map}\n```\n", tmp_path, [].append, root="../")
    assert home.startswith('<div class="course-map"><svg ') and home.count("\n") == 1
    assert 'href="ioloop/"' in home and 'href="../ioloop/"' in chapter
    assert 'href="generators/"' in home and 'href="gen/"' in home


def test_the_course_map_takes_no_content(tmp_path):
    markdown, warnings = translate("""\
        ```{course-map} big
        ```
        """, tmp_path)
    assert warnings == ["line 1: {course-map} big: takes no argument and no content"]
    assert markdown == "```{course-map} big\n```\n"


def test_a_dropdown_admonition_becomes_a_folded_material_block(tmp_path):
    markdown, warnings = translate("""\
        ::::{admonition} How the original does it
        :class: dropdown
        Folded.
        ::::

        :::{note}
        :class: wide
        Not a dropdown.
        :::
        """, tmp_path)
    assert markdown.splitlines()[:2] == ['??? note "How the original does it"', "    Folded."]
    assert warnings == ["line 6: {note}: options ['class'] have no MkDocs translation"]


def test_a_titled_admonition_may_take_the_style_of_another(tmp_path):
    markdown, warnings = translate("""\
        :::{admonition} Your turn
        :class: tip
        Build it.
        :::
        """, tmp_path)
    assert warnings == []
    assert markdown.splitlines()[:2] == ['!!! tip "Your turn"', "    Build it."]


def test_admonitions_become_material_admonitions(tmp_path):
    markdown, warnings = translate("""\
        :::{note}
        A *note*.
        :::

        ```{warning} Careful
        with this.
        ```

        :::{seealso}
        The original.
        :::

        :::{admonition} Why a heap
        Because.
        :::
        """, tmp_path)
    assert warnings == []
    assert markdown == textwrap.dedent("""\
        !!! note
            A *note*.

        !!! warning
            Careful
            with this.

        !!! note "See also"
            The original.

        !!! note "Why a heap"
            Because.
        """)


def test_an_include_inside_an_admonition_is_indented_with_it(repo):
    markdown, warnings = translate("""\
        ::::{tip}
        The first lines:

        ```{literalinclude} ../impls/demo/waker.py
        :lines: 1-2
        :lineno-match:
        ```
        ::::
        """, repo / "chapters")
    assert warnings == []
    assert markdown == textwrap.dedent("""\
        !!! tip
            The first lines:

            ```python linenums="1"
            x1 = 1
            x2 = 2
            ```
        """)


def test_a_plain_code_block_is_left_alone_even_if_it_shows_a_directive(tmp_path):
    text = """\
        ````markdown
        ```{literalinclude} nowhere.py
        :lines: 1-2
        ```
        ````
        """
    markdown, warnings = translate(text, tmp_path)
    assert (markdown, warnings) == (textwrap.dedent(text), [])


@pytest.mark.parametrize("lines, message", [
    ("5-30", ":lines: 5-30 is out of range (the file has 20 lines)"),
    ("0-3", ":lines: 0-3 is out of range (the file has 20 lines)"),
    ("9-3", ":lines: 9-3 is out of range (the file has 20 lines)"),
    ("1,3", ":lines: '1,3' is not one range a-b"),
], ids=["past-the-end", "from-zero", "backwards", "two-ranges"])
def test_a_bad_range_warns_and_keeps_the_directive(repo, lines, message):
    text = f"# Title\n\n```{{literalinclude}} ../impls/demo/waker.py\n:lines: {lines}\n```\n"
    markdown, warnings = translate(text, repo / "chapters")
    assert warnings == [f"line 3: {{literalinclude}} ../impls/demo/waker.py: {message}"]
    assert markdown == text


def test_a_missing_file_warns(tmp_path):
    _, warnings = translate("```{literalinclude} gone.py\n```\n", tmp_path)
    assert warnings == [f"line 1: {{literalinclude}} gone.py: cannot read "
                        f"{tmp_path / 'gone.py'}: No such file or directory"]


def test_what_cannot_be_translated_warns(repo):
    _, warnings = translate("""\
        ```{literalinclude} ../impls/demo/waker.py
        :pyobject: Waker
        ```

        :::{note}
        :class: margin
        Beside.
        :::

        ```{figure} plot.png
        ```
        """, repo / "chapters")
    assert warnings == [
        "line 1: {literalinclude} ../impls/demo/waker.py: "
        "options ['pyobject'] have no MkDocs translation",
        "line 5: {note}: options ['class'] have no MkDocs translation",
        "line 10: {figure} plot.png: has no MkDocs translation",
    ]


def test_the_hook_names_the_page_and_the_line_after_front_matter(repo, caplog):
    from coursetools import mkdocs_hook

    source = "---\nimpl: []\n---\n# Title\n\n```{literalinclude} gone.py\n```\n"
    page_file = SimpleNamespace(src_uri="demo.md", content_string=source,
                                abs_src_path=str(repo / "chapters" / "demo.md"))
    markdown = source.split("---\n", 2)[2]  # what MkDocs hands over
    page = SimpleNamespace(file=page_file, url="demo/")
    mkdocs_hook.on_page_markdown(markdown, page, None, None)
    assert [record.getMessage() for record in caplog.records] == [
        f"switchyard: demo.md: line 6: {{literalinclude}} gone.py: cannot read "
        f"{repo / 'chapters' / 'gone.py'}: No such file or directory"]


def test_front_matter_and_includes_report_lines_of_the_whole_file():
    text = "---\nimpl: [a.py]\n---\n# T\n\n```{literalinclude} a.py\n:lines: 1-2\n```\n"
    meta, body, first_lineno = myst.front_matter(text)
    assert meta == {"impl": ["a.py"]}
    assert [(i.path, i.options, i.lineno) for i in myst.includes(body, first_lineno)] == [
        ("a.py", {"lines": "1-2"}, 6)]

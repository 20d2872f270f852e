"""Reading times: computed from the chapters, shown where the course says them, and the
short path within its limit (coursetools/reading_time.py)."""
import textwrap

import pytest
from coursetools import reading_time


def test_what_the_course_shows_is_what_the_chapters_give():
    stale = [path.relative_to(reading_time.ROOT).as_posix()
             for path, content in reading_time.regions().items()
             if reading_time.rewritten(path, content) != path.read_text(encoding="utf-8")]
    assert not stale, (f"reading times out of date in {', '.join(stale)}: "
                       "run python -m coursetools.reading_time --write")


def test_the_short_path_takes_at_most_four_hours():
    minutes = reading_time.short_path_minutes()
    assert minutes <= reading_time.SHORT_PATH_LIMIT, reading_time.duration(minutes)


@pytest.mark.parametrize("name", reading_time.chapters())
def test_a_chapters_main_line_reads_in_at_most_75_minutes(name):
    minutes = reading_time.chapter_time(name).main_minutes
    assert minutes <= reading_time.CHAPTER_LIMIT, f"{name}: {minutes:.1f} min"


def test_all_the_main_lines_read_in_at_most_8_hours():
    minutes = sum(reading_time.chapter_time(name).main_minutes
                  for name in reading_time.chapters())
    assert minutes <= reading_time.COURSE_LIMIT, reading_time.duration(minutes)


def test_the_short_path_goes_by_both_tracks_to_the_payoff():
    """Generators first, then the loop, then greenlets, then the hub's recv."""
    stops = [(name, slug) for name, slug, _ in reading_time.SHORT_PATH]
    order = [name for name, _ in stops]
    assert order == sorted(order, key=["generators", "ioloop", "greenlets", "hub"].index)
    assert ("hub", "how-recv-becomes-a-wait-on-an-io-watcher") in stops


def test_prose_code_and_folded_asides_are_counted_apart(tmp_path):
    (tmp_path / "code.py").write_text("a = 1\n\nb = 2\nc = 3\n")
    text = textwrap.dedent("""\
        # A chapter

        <!-- reading-time -->
        *Reading time: not counted itself.*
        <!-- /reading-time -->

        Four words of prose.

        ```{literalinclude} code.py
        :lines: 1-3
        ```

        ::::{admonition} How the original does it
        :class: dropdown
        Six words folded away in here.

        ```python
        x = 1
        ```
        ::::

        :::{note}
        Two more.
        :::
        """)
    time = reading_time.measure(text, tmp_path)
    assert (time.words, time.code_lines) == (3 + 4 + 2, 2)  # "# A chapter" is 3 words
    assert (time.aside_words, time.aside_code_lines) == (5 + 6, 1)  # the title counts
    assert time.main_minutes == pytest.approx(9 / 200 + 2 / 15)


def test_a_section_runs_to_the_next_heading_of_its_level():
    text = textwrap.dedent("""\
        ## One `thing`
        a
        ```python
        # not a heading
        ```
        ### Inside
        b
        ## Two
        c
        """)
    part = reading_time.section(text, "one-thing")
    assert part.splitlines()[-1] == "b" and "# not a heading" in part
    with pytest.raises(LookupError):
        reading_time.section(text, "three")


def test_durations_are_rounded_to_five_minutes():
    assert [reading_time.duration(m) for m in (0.4, 7.4, 62, 123)] == [
        "5 min", "5 min", "1 h 00", "2 h 05"]

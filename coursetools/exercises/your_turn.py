"""The "Your turn" boxes of the chapters, written from the stage manifests.

    python -m coursetools.exercises.your_turn --write

Each section of a chapter that a stage follows (its ``section`` in the manifest) ends
with a box: the stage, the command that checks it, and what it checks. The boxes are
written between the markers ``<!-- your-turn -->`` and ``<!-- /your-turn -->``, never
by hand; ``tests/test_exercises.py`` fails when a chapter's boxes are not what the
manifests give.
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict

from coursetools import reading_time
from coursetools.exercises import manifest

MARKERS = ("<!-- your-turn -->", "<!-- /your-turn -->")
_BOX = re.compile(r"\n*" + re.escape(MARKERS[0]) + r".*?" + re.escape(MARKERS[1]) + r"\n",
                  re.S)


def boxes():
    """{chapter file name: {heading slug: [(subject, stage), ...]}}, in stage order."""
    found = defaultdict(lambda: defaultdict(list))
    for name in manifest.names():
        subject = manifest.load(name)
        for stage in subject.stages:
            page, _, slug = stage.section.partition("#")
            found[page][slug].append((subject, stage))
    return found


def box(stages) -> str:
    """The box of one section, for the stages that follow it."""
    lines = [MARKERS[0], ":::{admonition} Your turn", ":class: tip"]
    subjects = list(dict.fromkeys(subject.name for subject, _ in stages))
    starts = " and ".join(f"`switchyard start {name}`" for name in subjects)
    lines.append(f"Build this part yourself: {starts} gives you the skeleton, and")
    lines.append("")  # a list needs a blank line before it, in Python-Markdown
    for subject, stage in stages:
        lines.append(
            f"- stage {stage.number} of {len(subject.stages)} of `{subject.name}`, "
            f"*{stage.title}* ({stage.difficulty}): `switchyard check {subject.name} "
            f"--stage {stage.number}` runs its {len(stage.tests)} tests of the conformance "
            "suite on your code.")
    lines += [":::", MARKERS[1]]
    return "\n".join(lines) + "\n"


def rewritten(text: str, sections: dict) -> str:
    """A chapter with every box removed, then one at the end of each section named."""
    text = _BOX.sub("\n", text)
    lines = text.splitlines(keepends=True)
    ends = {}  # line index -> the stages whose sections end there: one box for them all
    for slug, stages in sections.items():
        ends.setdefault(reading_time.section_lines(text, slug)[1], []).extend(stages)
    inserts = {end: box(stages) for end, stages in ends.items()}  # line index -> the box before it
    out = []
    for index, line in enumerate(lines):
        if index in inserts:
            out.append(inserts.pop(index) + "\n")
        out.append(line)
    if inserts:  # the last section of the chapter
        out.append(("\n" if out and not out[-1].endswith("\n\n") else "") + inserts.popitem()[1])
    return "".join(out)


def main(argv):
    if argv not in ([], ["--write"]):
        sys.exit("usage: python -m coursetools.exercises.your_turn [--write]")
    for page, sections in boxes().items():
        path = reading_time.ROOT / "chapters" / page
        text = path.read_text(encoding="utf-8")
        new = rewritten(text, sections)
        if new != text:
            print(f"{'wrote' if argv else 'out of date:'} chapters/{page}")
            if argv:
                path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])

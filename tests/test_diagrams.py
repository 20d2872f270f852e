"""The diagrams drawn by code (coursetools/diagrams.py) are the files the chapters show."""
import pytest
from coursetools import diagrams


@pytest.mark.parametrize("name", sorted(diagrams.DIAGRAMS))
def test_the_file_is_what_the_code_draws(name):
    on_disk = (diagrams.FIGURES / name).read_text(encoding="utf-8")
    assert on_disk == diagrams.DIAGRAMS[name]() + "\n", (
        f"chapters/figures/{name} is out of date: run python -m coursetools.diagrams")


def test_a_diagram_is_one_svg_with_a_title():
    for draw in diagrams.DIAGRAMS.values():
        svg = draw()
        assert svg.startswith("<svg ") and svg.endswith("</svg>") and "<title>" in svg

"""The producers' Markdown table writer: layout, alignment, escaping and the errors it raises."""

from __future__ import annotations

import re

import markdown
import pytest

from artifacts.tables import markdown_table


def render(text: str) -> str:
    """HTML as the site renders a table (Python-Markdown's ``tables`` extension, as in mkdocs.yml)."""
    return markdown.markdown(text, extensions=["tables"])


def test_one_line_per_row_after_header_and_rule():
    text = markdown_table(["model", "params"], [["S", "33M"], ["B", "130M"], ["L", "458M"]])
    lines = text.splitlines()
    assert len(lines) == 2 + 3
    assert lines[0] == "| model | params |"
    assert lines[2:] == ["| S | 33M |", "| B | 130M |", "| L | 458M |"]
    assert not text.endswith("\n")


@pytest.mark.parametrize(
    "align, rule",
    [
        ("left", "|---|---|---|"),
        ("right", "|---:|---:|---:|"),
        ("center", "|:---:|:---:|:---:|"),
        ("lrc", "|---|---:|:---:|"),
        (["right", "left", "c"], "|---:|---|:---:|"),
    ],
)
def test_alignment_rule(align, rule):
    assert markdown_table(["a", "b", "c"], [["1", "2", "3"]], align=align).splitlines()[1] == rule


def test_alignment_reaches_the_rendered_cells():
    html = render(markdown_table(["name", "count", "mark"], [["x", "7", "y"]], align="lrc"))
    styles = re.findall(r'<td(?: style="text-align: (\w+);")?>', html)
    assert styles == ["", "right", "center"]  # a left column carries no style: the default


def test_pipe_in_a_cell_is_escaped_and_stays_in_its_cell():
    text = markdown_table(["expression", "value"], [["a | b", "1"]])
    assert text.splitlines()[2] == r"| a \| b | 1 |"
    cells = re.findall(r"<td>(.*?)</td>", render(text))
    assert cells == ["a | b", "1"]


def test_cells_are_written_with_str():
    assert markdown_table(["n"], [[1024]]).splitlines()[2] == "| 1024 |"


def test_row_with_too_few_or_too_many_cells_is_an_error():
    with pytest.raises(ValueError, match=r"row 2 has 1 cell, the header 2 columns"):
        markdown_table(["a", "b"], [["1", "2"], ["3"]])
    with pytest.raises(ValueError, match=r"row 1 has 3 cells, the header 2 columns"):
        markdown_table(["a", "b"], [["1", "2", "3"]])


def test_align_must_match_the_columns_and_be_known():
    with pytest.raises(ValueError, match="align gives 2 columns, the header 3"):
        markdown_table(["a", "b", "c"], [], align="lr")
    with pytest.raises(ValueError, match="unknown alignment 'x'"):
        markdown_table(["a", "b"], [], align="lx")
    with pytest.raises(ValueError, match="unknown alignment 'middle'"):
        markdown_table(["a"], [], align=["middle"])


def test_line_break_in_a_cell_is_an_error():
    with pytest.raises(ValueError, match="one line"):
        markdown_table(["a"], [["two\nlines"]])


def test_empty_header_is_an_error():
    with pytest.raises(ValueError, match="at least one column"):
        markdown_table([], [])

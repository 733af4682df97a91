"""The one Markdown table writer of the producers: every table fragment on the site comes from it.

Producers format their numbers first (``f"{n:,}"``, ``percent(x)``) and hand the cells over as
text; [`markdown_table`][artifacts.tables.markdown_table] only lays them out, escapes the
characters that would break a row, and checks that every row has one cell per column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

ALIGN_RULES = {"left": "---", "right": "---:", "center": ":---:"}
"""The rule under each header cell. A left column gets the plain ``---``: Markdown's default,
rendered left-aligned."""

_LETTERS = {"l": "left", "r": "right", "c": "center"}


def _alignments(align: str | Sequence[str], columns: int) -> list[str]:
    """One of ``ALIGN_RULES``' keys per column, from a word, a string of letters or a sequence."""
    if isinstance(align, str) and align in ALIGN_RULES:
        return [align] * columns
    names = [_LETTERS.get(a, a) for a in align]
    unknown = sorted({a for a in names if a not in ALIGN_RULES})
    if unknown:
        raise ValueError(
            f"unknown alignment {', '.join(map(repr, unknown))}: use 'left', 'right', 'center' "
            f"or the letters l, r, c"
        )
    if len(names) != columns:
        raise ValueError(f"align gives {len(names)} columns, the header {columns}")
    return names


def _cell(value: object) -> str:
    text = str(value)
    if "\n" in text:
        raise ValueError(f"a table cell must be one line: {text!r}")
    return text.replace("|", r"\|")


def markdown_table(
    header: Sequence[object],
    rows: Iterable[Sequence[object]],
    align: str | Sequence[str] = "left",
) -> str:
    """A Markdown table from a header and rows of already formatted cells.

    Args:
        header: the column titles.
        rows: one sequence of cells per row, as many as the header has. Cells are written as
            ``str(cell)``, so format numbers before (``f"{n:,}"``); a ``|`` inside a cell is
            escaped as ``\\|`` so that it stays text.
        align: ``"left"``, ``"right"`` or ``"center"`` for every column, or one per column: a
            string of the letters ``l``, ``r``, ``c`` (``"lrr"``) or a sequence of the words.

    Returns:
        The header line, the alignment rule and one line per row, joined by newlines (no final
        newline, so that notes can follow after a blank line).

    Raises:
        ValueError: a row or ``align`` with a different number of columns than the header, an
            unknown alignment, or a cell with a line break in it.

    Examples:
        >>> print(markdown_table(["model", "parameters"], [["DiT-S/2", "32,955,104"]], align="lr"))
        | model | parameters |
        |---|---:|
        | DiT-S/2 | 32,955,104 |
        >>> print(markdown_table(["condition", "tokens"], [["a | b", 77]], align=["left", "center"]))
        | condition | tokens |
        |---|:---:|
        | a \\| b | 77 |
        >>> markdown_table(["model", "parameters"], [["DiT-S/2", "32,955,104"], ["DiT-B/2"]])
        Traceback (most recent call last):
        ...
        ValueError: row 2 has 1 cell, the header 2 columns: ['DiT-B/2']
    """
    columns = len(header)
    if columns == 0:
        raise ValueError("a table needs at least one column")
    rules = [ALIGN_RULES[a] for a in _alignments(align, columns)]
    lines = [_line(header), "|" + "|".join(rules) + "|"]
    for number, row in enumerate(rows, start=1):
        row = list(row)
        if len(row) != columns:
            cells = "cell" if len(row) == 1 else "cells"
            raise ValueError(
                f"row {number} has {len(row)} {cells}, the header {columns} columns: {row!r}"
            )
        lines.append(_line(row))
    return "\n".join(lines)


def _line(cells: Sequence[object]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"

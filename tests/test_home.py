"""Checks of the module page (docs/index.md) and the lesson pages' skeleton.

The concept index on the home page must list every concept of the module's record (37 rows),
each with one depth badge and a link to a section that exists on its lesson page. The strict
MkDocs build validates anchors too; this test gives the same answer without a build and names
the row that is wrong.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import markdown
import pytest
from site_helpers import contrast

DOCS = Path(__file__).resolve().parents[1] / "docs"

# Lesson pages in module order, with the label the concept table uses for each.
LESSONS = {
    "sdxl.md": "1 · SDXL",
    "diffusion-transformers.md": "2 · DiT",
    "sd3-and-flux.md": "3 · SD3/Flux",
    "z-image.md": "4 · Z-Image",
}
DEPTHS = ("DEVELOPED", "INTRODUCED", "MENTIONED")

# From the module record's Concept Index (../shared/module-7.4-record.md, not in the repo):
# rows per lesson and per depth. Counted by hand from the record, not from the page.
RECORD_ROWS_PER_LESSON = {
    "sdxl.md": 7,
    "diffusion-transformers.md": 11,
    "sd3-and-flux.md": 8,
    "z-image.md": 11,
}
RECORD_ROWS_PER_DEPTH = {"DEVELOPED": 8, "INTRODUCED": 25, "MENTIONED": 4}

BADGE = re.compile(r'<span class="depth depth-(?P<cls>[a-z]+)">(?P<text>[A-Z]+)</span>')
LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<page>[^)#\s]+\.md)#(?P<anchor>[^)\s]+)\)")


def section_lines(text: str, anchor: str) -> list[str]:
    """Lines of the level-2 section whose heading carries ``{#anchor}``, heading excluded."""
    lines = text.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.startswith("## ") and f"{{#{anchor}}}" in line),
        None,
    )
    assert start is not None, f"no '## ... {{#{anchor}}}' heading"
    body = []
    for line in lines[start + 1 :]:
        if line.startswith("## ") or line.startswith("# "):
            break
        body.append(line)
    return body


def concept_rows() -> list[list[str]]:
    """Cells of each body row of the concept table on the home page.

    The columns are: the concept, linked to the section that teaches it; its depth badge; the lesson.
    """
    body = section_lines((DOCS / "index.md").read_text(encoding="utf-8"), "concept-index")
    table = [line for line in body if line.startswith("|")]
    assert len(table) >= 2, "the concept index has no table"
    header, separator, *rows = table
    assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", separator), "second table line is not a separator"
    assert [cell.strip() for cell in header.strip().strip("|").split("|")] == [
        "Concept",
        "Depth",
        "Lesson",
    ]
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]


@cache
def page_anchors(page: str) -> frozenset[str]:
    """Every heading id of a page, as Python-Markdown's toc and attr_list extensions assign them."""
    md = markdown.Markdown(extensions=["attr_list", "toc", "tables", "pymdownx.superfences"])
    md.convert((DOCS / page).read_text(encoding="utf-8"))

    ids: set[str] = set()
    stack = list(md.toc_tokens)
    while stack:
        token = stack.pop()
        ids.add(token["id"])
        stack.extend(token["children"])
    return frozenset(ids)


ROWS = concept_rows()


def test_concept_table_has_all_37_concepts():
    assert len(ROWS) == 37
    names = [LINK.search(row[0]).group("text") if LINK.search(row[0]) else row[0] for row in ROWS]
    duplicates = [name for name, n in Counter(names).items() if n > 1]
    assert not duplicates, f"concepts listed twice: {duplicates}"


def test_rows_per_lesson_and_depth_match_the_record():
    per_lesson = Counter(m.group("page") if (m := LINK.search(row[0])) else None for row in ROWS)
    per_depth = Counter(m.group("text") if (m := BADGE.search(row[1])) else None for row in ROWS)
    assert dict(per_lesson) == RECORD_ROWS_PER_LESSON
    assert dict(per_depth) == RECORD_ROWS_PER_DEPTH


@pytest.mark.parametrize("row", ROWS, ids=[row[0].split("](")[0].lstrip("[") for row in ROWS])
def test_row_has_one_badge_and_a_live_section_link(row):
    assert len(row) == 3, f"expected three cells, got {row}"
    concept, depth, lesson = row

    badges = BADGE.findall(depth)
    assert len(badges) == 1, f"{concept}: expected one depth badge, got {depth!r}"
    cls, text = badges[0]
    assert text in DEPTHS and cls == text.lower(), f"{concept}: badge {depth!r}"

    links = LINK.findall(concept)
    assert len(links) == 1, f"{concept}: expected the concept to link to one section"
    text, page, anchor = links[0]
    assert concept == f"[{text}]({page}#{anchor})", f"{concept}: the cell should hold only the link"
    assert page in LESSONS, f"{concept}: {page} is not a lesson page"
    assert lesson == LESSONS[page], f"{concept}: lesson column {lesson!r} but link goes to {page}"
    assert anchor in page_anchors(page), f"{concept}: {page} has no section #{anchor}"


@pytest.mark.parametrize("page", LESSONS)
def test_lesson_pages_end_with_the_common_sections(page):
    anchors = page_anchors(page)
    missing = {"checks", "practice", "not-covered", "next"} - anchors
    assert not missing, f"{page} lacks sections {sorted(missing)}"


@pytest.mark.parametrize(
    "page, anchor, include",
    [
        ("sd3-and-flux.md", "trained-mmdit", "includes/trained-mmdit.md"),
        ("z-image.md", "trained-single-stream", "includes/trained-single-stream.md"),
    ],
)
def test_trained_model_sections_include_their_fragment(page, anchor, include):
    body = section_lines((DOCS / page).read_text(encoding="utf-8"), anchor)
    assert f'--8<-- "{include}"' in [line.strip() for line in body]
    assert (DOCS / include).is_file(), f"{include} does not exist"


def test_module_complete_block_closes_the_last_lesson():
    text = (DOCS / "z-image.md").read_text(encoding="utf-8").rstrip()
    blocks = [m.start() for m in re.finditer(r"^/// module-complete \|", text, re.M)]
    assert len(blocks) == 1, "the last lesson needs exactly one module-complete block"
    assert "\n## " not in text[blocks[0] :], (
        "the module-complete block must come after every section"
    )
    assert text.endswith("///")


def test_contrast_helpers_on_known_pairs():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("scheme", [":root", '[data-md-color-scheme="slate"]'])
def test_depth_badges_meet_wcag_aa_in_both_schemes(scheme):
    css = (DOCS / "assets" / "stylesheets" / "site.css").read_text(encoding="utf-8")
    block = re.search(re.escape(scheme) + r"\s*\{(?P<body>[^}]*)\}", css)
    assert block, f"site.css has no {scheme} block"
    colours = dict(re.findall(r"--(depth-[a-z]+-(?:fg|bg)):\s*(#[0-9a-fA-F]{6})", block["body"]))
    for depth in DEPTHS:
        fg, bg = colours[f"depth-{depth.lower()}-fg"], colours[f"depth-{depth.lower()}-bg"]
        assert contrast(fg, bg) >= 4.5, f"{depth} badge in {scheme}: {contrast(fg, bg):.2f}:1"

"""Print, for every ``##`` section of the lessons, how many words a reader meets before the
section's first picture or analogy.

A picture is a generated figure or diagram (an included fragment whose artifact folder holds a
``.png`` or ``.svg`` of the same stem, or an explorable whose fragment includes one) or a Markdown
image; an analogy is a ``comparison`` block.
Words count prose and code alike: code that stands before the idea is what this measures.

    python benchmarks/teach_first.py                 # the working tree
    python benchmarks/teach_first.py --rev abc5740   # the lessons as they were at a commit
    python benchmarks/teach_first.py --rev abc5740 --compare   # that commit beside the working tree

Needs ``docs/generated/`` built (``python -m sitetools.pipeline``) to tell figures from tables.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ("sdxl", "diffusion-transformers", "sd3-and-flux", "z-image")
INCLUDE = re.compile(r'--8<--\s+"generated/([^/"]+)/([^"]+)\.md"')
HEADING = re.compile(r"^## (.+?)(?:\s*\{#([^}]+)\})?\s*$")


def _is_picture(line: str, generated: Path) -> bool:
    if line.lstrip().startswith("/// comparison") or re.search(r"!\[[^\]]*\]\(", line):
        return True
    match = INCLUDE.search(line)
    if not match:
        return False
    folder = generated / match.group(1)
    if any((folder / f"{match.group(2)}{suffix}").exists() for suffix in (".png", ".svg")):
        return True
    # An explorable's fragment wraps its static figure in an include of its own.
    fragment = folder / f"{match.group(2)}.md"
    return fragment.exists() and any(
        _is_picture(inner, generated) for inner in fragment.read_text().splitlines()
    )


def sections(text: str, generated: Path) -> list[tuple[str, int | None, int]]:
    """``(anchor, words before the first picture or None, words in the section)`` per section."""
    out: list[tuple[str, int | None, int]] = []
    anchor, before, total, found = None, 0, 0, False
    for line in text.splitlines():
        heading = HEADING.match(line)
        if heading:
            if anchor is not None:
                out.append((anchor, before if found else None, total))
            anchor = heading.group(2) or heading.group(1)
            before, total, found = 0, 0, False
            continue
        if anchor is None:
            continue
        words = len(re.findall(r"[A-Za-z0-9_]+", line))
        total += words
        if not found and _is_picture(line, generated):
            found = True
        elif not found:
            before += words
    if anchor is not None:
        out.append((anchor, before if found else None, total))
    return out


HAND_INCLUDE = re.compile(r'^\s*--8<--\s+"(includes/[^":]+\.md)"\s*$')


def _read(path: str, rev: str | None) -> str:
    if rev is None:
        return (ROOT / "docs" / path).read_text(encoding="utf-8")
    shown = subprocess.run(
        ["git", "show", f"{rev}:docs/{path}"], cwd=ROOT, capture_output=True, text=True
    )
    return shown.stdout if shown.returncode == 0 else ""


def lesson_text(name: str, rev: str | None) -> str:
    """The lesson as a reader meets it: hand-written includes (``includes/*.md``) inlined, since
    a section that includes its body would otherwise count as having no words."""
    lines = []
    for line in _read(f"{name}.md", rev).splitlines():
        match = HAND_INCLUDE.match(line)
        lines += _read(match.group(1), rev).splitlines() if match else [line]
    return "\n".join(lines)


def _cell(value: int | None, total: int) -> str:
    return f"{value}" if value is not None else f"none ({total})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", help="read the lessons at this commit")
    parser.add_argument("--compare", action="store_true", help="--rev beside the working tree")
    args = parser.parse_args()
    generated = ROOT / "docs" / "generated"
    for name in LESSONS:
        print(
            f"\n{name}.md: words before the first picture or analogy ('none (N)': no picture in N words)"
        )
        now = sections(
            lesson_text(name, None if args.compare or not args.rev else args.rev), generated
        )
        if args.compare and args.rev:
            then = dict((a, (b, t)) for a, b, t in sections(lesson_text(name, args.rev), generated))
            print(f"  {'section':<28} {args.rev:>14} {'now':>14}")
            for anchor, before, total in now:
                old = then.get(anchor)
                old_cell = _cell(*old) if old else "(new)"
                print(f"  {anchor:<28} {old_cell:>14} {_cell(before, total):>14}")
        else:
            for anchor, before, total in now:
                print(f"  {anchor:<28} {_cell(before, total):>14}")


if __name__ == "__main__":
    main()

"""A page whose generated fragment is missing still renders: a placeholder and one warning.

``docs/generated/`` is the pipeline's output and is not committed, so a fresh clone has none.
With ``SNIPPETS_EXECUTE=0`` (the instant preview), each ``--8<-- "generated/<artifact>/..."``
line whose file does not exist is replaced, before pymdownx.snippets reads it, by a visible
box naming the artifact and the command that builds it; an include of a hand-written fragment
(``includes/...``) that itself includes a missing generated file is replaced the same way.
Each missing artifact is logged once per build as a warning naming the page and line, so
``mkdocs build --strict`` still fails, with the artifact's name instead of a traceback.

Load it as ``sitetools.generated_fragments`` in mkdocs.yml's ``markdown_extensions``. Outside
MkDocs (plain Python-Markdown, no page file) it does nothing.
"""

from __future__ import annotations

import difflib
import html
import logging
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

from sitetools.macros import MacroError, _mkdocs_file, page_line

log = logging.getLogger("mkdocs.extensions.sitetools.generated_fragments")

GENERATED = "generated"
BUILD_COMMAND = "python -m sitetools.pipeline --only {name}"
INCLUDE = re.compile(r"""^\s*--8<--\s+(["'])(?P<path>[^"']+)\1\s*$""")

_warned: set[str] = set()


def reset_warnings() -> None:
    """Forget which artifacts were reported (called at the start of each build)."""
    _warned.clear()


def _artifact(path: str) -> str | None:
    parts = PurePosixPath(path).parts
    return parts[1] if len(parts) > 2 and parts[0] == GENERATED else None


def missing_artifacts(path: str, docs: Path, seen: frozenset[str] = frozenset()) -> list[str]:
    """The generated files that the include ``path`` needs and that do not exist.

    A generated path is checked directly; a hand-written fragment is read and its own
    includes are checked in turn.

    Examples:
        >>> import tempfile
        >>> docs = Path(tempfile.mkdtemp())
        >>> (docs / "includes").mkdir()
        >>> _ = (docs / "includes" / "part.md").write_text('Text\\n--8<-- "generated/a/t.md"\\n')
        >>> missing_artifacts("includes/part.md", docs)
        ['generated/a/t.md']
        >>> (docs / "generated" / "a").mkdir(parents=True)
        >>> _ = (docs / "generated" / "a" / "t.md").write_text("| x |")
        >>> missing_artifacts("includes/part.md", docs)
        []
    """
    if _artifact(path) is not None:
        file = path.split(":", 1)[0]  # "generated/x/t.md:section" includes a section of t.md
        return [] if (docs / file).is_file() else [file]
    source = docs / path.split(":", 1)[0]
    if path in seen or source.suffix != ".md" or not source.is_file():
        return []  # source-code sections and other files: pymdownx.snippets checks them
    lines = source.read_text(encoding="utf-8").split("\n")
    found = []
    for line in lines:
        match = INCLUDE.match(line)
        if match:
            found += missing_artifacts(match.group("path"), docs, seen | {path})
    return found


def placeholder_html(paths: list[str], unbuildable: dict[str, str] | None = None) -> str:
    """The box shown where ``paths`` are missing: the build command for each artifact, or, for a
    path that no build makes (``unbuildable``: path -> what is wrong), what is wrong."""
    unbuildable = unbuildable or {}
    names = list(dict.fromkeys(_artifact(path) for path in paths if path not in unbuildable))
    items = "".join(
        f"<li><code>{html.escape(name)}</code>: "
        f"<code>{html.escape(BUILD_COMMAND.format(name=name))}</code></li>"
        for name in names
    ) + "".join(
        f"<li><code>{html.escape(path)}</code>: {html.escape(detail)}</li>"
        for path, detail in unbuildable.items()
    )
    return (
        '<div class="admonition warning generated-missing" role="note">'
        '<p class="admonition-title">Generated content not built yet</p>'
        "<p>A figure or table goes here. It comes from the artifact pipeline, which has not "
        "built it in this checkout. Build it with:</p>"
        f"<ul>{items}</ul></div>"
    )


def _known_artifacts(docs: Path) -> set[str]:
    """Every artifact name a build can make: the declared producers and the notebooks."""
    from sitetools.pipeline.registry import declared_artifacts  # no producer is imported

    notebooks = {f"notebook-{path.stem}" for path in (docs / "notebooks").glob("*.ipynb")}
    return set(declared_artifacts()) | notebooks


def missing_detail(path: str, docs: Path) -> tuple[str, bool]:
    """What is wrong with the missing generated file ``path``, and whether building it helps.

    Examples:
        >>> import tempfile
        >>> docs = Path(tempfile.mkdtemp())
        >>> (docs / "generated" / "dit-scaling").mkdir(parents=True)
        >>> _ = (docs / "generated" / "dit-scaling" / "dit-family.md").write_text("| x |")
        >>> missing_detail("generated/dit-scaling/dit-famly.md", docs)
        ("docs/generated/dit-scaling/ holds no 'dit-famly.md' (did you mean 'generated/dit-scaling/dit-family.md'?)", False)
        >>> missing_detail("generated/dit-scalng/dit-family.md", docs)[0]
        "no artifact is named 'dit-scalng' (did you mean 'dit-scaling'?)"
        >>> missing_detail("generated/dit-patchify/patchify.md", docs)
        ("artifact 'dit-patchify' is not built", True)
    """
    name = _artifact(path)
    folder = docs / GENERATED / name
    wanted = PurePosixPath(path).name
    if folder.is_dir():
        found = sorted(p.name for p in folder.iterdir())
        close = difflib.get_close_matches(wanted, found, n=1)
        hint = (
            f"did you mean '{GENERATED}/{name}/{close[0]}'?"
            if close
            else f"it holds: {', '.join(found) or 'nothing'}"
        )
        return f"docs/{GENERATED}/{name}/ holds no '{wanted}' ({hint})", False
    known = _known_artifacts(docs)
    if known and name not in known:
        close = difflib.get_close_matches(name, sorted(known), n=3)
        hint = (
            f"did you mean {', '.join(repr(c) for c in close)}?"
            if close
            else "python -m sitetools.pipeline --list shows every artifact"
        )
        return f"no artifact is named '{name}' ({hint})", False
    return f"artifact '{name}' is not built", True


class _Placeholders(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        file = _mkdocs_file(self.md)
        if file is None:
            return lines
        depth = len(PurePosixPath(file.src_uri).parts)
        docs = Path(file.abs_src_path).parents[depth - 1]
        # pymdownx.snippets reads includes in code fences too, so every line is checked.
        for index, line in enumerate(lines):
            match = INCLUDE.match(line)
            if not match:
                continue
            missing = missing_artifacts(match.group("path"), docs)
            if not missing:
                continue
            unbuildable = {}
            for path in missing:
                detail, buildable = missing_detail(path, docs)
                if not buildable:
                    unbuildable[path] = detail
                key = _artifact(path) if buildable else path
                if key in _warned:
                    continue
                _warned.add(key)
                todo = (
                    f" for '{match.group('path')}'; build it with: {BUILD_COMMAND.format(name=key)}"
                    if buildable
                    else f": correct the include '{path}'"
                    + ("" if path == match.group("path") else f" in {match.group('path')}")
                )
                log.warning(
                    "Doc file '%s', line %d: %s%s",
                    file.src_uri,
                    page_line(file, lines, index),
                    detail,
                    todo,
                )
            # Raw HTML on one line (line numbers stay the page's): Python-Markdown passes an
            # HTML block through; a stash placeholder would not survive its whitespace cleanup.
            indent = line[: len(line) - len(line.lstrip())]  # inside a list item, say
            lines[index] = indent + placeholder_html(missing, unbuildable)
        return lines


# ------------------------------------------------------------------ includes of source sections


def _read_text(path: Path) -> str:
    """The file as UTF-8, or a MacroError-ready problem naming the line of the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise _IncludeProblem(
            f"{path.name}, line {line}, column {column}: not UTF-8 (byte 0x{data[error.start]:02X}); "
            "save the file as UTF-8"
        ) from None


class _IncludeProblem(Exception):
    """What is wrong with one include, worded for the contributor."""


def _bases(md: Markdown) -> list[Path]:
    try:
        snippet = md.preprocessors["snippet"]
    except KeyError:  # pymdownx.snippets is not loaded: no includes to check
        return []
    return [Path(base) for base in getattr(snippet, "base_path", [])]


def _locate(name: str, bases: list[Path]) -> Path:
    for base in bases:
        if (base / name).is_file():
            return base / name
    siblings = sorted(
        {
            str(PurePosixPath(name).parent / p.name)
            for base in bases
            if (base / name).parent.is_dir()
            for p in (base / name).parent.iterdir()
            if p.is_file()
        }
    )
    close = difflib.get_close_matches(name, siblings, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    where = " or ".join(
        "the project folder" if base == Path.cwd() else f"{os.path.relpath(base)}/"
        for base in bases
    )
    raise _IncludeProblem(f"no file '{name}' under {where}{hint}")


SECTION = re.compile(
    r"-{1,}8<-{1,}[ \t]+\[[ \t]*(?P<type>start|end)[ \t]*:[ \t]*(?P<name>[a-z][-_0-9a-z]*)[ \t]*\]",
    re.I,
)


def section_problem(text: str, file: str, section: str) -> str | None:
    r"""Why ``section`` of ``text`` cannot be included as written, or None.

    Examples:
        >>> source = "x = 1\n# --8<-- [start:setup]\ny = 2\n# --8<-- [end:setup]\n# --8<-- [start:open]\nz = 3\n"
        >>> section_problem(source, "m.py", "setup") is None
        True
        >>> section_problem(source, "m.py", "set-up")
        "m.py has no section 'set-up' (did you mean 'setup'?)"
        >>> section_problem(source, "m.py", "open")
        "section 'open' of m.py starts on its line 5 and never ends, so the page would show the rest of the file: add '# --8<-- [end:open]' after the section's last line"
    """
    starts: dict[str, int] = {}
    ends: set[str] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        for marker in SECTION.finditer(line):
            if marker["type"].lower() == "start":
                starts.setdefault(marker["name"], number)
            elif marker["name"] in starts:
                ends.add(marker["name"])
    if section not in starts:
        close = difflib.get_close_matches(section, list(starts), n=1)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else f"its sections: {', '.join(starts) or 'none'}"
        )
        return f"{file} has no section '{section}' ({hint})"
    if section not in ends:
        comment = "#" if file.endswith(".py") else "<!--"
        closer = f"{comment} --8<-- [end:{section}]" + (" -->" if comment == "<!--" else "")
        return (
            f"section '{section}' of {file} starts on its line {starts[section]} and never ends, "
            f"so the page would show the rest of the file: add '{closer}' after the section's "
            "last line"
        )
    return None


def include_problem(path: str, bases: list[Path], seen: frozenset[str] = frozenset()) -> str | None:
    """Why the include ``--8<-- "path"`` would fail or show the wrong text, or None.

    ``path`` is a file (``docs/`` and the repository root are searched, as pymdownx.snippets
    does), optionally with a section (``snippets/dit.py:dit-block``); a Markdown fragment's own
    includes are checked in turn.
    """
    if path.startswith(("http://", "https://")) or path in seen:
        return None
    name, section = path, None
    head, _, tail = path.rpartition(":")
    if head and re.fullmatch(r"[a-z][-_0-9a-z]*", tail, re.I):
        name, section = head, tail
    elif head and re.fullmatch(r"[-0-9:,]*", tail):
        name = path.split(":", 1)[0]  # line ranges: the file must exist
    file = _locate(name, bases)
    text = _read_text(file)
    if section is not None:
        return section_problem(text, name, section)
    if file.suffix == ".md":
        for number, line in enumerate(text.split("\n"), start=1):
            match = INCLUDE.match(line)
            if match and _artifact(match["path"]) is None:
                try:
                    problem = include_problem(match["path"], bases, seen | {path})
                except _IncludeProblem as error:
                    problem = str(error)
                if problem:
                    return f"in {name}, line {number}: {problem}"
    return None


class _IncludeChecks(Preprocessor):
    """Stops the build at an include that pymdownx.snippets would fail on or read wrongly."""

    def run(self, lines: list[str]) -> list[str]:
        file = _mkdocs_file(self.md)
        bases = _bases(self.md)
        if file is None or not bases:
            return lines
        for index, line in enumerate(lines):
            match = INCLUDE.match(line)
            if not match or _artifact(match["path"]) is not None:
                continue  # generated includes: the placeholders above handle them
            try:
                problem = include_problem(match["path"], bases)
            except _IncludeProblem as error:
                problem = str(error)
            if problem:
                raise MacroError(page_line(file, lines, index), problem, line, page=file.src_uri)
        return lines


class GeneratedFragmentsExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:  # noqa: N802 - Python-Markdown's API
        # Before pymdownx.snippets (32) and the macro validator (33), which would fail first.
        md.preprocessors.register(_Placeholders(md), "generated_fragment_placeholders", 40)
        md.preprocessors.register(_IncludeChecks(md), "include_checks", 34)


def makeExtension(**kwargs: Any) -> GeneratedFragmentsExtension:  # noqa: N802
    return GeneratedFragmentsExtension(**kwargs)

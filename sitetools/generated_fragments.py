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

import html
import logging
import re
from pathlib import Path, PurePosixPath
from typing import Any

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

from sitetools.macros import _mkdocs_file

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


def placeholder_html(paths: list[str]) -> str:
    names = list(dict.fromkeys(_artifact(path) for path in paths))
    items = "".join(
        f"<li><code>{html.escape(name)}</code>: "
        f"<code>{html.escape(BUILD_COMMAND.format(name=name))}</code></li>"
        for name in names
    )
    return (
        '<div class="admonition warning generated-missing" role="note">'
        '<p class="admonition-title">Generated content not built yet</p>'
        "<p>A figure or table goes here. It comes from the artifact pipeline, which has not "
        "built it in this checkout. Build it with:</p>"
        f"<ul>{items}</ul></div>"
    )


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
            for path in missing:
                name = _artifact(path)
                if name in _warned:
                    continue
                _warned.add(name)
                folder = docs / GENERATED / name
                found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
                detail = (
                    f"docs/{GENERATED}/{name}/ holds no {PurePosixPath(path).name} "
                    f"(it holds: {', '.join(found)})"
                    if found
                    else f"artifact '{name}' is not built"
                )
                log.warning(
                    "Doc file '%s', line %d: %s for '%s'; build it with: %s",
                    file.src_uri,
                    index + 1,
                    detail,
                    match.group("path"),
                    BUILD_COMMAND.format(name=name),
                )
            # Raw HTML on one line (line numbers stay the page's): Python-Markdown passes an
            # HTML block through; a stash placeholder would not survive its whitespace cleanup.
            indent = line[: len(line) - len(line.lstrip())]  # inside a list item, say
            lines[index] = indent + placeholder_html(missing)
        return lines


class GeneratedFragmentsExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:  # noqa: N802 - Python-Markdown's API
        # Before pymdownx.snippets (32) and the macro validator (33), which would fail first.
        md.preprocessors.register(_Placeholders(md), "generated_fragment_placeholders", 40)


def makeExtension(**kwargs: Any) -> GeneratedFragmentsExtension:  # noqa: N802
    return GeneratedFragmentsExtension(**kwargs)

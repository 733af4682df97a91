"""Sybil configuration: the examples on the site and in the code are tests.

Two collections run under pytest (testpaths in pyproject.toml: tests, docs, snippets):

* ``docs/**/*.md`` (pages and ``docs/includes/*.md`` fragments, not the generated folders
  ``docs/generated/``, ``docs/notebooks/`` and ``docs/reference/``):
  every ```` ```python ```` fence is executed, top to bottom, in one namespace per file;
  a python (or ``pycon``) fence whose first line starts with ``>>>`` is a doctest.
  ``<!-- skip: next -->`` on the line before a fence skips it;
  ``<!-- clear-namespace -->`` starts a fresh namespace.
* ``snippets/*.py``: the ``>>>`` examples in docstrings (Google style ``Examples:`` sections),
  run in the namespace of the imported module.

Each file starts from the same seeds, so printed numbers do not depend on test order.
A failure is reported as ``docs/page.md::line:12,column:1`` with the expected and actual output.
"""

from __future__ import annotations

import doctest
from pathlib import Path

from sybil import Sybil
from sybil.evaluators.doctest import DocTestEvaluator
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.abstract import DocTestStringParser
from sybil.parsers.markdown import ClearNamespaceParser, SkipParser
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer
from sybil.parsers.rest import DocTestParser

ROOT = Path(__file__).parent
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
SEED = 0


def seed_document(namespace: dict) -> None:
    """Sybil setup: called once per document, before its first example."""
    from snippets.seeding import seed_everything

    seed_everything(SEED)


class FenceParser:
    """Python fences are code, ``>>>`` fences are doctests, nested fences are examples of syntax.

    Differences from ``sybil.parsers.markdown.PythonCodeBlockParser``:

    * the language is the first word of the info string, so ```` ```python title="dit.py" ````
      runs too, and ```` ```pycon ```` fences are doctests;
    * a fence inside another fence (a ```` ````markdown ```` block showing how to write a
      doctest, as on the contributing page) is text, not an example.
    """

    def __init__(self, optionflags: int = OPTIONFLAGS) -> None:
        self.lexer = FencedCodeBlockLexer(
            language=r"[^\n]*", mapping={"language": "info", "source": "source"}
        )
        self.doctests = DocTestStringParser(DocTestEvaluator(optionflags))
        self.python = PythonEvaluator()

    def __call__(self, document):
        from sitetools.macros import MacroError, check_code_fences

        try:
            # An unclosed fence would hide its code (and the rest of the page) from the tests.
            check_code_fences(document.text.split("\n"))
        except MacroError as error:
            raise ValueError(f"{document.path}, {error}") from None
        fences = sorted(self.lexer(document), key=lambda region: region.start)
        for region in fences:
            nested = any(
                other is not region and other.start <= region.start and region.end <= other.end
                for other in fences
            )
            words = region.lexemes["info"].strip().lstrip("{").split()
            language = words[0].lstrip(".") if words else ""
            if nested or language not in ("python", "py", "pycon"):
                continue
            source = region.lexemes["source"]
            if _is_source_include(source):
                continue  # code shown from a teaching module: its own doctests test it
            if source.lstrip().startswith(">>>") or language == "pycon":
                for doctest_region in self.doctests(source, document.path):
                    doctest_region.adjust(region, source)
                    yield doctest_region
            else:
                region.parsed = source
                region.evaluator = self.python
                yield region


def _is_source_include(source: str) -> bool:
    """True for a fence whose lines are all ``--8<-- "file:section"`` includes (or blank)."""
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    return bool(lines) and all(line.startswith("--8<--") for line in lines)


class ProjectSybil(Sybil):
    """A Sybil that selects files with a predicate on the repo-relative POSIX path.

    ``Path.match`` in Python 3.11 has no recursive ``**``; a predicate says exactly what is meant.
    """

    def __init__(self, *args, select, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.select = select

    def should_parse(self, path: Path) -> bool:
        try:
            relative = Path(path).resolve().relative_to(ROOT.resolve()).as_posix()
        except ValueError:
            return False
        return self.select(relative)


# Written by the build (pipeline and sitetools/prebuild.py), not by hand: a notebook page's
# fences are the notebook's code, which the pipeline runs, not examples to run again here.
GENERATED_DOCS = ("docs/generated/", "docs/notebooks/", "docs/reference/")


def _is_doc_page(relative: str) -> bool:
    return (
        relative.startswith("docs/")
        and relative.endswith(".md")
        and not relative.startswith(GENERATED_DOCS)
    )


def _is_snippet_module(relative: str) -> bool:
    """Every module of the teaching package, the producer package and the site machinery."""
    return relative.split("/")[0] in ("snippets", "artifacts", "sitetools") and relative.endswith(
        ".py"
    )


markdown_docs = ProjectSybil(
    parsers=[FenceParser(), SkipParser(), ClearNamespaceParser()],
    select=_is_doc_page,
    setup=seed_document,
    name="docs",
)

docstrings = ProjectSybil(
    parsers=[DocTestParser(optionflags=OPTIONFLAGS)],
    select=_is_snippet_module,
    setup=seed_document,
    name="docstrings",
)

pytest_collect_file = (markdown_docs + docstrings).pytest()

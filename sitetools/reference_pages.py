"""Generate the API reference: one page per teaching module (run by mkdocs-gen-files).

The mkdocstrings recipe: walk the ``snippets`` package, write ``reference/<module>.md``
holding ``::: snippets.<module>`` for each module, and a ``SUMMARY.md`` that
mkdocs-literate-nav turns into the section's navigation. One page per module keeps every page
light (the whole package on one page weighed 2.3 MB of HTML) and needs no list to keep up to
date: a new module gets its page on the next build. ``docs/reference/index.md`` is the
hand-written overview that groups the modules by lesson.
"""

from __future__ import annotations

import pkgutil
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "snippets"


def teaching_modules() -> list[str]:
    """Dotted names of every module of the teaching package, in source order of the tree."""
    found = pkgutil.walk_packages([str(ROOT / PACKAGE)], f"{PACKAGE}.")
    return sorted(info.name for info in found if not info.ispkg)


def page_path(module: str) -> str:
    """``snippets.digits.training`` -> ``digits/training.md`` (under ``reference/``)."""
    return module.removeprefix(f"{PACKAGE}.").replace(".", "/") + ".md"


def edit_path(module: str) -> str:
    """Where a module's "edit this page" link points, relative to ``docs/`` (the base of
    ``edit_uri``): the module's source file, which sits beside ``docs/``, not in it.

    Examples:
        >>> edit_path("snippets.digits.training")
        '../snippets/digits/training.py'
    """
    return "../" + module.replace(".", "/") + ".py"


def write_pages() -> None:
    nav = mkdocs_gen_files.Nav()
    nav["Overview"] = "index.md"
    for module in teaching_modules():
        page = page_path(module)
        nav[tuple(module.split(".")[1:])] = page
        with mkdocs_gen_files.open(f"reference/{page}", "w") as file:
            # The module's own heading is the page title (level 1), its members level 2.
            file.write(f"::: {module}\n    options:\n      heading_level: 1\n")
        mkdocs_gen_files.set_edit_path(f"reference/{page}", edit_path(module))
    with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as file:
        file.writelines(nav.build_literate_nav())


# mkdocs-gen-files runs this file with runpy.run_path, which names it "<run_path>"; importing
# it (the test suite does) writes nothing.
if __name__ == "<run_path>":
    write_pages()

"""MkDocs hooks (mkdocs.yml ``hooks:``): run the artifact pipeline and the pre-build step.

* ``on_pre_build`` runs ``python -m sitetools.pipeline`` (every stale artifact) in a subprocess,
  unless ``SNIPPETS_EXECUTE=0``, then ``sitetools.prebuild`` (the API reference pages and the
  notebook pages). Both write nothing when nothing changed, so ``mkdocs serve`` (which watches
  ``docs/``) does not rebuild in a loop. The Zensical wrapper (sitetools/zensical_build.py)
  runs the same two steps.
* ``on_files`` stops the build at a Markdown page that is not UTF-8, naming its line and
  column (MkDocs would end in a traceback with a byte offset).
* ``on_page_markdown`` warns about a raw-HTML ``<img>`` whose file does not exist (MkDocs
  validates only Markdown images).
* ``on_post_page`` checks each page's HTML (sitetools/page_checks.py: alt text, duplicate
  ids, leftover macro or include syntax, and every formula rendered by the site's KaTeX under
  Node.js) and warns with the page and line; it also gives Material's search dialog and
  progress bar the accessible names they ship without (axe-core: ``aria-dialog-name``,
  ``aria-progressbar-name``).
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path, PurePosixPath

from mkdocs.exceptions import PluginError

log = logging.getLogger("mkdocs.hooks.sitetools")


def on_pre_build(config, **kwargs) -> None:
    """Run every stale producer and notebook, then write the generated pages (prebuild)."""
    from sitetools.generated_fragments import reset_warnings
    from sitetools.prebuild import execute, prebuild, run_pipeline

    reset_warnings()  # one warning per missing artifact and build, also under `mkdocs serve`
    root = Path(config.config_file_path).parent
    if not execute():
        log.info("SNIPPETS_EXECUTE=0: artifact pipeline not run; using docs/generated as it is")
    elif run_pipeline(root, Path(config.docs_dir), log) != 0:
        raise PluginError("sitetools.pipeline failed; its error is printed above")
    writer = prebuild(Path(config.config_file_path))
    for note in writer.notes:
        (log.warning if execute() else log.info)("%s", note)


def _not_utf8(file) -> str | None:
    """For a Markdown file that is not UTF-8: where the first bad byte is; else None."""
    data = Path(file.abs_src_path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        return (
            f"Doc file '{file.src_uri}', line {line}, column {column}: not UTF-8 (byte "
            f"0x{data[error.start]:02X}); save the file as UTF-8"
        )
    return None


def on_files(files, config, **kwargs):
    """Stop at a page that is not UTF-8, naming its line and column."""
    for file in files:
        if file.src_uri.endswith(".md") and file.abs_src_path:
            problem = _not_utf8(file)
            if problem:
                raise PluginError(problem)
    return files


_RAW_IMG = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    """Warn about a raw-HTML ``<img>`` whose file does not exist (MkDocs checks only Markdown's)."""
    from sitetools.page_checks import code_free_lines

    try:
        source = Path(page.file.abs_src_path).read_text(encoding="utf-8-sig")
    except (OSError, TypeError):
        return markdown
    folder = PurePosixPath(page.file.src_uri).parent
    for number, line in code_free_lines(source):
        for match in _RAW_IMG.finditer(line):
            src = match.group(1) or match.group(2) or ""
            if not src or re.match(r"^(?:[a-z][a-z0-9+.-]*:|//|/|#)", src, re.I):
                continue  # a URL, data:, or an absolute path (MkDocs' link checks see those)
            target = posixpath.normpath(str(folder / src.split("#")[0].split("?")[0]))
            if files.get_file_from_path(target) is None:
                log.warning(
                    "Doc file '%s', line %d: the <img> source '%s' is not found among "
                    "documentation files; correct the path or add the file",
                    page.file.src_uri,
                    number,
                    src,
                )
    return markdown


KATEX_JS = "assets/katex/katex.min.js"  # the copy the pages load


# Material's markup for the two widgets, and the accessible name each gets.
_UNNAMED_WIDGETS = {
    '<div class="md-search" data-md-component="search" role="dialog">': (
        '<div class="md-search" data-md-component="search" role="dialog" aria-label="Search">'
    ),
    '<div class="md-progress" data-md-component="progress" role="progressbar">': (
        '<div class="md-progress" data-md-component="progress" role="progressbar" '
        'aria-label="Loading the page">'
    ),
}


def on_post_page(output: str, page, config, **kwargs) -> str:
    """Check the page (sitetools/page_checks.py); name Material's widgets."""
    from sitetools.page_checks import find_problems, math_problems, source_line

    problems = find_problems(output)
    katex = Path(config.docs_dir) / KATEX_JS
    if katex.is_file():
        found = math_problems(output, katex)
        if found is None:
            log.info("%s: formulas not checked: Node.js (node) is not installed", page.file.src_uri)
        problems += found or []
    if problems:
        try:
            source = Path(page.file.abs_src_path).read_text(encoding="utf-8")
        except (OSError, TypeError):
            source = ""
        for problem, needle in problems:
            log.warning(
                "Doc file '%s', line %d: %s",
                page.file.src_uri,
                source_line(source, needle),
                problem,
            )
    for unnamed, named in _UNNAMED_WIDGETS.items():
        output = output.replace(unnamed, named)
    return output


# MkDocs' own link warnings name the page and the link, not the line: add the line.
_LINK_WARNING = re.compile(
    r"^Doc file '(?P<page>[^']+)' contains (?:a|an unrecognized relative) link (?:to )?'(?P<link>[^']+)'"
)


class _LinkLineFilter(logging.Filter):
    """Rewrites "Doc file 'x.md' contains a link 'y'" to "Doc file 'x.md', line N, contains ..."."""

    def __init__(self, docs_dir: str) -> None:
        super().__init__()
        self.docs = Path(docs_dir)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        match = _LINK_WARNING.match(message)
        if match:
            from sitetools.page_checks import link_line

            line = link_line(self.docs / match["page"], match["link"])
            if line:
                record.msg = message.replace(
                    f"'{match['page']}'", f"'{match['page']}', line {line},", 1
                )
                record.args = ()
        return True


def on_config(config, **kwargs):
    """Install the line-number filter on MkDocs' page logger (once per process)."""
    logger = logging.getLogger("mkdocs.structure.pages")
    for existing in list(logger.filters):
        if isinstance(existing, _LinkLineFilter):
            logger.removeFilter(existing)
    logger.addFilter(_LinkLineFilter(config.docs_dir))
    return config

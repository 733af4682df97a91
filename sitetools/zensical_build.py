"""Build the site with Zensical, as strict as ``mkdocs build --strict``.

``python -m sitetools.zensical_build [--strict] [--site-dir DIR]`` does what MkDocs' hooks do
around ``mkdocs build``, since Zensical ignores ``hooks:``:

1. runs the artifact pipeline (``SNIPPETS_EXECUTE`` and ``SNIPPETS_DEVICE`` as for MkDocs) and
   the pre-build step (sitetools/prebuild.py), through the same functions as the MkDocs hook;
2. runs ``zensical build`` in this process (Zensical calls back into Python to render the
   Markdown, so this project's extensions log here), collecting every warning the project's
   extensions log (a missing artifact, for one: loggers under ``mkdocs.``);
3. checks every built page (sitetools/page_checks.py ``check_site``): alt text, duplicate ids,
   leftover macro syntax, formulas, and links, anchors and images that lead nowhere or are
   absolute, which MkDocs' validation catches but Zensical does not.

With ``--strict`` any of those fails the command (exit 1), each problem on a line that names
the file and the line; Zensical's own ``--strict`` covers only its own issues. Without it they
are printed as warnings, as ``mkdocs build`` does.

Zensical has no ``--site-dir`` flag, and its ``site_dir`` must sit inside the project. With
``--site-dir`` this writes a temporary configuration next to mkdocs.yml (``INHERIT:
mkdocs.yml`` plus ``site_dir``) and deletes it afterwards, also when the build is interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

from sitetools.prebuild import ROOT, execute, load_config, prebuild, run_pipeline

log = logging.getLogger("sitetools.zensical_build")
KATEX_JS = Path("assets") / "katex" / "katex.min.js"
# The loggers this project's Markdown extensions write to (sitetools.generated_fragments and
# friends log under "mkdocs.extensions.sitetools"); under Zensical "mkdocs" is theirs alone.
PROJECT_LOGGERS = ("mkdocs",)


class _Collector(logging.Handler):
    """Keeps every warning or error logged during the build, in order, without duplicates."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.messages:
            self.messages.append(message)


def _temporary_config(config_file: Path, site_dir: str) -> Path:
    """A config beside ``config_file`` that inherits it and sets ``site_dir``."""
    fd, name = tempfile.mkstemp(
        prefix=".zensical-", suffix=".yml", dir=config_file.parent, text=True
    )
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(f"INHERIT: {config_file.name}\nsite_dir: {site_dir}\n")
    return Path(name)


def build(
    config_file: Path = ROOT / "mkdocs.yml",
    *,
    site_dir: str | None = None,
    strict: bool = False,
    clean: bool = False,
) -> list[str]:
    """Run the pipeline, the pre-build step, Zensical and the page checks; return the problems.

    Each problem is one line naming the file and the line (the extensions' own warnings already
    do: ``Doc file 'x.md', line 9: ...``; the page checks say ``docs/x.md, line 9: ...``).
    """
    import zensical

    from sitetools.generated_fragments import reset_warnings
    from sitetools.page_checks import check_site

    config_file = Path(config_file).resolve()
    root = config_file.parent
    config = load_config(config_file)
    docs = root / config.get("docs_dir", "docs")
    problems: list[str] = []

    reset_warnings()
    if not execute():
        log.info("SNIPPETS_EXECUTE=0: artifact pipeline not run; using docs/generated as it is")
    elif run_pipeline(root, docs, log) != 0:
        return ["sitetools.pipeline failed; its error is printed above"]
    for note in prebuild(config_file).notes:
        (problems.append if execute() else log.info)(note)

    collector = _Collector()
    loggers = [logging.getLogger(name) for name in PROJECT_LOGGERS]
    for logger in loggers:
        logger.addHandler(collector)
    zensical_config = _temporary_config(config_file, site_dir) if site_dir else config_file
    try:
        zensical.build(str(zensical_config), {"strict": strict, "clean": clean})
    except Exception as error:  # Zensical stops on its own issues (strict) or a MacroError
        problems.append(f"zensical build failed: {error}")
    finally:
        for logger in loggers:
            logger.removeHandler(collector)
        if zensical_config != config_file:
            zensical_config.unlink(missing_ok=True)
    problems += collector.messages

    site = root / (site_dir or config.get("site_dir", "site"))
    if (site / "index.html").is_file():
        for source, line, problem in check_site(site, docs, docs / KATEX_JS):
            problems.append(f"{source.relative_to(root).as_posix()}, line {line}: {problem}")
    else:
        problems.append(f"{site.relative_to(root)}: Zensical wrote no site")
    return problems


def _stop(signum, frame):  # SIGTERM ends the build like Ctrl+C: the finally blocks clean up
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sitetools.zensical_build",
        description="Build the site with Zensical; --strict fails on any project warning.",
    )
    parser.add_argument("--strict", action="store_true", help="fail on any warning or problem")
    parser.add_argument("--clean", action="store_true", help="clear Zensical's cache first")
    parser.add_argument("-f", "--config-file", type=Path, default=Path("mkdocs.yml"))
    parser.add_argument(
        "--site-dir", help="output folder inside the project (default: mkdocs.yml's site_dir)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)-8s-  %(message)s")
    signal.signal(signal.SIGTERM, _stop)
    problems = build(args.config_file, site_dir=args.site_dir, strict=args.strict, clean=args.clean)
    for problem in problems:
        print(f"{'ERROR' if args.strict else 'WARNING'}: {problem}", file=sys.stderr)
    if problems and args.strict:
        print(f"Aborted with {len(problems)} problems in strict mode!", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m sitetools.pipeline``: run, list or key the site's artifacts from the shell."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from sitetools.pipeline import stamp
from sitetools.pipeline.registry import MODULES_ENV, BuildError, discover
from sitetools.pipeline.runner import (
    DEFAULT_NOTEBOOKS,
    DEFAULT_ROOT,
    _count,
    build,
    combined_key,
    plan,
    relative_origin,
    select_device,
)

log = logging.getLogger("sitetools.pipeline")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname}: "
        return f"{record.name}: {level}{record.getMessage()}"


def _list(root: Path, notebooks: Path | None, modules, device: str | None) -> None:
    _, profile = select_device(device)
    items = plan(root, discover(modules, notebooks), profile)
    width = max((len(item.artifact.name) for item in items), default=10)
    print(f"{len(items)} artifacts, {profile} profile, output {root}")
    for item in items:
        state = "stale" if item.stale else "fresh"
        reason = f"  ({item.reason})" if item.stale else ""
        name = item.artifact.name
        print(f"{state}  {name:<{width}}  {relative_origin(item.artifact)}{reason}")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m sitetools.pipeline [--device D] [--only N] [--force] [--list]``."""
    parser = argparse.ArgumentParser(
        prog="python -m sitetools.pipeline",
        description="Execute the stale figure/table producers and notebooks of the site.",
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: $SNIPPETS_DEVICE or auto)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these artifacts (+needs)")
    parser.add_argument("--force", action="store_true", help="execute even if up to date")
    parser.add_argument("--list", action="store_true", help="list artifacts, fresh or stale")
    parser.add_argument(
        "--cache-key",
        action="store_true",
        help="print one digest of every artifact's key for the profile (for CI caches)",
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="output folder")
    parser.add_argument(
        "--notebooks", type=Path, default=DEFAULT_NOTEBOOKS, help="folder of notebooks to execute"
    )
    parser.add_argument(
        "--modules",
        nargs="*",
        metavar="MODULE",
        help=f"producer modules to run (default: ${MODULES_ENV} or every module of artifacts/)",
    )
    args = parser.parse_args(argv)

    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(_Formatter())
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    os.environ.setdefault("MPLBACKEND", "Agg")
    from tqdm.contrib.logging import logging_redirect_tqdm

    try:
        if args.list:
            _list(args.root, args.notebooks, args.modules, args.device)
            return 0
        if args.cache_key:
            _, profile = select_device(args.device)
            print(combined_key(plan(args.root, discover(args.modules, args.notebooks), profile)))
            return 0
        if stamp.applies(args.only, args.force, args.modules):
            count = stamp.fresh_count(args.root, args.notebooks, args.device)
            if count is not None:
                log.info(
                    "%s up to date, nothing to execute (no source changed since the last run)",
                    _count(count, "artifact"),
                )
                return 0
        # Log lines go above the progress bars instead of tearing through them.
        with logging_redirect_tqdm(loggers=[log]):
            build(
                root=args.root,
                notebooks=args.notebooks,
                modules=args.modules,
                only=args.only,
                force=args.force,
                device=args.device,
            )
    except BuildError as error:
        if error.__cause__ is not None:
            traceback.print_exception(error.__cause__)
        log.error("%s", error)
        return 1
    return 0

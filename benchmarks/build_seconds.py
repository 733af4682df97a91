"""Print the seconds of a site build: cold (optional), warm, and with execution off, side by side.

    python benchmarks/build_seconds.py            # warm and execution-off builds, 3 runs each
    python benchmarks/build_seconds.py --cold     # first a cold build (DELETES docs/generated)

It also times the first preview on a fresh clone: the repository's files without
``docs/generated/``, built with ``SNIPPETS_EXECUTE=0`` (placeholders where figures go).

*Warm* is ``mkdocs build`` with nothing stale: the pipeline runs, finds every artifact fresh and
executes nothing. *Off* is ``SNIPPETS_EXECUTE=0 mkdocs build``: no pipeline at all. The
difference is what deciding staleness costs. Each build goes to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_once(root: Path = ROOT, **env: str) -> float:
    with tempfile.TemporaryDirectory() as site:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "-q", "-d", site],
            cwd=root,
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1", **env},
            check=True,
        )
        return time.perf_counter() - start


def fresh_clone(target: Path) -> Path:
    """Copy the files git knows (tracked or not ignored) to ``target``: a clone, uncommitted edits
    included, and no docs/generated/."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="delete docs/generated, build once")
    parser.add_argument("--runs", type=int, default=3, help="warm and off builds (default 3)")
    args = parser.parse_args()
    rows = []
    if args.cold:
        shutil.rmtree(ROOT / "docs" / "generated", ignore_errors=True)
        rows.append(("cold", [build_once()]))
    rows.append(("warm", [build_once() for _ in range(args.runs)]))
    rows.append(("execution off", [build_once(SNIPPETS_EXECUTE="0") for _ in range(args.runs)]))
    with tempfile.TemporaryDirectory() as clone:
        fresh_clone(Path(clone))
        preview = [build_once(Path(clone), SNIPPETS_EXECUTE="0") for _ in range(args.runs)]
    for label, seconds in rows:
        print(f"{label:>14}: median {statistics.median(seconds):7.1f} s  runs {seconds}")
    warm, off = (statistics.median(s) for _, s in rows[-2:])
    print(f"{'warm / off':>14}: {warm / off:.2f}x")
    print(f"{'fresh preview':>14}: median {statistics.median(preview):7.1f} s  runs {preview}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

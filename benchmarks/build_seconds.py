"""Print the seconds of a site build: cold (optional), warm, and with execution off, side by side.

    python benchmarks/build_seconds.py            # warm and execution-off builds, 3 runs each
    python benchmarks/build_seconds.py --cold     # first a cold build (DELETES docs/generated)

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


def build_once(**env: str) -> float:
    with tempfile.TemporaryDirectory() as site:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "-q", "-d", site],
            cwd=ROOT,
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1", **env},
            check=True,
        )
        return time.perf_counter() - start


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
    for label, seconds in rows:
        print(f"{label:>14}: median {statistics.median(seconds):7.1f} s  runs {seconds}")
    warm, off = (statistics.median(s) for _, s in rows[-2:])
    print(f"{'warm / off':>14}: {warm / off:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

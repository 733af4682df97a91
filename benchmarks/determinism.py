"""Build every artifact twice from empty and report which generated files differ byte for byte.

    python benchmarks/determinism.py            # two cold pipelines on the CPU (minutes)
    python benchmarks/determinism.py --only dit-patch-cost zimage-rope   # a quick subset

Each run is ``python -m sitetools.pipeline`` into its own empty folder (the notebooks are
executed too), with the same seeds, on this machine's CPU. Every file of the two folders is
compared byte for byte, PNG metadata included. ``manifest.json`` is left out: it is the
pipeline's log of the run (when, how long, on what), not an output the pages show; the
comparison prints its size so that it is not silently ignored.

The target is zero differing files. Seeded runs are bit-identical on one machine; another
CPU can round float32 sums differently, so the two runs must be made on the same machine.
Prints each run's seconds too.
"""

from __future__ import annotations

import argparse
import difflib
import filecmp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_COMPARED = {"manifest.json"}


def build(root: Path, only: list[str]) -> float:
    command = [sys.executable, "-m", "sitetools.pipeline", "--device", "cpu", "--root", str(root)]
    command += ["--notebooks", str(ROOT / "notebooks")]
    if only:
        command += ["--only", *only]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return time.perf_counter() - start


def files_under(root: Path) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and path.name not in NOT_COMPARED
    }


def compare(first: Path, second: Path) -> tuple[list[str], list[str], int]:
    """(differing files, files in only one run, files compared)."""
    a, b = files_under(first), files_under(second)
    differing = sorted(
        name for name in a & b if not filecmp.cmp(first / name, second / name, shallow=False)
    )
    return differing, sorted(a ^ b), len(a & b)


def print_first_difference(a: Path, b: Path, lines: int = 6) -> None:
    """For a text file, the first lines of a unified diff (what differs, not just that it does)."""
    try:
        old, new = a.read_text("utf-8").splitlines(), b.read_text("utf-8").splitlines()
    except UnicodeDecodeError:
        return
    diff = [line for line in difflib.unified_diff(old, new, lineterm="", n=0)][2:]
    for line in diff[:lines]:
        print(f"      {line[:160]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[], help="only these artifacts (+needs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="determinism-") as tmp:
        first, second = Path(tmp, "first"), Path(tmp, "second")
        seconds = [build(first, args.only), build(second, args.only)]
        differing, unmatched, compared = compare(first, second)
        print(f"\nrun 1: {seconds[0]:.0f} s, run 2: {seconds[1]:.0f} s (cold, CPU)")
        print(f"compared {compared} files byte for byte (manifest.json aside)")
        print(f"differing files: {len(differing)}")
        for name in differing:
            print(f"  {name}")
            print_first_difference(first / name, second / name)
        if unmatched:
            print(f"files written by one run only: {len(unmatched)}")
            for name in unmatched:
                print(f"  {name}")
    return 1 if differing or unmatched else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run the cold CPU pipeline of an older commit and of the working tree, one after the other on
this machine, and print each artifact's seconds side by side.

    python benchmarks/pipeline_budget.py                    # against abc5740, the budget's reference
    python benchmarks/pipeline_budget.py --baseline HEAD~3 --out /tmp/budget

The older commit is checked out with ``git worktree`` into ``OUT/baseline``; each side runs
``python -m sitetools.pipeline --device cpu`` into a fresh output folder of its own
(``OUT/<side>/generated``), so both start cold. Machines differ several-fold, so only the two
columns of one run compare; run it on a quiet machine (anything else on the cores lengthens
whichever side it overlaps). Needs the project installed (``pip install -e .``): the baseline
runs with this environment's packages, from its own source tree.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline_seconds import seconds_by_artifact  # noqa: E402


def run_pipeline(source: Path, out: Path) -> float:
    """Run the cold pipeline of the tree at ``source`` into ``out``; return its wall seconds."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(source), "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "sitetools.pipeline", "--device", "cpu"]
    # notebooks/ since the notebooks left docs/ (issue 20); docs/notebooks/ in older trees.
    notebooks = next(p for p in (source / "notebooks", source / "docs" / "notebooks") if p.is_dir())
    command += ["--root", str(out), "--notebooks", str(notebooks)]
    start = time.perf_counter()
    with open(out.parent / "pipeline.log", "w", encoding="utf-8") as log:
        subprocess.run(
            command, cwd=source, env=env, stdout=log, stderr=subprocess.STDOUT, check=True
        )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="abc5740", help="commit to compare against")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pipeline-budget"))
    parser.add_argument(
        "--side",
        choices=("both", "baseline", "current", "print"),
        default="both",
        help="run one side only (the other keeps its last manifest), or just print the table",
    )
    args = parser.parse_args()
    baseline = args.out / "baseline"
    if not baseline.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(baseline), args.baseline],
            cwd=ROOT,
            check=True,
        )
    sides = {args.baseline: baseline, "working tree": ROOT}
    walls, columns = {}, {}
    for label, source in sides.items():
        side = "baseline" if source == baseline else "current"
        out = args.out / side / "generated"
        if args.side in ("both", side):
            if out.exists():
                subprocess.run(["rm", "-rf", str(out)], check=True)
            print(f"cold pipeline of {label} ...", flush=True)
            walls[label] = run_pipeline(source, out)
            (out.parent / "wall-seconds").write_text(f"{walls[label]:.1f}\n")
        wall_file = out.parent / "wall-seconds"
        if not (out / "manifest.json").exists():
            print(f"{label}: no manifest yet in {out}; run --side {side}", flush=True)
            continue
        walls[label] = float(wall_file.read_text()) if wall_file.exists() else float("nan")
        columns[label] = seconds_by_artifact(out / "manifest.json")
    names = sorted(
        set().union(*columns.values()), key=lambda n: -max(c.get(n, 0) for c in columns.values())
    )
    width = max(len(n) for n in names)
    print(f"\n{'artifact':<{width}}" + "".join(f"{label:>16}" for label in columns))
    for name in names:
        cells = "".join(
            f"{c[name]:>16.1f}" if name in c else f"{'-':>16}" for c in columns.values()
        )
        print(f"{name:<{width}}{cells}")
    print(
        f"{'sum of artifacts':<{width}}"
        + "".join(f"{sum(c.values()):>16.1f}" for c in columns.values())
    )
    print(f"{'wall clock':<{width}}" + "".join(f"{walls[label]:>16.1f}" for label in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Print each artifact's seconds from the pipeline's manifest, and their sum.

    python benchmarks/pipeline_seconds.py                 # docs/generated/manifest.json
    python benchmarks/pipeline_seconds.py path/to/manifest.json [another.json]

With two manifests (say, a cold build of an older commit and of this one, on the same machine),
the two columns are printed side by side. The seconds are those the pipeline measured while it
ran each producer or notebook, so compare manifests made on one machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[1] / "docs" / "generated" / "manifest.json"


def seconds_by_artifact(path: Path) -> dict[str, float]:
    """``{artifact: seconds}`` from a manifest file."""
    artifacts = json.loads(Path(path).read_text(encoding="utf-8"))["artifacts"]
    return {name: float(entry.get("seconds", 0.0)) for name, entry in artifacts.items()}


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or [DEFAULT]
    columns = [seconds_by_artifact(p) for p in paths]
    names = sorted(set().union(*columns), key=lambda n: -max(c.get(n, 0.0) for c in columns))
    width = max(len(n) for n in names)
    header = "".join(f"{p.parent.name[:12]:>14}" for p in paths)
    print(f"{'artifact':<{width}}{header}")
    for name in names:
        cells = "".join(f"{c[name]:>14.1f}" if name in c else f"{'-':>14}" for c in columns)
        print(f"{name:<{width}}{cells}")
    totals = "".join(f"{sum(c.values()):>14.1f}" for c in columns)
    print(f"{'total':<{width}}{totals}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Learning-rate search for the naive-concatenation digit model (``digits-naive-concat``).

Trains the single-stream model with no refiners at the MMDiT's CPU-profile width, depth, batch
and steps for each candidate peak learning rate, on the pipeline's two CPU threads, and scores
each with the numbers the pages use: FD at 16 Euler steps and class agreement at 8 steps, both
unguided, mean over ``SWEEP_SEEDS``. Run once, offline; the chosen value is written into
``artifacts/digits/naive_concat.py`` by hand with the table this prints.

    python benchmarks/search_naive_concat_lr.py [--lrs 4e-3 5.5e-3 7e-3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lrs", nargs="+", type=float, default=[4e-3, 5.5e-3, 7e-3])
    parser.add_argument("--json", type=Path, default=None)
    opts = parser.parse_args()

    from artifacts.digits.naive_concat import naive_concat_params
    from snippets.digits.data import default_evaluator, load_digit_split
    from snippets.digits.evaluation import SWEEP_SEEDS, average_sweep, sweep
    from snippets.digits.training import GeneratorConfig, cpu_threads, train_generator

    base = naive_concat_params()["cpu"]
    ev = default_evaluator(base["size"])
    results = []
    with cpu_threads("cpu"):
        for lr in opts.lrs:
            config = GeneratorConfig("single-stream", **{**base, "lr": lr})
            trained = train_generator(config, load_digit_split(size=config.size), "cpu")
            start = time.perf_counter()
            mean = average_sweep(
                sweep(trained.model, "single-stream", ev, (8, 16), (1.0,), SWEEP_SEEDS, config.size)
            )
            results.append(
                {
                    "lr": lr,
                    "fd16": mean[(16, 1.0)]["fd"],
                    "agreement8": mean[(8, 1.0)]["agreement"],
                    "train_seconds": round(trained.seconds, 1),
                    "eval_seconds": round(time.perf_counter() - start, 1),
                    "last_loss": round(trained.losses[-1], 4),
                }
            )
            print(json.dumps(results[-1]), flush=True)
    print(f"\nyardstick {ev.yardstick:.3f}")
    print("| peak lr | FD at 16 steps | agreement at 8 steps | last loss | train s |")
    for r in results:
        print(
            f"| {r['lr']:g} | {r['fd16']:.3f} | {100 * r['agreement8']:.1f}% | {r['last_loss']:.4f} | {r['train_seconds']:.0f} |"
        )
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

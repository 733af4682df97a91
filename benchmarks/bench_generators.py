"""Benchmark the tiny digit generators: training time, sampling speed, memory, quality.

For the class-conditional DiT and the chosen profile this prints the training
seconds, parameter count, sampling throughput (samples per second at 16 Euler steps, with and
without guidance), peak memory, and the Fréchet distance / class-agreement table over step
counts and guidance scales, with the real-vs-real yardstick and the goals of the CPU profile.

Each model runs in its own subprocess so that the peak memory (``ru_maxrss`` on the CPU,
``torch.cuda.max_memory_allocated`` on CUDA) belongs to that model alone.

Usage::

    python benchmarks/bench_generators.py                   # train fresh, CPU profile, the pipeline's threads
    python benchmarks/bench_generators.py --from-cache      # reuse docs/generated/digits-<kind>/
    python benchmarks/bench_generators.py --device cuda     # GPU profile
    python benchmarks/bench_generators.py --seeds 1

The text models (MMDiT, single stream) draw two-digit scenes from captions; their placement and
FD over seeds are the ``digits-scenes-*`` artifacts of the pipeline.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_FD_RATIO, GOAL_AGREEMENT, GOAL_SECONDS = 1.5, 0.99, 90.0


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_one(kind: str, args: dict, queue) -> None:
    """Train (or load) one model, time sampling, sweep quality; put a result dict on ``queue``."""
    import torch

    from snippets.digits.data import default_evaluator, load_digit_split
    from snippets.digits.evaluation import SWEEP_GUIDANCE, SWEEP_STEPS, average_sweep, sweep
    from snippets.digits.training import (
        TRAIN_PARAMS,
        GeneratorConfig,
        load_trained,
        sample_digits,
        train_generator,
    )

    device = torch.device(args["device"])
    if device.type == "cpu":
        torch.set_num_threads(args["threads"])
    profile = "gpu" if device.type == "cuda" else "cpu"
    params = TRAIN_PARAMS[kind][profile]
    rss_before = _rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    folder = REPO / "docs" / "generated" / f"digits-{kind}"
    if args["from_cache"] and (folder / "ema.pt").is_file():
        model, info = load_trained(folder, device)
        manifest = json.loads((folder.parent / "manifest.json").read_text())
        seconds, n_params, source = (
            manifest["artifacts"][f"digits-{kind}"]["seconds"],
            info["parameters"],
            f"cache ({info.get('torch_threads')} threads)",
        )
        size = info["config"]["size"]
    else:
        config = GeneratorConfig(kind, **params)
        trained = train_generator(config, load_digit_split(size=config.size), device)
        model, seconds, n_params, source, size = (
            trained.model,
            trained.seconds,
            trained.parameters,
            "trained now",
            config.size,
        )
    train_peak = (
        torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else _rss_mib()
    )

    ev = default_evaluator(size)
    labels = ev.split.test_y
    speed = {}
    for w in (1.0, 2.0):
        sample_digits(model, kind, labels[:64], 2, w, size=size)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        sample_digits(model, kind, labels, 16, w, seed=0, size=size)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        speed[w] = labels.shape[0] / (time.perf_counter() - start)

    start = time.perf_counter()
    rows = sweep(
        model, kind, ev, SWEEP_STEPS, SWEEP_GUIDANCE, tuple(range(1, args["seeds"] + 1)), size
    )
    eval_seconds = time.perf_counter() - start
    avg = average_sweep(rows)
    queue.put(
        {
            "kind": kind,
            "source": source,
            "train_seconds": seconds,
            "parameters": n_params,
            "samples_per_s": speed,
            "peak_mib": train_peak if device.type == "cuda" else _rss_mib(),
            "rss_before_mib": rss_before,
            "eval_seconds": eval_seconds,
            "yardstick": ev.yardstick,
            "held_out_accuracy": ev.held_out_accuracy,
            "mean": {f"{s}|{w}": v for (s, w), v in avg.items()},
            "steps": list(SWEEP_STEPS),
            "guidance": list(SWEEP_GUIDANCE),
            "profile": profile,
            "device": str(device),
        }
    )


def main() -> int:
    from snippets.digits.evaluation import SWEEP_SEEDS
    from snippets.digits.training import CPU_THREADS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument(
        "--threads",
        type=int,
        default=CPU_THREADS,
        help=f"torch CPU threads (default: the pipeline's {CPU_THREADS})",
    )
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=["dit"],
        choices=["dit"],
        help="the class-conditional DiT; the text models draw scenes and are scored by the "
        "digits-scenes-* artifacts (python -m sitetools.pipeline --only digits-scenes-mmdit ...)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=len(SWEEP_SEEDS),
        help=f"noise seeds averaged in the quality table (default: the site's {len(SWEEP_SEEDS)})",
    )
    parser.add_argument(
        "--from-cache",
        action="store_true",
        help="load the pipeline's trained models instead of training",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    opts = parser.parse_args()

    import torch

    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args = {
        "device": device,
        "threads": opts.threads,
        "seeds": opts.seeds,
        "from_cache": opts.from_cache,
    }
    ctx = mp.get_context("spawn")
    results = []
    for kind in opts.kinds:
        queue = ctx.Queue()
        proc = ctx.Process(target=run_one, args=(kind, args, queue))
        proc.start()
        results.append(queue.get())
        proc.join()

    import os

    load = os.getloadavg()
    print(
        f"\ndevice {device}, profile {results[0]['profile']}, torch {torch.__version__}, "
        f"threads {opts.threads if device == 'cpu' else '-'}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    r0 = results[0]
    print(
        f"classifier held-out accuracy {100 * r0['held_out_accuracy']:.2f}%, "
        f"FD yardstick (held-out vs training digits) {r0['yardstick']:.3f}\n"
    )
    mem = "peak GPU MiB" if device.startswith("cuda") else "peak RSS MiB"
    print(
        f"{'model':<15}{'params':>10}{'train s':>9}{'source':>22}{'samples/s':>11}{'w=2 s/s':>9}{mem:>14}{'eval s':>8}"
    )
    for r in results:
        print(
            f"{r['kind']:<15}{r['parameters']:>10,}{r['train_seconds']:>9.1f}{r['source']:>22}"
            f"{r['samples_per_s'][1.0]:>11.0f}{r['samples_per_s'][2.0]:>9.0f}{r['peak_mib']:>14.0f}{r['eval_seconds']:>8.1f}"
        )
    failures = 0
    for r in results:
        print(
            f"\n{r['kind']}: FD (agreement), mean of {opts.seeds} seed(s); rows Euler steps, columns guidance scale"
        )
        print(f"{'steps':>6}" + "".join(f"{'w=' + format(w, 'g'):>18}" for w in r["guidance"]))
        for s in r["steps"]:
            cells = [r["mean"][f"{s}|{w}"] for w in r["guidance"]]
            print(
                f"{s:>6}"
                + "".join(f"{c['fd']:>10.3f} ({100 * c['agreement']:5.1f})" for c in cells)
            )
        fd16, ag8 = r["mean"]["16|1.0"]["fd"], r["mean"]["8|1.0"]["agreement"]
        checks = [
            (
                f"FD at 16 steps {fd16:.3f} <= {GOAL_FD_RATIO} x yardstick {r['yardstick']:.3f} ({fd16 / r['yardstick']:.2f}x)",
                fd16 <= GOAL_FD_RATIO * r["yardstick"],
            ),
            (
                f"agreement at 8 steps {100 * ag8:.1f}% >= {100 * GOAL_AGREEMENT:.0f}%",
                ag8 >= GOAL_AGREEMENT,
            ),
        ]
        if r["profile"] == "cpu":
            checks.append(
                (
                    f"training {r['train_seconds']:.1f} s <= {GOAL_SECONDS:.0f} s",
                    r["train_seconds"] <= GOAL_SECONDS,
                )
            )
        for text, ok in checks:
            failures += not ok
            print(f"  [{'PASS' if ok else 'MISS'}] {text}")
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2, default=str))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())

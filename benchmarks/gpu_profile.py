"""What the device buys: the cold pipeline's seconds per artifact, each digits model's milliseconds
per training step, and the share of a training step's wall time spent in device kernels.

    python benchmarks/gpu_profile.py                         # CUDA when present, else the CPU
    python benchmarks/gpu_profile.py --device cpu --steps-only
    python benchmarks/gpu_profile.py --out /tmp/gpu-profile  # where the cold pipeline writes

Three parts, printed in this order:

1. The cold pipeline (``python -m sitetools.pipeline``, profile ``gpu`` on CUDA, ``cpu``
   elsewhere) into a fresh folder, every producer and notebook, with its wall seconds and each
   artifact's seconds from the manifest. ``--steps-only`` skips it.
2. Per digits model of the active profile (the DiT, the MMDiT, the single-stream model, the
   micro-conditioning DiT), milliseconds per training step: ``--steps`` steps timed after
   ``--warmup`` steps, with the device synchronised at both ends only, as in the pipeline.
3. For the same models, the share of a step's wall time during which the device was busy
   running kernels (``torch.profiler``, the sum of the kernels' device time over the wall time of
   the profiled steps). On the CPU there are no kernels to launch: the column says so.

A low kernel share means the step is bound by Python and kernel launches, not by the GPU: that
is what the GPU issue measured before the training loop stopped reading the loss every step.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from pipeline_seconds import seconds_by_artifact  # noqa: E402

from sitetools.pipeline.runner import select_device  # noqa: E402
from snippets.digits.data import load_digit_split  # noqa: E402
from snippets.digits.microcond import MicroCondConfig, train_microcond  # noqa: E402
from snippets.digits.training import (  # noqa: E402
    TRAIN_PARAMS,
    GeneratorConfig,
    cpu_threads,
    train_generator,
)


def cold_pipeline(device: str, out: Path, notebooks: bool) -> tuple[float, dict[str, float]]:
    """Run every producer (and notebook) into the empty folder ``out``: wall seconds, per artifact."""
    out.mkdir(parents=True, exist_ok=False)
    folder = ROOT / "notebooks" if notebooks else out.parent / "no-notebooks"
    folder.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "sitetools.pipeline", "--device", device, "--root", str(out)]
    command += ["--notebooks", str(folder)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    with open(out.parent / "pipeline.log", "w", encoding="utf-8") as log:
        subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start, seconds_by_artifact(out / "manifest.json")


def trainers(profile: str) -> dict:
    """``{name: train(steps, device)}`` for each digits model at the profile's configuration."""
    split_cache = {}

    def split(size):
        if size not in split_cache:
            split_cache[size] = load_digit_split(size=size)
        return split_cache[size]

    def generator(kind):
        params = TRAIN_PARAMS[kind][profile]

        def train(steps, device):
            config = GeneratorConfig(kind, **{**params, "steps": steps})
            return train_generator(config, split(config.size), device)

        return train

    def microcond(steps, device):
        from artifacts.sdxl.microcond import TRAIN_PARAMS as MICRO

        config = MicroCondConfig(**{**MICRO[profile], "steps": steps})
        return train_microcond(config, split(config.size), device)

    return {**{kind: generator(kind) for kind in TRAIN_PARAMS}, "microcond": microcond}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ms_per_step(train, device: torch.device, steps: int, warmup: int) -> float:
    """Milliseconds per step of ``steps`` steps, after a run of ``warmup`` steps (kernels loaded,
    allocator warm). Both runs build their model afresh, as the pipeline does."""
    train(warmup, device)
    synchronize(device)
    start = time.perf_counter()
    train(steps, device)
    synchronize(device)
    return 1000 * (time.perf_counter() - start) / steps


def kernel_share(train, device: torch.device, steps: int) -> float | None:
    """Share of the wall time of ``steps`` training steps during which device kernels ran."""
    if device.type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile

    synchronize(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        train(steps, device)
        synchronize(device)
        wall = time.perf_counter() - start
    busy_us = sum(
        e.self_device_time_total
        for e in prof.key_averages()
        if e.device_type == torch.autograd.DeviceType.CUDA
    )
    return busy_us / 1e6 / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: auto)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the cold pipeline")
    parser.add_argument("--steps-only", action="store_true", help="skip the cold pipeline")
    parser.add_argument("--steps", type=int, default=200, help="timed training steps per model")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps before them")
    args = parser.parse_args()
    device, profile = select_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}), profile {profile}, torch {torch.__version__}", flush=True)

    if not args.steps_only:
        out = args.out or Path(tempfile.mkdtemp(prefix="gpu-profile-"))
        notebooks = importlib.util.find_spec("nbclient") is not None
        wall, seconds = cold_pipeline(str(device), out / "generated", notebooks)
        width = max(map(len, seconds))
        what = "producers and notebooks" if notebooks else "producers only (no nbclient here)"
        print(f"\ncold pipeline into {out / 'generated'}: {what}")
        for artifact, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
            print(f"{artifact:<{width}} {s:>8.1f} s")
        print(f"{'sum of artifacts':<{width}} {sum(seconds.values()):>8.1f} s")
        print(f"{'wall clock':<{width}} {wall:>8.1f} s", flush=True)

    print(f"\n{'model':<14}{'ms/step':>10}{'kernel share':>18}")
    with cpu_threads(device):
        for model, train in trainers(profile).items():
            ms = ms_per_step(train, device, args.steps, args.warmup)
            share = kernel_share(train, device, min(args.steps, 50))
            cell = "no kernels (CPU)" if share is None else f"{share:.0%}"
            print(f"{model:<14}{ms:>10.2f}{cell:>18}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

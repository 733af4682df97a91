"""The trained micro-conditioned digit generator (``sdxl-microcond``).

Training parameters per profile live here; the model and training code are
[`snippets.digits.microcond`][snippets.digits.microcond].
"""

from __future__ import annotations

import torch

from sitetools.pipeline import producer
from snippets.digits.data import load_digit_split
from snippets.digits.microcond import MicroCondConfig, save_microcond, train_microcond
from snippets.digits.training import cpu_threads

TRAIN_PARAMS = {
    "cpu": dict(
        size=8,
        min_original=3,
        max_crop=3,
        hidden_size=64,
        depth=4,
        num_heads=4,
        steps=1800,
        batch_size=64,
        lr=5e-3,
    ),
    "gpu": dict(
        size=16,
        min_original=6,
        max_crop=6,
        hidden_size=128,
        depth=6,
        num_heads=4,
        steps=8000,
        batch_size=256,
        lr=1e-3,
    ),
}
"""CPU: 8x8 digits, about 45 s on two threads of the course's reference machine. GPU: 16x16
digits, a wider and deeper model, more and larger steps."""


@producer("sdxl-microcond", params=TRAIN_PARAMS)
def sdxl_microcond(ctx, **params):
    """Train the micro-conditioned DiT on degraded digits; save its EMA weights and a summary."""
    config = MicroCondConfig(seed=ctx.seed, **params)
    with cpu_threads(ctx.device):
        trained = train_microcond(
            config, load_digit_split(size=config.size), ctx.device, ctx.progress
        )
    save_microcond(trained, ctx.out)
    info = trained.info()
    where = (
        f"{info['torch_threads']} CPU threads"
        if ctx.device.type == "cpu"
        else torch.cuda.get_device_name(ctx.device)
    )
    ctx.save_table(
        f"The micro-conditioned DiT has **{info['parameters']:,}** parameters (width {config.hidden_size}, "
        f"{config.depth} blocks, {config.size}x{config.size} digits). It trained for **{config.steps:,}** steps of "
        f"{config.batch_size} digits in **{trained.seconds:.0f} s** on {where} ({ctx.profile} profile). "
        f"{100 * config.p_clean:g}% of its training digits were left clean; the others were shrunk to between "
        f"{config.min_original} and {config.size} pixels a side and scaled back up, and cropped with offsets of 0 to "
        f"{config.max_crop} pixels per axis, and the model was told both. The last training loss was "
        f"{trained.losses[-1]:.3f}.",
        "model.md",
    )

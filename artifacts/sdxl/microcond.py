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


SUMMARY = (
    "The micro-conditioned DiT has **{parameters:,}** parameters (width {config.hidden_size}, "
    "{config.depth} blocks, {config.size}x{config.size} digits). It trained for "
    "**{config.steps:,}** steps of {config.batch_size} digits on {where} ({profile} profile). "
    "{clean:g}% of its training digits were left clean; the others were shrunk to between "
    "{config.min_original} and {config.size} pixels a side and scaled back up, and cropped with "
    "offsets of 0 to {config.max_crop} pixels per axis, and the model was told both. The last "
    "training loss was {loss:.3f}."
)
"""The model summary under the lesson's figures (``model.md``)."""


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
        SUMMARY.format(
            parameters=info["parameters"],
            config=config,
            where=where,
            profile=ctx.profile,
            clean=100 * config.p_clean,
            loss=trained.losses[-1],
        ),
        "model.md",
    )

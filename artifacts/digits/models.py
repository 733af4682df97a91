"""The three trained digit generators (``digits-dit``, ``digits-mmdit``, ``digits-single-stream``).

Training parameters per profile live here; the training code is [`snippets.digits.training`][snippets.digits.training].
"""

from __future__ import annotations

import functools

import torch
import torch.nn as nn

from sitetools.pipeline import producer
from snippets.digits.data import load_digit_split
from snippets.digits.training import (
    KINDS,
    MODEL_NAMES,
    TRAIN_PARAMS,
    GeneratorConfig,
    cpu_threads,
    load_trained,
    save_trained,
    train_generator,
)


def on_cpu_threads(func):
    """Decorator for producers: run the body under [`cpu_threads`][snippets.digits.training.cpu_threads] on the context's device."""

    @functools.wraps(func)
    def wrapper(ctx, **params):
        with cpu_threads(ctx.device):
            return func(ctx, **params)

    return wrapper


SUMMARY = (
    "The {name} has **{parameters:,}** parameters (width {config.hidden_size}, {blocks}, "
    "{config.size}x{config.size} digits in patches of {config.patch_size}) and trained for "
    "**{config.steps:,}** steps of {config.batch_size} digits on {where} (AdamW, peak learning "
    "rate {config.lr:g}, condition dropped for {dropped:g}% of the digits); the last training "
    "loss was {loss:.3f}."
)
"""The model summary under each trained model on the pages (``model.md``). No seconds: the
fragment must come out the same on every run; the pipeline prints the seconds."""


def _train_artifact(ctx, kind: str, params: dict) -> None:
    config = GeneratorConfig(kind, seed=ctx.seed, **params)
    with cpu_threads(ctx.device):
        trained = train_generator(
            config, load_digit_split(size=config.size), ctx.device, ctx.progress
        )
    save_trained(trained, ctx.out)
    if ctx.device.type == "cpu":
        where = "one CPU thread" if trained.threads == 1 else f"{trained.threads} CPU threads"
    else:
        where = (
            torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda" else ctx.device.type
        )
    blocks = f"{config.depth} blocks"
    if kind == "single-stream":
        blocks = f"{config.n_refiner_layers} + {config.n_refiner_layers} refiner and {config.depth} shared blocks"
    ctx.save_table(
        SUMMARY.format(
            name=MODEL_NAMES[kind],
            parameters=trained.parameters,
            config=config,
            blocks=blocks,
            where=where,
            dropped=100 * config.p_uncond,
            loss=trained.losses[-1],
        ),
        "model.md",
    )


@producer("digits-dit", params=TRAIN_PARAMS["dit"])
def digits_dit(ctx, **params):
    """Train the class-conditional DiT; save its EMA weights and training record."""
    _train_artifact(ctx, "dit", params)


@producer("digits-mmdit", params=TRAIN_PARAMS["mmdit"])
def digits_mmdit(ctx, **params):
    """Train the prompt-conditioned MMDiT; save its EMA weights and training record."""
    _train_artifact(ctx, "mmdit", params)


@producer("digits-single-stream", params=TRAIN_PARAMS["single-stream"])
def digits_single_stream(ctx, **params):
    """Train the prompt-conditioned single-stream model; save its EMA weights and training record."""
    _train_artifact(ctx, "single-stream", params)


TRAINED = {kind: f"digits-{kind}" for kind in KINDS}
"""Artifact name of each trained generator, by kind."""


def load_all(ctx) -> dict[str, tuple[nn.Module, dict]]:
    """Load every trained generator a producer ``needs``: ``{kind: (model, info)}``."""
    return {kind: load_trained(ctx.input(name), ctx.device) for kind, name in TRAINED.items()}

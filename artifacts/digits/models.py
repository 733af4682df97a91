"""The trained digit generators: the DiT, and the text models of lessons 3 and 4.

``digits-dit`` draws one digit for a class label. The four text models draw two-digit scenes
from their captions (``snippets.digits.scenes``), read by the same frozen text encoder:

- ``digits-mmdit`` and ``digits-single-stream``: the lessons' two designs;
- ``digits-naive-concat``: the MMDiT with ``share_weights=True`` (lesson 3's negative example),
  trained exactly like ``digits-mmdit``: same width, depth, steps, batch and learning rate;
- ``digits-no-refiners``: the single-stream model with ``n_refiner_layers=0`` and as many main
  blocks as the single-stream model has refiner and main blocks together (lesson 4's ablation),
  so an image token passes through the same number of blocks: equal compute per image token.

Training parameters per profile come from [`snippets.digits.training`][snippets.digits.training].
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
from snippets.params import count_parameters


def on_cpu_threads(func):
    """Decorator for producers: run the body under [`cpu_threads`][snippets.digits.training.cpu_threads] on the context's device."""

    @functools.wraps(func)
    def wrapper(ctx, **params):
        with cpu_threads(ctx.device):
            return func(ctx, **params)

    return wrapper


def naive_concat_params() -> dict:
    """``{"cpu": ..., "gpu": ...}``: the MMDiT's training parameters with one set of weights.

    Examples:
        >>> cpu = naive_concat_params()["cpu"]
        >>> cpu["share_weights"], {k: v for k, v in cpu.items() if k != "share_weights"} == TRAIN_PARAMS["mmdit"]["cpu"]
        (True, True)
    """
    return {p: {**TRAIN_PARAMS["mmdit"][p], "share_weights": True} for p in ("cpu", "gpu")}


def no_refiners_params() -> dict:
    """``{"cpu": ..., "gpu": ...}``: the single-stream model's parameters with its refiner blocks
    turned into main blocks (same blocks per image token, same steps and learning rate).

    Examples:
        >>> ss, ablation = TRAIN_PARAMS["single-stream"]["cpu"], no_refiners_params()["cpu"]
        >>> ablation["n_refiner_layers"], ablation["depth"] == ss["depth"] + ss["n_refiner_layers"]
        (0, True)
        >>> ablation["steps"] == ss["steps"] and ablation["lr"] == ss["lr"]
        True
    """
    out = {}
    for p in ("cpu", "gpu"):
        base = TRAIN_PARAMS["single-stream"][p]
        depth = base["depth"] + base["n_refiner_layers"]
        out[p] = {**base, "n_refiner_layers": 0, "depth": depth}
    return out


TEXT_MODELS = {
    "digits-mmdit": ("mmdit", TRAIN_PARAMS["mmdit"]),
    "digits-naive-concat": ("mmdit", naive_concat_params()),
    "digits-single-stream": ("single-stream", TRAIN_PARAMS["single-stream"]),
    "digits-no-refiners": ("single-stream", no_refiners_params()),
}
"""Each text model's artifact name: its kind and training parameters."""

TEXT_MODEL_NAMES = {
    "digits-mmdit": MODEL_NAMES["mmdit"],
    "digits-naive-concat": "naive-concatenation model",
    "digits-single-stream": MODEL_NAMES["single-stream"],
    "digits-no-refiners": "single-stream model without refiners",
}
"""How sentences name each text model."""

SUMMARY = (
    "The {name} has **{parameters:,}** {trained}parameters (width {config.hidden_size}, {blocks}, "
    "{what} in patches of {config.patch_size}) and trained for **{config.steps:,}** steps of "
    "{config.batch_size} {unit} on {where} (AdamW, peak learning rate {config.lr:g}, condition "
    "dropped for {dropped:g}% of the {unit}); the last training loss was {loss:.3f}.{encoder}"
)
"""The model summary under each trained model on the pages (``model.md``). No seconds: the
fragment must come out the same on every run; the pipeline prints the seconds."""
ENCODER = (
    " Its captions are read by the frozen text encoder ({encoder:,} fixed parameters, not "
    "trained), the same for every text model."
)


def blocks_phrase(config: GeneratorConfig) -> str:
    """The blocks of a model, in words.

    Examples:
        >>> blocks_phrase(GeneratorConfig("single-stream", depth=3, n_refiner_layers=1))
        '1 + 1 refiner and 3 shared blocks'
        >>> blocks_phrase(GeneratorConfig("mmdit", depth=4, share_weights=True))
        '4 joint blocks whose weights every token shares'
    """
    if config.kind == "single-stream":
        if config.n_refiner_layers == 0:
            return f"no refiners, {config.depth} shared blocks"
        n = config.n_refiner_layers
        return f"{n} + {n} refiner and {config.depth} shared blocks"
    if config.kind == "mmdit":
        shared = " whose weights every token shares" if config.share_weights else ""
        return f"{config.depth} joint blocks{shared}"
    return f"{config.depth} block{'s' if config.depth > 1 else ''}"


def _train_artifact(ctx, kind: str, params: dict, name: str) -> None:
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
    _, height, width = config.image_shape
    scenes = kind != "dit"
    encoder = count_parameters(trained.model.text_encoder) if scenes else 0
    ctx.save_table(
        SUMMARY.format(
            name=name,
            parameters=trained.parameters - encoder,
            trained="trained " if scenes else "",
            config=config,
            blocks=blocks_phrase(config),
            what=(
                f"{height}x{width} two-digit scenes drawn from their captions"
                if scenes
                else f"{height}x{width} digits"
            ),
            unit="scenes" if scenes else "digits",
            where=where,
            dropped=100 * config.p_uncond,
            loss=trained.losses[-1],
            encoder=ENCODER.format(encoder=encoder) if scenes else "",
        ),
        "model.md",
    )


@producer("digits-dit", params=TRAIN_PARAMS["dit"])
def digits_dit(ctx, **params):
    """Train the class-conditional DiT; save its EMA weights and training record."""
    _train_artifact(ctx, "dit", params, MODEL_NAMES["dit"])


@producer("digits-mmdit", params=TEXT_MODELS["digits-mmdit"][1])
def digits_mmdit(ctx, **params):
    """Train the caption-conditioned MMDiT on scenes; save its EMA weights and training record."""
    _train_artifact(ctx, "mmdit", params, TEXT_MODEL_NAMES["digits-mmdit"])


@producer("digits-naive-concat", params=TEXT_MODELS["digits-naive-concat"][1])
def digits_naive_concat(ctx, **params):
    """Train the MMDiT with shared weights (naive concatenation) exactly like ``digits-mmdit``."""
    _train_artifact(ctx, "mmdit", params, TEXT_MODEL_NAMES["digits-naive-concat"])


@producer("digits-single-stream", params=TEXT_MODELS["digits-single-stream"][1])
def digits_single_stream(ctx, **params):
    """Train the caption-conditioned single-stream model on scenes; save its EMA weights."""
    _train_artifact(ctx, "single-stream", params, TEXT_MODEL_NAMES["digits-single-stream"])


@producer("digits-no-refiners", params=TEXT_MODELS["digits-no-refiners"][1])
def digits_no_refiners(ctx, **params):
    """Train the single-stream model without refiners, at equal blocks per image token."""
    _train_artifact(ctx, "single-stream", params, TEXT_MODEL_NAMES["digits-no-refiners"])


TRAINED = {kind: f"digits-{kind}" for kind in KINDS}
"""Artifact name of each kind's trained generator (the lessons' three models)."""


def load_all(ctx) -> dict[str, tuple[nn.Module, dict]]:
    """Load every trained generator a producer ``needs``: ``{kind: (model, info)}``."""
    return {kind: load_trained(ctx.input(name), ctx.device) for kind, name in TRAINED.items()}

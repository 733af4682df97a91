"""Real-size tables of lesson 3 (``sd3-tables``): SD3's three text encoders and three MMDiT-family transformers."""

from __future__ import annotations

from sitetools.pipeline import producer
from snippets.sd3 import (
    adaln_zero_parameters,
    encoder_rows,
    encoder_table,
    joint_sequence,
    transformer_rows,
    transformer_table,
)


@producer("sd3-tables")
def sd3_tables(ctx):
    """Encoder and transformer tables, counted on the meta device from configurations in code."""
    encoders = encoder_rows()
    ctx.save_table(
        encoder_table(encoders)
        + "\n\n*Built on PyTorch's meta device from the `config.json` files of "
        "stabilityai/stable-diffusion-3-medium-diffusers (`text_encoder`, `text_encoder_2`, `text_encoder_3`) "
        "and run on one prompt padded as `StableDiffusion3Pipeline` pads it. Per-token output: CLIP's "
        "penultimate layer, T5's last; pooled: CLIP's projected end-of-text vector.*",
        "encoders.md",
    )
    transformers = transformer_rows()
    ctx.save_table(
        transformer_table(transformers)
        + "\n\n*Built on the meta device from the `transformer/config.json` files of "
        "stabilityai/stable-diffusion-3-medium-diffusers, stabilityai/stable-diffusion-3.5-large and "
        "black-forest-labs/FLUX.1-dev.*",
        "transformers.md",
    )
    ctx.save_json(
        {
            "encoders": [{k: v for k, v in r.items()} for r in encoders],
            "transformers": transformers,
            "adaln_zero_sd3_medium": adaln_zero_parameters("SD3-medium"),
            "joint_sequence_1024": joint_sequence(),
        },
        "tables.json",
    )

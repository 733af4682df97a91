"""Real-size tables of lesson 3 (``sd3-tables``): SD3's three text encoders and three MMDiT-family transformers."""

from __future__ import annotations

from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.sd3 import (
    adaln_zero_parameters,
    encoder_rows,
    joint_sequence,
    transformer_rows,
)

ENCODERS_NOTE = (
    "*Built on PyTorch's meta device from the `config.json` files of "
    "stabilityai/stable-diffusion-3-medium-diffusers (`text_encoder`, `text_encoder_2`, "
    "`text_encoder_3`) and run on one prompt padded as `StableDiffusion3Pipeline` pads it. "
    "Per-token output: CLIP's penultimate layer, T5's last; pooled: CLIP's projected end-of-text "
    "vector.*"
)
TRANSFORMERS_NOTE = (
    "*Built on the meta device from the `transformer/config.json` files of "
    "stabilityai/stable-diffusion-3-medium-diffusers, stabilityai/stable-diffusion-3.5-large and "
    "black-forest-labs/FLUX.1-dev.*"
)


def parameters_cell(n: int, bold: bool = False) -> str:
    """A parameter count, exact and rounded: billions from 1e9 up, millions below.

    Examples:
        >>> parameters_cell(123_060_480), parameters_cell(4_762_310_656, bold=True)
        ('123,060,480 (123 M)', '**4,762,310,656** (4.76 B)')
    """
    exact = f"**{n:,}**" if bold else f"{n:,}"
    rounded = f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.0f} M"
    return f"{exact} ({rounded})"


def encoder_table(rows: list[dict]) -> str:
    """[`encoder_rows`][snippets.sd3.encoder_rows] as a Markdown table, with a total row.

    Examples:
        >>> row = {"name": "tiny", "parameters": 2_000_000, "layers": 2, "width": 8,
        ...        "tokens": (77, 8), "pooled": None, "trained on": "nothing"}
        >>> print(encoder_table([row]))
        | Encoder | Parameters | Layers x width | Per-token output | Pooled | Trained on |
        |---|---:|---:|---|---:|---|
        | tiny | 2,000,000 (2 M) | 2 x 8 | `[77, 8]` | none | nothing |
        | **all three** | **2,000,000** (2 M) |  |  |  |  |
    """
    header = ["Encoder", "Parameters", "Layers x width", "Per-token output", "Pooled", "Trained on"]
    cells = [
        [
            r["name"],
            parameters_cell(r["parameters"]),
            f"{r['layers']} x {r['width']}",
            f"`[{r['tokens'][0]}, {r['tokens'][1]}]`",
            f"`[{r['pooled']}]`" if r["pooled"] else "none",
            r["trained on"],
        ]
        for r in rows
    ]
    total = sum(r["parameters"] for r in rows)
    cells.append(["**all three**", parameters_cell(total, bold=True), "", "", "", ""])
    return markdown_table(header, cells, align="lrrlrl")


def transformer_table(rows: list[dict]) -> str:
    """[`transformer_rows`][snippets.sd3.transformer_rows] as a Markdown table.

    Examples:
        >>> row = {"name": "tiny", "parameters": 5_000_000, "width": 64, "heads": 2, "joint": 2,
        ...        "single": 0, "pooled": 32, "guidance embedding": False}
        >>> print(transformer_table([row]).splitlines()[2])
        | tiny | 5,000,000 (5 M) | 64 | 2 | 2 | 0 | 32 | no |
    """
    header = [
        "Model",
        "Parameters",
        "Width",
        "Heads",
        "Dual-stream blocks",
        "Single-stream blocks",
        "Pooled text width",
        "Guidance embedding",
    ]
    cells = [
        [
            r["name"],
            parameters_cell(r["parameters"]),
            r["width"],
            r["heads"],
            r["joint"],
            r["single"],
            r["pooled"],
            "yes" if r["guidance embedding"] else "no",
        ]
        for r in rows
    ]
    return markdown_table(header, cells, align="lrrrrrrl")


@producer("sd3-tables")
def sd3_tables(ctx):
    """Encoder and transformer tables, counted on the meta device from configurations in code."""
    encoders = encoder_rows()
    ctx.save_table(encoder_table(encoders) + "\n\n" + ENCODERS_NOTE, "encoders.md")
    transformers = transformer_rows()
    ctx.save_table(transformer_table(transformers) + "\n\n" + TRANSFORMERS_NOTE, "transformers.md")
    ctx.save_json(
        {
            "encoders": [{k: v for k, v in r.items()} for r in encoders],
            "transformers": transformers,
            "adaln_zero_sd3_medium": adaln_zero_parameters("SD3-medium"),
            "joint_sequence_1024": joint_sequence(),
        },
        "tables.json",
    )

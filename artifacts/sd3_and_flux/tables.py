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
    r"""A parameter count, exact and rounded: billions from 1e9 up, millions below.

    A no-break space keeps the rounded figure and its unit on one line in a narrow column.

    Examples:
        >>> parameters_cell(123_060_480), parameters_cell(4_762_310_656, bold=True)
        ('123,060,480 (123\xa0M)', '**4,762,310,656** (4.76\xa0B)')
    """
    exact = f"**{n:,}**" if bold else f"{n:,}"
    rounded = f"{n / 1e9:.2f}\u00a0B" if n >= 1e9 else f"{n / 1e6:.0f}\u00a0M"
    return f"{exact} ({rounded})"


def encoder_table(rows: list[dict]) -> str:
    """[`encoder_rows`][snippets.sd3.encoder_rows] as a Markdown table, one column per encoder
    and a last column with the total.

    Examples:
        >>> row = {"name": "tiny", "parameters": 2_000_000, "layers": 2, "width": 8,
        ...        "tokens": (77, 8), "pooled": None, "trained on": "nothing"}
        >>> print(encoder_table([row]))
        | Text encoder | tiny | all together |
        |---|---|---|
        | Parameters | 2,000,000 (2 M) | **2,000,000** (2 M) |
        | Layers x width | 2 x 8 |  |
        | Per-token output | `[77, 8]` |  |
        | Pooled | none |  |
        | Trained on | nothing |  |
    """
    total = sum(r["parameters"] for r in rows)
    properties = [
        ("Parameters", lambda r: parameters_cell(r["parameters"]), parameters_cell(total, True)),
        ("Layers x width", lambda r: f"{r['layers']} x {r['width']}", ""),
        ("Per-token output", lambda r: f"`[{r['tokens'][0]}, {r['tokens'][1]}]`", ""),
        ("Pooled", lambda r: f"`[{r['pooled']}]`" if r["pooled"] else "none", ""),
        ("Trained on", lambda r: r["trained on"], ""),
    ]
    header = ["Text encoder", *(r["name"] for r in rows), "all together"]
    cells = [[label, *(value(r) for r in rows), last] for label, value, last in properties]
    return markdown_table(header, cells, align="left")


def transformer_table(rows: list[dict]) -> str:
    """[`transformer_rows`][snippets.sd3.transformer_rows] as a Markdown table, one column per model.

    Models are the columns and properties the rows, so three models fit the page's width where
    eight property columns would not.

    Examples:
        >>> row = {"name": "tiny", "parameters": 5_000_000, "width": 64, "heads": 2, "joint": 2,
        ...        "single": 0, "pooled": 32, "guidance embedding": False}
        >>> print(transformer_table([row]))
        | Model | tiny |
        |---|---:|
        | Parameters | 5,000,000 (5 M) |
        | Width | 64 |
        | Heads | 2 |
        | Dual-stream blocks | 2 |
        | Single-stream blocks | 0 |
        | Pooled text width | 32 |
        | Guidance embedding | no |
    """
    properties = [
        ("Parameters", lambda r: parameters_cell(r["parameters"])),
        ("Width", lambda r: r["width"]),
        ("Heads", lambda r: r["heads"]),
        ("Dual-stream blocks", lambda r: r["joint"]),
        ("Single-stream blocks", lambda r: r["single"]),
        ("Pooled text width", lambda r: r["pooled"]),
        ("Guidance embedding", lambda r: "yes" if r["guidance embedding"] else "no"),
    ]
    header = ["Model", *(r["name"] for r in rows)]
    cells = [[label, *(value(r) for r in rows)] for label, value in properties]
    return markdown_table(header, cells, align="l" + "r" * len(rows))


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

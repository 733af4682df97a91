"""Figures and tables for the diffusion-transformers lesson, produced by the site build.

Each producer computes what it draws with the lesson's own code ([`snippets.patchify`][snippets.patchify],
[`snippets.params`][snippets.params], real-size models on the ``meta`` device), so the pictures and the
tables on the page cannot drift from the code. Run them with
``python -m snippets.build --only dit-patchify dit-patch-cost dit-scaling``.

Style: white background (readable in light and dark mode), the Okabe-Ito colour-blind-safe
palette, about 8 x 4 inches.
"""

from __future__ import annotations

import numpy as np
import torch

from snippets.build import producer
from snippets.dit import build_dit
from snippets.params import (
    PAPER_GFLOPS,
    attention_cost,
    dit_family_rows,
    dit_family_table,
    dit_gflops,
    parameter_breakdown,
    patch_size_rows,
    patch_size_table,
)
from snippets.patchify import num_patches, patchify

__all__ = [
    "PALETTE",
    "new_figure",
    "stand_in_latent",
    "dit_patchify_figure",
    "dit_patch_cost_figure",
    "dit_scaling_figure",
]

PALETTE = {  # Okabe-Ito
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#555555",
}
SIZES = ("S", "B", "L", "XL")
SIZE_COLOURS = {"S": PALETTE["sky"], "B": PALETTE["green"], "L": PALETTE["orange"], "XL": PALETTE["vermillion"]}
PATCH_COLOURS = {2: PALETTE["vermillion"], 4: PALETTE["blue"], 8: PALETTE["green"]}


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (8, 4), **kwargs):
    """A matplotlib figure in the lesson's style: white background, light grid, no top/right spines.

    Args:
        nrows: subplot rows.
        ncols: subplot columns.
        figsize: inches.
        **kwargs: passed to ``plt.subplots``.

    Returns:
        ``(fig, axes)`` as from ``plt.subplots``.

    Examples:
        >>> fig, ax = new_figure()
        >>> fig.get_facecolor()[:3]
        (1.0, 1.0, 1.0)
        >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "savefig.facecolor": "white",
        }
    )
    return plt.subplots(nrows, ncols, figsize=figsize, **kwargs)


def stand_in_latent(size: int = 32) -> np.ndarray:
    """A ``size x size`` RGB picture (scikit-learn's bundled flower photo, centre crop, box-averaged)
    standing in for a latent: an SD-VAE latent looks like a small, blurred copy of its image.

    Args:
        size: output side; must divide the crop side (416).

    Returns:
        ``[size, size, 3]`` floats in [0, 1].

    Examples:
        >>> stand_in_latent(32).shape
        (32, 32, 3)
    """
    from sklearn.datasets import load_sample_image

    image = load_sample_image("flower.jpg").astype(np.float64) / 255.0  # [427, 640, 3]
    crop = 416
    top, left = (image.shape[0] - crop) // 2, (image.shape[1] - crop) // 2 + 40
    image = image[top : top + crop, left : left + crop]
    k = crop // size
    return image.reshape(size, k, size, k, 3).mean(axis=(1, 3))


def _draw_grid(ax, picture: np.ndarray, p: int, colour: str) -> None:
    side = picture.shape[0]
    ax.imshow(picture, interpolation="nearest", extent=(0, side, side, 0))
    for edge in range(0, side + 1, p):
        ax.axhline(edge, color=colour, lw=0.8 if p > 2 else 0.4)
        ax.axvline(edge, color=colour, lw=0.8 if p > 2 else 0.4)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    n = num_patches(side, side, p)
    ax.set_title(f"p = {p}: {side // p} × {side // p} = {n} tokens\nof {p}·{p}·4 = {p * p * 4} values")


@producer("dit-patchify")
def dit_patchify_figure(ctx, size: int = 32, sequence_patch: int = 8) -> None:
    """How a 32 x 32 latent is cut into patches at p = 8, 4, 2, and the p = 8 patches as a sequence.

    Args:
        ctx: the pipeline's [`Context`][snippets.build.Context].
        size: side of the stand-in latent.
        sequence_patch: patch side of the sequence strip.

    Examples:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> from snippets.build import Context
        >>> out = Path(tempfile.mkdtemp())
        >>> ctx = Context("dit-patchify", out, torch.device("cpu"), "cpu", 0, root=out)
        >>> dit_patchify_figure(ctx)
        >>> sorted(p.name for p in out.iterdir())
        ['patchify.png']
    """
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec

    picture = stand_in_latent(size)
    fig, _ = new_figure(figsize=(8, 3.9))
    fig.clf()
    grid = GridSpec(2, 3, height_ratios=[3, 0.9], hspace=0.25, figure=fig, top=0.88, bottom=0.0)
    for col, p in enumerate((8, 4, 2)):
        _draw_grid(fig.add_subplot(grid[0, col]), picture, p, "white")

    # The p = 8 patches in patchify's order, computed by patchify itself.
    tensor = torch.from_numpy(picture).permute(2, 0, 1)[None].float()  # [1, 3, H, W]
    tokens = patchify(tensor, sequence_patch)[0]  # [L, p*p*3], values ordered (row, col, channel)
    strip = fig.add_subplot(grid[1, :])
    strip.axis("off")
    n = tokens.shape[0]
    for k in range(n):
        tile = tokens[k].reshape(sequence_patch, sequence_patch, 3).numpy()
        x0 = k * 1.1
        strip.imshow(tile, extent=(x0, x0 + 1, 0, 1), interpolation="nearest")
        strip.text(x0 + 0.5, -0.25, str(k), ha="center", va="top", fontsize=8)
    strip.set_xlim(-0.1, n * 1.1)
    strip.set_ylim(-0.6, 1.1)
    strip.set_title(
        f"p = {sequence_patch}: the {n} patches in reading order → [{n}, {sequence_patch}·{sequence_patch}·C] "
        f"→ one Linear → [{n}, D] tokens",
        fontsize=10,
    )
    ctx.save_figure(
        fig,
        "patchify.png",
        alt=(
            f"Top: a {size} by {size} picture standing in for a latent, cut into patches of side 8, 4 "
            f"and 2, giving 16, 64 and 256 tokens. Bottom: the 16 patches of side 8 laid out in "
            "reading order, numbered 0 to 15, as the token sequence the transformer sees."
        ),
        caption=(
            f"Patchify: the same {size} × {size} grid cut at p = 8, 4 and 2. A scikit-learn sample "
            "photo, box-averaged to 32 × 32, stands in for the latent (a real [4, 32, 32] SD-VAE "
            "latent has 4 channels; with C = 4 each token holds p·p·4 values)."
        ),
    )


@producer("dit-patch-cost")
def dit_patch_cost_figure(ctx, latent_sizes: tuple = (32, 64, 128), patch_sizes: tuple = (2, 4, 8)) -> None:
    """Tokens and relative attention cost against patch size and latent resolution, plus the table
    ``patch-size-table.md`` for a ``[4, 64, 64]`` latent at p = 8, 4, 2.

    Args:
        ctx: the pipeline's [`Context`][snippets.build.Context].
        latent_sizes: latent sides on the x axis.
        patch_sizes: one line per patch size; the largest is the cost reference.

    Examples:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> from snippets.build import Context
        >>> out = Path(tempfile.mkdtemp())
        >>> ctx = Context("dit-patch-cost", out, torch.device("cpu"), "cpu", 0, root=out)
        >>> dit_patch_cost_figure(ctx)
        >>> sorted(p.name for p in out.iterdir())
        ['patch-cost.png', 'patch-size-table.json', 'patch-size-table.md']
    """
    from matplotlib.ticker import FuncFormatter

    fig, (ax_tokens, ax_cost) = new_figure(1, 2, figsize=(8, 3.8))
    sides = list(latent_sizes)
    reference = attention_cost(min(sides), max(patch_sizes))
    for p in sorted(patch_sizes):
        tokens = [num_patches(s, s, p) for s in sides]
        cost = [attention_cost(s, p) / reference for s in sides]
        style = dict(color=PATCH_COLOURS.get(p, PALETTE["grey"]), marker="o", label=f"p = {p}")
        ax_tokens.plot(sides, tokens, **style)
        ax_cost.plot(sides, cost, **style)
        for s, n, k in zip(sides, tokens, cost):
            ax_tokens.annotate(f"{n:,}", (s, n), textcoords="offset points", xytext=(4, 4), fontsize=8)
            ax_cost.annotate(f"{k:,.0f}×", (s, k), textcoords="offset points", xytext=(4, 4), fontsize=8)
    for ax in (ax_tokens, ax_cost):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xticks(sides, [f"{s}×{s}" for s in sides])
        ax.set_xlim(min(sides) / 1.25, max(sides) * 1.4)
        ax.set_xlabel("latent size (H × W)")
        ax.minorticks_off()
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax_tokens.set_ylabel("tokens L = (H/p)·(W/p)")
    ax_tokens.set_title("Sequence length")
    ax_cost.set_ylabel(f"L², relative to {min(sides)}×{min(sides)} at p = {max(patch_sizes)}")
    ax_cost.set_title("Attention cost per layer (∝ L²)")
    ax_cost.legend(frameon=False)
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "patch-cost.png",
        alt=(
            "Two log-log line charts. Left: tokens against latent size for patch sizes 2, 4 and 8; "
            "halving the patch size or doubling the latent side multiplies the tokens by 4. Right: "
            "attention cost, proportional to tokens squared, grows 16-fold for each such step."
        ),
        caption=(
            "Patch size is DiT's resolution knob: halving p multiplies the tokens by 4 and the "
            "attention matrix by 16, exactly as doubling the latent side does."
        ),
    )
    ctx.save_table(patch_size_table((4, 64, 64), (8, 4, 2)), "patch-size-table.md")
    ctx.save_json(patch_size_rows((4, 64, 64), (8, 4, 2)), "patch-size-table.json")


@producer("dit-scaling")
def dit_scaling_figure(ctx) -> None:
    """Parameters against width and depth for the DiT family (real size, meta device), plus the
    tables ``dit-family.md`` (ours, reference code, diffusers, paper, the gap explained) and
    ``dit-gflops.md`` (forward cost against the paper's Table 1).

    Args:
        ctx: the pipeline's [`Context`][snippets.build.Context].

    Examples:
        >>> from snippets.params import dit_family_rows
        >>> [r["name"] for r in dit_family_rows()]      # the rows this producer draws and tabulates
        ['DiT-S/2', 'DiT-B/2', 'DiT-L/2', 'DiT-XL/2']
    """
    rows = dit_family_rows(patch_size=2)
    fig, (ax_params, ax_parts) = new_figure(1, 2, figsize=(8.5, 4), gridspec_kw={"width_ratios": [1.1, 1]})

    widths = np.linspace(300, 1250, 100)
    for depth, colour in ((12, PALETTE["grey"]), (24, PALETTE["orange"]), (28, PALETTE["vermillion"])):
        ax_params.plot(widths, depth * 18 * widths**2 / 1e6, color=colour, lw=1, ls="--",
                       label=f"N · 18·D², N = {depth}")
    for r in rows:
        size = r["name"].split("-")[1].split("/")[0]
        ax_params.scatter(r["hidden_size"], r["ours"] / 1e6, s=60, color=SIZE_COLOURS[size], zorder=3,
                          edgecolor="black", linewidth=0.6)
        small = r["ours"] < 60e6  # no room above the smallest point: one line to its right
        sep = ", " if small else "\n"
        ax_params.annotate(
            f"{r['name']}: {r['ours'] / 1e6:.1f}M{sep}N = {r['depth']}, D = {r['hidden_size']}",
            (r["hidden_size"], r["ours"] / 1e6), textcoords="offset points",
            xytext=(9, -3) if small else (9, -12), ha="left", fontsize=8,
        )
    ax_params.set_xlabel("width D (hidden size)")
    ax_params.set_ylabel("parameters (millions)")
    ax_params.set_title("Two knobs: width D and depth N")
    ax_params.set_ylim(0, 800)
    ax_params.set_xlim(250, 1650)
    ax_params.legend(frameon=False, loc="upper left", fontsize=8)

    groups = ["attention", "mlp", "adaLN", "patch embedding", "embedders", "final layer"]
    colours = [PALETTE["blue"], PALETTE["green"], PALETTE["vermillion"], PALETTE["yellow"],
               PALETTE["purple"], PALETTE["grey"]]
    names = [r["name"] for r in rows]
    breakdowns = [parameter_breakdown(build_dit(name)) for name in names]
    left = np.zeros(len(names))
    for group, colour in zip(groups, colours):
        share = np.array([b.get(group, 0) / sum(b.values()) for b in breakdowns])
        ax_parts.barh(names, share * 100, left=left * 100, color=colour, label=group, edgecolor="white")
        for row, (x0, w) in enumerate(zip(left, share)):
            if w > 0.08:
                ax_parts.text(100 * (x0 + w / 2), row, f"{100 * w:.0f}%", ha="center", va="center",
                              fontsize=8, color="white" if group in ("attention", "final layer") else "black")
        left += share
    ax_parts.invert_yaxis()
    ax_parts.set_xlabel("share of parameters (%)")
    ax_parts.set_title("Where the parameters are")
    ax_parts.set_xlim(0, 100)
    ax_parts.grid(axis="y", visible=False)
    ax_parts.legend(frameon=False, fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    xl = breakdowns[-1]
    share = {g: round(100 * xl.get(g, 0) / sum(xl.values())) for g in groups}
    ctx.save_figure(
        fig,
        "scaling.png",
        alt=(
            "Left: parameters in millions against width for DiT-S/2, B/2, L/2 and XL/2 "
            f"({', '.join(format(r['ours'] / 1e6, '.0f') + 'M' for r in rows)}), each on a dashed curve "
            "N times 18 D squared for its depth. Right: stacked bars of each model's parameter "
            f"shares; for DiT-XL/2, attention {share['attention']}%, MLP {share['mlp']}%, "
            f"adaLN {share['adaLN']}%, embeddings and final layer the rest."
        ),
        caption=(
            "Every DiT block holds 18·D² + 15·D parameters (attention 4·D², MLP 8·D², adaLN 6·D²), so "
            "a DiT's size is close to N · 18·D²: two knobs. Counted at real size on the meta device."
        ),
    )
    ctx.save_table(dit_family_table(2), "dit-family.md")
    ctx.save_json(rows, "dit-family.json")

    lines = [
        "| Model | Gflops p = 2 | Gflops p = 4 | Gflops p = 8 | Paper, p = 4 |",
        "|---|--:|--:|--:|--:|",
    ]
    for size in SIZES:
        values = " | ".join(f"{dit_gflops(f'DiT-{size}/{p}'):.1f}" for p in (2, 4, 8))
        lines.append(f"| DiT-{size} | {values} | {PAPER_GFLOPS[size]} |")
    ctx.save_table("\n".join(lines), "dit-gflops.md")

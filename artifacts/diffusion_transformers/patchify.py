"""Lesson 2, section Patchify: how a latent is cut into patch tokens (``dit-patchify``)."""

from __future__ import annotations

import numpy as np
import torch

from artifacts.plotting import (
    new_figure,
    stand_in_latent,
)
from sitetools.pipeline import producer
from snippets.patchify import num_patches, patchify


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
    ax.set_title(
        f"p = {p}: {side // p} × {side // p} = {n} tokens\nof {p}·{p}·4 = {p * p * 4} values"
    )


@producer("dit-patchify")
def dit_patchify_figure(ctx, size: int = 32, sequence_patch: int = 8) -> None:
    """How a 32 x 32 latent is cut into patches at p = 8, 4, 2, and the p = 8 patches as a sequence.

    Args:
        ctx: the pipeline's [`Context`][sitetools.pipeline.Context].
        size: side of the stand-in latent.
        sequence_patch: patch side of the sequence strip.

    Examples:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> from sitetools.pipeline import Context
        >>> out = Path(tempfile.mkdtemp())
        >>> ctx = Context("dit-patchify", out, torch.device("cpu"), "cpu", 0, root=out)
        >>> dit_patchify_figure(ctx)
        >>> sorted(p.name for p in out.iterdir())
        ['patchify.png']
    """
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

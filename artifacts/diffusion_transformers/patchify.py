"""Lesson 2, patchify and positions: how a latent is cut into patch tokens (``dit-patchify``) and
how alike the fixed positional vectors of the patches are (``dit-positions``)."""

from __future__ import annotations

import numpy as np
import torch

from artifacts.diffusion_transformers.scaling import listing
from artifacts.plotting import (
    new_figure,
    stand_in_latent,
)
from sitetools.pipeline import producer
from snippets.patchify import get_2d_sincos_pos_embed, num_patches, patchify

PATCH_SIDES = (8, 4, 2)
"""The patch sides of the patchify figure, largest first."""


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
    for col, p in enumerate(PATCH_SIDES):
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
            f"Top: a {size} by {size} picture standing in for a latent, cut into patches of side "
            f"{listing([str(p) for p in PATCH_SIDES])}, giving "
            f"{listing([str(num_patches(size, size, p)) for p in PATCH_SIDES])} tokens. Bottom: the "
            f"{n} patches of side {sequence_patch} laid out in reading order, numbered 0 to "
            f"{n - 1}, as the token sequence the transformer sees."
        ),
        caption=(
            f"Patchify: the same {size} × {size} grid cut at p = "
            f"{listing([str(p) for p in PATCH_SIDES])}. A scikit-learn sample "
            "photo, box-averaged to 32 × 32, stands in for the latent (a real [4, 32, 32] SD-VAE "
            "latent has 4 channels; with C = 4 each token holds p·p·4 values)."
        ),
    )


POSITIONS_ALT = (
    "Two heat maps of a {grid} by {grid} grid of patches, one square per patch, coloured by the "
    "cosine similarity of its positional vector (width {width}) to the vector of one outlined patch: "
    "{anchors}. The outlined patch scores 1; {neighbours}; the lowest value on each map is "
    "{lowest}. Patches in the outlined patch's own row or column average {line:.2f}, {compare} "
    "the {rest:.2f} of the patches elsewhere."
)
"""The alt text of the positions figure, filled in from the table."""


def similarity_maps(width: int, grid: int, anchors: list[tuple[int, int]]) -> list[torch.Tensor]:
    """Cosine similarity of every patch's positional vector to the vector of each anchor patch.

    Args:
        width: token width ``D`` of the table.
        grid: side of the square grid of patches.
        anchors: ``(row, column)`` of each anchor patch.

    Returns:
        One ``[grid, grid]`` map per anchor, row by row as the patches are read.

    Examples:
        >>> maps = similarity_maps(64, 4, [(0, 0), (2, 3)])
        >>> [tuple(m.shape) for m in maps], round(maps[1][2, 3].item(), 4)
        ([(4, 4), (4, 4)], 1.0)
    """
    table = get_2d_sincos_pos_embed(width, grid)  # [grid * grid, D], row-major like patchify
    unit = torch.nn.functional.normalize(table, dim=1)
    return [(unit @ unit[grid * row + column]).reshape(grid, grid) for row, column in anchors]


@producer("dit-positions")
def dit_positions_figure(ctx, grid: int = 16, width: int = 1152, anchors=((3, 3), (8, 12))) -> None:
    """Heat maps of the fixed 2D sine-cosine table: how alike each patch's vector is to one patch's.

    Args:
        ctx: the pipeline's [`Context`][sitetools.pipeline.Context].
        grid: side of the patch grid (16 for DiT-XL/2 on a 32 x 32 latent).
        width: token width ``D`` (1152 for DiT-XL).
        anchors: ``(row, column)`` of the patch each map compares against.

    Examples:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> from sitetools.pipeline import Context
        >>> out = Path(tempfile.mkdtemp())
        >>> ctx = Context("dit-positions", out, torch.device("cpu"), "cpu", 0, root=out)
        >>> dit_positions_figure(ctx, grid=8, width=64, anchors=[(1, 1), (5, 6)])
        >>> sorted(p.name for p in out.iterdir())
        ['positions.png']
    """
    from matplotlib.patches import Rectangle

    anchors = [tuple(a) for a in anchors]
    maps = similarity_maps(width, grid, anchors)
    low = min(m.min().item() for m in maps)
    # One map above the other: the figure stays readable on a phone-wide column.
    fig, axes = new_figure(
        len(anchors), 1, figsize=(3.5, 2.8 * len(anchors) + 0.8), layout="constrained"
    )
    for ax, (row, column), sims in zip(axes, anchors, maps):
        image = ax.imshow(sims.numpy(), cmap="viridis", vmin=low, vmax=1.0)
        ax.add_patch(
            Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="white", lw=2.5)
        )
        ax.add_patch(
            Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="black", lw=1.0)
        )
        ax.set_title(f"similarity to patch ({row}, {column})")
        ax.set_xlabel("column")
        ax.set_ylabel("row")
        ax.set_xticks(range(0, grid, 5))
        ax.set_yticks(range(0, grid, 5))
        ax.grid(False)
    fig.colorbar(image, ax=list(axes), location="bottom", shrink=0.9, label="cosine similarity")

    def neighbour(row, column, sims):
        right = column + 1 if column + 1 < grid else column - 1
        return f"its neighbour ({row}, {right}) scores {sims[row, right].item():.2f}"

    def lowest(row, column, sims):
        k = int(sims.argmin())
        return f"{sims.min().item():.2f} at ({k // grid}, {k % grid}) for ({row}, {column})"

    on_line, off_line = [], []
    for (row, column), sims in zip(anchors, maps):
        for r in range(grid):
            for c in range(grid):
                if (r, c) != (row, column):
                    (on_line if r == row or c == column else off_line).append(sims[r, c].item())
    line, rest = sum(on_line) / len(on_line), sum(off_line) / len(off_line)
    ctx.save_figure(
        fig,
        "positions.png",
        alt=POSITIONS_ALT.format(
            grid=grid,
            width=width,
            anchors=listing([f"({r}, {c})" for r, c in anchors]),
            neighbours="; ".join(neighbour(r, c, m) for (r, c), m in zip(anchors, maps)),
            lowest=" and ".join(lowest(r, c, m) for (r, c), m in zip(anchors, maps)),
            line=line,
            rest=rest,
            compare="above" if line > rest else "not above",
        ),
        caption=(
            f"The fixed positional table of a {grid} × {grid} grid of patches (width {width}): "
            "each square is one patch, coloured by how alike its position vector is to the "
            "outlined patch's. Near patches get similar vectors."
        ),
    )

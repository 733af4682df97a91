"""Lesson 2, patch size and cost: tokens and attention cost by patch size (``dit-patch-cost``)."""

from __future__ import annotations

from artifacts.plotting import (
    PALETTE,
    PATCH_COLOURS,
    new_figure,
)
from sitetools.pipeline import producer
from snippets.params import (
    attention_cost,
    patch_size_rows,
    patch_size_table,
)
from snippets.patchify import num_patches


@producer("dit-patch-cost")
def dit_patch_cost_figure(
    ctx, latent_sizes: tuple = (32, 64, 128), patch_sizes: tuple = (2, 4, 8)
) -> None:
    """Tokens and relative attention cost against patch size and latent resolution, plus the table
    ``patch-size-table.md`` for a ``[4, 64, 64]`` latent at p = 8, 4, 2.

    Args:
        ctx: the pipeline's [`Context`][sitetools.pipeline.Context].
        latent_sizes: latent sides on the x axis.
        patch_sizes: one line per patch size; the largest is the cost reference.

    Examples:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> from sitetools.pipeline import Context
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
            ax_tokens.annotate(
                f"{n:,}", (s, n), textcoords="offset points", xytext=(4, 4), fontsize=8
            )
            ax_cost.annotate(
                f"{k:,.0f}×", (s, k), textcoords="offset points", xytext=(4, 4), fontsize=8
            )
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

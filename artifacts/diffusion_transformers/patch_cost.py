"""Lesson 2, patch size and cost: tokens and attention cost by patch size (``dit-patch-cost``)."""

from __future__ import annotations

from artifacts.plotting import (
    PALETTE,
    PATCH_COLOURS,
    new_figure,
)
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.params import (
    attention_cost,
    dit_gflops,
    patch_size_rows,
)
from snippets.patchify import num_patches

TABLE_NOTE = (
    "*A `[{channels}, {side}, {side}]` latent (a {pixels} × {pixels} image) cut into p × p patches. "
    "L²: entries of one attention matrix. Gflops: DiT-XL's whole forward pass at that patch "
    "size, counted from the matrix shapes by `dit_gflops`. The (×) columns count from this latent "
    "at p = {base}, the baseline of the patch-cost figure too.*"
)
"""The note under the patch-size table."""
ALT = (
    "Two log-log line charts. Left: tokens against latent size for patch sizes {patches}; halving "
    "the patch size or doubling the latent side multiplies the tokens by 4. Right: attention cost, "
    "proportional to tokens squared, relative to the {side} × {side} latent at p = {base} (1×); it "
    "grows 16-fold for each such step, to {top:,}× at {top_side} × {top_side} with p = {top_p}."
)
"""The figure's alt text, filled in from its axes."""
CAPTION = (
    "Patch size is DiT's resolution knob: halving p multiplies the tokens by 4 and the attention "
    "matrix by 16, exactly as doubling the latent side does. Costs relative to the {side} × {side} "
    "latent at p = {base}, the baseline of the patch-size table too."
)
"""The figure's caption."""


def baseline_label(side: int, patch_size: int) -> str:
    """How the table and the figure name the one baseline of their relative costs.

    Examples:
        >>> baseline_label(32, 8)
        '32 × 32 at p = 8'
    """
    return f"{side} × {side} at p = {patch_size}"


def patch_cost_table(
    side: int, patch_sizes: tuple[int, ...], channels: int = 4
) -> tuple[str, list[dict]]:
    """The patch-size table for a ``[channels, side, side]`` latent, and its rows for the JSON.

    Beside the attention matrix: DiT-XL's whole forward cost at each patch size. Both relative
    columns count from the largest patch size on this latent, the figure's baseline.

    Args:
        side: latent side.
        patch_sizes: patch sides, one row each, largest first.
        channels: latent channels.

    Returns:
        ``(markdown, rows)``: the table with its note, and the rows of
        [`patch_size_rows`][snippets.params.patch_size_rows] with ``dit_xl_gflops`` added.

    Examples:
        >>> table, rows = patch_cost_table(32, (8, 4, 2))
        >>> print(table.splitlines()[4])
        | 2 | 256 | 65,536 | 256× | 118.6 | 16.0× |
    """
    base = max(patch_sizes)
    base_scores, base_gflops = attention_cost(side, base), dit_gflops(f"DiT-XL/{base}", side)
    rows = patch_size_rows((channels, side, side), patch_sizes)
    cells = []
    for r in rows:
        r["dit_xl_gflops"] = dit_gflops(f"DiT-XL/{r['patch_size']}", side)
        cells.append(
            [
                r["patch_size"],
                f"{r['tokens']:,}",
                f"{r['attention_entries']:,}",
                f"{r['attention_entries'] // base_scores:,}×",
                f"{r['dit_xl_gflops']:.1f}",
                f"{r['dit_xl_gflops'] / base_gflops:.1f}×",
            ]
        )
    # Short headers: six columns fit the page; the note spells out what they count (the values
    # per token are on the page, in the trace above the table).
    header = ["p", "Tokens L", "L²", "L² (×)", "Gflops", "Gflops (×)"]
    note = TABLE_NOTE.format(channels=channels, side=side, pixels=8 * side, base=base)
    return markdown_table(header, cells, align="right") + "\n\n" + note, rows


@producer("dit-patch-cost")
def dit_patch_cost_figure(
    ctx, latent_sizes: tuple = (32, 64, 128), patch_sizes: tuple = (2, 4, 8)
) -> None:
    """Tokens and relative attention cost against patch size and latent resolution, plus the table
    ``patch-size-table.md`` for the smallest latent at every patch size. Every relative number
    counts from one baseline: the smallest latent at the largest patch size.

    Args:
        ctx: the pipeline's [`Context`][sitetools.pipeline.Context].
        latent_sizes: latent sides on the x axis; the smallest is the table's.
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
    sides = sorted(latent_sizes)
    side, base = sides[0], max(patch_sizes)
    baseline = baseline_label(side, base)
    reference = attention_cost(side, base)
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
        ax.set_xlim(side / 1.25, sides[-1] * 1.4)
        ax.set_xlabel("latent size (H × W)")
        ax.minorticks_off()
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax_tokens.set_ylabel("tokens L = (H/p)·(W/p)")
    ax_tokens.set_title("Sequence length")
    ax_cost.set_ylabel(f"L², relative to {baseline}")
    ax_cost.set_title("Attention cost per layer (∝ L²)")
    ax_cost.legend(frameon=False)
    fig.tight_layout()
    top_side, top_p = sides[-1], min(patch_sizes)
    ctx.save_figure(
        fig,
        "patch-cost.png",
        alt=ALT.format(
            patches=", ".join(map(str, sorted(patch_sizes))),
            side=side,
            base=base,
            top=attention_cost(top_side, top_p) // reference,
            top_side=top_side,
            top_p=top_p,
        ),
        caption=CAPTION.format(side=side, base=base),
    )
    table, rows = patch_cost_table(side, tuple(sorted(patch_sizes, reverse=True)))
    ctx.save_table(table, "patch-size-table.md")
    ctx.save_json(rows, "patch-size-table.json")

"""Lesson 2, scaling: parameters against width and depth, the DiT family table (``dit-scaling``)."""

from __future__ import annotations

import numpy as np

from artifacts.plotting import (
    PALETTE,
    SIZE_COLOURS,
    SIZES,
    new_figure,
)
from sitetools.pipeline import producer
from snippets.dit import build_dit
from snippets.params import (
    PAPER_GFLOPS,
    dit_family_rows,
    dit_family_table,
    dit_gflops,
    parameter_breakdown,
)


@producer("dit-scaling")
def dit_scaling_figure(ctx) -> None:
    """Parameters against width and depth for the DiT family (real size, meta device), plus the
    tables ``dit-family.md`` (ours, reference code, diffusers, paper, the gap explained) and
    ``dit-gflops.md`` (forward cost against the paper's Table 1).

    Args:
        ctx: the pipeline's [`Context`][sitetools.pipeline.Context].

    Examples:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> from sitetools.pipeline import Context
        >>> from snippets.params import count_parameters
        >>> out = Path(tempfile.mkdtemp())
        >>> ctx = Context("dit-scaling", out, torch.device("cpu"), "cpu", 0, root=out)
        >>> dit_scaling_figure(ctx)
        >>> sorted(p.name for p in out.iterdir())
        ['dit-family.json', 'dit-family.md', 'dit-gflops.md', 'scaling.png']
        >>> f"{count_parameters(build_dit('DiT-XL/2')):,}" in (out / "dit-family.md").read_text()
        True
    """
    rows = dit_family_rows(patch_size=2)
    fig, (ax_params, ax_parts) = new_figure(
        1, 2, figsize=(8.5, 4), gridspec_kw={"width_ratios": [1.1, 1]}
    )

    widths = np.linspace(300, 1250, 100)
    for depth, colour in (
        (12, PALETTE["grey"]),
        (24, PALETTE["orange"]),
        (28, PALETTE["vermillion"]),
    ):
        ax_params.plot(
            widths,
            depth * 18 * widths**2 / 1e6,
            color=colour,
            lw=1,
            ls="--",
            label=f"N · 18·D², N = {depth}",
        )
    for r in rows:
        size = r["name"].split("-")[1].split("/")[0]
        ax_params.scatter(
            r["hidden_size"],
            r["ours"] / 1e6,
            s=60,
            color=SIZE_COLOURS[size],
            zorder=3,
            edgecolor="black",
            linewidth=0.6,
        )
        small = r["ours"] < 60e6  # no room above the smallest point: one line to its right
        sep = ", " if small else "\n"
        ax_params.annotate(
            f"{r['name']}: {r['ours'] / 1e6:.1f}M{sep}N = {r['depth']}, D = {r['hidden_size']}",
            (r["hidden_size"], r["ours"] / 1e6),
            textcoords="offset points",
            xytext=(9, -3) if small else (9, -12),
            ha="left",
            fontsize=8,
        )
    ax_params.set_xlabel("width D (hidden size)")
    ax_params.set_ylabel("parameters (millions)")
    ax_params.set_title("Two knobs: width D and depth N")
    ax_params.set_ylim(0, 800)
    ax_params.set_xlim(250, 1650)
    ax_params.legend(frameon=False, loc="upper left", fontsize=8)

    groups = ["attention", "mlp", "adaLN", "patch embedding", "embedders", "final layer"]
    colours = [
        PALETTE["blue"],
        PALETTE["green"],
        PALETTE["vermillion"],
        PALETTE["yellow"],
        PALETTE["purple"],
        PALETTE["grey"],
    ]
    names = [r["name"] for r in rows]
    breakdowns = [parameter_breakdown(build_dit(name)) for name in names]
    left = np.zeros(len(names))
    for group, colour in zip(groups, colours):
        share = np.array([b.get(group, 0) / sum(b.values()) for b in breakdowns])
        ax_parts.barh(
            names, share * 100, left=left * 100, color=colour, label=group, edgecolor="white"
        )
        for row, (x0, w) in enumerate(zip(left, share)):
            if w > 0.08:
                ax_parts.text(
                    100 * (x0 + w / 2),
                    row,
                    f"{100 * w:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if group in ("attention", "final layer") else "black",
                )
        left += share
    ax_parts.invert_yaxis()
    ax_parts.set_xlabel("share of parameters (%)")
    ax_parts.set_title("Where the parameters are")
    ax_parts.set_xlim(0, 100)
    ax_parts.grid(axis="y", visible=False)
    ax_parts.legend(
        frameon=False, fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.18)
    )
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

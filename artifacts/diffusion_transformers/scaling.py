"""Lesson 2, scaling: parameters against width and depth, the DiT family table (``dit-scaling``)."""

from __future__ import annotations

import numpy as np

from artifacts.plotting import (
    PALETTE,
    SIZE_COLOURS,
    SIZES,
    new_figure,
)
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.dit import build_dit
from snippets.params import (
    PAPER_GFLOPS,
    dit_family_rows,
    dit_gflops,
    parameter_breakdown,
)

PART_COLOURS = {
    "attention": PALETTE["blue"],
    "MLP": PALETTE["green"],
    "adaLN": PALETTE["vermillion"],
    "other": PALETTE["grey"],
}
"""The parts of the right panel; ``other`` collects the groups too thin to see as bars."""
THIN = 0.02
"""A group under this share of the parameters in every model joins ``other``."""
ALT = (
    "Left: parameters in millions against width for DiT-S/2, B/2, L/2 and XL/2 ({sizes}), each on "
    "a dashed curve N times 18 D squared for its depth. Right: stacked bars of each model's "
    "parameter shares in attention, MLP and adaLN, with the {merged} together as 'other', "
    "{smallest:.1f}% to {largest:.1f}% of each model, printed past the end of its bar; for "
    "DiT-XL/2, attention {attention:.0f}%, MLP {mlp:.0f}%, adaLN {adaln:.0f}% and other "
    "{other:.1f}%."
)
"""The figure's alt text, filled in from the counts."""
CAPTION = (
    "Every DiT block holds 18·D² + 15·D parameters (attention 4·D², MLP 8·D², adaLN 6·D²), so a "
    "DiT's size is close to N · 18·D²: two knobs. 'Other' ({merged}) is at most {largest:.1f}% of a "
    "model, too thin to read as a bar, so its share is printed past each bar; the final layer's own "
    "adaLN linear counts under adaLN. Counted at real size on the meta device."
)


def merge_thin_parts(breakdowns: list[dict[str, int]], thin: float = THIN):
    """Parameter shares per model, the groups under ``thin`` in every model merged into ``other``.

    Args:
        breakdowns: one [`parameter_breakdown`][snippets.params.parameter_breakdown] per model.
        thin: the share under which a group is merged into ``"other"``.

    Returns:
        ``(shares, merged)``: one ``{part: share}`` dict per model (``mlp`` spelt ``MLP``,
        ``other`` last, shares summing to 1) and the names of the merged groups.

    Examples:
        >>> shares, merged = merge_thin_parts([{"attention": 49, "mlp": 50, "embedders": 1}])
        >>> shares, merged
        ([{'attention': 0.49, 'MLP': 0.5, 'other': 0.01}], ['embedders'])
    """
    groups = list(dict.fromkeys(g for b in breakdowns for g in b))
    merged = [g for g in groups if all(b.get(g, 0) < thin * sum(b.values()) for b in breakdowns)]
    shares = []
    for b in breakdowns:
        total = sum(b.values())
        share = {
            ("MLP" if g == "mlp" else g): b.get(g, 0) / total for g in groups if g not in merged
        }
        share["other"] = sum(b.get(g, 0) for g in merged) / total
        shares.append(share)
    return shares, merged


def listing(names: list[str]) -> str:
    """Names as an English list.

    Examples:
        >>> listing(["a"]), listing(["a", "b"]), listing(["a", "b", "c"])
        ('a', 'a and b', 'a, b and c')
    """
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1]]))


@producer("dit-scaling")
def dit_scaling_figure(ctx) -> None:
    """Parameters against width and depth for the DiT family (real size, meta device), plus the
    tables ``dit-family.md`` (depth, width, heads, our count, the quoted size),
    ``dit-family-check.md`` (ours, reference code, diffusers, the gap explained) and
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
        ['dit-family-check.md', 'dit-family.json', 'dit-family.md', 'dit-gflops.md', 'scaling.png']
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

    names = [r["name"] for r in rows]
    shares, merged = merge_thin_parts([parameter_breakdown(build_dit(name)) for name in names])
    parts = list(shares[0])
    # "patch embedding" and "embedders" are both embeddings: one word keeps the legend short
    legend_names = list(dict.fromkeys("embeddings" if "embed" in g else g for g in merged))
    left = np.zeros(len(names))
    for part in parts:
        share = np.array([s[part] for s in shares])
        ax_parts.barh(
            names,
            share * 100,
            left=left * 100,
            color=PART_COLOURS.get(part, PALETTE["purple"]),
            label=f"other: {listing(legend_names)}" if part == "other" else part,
            edgecolor="white",
            linewidth=0 if part == "other" else 1,  # a white edge would hide a sliver
        )
        for row, (x0, w) in enumerate(zip(left, share)):
            if part == "other":  # too thin to hold its number: print it past the bar's end
                ax_parts.text(
                    101, row, f"{100 * w:.1f}%", ha="left", va="center", fontsize=8, color="#333"
                )
            elif w > 0.08:
                ax_parts.text(
                    100 * (x0 + w / 2),
                    row,
                    f"{100 * w:.0f}%",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if part == "attention" else "black",
                )
        left += share
    ax_parts.invert_yaxis()
    ax_parts.set_xlabel("share of parameters (%)")
    ax_parts.set_title("Where the parameters are")
    ax_parts.set_xlim(0, 112)
    ax_parts.set_xticks(range(0, 101, 20))
    ax_parts.spines["bottom"].set_bounds(0, 100)
    ax_parts.grid(axis="y", visible=False)
    ax_parts.legend(
        frameon=False, fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.18)
    )
    fig.tight_layout()
    xl = {part: 100 * share for part, share in shares[-1].items()}
    smallest = min(100 * s["other"] for s in shares)
    largest = max(100 * s["other"] for s in shares)
    ctx.save_figure(
        fig,
        "scaling.png",
        alt=ALT.format(
            sizes=", ".join(f"{r['ours'] / 1e6:.0f}M" for r in rows),
            merged=listing(merged),
            smallest=smallest,
            largest=largest,
            attention=xl["attention"],
            mlp=xl["MLP"],
            adaln=xl["adaLN"],
            other=xl["other"],
        ),
        caption=CAPTION.format(merged=listing(merged), largest=largest),
    )
    # Two tables: the family as the lesson reads it, and the counts checked three ways (for the
    # collapsed "Check it against diffusers" box). Six columns each fit the page.
    family = [
        [
            r["name"],
            r["depth"],
            r["hidden_size"],
            r["num_heads"],
            f"{r['ours']:,}",
            f"{r['paper_m']}M",
        ]
        for r in rows
    ]
    header = ["Model", "Depth N", "Width D", "Heads", "Parameters", "Quoted"]
    ctx.save_table(markdown_table(header, family, align="lrrrrr"), "dit-family.md")
    check = [
        [
            r["name"],
            f"{r['ours']:,}",
            f"{r['reference']:,}",
            f"{r['diffusers']:,}",
            f"{r['gap']:,}",
            f"{r['extra_embedders']:,}",
        ]
        for r in rows
    ]
    header = [
        "Model",
        "Ours",
        "Reference code",
        "diffusers",
        "diffusers − ours",
        "(N − 1) × embedders",
    ]
    ctx.save_table(markdown_table(header, check, align="lrrrrr"), "dit-family-check.md")
    ctx.save_json(rows, "dit-family.json")

    patches = (2, 4, 8)
    gflops = [
        [
            f"DiT-{size}",
            *(f"{dit_gflops(f'DiT-{size}/{p}'):.1f}" for p in patches),
            PAPER_GFLOPS[size],
        ]
        for size in SIZES
    ]
    header = ["Model", *(f"Gflops p = {p}" for p in patches), "Paper, p = 4"]
    ctx.save_table(markdown_table(header, gflops, align="lrrrr"), "dit-gflops.md")

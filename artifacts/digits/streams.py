"""Dual- vs single-stream at equal width, toy and real size (``digits-streams``)."""

from __future__ import annotations

import torch

from artifacts.digits.compare import comparison_findings, load_scores
from artifacts.digits.models import TRAINED, on_cpu_threads
from artifacts.digits.scene_scores import MAIN_CELL, num_range, pct_range
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.digits.evaluation import average_scenes, parameter_groups
from snippets.digits.training import load_trained
from snippets.mmdit import MMDiT
from snippets.single_stream import SingleStreamDiT

STREAM_COLUMNS = ["measure", "dual-stream (MMDiT)", "single-stream (S3-DiT style)"]
"""Header of both comparison tables: row label, then one column per model."""
STREAMS_NOTE = (
    "*The two trained digit models: same width, and an image token passes through the same "
    "number of blocks in both ({depth}). Placement and FD at 16 Euler steps without guidance, "
    "mean over {seeds} noise seeds (min–max in brackets); real held-out digits score an FD of "
    "{yardstick:.2f}. Parameters without the frozen text encoder both share.*"
)
"""The note under the table of the two trained models (``streams.md``)."""
HEADLINE = (
    "At equal width the single-stream model has **{single:,}** trained parameters against the "
    "MMDiT's **{dual:,}** ({ratio:.0%})."
)
"""The first sentence the lesson quotes (``headline.md``); the comparison's sentences follow."""


def _real_width_models(hidden: int = 3840, depth: int = 30, heads: int = 30, refiners: int = 2):
    """MMDiT and SingleStreamDiT at Z-Image's width and depth, built on the meta device."""
    with torch.device("meta"):
        mm = MMDiT(
            input_size=32,
            patch_size=2,
            in_channels=16,
            hidden_size=hidden,
            depth=depth,
            num_heads=heads,
        )
        ss = SingleStreamDiT(
            input_size=32,
            patch_size=2,
            in_channels=16,
            hidden_size=hidden,
            depth=depth,
            num_heads=heads,
            n_refiner_layers=refiners,
        )
    return mm, ss


@producer(
    "digits-streams",
    params={"real_width": 3840, "real_depth": 30, "real_heads": 30, "real_refiners": 2},
    needs=[
        TRAINED["mmdit"],
        TRAINED["single-stream"],
        "digits-scenes-mmdit",
        "digits-scenes-single-stream",
    ],
)
@on_cpu_threads
def digits_streams(ctx, real_width, real_depth, real_heads, real_refiners):
    """Dual-stream (MMDiT) vs single-stream at equal width: parameters and quality side by side."""
    import matplotlib.pyplot as plt

    cols = {}
    for kind in ("mmdit", "single-stream"):
        model, info = load_trained(ctx.input(TRAINED[kind]), "cpu")
        scores = load_scores(ctx.input(f"digits-scenes-{kind}"))
        avg = average_scenes(scores["rows"])
        groups = parameter_groups(model)
        cols[kind] = {
            "config": info["config"],
            "groups": groups,
            "total": sum(groups.values()),
            "seen": avg[(*MAIN_CELL, "seen")],
            "held_out": avg[(*MAIN_CELL, "held_out")],
            "scores": scores,
        }
    mm, ss = cols["mmdit"], cols["single-stream"]
    cfg = mm["config"]

    def row(label, f):
        return [label, f(mm), f(ss)]

    rows = [
        row(
            "width D, heads", lambda c: f"{c['config']['hidden_size']}, {c['config']['num_heads']}"
        ),
        row(
            "blocks",
            lambda c: (
                f"{c['config']['depth']} joint"
                if c is mm
                else f"{c['config']['n_refiner_layers']} image + {c['config']['n_refiner_layers']} text refiner, "
                f"{c['config']['depth']} shared"
            ),
        ),
        row(
            "training steps, scenes per step",
            lambda c: f"{c['config']['steps']:,}, {c['config']['batch_size']}",
        ),
        row(
            "peak learning rate, condition dropout",
            lambda c: f"{c['config']['lr']:g}, {100 * c['config']['p_uncond']:g}%",
        ),
        *[row(f"parameters: {g}", lambda c, g=g: f"{c['groups'][g]:,}") for g in mm["groups"]],
        row("**trained parameters: total**", lambda c: f"**{c['total']:,}**"),
        row("both digits placed, seen captions", lambda c: pct_range(c["seen"]["both"])),
        row("both digits placed, held-out captions", lambda c: pct_range(c["held_out"]["both"])),
        row("FD, held-out captions", lambda c: num_range(c["held_out"]["fd"])),
    ]
    ctx.save_table(
        markdown_table(STREAM_COLUMNS, rows, align="lrr")
        + "\n\n"
        + STREAMS_NOTE.format(
            depth=cfg["depth"],
            seeds=len(mm["scores"]["seeds"]),
            yardstick=mm["scores"]["yardstick"],
        ),
        "streams.md",
    )
    findings = comparison_findings(mm["scores"], ss["scores"], ("MMDiT", "single-stream model"))
    ctx.save_table(
        " ".join(
            [
                HEADLINE.format(
                    single=ss["total"], dual=mm["total"], ratio=ss["total"] / mm["total"]
                ),
                *findings,
            ]
        ),
        "headline.md",
    )

    big_mm, big_ss = _real_width_models(real_width, real_depth, real_heads, real_refiners)
    g_mm, g_ss = parameter_groups(big_mm), parameter_groups(big_ss)
    t_mm, t_ss = sum(g_mm.values()), sum(g_ss.values())
    per_block_mm = sum(p.numel() for p in big_mm.blocks[0].parameters())
    per_block_ss = sum(p.numel() for p in big_ss.layers[0].parameters())
    big = [
        ["one main block", f"{per_block_mm / 1e6:,.1f} M", f"{per_block_ss / 1e6:,.1f} M"],
        *[[g, f"{g_mm[g] / 1e9:,.2f} B", f"{g_ss[g] / 1e9:,.2f} B"] for g in g_mm],
        ["**total**", f"**{t_mm / 1e9:,.2f} B**", f"**{t_ss / 1e9:,.2f} B**"],
    ]
    ctx.save_table(
        markdown_table(STREAM_COLUMNS, big, align="lrr")
        + f"\n\n*The same two classes built at Z-Image's width and depth (D = {real_width}, {real_depth} main "
        f"blocks, {real_heads} heads, {real_refiners} refiners per modality) on the meta device; their text "
        f"embedders read the toy's {big_mm.context_embedder.in_features}-wide text features.*",
        "real-width.md",
    )
    ctx.save_json(
        {
            "toy": {k: {n: v for n, v in c.items() if n != "scores"} for k, c in cols.items()},
            "real_width": {
                "mmdit": g_mm,
                "single-stream": g_ss,
                "block_mmdit": per_block_mm,
                "block_single_stream": per_block_ss,
            },
        },
        "streams.json",
    )

    fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
    colors = {
        "embeddings": "#90a4ae",
        "image only": "#1e88e5",
        "text only": "#fb8c00",
        "shared by both": "#8e24aa",
        "output": "#43a047",
    }
    for ax, (groups_a, groups_b), scale, unit, title in (
        (
            axes[0],
            (mm["groups"], ss["groups"]),
            1e3,
            "thousand",
            f"trained toy models (D = {cfg['hidden_size']})",
        ),
        (
            axes[1],
            (g_mm, g_ss),
            1e9,
            "billion",
            f"same classes at D = {real_width}, {real_depth} blocks",
        ),
    ):
        for y, groups in ((1, groups_a), (0, groups_b)):
            left = 0.0
            for g, n in groups.items():
                ax.barh(
                    y,
                    n / scale,
                    left=left,
                    color=colors[g],
                    label=g if y == 1 else None,
                    edgecolor="white",
                )
                left += n / scale
        ax.set_yticks([1, 0])
        ax.set_yticklabels(["dual-stream\n(MMDiT)", "single-stream"], fontsize=9)
        ax.set_xlabel(f"parameters ({unit})")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "parameters.png",
        alt=(
            f"Two panels of stacked horizontal bars comparing where the parameters of the dual-stream MMDiT and the "
            f"single-stream model go: embeddings, image-only weights, text-only weights, weights shared by both "
            f"modalities, and the output layer. Left, the trained toy models: {mm['total']:,} parameters, "
            f"{mm['groups']['text only'] / mm['total']:.0%} of them text-only, against {ss['total']:,}, "
            f"{ss['groups']['shared by both'] / ss['total']:.0%} of them shared. Right, the same classes at width "
            f"{real_width} with {real_depth} blocks: {t_mm / 1e9:.1f} billion against {t_ss / 1e9:.1f} billion."
        ),
        caption=(
            "Where the parameters go: per-modality weights in every MMDiT block versus refiners plus "
            f"shared blocks. Toy models: {mm['groups']['text only'] / mm['total']:.0%} of the MMDiT's "
            f"parameters are text-only; {ss['groups']['shared by both'] / ss['total']:.0%} of the "
            "single-stream model's are shared by both modalities"
        ),
    )

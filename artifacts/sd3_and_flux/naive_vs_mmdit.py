"""MMDiT against naive concatenation on the digits (``sd3-naive-vs-mmdit``): samples, FD, agreement."""

from __future__ import annotations

import json

import torch

from artifacts.digits.models import TRAINED, on_cpu_threads
from artifacts.digits.naive_concat import GRID
from artifacts.plotting import percent, row_labels, show_digits
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.digits.evaluation import eval_noise, parameter_groups
from snippets.digits.training import load_trained, sample_digits


@producer(
    "sd3-naive-vs-mmdit", needs=[TRAINED["mmdit"], "digits-sweep-mmdit", "digits-naive-concat"]
)
@on_cpu_threads
def sd3_naive_vs_mmdit(ctx):
    """Side-by-side sample grids (same noise, same prompts) and a table of the two models' numbers."""
    import matplotlib.pyplot as plt

    mm_model, mm_info = load_trained(ctx.input(TRAINED["mmdit"]), ctx.device)
    nc_model, nc_info = load_trained(ctx.input("digits-naive-concat"), ctx.device)
    sweep = json.loads((ctx.input("digits-sweep-mmdit") / "sweep.json").read_text())
    mean = {(r["steps"], r["guidance"]): r for r in sweep["mean"]}
    naive = json.loads((ctx.input("digits-naive-concat") / "eval.json").read_text())
    cols = {
        "MMDiT": {
            "info": mm_info,
            "fd16": mean[(16, 1.0)]["fd"],
            "agreement8": mean[(8, 1.0)]["agreement"],
            "groups": parameter_groups(mm_model),
        },
        "naive concatenation": {
            "info": nc_info,
            "fd16": naive["fd16"],
            "agreement8": naive["agreement8"],
            "groups": parameter_groups(nc_model),
        },
    }
    yardstick = sweep["yardstick"]
    size = mm_info["config"]["size"]
    labels = torch.arange(10).repeat_interleave(GRID["per_class"])
    noise = eval_noise(labels.shape[0], size, GRID["seed"])
    grids = {
        name: sample_digits(
            model,
            "mmdit" if name == "MMDiT" else "single-stream",
            labels,
            GRID["steps"],
            noise=noise,
        )
        for name, model in (("MMDiT", mm_model), ("naive concatenation", nc_model))
    }

    fig, axes = plt.subplots(1, 2, figsize=(5.2, 4.6))
    for ax, (name, grid) in zip(axes, grids.items()):
        c = cols[name]
        show_digits(
            ax,
            grid.reshape(10, GRID["per_class"], 1, size, size),
            f"{name}\nFD {c['fd16']:.2f}, agreement {percent(c['agreement8'])}",
        )
    row_labels(axes[0], [str(d) for d in range(10)], size)
    fig.suptitle(f"Same prompts, same noise, {GRID['steps']} Euler steps, no guidance", fontsize=10)
    fig.tight_layout()
    mm, nc = cols["MMDiT"], cols["naive concatenation"]
    ctx.save_figure(
        fig,
        "samples.png",
        alt=(
            f"Two grids of 10 rows (the prompts for digits 0 to 9) by {GRID['per_class']} samples from the same noise. "
            f"Left, the MMDiT: FD {mm['fd16']:.2f} at 16 steps and {percent(mm['agreement8'])} agreement at 8 steps. "
            f"Right, naive concatenation with shared weights: FD {nc['fd16']:.2f} and {percent(nc['agreement8'])}. "
            f"Real held-out digits score an FD of {yardstick:.2f}."
        ),
        caption="The trained MMDiT and the naive-concatenation model, drawn from the same noise and prompts.",
    )

    def row(label, f):
        return [label, f(mm), f(nc)]

    rows = [
        row(
            "width, blocks",
            lambda c: f"{c['info']['config']['hidden_size']}, {c['info']['config']['depth']}",
        ),
        row(
            "training steps, peak learning rate",
            lambda c: f"{c['info']['config']['steps']:,}, {c['info']['config']['lr']:g}",
        ),
        row("parameters: image only", lambda c: f"{c['groups']['image only']:,}"),
        row("parameters: text only", lambda c: f"{c['groups']['text only']:,}"),
        row("parameters: shared by both", lambda c: f"{c['groups']['shared by both']:,}"),
        row("**parameters: total**", lambda c: f"**{c['info']['parameters']:,}**"),
        row("FD at 16 steps (lower is better)", lambda c: f"{c['fd16']:.2f}"),
        row("agreement at 8 steps", lambda c: percent(c["agreement8"])),
    ]
    header = ["measure", "MMDiT (weights per modality)", "naive concatenation (shared weights)"]
    ctx.save_table(
        markdown_table(header, rows, align="lrr")
        + f"\n\n*No guidance; FD and agreement are means over {len(naive['seeds'])} noise seeds of one sample per "
        f"held-out digit. Real held-out digits score an FD of {yardstick:.2f} (the yardstick).*",
        "comparison.md",
    )
    lower = "MMDiT" if mm["fd16"] < nc["fd16"] else "naive concatenation"
    share = nc["info"]["parameters"] / mm["info"]["parameters"]
    ctx.save_table(
        f"Both models were trained for the same number of steps. The **{lower}** reaches the lower FD at 16 "
        f"steps (**{mm['fd16']:.2f}** for the MMDiT, **{nc['fd16']:.2f}** for naive concatenation, yardstick "
        f"{yardstick:.2f}); class agreement at 8 steps is {percent(mm['agreement8'])} and "
        f"{percent(nc['agreement8'])}. Naive concatenation does it with {share:.0%} of the MMDiT's weights.",
        "headline.md",
    )
    ctx.save_json(
        {name: {k: v for k, v in c.items() if k != "info"} for name, c in cols.items()}
        | {"yardstick": yardstick},
        "comparison.json",
    )

"""Steps x guidance sweep of the class-conditional DiT (``digits-sweep-dit``): FD, agreement, guidance grid.

The text models are scored on scenes instead (``artifacts/digits/scene_scores.py``)."""

from __future__ import annotations

import numpy as np
import torch

from artifacts.digits.models import on_cpu_threads
from artifacts.plotting import percent, row_labels, show_digits
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.digits.data import (
    CLASS_NAMES,
    default_evaluator,
)
from snippets.digits.evaluation import (
    SWEEP_GUIDANCE,
    SWEEP_SEEDS,
    SWEEP_STEPS,
    average_sweep,
    eval_noise,
    sweep,
    variety,
)
from snippets.digits.training import KIND_TITLES, MODEL_NAMES, load_trained, sample_digits

_SWEEP_COMMON = dict(
    steps=list(SWEEP_STEPS),
    guidance=list(SWEEP_GUIDANCE),
    seeds=list(SWEEP_SEEDS),
    grid_guidance=[1.0, 1.5, 3.0, 6.0],
)
SWEEP_PARAMS = {
    # CPU: every seed for the goal cells, one elsewhere (the trend cells are read for their
    # shape), and one guided column; a sixth of the cost of the full sweep the GPU profile keeps.
    "cpu": {**_SWEEP_COMMON, "guidance": [1.0, 3.0], "other_seeds": 1},
    "gpu": {**_SWEEP_COMMON, "other_seeds": None},
}


HEADLINE = (
    "At {s_fd} steps without guidance, samples of the {name} reach an FD of **{fd:.2f}** against "
    "the real-vs-real yardstick of **{yardstick:.2f}** (**{ratio:.2f}x**). Class agreement is read "
    "at {s_ag} steps, also without guidance: **{agreement}** of the samples are classified as the "
    "digit that was asked for ({agreement_min} to {agreement_max} across the {seeds} noise seeds; "
    "the classifier scores **{accuracy}** on held-out real digits). One step gives FD "
    "**{fd_one_step:.1f}**; guidance w = {w_max:g} at {s_fd} steps gives agreement "
    "**{guided_agreement}** but FD **{guided_fd:.1f}**."
)
"""The paragraph under each model's sweep (``headline.md``)."""
MILD_GUIDANCE = (
    " At one step, mild guidance (w = {w_min:g}) even lowers FD, to **{fd:.1f}**: it sharpens the "
    "blurry one-step average."
)
"""Added to the headline when it is true of the numbers."""


def value_range(values: list[float], fmt) -> str:
    """ "stays at X" for a series whose values print the same, else "stays between X and Y".

    Examples:
        >>> value_range([1.0, 1.0], percent), value_range([0.98, 1.0], percent)
        ('stays at 100.0%', 'stays between 98.0% and 100.0%')
    """
    low, high = fmt(min(values)), fmt(max(values))
    return f"stays at {low}" if low == high else f"stays between {low} and {high}"


def seeds_note(avg: dict) -> str:
    """How many noise seeds the cells of a sweep average over, in words.

    Examples:
        >>> seeds_note({(8, 1.0): {"seeds": 6}, (16, 1.0): {"seeds": 6}, (1, 1.0): {"seeds": 2}})
        'mean of 6 noise seeds at 8 and 16 steps without guidance, 2 elsewhere'
        >>> seeds_note({(8, 1.0): {"seeds": 6}, (1, 1.0): {"seeds": 1}})
        'mean of 6 noise seeds at 8 steps without guidance, one seed elsewhere'
        >>> seeds_note({(1, 1.0): {"seeds": 6}})
        'mean of 6 noise seeds'
    """
    counts = {cell: value["seeds"] for cell, value in avg.items()}
    most, fewest = max(counts.values()), min(counts.values())
    if most == fewest:
        return f"mean of {most} noise seeds"
    full = sorted(steps for (steps, w), n in counts.items() if n == most and w == 1.0)
    where = " and ".join(str(steps) for steps in full)
    elsewhere = "one seed elsewhere" if fewest == 1 else f"{fewest} elsewhere"
    return f"mean of {most} noise seeds at {where} steps without guidance, {elsewhere}"


def _sweep_tables(
    avg: dict, steps: list[int], guidance: list[float], yardstick: float, accuracy: float
):
    header = ["Euler steps"] + ["no guidance (w = 1)" if w == 1 else f"w = {w:g}" for w in guidance]

    def table(cell) -> str:
        rows = [[str(s), *(cell(avg[(s, w)]) for w in guidance)] for s in steps]
        return markdown_table(header, rows, align="right")

    fd_table = table(lambda v: f"{v['fd']:.2f}") + (
        f"\n\n*Fréchet distance to the training digits (lower is better), {seeds_note(avg)}. "
        f"Real held-out digits score **{yardstick:.2f}** (the yardstick).*"
    )
    ag_table = table(lambda v: percent(v["agreement"])) + (
        f"\n\n*Class agreement (share of samples the classifier assigns to the requested digit). "
        f"Real held-out digits score **{percent(accuracy)}**.*"
    )
    return fd_table, ag_table


def _sweep_plot(avg, steps, guidance, yardstick, accuracy, title):
    import matplotlib
    import matplotlib.pyplot as plt

    fig, (ax_fd, ax_ag) = plt.subplots(1, 2, figsize=(9, 3.4))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(guidance)))
    markers = "osD^vP"
    for w, color, marker in zip(guidance, colors, markers):
        label = "no guidance" if w == 1 else f"w = {w:g}"
        ax_fd.plot(
            steps, [avg[(s, w)]["fd"] for s in steps], marker=marker, color=color, label=label
        )
        ax_ag.plot(
            steps,
            [100 * avg[(s, w)]["agreement"] for s in steps],
            marker=marker,
            color=color,
            label=label,
        )
    ax_fd.axhline(yardstick, color="crimson", ls="--", lw=1.2, label="real vs real")
    ax_fd.annotate(
        "real held-out digits",
        (steps[0], yardstick),
        xytext=(0, 4),
        textcoords="offset points",
        color="crimson",
        fontsize=8,
    )
    ax_ag.axhline(100 * accuracy, color="crimson", ls="--", lw=1.2, label="real held-out")
    for ax in (ax_fd, ax_ag):
        ax.set_xscale("log", base=2)
        ax.set_xticks(steps)
        ax.set_xticklabels([str(s) for s in steps])
        ax.set_xlabel("Euler steps")
        ax.grid(alpha=0.3)
    ax_fd.set_yscale("log")
    ax_fd.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax_fd.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    lo, hi = min(yardstick, min(avg[k]["fd"] for k in avg)), max(avg[k]["fd"] for k in avg)
    ax_fd.set_yticks(
        [v for v in (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500) if lo * 0.8 <= v <= hi * 1.2]
    )
    ax_fd.set_ylabel("Fréchet distance (log scale)")
    ax_fd.set_title("FD: lower is better")
    ax_ag.set_ylabel("class agreement (%)")
    ax_ag.set_title("agreement: higher is better")
    ax_ag.legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _guidance_grid(model, kind, size, guidance, classes=(2, 7, 8), per_class=6, steps=16, seed=7):
    """The guidance grid figure and, per guidance scale, the ink and within-digit spread of its row."""
    import matplotlib.pyplot as plt

    labels = torch.tensor(classes).repeat_interleave(per_class)
    noise = eval_noise(labels.shape[0], size, seed)
    rows = [sample_digits(model, kind, labels, steps, w, noise=noise) for w in guidance]
    images = torch.stack(rows)  # [G, N, 1, H, W]
    stats = {
        w: {
            "ink": ((row.clamp(-1, 1) + 1) / 2).mean().item(),  # 0 = blank, 1 = all black
            "spread": variety(row.reshape(len(classes), per_class, *row.shape[1:])),
        }
        for w, row in zip(guidance, rows)
    }
    fig, ax = plt.subplots(figsize=(0.42 * labels.shape[0] + 1.0, 0.48 * len(guidance) + 0.6))
    show_digits(ax, images)
    row_labels(ax, ["no guidance" if w == 1 else f"w = {w:g}" for w in guidance], size)
    ax.set_xticks([(k * per_class + per_class / 2) * (size + 1) - 1 for k in range(len(classes))])
    ax.set_xticklabels([f"class {c}" for c in classes], fontsize=9)
    ax.tick_params(axis="x", length=0)
    return fig, stats


def _sweep_artifact(ctx, kind: str, steps, guidance, seeds, grid_guidance, other_seeds) -> None:
    model, info = load_trained(ctx.input(f"digits-{kind}"), ctx.device)
    size = info["config"]["size"]
    ev = default_evaluator(size)
    rows = sweep(model, kind, ev, steps, guidance, seeds, size, ctx.progress, other_seeds)
    avg = average_sweep(rows)
    n = ev.split.test_y.shape[0]
    ctx.save_json(
        {
            "kind": kind,
            "yardstick": ev.yardstick,
            "held_out_accuracy": ev.held_out_accuracy,
            "samples_per_run": n,
            "rows": rows,
            "mean": [{"steps": s, "guidance": w, **avg[(s, w)]} for s in steps for w in guidance],
        },
        "sweep.json",
    )
    fd_table, ag_table = _sweep_tables(avg, steps, guidance, ev.yardstick, ev.held_out_accuracy)
    ctx.save_table(fd_table, "fd-table.md")
    ctx.save_table(ag_table, "agreement-table.md")

    w1 = 1.0 if 1.0 in guidance else guidance[0]
    s_fd = 16 if 16 in steps else steps[-1]
    s_ag = 8 if 8 in steps else steps[-1]
    fd16, ag8 = avg[(s_fd, w1)]["fd"], avg[(s_ag, w1)]["agreement"]
    w_max = max(guidance)
    w_min = min((w for w in guidance if w != w1), default=w1)
    one_step, mild = avg[(steps[0], w1)], avg[(steps[0], w_min)]
    headline = HEADLINE.format(
        s_fd=s_fd,
        s_ag=s_ag,
        name=MODEL_NAMES[kind],
        fd=fd16,
        yardstick=ev.yardstick,
        ratio=fd16 / ev.yardstick,
        agreement=percent(ag8),
        agreement_min=percent(avg[(s_ag, w1)]["agreement_min"]),
        agreement_max=percent(avg[(s_ag, w1)]["agreement_max"]),
        seeds=avg[(s_ag, w1)]["seeds"],
        accuracy=percent(ev.held_out_accuracy),
        fd_one_step=one_step["fd"],
        w_max=w_max,
        guided_agreement=percent(avg[(s_fd, w_max)]["agreement"]),
        guided_fd=avg[(s_fd, w_max)]["fd"],
    )
    if mild["fd"] < one_step["fd"]:
        headline += MILD_GUIDANCE.format(w_min=w_min, fd=mild["fd"])
    ctx.save_table(headline, "headline.md")

    best = min(avg.items(), key=lambda kv: kv[1]["fd"])
    fig = _sweep_plot(
        avg,
        steps,
        guidance,
        ev.yardstick,
        ev.held_out_accuracy,
        f"{KIND_TITLES[kind]}: {n} samples per seed, {seeds_note(avg)}",
    )
    ctx.save_figure(
        fig,
        "sweep.png",
        alt=(
            f"Two line plots against the number of Euler steps (1 to {steps[-1]}, log scale), one line per guidance "
            f"scale. Left, Fréchet distance on a log scale, with a dashed line for real held-out digits at "
            f"{ev.yardstick:.2f}. Without guidance it falls from {avg[(steps[0], w1)]['fd']:.1f} at one step to "
            f"{avg[(steps[-1], w1)]['fd']:.2f} at {steps[-1]} steps; "
            + "; ".join(
                f"with w = {w:g} from {avg[(steps[0], w)]['fd']:.1f} to {avg[(steps[-1], w)]['fd']:.1f}"
                for w in guidance
                if w != w1
            )
            + f". Right, class agreement in percent, with a dashed line for the classifier's accuracy on real "
            f"held-out digits ({percent(ev.held_out_accuracy)}): without guidance it goes from "
            f"{percent(avg[(steps[0], w1)]['agreement'])} at one step to "
            f"{percent(avg[(steps[-1], w1)]['agreement'])} at {steps[-1]} steps; "
            + "; ".join(
                f"with w = {w:g} it {value_range([avg[(s, w)]['agreement'] for s in steps], percent)}"
                for w in guidance
                if w != w1
            )
            + "."
        ),
        caption=(
            f"FD and class agreement of the {MODEL_NAMES[kind]} for every step count and guidance scale "
            f"(lowest FD of the sweep {best[1]['fd']:.2f} at {best[0][0]} steps, w = {best[0][1]:g}; "
            "the table below gives how many noise seeds each cell averages)"
        ),
    )
    classes = (2, 7, 8)
    fig, stats = _guidance_grid(model, kind, size, grid_guidance, classes)
    lo, hi = min(grid_guidance), max(grid_guidance)
    ctx.save_json(stats, "guidance-grid.json")
    ctx.save_figure(
        fig,
        "guidance-grid.png",
        alt=(
            f"A grid of generated digits: {len(grid_guidance)} rows, one per guidance scale from none to w = {hi:g}; "
            f"{6 * len(classes)} columns, six samples each of the classes "
            f"{', '.join(CLASS_NAMES[c] for c in classes)}, each column starting from the same noise in every row. "
            f"From the top row to the bottom one the share of ink goes from {stats[lo]['ink']:.0%} to "
            f"{stats[hi]['ink']:.0%} and the pixel spread among the six samples of a digit from "
            f"{stats[lo]['spread']:.2f} to {stats[hi]['spread']:.2f}."
        ),
        caption=(
            f"Guidance sweep of the {MODEL_NAMES[kind]} at 16 Euler steps, the same noise in every row: share of ink "
            f"{stats[lo]['ink']:.0%} to {stats[hi]['ink']:.0%}, pixel spread among the six samples of a digit "
            f"{stats[lo]['spread']:.2f} to {stats[hi]['spread']:.2f} (this grid's own samples of "
            f"{', '.join(CLASS_NAMES[c] for c in classes)}; the spread of other sets of samples differs)"
        ),
    )


@producer("digits-sweep-dit", params=SWEEP_PARAMS, needs=["digits-dit"])
@on_cpu_threads
def digits_sweep_dit(ctx, steps, guidance, seeds, grid_guidance, other_seeds):
    """Steps x guidance sweep of the DiT: FD/agreement tables, plots, guidance grid."""
    _sweep_artifact(ctx, "dit", steps, guidance, seeds, grid_guidance, other_seeds)

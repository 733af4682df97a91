"""Lesson 4, refiners: the trained single-stream digit model beside the same model without refiners (``zimage-refiners``)."""

from __future__ import annotations

import json

import torch

from artifacts.plotting import percent, row_labels, show_digits
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.digits.evaluation import eval_noise
from snippets.digits.training import cpu_threads, load_trained, sample_digits

KIND = "single-stream"
GRID = dict(per_class=4, steps=16, seed=11)
"""The sample grid: the noise seed and step count of ``digits-samples`` and ``digits-naive-concat``."""

TABLE_NOTE = (
    "Both unguided, mean of the sweep's noise seeds; real held-out digits score FD {yardstick:.2f} "
    "against the training digits. Across those seeds the single-stream model's FD ranges from "
    "{fd_min:.2f} to {fd_max:.2f}, a spread {larger_or_smaller} than the gap of {gap:.2f} between "
    "the two models."
)
"""The sentence under the refiners table, filled in from the sweep and the two models' numbers."""


def sweep_point(sweep: dict, steps: int, guidance: float = 1.0) -> dict:
    """The mean row of a ``digits-sweep-*`` ``sweep.json`` at ``steps`` and ``guidance``.

    Examples:
        >>> sweep = {"mean": [{"steps": 8, "guidance": 1.0, "fd": 2.0, "agreement": 0.9},
        ...                   {"steps": 16, "guidance": 1.0, "fd": 1.5, "agreement": 0.92}]}
        >>> sweep_point(sweep, 16)["fd"]
        1.5
    """
    return next(
        row for row in sweep["mean"] if row["steps"] == steps and row["guidance"] == guidance
    )


def comparison_rows(single: dict, naive: dict) -> list[list[str]]:
    """Table rows (model, refiners, parameters, FD at 16 steps, agreement at 8 steps) for the two models.

    ``single`` and ``naive`` hold ``refiners``, ``parameters``, ``fd16`` and ``agreement8``.

    Examples:
        >>> a = {"refiners": 1, "parameters": 1000, "fd16": 1.5, "agreement8": 0.9}
        >>> b = {"refiners": 0, "parameters": 990, "fd16": 2.5, "agreement8": 0.8}
        >>> comparison_rows(a, b)[1]
        ['no refiners (naive concatenation)', '0', '990', '2.50', '80.0%']
    """
    return [
        [
            name,
            str(m["refiners"]),
            f"{m['parameters']:,}",
            f"{m['fd16']:.2f}",
            percent(m["agreement8"]),
        ]
        for name, m in (
            ("single stream with refiners", single),
            ("no refiners (naive concatenation)", naive),
        )
    ]


@producer(
    "zimage-refiners",
    params=GRID,
    needs=["digits-single-stream", "digits-naive-concat", "digits-sweep-single-stream"],
)
def zimage_refiners(ctx, per_class, steps, seed):
    """Sample grids of both models from the same noise, and their FD/agreement side by side."""
    import matplotlib.pyplot as plt

    sweep = json.loads((ctx.input("digits-sweep-single-stream") / "sweep.json").read_text())
    naive_eval = json.loads((ctx.input("digits-naive-concat") / "eval.json").read_text())
    models = {
        "single stream, with refiners": load_trained(ctx.input("digits-single-stream"), ctx.device),
        "no refiners (naive concatenation)": load_trained(
            ctx.input("digits-naive-concat"), ctx.device
        ),
    }
    size = next(iter(models.values()))[1]["config"]["size"]
    labels = torch.arange(10).repeat_interleave(per_class)
    noise = eval_noise(labels.shape[0], size, seed)
    with cpu_threads(ctx.device):
        grids = {
            name: sample_digits(model, KIND, labels, steps, noise=noise)
            for name, (model, _) in models.items()
        }
    (single_model, single_info), (naive_model, naive_info) = models.values()
    single = {
        "refiners": single_info["config"].get("n_refiner_layers", 1),
        "parameters": sum(p.numel() for p in single_model.parameters()),
        "fd16": sweep_point(sweep, 16)["fd"],
        "agreement8": sweep_point(sweep, 8)["agreement"],
    }
    naive = {"refiners": 0, **{k: naive_eval[k] for k in ("parameters", "fd16", "agreement8")}}
    header = [
        "model",
        "refiner blocks per modality",
        "parameters",
        "FD at 16 steps (lower is better)",
        "agreement at 8 steps",
    ]
    point = sweep_point(sweep, 16)
    gap = abs(single["fd16"] - naive["fd16"])
    note = TABLE_NOTE.format(
        yardstick=naive_eval["yardstick"],
        fd_min=point["fd_min"],
        fd_max=point["fd_max"],
        larger_or_smaller="larger" if point["fd_max"] - point["fd_min"] > gap else "smaller",
        gap=gap,
    )
    ctx.save_table(
        markdown_table(header, comparison_rows(single, naive)) + "\n\n" + note,
        "refiners-table.md",
    )
    ctx.save_json({"single": single, "naive": naive}, "numbers.json")

    fig, axes = plt.subplots(1, 2, figsize=(4.8, 4.6))
    for ax, (name, grid) in zip(axes, grids.items()):
        show_digits(ax, grid.reshape(10, per_class, 1, size, size))
        ax.set_title(name.replace(", ", "\n").replace(" (", "\n("), fontsize=9)
    row_labels(axes[0], [str(c) for c in range(10)], size)
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "refiners.png",
        alt=(
            f"Two grids of generated digits, 10 rows (prompts 0 to 9) by {per_class} samples, from the same noise "
            f"after {steps} Euler steps. Left, the single-stream model with refiners: FD {single['fd16']:.2f}, "
            f"{percent(single['agreement8'])} agreement. Right, the same design without refiners: FD "
            f"{naive['fd16']:.2f}, {percent(naive['agreement8'])} agreement."
        ),
        caption=f"The same prompts and noise, {steps} Euler steps, no guidance: with and without refiner blocks.",
    )

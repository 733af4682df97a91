"""Sample grids of the three digit generators beside real digits (``digits-samples``)."""

from __future__ import annotations

import torch

from artifacts.digits.models import TRAINED, load_all, on_cpu_threads
from artifacts.plotting import row_labels, show_digits
from sitetools.pipeline import producer
from snippets.digits.data import (
    default_evaluator,
)
from snippets.digits.evaluation import (
    eval_noise,
    variety,
)
from snippets.digits.training import KIND_TITLES, MODEL_NAMES, sample_digits


@producer(
    "digits-samples",
    params={"per_class": 4, "steps": [1, 4, 16], "seed": 11},
    needs=list(TRAINED.values()),
)
@on_cpu_threads
def digits_samples(ctx, per_class, steps, seed):
    """Sample grids (10 digits x ``per_class``) at 1, 4 and 16 steps beside real held-out digits."""
    import matplotlib.pyplot as plt

    summary = {}
    for kind, (model, info) in load_all(ctx).items():
        size = info["config"]["size"]
        ev = default_evaluator(size)
        # real: the first `per_class` held-out digits of each class
        real = torch.stack([ev.split.test_x[ev.split.test_y == c][:per_class] for c in range(10)])
        labels = torch.arange(10).repeat_interleave(per_class)
        noise = eval_noise(labels.shape[0], size, seed)
        grids = [
            sample_digits(model, kind, labels, s, noise=noise).reshape(10, per_class, 1, size, size)
            for s in steps
        ]
        # variety: pixel standard deviation across the samples of one class, averaged
        spread = {"real": variety(real), **{s: variety(g) for s, g in zip(steps, grids)}}
        summary[kind] = {str(k): v for k, v in spread.items()}

        fig, axes = plt.subplots(1, 1 + len(steps), figsize=(1.9 * (1 + len(steps)) + 0.4, 4.2))
        show_digits(axes[0], real, "real (held-out)")
        row_labels(axes[0], [str(c) for c in range(10)], size)
        for ax, s, grid in zip(axes[1:], steps, grids):
            show_digits(ax, grid, f"{s} Euler step{'s' if s > 1 else ''}")
        fig.suptitle(
            f"{KIND_TITLES[kind]}: samples by number of Euler steps (no guidance)", fontsize=11
        )
        fig.tight_layout()
        spread_text = ", ".join(f"{spread[s]:.2f} at {s} step{'s' if s > 1 else ''}" for s in steps)
        ctx.save_figure(
            fig,
            f"samples-{kind}.png",
            alt=(
                f"{1 + len(steps)} panels of small grey-scale digits, 10 rows (digits 0 to 9) by {per_class} columns "
                f"each. The first panel shows real held-out digits; the others show samples of the {MODEL_NAMES[kind]} "
                f"from the same noise after {', '.join(map(str, steps))} Euler steps. The one-step samples are "
                f"smooth averages of their class, nearly identical along a row; with more steps the strokes sharpen "
                f"and the samples of a row differ from one another like the real ones. Pixel spread within a row "
                f"(standard deviation across its samples, averaged): {spread_text}; real digits {spread['real']:.2f}."
            ),
            caption=(
                f"{KIND_TITLES[kind]} samples beside real digits; each column starts from the same noise in every "
                f"panel. Pixel spread within a row: {spread_text} (real digits {spread['real']:.2f})"
            ),
        )
    ctx.save_json(summary, "samples.json")

"""Sample grids of the three digit generators beside real digits (``digits-samples``).

The DiT draws one digit per class label; the MMDiT and the single-stream model draw two-digit
scenes, one row per caption (the captions of
[`GRID_CAPTIONS`][artifacts.digits.compare.GRID_CAPTIONS], held-out ones first).
"""

from __future__ import annotations

import torch

from artifacts.digits.compare import GRID_CAPTIONS, grid_requests
from artifacts.digits.models import TRAINED, load_all, on_cpu_threads
from artifacts.plotting import row_labels, show_digits
from sitetools.pipeline import producer
from snippets.digits.data import default_evaluator
from snippets.digits.evaluation import eval_noise, real_scenes, variety
from snippets.digits.training import KIND_TITLES, MODEL_NAMES, sample_digits


def spread_phrase(spread: dict, steps: list[int]) -> str:
    """How the pixel spread within a row moves with the step count, direction from the numbers.

    Examples:
        >>> spread_phrase({1: 0.05, 4: 0.2, 16: 0.3, "real": 0.35}, [1, 4, 16])
        'rises from 0.05 at 1 step to 0.30 at 16 steps (real: 0.35)'
    """
    first, last = f"{spread[steps[0]]:.2f}", f"{spread[steps[-1]]:.2f}"
    real = f"(real: {spread['real']:.2f})"
    if first == last:
        return f"stays at {first} from {steps[0]} to {steps[-1]} steps {real}"
    verb = "rises" if spread[steps[-1]] > spread[steps[0]] else "falls"
    return (
        f"{verb} from {first} at {steps[0]} step{'s' if steps[0] > 1 else ''} to {last} "
        f"at {steps[-1]} steps {real}"
    )


@producer(
    "digits-samples",
    params={"per_class": 4, "steps": [1, 4, 16], "seed": 11},
    needs=list(TRAINED.values()),
)
@on_cpu_threads
def digits_samples(ctx, per_class, steps, seed):
    """Sample grids at 1, 4 and 16 steps beside real digits (DiT) or real scenes (text models)."""
    import matplotlib.pyplot as plt

    summary = {}
    for kind, (model, info) in load_all(ctx).items():
        size = info["config"]["size"]
        ev = default_evaluator(size)
        if kind == "dit":
            # real: the first `per_class` held-out digits of each class
            real = torch.stack(
                [ev.split.test_x[ev.split.test_y == c][:per_class] for c in range(10)]
            )
            wanted = torch.arange(10).repeat_interleave(per_class)
            templates, labels, cols = None, [str(c) for c in range(10)], per_class
            noise = eval_noise(wanted.shape[0], size, seed)
        else:
            wanted, templates, labels = grid_requests()
            cols = wanted.shape[0] // len(GRID_CAPTIONS)
            real = real_scenes(ev, wanted).reshape(len(GRID_CAPTIONS), cols, 1, size, 2 * size)
            noise = eval_noise(cols, size, seed, 2 * size).repeat(len(GRID_CAPTIONS), 1, 1, 1)
        rows = len(labels)
        grids = [
            sample_digits(model, kind, wanted, s, noise=noise, templates=templates).reshape(
                rows, cols, *real.shape[2:]
            )
            for s in steps
        ]
        # variety: pixel standard deviation across the samples of one row, averaged
        spread = {"real": variety(real), **{s: variety(g) for s, g in zip(steps, grids)}}
        summary[kind] = {str(k): v for k, v in spread.items()}

        width = 1.9 if kind == "dit" else 2.6
        fig, axes = plt.subplots(
            1,
            1 + len(steps),
            figsize=(width * (1 + len(steps)) + 1.4, 4.2 if kind == "dit" else 3.0),
        )
        show_digits(axes[0], real, "real (held-out)" if kind == "dit" else "real digits")
        row_labels(axes[0], labels, size)
        for ax, s, grid in zip(axes[1:], steps, grids):
            show_digits(ax, grid, f"{s} Euler step{'s' if s > 1 else ''}")
        fig.suptitle(
            f"{KIND_TITLES[kind]}: samples by number of Euler steps (no guidance)", fontsize=11
        )
        fig.tight_layout()
        spread_text = spread_phrase(spread, steps)
        if kind == "dit":
            what = f"10 rows (digits 0 to 9) by {cols} columns"
            first = "real held-out digits"
        else:
            what = (
                f"{rows} rows of two-digit scenes, one caption each ("
                + ", ".join(f'"{label}"' for label in labels)
                + "), "
                f"by {cols} columns"
            )
            first = "real digits placed as each caption asks"
        ctx.save_figure(
            fig,
            f"samples-{kind}.png",
            alt=(
                f"{1 + len(steps)} panels of small grey-scale images, {what} each. The first panel "
                f"shows {first}; the others show samples of the {MODEL_NAMES[kind]} from the same "
                f"noise after {', '.join(map(str, steps))} Euler steps, each column starting from "
                f"one noise. The pixel spread within a row (standard deviation across its samples, "
                f"averaged) {spread_text}."
            ),
            caption=(
                f"{KIND_TITLES[kind][0].upper()}{KIND_TITLES[kind][1:]} samples beside real "
                f"{'digits' if kind == 'dit' else 'scenes'}"
                f"; each column starts from the same noise in every panel. Pixel spread within a "
                f"row {spread_text}"
            ),
        )
    ctx.save_json(summary, "samples.json")

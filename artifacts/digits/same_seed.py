"""One starting noise through every text model and step count (``digits-same-seed``)."""

from __future__ import annotations

import numpy as np
import torch

from artifacts.digits.models import TEXT_MODELS, on_cpu_threads
from artifacts.plotting import row_labels, show_digits
from sitetools.pipeline import producer
from snippets.digits.evaluation import eval_noise
from snippets.digits.scenes import HELD_OUT_PAIRS, caption
from snippets.digits.training import load_trained, sample_digits

ROW_NAMES = {
    "digits-mmdit": "MMDiT",
    "digits-naive-concat": "naive",
    "digits-single-stream": "single",
    "digits-no-refiners": "no refiners",
}
"""Short row labels of the four text models."""


def same_seed_sentence(numbers: dict) -> str:
    """The sentence on how alike the models' images are, the comparison read from the numbers.

    Examples:
        >>> same_seed_sentence({"between_models": 0.1, "between_noises": 0.4, "models": 4, "steps": 32})
        "At 32 steps the 4 models turn one noise into images that differ by 0.10 per pixel on average, less than the 0.40 between one model's images of the same caption from two noises (pixel values run from -1 to 1)."
    """
    a, b = numbers["between_models"], numbers["between_noises"]
    relation = "less than" if a < b else "more than" if a > b else "as much as"
    return (
        f"At {numbers['steps']} steps the {numbers['models']} models turn one noise into images "
        f"that differ by {a:.2f} per pixel on average, {relation} the {b:.2f} between one model's "
        f"images of the same caption from two noises (pixel values run from -1 to 1)."
    )


@producer(
    "digits-same-seed",
    params={"steps": [1, 2, 4, 8, 16, 32], "pairs": [[7, 3], [0, 5], [4, 7]], "seed": 21},
    needs=list(TEXT_MODELS),
)
@on_cpu_threads
def digits_same_seed(ctx, steps, pairs, seed):
    """The same starting noise through every text model and step count (the ODE is deterministic)."""
    import matplotlib.pyplot as plt

    models = {name: load_trained(ctx.input(name), ctx.device) for name in TEXT_MODELS}
    size = next(iter(models.values()))[1]["config"]["size"]
    wanted = torch.tensor(pairs)
    noise = eval_noise(len(pairs), size, seed, 2 * size)
    rows = {}
    repeat_equal = True
    for name, (model, info) in models.items():
        kind = info["config"]["kind"]
        rows[name] = torch.stack(
            [sample_digits(model, kind, wanted, s, noise=noise) for s in steps], dim=1
        )  # [P, S, 1, H, W]
        again = sample_digits(model, kind, wanted, steps[-1], noise=noise)
        repeat_equal &= torch.equal(again, rows[name][:, -1])
    captions = [caption(a, b) for a, b in pairs]
    fig, axes = plt.subplots(
        len(pairs), 1, figsize=(6.4, 1.45 * len(pairs) * len(models) / 4 + 0.6)
    )
    for j, (ax, text) in enumerate(zip(np.atleast_1d(axes), captions)):
        grid = torch.stack([rows[k][j] for k in models])  # [models, S, 1, H, W]
        held = " (held out)" if tuple(pairs[j]) in HELD_OUT_PAIRS else ""
        show_digits(ax, grid, f'"{text}"{held}')
        row_labels(ax, [ROW_NAMES[k] for k in models], size)
        ax.set_xticks([i * (2 * size + 1) + (2 * size - 1) / 2 for i in range(len(steps))])
        ax.set_xticklabels([str(s) for s in steps], fontsize=8)
    np.atleast_1d(axes)[-1].set_xlabel("Euler steps", fontsize=8)
    fig.tight_layout()
    # how alike are the models' final images, compared with two different noises for one caption?
    names = list(models)
    final = {k: rows[k][:, -1].clamp(-1, 1) for k in names}
    across_models = float(
        np.mean(
            [
                (final[a] - final[b]).abs().mean().item()
                for i, a in enumerate(names)
                for b in names[i + 1 :]
            ]
        )
    )
    other_noise = eval_noise(len(pairs), size, seed + 1, 2 * size)
    across_noise = float(
        np.mean(
            [
                (
                    final[k]
                    - sample_digits(
                        m, info["config"]["kind"], wanted, steps[-1], noise=other_noise
                    ).clamp(-1, 1)
                )
                .abs()
                .mean()
                .item()
                for k, (m, info) in models.items()
            ]
        )
    )
    numbers = {
        "repeat_bit_identical": repeat_equal,
        "steps": steps[-1],
        "models": len(models),
        "pairs": pairs,
        "seed": seed,
        "between_models": across_models,
        "between_noises": across_noise,
    }
    ctx.save_json(numbers, "same-seed.json")
    sentence = same_seed_sentence(numbers)
    ctx.save_table(sentence, "headline.md")
    ctx.save_figure(
        fig,
        "same-seed.png",
        alt=(
            f"{len(pairs)} panels, one per caption ({', '.join(captions)}); in each, "
            f"{len(models)} rows (MMDiT, naive concatenation, single-stream model, single-stream "
            f"model without refiners) by {len(steps)} columns (Euler steps "
            f"{', '.join(map(str, steps))}) of two-digit scenes, all starting from the same noise "
            f"image. {sentence}"
        ),
        caption=(
            f"One starting noise per caption, shared by all {len(models)} text models and all step "
            f"counts. Mean pixel difference at {steps[-1]} steps: {across_models:.2f} between "
            f"models, {across_noise:.2f} between two noises; "
            + (
                "sampling again gave bit-identical pixels"
                if repeat_equal
                else "sampling again gave DIFFERENT pixels"
            )
        ),
    )

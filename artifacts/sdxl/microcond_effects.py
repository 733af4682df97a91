"""What the micro-conditioned digit model does with its conditions (``sdxl-microcond-effects``).

Vary one condition, keep the rest at their clean values, start every row from the same noise,
and measure: sharpness (gradient energy) against the requested original size, and the shift of
the ink's centre of mass against the requested crop offset.
"""

from __future__ import annotations

import torch

from artifacts.plotting import row_labels, show_digits
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.digits.data import load_digit_split
from snippets.digits.microcond import (
    centre_of_mass,
    degrade,
    load_microcond,
    sample_microcond,
    sharpness,
)
from snippets.digits.training import cpu_threads


@producer(
    "sdxl-microcond-effects",
    params={"per_digit": 50, "steps": 16, "seed": 5},
    needs=["sdxl-microcond"],
)
def sdxl_microcond_effects(ctx, per_digit, steps, seed):
    """Size and crop sweeps of the trained model: two grids, a table and the numbers as JSON."""
    import matplotlib.pyplot as plt

    with cpu_threads(ctx.device):
        model, info = load_microcond(ctx.input("sdxl-microcond"), ctx.device)
        cfg = info["config"]
        size, max_crop = cfg["size"], cfg["max_crop"]
        labels = torch.arange(10).repeat(per_digit)  # 0..9, 0..9, ...: the first 10 are one of each
        n = labels.shape[0]
        zero = torch.zeros(n, 2, dtype=torch.long)
        full = torch.full((n,), size)
        originals = list(range(cfg["min_original"], size + 1))
        offsets = list(range(max_crop + 1))
        by_size = {
            o: sample_microcond(model, labels, torch.full((n,), o), zero, steps, seed)
            for o in originals
        }
        by_crop = {
            k: sample_microcond(model, labels, full, torch.full((n, 2), k), steps, seed)
            for k in offsets
        }

    real = load_digit_split(size=size).test_x
    real_n = real.shape[0]
    centre = centre_of_mass(by_crop[0]).mean(0)
    effects = {
        "samples_per_condition": n,
        "size": [
            {
                "original": o,
                "sharpness": round(sharpness(by_size[o]).mean().item(), 5),
                "data_sharpness": round(
                    sharpness(
                        degrade(
                            real,
                            torch.full((real_n,), o),
                            torch.zeros(real_n, 2, dtype=torch.long),
                            max_crop,
                        )
                    )
                    .mean()
                    .item(),
                    5,
                ),
            }
            for o in originals
        ],
        "crop": [
            {
                "offset": k,
                "shift": [
                    round(v, 3) for v in (centre_of_mass(by_crop[k]).mean(0) - centre).tolist()
                ],
                "data_shift": [
                    round(v, 3)
                    for v in (
                        centre_of_mass(
                            degrade(
                                real,
                                torch.full((real_n,), size),
                                torch.full((real_n, 2), k),
                                max_crop,
                            )
                        ).mean(0)
                        - centre_of_mass(real).mean(0)
                    ).tolist()
                ],
            }
            for k in offsets
        ],
    }
    ctx.save_json(effects, "effects.json")

    sharp = {row["original"]: row["sharpness"] for row in effects["size"]}
    shifts = {row["offset"]: row["shift"] for row in effects["crop"]}

    fig, ax = plt.subplots(figsize=(6.2, 0.62 * len(originals) + 0.8))
    show_digits(ax, torch.stack([by_size[o][:10] for o in originals]))
    row_labels(ax, [f"original {o} px" for o in originals], size)
    ax.set_title(f"Asked for a smaller original size (target {size} px, no crop)", fontsize=10)
    fig.tight_layout()
    listing = ", ".join(f"{sharp[o]:.3f} at {o} px" for o in originals)
    ctx.save_figure(
        fig,
        "size-grid.png",
        alt=(
            f"A grid of generated grey-scale digits, {len(originals)} rows by 10 columns (digits 0 to 9). Each column "
            f"starts from the same noise; the rows ask for an original size of {originals[0]} to {originals[-1]} "
            f"pixels. The top rows are soft and blurred, the bottom row crisp. Mean sharpness (gradient energy over "
            f"{n} samples per row): {listing}."
        ),
        caption=(
            f"Micro-conditioned digits, one original size per row, same noise per column ({ctx.profile} profile); "
            f"sharpness {listing}"
        ),
    )

    fig, ax = plt.subplots(figsize=(6.2, 0.62 * len(offsets) + 0.8))
    show_digits(ax, torch.stack([by_crop[k][:10] for k in offsets]))
    row_labels(ax, [f"crop ({k}, {k})" for k in offsets], size)
    ax.set_title(f"Asked for a crop offset (original {size} px)", fontsize=10)
    fig.tight_layout()
    listing = ", ".join(
        f"({shifts[k][0]:+.2f}, {shifts[k][1]:+.2f}) px at ({k}, {k})" for k in offsets[1:]
    )
    ctx.save_figure(
        fig,
        "crop-grid.png",
        alt=(
            f"A grid of generated grey-scale digits, {len(offsets)} rows by 10 columns (digits 0 to 9), same noise "
            f"per column. The top row asks for crop (0, 0) and shows centred digits; the rows below ask for offsets "
            f"up to ({max_crop}, {max_crop}) and show digits moved up and to the left, their tops and left sides cut "
            f"off. Mean shift of the ink's centre against crop (0, 0), as (rows, columns): {listing}."
        ),
        caption=(
            f"Micro-conditioned digits, one crop offset per row, same noise per column ({ctx.profile} profile); "
            f"centre-of-mass shift {listing}"
        ),
    )

    size_rows = [
        [f"{row['original']} px", f"{row['sharpness']:.4f}", f"{row['data_sharpness']:.4f}"]
        for row in effects["size"]
    ]
    crop_rows = [
        [
            f"({row['offset']}, {row['offset']})",
            f"({row['shift'][0]:+.2f}, {row['shift'][1]:+.2f})",
            f"({row['data_shift'][0]:+.2f}, {row['data_shift'][1]:+.2f})",
        ]
        for row in effects["crop"]
    ]
    ctx.save_table(
        markdown_table(
            [
                "asked original size",
                "sharpness of samples",
                "sharpness of held-out digits degraded so",
            ],
            size_rows,
        )
        + "\n\n"
        + markdown_table(
            [
                "asked crop",
                "centre shift of samples (rows, cols)",
                "centre shift of held-out digits cropped so",
            ],
            crop_rows,
        )
        + f"\n\n*Means over {n} samples per condition ({per_digit} per digit), {steps} Euler steps; "
        f"sharpness is the mean squared step between neighbouring pixels, with ink in [0, 1]; shifts are in pixels "
        f"against crop (0, 0).*",
        "effects.md",
    )

"""What the micro-conditioned digit model does with its conditions (``sdxl-microcond-effects``).

Vary one condition, keep the rest at their clean values, start every row from the same noise,
and measure: sharpness (gradient energy) against the requested original size, and the shift of
the ink's centre of mass against the requested crop offset.

Every sentence the page and the alt texts say about the result is written by
[`effect_sentences`][artifacts.sdxl.microcond_effects.effect_sentences] from the measured numbers,
direction included, so a run where the model did not learn a condition says so.
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


def _trend(values: list[float]) -> str:
    """``"rises"``, ``"falls"`` or ``"does not change"`` from the first value to the last, and
    whether it does so at every step."""
    first, last = values[0], values[-1]
    if first == last:
        return "does not change"
    word = "rises" if last > first else "falls"
    pairs = list(zip(values, values[1:]))
    steady = all((b > a) if last > first else (b < a) for a, b in pairs)
    return f"{word} at every step" if steady else f"{word} overall, though not at every step"


def _moves(shift: list[float]) -> str:
    """``[rows, cols]`` in pixels as words: ``"0.81 px up and 1.20 px left"``."""
    (dr, dc) = shift
    vertical = "up" if dr < 0 else "down" if dr > 0 else "not at all vertically"
    horizontal = "left" if dc < 0 else "right" if dc > 0 else "not at all horizontally"
    return f"{abs(dr):.2f} px {vertical} and {abs(dc):.2f} px {horizontal}"


def effect_sentences(effects: dict) -> dict[str, str]:
    """The result in words, from the measured numbers only (``effects.json``'s structure).

    Returns ``size``, ``crop`` and ``verdict``: one sentence each, every comparison and
    direction read from ``effects``.

    Examples:
        >>> effects = {
        ...     "size": [{"original": 3, "sharpness": 0.05, "data_sharpness": 0.06},
        ...              {"original": 8, "sharpness": 0.20, "data_sharpness": 0.25}],
        ...     "crop": [{"offset": 0, "shift": [0.0, 0.0], "data_shift": [0.0, 0.0]},
        ...              {"offset": 3, "shift": [-0.5, 1.0], "data_shift": [-0.6, -2.0]}]}
        >>> words = effect_sentences(effects)
        >>> print(words["size"])
        Asked for a larger original, the samples get sharper: their sharpness rises at every step, from 0.0500 at 3 px to 0.2000 at 8 px, in the same direction as held-out digits given that degradation (0.0600 to 0.2500).
        >>> print(words["crop"])
        Asked for crop (3, 3), the samples' ink centre moves 0.50 px up and 1.00 px right of where it sits at crop (0, 0); held-out digits given that crop move 0.60 px up and 2.00 px left. The samples move less along the rows than along the columns, as does the cropped data (the digits fill their height, so a crop from the top cuts ink away more than it moves it).
        >>> print(words["verdict"])
        The samples follow the data on size, but not on the crop (at least one axis moves the other way): at this training budget the model did not learn that condition.
    """
    sizes, crops = effects["size"], effects["crop"]
    sharp = [row["sharpness"] for row in sizes]
    data_sharp = [row["data_sharpness"] for row in sizes]
    lo, hi = sizes[0]["original"], sizes[-1]["original"]
    looks = (
        "sharper" if sharp[-1] > sharp[0] else "blurrier" if sharp[-1] < sharp[0] else "no sharper"
    )
    size_agrees = (sharp[-1] - sharp[0]) * (data_sharp[-1] - data_sharp[0]) > 0
    size = (
        f"Asked for a larger original, the samples get {looks}: "
        f"their sharpness {_trend(sharp)}, from {sharp[0]:.4f} at {lo} px to {sharp[-1]:.4f} at "
        f"{hi} px, {'in the same direction as' if size_agrees else 'unlike'} held-out digits given "
        f"that degradation ({data_sharp[0]:.4f} to {data_sharp[-1]:.4f})."
    )
    last = crops[-1]
    k = last["offset"]
    crop = (
        f"Asked for crop ({k}, {k}), the samples' ink centre moves {_moves(last['shift'])} of "
        f"where it sits at crop (0, 0); held-out digits given that crop move "
        f"{_moves(last['data_shift'])}."
    )
    rows_less = abs(last["shift"][0]) < abs(last["shift"][1])
    data_rows_less = abs(last["data_shift"][0]) < abs(last["data_shift"][1])
    crop += (
        f" The samples move {'less' if rows_less else 'more'} along the rows than along the columns, "
        + ("as does" if rows_less == data_rows_less else "unlike")
        + " the cropped data"
        + (
            " (the digits fill their height, so a crop from the top cuts ink away more than it"
            " moves it)."
            if data_rows_less
            else "."
        )
    )
    crop_agrees = all(
        row["shift"][axis] * row["data_shift"][axis] > 0 for row in crops[1:] for axis in (0, 1)
    )
    agrees = {"size": size_agrees, "the crop": crop_agrees}
    followed = [name for name, ok in agrees.items() if ok]
    missed = [name for name, ok in agrees.items() if not ok]
    if not missed:
        verdict = (
            "In both tables the samples move the way the training data does: the model learned "
            "which kind of digit goes with which numbers, and makes each kind on request."
        )
    else:
        axis = " (at least one axis moves the other way)" if not crop_agrees else ""
        verdict = (
            f"The samples follow the data on {followed[0]}, but not on {missed[0]}{axis}: at "
            "this training budget the model did not learn that condition."
            if followed
            else f"The samples follow the data on neither size nor the crop{axis}: at this "
            "training budget the model did not learn those conditions."
        )
    return {"size": size, "crop": crop, "verdict": verdict}


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

    words = effect_sentences(effects)
    ctx.save_table(" ".join(words.values()), "findings.md")
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
            f"pixels. Mean sharpness (gradient energy over {n} samples per row): {listing}. {words['size']}"
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
            f"per column. The top row asks for crop (0, 0), the rows below for offsets up to ({max_crop}, {max_crop}). "
            f"Mean shift of the ink's centre against crop (0, 0), as (rows, columns; negative is up and left): "
            f"{listing}. {words['crop']}"
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
        + f"\n\n*Means over {n} samples per condition ({per_digit} per digit), {steps} Euler steps (each one straight step along "
        f"the model's predicted direction); "
        f"sharpness is the mean squared step between neighbouring pixels, with ink in [0, 1]; shifts are in pixels "
        f"against crop (0, 0).*",
        "effects.md",
    )

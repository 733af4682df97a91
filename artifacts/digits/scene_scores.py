"""Placement and FD of the four text models on seen and held-out captions (``digits-scenes-*``).

One producer per trained text model runs [`scene_scores`][snippets.digits.evaluation.scene_scores]
over a few ``(steps, guidance)`` cells (the two ablations: the one cell their comparisons read)
and three noise seeds, and writes ``scenes.json`` (every
seed's numbers), ``scenes-table.md`` and ``headline.md``. The headline's sentences are chosen and
filled in by [`model_findings`][artifacts.digits.scene_scores.model_findings] from the stored rows:
the direction of each comparison, and whether it holds in every seed, come from the numbers.
"""

from __future__ import annotations

from artifacts.digits.models import TEXT_MODEL_NAMES, on_cpu_threads
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.digits.data import CLASS_NAMES, default_evaluator
from snippets.digits.evaluation import (
    SCENE_CELLS,
    SCENE_SEEDS,
    SCENE_SETS,
    SCENES_PER_SET,
    average_scenes,
    compare_seeds,
    real_scenes,
    scene_requests,
    scene_scores,
)
from snippets.digits.scenes import placement
from snippets.digits.training import load_trained

MAIN_CELL, GUIDED_CELL = (16, 1.0), (16, 3.0)
"""The cell the headlines read (16 steps, no guidance), and the guided cell beside it."""
SCENE_PARAMS = {
    "cells": [list(cell) for cell in SCENE_CELLS],
    "seeds": list(SCENE_SEEDS),
    "n": SCENES_PER_SET,
}
"""The lessons' two text models: every cell, for the tables of their own sections."""
ABLATION_SCENE_PARAMS = {**SCENE_PARAMS, "cells": [list(MAIN_CELL)]}
"""The two ablations (naive concatenation, no refiners): the pages compare them with their model
at ``MAIN_CELL`` only, so only that cell is sampled (16 of the 53 network evaluations)."""
CHANCE = 1 / len(CLASS_NAMES) ** 2
"""``both`` for a generator that ignores the caption: one ordered pair in a hundred."""
SET_NAMES = {"seen": "seen captions", "held_out": "held-out captions"}


def pct(x: float) -> str:
    """A share as a percentage with one decimal.

    Examples:
        >>> pct(0.125)
        '12.5%'
    """
    return f"{100 * x:.1f}%"


def pct_range(s: dict) -> str:
    """Mean and min-max over seeds of a share.

    Examples:
        >>> pct_range({"mean": 0.5, "min": 0.25, "max": 0.75})
        '50.0% (25.0–75.0)'
    """
    return f"{pct(s['mean'])} ({100 * s['min']:.1f}–{100 * s['max']:.1f})"


def num_range(s: dict) -> str:
    """Mean and min-max over seeds of a number.

    Examples:
        >>> num_range({"mean": 2.5, "min": 2.25, "max": 2.75})
        '2.50 (2.25–2.75)'
    """
    return f"{s['mean']:.2f} ({s['min']:.2f}–{s['max']:.2f})"


def cell_name(steps: int, guidance: float) -> str:
    """``"16 steps, no guidance"`` or ``"16 steps, w = 3"``.

    Examples:
        >>> cell_name(1, 1.0), cell_name(16, 3.0)
        ('1 step, no guidance', '16 steps, w = 3')
    """
    s = f"{steps} step{'s' if steps > 1 else ''}"
    return f"{s}, no guidance" if guidance == 1 else f"{s}, w = {guidance:g}"


def change(before: float, after: float, fmt) -> str:
    """``"rises from X to Y"``, ``"falls from X to Y"`` or ``"stays at X"``, as the printed numbers say.

    Examples:
        >>> change(0.5, 0.25, pct), change(3.0, 3.001, lambda v: f"{v:.2f}")
        ('falls from 50.0% to 25.0%', 'stays at 3.00')
    """
    a, b = fmt(before), fmt(after)
    if a == b:
        return f"stays at {a}"
    return f"{'rises' if after > before else 'falls'} from {a} to {b}"


def per_seed(rows: list[dict], cell, subset: str, measure: str = "both") -> list[float]:
    """One measure's per-seed values at ``cell`` for the ``"seen"`` or ``"held_out"`` captions.

    Examples:
        >>> rows = [{"steps": 16, "guidance": 1.0, "set": "seen", "seed": s, "both": s / 4} for s in (1, 2)]
        >>> per_seed(rows, (16, 1.0), "seen")
        [0.25, 0.5]
    """
    return [
        r[measure]
        for r in sorted(rows, key=lambda r: r["seed"])
        if (r["steps"], r["guidance"]) == tuple(cell) and r["set"] == subset
    ]


def scores_table(result: dict) -> str:
    """The table of one model's scene scores, one row per cell, with its note."""
    avg = average_scenes(result["rows"])
    cells = sorted({(r["steps"], r["guidance"]) for r in result["rows"]})
    header = [
        "sampling",
        "both digits placed, seen captions",
        "both digits placed, held-out captions",
        "FD, seen",
        "FD, held-out",
    ]
    rows = [
        [
            cell_name(*cell),
            pct_range(avg[(*cell, "seen")]["both"]),
            pct_range(avg[(*cell, "held_out")]["both"]),
            num_range(avg[(*cell, "seen")]["fd"]),
            num_range(avg[(*cell, "held_out")]["fd"]),
        ]
        for cell in cells
    ]
    seeds = len(result["seeds"])
    return markdown_table(header, rows, align="lrrrr") + (
        f"\n\n*Mean over {seeds} noise seeds (min–max in brackets), {result['scenes_per_set']} "
        f"scenes per set and seed. A scene counts when the classifier reads both halves as the "
        f"digits its caption put there; real digits placed as asked score "
        f"{pct(result['real']['held_out'])}, a model that ignored the caption about "
        f"{pct(result['chance'])}. FD compares the scenes' halves with the training digits; real "
        f"held-out digits score {result['yardstick']:.2f}.*"
    )


def model_findings(result: dict, name: str) -> list[str]:
    """The headline's sentences about one model, chosen and filled in from its stored rows.

    Examples:
        >>> rows = [{"steps": 16, "guidance": w, "set": s, "seed": seed, "both": b, "left": 1.0,
        ...          "right": 1.0, "fd": 3.0}
        ...         for w in (1.0, 3.0) for s, b in (("seen", 0.5), ("held_out", 0.25)) for seed in (1, 2)]
        >>> result = {"rows": rows, "seeds": [1, 2], "yardstick": 2.0, "chance": 0.01,
        ...           "real": {"seen": 0.96, "held_out": 0.96}}
        >>> findings = model_findings(result, "MMDiT")
        >>> findings[1]
        'Every seed places held-out captions at least 25 times as often as chance would.'
        >>> findings[2].startswith("Seen captions are placed more often than held-out ones in every seed")
        True
    """
    rows, chance = result["rows"], result["chance"]
    seen, held = per_seed(rows, MAIN_CELL, "seen"), per_seed(rows, MAIN_CELL, "held_out")
    fd_seen = sum(per_seed(rows, MAIN_CELL, "seen", "fd")) / len(seen)
    fd_held = sum(per_seed(rows, MAIN_CELL, "held_out", "fd")) / len(held)
    mean = {"seen": sum(seen) / len(seen), "held": sum(held) / len(held)}
    out = [
        f"At {cell_name(*MAIN_CELL)}, the {name} draws both digits where the caption puts them in "
        f"**{pct(mean['seen'])}** of the scenes for captions seen in training and "
        f"**{pct(mean['held'])}** for held-out captions (from seed to seed, {pct(min(seen))} to "
        f"{pct(max(seen))} and {pct(min(held))} to {pct(max(held))} over {len(seen)} noise seeds; "
        f"real digits placed as asked score {pct(result['real']['held_out'])}, a model that "
        f"ignored the caption about {pct(chance)})."
    ]
    if min(held) >= 5 * chance:
        out.append(
            f"Every seed places held-out captions at least {min(held) / chance:.0f} times as "
            f"often as chance would."
        )
    elif min(held) > chance:
        out.append(
            f"Every seed places held-out captions above chance, but the lowest only "
            f"{min(held) / chance:.1f} times as often."
        )
    else:
        out.append(
            "On held-out captions it is not above chance in every seed: it does not place the "
            "pairs it never saw better than a model that ignored the caption."
        )
    gap = compare_seeds(seen, held)
    if gap["beyond_spread"] and gap["higher"] == "a":
        out.append(
            "Seen captions are placed more often than held-out ones in every seed, by "
            # the difference of the two percentages as printed above, so the arithmetic adds up
            f"{round(100 * mean['seen'], 1) - round(100 * mean['held'], 1):.1f} points: part of "
            "what it learned is the pairs themselves."
        )
    elif gap["beyond_spread"]:
        out.append("Held-out captions are placed more often than seen ones in every seed.")
    else:
        out.append(
            f"Seen and held-out captions differ by {100 * gap['gap']:.1f} points, within the "
            f"spread of the seeds."
        )
    out.append(
        f"Its digits score an FD of {fd_seen:.2f} on seen and {fd_held:.2f} on held-out captions "
        f"(real held-out digits: {result['yardstick']:.2f})."
    )
    one_step = (1, MAIN_CELL[1])
    first = per_seed(rows, one_step, "held_out")
    if first and one_step != MAIN_CELL:
        first_fd = per_seed(rows, one_step, "held_out", "fd")
        out.append(
            f"From {one_step[0]} to {MAIN_CELL[0]} Euler steps, placement on held-out captions "
            f"{change(sum(first) / len(first), mean['held'], pct)} and the FD of those scenes' "
            f"digits "
            f"{change(sum(first_fd) / len(first_fd), fd_held, lambda v: f'{v:.2f}')}."
        )
    guided = per_seed(rows, GUIDED_CELL, "held_out")
    if guided:
        g = compare_seeds(guided, held)
        guided_fd = per_seed(rows, GUIDED_CELL, "held_out", "fd")
        within = "beyond" if g["beyond_spread"] else "within"
        out.append(
            f"With guidance w = {GUIDED_CELL[1]:g} at {GUIDED_CELL[0]} steps, placement on "
            f"held-out captions {change(mean['held'], sum(guided) / len(guided), pct)} ({within} "
            f"the spread of the seeds) and the FD of their digits "
            f"{change(fd_held, sum(guided_fd) / len(guided_fd), lambda v: f'{v:.2f}')}."
        )
    return out


def _scenes_artifact(ctx, name: str, cells, seeds, n) -> None:
    model, info = load_trained(ctx.input(name), ctx.device)
    kind, size = info["config"]["kind"], info["config"]["size"]
    ev = default_evaluator(size)
    cells = [tuple(c) for c in cells]
    rows = scene_scores(model, kind, ev, cells, seeds, n, size, ctx.progress)
    real = {}
    for subset, pairs in SCENE_SETS.items():
        asked, _ = scene_requests(pairs, n)
        real[subset] = placement(ev.classifier, real_scenes(ev, asked), asked)["both"]
    result = {
        "model": name,
        "kind": kind,
        "cells": [list(c) for c in cells],
        "seeds": list(seeds),
        "scenes_per_set": n,
        "yardstick": ev.yardstick,
        "chance": CHANCE,
        "real": real,
        "rows": rows,
    }
    ctx.save_json(result, "scenes.json")
    ctx.save_table(scores_table(result), "scenes-table.md")
    ctx.save_table(" ".join(model_findings(result, TEXT_MODEL_NAMES[name])), "headline.md")


@producer("digits-scenes-mmdit", params=SCENE_PARAMS, needs=["digits-mmdit"])
@on_cpu_threads
def digits_scenes_mmdit(ctx, cells, seeds, n):
    """Scene placement and FD of the MMDiT, seen and held-out captions, three seeds."""
    _scenes_artifact(ctx, "digits-mmdit", cells, seeds, n)


@producer("digits-scenes-naive-concat", params=ABLATION_SCENE_PARAMS, needs=["digits-naive-concat"])
@on_cpu_threads
def digits_scenes_naive_concat(ctx, cells, seeds, n):
    """Scene placement and FD of naive concatenation (the MMDiT with shared weights)."""
    _scenes_artifact(ctx, "digits-naive-concat", cells, seeds, n)


@producer("digits-scenes-single-stream", params=SCENE_PARAMS, needs=["digits-single-stream"])
@on_cpu_threads
def digits_scenes_single_stream(ctx, cells, seeds, n):
    """Scene placement and FD of the single-stream model."""
    _scenes_artifact(ctx, "digits-single-stream", cells, seeds, n)


@producer("digits-scenes-no-refiners", params=ABLATION_SCENE_PARAMS, needs=["digits-no-refiners"])
@on_cpu_threads
def digits_scenes_no_refiners(ctx, cells, seeds, n):
    """Scene placement and FD of the single-stream model without refiners."""
    _scenes_artifact(ctx, "digits-no-refiners", cells, seeds, n)

"""Two trained text models side by side: same captions, same noise, their scores and a headline.

Used by lesson 3's ``sd3-naive-vs-mmdit`` (MMDiT against naive concatenation) and lesson 4's
``zimage-refiners`` (single stream with and without refiners). The numbers come from each
model's ``digits-scenes-*`` evaluation; the sentences are chosen and filled in by
[`comparison_findings`][artifacts.digits.compare.comparison_findings]: which model is ahead, by
how much, and whether every seed of one scores above every seed of the other.
"""

from __future__ import annotations

import json

import torch

from artifacts.digits.scene_scores import MAIN_CELL, cell_name, num_range, pct, pct_range, per_seed
from artifacts.plotting import row_labels, show_digits
from snippets.digits.evaluation import (
    SCENES_PER_SET,
    compare_seeds,
    parameter_groups,
    scene_requests,
)
from snippets.digits.scenes import HELD_OUT_PAIRS, SEEN_PAIRS, caption, placement
from snippets.digits.training import digit_noise, sample_digits

GRID_CAPTIONS = ((4, 7, 0), (7, 0, 1), (2, 8, 2), (9, 5, 3), (3, 1, 0), (5, 2, 1))
"""``(left, right, phrasing)`` of the sample grids' rows: four held-out pairs, one in each
phrasing, then two seen ones."""
GRID_HELD_OUT = sum((a, b) in HELD_OUT_PAIRS for a, b, _ in GRID_CAPTIONS)
"""How many of the grids' rows are held-out captions (they come first)."""
GRID_COLUMNS, GRID_SEED, GRID_STEPS = 4, 11, 16
"""Noises per caption, their seed, and the Euler steps of the grids (no guidance)."""


def grid_requests() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The grids' pairs ``[R * C, 2]``, phrasings ``[R * C]`` and row labels.

    Examples:
        >>> pairs, templates, labels = grid_requests()
        >>> pairs.shape, labels[0], labels[-1]
        (torch.Size([24, 2]), 'four left of seven (held out)', 'two right of five')
    """
    rows = torch.tensor(GRID_CAPTIONS)
    pairs = rows[:, :2].repeat_interleave(GRID_COLUMNS, dim=0)
    templates = rows[:, 2].repeat_interleave(GRID_COLUMNS)
    labels = [
        caption(a, b, k) + (" (held out)" if (a, b) in HELD_OUT_PAIRS else "")
        for a, b, k in GRID_CAPTIONS
    ]
    return pairs, templates, labels


def sample_grid(model, kind: str, size: int) -> torch.Tensor:
    """The grid's scenes ``[R, C, 1, s, 2s]``: column ``j`` starts from the same noise in every
    row and for every model."""
    pairs, templates, _ = grid_requests()
    noise = digit_noise(GRID_COLUMNS, size, GRID_SEED, 2 * size).repeat(len(GRID_CAPTIONS), 1, 1, 1)
    x = sample_digits(model, kind, pairs, GRID_STEPS, noise=noise, templates=templates)
    return x.reshape(len(GRID_CAPTIONS), GRID_COLUMNS, *x.shape[1:])


def grid_figure(grids: dict[str, torch.Tensor], size: int):
    """Side-by-side grids of two (or more) models, captions as row labels."""
    import matplotlib.pyplot as plt

    _, _, labels = grid_requests()
    fig, axes = plt.subplots(1, len(grids), figsize=(2.0 * len(grids) + 2.4, 2.7))
    for ax, (name, grid) in zip(axes, grids.items()):
        show_digits(ax, grid, name)
    row_labels(axes[0], labels, size)
    fig.suptitle(f"Same captions, same noise, {GRID_STEPS} Euler steps, no guidance", fontsize=10)
    fig.tight_layout()
    return fig


def grid_counts(grid: torch.Tensor, classifier) -> dict[str, int]:
    """How many of a grid's held-out and seen scenes have both digits placed as captioned."""
    pairs, _, _ = grid_requests()
    flat = grid.reshape(-1, *grid.shape[2:])
    counts = {"held out": 0, "seen": 0}
    for i, (a, b) in enumerate(pairs.tolist()):
        ok = placement(classifier, flat[i : i + 1], pairs[i : i + 1])["both"] == 1.0
        counts["held out" if (a, b) in HELD_OUT_PAIRS else "seen"] += int(ok)
    return counts


def grid_alt(counts: dict[str, dict[str, int]]) -> str:
    """Alt text of a comparison grid, with each model's count of correctly placed scenes."""
    seen = (len(GRID_CAPTIONS) - GRID_HELD_OUT) * GRID_COLUMNS
    return (
        f"{len(counts)} grids of generated two-digit scenes, {len(GRID_CAPTIONS)} rows (one caption "
        f"each, the first {GRID_HELD_OUT} held out of training) by {GRID_COLUMNS} columns (one "
        f"starting noise each, the same in every grid), after {GRID_STEPS} Euler steps without "
        "guidance. "
        + " ".join(
            f"{name}: {c['held out']} of {GRID_HELD_OUT * GRID_COLUMNS} held-out and {c['seen']} "
            f"of {seen} seen scenes have both digits classified as captioned."
            for name, c in counts.items()
        )
    )


def grid_caption(counts: dict[str, dict[str, int]]) -> str:
    """The end of a comparison grid's caption: each model's correctly placed scenes."""
    return (
        "Scenes with both digits where the caption put them: "
        + "; ".join(
            f"{name}, {c['held out']} of {GRID_HELD_OUT * GRID_COLUMNS} held-out and {c['seen']} "
            f"of {(len(GRID_CAPTIONS) - GRID_HELD_OUT) * GRID_COLUMNS} seen"
            for name, c in counts.items()
        )
        + f". A sample this small shows what the scenes look like; the table scores "
        f"{SCENES_PER_SET} scenes per set of captions and noise seed"
    )


PAIR_SCENES, PAIR_SEED = 4, 12
"""Scenes per ordered pair in the pair maps (one in each phrasing) and their noise seed."""


def pair_placement(model, kind: str, classifier, size: int) -> torch.Tensor:
    """``[10, 10]``: the share of ``PAIR_SCENES`` scenes of each (left, right) pair, one per
    phrasing, that have both digits where the caption put them (16 steps, no guidance)."""
    pairs = sorted(SEEN_PAIRS + HELD_OUT_PAIRS)
    requested, templates = scene_requests(pairs, PAIR_SCENES * len(pairs))
    noise = digit_noise(len(requested), size, PAIR_SEED, 2 * size)
    scenes = sample_digits(
        model, kind, requested, GRID_STEPS, noise=noise, templates=templates
    ).cpu()
    rates = torch.zeros(10, 10)
    for a, b in pairs:
        mine = (requested[:, 0] == a) & (requested[:, 1] == b)
        rates[a, b] = placement(classifier, scenes[mine], requested[mine])["both"]
    return rates


def pair_summary(rates: torch.Tensor) -> dict[str, float | int]:
    """What a pair map shows, in numbers: the mean placement over held-out and seen pairs, and
    how many held-out pairs have at least one scene placed as captioned.

    Examples:
        >>> rates = torch.zeros(10, 10)
        >>> rates[0, 3] = 0.5                              # a held-out pair
        >>> rates[0, 1] = 1.0                              # a seen one
        >>> s = pair_summary(rates)
        >>> s["held_out_pairs_placed"], round(s["held_out"], 3), round(s["seen"], 4)
        (1, 0.025, 0.0125)
    """
    held = torch.tensor([rates[a, b] for a, b in HELD_OUT_PAIRS])
    seen = torch.tensor([rates[a, b] for a, b in SEEN_PAIRS])
    return {
        "held_out": held.mean().item(),
        "seen": seen.mean().item(),
        "held_out_pairs_placed": int((held > 0).sum()),
        "held_out_pairs": len(HELD_OUT_PAIRS),
    }


def pair_figure(maps: dict[str, torch.Tensor]):
    """One 10 x 10 map per model: placement per (left, right) pair, held-out pairs outlined."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(1, len(maps), figsize=(2.9 * len(maps) + 0.8, 3.2))
    for ax, (name, rates) in zip(axes, maps.items()):
        image = ax.imshow(rates.numpy(), cmap="cividis", vmin=0, vmax=1)
        for a, b in HELD_OUT_PAIRS:
            ax.add_patch(Rectangle((b - 0.5, a - 0.5), 1, 1, fill=False, ec="#D55E00", lw=1.6))
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
        ax.tick_params(length=0, labelsize=8)
        ax.set_xlabel("right digit", fontsize=9)
        ax.set_title(name, fontsize=10)
    axes[0].set_ylabel("left digit", fontsize=9)
    fig.colorbar(image, ax=list(axes), shrink=0.85, label="share placed as captioned")
    fig.suptitle(
        f"Every caption pair, {PAIR_SCENES} scenes each, {GRID_STEPS} Euler steps "
        "(held-out pairs outlined)",
        fontsize=10,
    )
    return fig


def pair_words(summaries: dict[str, dict], names: tuple[str, ...]) -> str:
    """The pair maps' caption, filled in from their numbers.

    Examples:
        >>> s = {"held_out": 0.3, "seen": 0.7, "held_out_pairs_placed": 14, "held_out_pairs": 20}
        >>> pair_words({"A": s, "B": {**s, "held_out_pairs_placed": 2}}, ("A", "B"))
        'Held-out pairs with at least one of their 4 scenes placed as captioned: 14 of 20 for the A, 2 for the B. Mean placement over the held-out pairs: the A 30.0%, the B 30.0%; over the seen pairs: the A 70.0%, the B 70.0%'
    """
    first = next(iter(summaries.values()))
    rows = list(zip(names, summaries.values()))
    placed = ", ".join(
        (
            f"{s['held_out_pairs_placed']} of {first['held_out_pairs']}"
            if i == 0
            else f"{s['held_out_pairs_placed']}"
        )
        + f" for the {n}"
        for i, (n, s) in enumerate(rows)
    )
    held = ", ".join(f"the {n} {pct(s['held_out'])}" for n, s in rows)
    seen = ", ".join(f"the {n} {pct(s['seen'])}" for n, s in rows)
    return (
        f"Held-out pairs with at least one of their {PAIR_SCENES} scenes placed as captioned: "
        f"{placed}. Mean placement over the held-out pairs: {held}; over the seen pairs: {seen}"
    )


def load_scores(path) -> dict:
    """A ``digits-scenes-*`` folder's ``scenes.json``."""
    return json.loads((path / "scenes.json").read_text())


def comparison_findings(a: dict, b: dict, names: tuple[str, str]) -> list[str]:
    """Sentences comparing two models' stored scene scores at the main cell, one per measure.

    Each says which model is ahead and by how much, and whether the gap is beyond the spread of
    the seeds (every seed of one above every seed of the other) or within it.

    Examples:
        >>> def rows(both):
        ...     return [{"steps": 16, "guidance": 1.0, "set": s, "seed": seed, "both": both + seed / 100,
        ...              "fd": 3.0 - both} for s in ("seen", "held_out") for seed in (1, 2, 3)]
        >>> found = comparison_findings({"rows": rows(0.5)}, {"rows": rows(0.25)}, ("MMDiT", "naive"))
        >>> found[1]
        'On held-out captions the MMDiT places both digits in 52.0% of the scenes and the naive in 27.0%: the MMDiT is ahead by 25.0 points, beyond the spread of the seeds (every seed of the MMDiT scores above every seed of the naive).'
        >>> comparison_findings({"rows": rows(0.5)}, {"rows": rows(0.49)}, ("MMDiT", "naive"))[1].endswith(
        ...     "within the spread of the seeds: the seeds overlap, so this toy does not separate the two.")
        True
    """
    out = []
    for subset, words in (("seen", "seen captions"), ("held_out", "held-out captions")):
        va, vb = per_seed(a["rows"], MAIN_CELL, subset), per_seed(b["rows"], MAIN_CELL, subset)
        c = compare_seeds(va, vb)
        ahead, behind = names if c["higher"] == "a" else names[::-1]
        where = (
            f"beyond the spread of the seeds (every seed of the {ahead} scores above every seed "
            f"of the {behind})"
            if c["beyond_spread"]
            else "within the spread of the seeds: the seeds overlap, so this toy does not "
            "separate the two"
        )
        # The gap between the two percentages as printed, so the sentence's arithmetic adds up.
        ma, mb = (round(100 * sum(v) / len(v), 1) for v in (va, vb))
        gap = f"{abs(ma - mb):.1f}"
        verdict = (
            "the two are level, so this toy does not separate them"
            if gap == "0.0"
            else f"the {ahead} is ahead by {gap} points, {where}"
        )
        out.append(
            f"On {words} the {names[0]} places both digits in {pct(sum(va) / len(va))} of the "
            f"scenes and the {names[1]} in {pct(sum(vb) / len(vb))}: {verdict}."
        )
    fa = per_seed(a["rows"], MAIN_CELL, "held_out", "fd")
    fb = per_seed(b["rows"], MAIN_CELL, "held_out", "fd")
    c = compare_seeds(fa, fb)
    lower = names[1] if c["higher"] == "a" else names[0]
    out.append(
        f"For held-out captions the digits score an FD of {sum(fa) / len(fa):.2f} for the "
        f"{names[0]} and {sum(fb) / len(fb):.2f} for the {names[1]} (lower is better): the "
        f"{lower} draws digits closer to real ones, "
        + ("beyond" if c["beyond_spread"] else "within")
        + " the spread of the seeds."
    )
    out[0] = f"At {cell_name(*MAIN_CELL)}: " + out[0][0].lower() + out[0][1:]
    return out


def comparison_rows(models: dict[str, dict]) -> list[list[str]]:
    """Table rows for models ``{name: {"info", "model", "scores"}}``: parameters by group, then
    placement and FD at the main cell with their spread over seeds."""
    from snippets.digits.evaluation import average_scenes

    cols = []
    for m in models.values():
        avg = average_scenes(m["scores"]["rows"])
        cols.append(
            {
                "groups": parameter_groups(m["model"]),
                "seen": avg[(*MAIN_CELL, "seen")],
                "held": avg[(*MAIN_CELL, "held_out")],
                "config": m["info"]["config"],
            }
        )

    def row(label, f):
        return [label, *(f(c) for c in cols)]

    return [
        row(
            "width, training steps, peak learning rate",
            lambda c: (
                f"{c['config']['hidden_size']}, {c['config']['steps']:,}, {c['config']['lr']:g}"
            ),
        ),
        row("parameters: image only", lambda c: f"{c['groups']['image only']:,}"),
        row("parameters: text only", lambda c: f"{c['groups']['text only']:,}"),
        row("parameters: shared by both", lambda c: f"{c['groups']['shared by both']:,}"),
        row("**trained parameters: total**", lambda c: f"**{sum(c['groups'].values()):,}**"),
        row("both digits placed, seen captions", lambda c: pct_range(c["seen"]["both"])),
        row(
            "**both digits placed, held-out captions**",
            lambda c: f"**{pct_range(c['held']['both'])}**",
        ),
        row("FD, held-out captions (lower is better)", lambda c: num_range(c["held"]["fd"])),
    ]


def table_note(scores: dict) -> str:
    """The note under a comparison table, from one model's stored evaluation."""
    return (
        f"*{cell_name(*MAIN_CELL).capitalize()}; mean over {len(scores['seeds'])} noise seeds "
        f"(min–max in brackets), {scores['scenes_per_set']} scenes per set and seed, the same "
        f"noise and captions for both models. Real digits placed as asked score "
        f"{pct(scores['real']['held_out'])}; a model that ignored the caption, about "
        f"{pct(scores['chance'])}. Real held-out digits score an FD of {scores['yardstick']:.2f}.*"
    )

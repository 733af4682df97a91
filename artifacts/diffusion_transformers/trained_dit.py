"""Lesson 2, a trained DiT: what its samples and sweep show, in words (``dit-trained-findings``).

Every sentence about an outcome is filled in from the stored measurements of ``digits-samples``
and ``digits-sweep-dit``, and each comparison's direction is chosen by the numbers: where they
turn the other way, the text says so. No training or sampling happens here, so the artifact
costs milliseconds.
"""

from __future__ import annotations

import json

from artifacts.digits.sweeps import seeds_note
from artifacts.plotting import percent
from sitetools.pipeline import producer


def _series(values: dict[int, float], fmt: str) -> str:
    """``values`` by step count as a phrase: "62.1 at 1 step, 20.3 at 2 and 8.1 at 4 steps".

    Examples:
        >>> _series({1: 62.14, 2: 20.3, 4: 8.12}, "{:.1f}")
        '62.1 at 1 step, 20.3 at 2 and 8.1 at 4 steps'
        >>> _series({8: 3.0}, "{:.2f}")
        '3.00 at 8 steps'
    """
    items = [(s, fmt.format(v)) for s, v in values.items()]
    *head, (last_s, last_v) = items
    parts = [f"{v} at {s} step" if s == 1 else f"{v} at {s}" for s, v in head]
    tail = f"{last_v} at {last_s} step{'s' if last_s != 1 else ''}"
    return f"{', '.join(parts)} and {tail}" if parts else tail


def _change(before: float, after: float) -> str:
    """How FD moves between two step counts, in words.

    Examples:
        >>> _change(60.0, 20.0), _change(4.0, 4.5)
        ('lowers FD by 40.0', 'raises FD by 0.5')
    """
    return f"{'lowers' if after <= before else 'raises'} FD by {abs(before - after):.1f}"


def _spread_note(
    avg: dict[tuple[int, float], dict],
    cells: list[tuple[int, float]],
    key: str,
    difference: float,
    fmt: str,
) -> str:
    """ "less than the spread across noise seeds at ..." when ``difference`` is smaller than the
    seed spread of the first of ``cells`` that averages several seeds, else "".

    Examples:
        >>> avg = {(16, 1.0): {"fd": 2.9, "fd_min": 2.4, "fd_max": 3.4, "seeds": 6},
        ...        (32, 1.0): {"fd": 2.8, "fd_min": 2.8, "fd_max": 2.8, "seeds": 1}}
        >>> _spread_note(avg, [(16, 1.0), (32, 1.0)], "fd", 0.1, "{:.2f}")
        'less than the spread across noise seeds at 16 steps (2.40 to 3.40)'
        >>> _spread_note(avg, [(16, 1.0), (32, 1.0)], "fd", 2.0, "{:.2f}")
        ''
    """
    for steps, w in cells:
        cell = avg[(steps, w)]
        if cell.get("seeds", 1) > 1:
            low, high = cell[f"{key}_min"], cell[f"{key}_max"]
            if difference < high - low:
                where = f"{steps} steps" + ("" if w == 1.0 else f", w = {w:g}")
                return (
                    f"less than the spread across noise seeds at {where} "
                    f"({fmt.format(low)} to {fmt.format(high)})"
                )
            return ""
    return ""


def steps_finding(avg: dict[tuple[int, float], dict]) -> str:
    """What the unguided FD column says about the number of Euler steps.

    Args:
        avg: ``(steps, guidance) -> {"fd", "seeds", ...}`` as from
            [`average_sweep`][snippets.digits.evaluation.average_sweep].

    Examples:
        >>> cells = {(1, 1.0): 60.0, (2, 1.0): 20.0, (4, 1.0): 8.0, (8, 1.0): 4.0, (16, 1.0): 3.0}
        >>> avg = {k: {"fd": v, "fd_min": v - 0.2, "fd_max": v + 0.2, "seeds": 2}
        ...        for k, v in cells.items()}
        >>> print(steps_finding(avg))  # doctest: +NORMALIZE_WHITESPACE
        **Steps buy quality, with diminishing returns.** Without guidance, FD is 60.0 at 1 step,
        20.0 at 2, 8.0 at 4, 4.0 at 8 and 3.0 at 16 steps (mean of 2 noise seeds). The first
        doubling, from 1 to 2 steps, lowers FD by 40.0; the last, from 8 to 16 steps, lowers FD
        by 1.0. By 4 steps, 91% of the fall from 1 step to the best count is done.
        >>> avg[(16, 1.0)]["fd"] = 5.0
        >>> print(steps_finding(avg).split(". ")[-1])
        FD does not fall at every count: it rises from 4.0 at 8 steps to 5.0 at 16.
    """
    steps = sorted(s for s, w in avg if w == 1.0)
    fd = {s: avg[(s, 1.0)]["fd"] for s in steps}
    first, last = fd[steps[0]] - fd[steps[1]], fd[steps[-2]] - fd[steps[-1]]
    if fd[steps[-1]] >= fd[steps[0]]:
        title = "More steps do not lower FD here."
    elif first > last >= 0:
        title = "Steps buy quality, with diminishing returns."
    else:
        title = "Steps buy quality."
    best = min(fd.values())
    text = (
        f"**{title}** Without guidance, FD is {_series(fd, '{:.1f}')} ({seeds_note(avg)}). "
        f"The first doubling, from {steps[0]} to {steps[1]} steps, "
        f"{_change(fd[steps[0]], fd[steps[1]])}; the last, from {steps[-2]} to {steps[-1]} "
        f"steps, {_change(fd[steps[-2]], fd[steps[-1]])}."
    )
    spread = _spread_note(avg, [(steps[-2], 1.0), (steps[-1], 1.0)], "fd", abs(last), "{:.2f}")
    if spread:
        text = text[:-1] + f", {spread}."
    if fd[steps[0]] > best:
        fall = fd[steps[0]] - best
        by = next(s for s in steps if fd[steps[0]] - fd[s] >= 0.8 * fall)
        share = (fd[steps[0]] - fd[by]) / fall
        text += (
            f" By {by} steps, {share:.0%} of the fall from {steps[0]} step to the best count "
            "is done."
        )
    rises = [(a, b) for a, b in zip(steps, steps[1:]) if fd[b] > fd[a]]
    if rises:
        a, b = rises[0]
        text += (
            f" FD does not fall at every count: it rises from {fd[a]:.1f} at {a} steps to "
            f"{fd[b]:.1f} at {b}."
        )
    return text


def agreement_finding(avg: dict[tuple[int, float], dict], accuracy: float) -> str:
    """Unguided agreement at one step against the step count where FD is best, read against the
    spread over noise seeds.

    Args:
        avg: as for [`steps_finding`][artifacts.diffusion_transformers.trained_dit.steps_finding],
            with ``agreement``, ``agreement_min`` and ``agreement_max``.
        accuracy: the classifier's accuracy on real held-out digits.

    Examples:
        >>> def cell(fd, ag, lo, hi, n):
        ...     return {"fd": fd, "fd_max": fd + 1, "agreement": ag, "agreement_min": lo,
        ...             "agreement_max": hi, "seeds": n}
        >>> avg = {(1, 1.0): cell(60.0, 1.0, 1.0, 1.0, 1), (16, 1.0): cell(3.0, 0.97, 0.96, 0.98, 6),
        ...        (32, 1.0): cell(2.8, 0.96, 0.96, 0.96, 1)}
        >>> print(agreement_finding(avg, 0.98))  # doctest: +NORMALIZE_WHITESPACE
        **Agreement and FD measure different things.** Without guidance, agreement is 100.0% at 1
        step, where FD is at its worst, and 97.0% at 16 steps (96.0% to 98.0% across 6 noise
        seeds), where FD is 3.00; real held-out digits score 98.0%. Agreement is higher where the
        samples are worse: a blurry class average is an easy digit to classify, and agreement
        cannot see blur or sameness. FD tells the two apart, because blur and sameness move the
        samples' feature statistics away from the real ones.
        >>> avg[(1, 1.0)]["agreement"] = 0.5
        >>> print(agreement_finding(avg, 0.98).split("; ")[1])
        real held-out digits score 98.0%. Here agreement rises as FD improves, from 50.0% to 97.0%
    """
    steps = sorted(s for s, w in avg if w == 1.0)
    first = avg[(steps[0], 1.0)]
    # the reference: the unguided cell with the most seeds, and among those the lowest FD
    s_ref = min(steps[1:], key=lambda s: (-avg[(s, 1.0)]["seeds"], avg[(s, 1.0)]["fd"]))
    best = avg[(s_ref, 1.0)]
    worst = first["fd"] >= max(avg[(s, 1.0)]["fd"] for s in steps)
    spread = (
        f" ({percent(best['agreement_min'])} to {percent(best['agreement_max'])} across "
        f"{best['seeds']} noise seeds)"
        if best["seeds"] > 1
        else ""
    )
    text = (
        f"**Agreement and FD measure different things.** Without guidance, agreement is "
        f"{percent(first['agreement'])} at {steps[0]} step, where FD is "
        f"{'at its worst' if worst else 'at ' + format(first['fd'], '.1f')}, and "
        f"{percent(best['agreement'])} at {s_ref} steps{spread}, where FD is {best['fd']:.2f}; "
        f"real held-out digits score {percent(accuracy)}. "
    )
    within = best["agreement_min"] <= first["agreement"] <= best["agreement_max"]
    fd_apart = first["fd"] > best.get("fd_max", best["fd"])
    if first["agreement"] > best["agreement"] and not within:
        text += (
            "Agreement is higher where the samples are worse: a blurry class average is an easy "
            "digit to classify, and agreement cannot see blur or sameness."
        )
    elif within:
        text += (
            "The two agreements differ by less than the spread across noise seeds: agreement "
            "cannot see blur or sameness."
        )
    else:
        text += (
            f"Here agreement rises as FD improves, from {percent(first['agreement'])} to "
            f"{percent(best['agreement'])}; still, a set of identical, perfect digits would score "
            "100% agreement."
        )
    if fd_apart:
        text += (
            " FD tells the two apart, because blur and sameness move the samples' feature "
            "statistics away from the real ones."
        )
    return text


def guidance_finding(
    avg: dict[tuple[int, float], dict], grid: dict[float, dict], grid_steps: int = 16
) -> str:
    """What the strongest swept guidance does at ``grid_steps`` steps, and what the grid shows.

    Args:
        avg: as for [`agreement_finding`][artifacts.diffusion_transformers.trained_dit.agreement_finding].
        grid: guidance scale -> ``{"spread", "ink"}`` of the guidance grid (same noise per row).
        grid_steps: the step count of the grid and of the comparison.

    Examples:
        >>> avg = {(16, 1.0): {"fd": 3.0, "agreement": 0.97},
        ...        (16, 3.0): {"fd": 9.0, "agreement": 1.0}}
        >>> grid = {1.0: {"spread": 0.40}, 6.0: {"spread": 0.20}}
        >>> print(guidance_finding(avg, grid))  # doctest: +NORMALIZE_WHITESPACE
        **Guidance trades variety for agreement.** At 16 steps, guidance w = 3 raises agreement
        from 97.0% to 100.0%, and raises FD from 3.00 to 9.00. In the grid below, the pixel spread
        among the six samples of a digit goes from 0.40 without guidance to 0.20 at w = 6: the
        samples of a digit become more alike as guidance grows.
        >>> avg[(16, 3.0)]["fd"] = 2.0
        >>> print(guidance_finding(avg, grid).split(" At")[0])
        **Guidance raises agreement and lowers FD here.**
    """
    w_max = max(w for s, w in avg if s == grid_steps)
    plain, guided = avg[(grid_steps, 1.0)], avg[(grid_steps, w_max)]
    ag_up, fd_up = guided["agreement"] > plain["agreement"], guided["fd"] > plain["fd"]
    if ag_up and fd_up:
        title = "Guidance trades variety for agreement."
    elif ag_up:
        title = "Guidance raises agreement and lowers FD here."
    else:
        title = "Guidance does not raise agreement here."
    lo, hi = min(grid), max(grid)
    more_alike = grid[hi]["spread"] < grid[lo]["spread"]
    spreads = [grid[w]["spread"] for w in sorted(grid)]
    steady = all(a > b for a, b in zip(spreads, spreads[1:])) or all(
        a < b for a, b in zip(spreads, spreads[1:])
    )
    trend = (
        f"become {'more alike' if more_alike else 'more varied'} as guidance grows"
        if steady
        else f"are {'more alike' if more_alike else 'more varied'} at w = {hi:g} than without it"
    )
    cells = [(grid_steps, 1.0)]
    ag_note = _spread_note(
        avg, cells, "agreement", abs(guided["agreement"] - plain["agreement"]), "{:.1%}"
    )
    fd_note = _spread_note(avg, cells, "fd", abs(guided["fd"] - plain["fd"]), "{:.2f}")
    return (
        f"**{title}** At {grid_steps} steps, guidance w = {w_max:g} "
        f"{'raises' if ag_up else 'does not raise'} agreement from {percent(plain['agreement'])} "
        f"to {percent(guided['agreement'])}{', ' + ag_note if ag_note else ''}, and "
        f"{'raises' if fd_up else 'lowers'} FD from {plain['fd']:.2f} to {guided['fd']:.2f}"
        f"{', ' + fd_note if fd_note else ''}. In the grid below, the pixel spread among the "
        f"six samples of a digit goes from {grid[lo]['spread']:.2f} without guidance to "
        f"{grid[hi]['spread']:.2f} at w = {hi:g}: the samples of a digit {trend}."
    )


def draws_finding(spread: dict[str, float]) -> str:
    """What the sample panels show about the variety of each digit, by step count.

    Args:
        spread: ``"real"`` and each step count (as a string) -> the pixel spread within a row.

    Examples:
        >>> print(draws_finding({"real": 0.5, "1": 0.05, "4": 0.3, "16": 0.45}))  # doctest: +NORMALIZE_WHITESPACE
        The one-step samples of a digit are the most alike of the three panels: their pixel
        spread is 0.05, against 0.30 at 4 steps, 0.45 at 16 steps and 0.50 for real digits. With
        more steps the spread grows towards that of real handwriting.
        >>> print(draws_finding({"real": 0.5, "1": 0.4, "4": 0.3, "16": 0.45}).split(":")[0])
        The one-step samples of a digit are not the most alike of the three panels
    """
    steps = sorted((k for k in spread if k != "real"), key=int)
    one, rest = spread[steps[0]], [spread[s] for s in steps[1:]]
    others = ", ".join(f"{spread[s]:.2f} at {s} steps" for s in steps[1:])
    most_alike = one < min(rest)
    text = (
        f"The one-step samples of a digit are {'' if most_alike else 'not '}the most alike of "
        f"the {len(steps)} panels: their pixel spread is {one:.2f}, against {others} and "
        f"{spread['real']:.2f} for real digits."
    )
    growing = all(a < b for a, b in zip([one, *rest], rest))
    if most_alike and growing:
        text += " With more steps the spread grows towards that of real handwriting."
    return text.replace("the 3 panels", "the three panels")


@producer("dit-trained-findings", needs=["digits-sweep-dit", "digits-samples"])
def dit_trained_findings(ctx) -> None:
    """The trained DiT's results as sentences: ``draws.md`` (samples by step count) and
    ``sweep-reading.md`` (steps, agreement against FD, guidance), each filled from the stored
    numbers.

    Args:
        ctx: the pipeline's [`Context`][sitetools.pipeline.Context].

    Examples:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> from sitetools.pipeline import Context
        >>> root = Path(tempfile.mkdtemp())
        >>> def cell(steps, w, fd, ag, seeds=1):
        ...     return {"steps": steps, "guidance": w, "fd": fd, "fd_min": fd, "fd_max": fd,
        ...             "agreement": ag, "agreement_min": ag, "agreement_max": ag, "seeds": seeds}
        >>> mean = [cell(1, 1.0, 60.0, 1.0), cell(2, 1.0, 9.0, 0.99), cell(16, 1.0, 3.0, 0.98),
        ...         cell(16, 3.0, 20.0, 1.0)]
        >>> for name, file, data in [
        ...     ("digits-sweep-dit", "sweep.json", {"mean": mean, "held_out_accuracy": 0.99}),
        ...     ("digits-sweep-dit", "guidance-grid.json", {"1.0": {"spread": 0.3},
        ...                                                 "6.0": {"spread": 0.2}}),
        ...     ("digits-samples", "samples.json", {"dit": {"real": 0.3, "1": 0.1, "16": 0.25}}),
        ... ]:
        ...     (root / name).mkdir(exist_ok=True)
        ...     _ = (root / name / file).write_text(json.dumps(data))
        >>> out = root / "out"
        >>> out.mkdir()
        >>> ctx = Context("dit-trained-findings", out, torch.device("cpu"), "cpu", 0, root=root,
        ...               needs=["digits-sweep-dit", "digits-samples"])
        >>> dit_trained_findings(ctx)
        >>> sorted(p.name for p in out.iterdir())
        ['draws.md', 'sweep-reading.md']
        >>> [line.split("**")[1] for line in (out / "sweep-reading.md").read_text().splitlines()]
        ['Steps buy quality, with diminishing returns.', 'Agreement and FD measure different things.', 'Guidance trades variety for agreement.']
    """
    sweep = json.loads((ctx.input("digits-sweep-dit") / "sweep.json").read_text())
    grid = json.loads((ctx.input("digits-sweep-dit") / "guidance-grid.json").read_text())
    samples_json = ctx.input("digits-samples") / "samples.json"
    samples = json.loads(samples_json.read_text())
    if "dit" not in samples:
        raise ValueError(f"{samples_json}: no 'dit' entry (pixel spread by step count)")
    avg = {(m["steps"], m["guidance"]): m for m in sweep["mean"]}
    grid = {float(w): stats for w, stats in grid.items()}
    ctx.save_table(draws_finding(samples["dit"]), "draws.md")
    reading = [
        steps_finding(avg),
        agreement_finding(avg, sweep["held_out_accuracy"]),
        guidance_finding(avg, grid),
    ]
    ctx.save_table(
        "\n".join(f"{k}. {text}" for k, text in enumerate(reading, 1)), "sweep-reading.md"
    )

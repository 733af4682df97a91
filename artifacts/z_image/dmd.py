"""Lesson 4, DMD toy: spear, shield, coupled and decoupled schedules over seeds, DMDR (``zimage-dmd``).

Every sentence this producer writes about an outcome is filled in from the measured numbers,
including the direction of each comparison and whether it holds for every seed.
"""

from __future__ import annotations

import torch

from artifacts.plotting import PALETTE, new_figure, percent
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.digits.training import cpu_threads
from snippets.dmd import (
    DistillConfig,
    distill,
    evaluate_samples,
    mode_centers,
    right_reward,
    sample_data,
    spear_strength,
    teacher_sample,
    train_teacher,
)

PARAMS = {
    "teacher_steps": 1000,
    "student_steps": 300,
    "seeds": 5,
    "guidance": 2.0,
    "reward_weight": 0.3,
    "n_eval": 2000,
    "teacher_sample_steps": 32,
}

STUDENTS = {  # key: (row label, DistillConfig options)
    "shield": ("(a) shield only (distribution matching)", dict(use_ca=False)),
    "spear": ("(b) spear only (CFG augmentation)", dict(use_dm=False)),
    "coupled": ("(c) spear + shield, coupled (DMD)", dict()),
    "decoupled": ("(d) spear + shield, decoupled", dict(decoupled=True)),
}
REWARDED = {  # trained on the first seed only; the decoupled student without reward is reused
    "reward": ("reward only", dict(use_dm=False, use_ca=False)),
    "dmdr": ("DMDR: decoupled DMD + reward", dict(decoupled=True)),
}
METRICS = {  # key: (column title, format)
    "own_side": ("on their own class's side", percent),
    "off_data": ("off the data", percent),
    "distance": ("distance to the guided teacher", lambda v: f"{v:.3g}"),
}
TABLE_TITLES = {
    "own_side": "own side",
    "off_data": "off the data",
    "distance": "distance to guided teacher",
}
SHARPENS = {  # headline of the first sentence, by the direction the seeds show
    "higher": "The spear sharpens.",
    "overlap": "The spear's effect on sharpness is within the seed spread.",
    "lower": "The spear made the students less sharp.",
}
HOLDS = {
    "higher": "The shield holds the samples on the data.",
    "overlap": "The shield's effect on runaway is within the seed spread.",
    "lower": "The shield put more samples off the data.",
}
SHORT = {"shield": "(a) shield only", "spear": "(b) spear only", "coupled": "(c) coupled"}
SHORT["decoupled"] = "(d) decoupled"
NOISE_BINS = ((0.02, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 0.98))
LIMIT = 3.5
CLASS_COLOURS = [PALETTE["blue"], PALETTE["orange"]]


def compare(a: list[float], b: list[float]) -> str:
    """``"higher"`` if every value of ``a`` beats every value of ``b``, ``"lower"`` if the reverse,
    ``"overlap"`` otherwise (the difference is not larger than the spread over seeds).

    Examples:
        >>> compare([0.9, 0.92], [0.8, 0.85]), compare([0.1], [0.3, 0.5]), compare([0.5, 0.7], [0.6])
        ('higher', 'lower', 'overlap')
    """
    if min(a) > max(b):
        return "higher"
    if max(a) < min(b):
        return "lower"
    return "overlap"


def spread(values: list[float], fmt=percent, to: str = " to ") -> str:
    """Mean and range over seeds, as ``mean (min to max)`` (``to="–"`` for tables).

    Examples:
        >>> spread([0.1, 0.2, 0.3]), spread([0.1, 0.2, 0.3], to="–")
        ('20.0% (10.0% to 30.0%)', '20.0% (10.0%–30.0%)')
    """
    return f"{fmt(sum(values) / len(values))} ({fmt(min(values))}{to}{fmt(max(values))})"


def verdict(a: list[float], b: list[float], subject: str) -> str:
    """How ``a`` compares with ``b`` across seeds, in words (see :func:`compare`).

    Examples:
        >>> verdict([0.9, 0.92], [0.8, 0.85], "coupled")
        'coupled higher in every one of the 2 seeds: a difference larger than the spread between seeds'
        >>> verdict([0.5, 0.7], [0.6, 0.65], "coupled")
        'the seeds overlap: the difference is within the spread between seeds, so the toy shows no effect here'
    """
    direction = compare(a, b)
    if direction == "overlap":
        return (
            "the seeds overlap: the difference is within the spread between seeds, "
            "so the toy shows no effect here"
        )
    return (
        f"{subject} {direction} in every one of the {len(a)} seeds: "
        "a difference larger than the spread between seeds"
    )


def per_seed(results: dict, key: str, metric: str) -> list[float]:
    """One student's ``metric`` over the seeds."""
    return [m[metric] for m in results["students"][key]]


def reading(results: dict) -> str:
    """The DMD section's sentences on the four students, filled in from ``results``.

    Examples:
        >>> ref = {"data": {"own_side": 0.79}, "teacher, unguided": {"own_side": 0.8},
        ...        "teacher, guided": {"own_side": 0.93}}
        >>> s = {"shield": [{"own_side": 0.80, "off_data": 0.20, "distance": 0.2}] * 2,
        ...      "spear": [{"own_side": 0.97, "off_data": 1.0, "distance": 900.0}] * 2,
        ...      "coupled": [{"own_side": 0.91, "off_data": 0.15, "distance": 0.1}] * 2,
        ...      "decoupled": [{"own_side": 0.93, "off_data": 0.4, "distance": 0.5}] * 2}
        >>> print(reading({"references": ref, "students": s}).splitlines()[0])
        - **The spear sharpens.** Samples on their own class's side: shield alone 80.0% (80.0% to 80.0%), spear and shield (coupled) 91.0% (91.0% to 91.0%): coupled higher in every one of the 2 seeds: a difference larger than the spread between seeds. The data has 79.0%, the unguided teacher 80.0%, the guided teacher 93.0%.
    """
    ref = results["references"]
    side = {k: per_seed(results, k, "own_side") for k in STUDENTS}
    off = {k: per_seed(results, k, "off_data") for k in STUDENTS}
    dist = {k: per_seed(results, k, "distance") for k in STUDENTS}
    number = lambda v: f"{v:.3g}"  # noqa: E731
    sharpens = compare(side["coupled"], side["shield"])
    holds = compare(off["spear"], off["coupled"])
    lines = [
        f"- **{SHARPENS[sharpens]}** Samples on their own class's side: shield alone "
        f"{spread(side['shield'])}, spear and shield (coupled) {spread(side['coupled'])}: "
        f"{verdict(side['coupled'], side['shield'], 'coupled')}. The data has "
        f"{percent(ref['data']['own_side'])}, the unguided teacher "
        f"{percent(ref['teacher, unguided']['own_side'])}, the guided teacher "
        f"{percent(ref['teacher, guided']['own_side'])}.",
        f"- **{HOLDS[holds]}** Samples off the data: spear alone {spread(off['spear'])}, "
        f"spear and shield (coupled) {spread(off['coupled'])}: "
        f"{verdict(off['spear'], off['coupled'], 'spear alone')}. Distance to the guided teacher: "
        f"{spread(dist['spear'], number)} against {spread(dist['coupled'], number)}.",
        f"- **The spear alone** puts {spread(side['spear'])} of its samples on their own class's "
        f"side, and {spread(off['spear'])} off the data.",
    ]
    return "\n".join(lines) + "\n"


def spear_table(spear: list[dict]) -> str:
    """The spear's mean push per noise-level bin, as a Markdown table.

    Examples:
        >>> print(spear_table([{"range": [0.02, 0.5], "push": 0.1}, {"range": [0.5, 0.98], "push": 0.9}]))
        | noise level τ | mean length of the spear's push |
        |---|---:|
        | 0.02 to 0.5 | 0.100 |
        | 0.5 to 0.98 | 0.900 |
    """
    rows = [[f"{r['range'][0]:g} to {r['range'][1]:g}", f"{r['push']:.3f}"] for r in spear]
    return markdown_table(["noise level τ", "mean length of the spear's push"], rows, align="lr")


def decoupled_reading(results: dict) -> str:
    """The Decoupled-DMD section's sentences: decoupled against coupled, metric by metric.

    Examples:
        >>> s = {"coupled": [{"own_side": 0.91, "off_data": 0.15, "distance": 0.1},
        ...                  {"own_side": 0.90, "off_data": 0.35, "distance": 0.2}],
        ...      "decoupled": [{"own_side": 0.94, "off_data": 0.4, "distance": 0.5},
        ...                    {"own_side": 0.95, "off_data": 0.2, "distance": 0.6}]}
        >>> spear = [{"range": [0.02, 0.5], "push": 0.1}, {"range": [0.5, 0.98], "push": 0.9}]
        >>> text = decoupled_reading({"students": s, "spear_by_noise": spear})
        >>> print(text.split(2 * chr(10))[0])
        - On their own class's side: decoupled 94.5% (94.0% to 95.0%), coupled 90.5% (90.0% to 91.0%): decoupled higher in every one of the 2 seeds: a difference larger than the spread between seeds.
        - Off the data: decoupled 30.0% (20.0% to 40.0%), coupled 25.0% (15.0% to 35.0%): the seeds overlap: the difference is within the spread between seeds, so the toy shows no effect here.
        - Distance to the guided teacher: decoupled 0.55 (0.5 to 0.6), coupled 0.15 (0.1 to 0.2): decoupled higher in every one of the 2 seeds: a difference larger than the spread between seeds.
        >>> print(text.split(2 * chr(10))[1])
        With the same guidance scale, decoupling took every seed's student further from the guided teacher, and made it sharper: in this one-step toy the spear, given only the high noise levels where its push is largest, overshoots the guided teacher more than in the coupled schedule.
        <BLANKLINE>
    """
    spear = results["spear_by_noise"]
    lines = []
    for metric, (title, fmt) in METRICS.items():
        d, c = per_seed(results, "decoupled", metric), per_seed(results, "coupled", metric)
        fmt = fmt if fmt is percent else (lambda v: f"{v:.3g}")
        lines.append(
            f"- {title[0].upper() + title[1:]}: decoupled {spread(d, fmt)}, coupled "
            f"{spread(c, fmt)}: {verdict(d, c, 'decoupled')}."
        )
    dist = compare(*(per_seed(results, k, "distance") for k in ("decoupled", "coupled")))
    side = compare(*(per_seed(results, k, "own_side") for k in ("decoupled", "coupled")))
    high_noise_strongest = spear[-1]["push"] == max(row["push"] for row in spear)
    if dist == "lower":
        summary = (
            "With the same guidance scale, decoupling brought every seed's student closer to "
            "the guided teacher."
        )
    elif dist == "higher":
        summary = (
            "With the same guidance scale, decoupling took every seed's student further from the "
            "guided teacher" + (", and made it sharper" if side == "higher" else "") + ": "
        )
        summary += (
            "in this one-step toy the spear, given only the high noise levels where its push is "
            "largest, overshoots the guided teacher more than in the coupled schedule."
            if high_noise_strongest and side == "higher"
            else "in this one-step toy decoupling does not bring the student closer to its target."
        )
    else:
        summary = (
            "The seeds do not separate the two schedules on the distance to the guided teacher."
        )
    return "\n".join(lines) + "\n\n" + summary + "\n"


def dmdr_reading(rewarded: dict, teacher_reward: float) -> str:
    """The DMDR section's sentences, from one seed's rewarded students.

    Examples:
        >>> r = {"reward": {"reward": 1.6e5, "off_data": 1.0, "distance": 3e5},
        ...      "dmdr": {"reward": 0.5, "off_data": 0.2, "distance": 0.3},
        ...      "none": {"reward": 0.0, "off_data": 0.15, "distance": 0.2}}
        >>> print(dmdr_reading(r, 0.01).splitlines()[1])
        - With the DMD terms beside it (DMDR) the mean reward is 0.5, above the guided teacher's 0.01, with 20.0% of samples off the data (15.0% without the reward).
    """
    hacked, dmdr, none = rewarded["reward"], rewarded["dmdr"], rewarded["none"]
    above = "above" if dmdr["reward"] > teacher_reward else "not above"
    return (
        f"- The reward alone reaches a mean reward of {hacked['reward']:.3g}, with "
        f"{percent(hacked['off_data'])} of samples off the data.\n"
        f"- With the DMD terms beside it (DMDR) the mean reward is {dmdr['reward']:.2g}, {above} "
        f"the guided teacher's {teacher_reward:.2g}, with {percent(dmdr['off_data'])} of samples "
        f"off the data ({percent(none['off_data'])} without the reward).\n"
        "\n(One seed: these two students are trained once.)\n"
    )


def _scatter(ax, x, y, title):
    outside = (x.abs() > LIMIT).any(dim=1).float().mean().item()
    for c, colour in enumerate(CLASS_COLOURS):
        pts = x[y == c][:600]
        ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5, color=colour, label=f"class {c}")
    centers = mode_centers()
    ax.scatter(centers[:, 0], centers[:, 1], s=40, facecolors="none", edgecolors=PALETTE["grey"])
    ax.axvline(0, color=PALETTE["grey"], linewidth=0.6, linestyle=":")
    ax.set_xlim(-LIMIT, LIMIT)
    ax.set_ylim(-LIMIT, LIMIT)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    note = f"\n{percent(outside)} beyond the frame" if outside > 0.005 else ""
    ax.set_title(title + note, fontsize=12)


def _metric_title(m: dict) -> str:
    return f"\nown side {percent(m['own_side'])}, off data {percent(m['off_data'])}"


@producer("zimage-dmd", params=PARAMS, seed=0)
def zimage_dmd(
    ctx,
    teacher_steps,
    student_steps,
    seeds,
    guidance,
    reward_weight,
    n_eval,
    teacher_sample_steps,
):
    """Train the 2D teacher, four one-step students over ``seeds`` seeds and two rewarded ones."""
    # A 64-wide MLP runs fastest on one thread: with two, thread hand-offs cost more than the maths.
    with cpu_threads(ctx.device, n=1):
        g = torch.Generator().manual_seed(ctx.seed)
        teacher = train_teacher(teacher_steps, generator=g)
        y = torch.arange(n_eval) % 2
        noise = torch.randn(n_eval, 2, generator=g)
        data, _ = sample_data(n_eval, g, labels=y)
        guided = teacher_sample(teacher, noise, y, teacher_sample_steps, guidance)
        shown = {
            "data": data,
            "teacher, unguided": teacher_sample(teacher, noise, y, teacher_sample_steps),
            "teacher, guided": guided,
            "teacher, one step (the students' start)": teacher_sample(teacher, noise, y, 1),
        }
        references = {k: evaluate_samples(x, y, guided) for k, x in shown.items()}
        spear = [
            {"range": list(r), "push": spear_strength(teacher, data, y, guidance, r, g)}
            for r in NOISE_BINS
        ]
        students = {k: [] for k in STUDENTS}
        first = {}
        for seed in range(seeds):
            for key, (_, options) in STUDENTS.items():
                config = DistillConfig(steps=student_steps, guidance=guidance, **options)
                student = distill(teacher, config, torch.Generator().manual_seed(1000 + seed))
                with torch.no_grad():
                    x = student(noise, y)
                students[key].append(evaluate_samples(x, y, guided))
                if seed == 0:
                    first[key] = x
        rewarded = {"none": first["decoupled"]}
        for key, (_, options) in REWARDED.items():
            config = DistillConfig(
                steps=student_steps, guidance=guidance, reward_weight=reward_weight, **options
            )
            student = distill(teacher, config, torch.Generator().manual_seed(1000))
            with torch.no_grad():
                rewarded[key] = student(noise, y)
        reward_metrics = {
            k: {**evaluate_samples(x, y, guided), "reward": right_reward(x).mean().item()}
            for k, x in rewarded.items()
        }
        teacher_reward = right_reward(guided).mean().item()
        data_reward = right_reward(data).mean().item()

    results = {"references": references, "students": students, "spear_by_noise": spear}
    header = ["samples", *TABLE_TITLES.values()]
    rows = [
        [name, *(fmt(m[k]) for k, (_, fmt) in METRICS.items())] for name, m in references.items()
    ]
    for key in STUDENTS:
        cells = [spread(per_seed(results, key, k), fmt, "–") for k, (_, fmt) in METRICS.items()]
        rows.append([SHORT[key], *cells])
    ctx.save_table(
        markdown_table(header, rows)
        + f"\n\nStudents (a) to (d): mean over {seeds} distillation seeds from one teacher, with "
        "the lowest and highest seed in brackets.\n",
        "dmd-table.md",
    )
    ctx.save_table(reading(results), "dmd-reading.md")
    ctx.save_table(spear_table(spear), "spear-by-noise.md")
    ctx.save_table(decoupled_reading(results), "decoupled-reading.md")
    names = {"none": "decoupled DMD, no reward (student d, first seed)"}
    names.update({k: label for k, (label, _) in REWARDED.items()})
    reward_rows = [
        [names[k], *(fmt(m[k2]) for k2, (_, fmt) in METRICS.items()), f"{m['reward']:.3g}"]
        for k, m in reward_metrics.items()
    ]
    ctx.save_table(
        markdown_table([*header, "mean reward"], reward_rows)
        + f"\n\nMean reward of the data: {data_reward:.2f}; of the guided teacher: {teacher_reward:.2g}.\n",
        "dmdr-table.md",
    )
    ctx.save_table(dmdr_reading(reward_metrics, teacher_reward), "dmdr-reading.md")
    ctx.save_json(
        {
            **results,
            "rewarded": reward_metrics,
            "teacher_reward": teacher_reward,
            "data_reward": data_reward,
        },
        "numbers.json",
    )

    fig, axes = new_figure(2, 2, figsize=(6, 6.8))
    for ax, (name, x) in zip(axes.flat, shown.items()):
        _scatter(ax, x, y, name.replace(" (", "\n(", 1) + _metric_title(references[name]))
    axes[0, 0].legend(loc="lower left", fontsize=8, markerscale=3)
    fig.tight_layout(h_pad=2.0)
    ctx.save_figure(
        fig,
        "dmd-teacher.png",
        alt="Four scatter plots of 2D samples from two overlapping classes on six blobs on a "
        "ring, class 0 leaning right and class 1 left: the data, the teacher without and with "
        "guidance, and the teacher's single Euler step. "
        + "; ".join(
            f"{name}: {percent(m['own_side'])} on their own class's side, "
            f"{percent(m['off_data'])} off the data"
            for name, m in references.items()
        )
        + ".",
        caption="The data and the teacher. The dotted line splits the two classes' sides; "
        "circles mark the blob centres.",
    )

    fig, axes = new_figure(2, 2, figsize=(6, 6.8))
    for ax, (key, x) in zip(axes.flat, first.items()):
        _scatter(ax, x, y, SHORT[key] + _metric_title(students[key][0]))
    fig.tight_layout(h_pad=2.0)
    ctx.save_figure(
        fig,
        "dmd-students.png",
        alt="Four scatter plots of one-step students distilled from the teacher, first seed. "
        + "; ".join(
            f"{SHORT[k]}: {percent(students[k][0]['own_side'])} on their own class's side, "
            f"{percent(students[k][0]['off_data'])} off the data"
            for k in STUDENTS
        )
        + ".",
        caption="One-step students distilled with each term of the DMD gradient (first seed).",
    )

    from matplotlib.ticker import PercentFormatter

    fig, axes = new_figure(2, 1, figsize=(5, 6.4))
    keys = list(STUDENTS)
    for ax, metric in zip(axes, ("own_side", "off_data")):
        for i, key in enumerate(keys):
            values = per_seed(results, key, metric)
            ax.scatter([i] * len(values), values, s=22, color=PALETTE["blue"], alpha=0.7)
        for name, style in (("data", ":"), ("teacher, guided", "--")):
            ax.axhline(references[name][metric], color=PALETTE["grey"], linestyle=style, label=name)
        ax.set_xticks(range(len(keys)), [SHORT[k].replace(" ", "\n", 1) for k in keys])
        ax.set_ylim(-0.03, 1.03)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(METRICS[metric][0] + " (one dot per seed)")
    axes[0].legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    alt = (
        f"Two dot plots, one dot per seed for each of the four students ({seeds} seeds). "
        + " ".join(
            f"{STUDENTS[k][0]}: on their side {spread(per_seed(results, k, 'own_side'))}, "
            f"off the data {spread(per_seed(results, k, 'off_data'))}."
            for k in keys
        )
    )
    ctx.save_figure(
        fig,
        "dmd-seeds.png",
        alt=alt,
        caption="The spread over seeds: each dot is one student. Lines: the data (dotted) and the "
        "guided teacher (dashed).",
    )

    fig, axes = new_figure(1, 3, figsize=(10.5, 3.8))
    for ax, (key, x) in zip(axes.flat, rewarded.items()):
        m = reward_metrics[key]
        _scatter(
            ax,
            x,
            y,
            f"{names[key]}\nmean reward {m['reward']:.3g}\noff data {percent(m['off_data'])}",
        )
    fig.tight_layout()
    alt = (
        "Three scatter plots of one-step students. "
        + "; ".join(
            f"{names[k]}: mean reward {m['reward']:.3g}, {percent(m['off_data'])} off the data"
            for k, m in reward_metrics.items()
        )
        + f". The guided teacher's mean reward is {teacher_reward:.2g}."
    )
    ctx.save_figure(
        fig,
        "dmdr.png",
        alt=alt,
        caption="A reward for being far to the right, optimised without and with the DMD terms as a regulariser.",
    )

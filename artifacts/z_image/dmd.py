"""Lesson 4, DMD toy: spear, shield, decoupled schedules and DMDR on 2D blobs (``zimage-dmd``)."""

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
    teacher_sample,
    train_teacher,
)

PARAMS = {
    "teacher_steps": 1000,
    "student_steps": 400,
    "lr": 5e-4,
    "draws": 2,
    "guidance": 3.0,
    "reward_weight": 0.3,
    "n_eval": 4000,
    "teacher_sample_steps": 32,
}

STUDENTS = {
    "(a) shield only (distribution matching)": dict(use_ca=False),
    "(b) spear only (CFG augmentation)": dict(use_dm=False),
    "(c) spear + shield, coupled (DMD)": dict(),
    "(d) spear + shield, decoupled": dict(decoupled=True),
}
REWARDED = {  # the first is student (d), reused
    "reward only": dict(use_dm=False, use_ca=False),
    "DMDR: decoupled DMD + reward": dict(decoupled=True),
}
LIMIT = 3.5
CLASS_COLOURS = [PALETTE["blue"], PALETTE["orange"]]


def metrics_row(name: str, m: dict, reward: bool = False) -> list[str]:
    """One Markdown table row of :func:`snippets.dmd.evaluate_samples` metrics."""
    row = [
        name,
        percent(m["on_mode"]),
        percent(m["wrong_class"]),
        f"{m['modes_covered']} / 8",
        f"{m['distance']:.3f}",
    ]
    if reward:
        row.append(f"{m['reward']:.2f}")
    return row


def reading(results: dict, teacher_reward: float) -> str:
    """Sentences that compare the students, written from the numbers (so they stay true on any machine).

    Examples:
        >>> r = {k: {"on_mode": v, "wrong_class": w, "modes_covered": 8, "distance": 0.04}
        ...      for k, v, w in zip(STUDENTS, (0.5, 0.0, 0.36, 0.57), (0.014, 0.0, 0.002, 0.001))}
        >>> r["(b) spear only (CFG augmentation)"]["modes_covered"] = 0
        >>> r.update({"reward: " + k: {"on_mode": v, "reward": rw, "modes_covered": m}
        ...           for k, v, rw, m in zip(REWARDED, (0.0, 0.4), (1e5, 0.3), (0, 8))})
        >>> print(reading(r, 0.01).splitlines()[0])
        - The spear alone keeps 0 of 8 modes and puts 0.0% of its samples on a mode of their class.
    """
    a, b, c, d = (results[k] for k in STUDENTS)
    hacked, dmdr = (results["reward: " + k] for k in REWARDED)

    def cmp(x, y, more="more", fewer="fewer"):
        return more if x > y else fewer if x < y else "as many"

    lines = [
        f"- The spear alone keeps {b['modes_covered']} of 8 modes and puts {percent(b['on_mode'])} of its samples "
        f"on a mode of their class.",
        f"- Adding the shield (coupled) keeps {c['modes_covered']} of 8 modes, with {percent(c['on_mode'])} on a "
        f"mode; the shield alone keeps {a['modes_covered']}, with {percent(a['on_mode'])}.",
        f"- Near the other class: {percent(a['wrong_class'])} of the shield-only student's samples, "
        f"{percent(c['wrong_class'])} of the coupled student's: the spear puts {cmp(a['wrong_class'], c['wrong_class'], 'fewer', 'more')} "
        f"samples on the wrong class.",
        f"- Decoupled against coupled: {percent(d['on_mode'])} against {percent(c['on_mode'])} on a mode "
        f"({cmp(d['on_mode'], c['on_mode'])} with the decoupled schedules), {d['modes_covered']} against "
        f"{c['modes_covered']} modes covered.",
        f"- With a reward: alone it reaches a mean reward of {hacked['reward']:.3g} with {percent(hacked['on_mode'])} "
        f"of samples on a mode; with the DMD terms, {dmdr['reward']:.2f} ({'above' if dmdr['reward'] > teacher_reward else 'not above'} "
        f"the guided teacher's {teacher_reward:.2f}) with {percent(dmdr['on_mode'])} on a mode and "
        f"{dmdr['modes_covered']} of 8 modes kept.",
    ]
    return "\n".join(lines) + "\n"


def _scatter(ax, x, y, title):
    outside = (x.abs() > LIMIT).any(dim=1).float().mean().item()
    for c, colour in enumerate(CLASS_COLOURS):
        pts = x[y == c][:600]
        ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5, color=colour, label=f"class {c}")
    centers, _ = mode_centers()
    ax.scatter(
        centers[:, 0],
        centers[:, 1],
        s=40,
        facecolors="none",
        edgecolors=PALETTE["grey"],
        linewidths=1,
    )
    ax.set_xlim(-LIMIT, LIMIT)
    ax.set_ylim(-LIMIT, LIMIT)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(
        title + (f"\n{percent(outside)} outside the frame" if outside > 0.005 else ""), fontsize=9
    )


@producer("zimage-dmd", params=PARAMS, seed=0)
def zimage_dmd(
    ctx,
    teacher_steps,
    student_steps,
    lr,
    draws,
    guidance,
    reward_weight,
    n_eval,
    teacher_sample_steps,
):
    """Train the 2D teacher, four one-step students and three rewarded students; figures and tables."""
    # A 128-wide MLP runs fastest on one thread: with two, thread hand-offs cost more than the maths.
    with cpu_threads(ctx.device, n=1):
        g = torch.Generator().manual_seed(ctx.seed)
        teacher = train_teacher(teacher_steps, generator=g)
        y = torch.arange(n_eval) % 2
        noise = torch.randn(n_eval, 2, generator=g)
        data, _ = sample_data(n_eval, g, labels=y)
        shown = {"data": data}
        rows, results = [], {}
        for name, w, steps in [
            ("teacher, unguided", 1.0, teacher_sample_steps),
            (f"teacher, guidance {guidance:g}", guidance, teacher_sample_steps),
            ("teacher, unguided (the students' start)", 1.0, 1),
        ]:
            x = teacher_sample(teacher, noise, y, steps, w)
            m = evaluate_samples(x, y, data)
            label = f"{name}, {steps} step{'s' if steps > 1 else ''}"
            shown[label] = x
            rows.append(metrics_row(label, m))
            results[name] = m
        students = {}
        for name, options in STUDENTS.items():
            config = DistillConfig(
                steps=student_steps, lr=lr, draws=draws, guidance=guidance, **options
            )
            student = distill(teacher, config, g)
            with torch.no_grad():
                x = student(noise, y)
            m = evaluate_samples(x, y, data)
            students[name] = x
            results[name] = m
            rows.append(metrics_row(name, m))
        decoupled = "(d) spear + shield, decoupled"
        x = students[decoupled]
        no_reward = {**evaluate_samples(x, y, data), "reward": right_reward(x).mean().item()}
        rewarded = {"decoupled DMD, no reward (student d)": x}
        reward_rows = [
            metrics_row(
                "decoupled DMD, no reward (student d)",
                no_reward,
                reward=True,
            )
        ]
        for name, options in REWARDED.items():
            config = DistillConfig(
                steps=student_steps,
                lr=lr,
                draws=draws,
                guidance=guidance,
                reward_weight=reward_weight,
                **options,
            )
            student = distill(teacher, config, g)
            with torch.no_grad():
                x = student(noise, y)
            m = {**evaluate_samples(x, y, data), "reward": right_reward(x).mean().item()}
            rewarded[name] = x
            results["reward: " + name] = m
            reward_rows.append(metrics_row(name, m, reward=True))
        teacher_reward = (
            right_reward(shown[f"teacher, guidance {guidance:g}, {teacher_sample_steps} steps"])
            .mean()
            .item()
        )
        data_reward = right_reward(data).mean().item()

    header = [
        "samples",
        "on a mode of their class",
        "near the other class",
        "modes covered",
        "distance to data",
    ]
    ctx.save_table(markdown_table(header, rows), "dmd-table.md")
    ctx.save_table(
        markdown_table([*header, "mean reward"], reward_rows)
        + f"\n\nMean reward of the data: {data_reward:.2f}; of the guided teacher: {teacher_reward:.2f}.\n",
        "dmdr-table.md",
    )
    ctx.save_table(reading(results, teacher_reward), "dmd-reading.md")
    ctx.save_json(
        {
            "results": results,
            "teacher_reward": teacher_reward,
            "data_reward": data_reward,
        },
        "numbers.json",
    )

    fig, axes = new_figure(2, 4, figsize=(12, 6.4))
    panels = list(shown.items()) + list(students.items())
    for ax, (name, x) in zip(axes.flat, panels):
        _scatter(ax, x, y, name)
    axes[0, 0].legend(loc="lower left", fontsize=8, markerscale=3)
    fig.tight_layout()
    m = {k: results[k] for k in STUDENTS}
    a, b, c, d = (m[k] for k in STUDENTS)
    alt = (
        f"Eight scatter plots of 2D samples, two classes on eight blobs. Data, teacher unguided and guided "
        f"({teacher_sample_steps} steps) sit on the blobs; the one-step teacher is a blurred cloud. "
        f"Shield only: {percent(a['on_mode'])} on a mode, {a['modes_covered']} of 8 modes. "
        f"Spear only: {percent(b['on_mode'])} on a mode, {b['modes_covered']} of 8 modes, samples pushed outward. "
        f"Coupled: {percent(c['on_mode'])}, {c['modes_covered']} modes. Decoupled: {percent(d['on_mode'])}, "
        f"{d['modes_covered']} modes."
    )
    ctx.save_figure(
        fig,
        "dmd-students.png",
        alt=alt,
        caption="Top: the data and the teacher. Bottom: one-step students distilled with each term of the DMD gradient.",
    )

    fig, axes = new_figure(1, 3, figsize=(10.5, 3.8))
    for ax, (name, x) in zip(axes.flat, rewarded.items()):
        _scatter(ax, x, y, f"{name}\nmean reward {right_reward(x).mean().item():.2f}")
    fig.tight_layout()
    r = {"decoupled DMD, no reward": no_reward, **{k: results["reward: " + k] for k in REWARDED}}
    alt = (
        "Three scatter plots of one-step students. "
        + "; ".join(
            f"{k}: mean reward {v['reward']:.2f}, {percent(v['on_mode'])} on a mode"
            for k, v in r.items()
        )
        + f". The guided teacher's mean reward is {teacher_reward:.2f}."
    )
    ctx.save_figure(
        fig,
        "dmdr.png",
        alt=alt,
        caption="A reward for being far to the right, optimised without and with the DMD terms as a regulariser.",
    )

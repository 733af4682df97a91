"""The studies the lessons show, made from the trained digit generators.

Every producer here loads the models trained by [`snippets.training`][snippets.training] (a
pipeline dependency, so they are trained once and cached) and turns them into figures and
tables: FD and class agreement for every step count and guidance scale
([`Evaluator`][snippets.digits.Evaluator]), sample grids, joint-attention maps, dual- vs
single-stream, and the same noise through every model.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
import torch.nn as nn

from snippets.digits import CLASS_NAMES, Evaluator, build_tokenizer, default_evaluator, prompt_for, prompt_ids
from snippets.mmdit import MMDiT
from snippets.single_stream import SingleStreamDiT
from snippets.training import (
    KIND_TITLES,
    KINDS,
    MODEL_NAMES,
    Conditioner,
    count_parameters,
    load_trained,
    on_cpu_threads,
    sample_digits,
)

# --------------------------------------------------------------------------- evaluation

SWEEP_STEPS = (1, 2, 4, 8, 16, 32)
SWEEP_GUIDANCE = (1.0, 1.5, 3.0)
SWEEP_SEEDS = (1, 2, 3, 4, 5, 6)
"""Noise seeds every table cell averages over. One seed gives one sample per held-out digit, and
its agreement moves noticeably from seed to seed (every seed's value is in ``sweep.json``);
six seeds give a mean steady enough to hold against the 99% goal."""


def eval_noise(n: int, size: int, seed: int) -> torch.Tensor:
    """The starting noise of an evaluation run: ``[n, 1, size, size]`` from a CPU generator."""
    return torch.randn(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def sweep(
    model: nn.Module,
    kind: str,
    evaluator: Evaluator,
    steps_list=SWEEP_STEPS,
    guidance_list=SWEEP_GUIDANCE,
    seeds=SWEEP_SEEDS,
    size: int = 8,
    progress=None,
) -> list[dict]:
    """FD and class agreement for every (steps, guidance, seed), one sample per held-out digit.

    Each seed's noise is shared by every step count and guidance scale, so the comparisons
    along a row or column of the table are paired.

    Returns:
        A list of ``{"steps", "guidance", "seed", "fd", "agreement"}`` records.

    Examples:
        >>> from snippets.training import GeneratorConfig, build_generator
        >>> model = build_generator(GeneratorConfig("dit", hidden_size=32, depth=1))
        >>> ev = default_evaluator()
        >>> rows = sweep(model, "dit", ev, steps_list=(1,), guidance_list=(1.0, 2.0), seeds=(1,))
        >>> [(r["steps"], r["guidance"]) for r in rows], 0 <= rows[0]["agreement"] <= 1
        ([(1, 1.0), (1, 2.0)], True)
    """
    labels = evaluator.split.test_y
    jobs = [(s, w, seed) for seed in seeds for w in guidance_list for s in steps_list]
    if progress is not None:
        jobs = progress(jobs, total=len(jobs), desc=f"sweep {kind}")
    rows, noises = [], {}
    for steps, w, seed in jobs:
        if seed not in noises:
            noises[seed] = eval_noise(labels.shape[0], size, seed)
        x = sample_digits(model, kind, labels, steps, w, noise=noises[seed])
        rows.append(
            {
                "steps": steps,
                "guidance": w,
                "seed": seed,
                "fd": evaluator.fd(x),
                "agreement": evaluator.agreement(x, labels),
            }
        )
    return rows


def average_sweep(rows: list[dict]) -> dict[tuple[int, float], dict]:
    """Mean and spread (min, max) over seeds of FD and agreement, keyed by ``(steps, guidance)``.

    Examples:
        >>> rows = [{"steps": 1, "guidance": 1.0, "seed": s, "fd": f, "agreement": 1.0} for s, f in ((1, 2.0), (2, 4.0))]
        >>> average_sweep(rows)[(1, 1.0)]["fd"]
        3.0
    """
    groups: dict[tuple[int, float], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["steps"], r["guidance"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        fds, agr = [r["fd"] for r in rs], [r["agreement"] for r in rs]
        out[key] = {
            "fd": sum(fds) / len(fds),
            "fd_min": min(fds),
            "fd_max": max(fds),
            "agreement": sum(agr) / len(agr),
            "agreement_min": min(agr),
            "agreement_max": max(agr),
            "seeds": len(rs),
        }
    return out


# --------------------------------------------------------------------------- figures



def mosaic(images: torch.Tensor) -> np.ndarray:
    """Tile ``[R, C, 1, H, W]`` images into one array with a one-pixel NaN gutter between tiles.

    Examples:
        >>> mosaic(torch.zeros(2, 3, 1, 8, 8)).shape
        (17, 26)
    """
    r, c, _, h, w = images.shape
    out = np.full((r * (h + 1) - 1, c * (w + 1) - 1), np.nan)
    for i in range(r):
        for j in range(c):
            out[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = images[i, j, 0].clamp(-1, 1).numpy()
    return out


def _show(ax, images: torch.Tensor, title: str | None = None) -> None:
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("gray_r").copy()
    cmap.set_bad("#b0bec5")  # gutter between tiles
    ax.imshow(mosaic(images), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def _row_labels(ax, labels: list[str], tile: int) -> None:
    ax.set_yticks([i * (tile + 1) + (tile - 1) / 2 for i in range(len(labels))])
    ax.set_yticklabels(labels, fontsize=9)
    ax.tick_params(axis="y", length=0)


def _fmt_pct(x: float) -> str:
    return f"{100 * x:.1f}%"


from snippets.build import producer  # noqa: E402  (the study code above does not need the pipeline)

SWEEP_PARAMS = dict(
    steps=list(SWEEP_STEPS), guidance=list(SWEEP_GUIDANCE), seeds=list(SWEEP_SEEDS), grid_guidance=[1.0, 1.5, 3.0, 6.0]
)


def _sweep_tables(avg: dict, steps: list[int], guidance: list[float], yardstick: float, accuracy: float):
    head = "| Euler steps | " + " | ".join("no guidance (w = 1)" if w == 1 else f"w = {w:g}" for w in guidance) + " |"
    rule = "|---:|" + "---:|" * len(guidance)
    fd_rows = [f"| {s} | " + " | ".join(f"{avg[(s, w)]['fd']:.2f}" for w in guidance) + " |" for s in steps]
    ag_rows = [f"| {s} | " + " | ".join(_fmt_pct(avg[(s, w)]["agreement"]) for w in guidance) + " |" for s in steps]
    fd_table = "\n".join([head, rule, *fd_rows]) + (
        f"\n\n*Fréchet distance to the training digits (lower is better), mean of {avg[(steps[0], guidance[0])]['seeds']} "
        f"noise seeds. Real held-out digits score **{yardstick:.2f}** (the yardstick).*"
    )
    ag_table = "\n".join([head, rule, *ag_rows]) + (
        f"\n\n*Class agreement (share of samples the classifier assigns to the requested digit). "
        f"Real held-out digits score **{_fmt_pct(accuracy)}**.*"
    )
    return fd_table, ag_table


def _sweep_plot(avg, steps, guidance, yardstick, accuracy, title):
    import matplotlib
    import matplotlib.pyplot as plt

    fig, (ax_fd, ax_ag) = plt.subplots(1, 2, figsize=(9, 3.4))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(guidance)))
    markers = "osD^vP"
    for w, color, marker in zip(guidance, colors, markers):
        label = "no guidance" if w == 1 else f"w = {w:g}"
        ax_fd.plot(steps, [avg[(s, w)]["fd"] for s in steps], marker=marker, color=color, label=label)
        ax_ag.plot(steps, [100 * avg[(s, w)]["agreement"] for s in steps], marker=marker, color=color, label=label)
    ax_fd.axhline(yardstick, color="crimson", ls="--", lw=1.2, label="real vs real")
    ax_fd.annotate("real held-out digits", (steps[0], yardstick), xytext=(0, 4), textcoords="offset points",
                   color="crimson", fontsize=8)
    ax_ag.axhline(100 * accuracy, color="crimson", ls="--", lw=1.2, label="real held-out")
    for ax in (ax_fd, ax_ag):
        ax.set_xscale("log", base=2)
        ax.set_xticks(steps)
        ax.set_xticklabels([str(s) for s in steps])
        ax.set_xlabel("Euler steps")
        ax.grid(alpha=0.3)
    ax_fd.set_yscale("log")
    ax_fd.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax_fd.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    lo, hi = min(yardstick, min(avg[k]["fd"] for k in avg)), max(avg[k]["fd"] for k in avg)
    ax_fd.set_yticks([v for v in (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500) if lo * 0.8 <= v <= hi * 1.2])
    ax_fd.set_ylabel("Fréchet distance (log scale)")
    ax_fd.set_title("FD: lower is better")
    ax_ag.set_ylabel("class agreement (%)")
    ax_ag.set_title("agreement: higher is better")
    ax_ag.legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _guidance_grid(model, kind, size, guidance, classes=(2, 7, 8), per_class=6, steps=16, seed=7):
    """The guidance grid figure and, per guidance scale, the ink and within-digit spread of its row."""
    import matplotlib.pyplot as plt

    labels = torch.tensor(classes).repeat_interleave(per_class)
    noise = eval_noise(labels.shape[0], size, seed)
    rows = [sample_digits(model, kind, labels, steps, w, noise=noise) for w in guidance]
    images = torch.stack(rows)  # [G, N, 1, H, W]
    stats = {
        w: {
            "ink": ((row.clamp(-1, 1) + 1) / 2).mean().item(),  # 0 = blank, 1 = all black
            "spread": _variety(row.reshape(len(classes), per_class, *row.shape[1:])),
        }
        for w, row in zip(guidance, rows)
    }
    fig, ax = plt.subplots(figsize=(0.42 * labels.shape[0] + 1.0, 0.48 * len(guidance) + 0.6))
    _show(ax, images)
    _row_labels(ax, ["no guidance" if w == 1 else f"w = {w:g}" for w in guidance], size)
    ax.set_xticks([(k * per_class + per_class / 2) * (size + 1) - 1 for k in range(len(classes))])
    # the DiT is asked for a class label, the text models for a prompt
    ax.set_xticklabels([f"class {c}" if kind == "dit" else f'"{CLASS_NAMES[c]}"' for c in classes], fontsize=9)
    ax.tick_params(axis="x", length=0)
    return fig, stats


def _sweep_artifact(ctx, kind: str, steps, guidance, seeds, grid_guidance) -> None:
    model, info = load_trained(ctx.input(f"digits-{kind}"), ctx.device)
    size = info["config"]["size"]
    ev = default_evaluator(size)
    start = time.perf_counter()
    rows = sweep(model, kind, ev, steps, guidance, seeds, size, ctx.progress)
    seconds = time.perf_counter() - start
    avg = average_sweep(rows)
    n = ev.split.test_y.shape[0]
    ctx.save_json(
        {
            "kind": kind,
            "yardstick": ev.yardstick,
            "held_out_accuracy": ev.held_out_accuracy,
            "samples_per_run": n,
            "eval_seconds": seconds,
            "rows": rows,
            "mean": [{"steps": s, "guidance": w, **avg[(s, w)]} for s in steps for w in guidance],
        },
        "sweep.json",
    )
    fd_table, ag_table = _sweep_tables(avg, steps, guidance, ev.yardstick, ev.held_out_accuracy)
    ctx.save_table(fd_table, "fd-table.md")
    ctx.save_table(ag_table, "agreement-table.md")

    w1 = 1.0 if 1.0 in guidance else guidance[0]
    s_fd = 16 if 16 in steps else steps[-1]
    s_ag = 8 if 8 in steps else steps[-1]
    fd16, ag8 = avg[(s_fd, w1)]["fd"], avg[(s_ag, w1)]["agreement"]
    w_max = max(guidance)
    w_min = min((w for w in guidance if w != w1), default=w1)
    ctx.save_table(
        f"At {s_fd} steps without guidance, samples of the {MODEL_NAMES[kind]} reach an FD of **{fd16:.2f}** against "
        f"the real-vs-real yardstick of **{ev.yardstick:.2f}** (**{fd16 / ev.yardstick:.2f}x**); at {s_ag} steps "
        f"**{_fmt_pct(ag8)}** of them are classified as the digit that was asked for ("
        f"{_fmt_pct(avg[(s_ag, w1)]['agreement_min'])} to {_fmt_pct(avg[(s_ag, w1)]['agreement_max'])} across the "
        f"{len(seeds)} noise seeds; the classifier scores "
        f"**{_fmt_pct(ev.held_out_accuracy)}** on held-out real digits). One step gives FD "
        f"**{avg[(steps[0], w1)]['fd']:.1f}**; guidance w = {w_max:g} at {s_fd} steps gives agreement "
        f"**{_fmt_pct(avg[(s_fd, w_max)]['agreement'])}** but FD **{avg[(s_fd, w_max)]['fd']:.1f}**."
        + (
            f" At one step, mild guidance (w = {w_min:g}) even lowers FD, to **{avg[(steps[0], w_min)]['fd']:.1f}**: "
            f"it sharpens the blurry one-step average."
            if avg[(steps[0], w_min)]["fd"] < avg[(steps[0], w1)]["fd"]
            else ""
        ),
        "headline.md",
    )

    best = min(avg.items(), key=lambda kv: kv[1]["fd"])
    fig = _sweep_plot(avg, steps, guidance, ev.yardstick, ev.held_out_accuracy, f"{KIND_TITLES[kind]}: {n} samples per point, mean of {len(seeds)} seeds")
    ctx.save_figure(
        fig,
        "sweep.png",
        alt=(
            f"Two line plots against the number of Euler steps (1 to {steps[-1]}, log scale), one line per guidance "
            f"scale. Left, Fréchet distance on a log scale, with a dashed line for real held-out digits at "
            f"{ev.yardstick:.2f}. Without guidance it falls from {avg[(steps[0], w1)]['fd']:.1f} at one step to "
            f"{avg[(steps[-1], w1)]['fd']:.2f} at {steps[-1]} steps; "
            + "; ".join(
                f"with w = {w:g} from {avg[(steps[0], w)]['fd']:.1f} to {avg[(steps[-1], w)]['fd']:.1f}"
                for w in guidance
                if w != w1
            )
            + f". Right, class agreement in percent, with a dashed line for the classifier's accuracy on real "
            f"held-out digits ({_fmt_pct(ev.held_out_accuracy)}): without guidance it goes from "
            f"{_fmt_pct(avg[(steps[0], w1)]['agreement'])} at one step to "
            f"{_fmt_pct(avg[(steps[-1], w1)]['agreement'])} at {steps[-1]} steps; "
            + "; ".join(
                f"with w = {w:g} it stays between {_fmt_pct(min(avg[(s, w)]['agreement'] for s in steps))} and "
                f"{_fmt_pct(max(avg[(s, w)]['agreement'] for s in steps))}"
                for w in guidance
                if w != w1
            )
            + "."
        ),
        caption=(
            f"FD and class agreement of the {MODEL_NAMES[kind]} for every step count and guidance scale "
            f"(best FD {best[1]['fd']:.2f} at {best[0][0]} steps, w = {best[0][1]:g})"
        ),
    )
    classes = (2, 7, 8)
    fig, stats = _guidance_grid(model, kind, size, grid_guidance, classes)
    lo, hi = min(grid_guidance), max(grid_guidance)
    ctx.save_json(stats, "guidance-grid.json")
    ctx.save_figure(
        fig,
        "guidance-grid.png",
        alt=(
            f"A grid of generated digits: {len(grid_guidance)} rows, one per guidance scale from none to w = {hi:g}; "
            f"{6 * len(classes)} columns, six samples each of the {'classes' if kind == 'dit' else 'prompts'} "
            f"{', '.join(CLASS_NAMES[c] for c in classes)}, each column starting from the same noise in every row. "
            f"From the top row to the bottom one the share of ink goes from {stats[lo]['ink']:.0%} to "
            f"{stats[hi]['ink']:.0%} and the pixel spread among the six samples of a digit from "
            f"{stats[lo]['spread']:.2f} to {stats[hi]['spread']:.2f}."
        ),
        caption=(
            f"Guidance sweep of the {MODEL_NAMES[kind]} at 16 Euler steps, the same noise in every row: share of ink "
            f"{stats[lo]['ink']:.0%} to {stats[hi]['ink']:.0%}, pixel spread within a digit {stats[lo]['spread']:.2f} "
            f"to {stats[hi]['spread']:.2f}"
        ),
    )


@producer("digits-sweep-dit", params=SWEEP_PARAMS, needs=["digits-dit"])
@on_cpu_threads
def digits_sweep_dit(ctx, steps, guidance, seeds, grid_guidance):
    """Steps x guidance sweep of the DiT: FD/agreement tables, plots, guidance grid."""
    _sweep_artifact(ctx, "dit", steps, guidance, seeds, grid_guidance)


@producer("digits-sweep-mmdit", params=SWEEP_PARAMS, needs=["digits-mmdit"])
@on_cpu_threads
def digits_sweep_mmdit(ctx, steps, guidance, seeds, grid_guidance):
    """Steps x guidance sweep of the MMDiT."""
    _sweep_artifact(ctx, "mmdit", steps, guidance, seeds, grid_guidance)


@producer("digits-sweep-single-stream", params=SWEEP_PARAMS, needs=["digits-single-stream"])
@on_cpu_threads
def digits_sweep_single_stream(ctx, steps, guidance, seeds, grid_guidance):
    """Steps x guidance sweep of the single-stream model."""
    _sweep_artifact(ctx, "single-stream", steps, guidance, seeds, grid_guidance)


TRAINED = {kind: f"digits-{kind}" for kind in KINDS}


def _load_all(ctx) -> dict[str, tuple[nn.Module, dict]]:
    return {kind: load_trained(ctx.input(name), ctx.device) for kind, name in TRAINED.items()}


@producer("digits-samples", params={"per_class": 4, "steps": [1, 4, 16], "seed": 11}, needs=list(TRAINED.values()))
@on_cpu_threads
def digits_samples(ctx, per_class, steps, seed):
    """Sample grids (10 digits x ``per_class``) at 1, 4 and 16 steps beside real held-out digits."""
    import matplotlib.pyplot as plt

    summary = {}
    for kind, (model, info) in _load_all(ctx).items():
        size = info["config"]["size"]
        ev = default_evaluator(size)
        # real: the first `per_class` held-out digits of each class
        real = torch.stack([ev.split.test_x[ev.split.test_y == c][:per_class] for c in range(10)])
        labels = torch.arange(10).repeat_interleave(per_class)
        noise = eval_noise(labels.shape[0], size, seed)
        grids = [sample_digits(model, kind, labels, s, noise=noise).reshape(10, per_class, 1, size, size) for s in steps]
        # variety: pixel standard deviation across the samples of one class, averaged
        variety = {"real": _variety(real), **{s: _variety(g) for s, g in zip(steps, grids)}}
        summary[kind] = {str(k): v for k, v in variety.items()}

        fig, axes = plt.subplots(1, 1 + len(steps), figsize=(1.9 * (1 + len(steps)) + 0.4, 4.2))
        _show(axes[0], real, "real (held-out)")
        _row_labels(axes[0], [str(c) for c in range(10)], size)
        for ax, s, grid in zip(axes[1:], steps, grids):
            _show(ax, grid, f"{s} Euler step{'s' if s > 1 else ''}")
        fig.suptitle(f"{KIND_TITLES[kind]}: samples by number of Euler steps (no guidance)", fontsize=11)
        fig.tight_layout()
        spread = ", ".join(f"{variety[s]:.2f} at {s} step{'s' if s > 1 else ''}" for s in steps)
        ctx.save_figure(
            fig,
            f"samples-{kind}.png",
            alt=(
                f"{1 + len(steps)} panels of small grey-scale digits, 10 rows (digits 0 to 9) by {per_class} columns "
                f"each. The first panel shows real held-out digits; the others show samples of the {MODEL_NAMES[kind]} "
                f"from the same noise after {', '.join(map(str, steps))} Euler steps. The one-step samples are "
                f"smooth averages of their class, nearly identical along a row; with more steps the strokes sharpen "
                f"and the samples of a row differ from one another like the real ones. Pixel spread within a row "
                f"(standard deviation across its samples, averaged): {spread}; real digits {variety['real']:.2f}."
            ),
            caption=(
                f"{KIND_TITLES[kind]} samples beside real digits; each column starts from the same noise in every "
                f"panel. Pixel spread within a row: {spread} (real digits {variety['real']:.2f})"
            ),
        )
    ctx.save_json(summary, "samples.json")


def _variety(images: torch.Tensor) -> float:
    """Mean over rows of the per-pixel standard deviation across a row of ``[R, C, 1, H, W]`` images.

    Examples:
        >>> _variety(torch.ones(2, 3, 1, 4, 4))
        0.0
    """
    return images.clamp(-1, 1).std(dim=1).mean().item()


def _quadrant_shares(probs: torch.Tensor, n_txt: int) -> dict[str, float]:
    """Mean attention mass each query modality gives each key modality; text tokens first."""
    txt_q, img_q = probs[..., :n_txt, :], probs[..., n_txt:, :]
    return {
        "text to text": txt_q[..., :n_txt].sum(-1).mean().item(),
        "text to image": txt_q[..., n_txt:].sum(-1).mean().item(),
        "image to text": img_q[..., :n_txt].sum(-1).mean().item(),
        "image to image": img_q[..., n_txt:].sum(-1).mean().item(),
    }


def attention_at(model: nn.Module, kind: str, labels: torch.Tensor, t: float, steps: int, noise: torch.Tensor):
    """Per-block attention probabilities (text tokens first) on the sampling path at time ``t``.

    Runs the Euler sampler from ``noise`` with ``steps`` steps, stops at the first step whose
    time is ``<= t``, and returns that step's ``[B, heads, T + N, T + N]`` maps, one per joint
    (MMDiT) or main (single-stream) block. For the single-stream model, whose sequence is
    ``[image; text]``, rows and columns are reordered to ``[text; image]``.
    """
    from snippets.flow import sigma_schedule

    device = next(model.parameters()).device
    conditioner = Conditioner(kind)
    ids = conditioner(labels.to(device))
    x = noise.to(device)
    sigmas = sigma_schedule(steps, device=device)
    with torch.no_grad():
        for i in range(steps):
            tt = sigmas[i].expand(x.shape[0])
            v, maps = model(x, tt, ids, return_attention=True)
            if sigmas[i] <= t + 1e-6:
                break
            x = x + (sigmas[i + 1] - sigmas[i]) * v
    n_txt = ids.shape[1]
    if kind == "single-stream":
        n_img = maps[0].shape[-1] - n_txt
        order = torch.cat([torch.arange(n_img, n_img + n_txt), torch.arange(n_img)]).to(device)
        maps = [m[..., order, :][..., :, order] for m in maps]
    return [m.cpu() for m in maps], float(sigmas[i])


def _attention_figure(maps, tokens: list[str], n_img: int, title: str):
    import matplotlib.pyplot as plt

    n_txt = len(tokens)
    fig, axes = plt.subplots(1, len(maps), figsize=(2.6 * len(maps) + 1.0, 3.4), layout="constrained")
    axes = np.atleast_1d(axes)
    vmax = max(m.max().item() for m in maps)
    for b, (ax, m) in enumerate(zip(axes, maps)):
        im = ax.imshow(m.numpy(), cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
        ax.axhline(n_txt - 0.5, color="white", lw=1.2)
        ax.axvline(n_txt - 0.5, color="white", lw=1.2)
        ticks = list(range(n_txt)) + [n_txt + (n_img - 1) / 2]
        ax.set_xticks(ticks)
        ax.set_xticklabels([*tokens, "image\npatches"], rotation=90, fontsize=7)
        ax.set_yticks(ticks)
        ax.set_yticklabels([*tokens, "image patches"] if b == 0 else [], fontsize=7)
        ax.set_title(f"block {b + 1}", fontsize=9)
    axes[0].set_ylabel("query (who reads)", fontsize=8)
    fig.supxlabel("key (who is read)", fontsize=8)
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="attention probability")
    fig.suptitle(title, fontsize=10)
    return fig


@producer(
    "digits-attention",
    params={"label": 7, "t": 0.5, "steps": 16, "seed": 5, "batch": 100},
    needs=[TRAINED["mmdit"], TRAINED["single-stream"]],
)
@on_cpu_threads
def digits_attention(ctx, label, t, steps, seed, batch):
    """Joint-attention quadrant maps of the trained MMDiT (and the single-stream model) for a real prompt."""
    tok = build_tokenizer()
    prompt = prompt_ids(torch.tensor([label]), tok)[0]
    tokens = [tok.vocab[i] for i in prompt.tolist()]
    n_txt = len(tokens)
    results = {}
    for kind in ("mmdit", "single-stream"):
        model, info = load_trained(ctx.input(TRAINED[kind]), ctx.device)
        size = info["config"]["size"]
        # one prompt, one noise: the figure
        maps, t_used = attention_at(model, kind, torch.tensor([label]), t, steps, eval_noise(1, size, seed))
        head_mean = [m[0].mean(0) for m in maps]  # [T+N, T+N] per block
        n_img = head_mean[0].shape[0] - n_txt
        # `batch` prompts, the same number of every digit: the shares in the table
        labels = torch.arange(10).repeat_interleave(batch // 10)
        many, _ = attention_at(model, kind, labels, t, steps, eval_noise(labels.shape[0], size, seed + 1))
        shares = [_quadrant_shares(m, n_txt) for m in many]
        # image queries -> each prompt position, mean over samples, heads and image queries: [T] per block
        per_token = [m[..., n_txt:, :n_txt].mean(dim=(0, 1, 2)) for m in many]
        word = tokens.index(CLASS_NAMES[label])  # position of the digit's name in the template
        word_share = [(p[word] / p.sum()).item() for p in per_token]
        results[kind] = {
            "t": t_used,
            "shares": shares,
            "image_to_token": [p.tolist() for p in per_token],
            "class_word_share_of_image_to_text": word_share,
            "map": [h.tolist() for h in head_mean],
            "tokens": tokens,
        }
        table = [
            "| block | text to text | text to image | image to text | image to image |",
            "|---:|---:|---:|---:|---:|",
            *[
                f"| {b + 1} | {_fmt_pct(s['text to text'])} | {_fmt_pct(s['text to image'])} | "
                f"{_fmt_pct(s['image to text'])} | {_fmt_pct(s['image to image'])} |"
                for b, s in enumerate(shares)
            ],
        ]
        uniform = n_txt / (n_txt + n_img)
        ctx.save_table(
            "\n".join(table)
            + f"\n\n*{KIND_TITLES[kind]}: share of its attention each query modality gives each key modality "
            f"(attention rows summed over a quadrant, averaged over heads and {labels.shape[0]} prompts, "
            f"{batch // 10} per digit, at t = {t_used:g}). Spread uniformly, attention would give the {n_txt} text "
            f"keys {_fmt_pct(uniform)} and the {n_img} image keys {_fmt_pct(1 - uniform)}.*",
            f"quadrants-{kind}.md",
        )
        first, last = shares[0], shares[-1]
        ctx.save_table(
            f"Averaged over {labels.shape[0]} prompts, the image tokens of the trained {MODEL_NAMES[kind]} give "
            f"**{_fmt_pct(first['image to text'])}** of their attention to the {n_txt} text tokens in block 1 and "
            f"**{_fmt_pct(last['image to text'])}** in block {len(shares)} (spread evenly it would be "
            f"{_fmt_pct(uniform)}); the text tokens give **{_fmt_pct(first['text to image'])}** and "
            f"**{_fmt_pct(last['text to image'])}** of theirs to the image. Of the image tokens' attention to "
            f"the prompt, the word that names the digit (position {word + 1} of {n_txt}) receives "
            f"**{_fmt_pct(word_share[0])}** in block 1 and **{_fmt_pct(word_share[-1])}** in block {len(shares)}.",
            f"headline-{kind}.md",
        )
        where = "joint" if kind == "mmdit" else "shared main"
        fig = _attention_figure(
            head_mean, tokens, n_img, f'{KIND_TITLES[kind]}: "{prompt_for(label)}", t = {t_used:g}, mean over heads'
        )
        ctx.save_figure(
            fig,
            f"attention-{kind}.png",
            alt=(
                f"{len(head_mean)} square heat maps, one per {where} block of the trained {MODEL_NAMES[kind]}, each "
                f"{n_txt + n_img} by {n_txt + n_img}: rows are queries and columns keys, the {n_txt} prompt tokens "
                f"({', '.join(tokens)}) first, then the {n_img} image patches, with white lines separating the four "
                f"quadrants: text to text (top left), text to image (top right), image to text (bottom left) and "
                f"image to image (bottom right). Over {labels.shape[0]} prompts, image queries give "
                f"{_fmt_pct(first['image to text'])} of their attention to the text in block 1 and "
                f"{_fmt_pct(last['image to text'])} in block {len(shares)}; text queries give "
                f"{_fmt_pct(first['text to image'])} and {_fmt_pct(last['text to image'])} to the image."
            ),
            caption=(
                f'Attention of the trained {MODEL_NAMES[kind]} for the prompt "{prompt_for(label)}" halfway along '
                f"a {steps}-step sampling path (t = {t_used:g}), averaged over heads; text tokens first"
                + (" (reordered: the model's own sequence is [image; text])" if kind == "single-stream" else "")
            ),
        )
    ctx.save_json(results, "attention.json")


def parameter_groups(model: nn.Module) -> dict[str, int]:
    """Split a text-conditioned model's parameters by where they act.

    Groups: ``"embeddings"`` (patch, timestep and text embeddings), ``"image only"``,
    ``"text only"``, ``"shared by both"`` (weights applied to image and text tokens alike) and
    ``"output"`` (the final layer).

    Examples:
        >>> mm = parameter_groups(MMDiT(hidden_size=32, depth=2, num_heads=4))
        >>> ss = parameter_groups(SingleStreamDiT(hidden_size=32, depth=2, num_heads=4))
        >>> mm["shared by both"], ss["shared by both"] > 0
        (0, True)
    """
    groups = {"embeddings": 0, "image only": 0, "text only": 0, "shared by both": 0, "output": 0}
    for name, p in model.named_parameters():
        parts = name.split(".")
        if parts[0] == "final_layer":
            key = "output"
        elif parts[0] == "noise_refiner":
            key = "image only"
        elif parts[0] == "context_refiner":
            key = "text only"
        elif parts[0] == "layers":
            key = "shared by both"
        elif parts[0] == "blocks":  # MMDiT: every weight belongs to one stream
            key = "image only" if any(q.startswith("img_") for q in parts) else "text only"
        else:
            key = "embeddings"
        groups[key] += p.numel()
    return groups


def _real_width_models(hidden: int = 3840, depth: int = 30, heads: int = 30, refiners: int = 2):
    """MMDiT and SingleStreamDiT at Z-Image's width and depth, built on the meta device."""
    with torch.device("meta"):
        mm = MMDiT(input_size=32, patch_size=2, in_channels=16, hidden_size=hidden, depth=depth, num_heads=heads)
        ss = SingleStreamDiT(
            input_size=32, patch_size=2, in_channels=16, hidden_size=hidden, depth=depth, num_heads=heads,
            n_refiner_layers=refiners,
        )
    return mm, ss


@producer(
    "digits-streams",
    params={"real_width": 3840, "real_depth": 30, "real_heads": 30, "real_refiners": 2},
    needs=[TRAINED["mmdit"], TRAINED["single-stream"], "digits-sweep-mmdit", "digits-sweep-single-stream"],
)
@on_cpu_threads
def digits_streams(ctx, real_width, real_depth, real_heads, real_refiners):
    """Dual-stream (MMDiT) vs single-stream at equal width: parameters and quality side by side."""
    import matplotlib.pyplot as plt

    cols = {}
    for kind in ("mmdit", "single-stream"):
        model, info = load_trained(ctx.input(TRAINED[kind]), "cpu")
        sweep_data = json.loads((ctx.input(f"digits-sweep-{kind}") / "sweep.json").read_text())
        mean = {(r["steps"], r["guidance"]): r for r in sweep_data["mean"]}
        cfg = info["config"]
        cols[kind] = {
            "config": cfg,
            "groups": parameter_groups(model),
            "total": count_parameters(model),
            "seconds": info["train_seconds"],
            "fd16": mean[(16, 1.0)]["fd"],
            "ag8": mean[(8, 1.0)]["agreement"],
            "fd4": mean[(4, 1.0)]["fd"],
            "yardstick": sweep_data["yardstick"],
        }
        sweep_seeds = len({r["seed"] for r in sweep_data["rows"]})
    mm, ss = cols["mmdit"], cols["single-stream"]
    cfg = mm["config"]

    def row(label, f):
        return f"| {label} | {f(mm)} | {f(ss)} |"

    lines = [
        "| | dual-stream (MMDiT) | single-stream (S3-DiT style) |",
        "|---|---:|---:|",
        row("width D, heads", lambda c: f"{c['config']['hidden_size']}, {c['config']['num_heads']}"),
        row(
            "blocks",
            lambda c: f"{c['config']['depth']} joint"
            if c is mm
            else f"{c['config']['n_refiner_layers']} image + {c['config']['n_refiner_layers']} text refiner, "
            f"{c['config']['depth']} shared",
        ),
        row("training steps", lambda c: f"{c['config']['steps']:,}"),
        row("peak learning rate, condition dropout", lambda c: f"{c['config']['lr']:g}, {100 * c['config']['p_uncond']:g}%"),
        *[row(f"parameters: {g}", lambda c, g=g: f"{c['groups'][g]:,}") for g in mm["groups"]],
        row("**parameters: total**", lambda c: f"**{c['total']:,}**"),
        row("training time (s)", lambda c: f"{c['seconds']:.0f}"),
        row("FD at 4 steps", lambda c: f"{c['fd4']:.2f}"),
        row("FD at 16 steps", lambda c: f"{c['fd16']:.2f}"),
        row("agreement at 8 steps", lambda c: _fmt_pct(c["ag8"])),
    ]
    ctx.save_table(
        "\n".join(lines)
        + f"\n\n*The two trained digit models: same width, and an image token passes through the same number "
        f"of blocks in both ({cfg['depth']}). FD without guidance, mean of {sweep_seeds} noise seeds; real-vs-real yardstick "
        f"{mm['yardstick']:.2f}.*",
        "streams.md",
    )
    ratio = ss["total"] / mm["total"]
    ctx.save_table(
        f"At equal width the single-stream model has **{ss['total']:,}** parameters against the MMDiT's "
        f"**{mm['total']:,}** ({ratio:.0%}), and reaches an FD of **{ss['fd16']:.2f}** at 16 steps against "
        f"**{mm['fd16']:.2f}** (yardstick {mm['yardstick']:.2f}).",
        "headline.md",
    )

    big_mm, big_ss = _real_width_models(real_width, real_depth, real_heads, real_refiners)
    g_mm, g_ss = parameter_groups(big_mm), parameter_groups(big_ss)
    t_mm, t_ss = sum(g_mm.values()), sum(g_ss.values())
    per_block_mm = sum(p.numel() for p in big_mm.blocks[0].parameters())
    per_block_ss = sum(p.numel() for p in big_ss.layers[0].parameters())
    big = [
        "| | dual-stream (MMDiT) | single-stream (S3-DiT style) |",
        "|---|---:|---:|",
        f"| one main block | {per_block_mm / 1e6:,.1f} M | {per_block_ss / 1e6:,.1f} M |",
        *[f"| {g} | {g_mm[g] / 1e9:,.2f} B | {g_ss[g] / 1e9:,.2f} B |" for g in g_mm],
        f"| **total** | **{t_mm / 1e9:,.2f} B** | **{t_ss / 1e9:,.2f} B** |",
    ]
    ctx.save_table(
        "\n".join(big)
        + f"\n\n*The same two classes built at Z-Image's width and depth (D = {real_width}, {real_depth} main "
        f"blocks, {real_heads} heads, {real_refiners} refiners per modality) on the meta device, with this "
        f"page's toy text embedding.*",
        "real-width.md",
    )
    ctx.save_json({"toy": cols, "real_width": {"mmdit": g_mm, "single-stream": g_ss, "block_mmdit": per_block_mm, "block_single_stream": per_block_ss}}, "streams.json")

    fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
    colors = {"embeddings": "#90a4ae", "image only": "#1e88e5", "text only": "#fb8c00", "shared by both": "#8e24aa", "output": "#43a047"}
    for ax, (groups_a, groups_b), scale, unit, title in (
        (axes[0], (mm["groups"], ss["groups"]), 1e3, "thousand", f"trained toy models (D = {cfg['hidden_size']})"),
        (axes[1], (g_mm, g_ss), 1e9, "billion", f"same classes at D = {real_width}, {real_depth} blocks"),
    ):
        for y, groups in ((1, groups_a), (0, groups_b)):
            left = 0.0
            for g, n in groups.items():
                ax.barh(y, n / scale, left=left, color=colors[g], label=g if y == 1 else None, edgecolor="white")
                left += n / scale
        ax.set_yticks([1, 0])
        ax.set_yticklabels(["dual-stream\n(MMDiT)", "single-stream"], fontsize=9)
        ax.set_xlabel(f"parameters ({unit})")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "parameters.png",
        alt=(
            f"Two stacked horizontal bar charts comparing where the parameters of the dual-stream MMDiT and the "
            f"single-stream model go: embeddings, image-only weights, text-only weights, weights shared by both "
            f"modalities, and the output layer. Left, the trained toy models: {mm['total']:,} parameters, "
            f"{mm['groups']['text only'] / mm['total']:.0%} of them text-only, against {ss['total']:,}, "
            f"{ss['groups']['shared by both'] / ss['total']:.0%} of them shared. Right, the same classes at width "
            f"{real_width} with {real_depth} blocks: {t_mm / 1e9:.1f} billion against {t_ss / 1e9:.1f} billion."
        ),
        caption="Where the parameters go: per-modality weights in every MMDiT block versus refiners plus shared blocks",
    )


@producer("digits-same-seed", params={"steps": [1, 2, 4, 8, 16, 32], "labels": [7, 3, 0], "seed": 21}, needs=list(TRAINED.values()))
@on_cpu_threads
def digits_same_seed(ctx, steps, labels, seed):
    """The same starting noise through every model and step count (the ODE is deterministic)."""
    import matplotlib.pyplot as plt

    models = _load_all(ctx)
    size = next(iter(models.values()))[1]["config"]["size"]
    y = torch.tensor(labels)
    noise = eval_noise(len(labels), size, seed)
    rows = {}
    repeat_equal = True
    for kind, (model, _) in models.items():
        rows[kind] = torch.stack([sample_digits(model, kind, y, s, noise=noise) for s in steps], dim=1)  # [L, S, 1, H, W]
        again = sample_digits(model, kind, y, steps[-1], noise=noise)
        repeat_equal &= torch.equal(again, rows[kind][:, -1])
    fig, axes = plt.subplots(1, len(labels), figsize=(3.3 * len(labels), 2.2))
    for j, (ax, label) in enumerate(zip(np.atleast_1d(axes), labels)):
        grid = torch.stack([rows[k][j] for k in models])  # [models, S, 1, H, W]
        _show(ax, grid, f'"{prompt_for(label)}" / class {label}')
        if j == 0:
            _row_labels(ax, ["DiT", "MMDiT", "single"], size)
        ax.set_xticks([i * (size + 1) + (size - 1) / 2 for i in range(len(steps))])
        ax.set_xticklabels([str(s) for s in steps], fontsize=8)
        ax.set_xlabel("Euler steps", fontsize=8)
    fig.tight_layout()
    # how alike are the models' final images, compared with two different noises for the same digit?
    kinds = list(models)
    final = {k: rows[k][:, -1].clamp(-1, 1) for k in kinds}
    across_models = np.mean(
        [(final[a] - final[b]).abs().mean().item() for i, a in enumerate(kinds) for b in kinds[i + 1 :]]
    )
    other = {
        k: sample_digits(m, k, y, steps[-1], noise=eval_noise(len(labels), size, seed + 1)).clamp(-1, 1)
        for k, (m, _) in models.items()
    }
    across_noise = np.mean([(final[k] - other[k]).abs().mean().item() for k in kinds])
    last_vs_first = np.mean([(rows[k][:, -1] - rows[k][:, 0]).clamp(-2, 2).abs().mean().item() for k in kinds])
    ctx.save_json(
        {
            "repeat_bit_identical": repeat_equal,
            "steps": steps,
            "labels": labels,
            "seed": seed,
            "mean_abs_diff_between_models": across_models,
            "mean_abs_diff_between_noises": across_noise,
            "mean_abs_diff_first_vs_last_step": last_vs_first,
        },
        "same-seed.json",
    )
    ctx.save_figure(
        fig,
        "same-seed.png",
        alt=(
            f"{len(labels)} panels, one per requested digit ({', '.join(map(str, labels))}); in each, three rows "
            f"(DiT, MMDiT, single-stream model) by {len(steps)} columns (Euler steps {', '.join(map(str, steps))}), "
            f"all starting from the same noise image. At {steps[-1]} steps the three separately trained models' "
            f"images differ by {across_models:.2f} per pixel on average (pixel values run from -1 to 1), while one "
            f"model's images of the same digit from two different noises differ by {across_noise:.2f}."
        ),
        caption=(
            f"One starting noise per panel, shared by all three models and all step counts. Mean pixel difference "
            f"at {steps[-1]} steps: {across_models:.2f} between models, {across_noise:.2f} between two noises; "
            + ("sampling again gave bit-identical pixels" if repeat_equal else "sampling again gave DIFFERENT pixels")
        ),
    )

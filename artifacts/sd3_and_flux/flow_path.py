"""Lesson 3's picture of flow matching (``sd3-flow-path``): one training scene on its straight
path to noise, and the velocity target that is the same at every point of it.

Everything drawn comes from [`interpolate`][snippets.flow.interpolate] and
[`velocity_target`][snippets.flow.velocity_target], the two functions the digit models train
with; the producer checks that the path it draws is straight before it draws it.
"""

from __future__ import annotations

import torch

from artifacts.plotting import PALETTE, new_figure, show_digits
from sitetools.pipeline import producer
from snippets.digits.data import load_digit_split
from snippets.digits.scenes import SceneSampler, scene_tokenizer
from snippets.flow import interpolate, velocity_target

FIGSIZE = (5.5, 4.0)
"""Inches: the width of lesson 3's other figures, legible on a phone (see benchmarks/screens.py)."""


def path_is_straight(x0: torch.Tensor, noise: torch.Tensor, times: torch.Tensor) -> float:
    """The largest gap between a finite-difference slope of ``interpolate`` and the velocity target.

    On a straight path with a constant velocity the slope between any two times equals the
    target, so the gap is float rounding.

    Examples:
        >>> x0, noise = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
        >>> path_is_straight(x0, noise, torch.linspace(0, 1, 5))
        0.0
    """
    points = torch.stack([interpolate(x0, noise, t.expand(len(x0))) for t in times])
    slopes = points.diff(dim=0) / times.diff().view(-1, *[1] * x0.dim())
    return float((slopes - velocity_target(x0, noise)).abs().max())


@producer("sd3-flow-path", params={"times": [0.0, 0.25, 0.5, 0.75, 1.0], "pixels": 3}, seed=3)
def sd3_flow_path(ctx, times, pixels):
    """A row of ``x_t`` along one scene's path, its velocity target, and a few pixels' straight lines."""
    import matplotlib.pyplot as plt

    generator = torch.Generator().manual_seed(ctx.seed)
    x0, ids, _ = SceneSampler(load_digit_split()).draw(1, generator)
    noise = torch.randn(x0.shape, generator=generator)
    words = scene_tokenizer().decode(ids[0].tolist())
    fine = torch.linspace(0, 1, 21)
    # In float64 a straight path's slopes match the target to rounding far below the threshold.
    gap = path_is_straight(x0.double(), noise.double(), fine.double())
    if gap > 1e-9:
        raise AssertionError(
            f"interpolate is not a straight line with slope velocity_target: {gap}"
        )
    velocity = velocity_target(x0, noise)[0, 0]

    # Three pixels that tell apart: the steepest fall, the middle slope and the steepest rise.
    order = torch.argsort(velocity.flatten(), stable=True)
    chosen = [order[0], order[len(order) // 2], order[-1]][:pixels]
    width = x0.shape[-1]
    places = [divmod(int(index), width) for index in chosen]
    colours = (PALETTE["blue"], PALETTE["green"], PALETTE["vermillion"])

    def mark(ax):
        for (row, col), colour in zip(places, colours):
            ax.add_patch(
                plt.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor=colour, lw=1.6)
            )

    fig, axes = new_figure(
        2,
        len(times) + 1,
        figsize=FIGSIZE,
        gridspec_kw={"height_ratios": [1, 2.6], "hspace": 0.25, "wspace": 0.12},
    )
    grid = axes[0, 0].get_gridspec()
    for ax in axes[1]:  # the bottom row becomes one plot across the figure
        ax.remove()
    for column, t in enumerate(times):
        ax = axes[0, column]
        x_t = interpolate(x0, noise, torch.tensor([t]))
        show_digits(ax, x_t[None], f"t = {t:g}")
        mark(ax)
    ax = axes[0, len(times)]
    limit = float(velocity.abs().max())
    ax.imshow(velocity.numpy(), cmap="PuOr_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("ε − x0", fontsize=10)
    mark(ax)

    ax = fig.add_subplot(grid[1, :])
    path = torch.stack([interpolate(x0, noise, t.expand(1)) for t in fine])[:, 0, 0]  # [T, H, W]
    for (row, col), colour in zip(places, colours):
        values = path[:, row, col].numpy()
        ax.plot(fine.numpy(), values, color=colour, lw=1.8, marker="o", ms=3)
        ax.annotate(
            f"slope {float(velocity[row, col]):+.2f}",
            (1.0, float(values[-1])),
            textcoords="offset points",
            xytext=(6, -3),
            fontsize=9,
            color=colour,
            annotation_clip=False,
        )
    ax.set_xlabel("time t (0 = the scene, 1 = pure noise)")
    ax.set_ylabel("pixel value in x_t")
    ax.set_xlim(0, 1)
    ax.set_title(f"{pixels} pixels of x_t: straight lines, slope ε − x0", fontsize=10)
    fig.suptitle(f"One training scene, “{words}”, on its way to noise", fontsize=11)
    shown = ", ".join(f"{t:g}" for t in times)
    ctx.save_figure(
        fig,
        "path.png",
        alt=(
            f"Top row: a training scene of two digits captioned '{words}' as x_t at t = {shown}: "
            "the digits fade while noise grows, until at t = 1 only noise is left; beside them the "
            "velocity target, noise minus scene, drawn purple below zero and orange above. "
            f"Below: the values of {pixels} pixels of x_t, outlined in colour above, plotted against t, "
            "each a straight line "
            "from its value in the scene to its value in the noise, with its slope printed on it; "
            "the slope is that pixel of the velocity target, the same at every t."
        ),
        caption=(
            r"$x_t = (1 - t)\,x_0 + t\,\varepsilon$ for one training scene and one noise draw, from "
            r"`snippets.flow.interpolate`; the target $\varepsilon - x_0$ from `velocity_target`. "
            f"The producer checks that the slope between each two of {len(fine)} times equals the "
            f"target (largest gap {gap:.1e})."
        ),
    )
    ctx.save_json({"caption": words, "times": times, "largest_gap": gap}, "path.json")

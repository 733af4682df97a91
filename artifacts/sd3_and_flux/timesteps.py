"""Lesson 3's timestep figures (``sd3-timesteps``): logit-normal training times, SD3's shifted sampling schedule."""

from __future__ import annotations

import numpy as np
import torch

from artifacts.plotting import PALETTE, new_figure
from sitetools.pipeline import producer
from snippets.flow import logit_normal_density, logit_normal_timesteps, sigma_schedule

FIGSIZE = (5.5, 3.4)
"""Inches. At 5.5 inches wide a 10 pt label is still about 9 CSS px when a phone shows the figure
390 px wide (see benchmarks/screens.py)."""


@producer(
    "sd3-timesteps", params={"samples": 200_000, "bins": 50, "steps": 28, "shifts": [1.0, 3.0]}
)
def sd3_timesteps(ctx, samples, bins, steps, shifts):
    """Logit-normal density with two histograms, and the SD3 scheduler's sigmas with and without shift."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.training_utils import compute_density_for_timestep_sampling

    ours = logit_normal_timesteps(
        samples, 0.0, 1.0, generator=torch.Generator().manual_seed(ctx.seed)
    )
    theirs = compute_density_for_timestep_sampling(
        "logit_normal",
        samples,
        logit_mean=0.0,
        logit_std=1.0,
        generator=torch.Generator().manual_seed(ctx.seed + 1),
    )
    grid = np.linspace(0.002, 0.998, 400)
    density = logit_normal_density(torch.from_numpy(grid)).numpy()
    middle = {
        name: float(((x > 0.25) & (x < 0.75)).float().mean())
        for name, x in (("ours", ours), ("diffusers", theirs))
    }

    fig, ax = new_figure(figsize=FIGSIZE)  # narrow, so its text stays legible on a phone
    edges = np.linspace(0, 1, bins + 1)
    ax.hist(
        ours.numpy(),
        edges,
        density=True,
        color=PALETTE["sky"],
        alpha=0.55,
        label="snippets.flow",
    )
    ax.hist(
        theirs.numpy(),
        edges,
        density=True,
        histtype="step",
        lw=1.6,
        color=PALETTE["vermillion"],
        label="diffusers",
    )
    ax.plot(grid, density, color="black", lw=1.4, label="logit-normal(0, 1)")
    ax.axhline(1.0, color=PALETTE["grey"], ls="--", lw=1.2, label="uniform")
    ax.set_xlabel("training time t (0 = clean, 1 = pure noise)")
    ax.set_ylabel("density")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 2.3)  # headroom for the legend above the curve
    ax.legend(fontsize=9, loc="upper center", ncol=2, framealpha=0.9)
    ax.set_title("Where SD3 spends its training")
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "logit-normal.png",
        alt=(
            f"Histograms of {samples:,} training times from this course's logit_normal_timesteps and from diffusers' "
            f"compute_density_for_timestep_sampling lie on the same bell-shaped logit-normal density, which peaks at "
            f"{density.max():.2f} at t = 0.5 and falls towards 0 at both ends; the uniform density is a flat line at 1. "
            f"{100 * middle['ours']:.0f}% of the logit-normal draws fall between t = 0.25 and 0.75, against 50% for uniform."
        ),
        caption=(
            f"Logit-normal training times (mean 0, std 1), {samples:,} draws each from "
            "snippets.flow.logit_normal_timesteps and diffusers' "
            "compute_density_for_timestep_sampling, against uniform."
        ),
    )

    fig, ax = new_figure(figsize=FIGSIZE)
    sigmas = {}
    for shift, colour in zip(shifts, (PALETTE["grey"], PALETTE["blue"])):
        scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
        scheduler.set_timesteps(steps)
        s = scheduler.sigmas.numpy()
        sigmas[shift] = s.tolist()
        ax.plot(
            range(len(s)),
            s,
            marker="o",
            ms=3,
            color=colour,
            label=f"shift = {shift:g}" + (" (SD3)" if shift == 3.0 else ""),
        )
    ax.plot(
        range(steps + 1),
        sigma_schedule(steps).numpy(),
        color=PALETTE["green"],
        ls=":",
        lw=1.4,
        label="evenly spaced",
    )
    ax.set_xlabel("sampling step")
    ax.set_ylabel("noise level t (sigma)")
    ax.legend(fontsize=9)
    ax.set_title(f"SD3's scheduler at {steps} steps")
    fig.tight_layout()
    half = {shift: sum(v > 0.5 for v in s[:-1]) for shift, s in sigmas.items()}
    ctx.save_figure(
        fig,
        "shift.png",
        alt=(
            f"Noise level against sampling step for {steps} steps. Without shift the sigmas fall almost evenly from 1 to 0; "
            f"with SD3's shift of 3 they stay high longer: {half[3.0]} of the {steps} steps run above t = 0.5, "
            f"against {half[1.0]} without shift."
        ),
        caption=(
            f"FlowMatchEulerDiscreteScheduler's sigmas for {steps} steps with shift 1 and SD3's "
            "shift 3; dotted: evenly spaced (snippets.flow.sigma_schedule)."
        ),
    )
    ctx.save_json(
        {
            "middle_half_share": middle,
            "sigmas": {str(k): v for k, v in sigmas.items()},
            "steps_above_half": half,
        },
        "timesteps.json",
    )

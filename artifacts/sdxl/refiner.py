"""The refiner hand-over on SDXL's real schedule (``sdxl-refiner-split``)."""

from __future__ import annotations

from artifacts.plotting import PALETTE, new_figure
from sitetools.pipeline import producer
from snippets.sdxl_conditioning import refiner_split


@producer("sdxl-refiner-split", params={"steps": 40, "switch": 0.8})
def sdxl_refiner_split(ctx, steps, switch):
    """One sampling trajectory's timesteps, coloured by the model that runs each step."""
    base, refiner, cutoff = refiner_split(steps, switch)
    fig, ax = new_figure(figsize=(8, 3.6))
    ax.plot(
        range(len(base)),
        base,
        "o-",
        color=PALETTE["blue"],
        ms=4,
        label=f"base U-Net: {len(base)} steps",
    )
    ax.plot(
        range(len(base), steps),
        refiner,
        "s-",
        color=PALETTE["vermillion"],
        ms=4,
        label=f"refiner U-Net: {len(refiner)} steps",
    )
    ax.axhline(cutoff, color=PALETTE["grey"], ls="--", lw=1)
    ax.text(
        steps - 1,
        cutoff + 15,
        f"cut-off: timestep {cutoff}",
        ha="right",
        color=PALETTE["grey"],
        fontsize=9,
    )
    ax.set_xlabel("sampling step")
    ax.set_ylabel("timestep (999 = pure noise)")
    ax.set_title(f"One trajectory, two models: denoising_end = denoising_start = {switch}")
    ax.legend(loc="upper right", frameon=False)
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "refiner-split.png",
        alt=(
            f"Line plot of timestep against sampling step for SDXL's {steps}-step Euler schedule. Blue circles, the "
            f"base model, run {len(base)} steps from timestep {base[0]} down to {base[-1]}; orange squares, the refiner, "
            f"run the last {len(refiner)} steps from {refiner[0]} down to {refiner[-1]}. A dashed line marks the "
            f"cut-off at timestep {cutoff}."
        ),
        caption=(
            f"SDXL's scheduler ({steps} steps, leading spacing) split at {switch}: the base runs every timestep at or "
            f"above {cutoff}, the refiner the rest"
        ),
    )

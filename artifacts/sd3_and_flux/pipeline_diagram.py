"""SD3's pipeline in thirteen steps, drawn from ``snippets.sd3`` (``sd3-pipeline-diagram``).

The steps, their stages and the lessons they come from are
[`SD3_STEPS`][snippets.sd3.SD3_STEPS]; the shapes are
[`sd3_medium_steps`][snippets.sd3.sd3_medium_steps]'s, SD3-medium's own modules run on the
``meta`` device.
"""

from __future__ import annotations

from artifacts.svg import DARK, MUTED, PALETTE, WIDTH, Svg, keep
from sitetools.pipeline import producer
from snippets.sd3 import SD3_STEPS, TraceStep, sd3_medium_steps

STAGE_COLOURS = {  # by order of first appearance
    0: "green",
    1: "grey",
    2: "blue",
    3: "vermillion",
}


def _shape(step: TraceStep) -> str:
    return keep("[" + ", ".join(str(s) for s in step.shape) + "]")


def loop_stage(stages: list[str]) -> str:
    """The stage that repeats: the one ``SD3_STEPS`` names after the sampling step."""
    for stage in stages:
        if "sampling step" in stage:
            return stage
    raise ValueError(f"no stage of SD3_STEPS repeats per sampling step: {sorted(set(stages))}")


def describe(steps: list[TraceStep], stages: list[str], size: int, sampling_steps: int) -> str:
    """The alt text, from the same steps as the drawing."""
    groups = []
    for stage in dict.fromkeys(stages):
        members = [s for s, g in zip(steps, stages, strict=True) if g == stage]
        items = "; ".join(f"{s.number}. {s.what} {_shape(s)}" for s in members)
        groups.append(f"{stage} ({items})")
    return (
        f"Diagram of SD3-medium's pipeline for a {size} × {size} image as thirteen numbered "
        f"steps, top to bottom, in {len(groups)} stages: " + "; then ".join(groups) + ". "
        f"The steps of the stage '{loop_stage(stages)}' repeat for each of {sampling_steps} sampling "
        "steps. Each step names the lesson it comes from."
    ).replace("\u00a0", " ")


def draw_pipeline(steps: list[TraceStep], stages: list[str], size: int, sampling_steps: int):
    """The SVG and alt text: the steps in their stages, the sampling loop marked."""
    alt = describe(steps, stages, size, sampling_steps)
    svg = Svg("SD3's pipeline in thirteen steps", alt)
    right = WIDTH - 10
    y = svg.paragraph(12, 10, "SD3 in thirteen steps", 396, size=15, bold=True)
    y = svg.paragraph(
        12,
        y,
        f"SD3-medium, a {size} × {size} image: what each step leaves",
        396,
        size=13,
        colour=MUTED,
    )
    order = list(dict.fromkeys(stages))
    loop = loop_stage(stages)
    box_x, box_w = 40, right - 40 - 50
    for stage in order:
        colour = STAGE_COLOURS[order.index(stage) % len(STAGE_COLOURS)]
        y += 8
        y = svg.paragraph(box_x, y, stage, box_w, size=13, bold=True, colour=DARK[colour])
        top = y
        members = [s for s, g in zip(steps, stages, strict=True) if g == stage]
        for step in members:
            y += 4
            svg.rect(12, y + 6, 22, 22, fill=PALETTE[colour], stroke=PALETTE[colour], rx=11)
            svg.text(
                23, y + 22, str(step.number), size=12, bold=True, colour="#ffffff", anchor="middle"
            )
            y = svg.box(
                box_x,
                y,
                box_w,
                [(step.what, "bold"), (f"{_shape(step)} · from {step.source}", "muted")],
                colour=colour,
                size=12,
            )
        if stage == loop:
            # the loop: a bracket on the right from the stage's first box to its last
            x = box_x + box_w + 10
            svg.arrow(
                [(x - 6, y - 4), (x + 8, y - 4), (x + 8, top + 4), (x - 4, top + 4)],
                colour=PALETTE[colour],
                width=2,
            )
            svg.text(
                x + 12,
                (top + y) / 2 + 5,
                f"× {sampling_steps}",
                size=13,
                bold=True,
                colour=DARK[colour],
            )
    y = svg.paragraph(
        12,
        y + 8,
        f"The bracket: steps {members_numbers(steps, stages, loop)} run once per sampling "
        f"step, {sampling_steps} times.",
        right - 12,
        size=12,
        colour=DARK["grey"],
    )
    return svg.render(y + 10), alt


def members_numbers(steps: list[TraceStep], stages: list[str], stage: str) -> str:
    """``"8-12"``: the numbers of the steps in ``stage``."""
    numbers = [s.number for s, g in zip(steps, stages, strict=True) if g == stage]
    return f"{numbers[0]}-{numbers[-1]}"


@producer("sd3-pipeline-diagram", params={"size": 1024, "sampling_steps": 28})
def sd3_pipeline_diagram(ctx, size, sampling_steps):
    """The thirteen steps of SD3's pipeline with SD3-medium's real shapes."""
    steps = sd3_medium_steps(size, size, num_inference_steps=sampling_steps)
    stages = [stage for _, _, stage in SD3_STEPS]
    svg, alt = draw_pipeline(steps, stages, size, sampling_steps)
    ctx.save_svg(
        svg,
        "pipeline.svg",
        alt=alt,
        caption="`SD3_STEPS` with the shapes of `sd3_medium_steps()`: SD3-medium's modules on the meta device",
    )

"""Lesson 2, the denoising explorer (``dit-trajectory``): one digit of the trained DiT sampled
with 1, 4 and 16 Euler steps, with and without guidance, stepped through with a slider.

For every step of every sampler the producer stores three pictures: the current point ``x_t``,
the model's predicted clean image ``x0 = x_t - t v``
([`predicted_clean`][snippets.flow.predicted_clean]) and the velocity ``v`` itself, all from the
same noise. The slider walks the 16-step schedule's times; at each one the page shows every
sampler's latest state at or after that time, so the three columns are read at the same ``t``.
Under the slider, the logit-normal density of the training times
([`logit_normal_density`][snippets.flow.logit_normal_density]) shows where on that axis the model
got most of its training. The page's script only swaps pictures and sentences stored here.
"""

from __future__ import annotations

import base64
import io
from html import escape

import torch

from artifacts.digits.models import TRAINED, on_cpu_threads
from sitetools.pipeline import producer
from snippets.digits.data import CLASS_NAMES
from snippets.digits.training import Conditioner, digit_noise, load_trained
from snippets.flow import (
    euler_steps,
    guided_velocity,
    logit_normal_density,
    predicted_clean,
    sigma_schedule,
)

PICTURES = {
    "x": ("x_t: where the sampler is", "the point x_t"),
    "x0": ("x0 = x_t - t v: its predicted clean image", "the predicted clean image"),
    "v": ("v: the velocity (blue below 0, orange above)", "the velocity"),
}
"""The three rows of the explorer, in order: each row's heading and the words of its alt texts."""
SHOWN = 64
"""CSS pixels the page draws each picture at; the PNGs keep the model's own pixels (8 x 8) and
the page scales them up without smoothing (``image-rendering: pixelated``), so they stay tiny."""


def png_data_uri(image: torch.Tensor, symmetric: bool) -> str:
    """An ``[H, W]`` image as a PNG ``data:`` URI, one PNG pixel per image pixel.

    Images in ``[-1, 1]`` (ink high) become grey levels; with ``symmetric`` the values are
    scaled by their largest magnitude and drawn blue (negative) to white (0) to orange
    (positive), colours a reader with any common colour blindness tells apart.

    Examples:
        >>> png_data_uri(torch.zeros(8, 8), symmetric=False)[:22]
        'data:image/png;base64,'
    """
    from PIL import Image

    if symmetric:
        scaled = image / image.abs().max().clamp_min(1e-8)  # [-1, 1]
        blue, orange = torch.tensor([0.0, 0.45, 0.70]), torch.tensor([0.90, 0.62, 0.0])
        pos, neg = scaled.clamp(min=0)[..., None], (-scaled).clamp(min=0)[..., None]
        rgb = 1 - pos * (1 - orange) - neg * (1 - blue)
    else:
        grey = ((1 - image.clamp(-1, 1)) / 2)[..., None]  # ink dark on white
        rgb = grey.expand(*image.shape, 3)
    array = (rgb * 255).round().to(torch.uint8).numpy()
    picture = Image.fromarray(array, "RGB")
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@torch.no_grad()
def trajectory(model, label: int, steps: int, guidance: float, seed: int, size: int) -> list[dict]:
    """Every state of one Euler run: ``{"t", "x", "x0", "v"}`` per step, the last without a
    velocity (the sampler has stopped).

    Examples:
        >>> from snippets.digits.training import GeneratorConfig, build_generator
        >>> model = build_generator(GeneratorConfig("dit", hidden_size=32, depth=1)).eval()
        >>> states = trajectory(model, 7, steps=4, guidance=1.0, seed=0, size=8)
        >>> [s["t"] for s in states], states[0]["x"].shape, "v" in states[-1]
        ([1.0, 0.75, 0.5, 0.25, 0.0], torch.Size([8, 8]), False)
    """
    conditioner = Conditioner("dit")
    cond = conditioner(torch.tensor([label]))
    null = conditioner.null_like(cond)
    noise = digit_noise(1, size, seed)
    states = []
    for t, x in euler_steps(model, noise, cond, steps, guidance, null):
        state = {"t": round(float(t), 4), "x": x[0, 0]}
        if float(t) > 0:
            v = guided_velocity(model, x, t.expand(1), cond, guidance, null)
            state["v"] = v[0, 0]
            state["x0"] = predicted_clean(x, t.expand(1), v)[0, 0]
        else:
            state["x0"] = x[0, 0]  # at t = 0 the sample is the prediction
        states.append(state)
    return states


def frame_at(times: list[float], t: float) -> int:
    """Index of a sampler's latest state at or after time ``t`` (times fall from 1 to 0).

    Examples:
        >>> frame_at([1.0, 0.5, 0.0], 0.75), frame_at([1.0, 0.5, 0.0], 0.5), frame_at([1.0, 0.0], 0.1)
        (0, 1, 0)
    """
    return max(i for i, s in enumerate(times) if s >= t - 1e-9)


def density_path(
    width: float, height: float, points: int = 200, mean: float = 0.0, std: float = 1.0
) -> str:
    """The logit-normal density over ``t`` from 1 (left) to 0 (right), as an SVG path.

    Examples:
        >>> path = density_path(100, 20, points=5)     # t = 0.999, 0.749, 0.5, 0.25, 0.001
        >>> path.split("L")[3], path.endswith("L100 20Z")       # the peak at t = 0.5: y = 0
        ('50 0', True)
    """
    t = torch.linspace(0.999, 0.001, points)
    density = logit_normal_density(t, mean, std)
    y = height * (1 - density / density.max())
    x = torch.linspace(0, width, points)
    cells = [f"{float(a):.4g} {float(b):.4g}" for a, b in zip(x, y)]
    return f"M0 {height:g}L" + "L".join(cells) + f"L{width:g} {height:g}Z"


def describe(label: str, t: float, frames: dict[int, int], guidance: float) -> str:
    """The sentence for one slider position.

    Examples:
        >>> describe("seven", 0.5, {1: 1, 4: 2, 16: 8}, 1.0)
        't = 0.50, no guidance. The 1-step sampler has finished; the 4-step sampler is after step 2 of 4; the 16-step sampler is after step 8 of 16.'
    """
    said = "no guidance" if guidance == 1 else f"guidance w = {guidance:g}"
    parts = []
    for steps, frame in frames.items():
        name = f"the {steps}-step sampler"
        if frame == steps:
            parts.append(f"{name} has finished")
        elif frame == 0:
            parts.append(f"{name} is at the noise")
        else:
            parts.append(f"{name} is after step {frame} of {steps}")
    text = "; ".join(parts)
    return f"t = {t:.2f}, {said}. {text[0].upper()}{text[1:]}."


def explorer_data(runs: dict, label: str, slider_steps: int) -> dict:
    """Everything the page's script swaps in: per guidance and slider position, each sampler's
    three pictures (with alt text) and the sentence."""
    times = sigma_schedule(slider_steps).tolist()
    out = {"times": [round(t, 4) for t in times], "guidance": [], "positions": {}, "pictures": []}
    index: dict[str, int] = {}  # each picture stored once; cells refer to it by number

    def picture(uri: str) -> int:
        if uri not in index:
            index[uri] = len(out["pictures"])
            out["pictures"].append(uri)
        return index[uri]

    for guidance, by_steps in runs.items():
        key = f"{guidance:g}"
        out["guidance"].append(key)
        out["positions"][key] = []
        for t in times:
            frames = {steps: frame_at([s["t"] for s in run], t) for steps, run in by_steps.items()}
            cells = []
            for steps, frame in frames.items():
                state = by_steps[steps][frame]
                for row, (_, words) in PICTURES.items():
                    if row == "v" and "v" not in state:
                        cells.append(
                            {
                                "picture": -1,
                                "alt": f"no velocity: the {steps}-step sampler has finished",
                            }
                        )
                        continue
                    uri = png_data_uri(state[row], symmetric=row == "v")
                    cells.append(
                        {
                            "picture": picture(uri),
                            "alt": f"{words} of the {steps}-step sampler at t = {state['t']:.2f}",
                        }
                    )
            out["positions"][key].append(
                {"cells": cells, "text": describe(label, t, frames, guidance)}
            )
    return out


def explorer_html(data: dict, steps_list, label: str, path: str, times: tuple) -> str:
    """The static figure (slider at the start, no guidance) and the hooks for the script;
    ``times`` is the training's ``(t_mean, t_std)``, for the density strip."""
    first = data["positions"][data["guidance"][0]][0]
    pictures = data["pictures"]
    header = "".join(f"<th scope='col'>{s} step{'s' if s > 1 else ''}</th>" for s in steps_list)
    rows = []
    for r, (words, _) in enumerate(PICTURES.values()):
        cells = "".join(
            f"<td><img class='trajectory__img' src='{pictures[c['picture']]}' "
            f"alt='{escape(c['alt'])}' "
            f"width='{SHOWN}' height='{SHOWN}'></td>"
            if c["picture"] >= 0
            else f"<td class='trajectory__none'>{escape(c['alt'])}</td>"
            for c in first["cells"][r :: len(PICTURES)]
        )
        rows.append(f"<tr><th scope='row'>{escape(words)}</th>{cells}</tr>")
    density = density_path(200, 24, 60, *times)
    return (
        f'<div class="explorable trajectory" data-explorable="trajectory" data-data="{path}">\n'
        f"<table class='trajectory__table'><caption>One “{escape(label)}” from the same noise, "
        f"sampled with {', '.join(map(str, steps_list))} Euler steps</caption>"
        f"<thead><tr><td></td>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>\n"
        f'<svg class="trajectory__density" viewBox="0 0 200 24" preserveAspectRatio="none" '
        f'role="img" aria-label="Logit-normal density of the training times over the same axis, '
        f't from 1 at the left to 0 at the right: highest at t = 0.5, low at both ends.">'
        f"<path d='{density}'/></svg>\n"
        f'<p class="trajectory__readout" aria-live="polite">{escape(first["text"])}</p>\n'
        "</div>"
    )


@producer(
    "dit-trajectory",
    params={"label": 7, "seed": 3, "steps": [1, 4, 16], "guidance": [1.0, 3.0]},
    needs=[TRAINED["dit"]],
)
@on_cpu_threads
def dit_trajectory(ctx, label, seed, steps, guidance):
    """The denoising explorer: ``explorer.md`` (the static figure) and ``trajectory.json``."""
    model, info = load_trained(ctx.input(TRAINED["dit"]), "cpu")
    size = info["config"]["size"]
    runs = {w: {n: trajectory(model, label, n, w, seed, size) for n in steps} for w in guidance}
    data = explorer_data(runs, CLASS_NAMES[label], max(steps))
    ctx.save_json(data, "trajectory.json")
    path = f"generated/{ctx.name}/trajectory.json"
    times = (info["config"]["t_mean"], info["config"]["t_std"])
    ctx.save_table(explorer_html(data, steps, CLASS_NAMES[label], path, times), "explorer.md")

"""The joint-attention explorer of lessons 3 and 4 (``digits-attention-explorer``).

For the trained MMDiT and the trained single-stream model, one caption and one noise (the scene
of ``digits-attention``'s figures: the first noise seed whose scene both models drew as
captioned), at a few times of the 16-step sampling path: every joint (or shared) block's
attention probabilities, per head and averaged over heads, and what a reader is told about
them. The page's script (``docs/assets/javascripts/explorables/attention.js``) draws the
stored probabilities and prints the stored shares; every share, argmax and sentence part is
computed here, from the same functions the lessons' figures use.

The data are compact: probabilities as bytes (``round(255 p)``, base64), the shares rounded to
three decimals. Without JavaScript the page shows ``digits-attention``'s static figure of the
same scene.
"""

from __future__ import annotations

import base64
import json

import torch

from artifacts.diffusion_transformers.trajectory import png_data_uri
from artifacts.digits.models import TRAINED, on_cpu_threads
from sitetools.pipeline import producer
from snippets.digits.data import CLASS_NAMES
from snippets.digits.evaluation import attention_at, quadrant_shares
from snippets.digits.scenes import (
    HELD_OUT_PAIRS,
    caption,
    caption_ids,
    region_of_tokens,
    scene_tokenizer,
)
from snippets.digits.training import (
    KIND_TITLES,
    Conditioner,
    digit_noise,
    load_trained,
    sample_digits,
)
from snippets.flow import euler_steps, sigma_schedule

KINDS = {"mmdit": "joint block", "single-stream": "shared block"}
"""The two text models, and what their attention blocks are called on the pages."""
HALVES = ("left", "right")
CIVIDIS = ("#00224e", "#123570", "#3b496c", "#575d6d", "#707173", "#8a8779", "#a69d75", "#c4b56c",
           "#e4cf5b", "#fee838")  # fmt: skip
"""Matplotlib's cividis at ten stops: readable with every common colour blindness, and dark to
light in both colour schemes."""


def state_summary(probs: torch.Tensor, n_txt: int, regions: torch.Tensor) -> dict:
    """What the explorer says about one ``[L, L]`` map (text tokens first, then image tokens).

    For each caption token (a query): its share of attention on the caption, the shares of its
    *image* attention on the left and the right half, and its strongest image key. For each image
    token: its share on the caption, the caption token it attends to most and that share, and
    its strongest image key. And the four quadrant shares.

    Examples:
        >>> uniform = torch.full((6, 6), 1 / 6)         # 2 words, 4 image tokens
        >>> s = state_summary(uniform, 2, torch.tensor([0, 0, 1, 1]))
        >>> s["words"][0], s["quadrants"]
        ([0.333, 0.5, 0.5, 0], [0.333, 0.667, 0.333, 0.667])
        >>> peaked = uniform.clone(); peaked[0, 5] = 0.5; peaked[0] /= peaked[0].sum()
        >>> state_summary(peaked, 2, torch.tensor([0, 0, 1, 1]))["words"][0][2:]
        [0.667, 3]
    """
    image = probs[:, n_txt:]
    words = []
    for q in range(n_txt):
        row = image[q]
        words.append(
            [
                round(probs[q, :n_txt].sum().item(), 3),
                *(round((row[regions == h].sum() / row.sum()).item(), 3) for h in (0, 1)),
                int(row.argmax()),
            ]
        )
    patches = []
    for q in range(n_txt, probs.shape[0]):
        text = probs[q, :n_txt]
        patches.append(
            [
                round(text.sum().item(), 3),
                int(text.argmax()),
                round(text.max().item(), 3),
                int(probs[q, n_txt:].argmax()),
            ]
        )
    shares = quadrant_shares(probs[None, None], n_txt)
    return {
        "quadrants": [round(v, 3) for v in shares.values()],
        "words": words,
        "patches": patches,
    }


def encode_probabilities(maps: torch.Tensor) -> str:
    """Probabilities in ``[0, 1]`` as base64 bytes, ``round(255 p)``: what the script draws.

    Examples:
        >>> encode_probabilities(torch.tensor([0.0, 0.5, 1.0]))
        'AID/'
    """
    data = (maps.clamp(0, 1) * 255).round().to(torch.uint8).flatten().numpy().tobytes()
    return base64.b64encode(data).decode("ascii")


def states_on_path(model, kind: str, pair, template, noise, steps: int, times: list[float]):
    """The canvas ``x_t`` at each of ``times`` on the sampling path (first step at or below)."""
    ids = Conditioner(kind)(pair, template)
    found, wanted = {}, list(times)
    with torch.no_grad():
        for sigma, x in euler_steps(model, noise, ids, steps):
            while wanted and float(sigma) <= wanted[0] + 1e-6:
                found[wanted.pop(0)] = x[0, 0].cpu()
    return [found[t] for t in times]


def explorer_data(model, info: dict, kind: str, pair, template: int, seed: int, steps: int,
                  step_indices: list[int]) -> dict:  # fmt: skip
    """Everything the explorer shows for one model: maps, shares, pictures and labels."""
    tok = scene_tokenizer()
    one, one_template = torch.tensor([pair]), torch.tensor([template])
    words = [tok.vocab[i] for i in caption_ids(one, one_template)[0].tolist()]
    size, p = info["config"]["size"], info["config"]["patch_size"]
    regions = region_of_tokens(size, 2 * size, p)
    n_txt = len(words)
    noise = digit_noise(1, size, seed, 2 * size)
    times = [float(sigma_schedule(steps)[i]) for i in step_indices]
    canvases = states_on_path(model, kind, one, one_template, noise, steps, times)
    scene = sample_digits(model, kind, one, steps, noise=noise, templates=one_template)[0, 0]
    maps, summaries = [], []
    for t in times:
        blocks, _ = attention_at(model, kind, one, t, steps, noise, one_template)
        per_time, per_time_summary = [], []
        for m in blocks:
            heads = m[0]  # [H, L, L]
            with_mean = torch.cat([heads.mean(0, keepdim=True), heads])
            per_time.append(with_mean)
            per_time_summary.append([state_summary(h, n_txt, regions) for h in with_mean])
        maps.append(torch.stack(per_time))
        summaries.append(per_time_summary)
    stacked = torch.stack(maps)  # [T, B, 1 + H, L, L]
    return {
        "model": KIND_TITLES[kind],
        "block_name": KINDS[kind],
        "caption": caption(*pair, template),
        "pair": list(pair),
        "template": template,
        "size": size,
        "held_out": tuple(pair) in HELD_OUT_PAIRS,
        "words": words,
        "digit_halves": {CLASS_NAMES[pair[0]]: "left", CLASS_NAMES[pair[1]]: "right"},
        "grid": [size // p, 2 * size // p],
        "times": [round(t, 4) for t in times],
        "steps": steps,
        "seed": seed,
        "shape": list(stacked.shape),
        "heads": stacked.shape[2] - 1,
        "attention": encode_probabilities(stacked),
        "summary": summaries,
        "canvases": [png_data_uri(x, symmetric=False) for x in canvases],
        "scene": png_data_uri(scene, symmetric=False),
        "colours": list(CIVIDIS),
        "uniform_text": round(n_txt / (n_txt + len(regions)), 3),
    }


def explorer_html(kind: str, data_path: str) -> str:
    """The fragment a page includes: the explorer's element around its static fallback, the
    ``digits-attention`` figure of the same scene (readers without JavaScript, the notebooks).

    Examples:
        >>> print(explorer_html("mmdit", "generated/a/b.json"))
        <div class="explorable attention-explorer" data-explorable="attention" data-data="generated/a/b.json" markdown>
        <BLANKLINE>
        --8<-- "generated/digits-attention/words-mmdit.md"
        <BLANKLINE>
        </div>
    """
    return (
        '<div class="explorable attention-explorer" data-explorable="attention" '
        f'data-data="{data_path}" markdown>\n\n'
        f'--8<-- "generated/digits-attention/words-{kind}.md"\n\n'
        "</div>"
    )


@producer(
    "digits-attention-explorer",
    params={"pair": [4, 7], "template": 0, "steps": 16, "step_indices": [0, 5, 10, 15]},
    needs=[TRAINED["mmdit"], TRAINED["single-stream"], "digits-attention"],
)
@on_cpu_threads
def digits_attention_explorer(ctx, pair, template, steps, step_indices):
    """``explorer-<kind>.json`` (the data) and ``explorer-<kind>.md`` (the fragment) per model."""
    trained = {k: load_trained(ctx.input(TRAINED[k]), ctx.device) for k in KINDS}
    # The scene of digits-attention's figures, which this explorer replaces on the pages.
    figures = json.loads((ctx.input("digits-attention") / "attention.json").read_text())
    for kind, (model, info) in trained.items():
        if figures[kind]["caption"] != caption(*pair, template):
            raise ValueError(
                f"digits-attention draws {figures[kind]['caption']!r}, this explorer "
                f"{caption(*pair, template)!r}: give both producers the same pair and template"
            )
        seed = figures[kind]["seed"]
        data = explorer_data(model, info, kind, pair, template, seed, steps, step_indices)
        ctx.save_json(data, f"explorer-{kind}.json", compact=True)
        # Fetched by the page's script when the figure comes into view.
        path = f"generated/{ctx.name}/explorer-{kind}.json"
        ctx.save_table(explorer_html(kind, path), f"explorer-{kind}.md")

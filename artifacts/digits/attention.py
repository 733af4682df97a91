"""Joint-attention maps and quadrant shares of the trained MMDiT and single-stream model (``digits-attention``)."""

from __future__ import annotations

import numpy as np
import torch

from artifacts.digits.models import TRAINED, on_cpu_threads
from artifacts.plotting import percent
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.digits.data import (
    CLASS_NAMES,
    build_tokenizer,
    prompt_for,
    prompt_ids,
)
from snippets.digits.evaluation import (
    attention_at,
    eval_noise,
    quadrant_shares,
)
from snippets.digits.training import KIND_TITLES, MODEL_NAMES, load_trained

HEADLINE = (
    "Averaged over {prompts} prompts, the image tokens of the trained {model} give "
    "**{image_to_text_first}** of their attention to the {n_txt} text tokens in block 1 and "
    "**{image_to_text_last}** in block {last_block} (spread evenly it would be {uniform}); the text "
    "tokens give **{text_to_image_first}** and **{text_to_image_last}** of theirs to the image. Of "
    "the image tokens' attention to the prompt, the word that names the digit (position "
    "{word_position} of {n_txt}) receives **{word_first}** in block 1 and **{word_last}** in block "
    "{last_block}."
)
"""The page's sentence on one model's attention quadrants, filled in from the measured shares."""


def _attention_figure(maps, tokens: list[str], n_img: int, title: str):
    import matplotlib.pyplot as plt

    n_txt = len(tokens)
    fig, axes = plt.subplots(
        1, len(maps), figsize=(2.6 * len(maps) + 1.0, 3.4), layout="constrained"
    )
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
        maps, t_used = attention_at(
            model, kind, torch.tensor([label]), t, steps, eval_noise(1, size, seed)
        )
        head_mean = [m[0].mean(0) for m in maps]  # [T+N, T+N] per block
        n_img = head_mean[0].shape[0] - n_txt
        # `batch` prompts, the same number of every digit: the shares in the table
        labels = torch.arange(10).repeat_interleave(batch // 10)
        many, _ = attention_at(
            model, kind, labels, t, steps, eval_noise(labels.shape[0], size, seed + 1)
        )
        shares = [quadrant_shares(m, n_txt) for m in many]
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
        quadrants = ["text to text", "text to image", "image to text", "image to image"]
        table = markdown_table(
            ["block", *quadrants],
            [[str(b + 1), *(percent(s[q]) for q in quadrants)] for b, s in enumerate(shares)],
            align="right",
        )
        uniform = n_txt / (n_txt + n_img)
        ctx.save_table(
            table
            + f"\n\n*{KIND_TITLES[kind]}: share of its attention each query modality gives each key modality "
            f"(attention rows summed over a quadrant, averaged over heads and {labels.shape[0]} prompts, "
            f"{batch // 10} per digit, at t = {t_used:g}). Spread uniformly, attention would give the {n_txt} text "
            f"keys {percent(uniform)} and the {n_img} image keys {percent(1 - uniform)}.*",
            f"quadrants-{kind}.md",
        )
        first, last = shares[0], shares[-1]
        headline = HEADLINE.format(
            prompts=labels.shape[0],
            model=MODEL_NAMES[kind],
            n_txt=n_txt,
            last_block=len(shares),
            image_to_text_first=percent(first["image to text"]),
            image_to_text_last=percent(last["image to text"]),
            uniform=percent(uniform),
            text_to_image_first=percent(first["text to image"]),
            text_to_image_last=percent(last["text to image"]),
            word_position=word + 1,
            word_first=percent(word_share[0]),
            word_last=percent(word_share[-1]),
        )
        ctx.save_table(headline, f"headline-{kind}.md")
        where = "joint" if kind == "mmdit" else "shared main"
        fig = _attention_figure(
            head_mean,
            tokens,
            n_img,
            f'{KIND_TITLES[kind]}: "{prompt_for(label)}", t = {t_used:g}, mean over heads',
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
                f"{percent(first['image to text'])} of their attention to the text in block 1 and "
                f"{percent(last['image to text'])} in block {len(shares)}; text queries give "
                f"{percent(first['text to image'])} and {percent(last['text to image'])} to the image."
            ),
            caption=(
                f'Attention of the trained {MODEL_NAMES[kind]} for the prompt "{prompt_for(label)}" halfway along '
                f"a {steps}-step sampling path (t = {t_used:g}), averaged over heads; text tokens first"
                + (
                    " (reordered: the model's own sequence is [image; text])"
                    if kind == "single-stream"
                    else ""
                )
            ),
        )
    ctx.save_json(results, "attention.json")

"""Joint attention of the trained MMDiT and single-stream model between caption words and image
halves (``digits-attention``).

For one held-out caption, each block's attention map (text tokens first, then the image tokens
of the left half, then those of the right half) and each digit word's attention over the canvas.
Over a batch of held-out captions and several noise seeds, per block: the four quadrant shares,
and [`word_region_shares`][snippets.digits.scenes.word_region_shares] (``word_to_region``: of the
attention a digit word gives the image, the share on its digit's half; ``region_to_word``: of the
attention a half's image tokens give the two digit words, the share on the word naming their
digit). The headline's sentences are chosen and filled in from those numbers by
[`attention_findings`][artifacts.digits.attention.attention_findings].
"""

from __future__ import annotations

import numpy as np
import torch

from artifacts.digits.models import TRAINED, on_cpu_threads
from artifacts.digits.scene_scores import pct
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.digits.data import CLASS_NAMES, default_evaluator
from snippets.digits.evaluation import attention_at, quadrant_shares, scene_requests, spread
from snippets.digits.scenes import (
    HELD_OUT_PAIRS,
    caption,
    caption_ids,
    placement,
    region_of_tokens,
    scene_tokenizer,
    word_region_shares,
)
from snippets.digits.training import (
    KIND_TITLES,
    MODEL_NAMES,
    digit_noise,
    load_trained,
    sample_digits,
)

NEAR = 0.05
"""A share within this of 50% is reported as no preference between the halves."""
QUADRANTS = ("text to text", "text to image", "image to text", "image to image")
WORDS = ("word_to_region", "region_to_word")


def _block_list(blocks: list[int]) -> str:
    """``"block 2"``, ``"blocks 2 and 3"``, ``"blocks 1, 2 and 4"``.

    Examples:
        >>> _block_list([2]), _block_list([2, 3]), _block_list([1, 2, 4])
        ('block 2', 'blocks 2 and 3', 'blocks 1, 2 and 4')
    """
    if len(blocks) == 1:
        return f"block {blocks[0]}"
    return "blocks " + ", ".join(map(str, blocks[:-1])) + f" and {blocks[-1]}"


def share_verdict(
    per_block: list[dict],
    what: str,
    target: str = "its own half",
    other: str = "the other half",
    between: str = "the halves",
) -> str:
    """One sentence on a word-region share across blocks, each clause chosen from the numbers.

    ``per_block`` holds each block's ``{"mean", "min", "max"}`` over seeds. A block whose mean is
    more than ``NEAR`` above 50% and whose every seed is above 50% falls "mostly on" its target;
    within ``NEAR`` of 50% it shows no preference; more than ``NEAR`` below 50% it leans to the
    other side; above but not in every seed, it says so.

    Examples:
        >>> s = lambda m, lo: {"mean": m, "min": lo, "max": m + 0.01}
        >>> share_verdict([s(0.5, 0.49), s(0.75, 0.7), s(0.375, 0.36)], "a digit word's attention")
        "In block 2, a digit word's attention falls mostly on its own half in every seed (75.0%); in block 1 it is within 5 points of 50%, no preference; in block 3 it leans to the other half (37.5%)."
        >>> share_verdict([s(0.51, 0.49), s(0.47, 0.46)], "a digit word's attention")
        "In every block a digit word's attention stays within 5 points of 50%: no preference between the halves."
        >>> share_verdict([s(0.625, 0.45), s(0.5, 0.5)], "a digit word's attention")
        "In no block does a digit word's attention fall mostly on its own half in every seed; in block 1 it is above 50% on average (62.5%) but not in every seed; in block 2 it is within 5 points of 50%, no preference."
    """
    groups: dict[str, list[int]] = {"clear": [], "near": [], "other": [], "some": []}
    for b, sh in enumerate(per_block, start=1):
        if abs(sh["mean"] - 0.5) <= NEAR:
            groups["near"].append(b)
        elif sh["mean"] < 0.5:
            groups["other"].append(b)
        elif sh["min"] > 0.5:
            groups["clear"].append(b)
        else:
            groups["some"].append(b)
    if len(groups["near"]) == len(per_block):
        return (
            f"In every block {what} stays within {100 * NEAR:.0f} points of 50%: no preference "
            f"between {between}."
        )

    def values(blocks: list[int]) -> str:
        return ", ".join(pct(per_block[b - 1]["mean"]) for b in blocks)

    if groups["clear"]:
        parts = [
            f"In {_block_list(groups['clear'])}, {what} falls mostly on {target} in every seed "
            f"({values(groups['clear'])})"
        ]
    else:
        parts = [f"In no block does {what} fall mostly on {target} in every seed"]
    if groups["some"]:
        parts.append(
            f"in {_block_list(groups['some'])} it is above 50% on average "
            f"({values(groups['some'])}) but not in every seed"
        )
    if groups["near"]:
        parts.append(
            f"in {_block_list(groups['near'])} it is within {100 * NEAR:.0f} points of 50%, no "
            "preference"
        )
    if groups["other"]:
        parts.append(
            f"in {_block_list(groups['other'])} it leans to {other} ({values(groups['other'])})"
        )
    return "; ".join(parts) + "."


def attention_findings(result: dict, name: str) -> list[str]:
    """The headline's sentences about one model's word-region attention, from stored numbers."""
    w2r = [spread(b) for b in result["word_to_region"]]
    r2w = [spread(b) for b in result["region_to_word"]]
    by_block = ", ".join(f"{pct(s['mean'])} in block {b + 1}" for b, s in enumerate(w2r))
    back = ", ".join(f"{pct(s['mean'])} in block {b + 1}" for b, s in enumerate(r2w))
    return [
        f"Over {result['scenes']} scenes of held-out captions ({len(result['seeds'])} noise seeds, "
        f"t = {result['t']:g}): of the attention the digit words of the {name} give to the image, "
        f"the share on their own digit's half is {by_block}; of the attention the image tokens of "
        f"a half give to the two digit words, the share on the word naming their digit is "
        f"{back}. Blind to place, both would be 50%.",
        share_verdict(w2r, "a digit word's attention to the image"),
        share_verdict(
            r2w,
            "a half's attention to the digit words",
            "the word naming its digit",
            "the other digit's word",
            "the words",
        ),
    ]


def _seed_drawn_as_captioned(trained: dict, one, one_template, steps: int, start: int) -> int:
    """The first noise seed from ``start`` on whose scene every model draws as captioned."""
    classifier = default_evaluator().classifier
    for seed in range(start, start + 100):
        ok = True
        for kind, (model, info) in trained.items():
            size = info["config"]["size"]
            noise = digit_noise(1, size, seed, 2 * size)
            scene = sample_digits(model, kind, one, steps, noise=noise, templates=one_template)
            ok = ok and placement(classifier, scene, one)["both"] == 1.0
        if ok:
            return seed
    return start


def _halves_order(n_txt: int, regions: torch.Tensor) -> torch.Tensor:
    """Sequence order ``[text; left-half image tokens; right-half image tokens]``."""
    return torch.cat(
        [
            torch.arange(n_txt),
            n_txt + (regions == 0).nonzero()[:, 0],
            n_txt + (regions == 1).nonzero()[:, 0],
        ]
    )


WORD_CELL = 3
"""Drawn width of a word's row and column in the maps, in image-token cells, so the words can be
labelled; the colour of a cell is its own probability whatever its size."""


def _map_figure(maps, words: list[str], n_half: int, title: str):
    import matplotlib.pyplot as plt

    n_txt = len(words)
    widths = np.array([WORD_CELL] * n_txt + [1] * (2 * n_half), dtype=float)
    edges = np.concatenate([[0.0], np.cumsum(widths)])
    centres = (edges[:-1] + edges[1:]) / 2
    cols = 2 if len(maps) == 4 else len(maps)  # four blocks as 2 x 2: larger on a phone
    rows = -(-len(maps) // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(2.9 * cols + 1.4, 3.0 * rows + 0.6),
        layout="constrained",
        squeeze=False,
    )
    vmax = max(m.max().item() for m in maps)
    ticks = [*centres[:n_txt], edges[n_txt] + n_half / 2, edges[n_txt] + 1.5 * n_half]
    labels = [*words, "left half", "right half"]
    for b, (ax, m) in enumerate(zip(axes.flat, maps)):
        im = ax.pcolormesh(edges, edges, m.numpy(), cmap="magma", vmin=0, vmax=vmax)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(edges[-1], edges[0])  # queries top to bottom, as in a matrix
        ax.set_aspect("equal")
        for edge in (edges[n_txt], edges[n_txt + n_half]):
            ax.axhline(edge, color="white", lw=1.0)
            ax.axvline(edge, color="white", lw=1.0)
        ax.set_xticks(ticks)
        ax.set_xticklabels(labels if b >= len(maps) - cols else [], rotation=90, fontsize=8)
        ax.set_yticks(ticks)
        ax.set_yticklabels(labels if b % cols == 0 else [], fontsize=8)
        ax.tick_params(length=0)
        ax.grid(False)
        ax.set_title(f"block {b + 1}", fontsize=9)
    for ax in axes.flat[len(maps) :]:
        ax.set_visible(False)
    fig.supylabel("query (who reads)", fontsize=8)
    fig.supxlabel("key (who is read)", fontsize=8)
    fig.colorbar(im, ax=list(axes.flat), shrink=0.8, label="attention probability")
    fig.suptitle(title, fontsize=10)
    return fig


def _words_figure(scene, word_maps, words: list[str], grid: tuple[int, int], title: str):
    """Row per digit word: the scene, then that word's attention over the canvas in each block."""
    import matplotlib.pyplot as plt

    n_blocks = len(word_maps)
    fig, axes = plt.subplots(
        len(words),
        n_blocks + 1,
        figsize=(1.7 * (n_blocks + 1) + 0.8, 0.9 * len(words) + 0.7),
        layout="constrained",
    )
    vmax = max(m.max().item() for block in word_maps for m in block)
    for r, word in enumerate(words):
        axes[r, 0].imshow(scene[0].clamp(-1, 1).numpy(), cmap="gray_r", vmin=-1, vmax=1)
        axes[r, 0].set_ylabel(f'"{word}"', fontsize=9)
        for b in range(n_blocks):
            ax = axes[r, b + 1]
            im = ax.imshow(word_maps[b][r].reshape(grid).numpy(), cmap="magma", vmin=0, vmax=vmax)
            ax.axvline(grid[1] / 2 - 0.5, color="white", lw=1.0)
            if r == 0:
                ax.set_title(f"block {b + 1}", fontsize=9)
    axes[0, 0].set_title("the scene", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(axes[:, 1:].flat), shrink=0.8, label="attention probability")
    fig.suptitle(title, fontsize=10)
    return fig


@producer(
    "digits-attention",
    params={
        "pair": [4, 7],
        "template": 0,
        "t": 0.5,
        "steps": 16,
        "seed": 5,
        "seeds": [1, 2, 3],
        "per_pair": 6,
    },
    needs=[TRAINED["mmdit"], TRAINED["single-stream"]],
)
@on_cpu_threads
def digits_attention(ctx, pair, template, t, steps, seed, seeds, per_pair):
    """Attention between caption words and image halves in the trained MMDiT and single-stream model.

    The figures show one scene per model; its noise seed is the first from ``seed`` on whose scene
    both models drew as captioned (the classifier reads each digit where the caption put it), so
    that a word's map can be read against the digit it names. The numbers cover every scene.
    """
    tok = scene_tokenizer()
    one = torch.tensor([pair])
    one_template = torch.tensor([template])
    words = [tok.vocab[i] for i in caption_ids(one, one_template)[0].tolist()]
    text = caption(*pair, template)
    held = " (a held-out pair)" if tuple(pair) in HELD_OUT_PAIRS else ""
    n_txt = len(words)
    results = {}
    trained = {
        k: load_trained(ctx.input(TRAINED[k]), ctx.device) for k in ("mmdit", "single-stream")
    }
    seed = _seed_drawn_as_captioned(trained, one, one_template, steps, seed)
    for kind in ("mmdit", "single-stream"):
        model, info = trained[kind]
        cfg = info["config"]
        size, p = cfg["size"], cfg["patch_size"]
        regions = region_of_tokens(size, 2 * size, p)
        n_half = int((regions == 0).sum())
        order = _halves_order(n_txt, regions)

        # one caption, one noise: the figures
        noise = digit_noise(1, size, seed, 2 * size)
        maps, t_used = attention_at(model, kind, one, t, steps, noise, one_template)
        head_mean = [m[0].mean(0) for m in maps]  # [T+N, T+N] per block
        digit_pos = [words.index(CLASS_NAMES[d]) for d in pair]
        word_maps = [h[digit_pos, n_txt:] for h in head_mean]  # [2, N] per block
        scene = sample_digits(model, kind, one, steps, noise=noise, templates=one_template)[0]

        # held-out captions, several seeds: the numbers
        pairs, templates = scene_requests(HELD_OUT_PAIRS, len(HELD_OUT_PAIRS) * per_pair)
        ids = caption_ids(pairs, templates)
        per_seed = {"word_to_region": [], "region_to_word": [], "quadrants": []}
        for s in seeds:
            many, _ = attention_at(
                model, kind, pairs, t, steps, digit_noise(len(pairs), size, s, 2 * size), templates
            )
            shares = [word_region_shares(m, ids, pairs, regions) for m in many]
            for key in WORDS:
                per_seed[key].append([sh[key] for sh in shares])
            per_seed["quadrants"].append([quadrant_shares(m, n_txt) for m in many])
        n_blocks = len(head_mean)
        result = {
            "t": t_used,
            "seeds": list(seeds),
            "scenes": len(pairs) * len(seeds),
            # per block: the value of each seed
            **{key: [[v[b] for v in per_seed[key]] for b in range(n_blocks)] for key in WORDS},
            "quadrants": [
                {q: sum(v[b][q] for v in per_seed["quadrants"]) / len(seeds) for q in QUADRANTS}
                for b in range(n_blocks)
            ],
            "caption": text,
            "seed": seed,  # the figures' noise seed, which the attention explorer reuses
            "map": [h.tolist() for h in head_mean],
        }
        results[kind] = result
        findings = attention_findings(result, MODEL_NAMES[kind])
        ctx.save_table(" ".join(findings), f"headline-{kind}.md")

        rows = [
            [
                str(b + 1),
                *(pct(result["quadrants"][b][q]) for q in QUADRANTS),
                *(pct(spread(result[key][b])["mean"]) for key in WORDS),
            ]
            for b in range(n_blocks)
        ]
        uniform = n_txt / (n_txt + len(regions))
        ctx.save_table(
            markdown_table(
                ["block", *QUADRANTS, "digit word to its half", "half to its digit word"],
                rows,
                align="right",
            )
            + f"\n\n*{KIND_TITLES[kind]}: the first four columns are the share of attention each "
            f"query modality gives each key modality (rows summed over a quadrant); the last two "
            f"are the word-region shares (50% when blind to place). Averaged over heads and "
            f"{result['scenes']} scenes of held-out captions ({len(seeds)} noise seeds) at "
            f"t = {t_used:g}. Spread uniformly, attention would give the {n_txt} text keys "
            f"{pct(uniform)} and the {len(regions)} image keys {pct(1 - uniform)}.*",
            f"quadrants-{kind}.md",
        )
        reordered = [h[order][:, order] for h in head_mean]
        where = "joint" if kind == "mmdit" else "shared main"
        w2r = [spread(b) for b in result["word_to_region"]]
        ctx.save_figure(
            _map_figure(
                reordered,
                words,
                n_half,
                f'{KIND_TITLES[kind]}: "{text}", t = {t_used:g}, mean over heads',
            ),
            f"attention-{kind}.png",
            alt=(
                f"{n_blocks} square heat maps, one per {where} block of the trained "
                f"{MODEL_NAMES[kind]}, each {n_txt + len(regions)} by {n_txt + len(regions)}: rows "
                f"are queries and columns keys, in the order the {n_txt} caption words "
                f"({', '.join(words)}), the {n_half} image tokens of the left half, the {n_half} "
                f"of the right half, with white lines between the three groups and each word's row and "
                f"column drawn wider so that it can be labelled. Over "
                f"{result['scenes']} held-out scenes, a digit word gives its own half "
                + ", ".join(f"{pct(s['mean'])} in block {b + 1}" for b, s in enumerate(w2r))
                + " of its attention to the image."
            ),
            caption=(
                f'Attention of the trained {MODEL_NAMES[kind]} for the caption "{text}"{held}, '
                f"halfway along a {steps}-step sampling path (t = {t_used:g}), averaged over "
                "heads; words first, then the left and the right half"
                + ("; reordered from the model's [image; text]" if kind == "single-stream" else "")
            ),
        )
        digit_words = [CLASS_NAMES[d] for d in pair]
        own = [
            [(m[r][regions == side].sum() / m[r].sum()).item() for r, side in ((0, 0), (1, 1))]
            for m in word_maps
        ]
        ctx.save_figure(
            _words_figure(
                scene,
                word_maps,
                digit_words,
                (size // p, 2 * size // p),
                f'{KIND_TITLES[kind]}: where "{digit_words[0]}" and "{digit_words[1]}" look, t = {t_used:g}',
            ),
            f"words-{kind}.png",
            alt=(
                f'Two rows, one per digit word of the caption "{text}". Each starts with the '
                f"scene the {MODEL_NAMES[kind]} drew for it, then shows, per block, that word's "
                f"attention over the {size // p} by {2 * size // p} image tokens laid out like the "
                f"canvas, a white line between the halves. On this one scene "
                f'"{digit_words[0]}" gives the left half '
                + ", ".join(f"{pct(o[0])}" for o in own)
                + f' of its attention to the image in blocks 1 to {n_blocks}, and "{digit_words[1]}" '
                "gives the right half " + ", ".join(f"{pct(o[1])}" for o in own) + "."
            ),
            caption=(
                f'Each digit word\'s attention over the canvas, caption "{text}"{held}, '
                f"noise seed {seed} (a scene both models drew as captioned), "
                f"t = {t_used:g}, mean over heads. Share on the word's own half, block by block: "
                f'"{digit_words[0]}" '
                + ", ".join(pct(o[0]) for o in own)
                + f'; "{digit_words[1]}" '
                + ", ".join(pct(o[1]) for o in own)
            ),
        )
    ctx.save_json(results, "attention.json")

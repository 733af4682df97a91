"""The two-digit world of the text models, before any model (``sd3-scenes-world``).

Real digits placed as captions say: the same words in another order, the same scene in other
words, and which ``(left, right)`` pairs training never shows. No model is involved: the figure
shows the data and the split, drawn from ``snippets.digits.scenes``.
"""

from __future__ import annotations

import torch

from artifacts.plotting import PALETTE, row_labels, show_digits
from sitetools.pipeline import producer
from snippets.digits.data import CLASS_NAMES, load_digit_split
from snippets.digits.scenes import HELD_OUT_PAIRS, SEEN_PAIRS, caption, compose

EXAMPLES = ((3, 7, 0), (7, 3, 0), (3, 7, 1), (3, 7, 2), (4, 7, 0))
"""``(left, right, phrasing)`` of the example rows: one caption, its words reordered, two other
phrasings of the first scene, and a held-out pair."""


def example_scenes(columns: int, size: int = 8) -> torch.Tensor:
    """Scenes ``[rows, columns, 1, s, 2s]`` of real training digits for ``EXAMPLES``.

    Each digit is one of its class's most typical training images (nearest the class mean), so
    the examples read at a glance.

    Examples:
        >>> example_scenes(3).shape
        torch.Size([5, 3, 1, 8, 16])
    """
    split = load_digit_split(size=size)
    by_class = []
    for c in range(10):
        images = split.train_x[split.train_y == c]
        distance = (images - images.mean(0)).flatten(1).norm(dim=1)
        by_class.append(images[torch.argsort(distance, stable=True)])
    rows = []
    for left, right, _ in EXAMPLES:
        rows.append(compose(by_class[left][:columns], by_class[right][columns : 2 * columns]))
    return torch.stack(rows)


@producer("sd3-scenes-world", params={"columns": 3})
def sd3_scenes_world(ctx, columns):
    """Example scenes with their captions, and the grid of seen and held-out pairs."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    scenes = example_scenes(columns)
    labels = [
        f'"{caption(a, b, k)}"' + (" (held out)" if (a, b) in HELD_OUT_PAIRS else "")
        for a, b, k in EXAMPLES
    ]
    fig, (ax_scenes, ax_pairs) = plt.subplots(
        1, 2, figsize=(7.6, 3.3), gridspec_kw={"width_ratios": [1.25, 1]}
    )
    show_digits(ax_scenes, scenes, "captions and real scenes")
    row_labels(ax_scenes, labels, 8)

    held = torch.zeros(10, 10)
    for a, b in HELD_OUT_PAIRS:
        held[a, b] = 1
    ax_pairs.imshow(
        held.numpy(), cmap=ListedColormap(["#e8eef2", PALETTE["vermillion"]]), vmin=0, vmax=1
    )
    ax_pairs.set_xticks(range(10))
    ax_pairs.set_yticks(range(10))
    ax_pairs.tick_params(length=0, labelsize=8)
    ax_pairs.set_xlabel("right digit", fontsize=9)
    ax_pairs.set_ylabel("left digit", fontsize=9)
    ax_pairs.set_xticks([x - 0.5 for x in range(1, 10)], minor=True)
    ax_pairs.set_yticks([y - 0.5 for y in range(1, 10)], minor=True)
    ax_pairs.grid(which="minor", color="white", lw=1)
    ax_pairs.grid(which="major", visible=False)
    ax_pairs.set_title(f"{len(SEEN_PAIRS)} pairs seen, {len(HELD_OUT_PAIRS)} held out", fontsize=10)
    fig.tight_layout()
    a, b, _ = EXAMPLES[0]
    ctx.save_figure(
        fig,
        "world.png",
        alt=(
            f"Left: {len(EXAMPLES)} rows of real handwritten scenes, {columns} per row, each a "
            f"left and a right digit side by side, labelled with its caption: "
            + "; ".join(labels)
            + f". The first two captions hold the same words in another order and show "
            f"{CLASS_NAMES[a]} and {CLASS_NAMES[b]} swapped; the third and fourth say the first "
            f"scene in other words. Right: a 10 by 10 grid of (left digit, right digit) pairs, "
            f"{len(HELD_OUT_PAIRS)} cells coloured: the pairs training never shows, two per row "
            f"and two per column."
        ),
        caption=(
            f"The text models' world: a caption places two digits, and word order matters. "
            f"{len(HELD_OUT_PAIRS)} of the 100 ordered pairs are held out of training (coloured)"
        ),
    )

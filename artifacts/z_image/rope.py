"""Lesson 4, 3D unified RoPE: the position-id layout and what a text query's scores depend on (``zimage-rope``)."""

from __future__ import annotations

import torch

from artifacts.plotting import PALETTE, new_figure
from artifacts.tables import markdown_table
from sitetools.pipeline import producer
from snippets.rope import caption_position_ids, image_position_ids, padded_length, rope_scores

AXIS_NAMES = ("first axis (text order)", "row", "column")


def layout_figure(caption_tokens: int, rows: int, columns: int):
    """Position ids along diffusers' sequence order (image, then caption) and on the row/column plane."""
    img = image_position_ids(rows, columns, caption_tokens)
    cap = caption_position_ids(caption_tokens)
    ids = torch.cat([img, cap])  # diffusers' basic order: [image; caption]
    n_img, n_img_real = len(img), rows * columns
    fig, (ax, ax2) = new_figure(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2.2, 1]})
    colours = [PALETTE["vermillion"], PALETTE["blue"], PALETTE["green"]]
    for axis, (name, colour) in enumerate(zip(AXIS_NAMES, colours)):
        ax.step(range(len(ids)), ids[:, axis], where="mid", color=colour, label=name, linewidth=1.6)
    ax.axvspan(-0.5, n_img_real - 0.5, color=PALETTE["sky"], alpha=0.15, label="image patches")
    ax.axvspan(n_img_real - 0.5, n_img - 0.5, color=PALETTE["grey"], alpha=0.12, label="padding")
    ax.axvspan(n_img + caption_tokens - 0.5, len(ids) - 0.5, color=PALETTE["grey"], alpha=0.12)
    ax.axvspan(
        n_img - 0.5,
        n_img + caption_tokens - 0.5,
        color=PALETTE["orange"],
        alpha=0.15,
        label="caption tokens",
    )
    ax.set_xlabel("token index in the joint sequence")
    ax.set_ylabel("position id")
    ax.set_ylim(-2, int(ids[:, 0].max()) + 14)
    ax.legend(fontsize=8, ncol=4, loc="upper center")
    ax.set_title(
        f"{rows} x {columns} patches, then a {caption_tokens}-token caption (padded to "
        f"{padded_length(caption_tokens)})",
        fontsize=10,
    )
    r, c = img[:n_img_real, 1], img[:n_img_real, 2]
    ax2.scatter(c, r, s=60, color=PALETTE["sky"], label=f"patches: first axis = {int(img[0, 0])}")
    ax2.scatter(
        [0],
        [0],
        s=160,
        marker="*",
        color=PALETTE["orange"],
        label=f"all {padded_length(caption_tokens)} caption tokens: row 0, column 0",
    )
    ax2.set_xlabel("column id")
    ax2.set_ylabel("row id")
    ax2.set_xticks(range(columns))
    ax2.set_yticks(range(rows))
    ax2.invert_yaxis()
    ax2.set_title("the row/column plane", fontsize=10)
    ax2.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, -0.45))
    fig.tight_layout()
    return fig, ids


def score_maps(grid: int, caption_tokens: int, longer_caption: int, text_token: int, seed: int):
    """Scores of one query content against one key content placed on every patch of a grid."""
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(128, generator=g), torch.randn(128, generator=g)
    keys = image_position_ids(grid, grid, caption_tokens)[: grid * grid]
    keys_long = image_position_ids(grid, grid, longer_caption)[: grid * grid]
    text = caption_position_ids(caption_tokens)[text_token : text_token + 1]
    text_long = caption_position_ids(longer_caption)[text_token : text_token + 1]
    from_text = rope_scores(q, k, text, keys)[0].reshape(grid, grid)
    from_text_long = rope_scores(q, k, text_long, keys_long)[0].reshape(grid, grid)
    corner = keys[:1].clone()  # an image query at row 0, column 0
    from_corner = rope_scores(q, k, corner, keys)[0].reshape(grid, grid)
    return from_text, from_text_long, from_corner


def spread_over_contents(grid: int, caption_tokens: int, text_token: int, samples: int, seed: int):
    """Mean over random query/key contents of the scores' spread across the grid (text and centre queries)."""
    g = torch.Generator().manual_seed(seed)
    keys = image_position_ids(grid, grid, caption_tokens)[: grid * grid]
    text = caption_position_ids(caption_tokens)[text_token : text_token + 1]
    centre = keys[(grid // 2) * grid + grid // 2 : (grid // 2) * grid + grid // 2 + 1]
    spreads = {"text query": 0.0, "image query at the centre": 0.0}
    for _ in range(samples):
        q, k = torch.randn(128, generator=g), torch.randn(128, generator=g)
        spreads["text query"] += rope_scores(q, k, text, keys).std().item() / samples
        spreads["image query at the centre"] += (
            rope_scores(q, k, centre, keys).std().item() / samples
        )
    return spreads


@producer(
    "zimage-rope",
    params={
        "caption_tokens": 20,
        "rows": 4,
        "columns": 6,
        "grid": 32,
        "longer_caption": 77,
        "text_token": 5,
        "samples": 200,
    },
    seed=0,
)
def zimage_rope(ctx, caption_tokens, rows, columns, grid, longer_caption, text_token, samples):
    """The id layout figure, the cross-modal score figure and a table of score spreads."""
    fig, ids = layout_figure(caption_tokens, rows, columns)
    first = padded_length(caption_tokens) + 1
    ctx.save_figure(
        fig,
        "rope-layout.png",
        alt=(
            f"Step plot of the three position ids along a sequence of {len(ids)} tokens: {rows * columns} image "
            f"patches with first-axis id {first} and rows 0 to {rows - 1}, columns 0 to {columns - 1}, padding "
            f"at 0, then {padded_length(caption_tokens)} caption tokens whose first-axis id climbs from 1 to "
            f"{padded_length(caption_tokens)} with row and column 0. A second panel shows the patches on the "
            "row/column plane and every caption token on the cell at row 0, column 0."
        ),
        caption="Where diffusers puts caption tokens and image patches on the three RoPE axes.",
    )
    from_text, from_text_long, from_corner = score_maps(
        grid, caption_tokens, longer_caption, text_token, ctx.seed
    )
    shift = from_text_long - from_text
    same_pattern = from_text - from_corner
    peak = divmod(int(from_text.argmax()), grid)
    # two panels, not three: the caption-length change is one number, said in the caption
    fig, axes = new_figure(1, 2, figsize=(8.4, 4.3))
    panels = [
        (from_text, f"text token {text_token} -> every patch"),
        (from_corner, "image patch (0, 0) -> every patch"),
    ]
    for ax, (values, title) in zip(axes, panels):
        im = ax.imshow(values, cmap="viridis")
        row, col = divmod(int(values.argmax()), grid)
        ax.plot(col, row, marker="*", markersize=16, color="white", markeredgecolor="black")
        ax.plot(0, 0, marker="s", markersize=8, color=PALETTE["vermillion"], clip_on=False)
        ax.set_title(f"{title}\nmaximum (star): row {row}, column {col}", fontsize=11)
        ax.set_xlabel("key column", fontsize=11)
        ax.set_ylabel("key row", fontsize=11)
        ax.grid(False)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    spreads = spread_over_contents(grid, caption_tokens, text_token, samples, ctx.seed)
    where = "at the corner" if peak == (0, 0) else "not at the corner"
    ctx.save_figure(
        fig,
        "rope-scores.png",
        alt=(
            f"Two {grid} x {grid} heat maps of attention scores for one fixed query and key content. A text "
            f"query's scores range from {from_text.min():.2f} to {from_text.max():.2f} across the grid, in the same "
            f"pattern as an image query at patch (0, 0) (they differ by one constant, spread "
            f"{same_pattern.std():.1e}). The pattern is a plaid of bands along rows and columns measured from "
            f"the top-left patch (marked with a square); its maximum (a star) is at row {peak[0]}, column "
            f"{peak[1]}, {where}."
        ),
        caption=(
            "One query content against one key content placed on every patch: what changes with "
            "position. The square marks row 0, column 0, where the query sits on the spatial axes; the "
            f"star marks each map's maximum. Lengthening the caption from {caption_tokens} to "
            f"{longer_caption} tokens adds {shift.mean().item():+.2f} to every score of the text query "
            f"(spread over the grid {shift.std():.1e})."
        ),
    )
    ctx.save_table(
        markdown_table(
            ["query", f"spread of its scores over a {grid} x {grid} grid of image keys"],
            [[name, f"{value:.3f}"] for name, value in spreads.items()],
        ),
        "rope-spread.md",
    )
    ctx.save_json(
        {
            "spreads": spreads,
            "text_vs_corner_std": same_pattern.std().item(),
            "caption_shift_std": shift.std().item(),
            "caption_shift_mean": shift.mean().item(),
            "text_query_peak_row_column": list(peak),
        },
        "numbers.json",
    )

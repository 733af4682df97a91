"""Lesson 4, the position-id explorer (``zimage-rope-explorer``): choose a caption length and an
image size, see the 3D RoPE ids Z-Image's code gives every caption token and every patch, and
which tokens share an axis with the one you point at.

The ids are [`caption_position_ids`][snippets.rope.caption_position_ids] and
[`image_position_ids`][snippets.rope.image_position_ids], the functions the test suite checks
against diffusers' ``patchify_and_embed``, padding included. The page's script
(``docs/assets/javascripts/explorables/rope-ids.js``) draws the stored ids; the one thing it
works out itself is which tokens hold the same id on an axis as the chosen one, and the browser
test holds those counts to [`sharing_counts`][artifacts.z_image.rope_explorer.sharing_counts].
Without JavaScript the page shows ``zimage-rope``'s layout figure.
"""

from __future__ import annotations

import torch

from sitetools.pipeline import producer
from snippets.rope import caption_position_ids, image_position_ids

AXES = ("first axis", "row", "column")


def explorer_states(captions: tuple[int, ...], grids: tuple[tuple[int, int], ...]) -> list[dict]:
    """Every (caption length, image grid): the ids of the caption's and the image's tokens, both
    padded to a multiple of 32 as diffusers pads them, and how many of each are real.

    Examples:
        >>> state = explorer_states((5,), ((4, 4),))[0]
        >>> len(state["caption"]), state["caption"][4], len(state["image"]), state["image"][5]
        (32, [5, 0, 0], 32, [33, 1, 1])
        >>> state["image"][16]                 # a padding patch
        [0, 0, 0]
    """
    states = []
    for n in captions:
        for rows, columns in grids:
            states.append(
                {
                    "caption_tokens": n,
                    "rows": rows,
                    "columns": columns,
                    "caption": caption_position_ids(n).tolist(),
                    "image": image_position_ids(rows, columns, n).tolist(),
                }
            )
    return states


def sharing_counts(state: dict, group: str, index: int) -> list[int]:
    """For the token ``index`` of ``group`` (``"caption"`` or ``"image"``), how many *other*
    tokens of the joint sequence, padding included, hold the same id on each axis.

    Examples:
        >>> state = explorer_states((5,), ((4, 4),))[0]
        >>> # first axis: only itself; row and column 0: 31 caption tokens, 4 patches, 16 pads
        >>> sharing_counts(state, "caption", 4)
        [0, 51, 51]
        >>> sharing_counts(state, "image", 5)        # the 15 other patches; row 1; column 1
        [15, 3, 3]
    """
    ids = torch.tensor(state["caption"] + state["image"])
    me = ids[index if group == "caption" else len(state["caption"]) + index]
    return [int((ids[:, axis] == me[axis]).sum()) - 1 for axis in range(3)]


def explorer_html(data_path: str) -> str:
    """The fragment the page includes: the explorer's element around the static layout figure.

    Examples:
        >>> explorer_html("generated/x/s.json").splitlines()[0][:62]
        '<div class="explorable rope-ids" data-explorable="rope-ids" da'
    """
    return (
        '<div class="explorable rope-ids" data-explorable="rope-ids" '
        f'data-data="{data_path}" markdown>\n\n'
        '--8<-- "generated/zimage-rope/rope-layout.md"\n\n'
        "</div>"
    )


@producer(
    "zimage-rope-explorer",
    params={"captions": [5, 20, 40], "grids": [[2, 2], [4, 4], [4, 8]]},
    needs=["zimage-rope"],
)
def zimage_rope_explorer(ctx, captions, grids):
    """``states.json`` (every state's ids) and ``explorer.md`` (the fragment)."""
    states = explorer_states(tuple(captions), tuple(tuple(g) for g in grids))
    ctx.save_json({"axes": list(AXES), "states": states}, "states.json", compact=True)
    ctx.save_table(explorer_html(f"generated/{ctx.name}/states.json"), "explorer.md")

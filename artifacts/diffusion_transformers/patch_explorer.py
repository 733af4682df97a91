"""Lesson 2, the patch-size explorer (``dit-patch-explorer``): pick a latent size and a patch size,
see the token grid, the sequence length and the attention-score count change.

Every number and every drawing comes from here: for each (latent side, patch size) the producer
computes the row of [`patch_size_rows`][snippets.params.patch_size_rows] and DiT-XL's forward
cost, writes the sentence that describes it and draws its grid as an inline SVG. The page's
JavaScript (``docs/assets/javascripts/explorables/patch-grid.js``) only adds the two sets of
buttons and swaps in the stored drawing and sentence of the chosen pair; without JavaScript the
page shows the default pair, drawn the same way.
"""

from __future__ import annotations

from html import escape

from sitetools.pipeline import producer
from snippets.params import attention_cost, dit_gflops, patch_size_rows

GRID_UNITS = 200
"""Side of the drawn latent, in SVG units (the SVG scales to its box)."""

SENTENCE = (
    "A {side} × {side} latent ({pixels} × {pixels} pixels) cut into {p} × {p} patches is a "
    "{grid} × {grid} grid: **{tokens:,} tokens** of {patch_dim} values each. One attention layer "
    "scores **{entries:,} pairs**, {relative:,}× the {base_side} × {base_side} latent at "
    "p = {base_p}; DiT-XL's whole forward pass costs {gflops:,.1f} Gflops."
)
"""What the explorer says about one state (the live region reads it out on every change)."""


def explorer_states(
    sides: tuple[int, ...], patch_sizes: tuple[int, ...], channels: int = 4
) -> list[dict]:
    """One record per (latent side, patch size): the numbers the explorer shows.

    Relative attention counts from the smallest latent at the largest patch size, the baseline
    of the lesson's patch-cost figure and table.

    Examples:
        >>> states = explorer_states((32, 64), (8, 2))
        >>> [(s["side"], s["patch_size"], s["tokens"], s["relative"]) for s in states]
        [(32, 8, 16, 1), (32, 2, 256, 256), (64, 8, 64, 16), (64, 2, 1024, 4096)]
    """
    base_side, base_p = min(sides), max(patch_sizes)
    base = attention_cost(base_side, base_p)
    states = []
    for side in sides:
        for row in patch_size_rows((channels, side, side), patch_sizes):
            p = row["patch_size"]
            states.append(
                {
                    "side": side,
                    "patch_size": p,
                    "grid": row["grid"],
                    "tokens": row["tokens"],
                    "patch_dim": row["patch_dim"],
                    "attention_entries": row["attention_entries"],
                    "relative": row["attention_entries"] // base,
                    "gflops": round(dit_gflops(f"DiT-XL/{p}", side), 1),
                    "base_side": base_side,
                    "base_p": base_p,
                }
            )
    return states


def describe(state: dict) -> str:
    """The sentence for one state, in Markdown-free HTML.

    Examples:
        >>> state = explorer_states((32,), (8, 2))[1]
        >>> describe(state)[:86]
        'A 32 × 32 latent (256 × 256 pixels) cut into 2 × 2 patches is a 16 × 16 grid: <strong>'
    """
    text = SENTENCE.format(
        side=state["side"],
        pixels=8 * state["side"],
        p=state["patch_size"],
        grid=state["grid"],
        tokens=state["tokens"],
        patch_dim=state["patch_dim"],
        entries=state["attention_entries"],
        relative=state["relative"],
        base_side=state["base_side"],
        base_p=state["base_p"],
        gflops=state["gflops"],
    )
    parts = escape(text).split("**")
    return "".join(f"<strong>{part}</strong>" if i % 2 else part for i, part in enumerate(parts))


def grid_svg(state: dict) -> str:
    """The latent as a square cut into its patches, the first token filled in.

    Drawn with ``currentColor`` and CSS classes, so it follows the page's colour scheme.

    Examples:
        >>> svg = grid_svg(explorer_states((32,), (8,))[0])     # a 4 x 4 grid
        >>> svg.count("M"), 'aria-label="A 32 × 32 latent as a 4 × 4 grid of patches' in svg
        (6, True)
    """
    n, unit = state["grid"], GRID_UNITS
    step = unit / n
    # One path, a move and a line per grid line: a 64 x 64 grid stays a few kilobytes.
    lines = "".join(f"M{i * step:g} 0V{unit}M0 {i * step:g}H{unit}" for i in range(1, n))
    label = (
        f"A {state['side']} × {state['side']} latent as a {n} × {n} grid of patches of "
        f"{state['patch_size']} × {state['patch_size']}: {state['tokens']:,} tokens, the first "
        f"one filled in."
    )
    return (
        f'<svg class="patch-grid__svg" viewBox="-2 -2 {unit + 4} {unit + 4}" role="img" '
        f'aria-label="{escape(label)}">'
        f'<rect class="patch-grid__token" x="0" y="0" width="{step:g}" height="{step:g}"/>'
        f"<path class='patch-grid__lines' d='{lines}'/>"
        f'<rect class="patch-grid__latent" x="0" y="0" width="{unit}" height="{unit}"/>'
        "</svg>"
    )


def explorer_html(states: list[dict], default: tuple[int, int], data: str) -> str:
    """The explorer's HTML: the default state drawn and described, and where the script finds
    every state (``data``, a path from the site's root).

    Examples:
        >>> states = with_drawings(explorer_states((32, 64), (8, 2)))
        >>> html = explorer_html(states, (32, 2), "generated/x/states.json")
        >>> html.startswith('<div class="explorable patch-grid" data-explorable="patch-grid"')
        True
        >>> 'data-side="32" data-patch="2"' in html, html.count("<svg")
        (True, 1)
    """
    chosen = next(s for s in states if (s["side"], s["patch_size"]) == default)
    return (
        f'<div class="explorable patch-grid" data-explorable="patch-grid" data-data="{data}" '
        f'data-side="{default[0]}" data-patch="{default[1]}">\n'
        f'<div class="patch-grid__figure">{chosen["svg"]}</div>\n'
        f'<p class="patch-grid__readout" aria-live="polite">{chosen["text"]}</p>\n'
        "</div>"
    )


def with_drawings(states: list[dict]) -> list[dict]:
    """Each state with its drawing (``svg``) and sentence (``text``), what the script swaps in.

    Examples:
        >>> sorted(with_drawings(explorer_states((32,), (8,)))[0])[-3:]
        ['svg', 'text', 'tokens']
    """
    return [{**state, "svg": grid_svg(state), "text": describe(state)} for state in states]


@producer("dit-patch-explorer")
def dit_patch_explorer(
    ctx, latent_sizes: tuple = (32, 64, 128), patch_sizes: tuple = (8, 4, 2), default=(32, 2)
) -> None:
    """The explorer fragment ``explorer.md`` and its states as ``states.json``.

    Examples:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> from sitetools.pipeline import Context
        >>> out = Path(tempfile.mkdtemp())
        >>> ctx = Context("dit-patch-explorer", out, torch.device("cpu"), "cpu", 0, root=out)
        >>> dit_patch_explorer(ctx)
        >>> sorted(p.name for p in out.iterdir())
        ['explorer.md', 'states.json']
    """
    states = with_drawings(explorer_states(tuple(latent_sizes), tuple(patch_sizes)))
    # Fetched by the page's script when the figure comes into view, so the page's first load
    # carries only the default drawing.
    ctx.save_json({"states": states}, "states.json")
    data = f"generated/{ctx.name}/states.json"
    ctx.save_table(explorer_html(states, tuple(default), data), "explorer.md")

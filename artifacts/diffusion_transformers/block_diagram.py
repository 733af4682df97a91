"""A DiT block with adaLN-Zero, drawn from ``snippets.dit`` (``dit-block-diagram``).

The widths, heads and token count come from a configuration of
[`DIT_CONFIGS`][snippets.dit.DIT_CONFIGS] built on the ``meta`` device; the six modulation
vectors are named as ``DiTBlock.forward`` unpacks them (read from its source); whether the
layer norms have weights and whether the modulation starts at zero is read from a block built
at the configuration's width.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

import torch

from artifacts.svg import DARK, MUTED, PALETTE, WIDTH, Svg, keep
from sitetools.pipeline import producer
from snippets.dit import DiTBlock, build_dit


def modulation_names() -> list[str]:
    """The names ``DiTBlock.forward`` gives the chunks of ``adaLN_modulation(c)``, in order.

    Examples:
        >>> modulation_names()
        ['shift_msa', 'scale_msa', 'gate_msa', 'shift_mlp', 'scale_mlp', 'gate_mlp']
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(DiTBlock.forward)))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Tuple)
            and "adaLN_modulation" in ast.unparse(node.value)
        ):
            return [element.id for element in node.targets[0].elts]
    raise ValueError("DiTBlock.forward no longer unpacks adaLN_modulation(c) into named chunks")


def dit_block_facts(name: str = "DiT-XL/2") -> dict[str, Any]:
    """What the diagram draws, read from the model ``name`` (meta) and one real block.

    Examples:
        >>> facts = dit_block_facts("DiT-XL/2")
        >>> facts["width"], facts["heads"], facts["tokens"], facts["depth"], facts["zero_init"]
        (1152, 16, 256, 28, True)
    """
    model = build_dit(name)
    block = model.blocks[0]
    width = block.norm1.normalized_shape[0]
    # Values, not shapes: build one block on the CPU to see how it starts.
    with torch.random.fork_rng(devices=[]):
        real = DiTBlock(width, block.attn.num_heads, block.mlp.fc1.out_features / width)
    modulation = real.adaLN_modulation[-1]
    return {
        "name": name,
        "width": width,
        "heads": block.attn.num_heads,
        "tokens": model.x_embedder.num_patches,
        "depth": len(model.blocks),
        "qkv": block.attn.qkv.out_features,
        "mlp": block.mlp.fc1.out_features,
        "modulation": (modulation.in_features, modulation.out_features),
        "chunks": modulation_names(),
        "affine": block.norm1.elementwise_affine or block.norm2.elementwise_affine,
        "zero_init": bool((modulation.weight == 0).all() and (modulation.bias == 0).all()),
    }


def _greek(chunk: str) -> str:
    """``shift_msa`` -> ``shift β₁`` (1 for attention, 2 for the MLP), as the lesson writes them."""
    kind, part = chunk.split("_")
    letter = {"shift": "β", "scale": "γ", "gate": "α"}[kind]
    return f"{kind} {letter}{'₁' if part == 'msa' else '₂'}"


def describe(facts: dict[str, Any]) -> str:
    """The alt text, from the same facts as the drawing."""
    d = facts["width"]
    start = "all zero at initialisation" if facts["zero_init"] else "not zero at initialisation"
    return (
        f"Diagram of one {facts['name']} block ({facts['tokens']} tokens of width {d}, one of "
        f"{facts['depth']}), top to bottom. The conditioning vector c, the sum of the timestep "
        f"and class embeddings ({d} wide), passes SiLU and a linear layer to {facts['modulation'][1]} "
        f"numbers ({start}), cut into six {d}-wide vectors: {', '.join(facts['chunks'])}. The "
        f"tokens pass a LayerNorm without learned weights, are scaled by one plus scale_msa and "
        f"shifted by shift_msa, go through self-attention with {facts['heads']} heads, are "
        f"multiplied by gate_msa and added back to the input; then the same for the MLP "
        f"({d} → {facts['mlp']} → {d}) with the three _mlp vectors. With the gates at zero "
        "the block starts as the identity."
    )


def draw_dit_block(facts: dict[str, Any]) -> tuple[str, str]:
    """The SVG and alt text for [`dit_block_facts`][artifacts.diffusion_transformers.block_diagram.dit_block_facts]."""
    alt = describe(facts)
    d, right = facts["width"], WIDTH - 10
    svg = Svg(f"A {facts['name']} block with adaLN-Zero", alt)
    y = svg.paragraph(12, 10, "DiT block with adaLN-Zero", 390, size=15, bold=True)
    y = svg.paragraph(
        12,
        y,
        f"{facts['name']}: {facts['tokens']} tokens × {d}, one block of {facts['depth']}",
        390,
        size=13,
        colour=MUTED,
    )
    zero = "weights and bias zero at init" if facts["zero_init"] else "not zero at init"
    y = svg.box(
        12,
        y + 6,
        right - 12,
        [
            (f"c = t_embedder(t) + y_embedder(y): {d} wide, one per image", "bold"),
            f"adaLN_modulation: SiLU, then Linear {keep(f'{d} → 6 × {d}')} ({zero})",
            ("→ six vectors of " + str(d) + ": " + ", ".join(facts["chunks"]), "orange"),
        ],
        colour="orange",
    )
    bus, bus_top = right - 8, y  # the modulation vectors run down the right edge
    main_x, main_w = 40, 236
    tag_x = main_x + main_w + 14
    lane = 22  # the residual stream runs down the left edge
    y += 18
    y = svg.box(main_x, y, main_w, [(f"x: {facts['tokens']} tokens × {d}", "bold")], colour="grey")
    cx = main_x + main_w / 2
    rows = []
    qkv, mlp = keep(f"{d} → {facts['qkv']}"), keep(f"{d} → {facts['mlp']} → {d}")
    for part, inner in (
        ("msa", f"self-attention: {facts['heads']} heads, qkv {qkv}"),
        ("mlp", f"MLP {mlp}, GELU"),
    ):
        names = [c for c in facts["chunks"] if c.endswith(part)]
        shift, scale, gate = names
        norm = "LayerNorm, learned weights" if facts["affine"] else "LayerNorm, no learned weights"
        svg.arrow([(cx, y), (cx, y + 16)])
        fork = y + 7  # the residual stream leaves the main line here
        y += 16
        y = svg.box(main_x, y, main_w, [norm], colour="grey")
        top = y + 10
        svg.arrow([(cx, y), (cx, top)])
        y = svg.box(main_x, top, main_w, [f"× (1 + {scale}) + {shift}"], colour="orange")
        rows.append(((top + y) / 2, f"{_greek(shift)}, {_greek(scale)}"))
        svg.arrow([(cx, y), (cx, y + 10)])
        y = svg.box(main_x, y + 10, main_w, [inner], colour="blue")
        top = y + 10
        svg.arrow([(cx, y), (cx, top)])
        y = svg.box(main_x, top, main_w, [f"× {gate}"], colour="orange")
        rows.append(((top + y) / 2, _greek(gate)))
        # the residual add: the branch's input joins its gated output
        plus_y = y + 22
        svg.arrow([(cx, y), (cx, plus_y - 9)])
        svg.arrow(
            [(cx, fork), (lane, fork), (lane, plus_y), (cx - 10, plus_y)],
            colour=MUTED,
        )
        svg.rect(cx - 9, plus_y - 9, 18, 18, fill="#ffffff", stroke=MUTED, rx=9)
        svg.text(cx, plus_y + 5, "+", size=14, bold=True, anchor="middle")
        y = plus_y + 9
    for row_y, label in rows:
        svg.arrow([(bus, row_y), (main_x + main_w + 2, row_y)], colour=PALETTE["orange"])
        svg.text(tag_x, row_y - 5, label, size=12, colour=DARK["orange"])
    svg.arrow([(bus, bus_top), (bus, rows[-1][0])], colour=PALETTE["orange"], head=False)
    svg.arrow([(cx, y), (cx, y + 14)])
    y += 14
    y = svg.box(
        main_x, y, main_w, [(f"out: {facts['tokens']} tokens × {d}", "bold")], colour="grey"
    )
    note = (
        "The gates start at zero, so each branch adds nothing and the block starts as the identity."
        if facts["zero_init"]
        else "The modulation does not start at zero here."
    )
    y = svg.paragraph(12, y + 8, note, right - 12, size=12, colour=DARK["grey"])
    return svg.render(y + 10), alt


@producer("dit-block-diagram", params={"name": "DiT-XL/2"})
def dit_block_diagram(ctx, name):
    """One DiT block with its adaLN-Zero conditioning, at a configuration's real width."""
    facts = dit_block_facts(name)
    svg, alt = draw_dit_block(facts)
    ctx.save_svg(
        svg,
        "dit-block.svg",
        alt=alt,
        caption=f"One `DiTBlock` of {name} as `snippets/dit.py` builds it",
    )

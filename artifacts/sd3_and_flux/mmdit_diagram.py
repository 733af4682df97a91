"""An MMDiT block, two streams and one attention, drawn from ``snippets.mmdit`` (``sd3-mmdit-diagram``).

The block is [`MMDiTBlock`][snippets.mmdit.MMDiTBlock] built at SD3-medium's width
(``SD3_MEDIUM``: heads times head width) on the ``meta`` device, and its modules give the widths;
the token counts are [`joint_sequence`][snippets.sd3.joint_sequence]'s for a 1024 x 1024 image;
the depth and the last block's text-free output come from diffusers' SD3-medium transformer.
"""

from __future__ import annotations

from typing import Any

import torch

from artifacts.svg import DARK, MUTED, WIDTH, Svg, keep
from sitetools.pipeline import producer
from snippets.mmdit import MMDiTBlock
from snippets.sd3 import SD3_MEDIUM, build_transformer, joint_sequence


def mmdit_facts(config: dict[str, Any] = SD3_MEDIUM, size: int = 1024) -> dict[str, Any]:
    """What the diagram draws: widths from an ``MMDiTBlock`` at the config's size, token counts.

    Examples:
        >>> facts = mmdit_facts()
        >>> facts["width"], facts["heads"], facts["text"], facts["image"], facts["depth"]
        (1536, 24, 333, 4096, 24)
    """
    width = config["num_attention_heads"] * config["attention_head_dim"]
    with torch.device("meta"):
        block = MMDiTBlock(width, config["num_attention_heads"])
    tokens = joint_sequence(size, size, patch_size=config["patch_size"])
    streams = {}
    for stream in ("txt", "img"):
        streams[stream] = {
            "mod": getattr(block, f"{stream}_mod")[1].out_features,
            "qkv": getattr(block.attn, f"{stream}_qkv").out_features,
            "proj": getattr(block.attn, f"{stream}_proj").out_features,
            "mlp": getattr(block, f"{stream}_mlp").fc1.out_features,
            "names": {
                "mod": f"{stream}_mod",
                "qkv": f"attn.{stream}_qkv",
                "proj": f"attn.{stream}_proj",
                "mlp": f"{stream}_mlp",
            },
        }
    separate = (
        all(
            getattr(block, f"txt_{part}") is not getattr(block, f"img_{part}")
            for part in ("mod", "mlp")
        )
        and block.attn.txt_qkv is not block.attn.img_qkv
    )
    model = build_transformer("SD3-medium") if config is SD3_MEDIUM else None
    return {
        "size": size,
        "width": width,
        "heads": block.attn.num_heads,
        "head_dim": width // block.attn.num_heads,
        "text": tokens["text"],
        "image": tokens["image"],
        "joint": tokens["joint"],
        "depth": config["num_layers"],
        "last_text_free": bool(model and model.transformer_blocks[-1].context_pre_only),
        "streams": streams,
        "separate": separate,
    }


def describe(facts: dict[str, Any]) -> str:
    """The alt text, from the same facts as the drawing."""
    d, txt = facts["width"], facts["streams"]["txt"]
    return (
        f"Diagram of one MMDiT block at SD3-medium's width ({d}), two columns side by side: "
        f"{facts['text']} text tokens on the left, {facts['image']} image tokens (a "
        f"{facts['size']} × {facts['size']} image) on the right. Each stream has its own "
        f"adaLN modulation from c (six {d}-wide vectors), its own LayerNorm and modulation, and "
        f"its own Q, K, V projection ({d} → {txt['qkv']}). The two streams meet in one "
        f"attention over all {facts['joint']} tokens ({facts['heads']} heads of "
        f"{facts['head_dim']}), are split back, and each goes through its own output "
        f"projection, gate and residual, then its own modulated MLP ({d} → {txt['mlp']} → {d}) "
        f"and gate. SD3-medium stacks {facts['depth']} such blocks."
    )


def draw_mmdit(facts: dict[str, Any]) -> tuple[str, str]:
    """The SVG and alt text for [`mmdit_facts`][artifacts.sd3_and_flux.mmdit_diagram.mmdit_facts]."""
    alt = describe(facts)
    d, right = facts["width"], WIDTH - 10
    svg = Svg("An MMDiT block: two streams, one attention", alt)
    y = svg.paragraph(12, 10, "MMDiT block: two streams, one attention", 396, size=15, bold=True)
    y = svg.paragraph(
        12,
        y,
        f"SD3-medium: width {d}, one block of {facts['depth']}, a "
        f"{facts['size']} × {facts['size']} image",
        396,
        size=13,
        colour=MUTED,
    )
    y = svg.box(
        12,
        y + 6,
        right - 12,
        [
            ("c = time embedding + pooled text, one vector per image", "bold"),
            ("→ each stream's own adaLN: six vectors (shift, scale, gate × 2)", "orange"),
        ],
        colour="orange",
    )
    gap = 12
    col_w = (right - 12 - gap) / 2
    columns = {"txt": 12, "img": 12 + col_w + gap}
    colour = {"txt": "green", "img": "blue"}
    title = {"txt": f"text: {facts['text']} tokens", "img": f"image: {facts['image']} tokens"}

    def pair(y, lines_for, box_colour=None, arrows=True):
        """One row: a box per stream, both as tall as the taller; returns their bottom."""
        height = max(svg.box_height(col_w, lines_for(stream)) for stream in columns)
        for stream, x in columns.items():
            if arrows:
                svg.arrow([(x + col_w / 2, y), (x + col_w / 2, y + 12)])
            bottom = svg.box(
                x,
                y + 12 * arrows,
                col_w,
                lines_for(stream),
                colour=box_colour or colour[stream],
                height=height,
            )
        return bottom

    s = facts["streams"]
    y = pair(y + 10, lambda k: [(title[k], "bold"), f"× {d}"], arrows=False)

    def layer(k: str, part: str) -> str:
        """``name: D → out`` for one stream's layer (the MLP: ``D → inner → D``)."""
        widths = f"{d} → {s[k][part]}" + (f" → {d}" if part == "mlp" else "")
        return f"{s[k]['names'][part]}: " + keep(widths)

    y = pair(
        y,
        lambda k: [(layer(k, "mod"), "orange"), "LayerNorm, " + keep("× (1 + scale) + shift")],
        box_colour="orange",
    )
    y = pair(y, lambda k: [layer(k, "qkv")])
    # the one shared operation
    for x in columns.values():
        svg.arrow([(x + col_w / 2, y), (x + col_w / 2, y + 12)], colour=MUTED)
    y = svg.box(
        12,
        y + 12,
        right - 12,
        [
            (
                f"joint attention over {facts['text']} + {facts['image']} = {facts['joint']} tokens",
                "bold",
            ),
            f"{facts['heads']} heads of {facts['head_dim']}: every token attends to every "
            "token, text and image alike; then split back",
        ],
        colour="purple",
    )
    y = pair(y, lambda k: [layer(k, "proj"), ("× gate, + residual", "orange")])
    y = pair(
        y,
        lambda k: [("LayerNorm, " + keep("× (1 + scale) + shift"), "orange")],
        box_colour="orange",
    )
    y = pair(y, lambda k: [layer(k, "mlp"), ("× gate, + residual", "orange")])
    weights = (
        "Green and blue boxes: two sets of weights, one per modality."
        if facts["separate"]
        else "One set of weights serves both modalities."
    )
    last = (
        " In SD3-medium's last block the text stream stops after its Q, K, V "
        "(diffusers: context_pre_only), since nothing reads it afterwards."
        if facts["last_text_free"]
        else ""
    )
    y = svg.paragraph(12, y + 8, weights + last, right - 12, size=12, colour=DARK["grey"])
    return svg.render(y + 10), alt


@producer("sd3-mmdit-diagram", params={"size": 1024})
def sd3_mmdit_diagram(ctx, size):
    """One MMDiT block at SD3-medium's width: per-stream weights around one joint attention."""
    facts = mmdit_facts(SD3_MEDIUM, size)
    svg, alt = draw_mmdit(facts)
    ctx.save_svg(
        svg,
        "mmdit-block.svg",
        alt=alt,
        caption="`MMDiTBlock` of `snippets/mmdit.py` at SD3-medium's width",
    )

"""Z-Image's S3-DiT stack, drawn from its configuration (``zimage-stack-diagram``).

Everything drawn is read from diffusers' ``ZImageTransformer2DModel`` built from
``ZIMAGE_TRANSFORMER_CONFIG`` on the ``meta`` device: the refiners per modality and whether they
are modulated, the main blocks' count, width, heads and feed-forward width, the shared timestep
embedder and each block's adaLN projection; the shapes are
[`trace_shapes`][snippets.zimage.trace_shapes]'s, one image and one caption run through the
model's own modules.
"""

from __future__ import annotations

from typing import Any

from artifacts.svg import DARK, MUTED, PALETTE, WIDTH, Svg, keep
from sitetools.pipeline import producer
from snippets.zimage import build_zimage_transformer, trace_shapes


def stack_facts(size: int = 1024, caption_tokens: int = 20, **overrides: Any) -> dict[str, Any]:
    """What the diagram draws, read from the model (``overrides`` change its configuration).

    Examples:
        >>> facts = stack_facts()
        >>> facts["noise_refiner"], facts["context_refiner"], facts["layers"], facts["width"]
        (2, 2, 30, 3840)
    """
    model = build_zimage_transformer(**overrides)
    block = model.layers[0]
    # latent, patches, embedded patches, caption features, embedded caption, joint sequence, ...
    shapes = [shape for _, shape in trace_shapes(model, size, size, caption_tokens)]
    width = block.attention.to_q.out_features
    return {
        "size": size,
        "latent": shapes[0],
        "patch": model.all_patch_size[0],
        "patch_features": shapes[1][1],
        "image_tokens": shapes[2][0],
        "caption_tokens": caption_tokens,
        "text_features": shapes[3][1],
        "caption_padded": shapes[4][0],
        "joint": shapes[5][0],
        "width": width,
        "heads": block.attention.heads,
        "head_dim": width // block.attention.heads,
        "ffn": block.feed_forward.w1.out_features,
        "noise_refiner": len(model.noise_refiner),
        "context_refiner": len(model.context_refiner),
        "noise_modulated": all(b.modulation for b in model.noise_refiner),
        "context_modulated": any(b.modulation for b in model.context_refiner),
        "layers": len(model.layers),
        "c": model.t_embedder.mlp[-1].out_features,
        "adaln": (block.adaLN_modulation[0].in_features, block.adaLN_modulation[0].out_features),
    }


def describe(f: dict[str, Any]) -> str:
    """The alt text, from the same facts as the drawing."""
    context = "modulated by c" if f["context_modulated"] else "without modulation"
    return (
        f"Diagram of Z-Image's S3-DiT for a {f['size']} × {f['size']} image, top to bottom. Two "
        f"columns first: {f['image_tokens']} image tokens pass {f['noise_refiner']} noise-refiner "
        f"blocks modulated by the timestep; {f['caption_tokens']} caption tokens (padded to "
        f"{f['caption_padded']}) pass {f['context_refiner']} context-refiner blocks {context}. "
        f"The two are concatenated, image first, into one sequence of {f['joint']} tokens of "
        f"width {f['width']}, which passes {f['layers']} main blocks with the same weights for "
        f"every token ({f['heads']} heads of {f['head_dim']}, SwiGLU feed-forward "
        f"{f['width']} → {f['ffn']}). One timestep embedding c, {f['c']} wide, is shared by "
        f"every modulated block; each maps it to {f['adaln'][1] // f['width']} vectors of "
        f"{f['width']} (scale and gate for attention and feed-forward). The final layer keeps "
        "the image tokens."
    )


def draw_stack(f: dict[str, Any]) -> tuple[str, str]:
    """The SVG and alt text for [`stack_facts`][artifacts.z_image.stack_diagram.stack_facts]."""
    alt = describe(f)
    svg = Svg("Z-Image's S3-DiT: refiners per modality, then one stream", alt)
    right, d = WIDTH - 10, f["width"]
    channels, side, _ = f["latent"]
    orange = PALETTE["orange"]
    y = svg.paragraph(12, 10, "S3-DiT: refine apart, then one stream", 396, size=15, bold=True)
    y = svg.paragraph(
        12,
        y,
        f"Z-Image, a {f['size']} × {f['size']} image and a {f['caption_tokens']}-token caption",
        396,
        size=13,
        colour=MUTED,
    )
    y = svg.box(
        12,
        y + 6,
        right - 12,
        [
            (f"c = t_embedder(t): {f['c']} wide, one per image", "bold"),
            ("→ every modulated block, down the line on the right", "orange"),
        ],
        colour="orange",
    )
    bus, bus_top = right - 8, y
    main_right = bus - 22
    gap = 10
    col_w = (main_right - 12 - gap) / 2
    txt_x, img_x = 12, 12 + col_w + gap  # the image column next to c's line
    taps = []  # (y, x): where c enters a modulated block

    def two(y, text_lines, image_lines, arrows=True):
        height = max(svg.box_height(col_w, text_lines), svg.box_height(col_w, image_lines))
        if arrows:
            for x in (txt_x, img_x):
                svg.arrow([(x + col_w / 2, y), (x + col_w / 2, y + 12)])
            y += 12
        svg.box(txt_x, y, col_w, text_lines, colour="green", height=height)
        svg.box(img_x, y, col_w, image_lines, colour="blue", height=height)
        return y, y + height

    def modulated(on: bool):
        return ("modulated by c", "orange") if on else ("no modulation", "muted")

    p = f["patch"]
    _, y = two(
        y + 12,
        [
            (f"caption: {f['caption_tokens']} tokens", "bold"),
            f"Qwen3 features {f['text_features']} " + keep(f"→ {d}"),
            f"padded to {f['caption_padded']}",
        ],
        [
            (f"image: {f['image_tokens']} tokens", "bold"),
            f"latent {keep(f'{channels} × {side} × {side}')}, "
            f"{keep(f'{p} × {p}')} patches " + keep(f"{f['patch_features']} → {d}"),
        ],
        arrows=False,
    )
    top, y = two(
        y,
        [
            (f"context_refiner × {f['context_refiner']}", "bold"),
            modulated(f["context_modulated"]),
        ],
        [(f"noise_refiner × {f['noise_refiner']}", "bold"), modulated(f["noise_modulated"])],
    )
    if f["noise_modulated"]:
        taps.append(((top + y) / 2, img_x + col_w))
    for x in (txt_x, img_x):
        svg.arrow([(x + col_w / 2, y), (x + col_w / 2, y + 14)])
    y = svg.box(
        12,
        y + 14,
        main_right - 12,
        [(f"concatenate [image; text]: {f['joint']} tokens × {d}", "bold")],
        colour="grey",
    )
    middle = (12 + main_right) / 2
    svg.arrow([(middle, y), (middle, y + 14)])
    top = y + 14
    adaln = keep(f"{f['adaln'][0]} → {f['adaln'][1]}")
    y = svg.box(
        12,
        top,
        main_right - 12,
        [
            (f"{f['layers']} main blocks: one stream", "bold"),
            "the same weights for every token, image or text",
            f"attention: {f['heads']} heads of {f['head_dim']}, QK-norm",
            "SwiGLU " + keep(f"{d} → {f['ffn']} → {d}") + ", sandwich RMSNorm",
            (f"adaLN: Linear {adaln} (scale, gate × 2)", "orange"),
        ],
        colour="purple",
    )
    taps.append(((top + y) / 2, main_right))
    svg.arrow([(middle, y), (middle, y + 14)])
    y = svg.box(
        12,
        y + 14,
        main_right - 12,
        [
            (f"final layer: the {f['image_tokens']} image tokens", "bold"),
            "→ velocity " + keep(f"{channels} × {side} × {side}"),
        ],
        colour="grey",
    )
    svg.arrow([(bus, bus_top), (bus, max(t for t, _ in taps))], colour=orange, head=False)
    for tap_y, x in taps:
        svg.arrow([(bus, tap_y), (x + 2, tap_y)], colour=orange)
    y = svg.paragraph(
        12,
        y + 8,
        "Weights of their own only up front, in the refiners; after the concatenation every "
        "token meets the same weights.",
        right - 12,
        size=12,
        colour=DARK["grey"],
    )
    return svg.render(y + 10), alt


@producer("zimage-stack-diagram", params={"size": 1024, "caption_tokens": 20})
def zimage_stack_diagram(ctx, size, caption_tokens):
    """Z-Image's stack: refiners per modality, then one stream of shared blocks."""
    facts = stack_facts(size, caption_tokens)
    svg, alt = draw_stack(facts)
    ctx.save_svg(
        svg,
        "stack.svg",
        alt=alt,
        caption="`ZImageTransformer2DModel` built from `ZIMAGE_TRANSFORMER_CONFIG` on the meta device",
    )

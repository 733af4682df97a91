"""SDXL's U-Net, level by level, drawn from ``SDXL_BASE_UNET`` (``sdxl-unet-diagram``).

The numbers are read from diffusers' ``UNet2DConditionModel`` built from the configuration on the
``meta`` device and run once there: each block's input resolution, channels, ResNet blocks and
their ``time_emb_proj``, transformer depth, the skip connections each up block receives. A
change to the configuration redraws the picture.
"""

from __future__ import annotations

from typing import Any

import torch

from artifacts.svg import DARK, MUTED, PALETTE, WIDTH, Svg, keep
from sitetools.pipeline import producer
from snippets.sdxl import CLIP_VIT_L, OPENCLIP_BIGG, SDXL_BASE_UNET, build_unet


@torch.no_grad()
def unet_stages(config: dict[str, Any], image_size: int) -> dict[str, Any]:
    """Read a U-Net's stages from the model itself: one meta forward pass with hooks.

    Returns:
        ``stages``: one dict per down, middle and up block, in the order the data flows
        (``kind``, ``block``, ``side``, ``channels``, ``resnets``, ``temb`` (time_emb_proj in
        and out), ``transformers`` (blocks per attention layer), ``heads``, ``text_dim``,
        ``skips`` (channels of the skip inputs), ``next_side``); and the model-wide numbers
        ``latent``, ``emb``, ``add_in``, ``text_tokens``.

    Examples:
        >>> unet = unet_stages(SDXL_BASE_UNET, 1024)
        >>> [(s["kind"], s["side"], s["transformers"]) for s in unet["stages"]][:4]
        [('down', 128, []), ('down', 64, [2, 2]), ('down', 32, [10, 10]), ('mid', 32, [10])]
    """
    unet = build_unet(config).eval()
    blocks = [("down", b) for b in unet.down_blocks]
    blocks += [("mid", unet.mid_block)] + [("up", b) for b in unet.up_blocks]
    seen: dict[int, dict[str, Any]] = {}

    def before(index):
        def hook(_module, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            skips = kwargs.get("res_hidden_states_tuple") or ()
            seen[index] = {"side": hidden.shape[-1], "skips": [s.shape[1] for s in skips]}

        return hook

    def after(index):
        def hook(_module, _args, _kwargs, output):
            seen[index]["next_side"] = (output[0] if isinstance(output, tuple) else output).shape[
                -1
            ]

        return hook

    handles = []
    for index, (_, block) in enumerate(blocks):
        handles.append(block.register_forward_pre_hook(before(index), with_kwargs=True))
        handles.append(block.register_forward_hook(after(index), with_kwargs=True))
    side = image_size // 8
    text_tokens = CLIP_VIT_L["max_position_embeddings"]
    meta = {"device": "meta"}
    added = None
    if config.get("addition_embed_type") == "text_time":
        pooled = OPENCLIP_BIGG["projection_dim"]
        n_ids = (config["projection_class_embeddings_input_dim"] - pooled) // config[
            "addition_time_embed_dim"
        ]
        added = {
            "text_embeds": torch.empty(1, pooled, **meta),
            "time_ids": torch.empty(1, n_ids, **meta),
        }
    unet(
        torch.empty(1, config["in_channels"], side, side, **meta),
        torch.tensor([999], **meta),
        torch.empty(1, text_tokens, config["cross_attention_dim"], **meta),
        added_cond_kwargs=added,
    )
    for handle in handles:
        handle.remove()

    stages = []
    for index, (kind, block) in enumerate(blocks):
        attentions = list(getattr(block, "attentions", None) or [])
        first = attentions[0].transformer_blocks[0] if attentions else None
        stages.append(
            {
                "kind": kind,
                "block": type(block).__name__,
                "side": seen[index]["side"],
                "next_side": seen[index]["next_side"],
                "channels": block.resnets[0].out_channels,
                "resnets": len(block.resnets),
                "temb": (
                    block.resnets[0].time_emb_proj.in_features,
                    block.resnets[0].time_emb_proj.out_features,
                ),
                "transformers": [len(a.transformer_blocks) for a in attentions],
                "heads": first.attn1.heads if first else 0,
                "text_dim": first.attn2.to_k.in_features if first else 0,
                "skips": seen[index]["skips"],
            }
        )
    return {
        "stages": stages,
        "latent": (config["in_channels"], side, side),
        "emb": unet.time_embedding.linear_2.out_features,
        "add_in": unet.add_embedding.linear_1.in_features if added else 0,
        "n_time_ids": added["time_ids"].shape[1] if added else 0,
        "text_tokens": text_tokens,
        "text_dim": config["cross_attention_dim"],
    }


def _attention(stage: dict[str, Any]) -> str:
    """What a stage's attention does, in words."""
    if not stage["transformers"]:
        return "no attention"
    depth = stage["transformers"][0]
    where = "between the ResNets" if stage["kind"] == "mid" else "after each ResNet"
    if len(set(stage["transformers"])) > 1:  # not in SDXL, but a configuration may do it
        depth = " / ".join(map(str, stage["transformers"]))
    return (
        f"{where}: {depth} transformer blocks, self-attention over {stage['side'] ** 2} "
        f"tokens + cross-attention to the text, {stage['heads']} heads"
    )


def _describe(unet: dict[str, Any], image_size: int) -> str:
    """The alt text: every stage in a few words, from the same data as the drawing."""
    channels, side, _ = unet["latent"]

    def stage_words(stage: dict[str, Any]) -> str:
        attention = "no attention"
        if stage["transformers"]:
            where = "between its ResNets" if stage["kind"] == "mid" else "after each ResNet"
            attention = f"{stage['transformers'][0]} transformer blocks {where}"
        return f"{stage['side']} × {stage['side']} ({stage['channels']} channels, {attention})"

    def words(kind: str) -> str:
        return ", ".join(stage_words(s) for s in unet["stages"] if s["kind"] == kind)

    ups = [s for s in unet["stages"] if s["kind"] == "up"]
    n_resnets = sum(s["resnets"] for s in unet["stages"])
    return (
        f"Diagram of SDXL base's U-Net for a {image_size} × {image_size} image (a {channels} × "
        f"{side} × {side} latent), top to bottom: down through {words('down')}; a middle block "
        f"at {words('mid')}; up through {words('up')}, each up level with "
        f"{ups[0]['resnets']} ResNets and {len(ups[0]['skips'])} skip connections from the down "
        f"level of the same resolution. Each transformer block runs self-attention over its "
        f"level's tokens and cross-attention to {unet['text_tokens']} text tokens of width "
        f"{unet['text_dim']}; the {unet['emb']}-wide embedding of the timestep and the added "
        f"conditioning enters all {n_resnets} ResNet blocks through time_emb_proj."
    )


def draw_unet(unet: dict[str, Any], image_size: int) -> tuple[str, str]:
    """The SVG and its alt text for the output of [`unet_stages`][artifacts.sdxl.unet_diagram.unet_stages]."""
    alt = _describe(unet, image_size)
    svg = Svg("SDXL base U-Net, level by level", alt)
    channels, side, _ = unet["latent"]
    stages = unet["stages"]
    n_resnets = sum(s["resnets"] for s in stages)
    n_blocks = sum(sum(s["transformers"]) for s in stages)
    right = WIDTH - 10
    y = svg.paragraph(12, 10, "SDXL base U-Net", 390, size=15, bold=True)
    y = svg.paragraph(
        12,
        y,
        f"{image_size} × {image_size} image → latent {channels} × {side} × {side}",
        390,
        size=13,
        colour=MUTED,
    )
    y += 6
    pooled = OPENCLIP_BIGG["projection_dim"]
    y = svg.box(
        12,
        y,
        right - 12,
        [
            (f"emb: {unet['emb']} wide, once per step", "bold"),
            f"time_embedding(t) + add_embedding(pooled text {pooled} + {unet['n_time_ids']} "
            f"micro-conditioning numbers: {unet['add_in']} → {unet['emb']})",
            (f"→ time_emb_proj of all {n_resnets} ResNet blocks", "orange"),
        ],
        colour="orange",
    )
    y = svg.box(
        12,
        y + 6,
        right - 12,
        [
            (f"text: {unet['text_tokens']} tokens × {unet['text_dim']}", "bold"),
            f"CLIP ViT-L ({CLIP_VIT_L['hidden_size']}) and OpenCLIP bigG "
            f"({OPENCLIP_BIGG['hidden_size']}) side by side",
            (f"→ cross-attention in all {n_blocks} transformer blocks", "green"),
        ],
        colour="green",
    )

    levels = sorted({s["side"] for s in stages}, reverse=True)
    lane = {level: 12 + 12 * i for i, level in enumerate(levels)}
    indent = {level: 14 + lane[levels[-1]] + 16 * (i + 1) for i, level in enumerate(levels)}
    mid_indent = indent[levels[-1]] + 16
    arrow_x = right - 40
    y += 10
    svg.text(
        arrow_x,
        y + 10,
        f"conv_in {channels} → {stages[0]['channels']}",
        size=12,
        colour=MUTED,
        anchor="end",
    )
    svg.arrow([(arrow_x + 12, y), (arrow_x + 12, y + 16)])
    y += 18
    middle_of: dict[tuple[str, int], float] = {}
    for index, stage in enumerate(stages):
        x = mid_indent if stage["kind"] == "mid" else indent[stage["side"]]
        attention = bool(stage["transformers"])
        heading = keep(f"{stage['side']} × {stage['side']}") + f" · {stage['channels']} channels"
        resnets = f"{stage['resnets']} ResNets + time_emb_proj "
        resnets += keep(f"({stage['temb'][0]} → {stage['temb'][1]})")
        lines = [(heading, "bold"), (stage["block"], "muted")]
        if stage["skips"]:
            skips = ", ".join(str(c) for c in stage["skips"])
            lines.append((f"+ {len(stage['skips'])} skips in ({skips} channels)", "purple"))
        lines.append((resnets, "orange"))
        lines.append((_attention(stage), "blue" if attention else "muted"))
        top = y
        y = svg.box(x, y, right - x, lines, colour="blue" if attention else "grey")
        middle_of[(stage["kind"], stage["side"])] = (top + y) / 2
        change, label = stage["next_side"], ""
        if change < stage["side"]:
            label = f"downsample → {change} × {change}"
        elif change > stage["side"]:
            label = f"upsample → {change} × {change}"
        elif index == len(stages) - 1:
            label = f"conv_out {stage['channels']} → {channels}: the prediction"
        if label:
            svg.text(arrow_x, y + 14, label, size=12, colour=MUTED, anchor="end")
        svg.arrow([(arrow_x + 12, y), (arrow_x + 12, y + 18)])
        y += 20
    # skip connections: from the down block to the up block of the same resolution
    skip_colour = PALETTE["purple"]
    for stage in stages:
        if stage["kind"] != "up" or not stage["skips"]:
            continue
        level = stage["side"]
        start, end = middle_of[("down", level)], middle_of[("up", level)]
        x = indent[level]
        svg.arrow(
            [(x, start), (lane[level], start), (lane[level], end), (x - 1, end)],
            colour=skip_colour,
            width=2,
        )
    y = svg.paragraph(
        12,
        y + 4,
        "Blue: the block runs attention; grey: it runs none. Purple lines: skip connections, "
        "from the way down to the way up at the same resolution.",
        right - 12,
        size=12,
        colour=DARK["grey"],
    )
    return svg.render(y + 10), alt


@producer("sdxl-unet-diagram", params={"image_size": 1024})
def sdxl_unet_diagram(ctx, image_size):
    """SDXL base's U-Net levels: resolution, channels, attention, conditioning, skips."""
    unet = unet_stages(SDXL_BASE_UNET, image_size)
    svg, alt = draw_unet(unet, image_size)
    ctx.save_svg(
        svg,
        "unet.svg",
        alt=alt,
        caption="SDXL base's U-Net, drawn from `SDXL_BASE_UNET` built on the meta device",
    )

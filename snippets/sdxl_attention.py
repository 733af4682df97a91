"""Where a U-Net runs attention, and what it costs: read from one forward pass on ``meta``.

A U-Net's transformer blocks see one token per position of the feature map they sit on, so the
sequence length, and with it the quadratic cost of self-attention, depends on *which levels*
of the network have attention. The configuration says so only indirectly (block types per level,
transformer layers per block, one more resnet per level on the way up, a middle block); running
the real-size network once on the ``meta`` device and recording every transformer block's input
counts it without interpreting the configuration by hand.

What this leaves out: cross-attention (its cost is linear in the image tokens, 77 text tokens
each) and the convolutions, which dominate neither count nor argument here.
"""

from __future__ import annotations

from typing import Any

import torch

from snippets.sdxl import SDXL_BASE_UNET, build_unet  # noqa: F401 (the example uses SDXL_BASE_UNET)

__all__ = ["attention_levels"]


# --8<-- [start:attention-levels]
@torch.no_grad()
def attention_levels(
    config: dict[str, Any],
    image_size: int,
) -> list[dict[str, int]]:
    """Run a U-Net once on ``meta``; record each transformer block's input.

    A U-Net's attention sees one token per feature-map position, so each
    transformer block's sequence length is ``side * side`` at its level.
    Grouped by side, from large to small.

    Args:
        config: A U-Net configuration (e.g. ``SDXL_BASE_UNET``).
        image_size: Image side in pixels (the latent is ``image_size / 8``).

    Returns:
        One row per feature-map side: ``side``, ``tokens``, ``blocks``
        (transformer blocks there), ``width`` (channels), ``scores``
        (``blocks * tokens**2``, the self-attention score count per image).

    Examples:
        >>> rows = attention_levels(SDXL_BASE_UNET, 1024)
        >>> [(r["side"], r["tokens"], r["blocks"]) for r in rows]
        [(64, 4096, 10), (32, 1024, 60)]
    """
    from diffusers.models.attention import BasicTransformerBlock

    unet = build_unet(config).eval()
    seen: list[tuple[int, int]] = []  # (tokens, width) per block call

    def record(_module, args, kwargs):
        hidden_states = args[0] if args else kwargs["hidden_states"]
        seen.append(tuple(hidden_states.shape[1:]))

    hooks = [
        m.register_forward_pre_hook(record, with_kwargs=True)
        for m in unet.modules()
        if isinstance(m, BasicTransformerBlock)
    ]
    side = image_size // 8
    sample = torch.empty(1, 4, side, side, device="meta")
    context = torch.empty(1, 77, config["cross_attention_dim"], device="meta")
    added = None
    if config.get("addition_embed_type") == "text_time":
        # input = n_ids * addition_time_embed_dim + 1280 (pooled text)
        ids_width = config["projection_class_embeddings_input_dim"] - 1280
        n_ids = ids_width // config["addition_time_embed_dim"]
        added = {
            "text_embeds": torch.empty(1, 1280, device="meta"),
            "time_ids": torch.empty(1, n_ids, device="meta"),
        }
    timestep = torch.tensor([999], device="meta")
    unet(sample, timestep, context, added_cond_kwargs=added)
    for hook in hooks:
        hook.remove()
    rows: dict[int, dict[str, int]] = {}
    for tokens, width in seen:
        row = rows.setdefault(
            tokens,
            dict(side=int(tokens**0.5), tokens=tokens, blocks=0, width=width),
        )
        row["blocks"] += 1
    for row in rows.values():
        row["scores"] = row["blocks"] * row["tokens"] ** 2
    return sorted(rows.values(), key=lambda r: -r["tokens"])


# --8<-- [end:attention-levels]

r"""Z-Image at real size, counted on the ``meta`` device: where its six billion parameters sit.

Everything here is built from configurations written in code, each value taken from a hub
``config.json`` (cited next to it), with PyTorch's ``meta`` device: shapes without storage, so a
6-billion-parameter model costs no memory and the counts are exact. The transformer is diffusers'
own ``ZImageTransformer2DModel``; the text encoders are transformers' classes (the CLIPs and T5
from lesson 3's [`build_encoder`][snippets.sd3.build_encoder]).

The module answers five questions the lesson asks:

- what shape an image and a caption have at each stage of the model
  ([`trace_shapes`][snippets.zimage.trace_shapes]);
- how Z-Image's parameters split into embedders, refiners, shared main blocks and output layer
  ([`zimage_parts`][snippets.zimage.zimage_parts], [`block_parts`][snippets.zimage.block_parts]);
- what a dual-stream (MMDiT-style) backbone of the same width and depth would add, part by part
  ([`dual_stream_extra`][snippets.zimage.dual_stream_extra]);
- what the shared low-rank adaLN costs against DiT's adaLN-Zero at the same width
  ([`adaln_comparison`][snippets.zimage.adaln_comparison]);
- how large each generation's text encoders are
  ([`text_encoder_rows`][snippets.zimage.text_encoder_rows]) and how Z-Image compares with
  Flux.1-dev and Flux.2-dev ([`transformer_sizes`][snippets.zimage.transformer_sizes]).

What it leaves out: the VAE (Z-Image uses a 16-channel autoencoder, counted nowhere here) and
the "omni" editing variant's SigLIP branch (``siglip_feat_dim`` is unset in the text-to-image
configuration).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from snippets.params import count_parameters, on_meta

__all__ = [
    "ZIMAGE_TRANSFORMER_CONFIG",
    "QWEN3_4B_CONFIG",
    "QWEN3_HIDDEN_LAYER",
    "FLUX1_DEV_CONFIG",
    "FLUX2_DEV_CONFIG",
    "build_zimage_transformer",
    "zimage_parts",
    "block_parts",
    "dual_stream_extra",
    "adaln_comparison",
    "build_qwen3_4b",
    "qwen3_used_parameters",
    "text_encoder_rows",
    "VAE_DOWNSAMPLING",
    "trace_shapes",
    "transformer_sizes",
]

ZIMAGE_TRANSFORMER_CONFIG: dict[str, Any] = {
    # Tongyi-MAI/Z-Image-Turbo, transformer/config.json (the base model Tongyi-MAI/Z-Image has
    # the same architecture keys).
    "all_patch_size": (2,),
    "all_f_patch_size": (1,),
    "in_channels": 16,
    "dim": 3840,
    "n_layers": 30,
    "n_refiner_layers": 2,
    "n_heads": 30,
    "n_kv_heads": 30,
    "norm_eps": 1e-5,
    "qk_norm": True,
    "cap_feat_dim": 2560,
    "rope_theta": 256.0,
    "t_scale": 1000.0,
    "axes_dims": [32, 48, 48],
    "axes_lens": [1536, 512, 512],
}

QWEN3_4B_CONFIG: dict[str, Any] = {
    # Tongyi-MAI/Z-Image-Turbo, text_encoder/config.json (Qwen3-4B).
    "vocab_size": 151936,
    "hidden_size": 2560,
    "intermediate_size": 9728,
    "num_hidden_layers": 36,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000,
    "tie_word_embeddings": True,
    "attention_bias": False,
}

QWEN3_HIDDEN_LAYER = -2
"""diffusers' ``ZImagePipeline._encode_prompt`` reads ``hidden_states[-2]``: the output of the
second-to-last decoder layer. The call runs the whole model (the last layer and the final norm
too); their outputs are discarded."""

FLUX1_DEV_CONFIG: dict[str, Any] = {
    # black-forest-labs/FLUX.1-dev, transformer/config.json.
    "patch_size": 1,
    "in_channels": 64,
    "num_layers": 19,
    "num_single_layers": 38,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 4096,
    "pooled_projection_dim": 768,
    "guidance_embeds": True,
    "axes_dims_rope": (16, 56, 56),
}

FLUX2_DEV_CONFIG: dict[str, Any] = {
    # black-forest-labs/FLUX.2-dev, transformer/config.json.
    "patch_size": 1,
    "in_channels": 128,
    "num_layers": 8,
    "num_single_layers": 48,
    "attention_head_dim": 128,
    "num_attention_heads": 48,
    "joint_attention_dim": 15360,
    "timestep_guidance_channels": 256,
    "mlp_ratio": 3.0,
    "axes_dims_rope": (32, 32, 32, 32),
    "rope_theta": 2000,
    "eps": 1e-6,
}


def build_zimage_transformer(**overrides: Any) -> nn.Module:
    """diffusers' ``ZImageTransformer2DModel`` on the ``meta`` device.

    Examples:
        >>> model = build_zimage_transformer()
        >>> f"{count_parameters(model):,}"
        '6,154,908,736'
    """
    from diffusers import ZImageTransformer2DModel

    return on_meta(ZImageTransformer2DModel, **{**ZIMAGE_TRANSFORMER_CONFIG, **overrides})


_PARTS = [
    ("all_x_embedder", "patch embedding"),
    ("cap_embedder", "caption embedding"),
    ("t_embedder", "timestep embedder"),
    ("noise_refiner", "noise refiner (image)"),
    ("context_refiner", "context refiner (text)"),
    ("layers", "main blocks (shared)"),
    ("all_final_layer", "final layer"),
    ("", "pad tokens"),
]


def zimage_parts(model: nn.Module) -> dict[str, int]:
    """Parameters of a ``ZImageTransformer2DModel`` grouped by the part of the model they are in.

    Examples:
        >>> parts = zimage_parts(build_zimage_transformer())
        >>> for part, n in parts.items():
        ...     print(f"{part:<24}{n:>15,}")
        patch embedding                 249,600
        caption embedding             9,836,800
        timestep embedder               525,568
        noise refiner (image)       361,820,672
        context refiner (text)      353,925,632
        main blocks (shared)      5,427,310,080
        final layer                   1,232,704
        pad tokens                        7,680
    """
    parts = {name: 0 for _, name in _PARTS}
    for param_name, param in model.named_parameters():
        part = next(name for prefix, name in _PARTS if param_name.startswith(prefix))
        parts[part] += param.numel()
    return parts


def block_parts(block: nn.Module) -> dict[str, int]:
    """One ``ZImageTransformerBlock``'s parameters: attention, feed-forward, norms, modulation.

    Examples:
        >>> model = build_zimage_transformer()
        >>> block_parts(model.layers[0])
        {'attention': 58982656, 'feed-forward': 117964800, 'norms': 15360, 'modulation': 3947520}
        >>> block_parts(model.context_refiner[0])["modulation"]   # the text refiner: no timestep
        0
    """
    parts = {"attention": 0, "feed-forward": 0, "norms": 0, "modulation": 0}
    for name, param in block.named_parameters():
        if name.startswith("attention."):
            parts["attention"] += param.numel()  # to_q, to_k, to_v, to_out and the QK norms
        elif name.startswith("feed_forward."):
            parts["feed-forward"] += param.numel()
        elif name.startswith("adaLN_modulation"):
            parts["modulation"] += param.numel()
        else:
            parts["norms"] += param.numel()  # the four sandwich RMSNorms
    return parts


def dual_stream_extra(model: nn.Module) -> dict[str, int]:
    """What a dual-stream backbone of the same width and depth would add.

    MMDiT gives the text tokens their own copy of every weight of every
    block (lesson 3). For Z-Image's 30 main blocks that means a second
    attention (Q, K, V, output and QK norms), a second SwiGLU, a second set
    of norms and a second modulation projection per block; the refiners,
    embedders and final layer would stay as they are.

    Examples:
        >>> extra = dual_stream_extra(build_zimage_transformer())
        >>> for part, n in extra.items():
        ...     print(f"{part:<16}{n / 1e9:.2f}B")
        attention       1.77B
        feed-forward    3.54B
        norms           0.00B
        modulation      0.12B
    """
    extra = {"attention": 0, "feed-forward": 0, "norms": 0, "modulation": 0}
    for block in model.layers:
        for part, n in block_parts(block).items():
            extra[part] += n  # the text stream's copy
    return extra


def adaln_comparison(
    dim: int = 3840, n_layers: int = 30, adaln_dim: int = 256, hidden: int = 1024
) -> dict[str, int]:
    """Modulation parameters: Z-Image's shared low-rank path against DiT's adaLN-Zero.

    Z-Image: one timestep embedder shared by all blocks (``256 -> 1024 -> 256``), then each block
    maps the 256-wide vector to four ``dim``-wide vectors (two scales, two gates). DiT's
    adaLN-Zero at the same width: each block maps a ``dim``-wide vector to six (shift, scale and
    gate for attention and MLP).

    Examples:
        >>> costs = adaln_comparison()
        >>> {k: f"{v:,}" for k, v in costs.items()}
        {'shared embedder': '525,568', 'z-image per block': '3,947,520', 'dit per block': '88,496,640', 'saved over all blocks': '2,536,473,600'}
    """
    shared = (256 * hidden + hidden) + (hidden * adaln_dim + adaln_dim)
    ours = adaln_dim * 4 * dim + 4 * dim
    dit = dim * 6 * dim + 6 * dim
    return {
        "shared embedder": shared,
        "z-image per block": ours,
        "dit per block": dit,
        "saved over all blocks": n_layers * (dit - ours),
    }


def build_qwen3_4b() -> nn.Module:
    """Qwen3-4B as Z-Image loads it: the decoder (``Qwen3Model``) on the ``meta`` device.

    The official loader (``src/utils/loader.py`` of ``Tongyi-MAI/Z-Image``) reads
    ``text_encoder/`` with ``transformers.AutoModel``, which gives ``Qwen3Model``: the token table,
    the 36 layers and the final norm, with no language-model head.

    Examples:
        >>> qwen = build_qwen3_4b()
        >>> type(qwen).__name__, len(qwen.layers), f"{count_parameters(qwen):,}"
        ('Qwen3Model', 36, '4,022,468,096')
    """
    from transformers import Qwen3Config, Qwen3Model

    return on_meta(Qwen3Model, Qwen3Config(**QWEN3_4B_CONFIG))


def qwen3_used_parameters(model: nn.Module, hidden_layer: int = QWEN3_HIDDEN_LAYER) -> int:
    """Parameters that shape ``hidden_states[hidden_layer]``: the token table and the layers before.

    The pipeline runs every layer and the final norm; what comes after ``hidden_layer`` is
    computed and discarded.

    Examples:
        >>> f"{qwen3_used_parameters(build_qwen3_4b()):,}"
        '3,921,534,720'
    """
    n_layers = len(model.layers) + 1 + hidden_layer  # hidden_states[0] is the token table
    used = count_parameters(model.embed_tokens)
    used += sum(count_parameters(layer) for layer in model.layers[:n_layers])
    return used


_LINEUP: dict[str, list[tuple[str, bool]]] = {
    # (encoder, loaded with its text projection). SD v1.5 and SDXL load ViT-L as a plain
    # CLIPTextModel (text_encoder/config.json of both), SD3 as CLIPTextModelWithProjection.
    "SD v1.5": [("CLIP ViT-L/14", False)],
    "SDXL": [("CLIP ViT-L/14", False), ("OpenCLIP ViT-bigG/14", True)],
    "SD3": [("CLIP ViT-L/14", True), ("OpenCLIP ViT-bigG/14", True), ("T5-v1.1-XXL encoder", True)],
    "Z-Image": [("Qwen3-4B", True)],
}


def text_encoder_rows() -> list[dict[str, Any]]:
    """The text encoders of SD v1.5, SDXL, SD3 and Z-Image, with counts from the meta device.

    The CLIPs and T5 come from lesson 3's builder
    ([`build_encoder`][snippets.sd3.build_encoder]); where a pipeline loads CLIP
    without its projection, only the text tower (``text_model``) is counted.

    Examples:
        >>> for row in text_encoder_rows():
        ...     print(f"{row['model']:<9}{row['parameters'] / 1e9:.2f}B  {row['encoders']}")
        SD v1.5  0.12B  CLIP ViT-L/14
        SDXL     0.82B  CLIP ViT-L/14 + OpenCLIP ViT-bigG/14
        SD3      5.58B  CLIP ViT-L/14 + OpenCLIP ViT-bigG/14 + T5-v1.1-XXL encoder
        Z-Image  4.02B  Qwen3-4B
    """
    from snippets.sd3 import build_encoder

    def size(name: str, projection: bool) -> int:
        if name == "Qwen3-4B":
            return count_parameters(build_qwen3_4b())
        encoder = build_encoder(name)
        return count_parameters(encoder if projection else encoder.text_model)

    return [
        {
            "model": model,
            "encoders": " + ".join(name for name, _ in encoders),
            "parameters": sum(size(name, projection) for name, projection in encoders),
        }
        for model, encoders in _LINEUP.items()
    ]


VAE_DOWNSAMPLING = 8
"""Pixels per latent cell along each side: Z-Image's 16-channel VAE has four resolution levels
(``vae/config.json``, ``block_out_channels`` of length 4), so three halvings."""


def trace_shapes(
    model: nn.Module, height: int = 1024, width: int = 1024, caption_tokens: int = 20
) -> list[tuple[str, tuple[int, ...]]]:
    """One image and one caption through Z-Image's parts, on the ``meta`` device: every shape.

    The modules are the model's own (its patch embedder, caption embedder, first main block and
    final layer); only the patchify reshape and the padding are written out here.

    Examples:
        >>> for step, shape in trace_shapes(build_zimage_transformer()):
        ...     print(f"{step:<32}{shape}")
        latent                          (16, 128, 128)
        2 x 2 patches                   (4096, 64)
        all_x_embedder                  (4096, 3840)
        Qwen3 hidden states             (20, 2560)
        cap_embedder, padded to 32      (32, 3840)
        joint sequence [image; text]    (4128, 3840)
        queries: 30 heads of 128        (4128, 30, 128)
        one main block                  (4128, 3840)
        final layer, image tokens       (4096, 64)
    """
    from snippets.rope import (
        caption_position_ids,
        image_position_ids,
        padded_length,
        rope_freqs_cis,
    )

    meta = {"device": "meta"}
    p = model.all_patch_size[0]
    key = f"{p}-{model.all_f_patch_size[0]}"
    channels = model.in_channels
    rows, cols = height // VAE_DOWNSAMPLING // p, width // VAE_DOWNSAMPLING // p
    latent = torch.empty(channels, rows * p, cols * p, **meta)
    patches = latent.reshape(channels, rows, p, cols, p).permute(1, 3, 2, 4, 0).flatten(2)
    patches = patches.reshape(rows * cols, p * p * channels)
    image = model.all_x_embedder[key](patches)
    hidden = torch.empty(caption_tokens, model.cap_embedder[1].in_features, **meta)
    text = model.cap_embedder(hidden)
    pad = padded_length(caption_tokens) - caption_tokens
    text = torch.cat([text, model.cap_pad_token.expand(pad, -1)])  # diffusers' learned pad token
    joint = torch.cat([image, text])[None]  # [image; text], as diffusers orders them
    block = model.layers[0]
    heads = block.attention.heads
    queries = block.attention.to_q(joint).unflatten(-1, (heads, -1))
    ids = torch.cat(
        [image_position_ids(rows, cols, caption_tokens), caption_position_ids(caption_tokens)]
    )
    c = model.t_embedder(torch.empty(1, **meta))
    mask = torch.ones(1, joint.shape[1], dtype=torch.bool, **meta)
    out = block(joint, mask, rope_freqs_cis(ids)[None].to("meta"), c)
    final = model.all_final_layer[key](out, c)[0, : rows * cols]
    return [
        ("latent", tuple(latent.shape)),
        (f"{p} x {p} patches", tuple(patches.shape)),
        ("all_x_embedder", tuple(image.shape)),
        ("Qwen3 hidden states", tuple(hidden.shape)),
        (f"cap_embedder, padded to {len(text)}", tuple(text.shape)),
        ("joint sequence [image; text]", tuple(joint.shape[1:])),
        (f"queries: {heads} heads of {queries.shape[-1]}", tuple(queries.shape[1:])),
        ("one main block", tuple(out.shape[1:])),
        ("final layer, image tokens", tuple(final.shape)),
    ]


def transformer_sizes() -> dict[str, int]:
    """Denoiser parameters of Z-Image, Flux.1-dev and Flux.2-dev, built on the meta device.

    Examples:
        >>> {name: f"{n / 1e9:.2f}B" for name, n in transformer_sizes().items()}
        {'Z-Image': '6.15B', 'Flux.1-dev': '11.90B', 'Flux.2-dev': '32.22B'}
    """
    from diffusers import Flux2Transformer2DModel, FluxTransformer2DModel

    return {
        "Z-Image": count_parameters(build_zimage_transformer()),
        "Flux.1-dev": count_parameters(on_meta(FluxTransformer2DModel, **FLUX1_DEV_CONFIG)),
        "Flux.2-dev": count_parameters(on_meta(Flux2Transformer2DModel, **FLUX2_DEV_CONFIG)),
    }

"""SDXL without downloads: real-size configurations, a tiny pipeline, and the attention budget.

Three things live here.

1. The real configurations of SD v1.5's and SDXL's networks, written in code with their
   source: the ``config.json`` files on the Hugging Face hub. Building them on the ``meta``
   device gives exact parameter counts and layer widths without a byte of weights.
2. A tiny ``StableDiffusionXLPipeline`` (diffusers' own class) assembled offline from
   components built in code: two tiny CLIP text encoders with tokenizers made from an in-memory
   vocabulary, a tiny ``UNet2DConditionModel`` with ``addition_embed_type="text_time"`` and a
   tiny VAE. Every call the page makes (``encode_prompt``, a full generation) is the production
   code path, only narrower. Its CLIP builders,
   [`build_text_encoder`][snippets.sdxl.build_text_encoder] and
   [`build_tokenizer`][snippets.sdxl.build_tokenizer], are the course's only ones: lesson 3's
   SD3 pipeline and lesson 4's encoder table build their CLIPs with them too.
3. Where attention runs in each U-Net and what it costs is in
   [`snippets.sdxl_attention`][snippets.sdxl_attention].

What the toy leaves out compared with production: trained weights (the tiny pipeline makes
noise, not pictures), CLIP's 49,408-token BPE vocabulary (ours knows a few words, spelled out
letter by letter otherwise), and the widths: the tiny encoders are 32 and 64 wide where the
real ones are 768 and 1280.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from snippets.params import count_parameters  # noqa: F401 (the examples use it)

__all__ = [
    "CLIP_VIT_L",
    "OPENCLIP_BIGG",
    "SD15_UNET",
    "SDXL_BASE_UNET",
    "SDXL_REFINER_UNET",
    "SDXL_SCHEDULER",
    "build_text_encoder",
    "build_tokenizer",
    "build_unet",
    "tiny_refiner_pipeline",
    "tiny_sdxl_pipeline",
]

# --------------------------------------------------------------------------- real configurations

SD15_UNET: dict[str, Any] = dict(
    sample_size=64,  # 512 px / 8
    in_channels=4,
    out_channels=4,
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    cross_attention_dim=768,
    attention_head_dim=8,
)
"""SD v1.5's U-Net: ``stable-diffusion-v1-5/stable-diffusion-v1-5``, ``unet/config.json``
(other keys at diffusers' defaults, as in that file)."""

# --8<-- [start:sdxl-config]
SDXL_BASE_UNET: dict[str, Any] = dict(
    sample_size=128,  # 1024 px / 8
    in_channels=4,
    out_channels=4,
    block_out_channels=(320, 640, 1280),  # three levels, not four
    layers_per_block=2,
    down_block_types=(
        "DownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
    ),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    # transformer blocks per attention layer, per level
    transformer_layers_per_block=(1, 2, 10),
    # diffusers' name; these are head *counts* (64 wide each)
    attention_head_dim=(5, 10, 20),
    cross_attention_dim=2048,  # 768 + 1280: the two encoders side by side
    use_linear_projection=True,
    addition_embed_type="text_time",  # pooled text + micro-conditioning
    addition_time_embed_dim=256,  # sinusoid width per micro-conditioning number
    projection_class_embeddings_input_dim=2816,  # 6 * 256 + 1280
)
# --8<-- [end:sdxl-config]
"""SDXL base's U-Net: ``stabilityai/stable-diffusion-xl-base-1.0``, ``unet/config.json``."""

SDXL_REFINER_UNET: dict[str, Any] = dict(
    sample_size=128,
    in_channels=4,
    out_channels=4,
    block_out_channels=(384, 768, 1536, 1536),
    layers_per_block=2,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=4,
    attention_head_dim=(6, 12, 24, 24),
    cross_attention_dim=1280,  # OpenCLIP ViT-bigG only
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2560,  # 5 * 256 + 1280 (aesthetic score, no target size)
)
"""SDXL refiner's U-Net: ``stabilityai/stable-diffusion-xl-refiner-1.0``, ``unet/config.json``."""

CLIP_VIT_L: dict[str, Any] = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    projection_dim=768,
    hidden_act="quick_gelu",
    bos_token_id=0,
    eos_token_id=2,  # the hub file's legacy value: pooling then takes the largest token id (EOS)
)
"""OpenAI CLIP ViT-L/14's text tower: SDXL base's ``text_encoder/config.json`` (the same model
as SD v1.5's text encoder)."""

OPENCLIP_BIGG: dict[str, Any] = dict(
    vocab_size=49408,
    hidden_size=1280,
    intermediate_size=5120,
    num_hidden_layers=32,
    num_attention_heads=20,
    max_position_embeddings=77,
    projection_dim=1280,
    hidden_act="gelu",
    bos_token_id=0,
    eos_token_id=2,
)
"""OpenCLIP ViT-bigG/14's text tower: SDXL base's ``text_encoder_2/config.json`` (a
``CLIPTextModelWithProjection``); the refiner's ``text_encoder_2`` is the same model."""

SDXL_SCHEDULER: dict[str, Any] = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
    timestep_spacing="leading",
    steps_offset=1,
    interpolation_type="linear",
    use_karras_sigmas=False,
)
"""SDXL base's ``scheduler/scheduler_config.json`` (an ``EulerDiscreteScheduler``)."""


def build_unet(
    config: dict[str, Any], device: str | torch.device = "meta", **overrides: Any
) -> nn.Module:
    """diffusers' ``UNet2DConditionModel`` from a configuration (on ``meta``: shapes only).

    Examples:
        >>> unet = build_unet(SDXL_BASE_UNET)
        >>> f"{count_parameters(unet):,}"
        '2,567,463,684'
        >>> unet.add_embedding.linear_1.in_features
        2816
    """
    from diffusers import UNet2DConditionModel

    with torch.device(device):
        return UNet2DConditionModel(**{**config, **overrides})


def build_text_encoder(
    config: dict[str, Any], with_projection: bool, device: str | torch.device = "meta"
) -> nn.Module:
    """A CLIP text tower from a configuration; ``with_projection`` adds ``text_projection``.

    SDXL loads ViT-L as a plain ``CLIPTextModel`` and ViT-bigG as a
    ``CLIPTextModelWithProjection``: only the second one's pooled vector is used. SD3 loads both
    with their projection (lesson 3, [`snippets.sd3.build_encoder`][snippets.sd3.build_encoder]).
    Every CLIP text tower of the course, real-size on ``meta`` or tiny on the CPU, is built here.

    Examples:
        >>> big = build_text_encoder(OPENCLIP_BIGG, with_projection=True)
        >>> big.text_projection
        Linear(in_features=1280, out_features=1280, bias=False)
    """
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cls = CLIPTextModelWithProjection if with_projection else CLIPTextModel
    with torch.device(device):
        return cls(CLIPTextConfig(**config))


# --------------------------------------------------------------------------- the tiny pipeline

WORDS = (
    "a",
    "photo",
    "of",
    "an",
    "astronaut",
    "riding",
    "horse",
    "on",
    "the",
    "moon",
    "cat",
    "dog",
    "red",
    "blue",
)
"""The words the tiny tokenizer knows whole; anything else is spelled letter by letter."""


def build_tokenizer(words: tuple[str, ...] = WORDS, max_length: int = 77):
    """A real ``CLIPTokenizer`` built from an in-memory vocabulary (no files, no download).

    The vocabulary holds CLIP's 256 byte symbols, the same with the end-of-word mark ``</w>``,
    the merges that spell out each word in ``words``, and the two special tokens. The special
    tokens come last, as in CLIP, so end-of-text has the largest id. A word outside ``words`` is
    spelled letter by letter. The tiny SDXL and SD3 pipelines both take their CLIP tokenizers
    from here, each with its own word list.

    Examples:
        >>> tok = build_tokenizer()
        >>> ids = tok("a photo of a cat").input_ids
        >>> tok.convert_ids_to_tokens(ids)
        ['<|startoftext|>', 'a</w>', 'photo</w>', 'of</w>', 'a</w>', 'cat</w>', '<|endoftext|>']
        >>> tok.eos_token_id == len(tok) - 1
        True
    """
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    vocab: dict[str, int] = {}
    for s in symbols + [s + "</w>" for s in symbols]:
        vocab.setdefault(s, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in words:
        # merge left to right: "c a" -> "ca", "ca t</w>" -> "cat</w>"
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            pair = (pieces[0], pieces[1])
            if pair not in merges:
                merges.append(pair)
            pieces = [pieces[0] + pieces[1]] + pieces[2:]
            vocab.setdefault(pieces[0], len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP's printable stand-in for each of the 256 bytes (byte-level BPE's alphabet)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


TINY_WIDTHS = (32, 64)
"""Widths of the tiny pipeline's two text encoders (the real ones: 768 and 1280)."""


def _tiny_text_encoder(
    width: int, vocab_size: int, with_projection: bool, eos_id: int
) -> nn.Module:
    config = dict(
        vocab_size=vocab_size,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=width,
        hidden_act="gelu",
        bos_token_id=eos_id - 1,
        eos_token_id=eos_id,
    )
    return build_text_encoder(config, with_projection, device="cpu")


def tiny_unet(
    cross_attention_dim: int, pooled_dim: int, n_time_ids: int, time_embed_dim: int = 8
) -> nn.Module:
    """A two-level SDXL-style ``UNet2DConditionModel``: no attention at the top level, micro-conditioning on.

    Examples:
        >>> unet = tiny_unet(cross_attention_dim=96, pooled_dim=64, n_time_ids=6)
        >>> unet.add_embedding.linear_1.in_features   # 6 * 8 + 64
        112
    """
    return build_unet(
        dict(
            sample_size=16,
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2),
            attention_head_dim=(2, 4),
            norm_num_groups=8,
            cross_attention_dim=cross_attention_dim,
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=time_embed_dim,
            projection_class_embeddings_input_dim=n_time_ids * time_embed_dim + pooled_dim,
        ),
        device="cpu",
    )


def tiny_vae() -> nn.Module:
    """A two-level ``AutoencoderKL`` (downsamples by 2 where the real one downsamples by 8).

    Examples:
        >>> vae = tiny_vae()
        >>> vae.encode(torch.zeros(1, 3, 32, 32)).latent_dist.mean.shape
        torch.Size([1, 4, 16, 16])
    """
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )


def tiny_sdxl_pipeline(seed: int = 0):
    """diffusers' ``StableDiffusionXLPipeline`` assembled from tiny random components.

    Examples:
        >>> pipe = tiny_sdxl_pipeline()
        >>> type(pipe).__name__, type(pipe.text_encoder).__name__, type(pipe.text_encoder_2).__name__
        ('StableDiffusionXLPipeline', 'CLIPTextModel', 'CLIPTextModelWithProjection')
        >>> pipe.unet.config.cross_attention_dim   # 32 + 64
        96
    """
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tok = build_tokenizer()
        eos = tok.eos_token_id
        small, big = TINY_WIDTHS
        pipe = StableDiffusionXLPipeline(
            vae=tiny_vae(),
            text_encoder=_tiny_text_encoder(small, len(tok), with_projection=False, eos_id=eos),
            text_encoder_2=_tiny_text_encoder(big, len(tok), with_projection=True, eos_id=eos),
            tokenizer=tok,
            tokenizer_2=build_tokenizer(),
            unet=tiny_unet(cross_attention_dim=small + big, pooled_dim=big, n_time_ids=6),
            scheduler=EulerDiscreteScheduler(**SDXL_SCHEDULER),
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_refiner_pipeline(base, seed: int = 1):
    """diffusers' ``StableDiffusionXLImg2ImgPipeline`` as SDXL's refiner: the base's second
    encoder and VAE, its own tiny U-Net conditioned on five numbers (aesthetic score, no target size).

    Examples:
        >>> refiner = tiny_refiner_pipeline(tiny_sdxl_pipeline())
        >>> refiner.text_encoder is None, refiner.unet.config.cross_attention_dim
        (True, 64)
    """
    from diffusers import StableDiffusionXLImg2ImgPipeline

    big = TINY_WIDTHS[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        pipe = StableDiffusionXLImg2ImgPipeline(
            vae=base.vae,
            text_encoder=None,
            text_encoder_2=base.text_encoder_2,
            tokenizer=None,
            tokenizer_2=base.tokenizer_2,
            unet=tiny_unet(cross_attention_dim=big, pooled_dim=big, n_time_ids=5),
            scheduler=base.scheduler,
            requires_aesthetics_score=True,
        )
    pipe.set_progress_bar_config(disable=True)
    return pipe

r"""Stable Diffusion 3 in numbers: its encoders and transformers at real size, its pipeline at toy size.

Two halves, both built only from configurations written in this module (nothing is downloaded):

- **Real size, on the meta device.** The three text encoders SD3 loads (CLIP ViT-L/14,
  OpenCLIP ViT-bigG/14, the *encoder half* of T5-v1.1-XXL) and the transformers of SD3-medium,
  SD3.5-large and FLUX.1-dev are built from the values of their hub ``config.json`` files (each
  dictionary below names its file) with PyTorch's ``meta`` device: every shape, no memory. Their
  parameters are counted, and the sequence lengths are the ones ``StableDiffusion3Pipeline``
  builds.
- **Toy size, run offline.** [`build_tiny_sd3_pipeline`][snippets.sd3.build_tiny_sd3_pipeline]
  assembles diffusers' real ``StableDiffusion3Pipeline`` from tiny components made in code:
  two tiny CLIP text encoders and a tiny T5 encoder with tokenizers built from an in-memory
  vocabulary, a tiny ``SD3Transformer2DModel``, a tiny 16-channel VAE and SD3's scheduler
  configuration. [`trace_sd3`][snippets.sd3.trace_sd3] walks through the pipeline's thirteen
  steps by calling the pipeline's own parts, and records the tensor after each one.

What the toy leaves out compared with production: the weights are random (so the "image" is
noise), the tokenizers know a few dozen words (CLIP's BPE merges and T5's sentencepiece vocabulary
are built for those words only), every component is a few layers deep, and the trace uses two
denoising steps instead of SD3's default 28.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from snippets.params import count_parameters
from snippets.sdxl import build_text_encoder, build_tokenizer

__all__ = [
    "CLIP_L",
    "OPENCLIP_BIGG",
    "T5_XXL",
    "SD3_MEDIUM",
    "SD35_LARGE",
    "FLUX1_DEV",
    "SD3_SCHEDULER",
    "SD3_VAE",
    "build_encoder",
    "encoder_rows",
    "build_transformer",
    "transformer_rows",
    "joint_sequence",
    "adaln_zero_parameters",
    "attention_scores",
    "t5_tokenizer",
    "build_tiny_sd3_pipeline",
    "SD3_STEPS",
    "TraceStep",
    "trace_sd3",
    "sd3_medium_steps",
]

# --------------------------------------------------------------------------- real configurations

CLIP_L = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    projection_dim=768,
    hidden_act="quick_gelu",
)
"""CLIP ViT-L/14's text tower: ``stabilityai/stable-diffusion-3-medium-diffusers``,
``text_encoder/config.json`` (``CLIPTextModelWithProjection``)."""

OPENCLIP_BIGG = dict(
    vocab_size=49408,
    hidden_size=1280,
    intermediate_size=5120,
    num_hidden_layers=32,
    num_attention_heads=20,
    max_position_embeddings=77,
    projection_dim=1280,
    hidden_act="gelu",
)
"""OpenCLIP ViT-bigG/14's text tower: the same repository, ``text_encoder_2/config.json``."""

T5_XXL = dict(
    vocab_size=32128,
    d_model=4096,
    d_ff=10240,
    d_kv=64,
    num_heads=64,
    num_layers=24,
    feed_forward_proj="gated-gelu",
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    layer_norm_epsilon=1e-6,
    tie_word_embeddings=False,
)
"""T5-v1.1-XXL: the same repository, ``text_encoder_3/config.json``. SD3 loads it as
``T5EncoderModel``: the 24 encoder layers only, no decoder."""

SD3_MEDIUM = dict(
    sample_size=128,
    patch_size=2,
    in_channels=16,
    num_layers=24,
    attention_head_dim=64,
    num_attention_heads=24,
    joint_attention_dim=4096,
    caption_projection_dim=1536,
    pooled_projection_dim=2048,
    out_channels=16,
    pos_embed_max_size=192,
)
"""``stabilityai/stable-diffusion-3-medium-diffusers``, ``transformer/config.json``."""

SD35_LARGE = dict(
    sample_size=128,
    patch_size=2,
    in_channels=16,
    num_layers=38,
    attention_head_dim=64,
    num_attention_heads=38,
    joint_attention_dim=4096,
    caption_projection_dim=2432,
    pooled_projection_dim=2048,
    out_channels=16,
    pos_embed_max_size=192,
    qk_norm="rms_norm",
)
"""``stabilityai/stable-diffusion-3.5-large``, ``transformer/config.json``."""

FLUX1_DEV = dict(
    patch_size=1,
    in_channels=64,
    num_layers=19,
    num_single_layers=38,
    attention_head_dim=128,
    num_attention_heads=24,
    joint_attention_dim=4096,
    pooled_projection_dim=768,
    guidance_embeds=True,
    axes_dims_rope=(16, 56, 56),
)
"""``black-forest-labs/FLUX.1-dev``, ``transformer/config.json``. ``in_channels=64`` with
``patch_size=1``: the pipeline packs each 2 x 2 patch of the 16-channel latent into one token
before the transformer sees it."""

SD3_SCHEDULER = dict(num_train_timesteps=1000, shift=3.0)
"""``stabilityai/stable-diffusion-3-medium-diffusers``, ``scheduler/scheduler_config.json``
(``FlowMatchEulerDiscreteScheduler``)."""

SD3_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=16,
    scaling_factor=1.5305,
    shift_factor=0.0609,
    use_quant_conv=False,
    use_post_quant_conv=False,
)
"""``stabilityai/stable-diffusion-3-medium-diffusers``, ``vae/config.json`` (``AutoencoderKL``)."""

CLIP_TOKENS = 77
"""CLIP's context length (``max_position_embeddings``); the pipeline pads every prompt to it."""

T5_TOKENS = 256
"""``StableDiffusion3Pipeline``'s default ``max_sequence_length`` for T5 (at most 512)."""

_ENCODERS = {
    "CLIP ViT-L/14": (CLIP_L, "400M image-caption pairs (OpenAI), contrastive"),
    "OpenCLIP ViT-bigG/14": (OPENCLIP_BIGG, "2B image-caption pairs (LAION-2B), contrastive"),
    "T5-v1.1-XXL encoder": (T5_XXL, "web text only (C4), filling in masked spans"),
}


def build_encoder(name: str, device: torch.device | str = "meta") -> nn.Module:
    """One of SD3's text encoders at real size (``"CLIP ViT-L/14"``, ``"OpenCLIP ViT-bigG/14"``,
    ``"T5-v1.1-XXL encoder"``), as SD3 loads it: the CLIPs with their projection (built by
    lesson 1's [`build_text_encoder`][snippets.sdxl.build_text_encoder]), T5's encoder half.

    Examples:
        >>> clip_l = build_encoder("CLIP ViT-L/14")
        >>> type(clip_l).__name__, clip_l.device.type
        ('CLIPTextModelWithProjection', 'meta')
    """
    from transformers import T5Config, T5EncoderModel

    config, _ = _ENCODERS[name]
    if not name.startswith("T5"):
        return build_text_encoder(config, with_projection=True, device=device)
    with torch.device(device):
        return T5EncoderModel(T5Config(**config))


def encoder_rows() -> list[dict]:
    """Parameters and output shapes of SD3's three encoders, run on the meta device.

    Each encoder gets one prompt padded the way ``StableDiffusion3Pipeline`` pads it (77 tokens
    for CLIP, ``max_sequence_length = 256`` for T5). ``tokens`` is the per-token output the
    pipeline keeps (CLIP's *penultimate* hidden states, T5's last); ``pooled`` is CLIP's
    projected end-of-text vector (T5 gives none).

    Examples:
        >>> rows = encoder_rows()
        >>> [(r["name"], r["tokens"], r["pooled"]) for r in rows]   # doctest: +NORMALIZE_WHITESPACE
        [('CLIP ViT-L/14', (77, 768), 768), ('OpenCLIP ViT-bigG/14', (77, 1280), 1280),
         ('T5-v1.1-XXL encoder', (256, 4096), None)]
    """
    rows = []
    for name, (config, data) in _ENCODERS.items():
        model = build_encoder(name)
        if name.startswith("T5"):
            ids = torch.zeros(1, T5_TOKENS, dtype=torch.long, device="meta")
            tokens, pooled = model(ids)[0], None
            layers, width = config["num_layers"], config["d_model"]
        else:
            ids = torch.zeros(1, CLIP_TOKENS, dtype=torch.long, device="meta")
            out = model(ids, output_hidden_states=True)
            tokens, pooled = out.hidden_states[-2], out.text_embeds.shape[-1]
            layers, width = config["num_hidden_layers"], config["hidden_size"]
        rows.append(
            {
                "name": name,
                "class": type(model).__name__,
                "parameters": count_parameters(model),
                "layers": layers,
                "width": width,
                "tokens": tuple(tokens.shape[1:]),
                "pooled": pooled,
                "trained on": data,
            }
        )
    return rows


# --------------------------------------------------------------------------- transformers

_TRANSFORMERS = {"SD3-medium": SD3_MEDIUM, "SD3.5-large": SD35_LARGE, "FLUX.1-dev": FLUX1_DEV}


def build_transformer(name: str, device: torch.device | str = "meta") -> nn.Module:
    """The denoising transformer of ``"SD3-medium"``, ``"SD3.5-large"`` or ``"FLUX.1-dev"``.

    Examples:
        >>> model = build_transformer("SD3-medium")
        >>> type(model).__name__, len(model.transformer_blocks)
        ('SD3Transformer2DModel', 24)
    """
    from diffusers import FluxTransformer2DModel, SD3Transformer2DModel

    cls = FluxTransformer2DModel if name.startswith("FLUX") else SD3Transformer2DModel
    with torch.device(device):
        return cls(**_TRANSFORMERS[name])


def transformer_rows() -> list[dict]:
    """Size and layout of the three transformers, counted on the meta device.

    ``joint`` counts the dual-stream (MMDiT) blocks, ``single`` Flux's single-stream blocks.

    Examples:
        >>> [(r["name"], r["width"], r["joint"], r["single"]) for r in transformer_rows()]
        [('SD3-medium', 1536, 24, 0), ('SD3.5-large', 2432, 38, 0), ('FLUX.1-dev', 3072, 19, 38)]
    """
    rows = []
    for name, config in _TRANSFORMERS.items():
        model = build_transformer(name)
        rows.append(
            {
                "name": name,
                "parameters": count_parameters(model),
                "width": config["num_attention_heads"] * config["attention_head_dim"],
                "heads": config["num_attention_heads"],
                "joint": len(model.transformer_blocks),
                "single": len(getattr(model, "single_transformer_blocks", [])),
                "pooled": config["pooled_projection_dim"],
                "guidance embedding": config.get("guidance_embeds", False),
            }
        )
    return rows


# --------------------------------------------------------------------------- sequence lengths and costs


def joint_sequence(
    height: int = 1024,
    width: int = 1024,
    max_sequence_length: int = T5_TOKENS,
    vae_factor: int = 8,
    patch_size: int = SD3_MEDIUM["patch_size"],
) -> dict[str, int]:
    """Token counts of SD3's joint sequence, as the pipeline and the transformer build it.

    Text: 77 CLIP positions (both CLIPs, joined along the features) followed by
    ``max_sequence_length`` T5 positions. Image: one token per ``p x p`` patch of the
    ``[16, H/8, W/8]`` latent.

    Examples:
        >>> joint_sequence()
        {'clip': 77, 't5': 256, 'text': 333, 'image': 4096, 'joint': 4429}
        >>> joint_sequence(256, 256)["image"]       # a 256 x 256 image: a [16, 32, 32] latent
        256
    """
    latent_h, latent_w = height // vae_factor, width // vae_factor
    image = (latent_h // patch_size) * (latent_w // patch_size)
    text = CLIP_TOKENS + max_sequence_length
    return {
        "clip": CLIP_TOKENS,
        "t5": max_sequence_length,
        "text": text,
        "image": image,
        "joint": text + image,
    }


def attention_scores(n_image: int, n_text: int) -> dict[str, int]:
    """Query-key scores per head and layer: joint attention vs self- plus cross-attention.

    Joint attention scores ``(N + T)^2`` pairs. A U-Net-style block scores ``N^2`` (image
    self-attention) plus ``N * T`` (image queries, text keys), and never updates the text.

    Examples:
        >>> attention_scores(4, 2)
        {'joint': 36, 'self + cross': 24, 'ratio': 1.5}
    """
    joint = (n_image + n_text) ** 2
    separate = n_image * n_image + n_image * n_text
    return {"joint": joint, "self + cross": separate, "ratio": round(joint / separate, 3)}


def adaln_zero_parameters(name: str = "SD3-medium") -> dict[str, int]:
    """Weights of the adaLN-Zero modulation layers of one joint block, per modality.

    Counted on diffusers' ``JointTransformerBlock`` of the first block: ``norm1`` (image) and
    ``norm1_context`` (text) each hold one ``Linear(D, 6 D)``.

    Examples:
        >>> counts = adaln_zero_parameters("SD3-medium")
        >>> counts["image"] == counts["text"] == 6 * 1536 * 1536 + 6 * 1536
        True
    """
    block = build_transformer(name).transformer_blocks[0]
    image, text = count_parameters(block.norm1), count_parameters(block.norm1_context)
    return {
        "image": image,
        "text": text,
        "block": image + text,
        "block total": count_parameters(block),
    }


# --------------------------------------------------------------------------- tiny pipeline

PROMPT_WORDS = [
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
    "red",
    "cube",
    "left",
    "blue",
    "sphere",
    "right",
    "cat",
    "sitting",
    "under",
    "table",
    "dog",
    "in",
    "garden",
    "painting",
    "small",
    "big",
    "two",
    "three",
]
"""The words the tiny tokenizers know (CLIP's spells any other word letter by letter)."""


def t5_tokenizer(words=PROMPT_WORDS):
    """A real ``T5Tokenizer`` (unigram) whose pieces are ``words``; ids 0, 1, 2 are pad, ``</s>``, unknown.

    Examples:
        >>> tok = t5_tokenizer()
        >>> tok.convert_ids_to_tokens(tok("a red cube").input_ids)
        ['▁a', '▁red', '▁cube', '</s>']
    """
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [("\u2581" + w, -1.0) for w in words]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


TINY = dict(
    clip_l=16, clip_g=32, t5=64, heads=2, head_dim=16, layers=2, latent_channels=16, t5_tokens=16
)
"""Widths of the tiny pipeline. The two CLIPs' widths add up to half of T5's, as 768 + 1280 = 2048 is
half of 4096, so the pipeline's zero-padding of the CLIP features is visible."""


def build_tiny_sd3_pipeline(seed: int = 0):
    """diffusers' ``StableDiffusion3Pipeline`` with tiny, randomly initialised components.

    Examples:
        >>> pipe = build_tiny_sd3_pipeline()
        >>> type(pipe).__name__, pipe.vae_scale_factor, pipe.tokenizer_max_length
        ('StableDiffusion3Pipeline', 8, 77)
        >>> latents = pipe("a red cube", num_inference_steps=2, height=64, width=64,
        ...                max_sequence_length=16, output_type="latent").images
        >>> latents.shape
        torch.Size([1, 16, 8, 8])
    """
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import T5Config, T5EncoderModel

    clip_tok, t5_tok = build_tokenizer(PROMPT_WORDS), t5_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)

        def clip_encoder(width: int) -> nn.Module:
            config = dict(
                vocab_size=len(clip_tok), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=CLIP_TOKENS, projection_dim=width,
                bos_token_id=clip_tok.bos_token_id, eos_token_id=clip_tok.eos_token_id,
                pad_token_id=clip_tok.pad_token_id,
            )  # fmt: skip
            encoder = build_text_encoder(config, with_projection=True, device="cpu")
            return encoder.eval()

        t5 = T5EncoderModel(
            T5Config(
                vocab_size=len(t5_tok),
                d_model=TINY["t5"],
                d_ff=2 * TINY["t5"],
                d_kv=16,
                num_heads=4,
                num_layers=2,
                feed_forward_proj="gated-gelu",
                relative_attention_num_buckets=8,
                tie_word_embeddings=False,
            )  # fmt: skip
        ).eval()
        transformer = SD3Transformer2DModel(
            sample_size=8, patch_size=2, in_channels=TINY["latent_channels"], num_layers=TINY["layers"],
            attention_head_dim=TINY["head_dim"], num_attention_heads=TINY["heads"], joint_attention_dim=TINY["t5"],
            caption_projection_dim=TINY["heads"] * TINY["head_dim"],
            pooled_projection_dim=TINY["clip_l"] + TINY["clip_g"], out_channels=TINY["latent_channels"],
            pos_embed_max_size=8,
        )  # fmt: skip
        vae = AutoencoderKL(
            **{
                **SD3_VAE,
                "block_out_channels": (8, 8, 8, 8),
                "layers_per_block": 1,
                "norm_num_groups": 4,
            }
        )
        return StableDiffusion3Pipeline(
            transformer=transformer,
            scheduler=FlowMatchEulerDiscreteScheduler(**SD3_SCHEDULER),
            vae=vae,
            text_encoder=clip_encoder(TINY["clip_l"]),
            tokenizer=clip_tok,
            text_encoder_2=clip_encoder(TINY["clip_g"]),
            tokenizer_2=build_tokenizer(PROMPT_WORDS),
            text_encoder_3=t5,
            tokenizer_3=t5_tok,
        )


SD3_STEPS: tuple[tuple[str, str, str], ...] = (
    # (what it does, a template for the run's numbers; the lesson it comes from; the stage)
    ("tokenize for CLIP ({clip} ids)", "tokenization (series 4)", "encode the prompt"),
    ("CLIP-L, penultimate layer", "CLIP (6.3.3)", "encode the prompt"),
    ("OpenCLIP bigG, penultimate", "SDXL (lesson 1)", "encode the prompt"),
    ("T5 encoder ({t5} ids)", "T5 (this lesson)", "encode the prompt"),
    ("join: CLIP|zeros, then T5", "this lesson", "encode the prompt"),
    ("noise in the VAE latent space", "latent diffusion (6)", "start from noise"),
    ("shifted sigmas (shift {shift:g})", "flow matching (7.2)", "start from noise"),
    ("patchify + 2D positions", "DiT (lesson 2)", "every sampling step"),
    ("c = time embed + pooled CLIP", "adaLN-Zero (lesson 2)", "every sampling step"),
    ("context_embedder: text to D", "MMDiT (this lesson)", "every sampling step"),
    ("{blocks} joint blocks, image stream", "joint attention", "every sampling step"),
    ("guidance + one Euler step", "CFG (6.3.4), Euler (7.2)", "every sampling step"),
    ("VAE decode", "latent diffusion (6)", "decode"),
)
"""The thirteen steps of SD3's pipeline as the lesson teaches them: what each does (a template
for the run's numbers), the lesson it comes from, and its stage. [`trace_sd3`][snippets.sd3.trace_sd3]
runs them on the tiny pipeline, [`sd3_medium_steps`][snippets.sd3.sd3_medium_steps] gives their
shapes at SD3-medium's real size.

    >>> len(SD3_STEPS), SD3_STEPS[7][0]
    (13, 'patchify + 2D positions')
"""


@dataclass
class TraceStep:
    """One step of [`trace_sd3`][snippets.sd3.trace_sd3]: its number, what it does, the shape it
    leaves (batch dimension dropped) and the lesson it comes from."""

    number: int
    what: str
    shape: tuple
    source: str

    def __str__(self) -> str:
        shape = "[" + ", ".join(str(s) for s in self.shape) + "]"
        return f"{self.number:>2}. {self.what:<32} {shape:<12} {self.source}"


@torch.no_grad()
def trace_sd3(
    pipe,
    prompt: str,
    num_inference_steps: int = 2,
    guidance_scale: float = 7.0,
    height: int = 64,
    width: int = 64,
    max_sequence_length: int = TINY["t5_tokens"],
    seed: int = 0,
) -> tuple[list[TraceStep], torch.Tensor]:
    """Run ``StableDiffusion3Pipeline`` by hand, part by part, recording thirteen steps.

    Every step calls the pipeline's own components and helpers in the order ``pipe.__call__``
    does, so the final latent is the one ``pipe(..., output_type="latent")`` returns for the same
    seed (the tests check it). The transformer call (steps 8 to 11) is unrolled once, on the
    first denoising step, to show its inside.

    Returns:
        ``(steps, image)``: the thirteen [`TraceStep`][snippets.sd3.TraceStep] records and the
        decoded image ``[1, 3, height, width]``.

    Examples:
        >>> steps, image = trace_sd3(build_tiny_sd3_pipeline(), "a red cube")
        >>> len(steps), image.shape
        (13, torch.Size([1, 3, 64, 64]))
    """
    from diffusers.pipelines.stable_diffusion_3.pipeline_stable_diffusion_3 import (
        retrieve_timesteps,
    )

    steps: list[TraceStep] = []
    numbers = dict(
        clip=pipe.tokenizer_max_length,
        t5=max_sequence_length,
        shift=pipe.scheduler.config.shift,
        blocks=len(pipe.transformer.transformer_blocks),
    )

    def record(tensor: torch.Tensor) -> None:
        what, source, _ = SD3_STEPS[len(steps)]
        steps.append(
            TraceStep(len(steps) + 1, what.format(**numbers), tuple(tensor.shape[1:]), source)
        )

    # 1-5: three encoders, two paths
    ids = pipe.tokenizer(
        prompt, padding="max_length", max_length=pipe.tokenizer_max_length, return_tensors="pt"
    ).input_ids
    record(ids)
    clip_l, pooled_l = pipe._get_clip_prompt_embeds(prompt, clip_model_index=0)
    record(clip_l)
    clip_g, pooled_g = pipe._get_clip_prompt_embeds(prompt, clip_model_index=1)
    record(clip_g)
    t5 = pipe._get_t5_prompt_embeds(prompt, max_sequence_length=max_sequence_length)
    record(t5)
    clip = torch.cat([clip_l, clip_g], dim=-1)  # SDXL's join, along the features
    clip = nn.functional.pad(clip, (0, t5.shape[-1] - clip.shape[-1]))  # zeros up to T5's width
    text = torch.cat([clip, t5], dim=-2)  # then CLIP and T5 one after the other
    pooled = torch.cat([pooled_l, pooled_g], dim=-1)
    record(text)

    # 6-7: noise and timesteps; classifier-free guidance doubles the batch
    negative = pipe.encode_prompt(
        "", "", "", do_classifier_free_guidance=False, max_sequence_length=max_sequence_length
    )
    text_in, pooled_in = torch.cat([negative[0], text]), torch.cat([negative[2], pooled])
    generator = torch.Generator().manual_seed(seed)
    latents = pipe.prepare_latents(
        1, pipe.transformer.config.in_channels, height, width, text.dtype, "cpu", generator
    )
    record(latents)
    timesteps, _ = retrieve_timesteps(pipe.scheduler, num_inference_steps, "cpu")
    record(pipe.scheduler.sigmas[None])

    model = pipe.transformer
    for i, t in enumerate(timesteps):
        x = torch.cat([latents] * 2)
        timestep = t.expand(x.shape[0])
        if i == 0:  # 8-11: one transformer call, unrolled
            img = model.pos_embed(x)
            record(img)
            c = model.time_text_embed(timestep, pooled_in)
            record(c)
            txt = model.context_embedder(text_in)
            record(txt)
            for block in model.transformer_blocks:
                txt, img = block(hidden_states=img, encoder_hidden_states=txt, temb=c)
            record(img)
        velocity = model(
            hidden_states=x,
            timestep=timestep,
            encoder_hidden_states=text_in,
            pooled_projections=pooled_in,
            return_dict=False,
        )[0]
        uncond, cond = velocity.chunk(2)
        velocity = uncond + guidance_scale * (cond - uncond)
        latents = pipe.scheduler.step(velocity, t, latents, return_dict=False)[0]
        if i == 0:
            record(latents)
    latents_out = latents
    image = pipe.vae.decode(
        latents_out / pipe.vae.config.scaling_factor + pipe.vae.config.shift_factor
    ).sample
    record(image)
    return steps, image


@torch.no_grad()
def sd3_medium_steps(
    height: int = 1024,
    width: int = 1024,
    num_inference_steps: int = 28,
    max_sequence_length: int = T5_TOKENS,
) -> list[TraceStep]:
    """The thirteen steps of [`SD3_STEPS`][snippets.sd3.SD3_STEPS] at SD3-medium's real size.

    The encoders' shapes come from their configurations (77 CLIP positions, T5's
    ``max_sequence_length``), the transformer's from running SD3-medium's own modules on the
    ``meta`` device, as [`trace_sd3`][snippets.sd3.trace_sd3] runs the tiny pipeline's.

    Examples:
        >>> for step in sd3_medium_steps():
        ...     print(step)
         1. tokenize for CLIP (77 ids)       [77]         tokenization (series 4)
         2. CLIP-L, penultimate layer        [77, 768]    CLIP (6.3.3)
         3. OpenCLIP bigG, penultimate       [77, 1280]   SDXL (lesson 1)
         4. T5 encoder (256 ids)             [256, 4096]  T5 (this lesson)
         5. join: CLIP|zeros, then T5        [333, 4096]  this lesson
         6. noise in the VAE latent space    [16, 128, 128] latent diffusion (6)
         7. shifted sigmas (shift 3)         [29]         flow matching (7.2)
         8. patchify + 2D positions          [4096, 1536] DiT (lesson 2)
         9. c = time embed + pooled CLIP     [1536]       adaLN-Zero (lesson 2)
        10. context_embedder: text to D      [333, 1536]  MMDiT (this lesson)
        11. 24 joint blocks, image stream    [4096, 1536] joint attention
        12. guidance + one Euler step        [16, 128, 128] CFG (6.3.4), Euler (7.2)
        13. VAE decode                       [3, 1024, 1024] latent diffusion (6)
    """
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler

    model = build_transformer("SD3-medium")
    with torch.device("meta"):
        vae = AutoencoderKL(**SD3_VAE)
    scheduler = FlowMatchEulerDiscreteScheduler(**SD3_SCHEDULER)
    scheduler.set_timesteps(num_inference_steps)
    numbers = dict(
        clip=CLIP_TOKENS,
        t5=max_sequence_length,
        shift=scheduler.config.shift,
        blocks=len(model.transformer_blocks),
    )
    meta = {"device": "meta"}
    vae_factor = 2 ** (len(vae.config.block_out_channels) - 1)
    channels = model.config.in_channels
    latent = torch.empty(1, channels, height // vae_factor, width // vae_factor, **meta)
    text = torch.empty(1, CLIP_TOKENS + max_sequence_length, T5_XXL["d_model"], **meta)
    pooled = torch.empty(1, CLIP_L["projection_dim"] + OPENCLIP_BIGG["projection_dim"], **meta)
    t = torch.empty(1, **meta)
    img = model.pos_embed(latent)
    patches = tuple(img.shape[1:])
    c = model.time_text_embed(t, pooled)
    txt = model.context_embedder(text)
    context = tuple(txt.shape[1:])
    for block in model.transformer_blocks:
        txt, img = block(hidden_states=img, encoder_hidden_states=txt, temb=c)
    velocity = model(
        hidden_states=latent,
        encoder_hidden_states=text,
        pooled_projections=pooled,
        timestep=t,
        return_dict=False,
    )[0]
    shapes = [
        (CLIP_TOKENS,),
        (CLIP_TOKENS, CLIP_L["hidden_size"]),
        (CLIP_TOKENS, OPENCLIP_BIGG["hidden_size"]),
        (max_sequence_length, T5_XXL["d_model"]),
        tuple(text.shape[1:]),
        tuple(latent.shape[1:]),
        tuple(scheduler.sigmas.shape),
        patches,
        tuple(c.shape[1:]),
        context,
        tuple(img.shape[1:]),
        tuple(velocity.shape[1:]),
        tuple(vae.decode(latent).sample.shape[1:]),
    ]
    return [
        TraceStep(number, what.format(**numbers), shape, source)
        for number, ((what, source, _), shape) in enumerate(zip(SD3_STEPS, shapes, strict=True), 1)
    ]

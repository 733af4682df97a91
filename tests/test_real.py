"""snippets.real, offline: every named pipeline round-trips through a folder and generates.

Each pipeline is assembled tiny from components built in code (CLIP, T5 and Qwen3 text encoders
from configs, tokenizers from in-memory vocabularies, a tiny VAE and denoiser), saved with
``save_pretrained`` into a temporary folder and loaded back through ``load_real(name,
source=folder)``, the path a reader's local snapshot takes; then two sampling steps make an image
of the requested size. The DiT path writes a checkpoint in facebookresearch/DiT's key layout and
loads it strictly. The command without opt-in is run as a subprocess: it must refuse at once,
with the opt-in message, without touching the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from snippets.dit import DiT
from snippets.real import (
    DIT_KEY_MAP,
    ENV_ALLOW,
    REAL_MODELS,
    DownloadNotAllowed,
    RealDiT,
    dit_from_official,
    dit_to_official,
    generate,
    load_real,
    main,
)

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32  # pixels: a 16 x 16 latent through the two-level tiny VAE
LATENT_CHANNELS = 4
WIDTH = 32  # every tiny text encoder's width


# ---------------------------------------------------------------------------------------------
# tiny components


def _byte_alphabet() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (GPT-2's table)."""
    from tokenizers.pre_tokenizers import ByteLevel

    return sorted(ByteLevel.alphabet())


def clip_tokenizer(max_length: int = 16):
    """A CLIP tokenizer with one token per character (no merges)."""
    from transformers import CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>"]
    alphabet = _byte_alphabet()
    tokens = specials + alphabet + [c + "</w>" for c in alphabet]
    return CLIPTokenizer(
        vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=max_length
    )


def t5_tokenizer(max_length: int = 32):
    """A T5 (unigram) tokenizer over lowercase letters."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    pieces += [(c, -2.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=max_length)


CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def qwen_tokenizer():
    """A byte-level Qwen2 tokenizer (no merges) with the chat template Z-Image's pipeline applies."""
    from transformers import Qwen2Tokenizer

    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + _byte_alphabet()
    tokenizer = Qwen2Tokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[])
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def clip_text(projection: bool = False, max_length: int = 16, vocab_size: int = 514):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=WIDTH,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=max_length,
        projection_dim=WIDTH,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def t5_text(d_model: int = WIDTH):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=32,
        d_model=d_model,
        d_kv=8,
        d_ff=64,
        num_layers=1,
        num_heads=2,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5EncoderModel(config)


def qwen_text():
    from transformers import Qwen3Config, Qwen3Model

    config = Qwen3Config(
        vocab_size=300,
        hidden_size=WIDTH,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=1024,
    )
    return Qwen3Model(config)


def tiny_vae(**config):
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=LATENT_CHANNELS,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=SIZE,
        **config,
    )


def tiny_sdxl_unet(cross_attention_dim: int, time_ids: int, pooled: int):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=SIZE // 2,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        cross_attention_dim=cross_attention_dim,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=8 * time_ids + pooled,
    )


def tiny_pipeline(name: str):
    """The named pipeline, every component tiny and random (seeded)."""
    import diffusers
    from diffusers import EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler

    torch.manual_seed(0)
    kind = getattr(diffusers, REAL_MODELS[name].pipeline)
    if name == "sdxl-base":
        return kind(
            vae=tiny_vae(),
            text_encoder=clip_text(),
            text_encoder_2=clip_text(projection=True),
            tokenizer=clip_tokenizer(),
            tokenizer_2=clip_tokenizer(),
            # two CLIPs side by side: 32 + 32 channels; time ids: size, crop, target size (6)
            unet=tiny_sdxl_unet(cross_attention_dim=2 * WIDTH, time_ids=6, pooled=WIDTH),
            scheduler=EulerDiscreteScheduler(),
            add_watermarker=False,
        )
    if name == "sdxl-refiner":
        return kind(  # the refiner has only the OpenCLIP encoder and an aesthetic-score time id
            vae=tiny_vae(),
            text_encoder=None,
            tokenizer=None,
            text_encoder_2=clip_text(projection=True),
            tokenizer_2=clip_tokenizer(),
            unet=tiny_sdxl_unet(cross_attention_dim=WIDTH, time_ids=5, pooled=WIDTH),
            scheduler=EulerDiscreteScheduler(),
            requires_aesthetics_score=True,
            add_watermarker=False,
        )
    if name == "sd3-medium":
        from diffusers import SD3Transformer2DModel

        transformer = SD3Transformer2DModel(
            sample_size=SIZE // 2,
            patch_size=2,
            in_channels=LATENT_CHANNELS,
            out_channels=LATENT_CHANNELS,
            num_layers=1,
            attention_head_dim=8,
            num_attention_heads=2,
            joint_attention_dim=2 * WIDTH,
            caption_projection_dim=16,
            pooled_projection_dim=2 * WIDTH,
            pos_embed_max_size=16,
        )
        return kind(
            transformer=transformer,
            scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
            vae=tiny_vae(shift_factor=0.0, scaling_factor=1.0),
            text_encoder=clip_text(projection=True),
            tokenizer=clip_tokenizer(),
            text_encoder_2=clip_text(projection=True),
            tokenizer_2=clip_tokenizer(),
            # T5 as wide as the two CLIPs side by side, as T5-XXL's 4096 >= 768 + 1280
            text_encoder_3=t5_text(d_model=2 * WIDTH),
            tokenizer_3=t5_tokenizer(),
        )
    if name == "flux-schnell":
        from diffusers import FluxTransformer2DModel

        transformer = FluxTransformer2DModel(
            patch_size=1,
            in_channels=4 * LATENT_CHANNELS,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=WIDTH,
            pooled_projection_dim=WIDTH,
            guidance_embeds=False,
            axes_dims_rope=(4, 6, 6),
        )
        return kind(
            transformer=transformer,
            scheduler=FlowMatchEulerDiscreteScheduler(),
            vae=tiny_vae(shift_factor=0.0, scaling_factor=1.0),
            text_encoder=clip_text(),
            tokenizer=clip_tokenizer(),
            text_encoder_2=t5_text(),
            tokenizer_2=t5_tokenizer(),
        )
    if name == "z-image-turbo":
        from diffusers import ZImageTransformer2DModel

        transformer = ZImageTransformer2DModel(
            in_channels=LATENT_CHANNELS,
            dim=32,
            n_layers=1,
            n_refiner_layers=1,
            n_heads=2,
            n_kv_heads=2,
            cap_feat_dim=WIDTH,
            axes_dims=[8, 4, 4],
            axes_lens=[256, 32, 32],
        )
        return kind(
            transformer=transformer,
            scheduler=FlowMatchEulerDiscreteScheduler(),
            vae=tiny_vae(shift_factor=0.0, scaling_factor=1.0),
            text_encoder=qwen_text(),
            tokenizer=qwen_tokenizer(),
        )
    raise KeyError(name)


PIPELINES = [name for name in REAL_MODELS if name != "dit-xl-2-256"]


# ---------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("name", PIPELINES)
def test_pipeline_round_trips_through_a_local_folder_and_generates(name, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_ALLOW, raising=False)
    tiny_pipeline(name).save_pretrained(tmp_path)
    pipeline = load_real(name, source=tmp_path)  # no opt-in needed for a local folder
    assert type(pipeline).__name__ == REAL_MODELS[name].pipeline
    image = Image.new("RGB", (SIZE, SIZE), (120, 60, 200)) if name == "sdxl-refiner" else None
    steps = 4 if name == "sdxl-refiner" else 2  # img2img at strength 0.3 runs ~30% of its steps
    picture, shapes = generate(name, pipeline, "a red fox", steps=steps, size=SIZE, image=image)
    assert picture.size == (SIZE, SIZE)
    assert shapes, "the denoiser's inputs were traced"
    assert any(
        shape[-2:] == (SIZE // 2, SIZE // 2) or SIZE // 2 in shape for shape in shapes.values()
    )


def test_dit_loads_an_official_layout_checkpoint_strictly_and_samples(tmp_path):
    torch.manual_seed(0)
    config = {
        "input_size": 8,
        "patch_size": 2,
        "in_channels": LATENT_CHANNELS,
        "hidden_size": 32,
        "depth": 2,
        "num_heads": 4,
        "num_classes": 10,
    }
    reference = DiT(**config)
    for parameter in reference.parameters():  # non-zero everywhere, zero-initialised layers too
        torch.nn.init.normal_(parameter, std=0.02)
    official = dit_to_official(reference.state_dict())
    assert "pos_embed" in official and "x_embedder.pos_embed" not in official
    assert {
        "x_embedder.proj.weight",
        "t_embedder.mlp.0.weight",
        "y_embedder.embedding_table.weight",
        "blocks.1.attn.qkv.weight",
        "blocks.1.mlp.fc2.bias",
        "blocks.1.adaLN_modulation.1.weight",
        "final_layer.linear.weight",
        "final_layer.adaLN_modulation.1.bias",
    } <= set(official)
    torch.save(official, tmp_path / "DiT-XL-2-256x256.pt")
    (tmp_path / "dit_config.json").write_text(json.dumps(config))
    tiny_vae().save_pretrained(tmp_path / "vae")

    real = load_real("dit-xl-2-256", source=tmp_path)
    assert isinstance(real, RealDiT)
    loaded = real.model.state_dict()
    assert all(torch.equal(loaded[DIT_KEY_MAP.get(k, k)], v) for k, v in official.items())
    x, t, y = (
        torch.randn(2, LATENT_CHANNELS, 8, 8),
        torch.tensor([10.0, 900.0]),
        torch.tensor([1, 7]),
    )
    assert torch.equal(real.model(x, t, y), reference.eval()(x, t, y))
    picture, shapes = generate("dit-xl-2-256", real, "3", steps=2)
    assert picture.size == (16, 16)  # an 8 x 8 latent through the two-level tiny VAE
    # the first block's inputs: 16 tokens and the conditioning, for the conditional and null halves
    assert shapes == {"input 0": (2, 16, 32), "input 1": (2, 32)}


def test_dit_strict_load_names_a_key_that_does_not_fit():
    model = DiT(input_size=8, in_channels=4, hidden_size=32, depth=1, num_heads=4, num_classes=10)
    official = dit_to_official(model.state_dict())
    official["blocks.0.attn.extra"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="blocks.0.attn.extra"):
        model.load_state_dict(dit_from_official(official), strict=True)


def test_dit_reads_a_training_checkpoint_ema_entry():
    state = {"pos_embed": torch.ones(1)}
    assert dit_from_official({"ema": state, "model": {}, "opt": {}}) == {
        "x_embedder.pos_embed": state["pos_embed"]
    }


# ---------------------------------------------------------------------------------------------
# opt-in


@pytest.mark.parametrize("name", sorted(REAL_MODELS))
def test_loader_refuses_without_opt_in_and_says_how(name, monkeypatch):
    monkeypatch.delenv(ENV_ALLOW, raising=False)
    model = REAL_MODELS[name]
    with pytest.raises(DownloadNotAllowed) as refusal:
        load_real(name)
    message = str(refusal.value)
    for needed in (model.repo, model.download, model.licence, "--download", ENV_ALLOW):
        assert needed in message
    assert ("gated" in message) and (bool(model.gate) == ("not gated" not in message))


def test_a_local_folder_that_is_missing_is_an_error_not_a_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        load_real("flux-schnell", source=tmp_path / "nothing-here")


def _run_command(args: list[str], env_extra: dict[str, str], tmp_path: Path, timeout: float):
    env = {k: v for k, v in os.environ.items() if k != ENV_ALLOW}
    # no network, no cache: an empty Hub cache and an unroutable proxy catch any download attempt
    env.update(
        HF_HOME=str(tmp_path / "hf"),
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        TORCH_HOME=str(tmp_path / "torch"),
        **env_extra,
    )
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snippets.real", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return result, time.perf_counter() - start


def test_command_without_opt_in_fails_at_once_with_the_opt_in_message(tmp_path):
    result, _ = _run_command(["sdxl-base", "--prompt", "x"], {}, tmp_path, timeout=60)  # "at once"
    assert result.returncode == 2
    assert "--download" in result.stderr and ENV_ALLOW in result.stderr
    assert REAL_MODELS["sdxl-base"].repo in result.stderr
    assert not (tmp_path / "hf").exists(), "nothing was fetched or cached"
    assert not Path(tmp_path / "image.png").exists()


def test_command_opted_in_but_offline_fails_with_a_clear_message(tmp_path):
    result, _ = _run_command(
        ["z-image-turbo", "--prompt", "x", "--out", str(tmp_path / "z.png")],
        {ENV_ALLOW: "1", "HF_HUB_OFFLINE": "1"},
        tmp_path,
        timeout=120,
    )
    assert result.returncode != 0
    assert "could not fetch Tongyi-MAI/Z-Image-Turbo" in result.stderr
    assert "hf download Tongyi-MAI/Z-Image-Turbo" in result.stderr
    assert not (tmp_path / "z.png").exists()


def test_command_generates_from_a_local_folder_and_prints_the_traced_shapes(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv(ENV_ALLOW, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # main() sets it to 1 for a local run; restored after
    tiny_pipeline("flux-schnell").save_pretrained(tmp_path / "flux")
    out = tmp_path / "fox.png"
    status = main(
        [
            "flux-schnell",
            "--prompt",
            "a fox",
            "--steps",
            "2",
            "--size",
            str(SIZE),
            "--source",
            str(tmp_path / "flux"),
            "--out",
            str(out),
            "--device",
            "cpu",
        ]
    )
    assert status == 0 and os.environ["HF_HUB_OFFLINE"] == "1"
    assert Image.open(out).size == (SIZE, SIZE)
    printed = capsys.readouterr().out
    # packed latent: (32 / 2 / 2)^2 = 64 tokens of 4 * 4 channels; T5 tokens of width 32
    assert "hidden_states" in printed and "[1, 64, 16]" in printed
    assert f"image {SIZE} x {SIZE}" in printed

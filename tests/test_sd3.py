"""Lesson 3 (SD3 and Flux): real-size tables, the tiny SD3 pipeline trace, the Flux single-stream block.

The MMDiT block's equivalence with diffusers' ``JointTransformerBlock`` is tested in
``tests/test_generators.py``; this file adds what lesson 3 brings.
"""

from __future__ import annotations

import pytest
import torch
from numerics import assert_same_function
from torch import nn

from artifacts.sd3_and_flux.tables import encoder_table, transformer_table
from snippets import sd3
from snippets.flux import FluxSingleBlock
from snippets.mmdit import MMDiTBlock
from snippets.params import count_parameters


@pytest.fixture(scope="module")
def encoder_rows():
    return {r["name"]: r for r in sd3.encoder_rows()}


@pytest.fixture(scope="module")
def tiny_pipe():
    return sd3.build_tiny_sd3_pipeline()


def _clip_parameters(cfg: dict) -> int:
    """CLIP text tower with projection, counted by hand from its configuration."""
    d, f, v, p = (
        cfg["hidden_size"],
        cfg["intermediate_size"],
        cfg["vocab_size"],
        cfg["max_position_embeddings"],
    )
    layer = (
        4 * (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d
    )  # q, k, v, o; MLP; two LayerNorms
    return v * d + p * d + cfg["num_hidden_layers"] * layer + 2 * d + d * cfg["projection_dim"]


def _t5_encoder_parameters(cfg: dict) -> int:
    """T5 v1.1 encoder (gated GELU, no biases, RMS norms), counted by hand."""
    d, inner = cfg["d_model"], cfg["num_heads"] * cfg["d_kv"]
    layer = 4 * d * inner + 3 * d * cfg["d_ff"] + 2 * d  # q, k, v, o; wi_0, wi_1, wo; two norms
    relative_bias = cfg["relative_attention_num_buckets"] * cfg["num_heads"]  # first layer only
    return cfg["vocab_size"] * d + cfg["num_layers"] * layer + relative_bias + d


def test_encoder_table_follows_the_configurations(encoder_rows):
    clip_l, big_g, t5 = (
        encoder_rows[n] for n in ("CLIP ViT-L/14", "OpenCLIP ViT-bigG/14", "T5-v1.1-XXL encoder")
    )
    assert clip_l["parameters"] == _clip_parameters(sd3.CLIP_L)
    assert big_g["parameters"] == _clip_parameters(sd3.OPENCLIP_BIGG)
    assert t5["parameters"] == _t5_encoder_parameters(sd3.T5_XXL)
    assert clip_l["tokens"] == (sd3.CLIP_TOKENS, sd3.CLIP_L["hidden_size"])
    assert big_g["tokens"] == (sd3.CLIP_TOKENS, sd3.OPENCLIP_BIGG["hidden_size"])
    assert t5["tokens"] == (sd3.T5_TOKENS, sd3.T5_XXL["d_model"])
    # the two pooled vectors together are what SD3's transformer expects
    assert clip_l["pooled"] + big_g["pooled"] == sd3.SD3_MEDIUM["pooled_projection_dim"]
    # both CLIPs together are half as wide as T5, which the pipeline pads them to
    assert 2 * (clip_l["tokens"][1] + big_g["tokens"][1]) == sd3.SD3_MEDIUM["joint_attention_dim"]
    table = encoder_table(list(encoder_rows.values())).splitlines()
    total = sum(r["parameters"] for r in encoder_rows.values())
    parameters = next(line for line in table if line.startswith("| Parameters |"))
    assert parameters.rstrip(" |").endswith(f"**{total:,}** ({total / 1e9:.2f}\u00a0B)")


def test_transformer_rows_follow_the_configurations():
    rows = {r["name"]: r for r in sd3.transformer_rows()}
    for name, cfg in (
        ("SD3-medium", sd3.SD3_MEDIUM),
        ("SD3.5-large", sd3.SD35_LARGE),
        ("FLUX.1-dev", sd3.FLUX1_DEV),
    ):
        assert rows[name]["joint"] == cfg["num_layers"]
        assert rows[name]["single"] == cfg.get("num_single_layers", 0)
        assert rows[name]["width"] == cfg["num_attention_heads"] * cfg["attention_head_dim"]
    assert (
        rows["SD3-medium"]["parameters"]
        < rows["SD3.5-large"]["parameters"]
        < rows["FLUX.1-dev"]["parameters"]
    )
    # one column per model: every count appears in the table, in its model's column
    lines = transformer_table(list(rows.values())).splitlines()
    names = [cell.strip() for cell in lines[0].strip("|").split("|")][1:]
    assert names == list(rows)
    parameters = next(line for line in lines if line.startswith("| Parameters |"))
    cells = [cell.strip() for cell in parameters.strip("|").split("|")][1:]
    assert [c.split(" ")[0] for c in cells] == [f"{rows[n]['parameters']:,}" for n in names]


def test_adaln_zero_count_matches_the_teaching_block():
    counts = sd3.adaln_zero_parameters("SD3-medium")
    d = sd3.SD3_MEDIUM["caption_projection_dim"]
    with torch.device("meta"):
        ours = MMDiTBlock(d, sd3.SD3_MEDIUM["num_attention_heads"])
    assert counts["image"] == count_parameters(ours.img_mod) == 6 * d * d + 6 * d
    assert counts["text"] == count_parameters(ours.txt_mod)
    assert counts["block total"] == count_parameters(ours)


def test_joint_sequence_matches_what_the_tiny_pipeline_builds(tiny_pipe):
    t5_tokens = 16
    embeds, _, pooled, _ = tiny_pipe.encode_prompt(
        "a red cube",
        "a red cube",
        "a red cube",
        do_classifier_free_guidance=False,
        max_sequence_length=t5_tokens,
    )
    expected = sd3.joint_sequence(64, 64, max_sequence_length=t5_tokens)
    assert embeds.shape[1] == expected["text"]
    latent = torch.zeros(1, 16, 8, 8)
    assert tiny_pipe.transformer.pos_embed(latent).shape[1] == expected["image"]
    assert pooled.shape[1] == sd3.TINY["clip_l"] + sd3.TINY["clip_g"]
    # CLIP's features sit in the first columns of its rows; the rest is zero padding
    clip_rows = embeds[0, : sd3.CLIP_TOKENS]
    assert torch.all(clip_rows[:, sd3.TINY["clip_l"] + sd3.TINY["clip_g"] :] == 0)
    assert clip_rows[:, : sd3.TINY["clip_l"]].abs().sum() > 0


def test_trace_reproduces_the_pipeline(tiny_pipe):
    steps, image = sd3.trace_sd3(tiny_pipe, "a red cube", num_inference_steps=2, seed=3)
    assert [s.number for s in steps] == list(range(1, 14))
    shapes = {s.number: s.shape for s in steps}
    assert shapes[5] == (sd3.CLIP_TOKENS + 16, sd3.TINY["t5"])
    assert shapes[6] == shapes[12] == (16, 8, 8)
    assert shapes[13] == (3, 64, 64)
    out = tiny_pipe(
        "a red cube",
        num_inference_steps=2,
        height=64,
        width=64,
        max_sequence_length=16,
        generator=torch.Generator().manual_seed(3),
        output_type="pt",
    ).images
    assert_same_function((image / 2 + 0.5).clamp(0, 1), out)


def _randomize(module: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def test_flux_single_block_matches_diffusers():
    from diffusers.models.transformers.transformer_flux import FluxSingleTransformerBlock

    dim, heads = 48, 4
    ours = FluxSingleBlock(dim, heads)
    _randomize(ours, seed=1)
    theirs = FluxSingleTransformerBlock(dim, heads, dim // heads)
    missing = theirs.load_state_dict(ours.state_dict(), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    g = torch.Generator().manual_seed(2)
    txt, img, c = (torch.randn(s, generator=g) for s in ((2, 5, dim), (2, 16, dim), (2, dim)))
    out_txt, out_img = ours(txt, img, c)
    ref_txt, ref_img = theirs(hidden_states=img, encoder_hidden_states=txt, temb=c)
    assert_same_function(out_img, ref_img)
    assert_same_function(out_txt, ref_txt)


def test_flux_single_block_shares_weights_across_modalities():
    block = FluxSingleBlock(32, 4)
    _randomize(block, seed=3)
    txt, img, c = torch.randn(1, 4, 32), torch.randn(1, 16, 32), torch.randn(1, 32)
    # swapping which tokens are called text and which image changes nothing: one set of weights
    a_txt, a_img = block(txt, img, c)
    joint = torch.cat([txt, img], dim=1)
    b_txt, b_img = block(joint[:, :10], joint[:, 10:], c)
    assert_same_function(torch.cat([b_txt, b_img], dim=1), torch.cat([a_txt, a_img], dim=1))


def test_ip_adapter_on_an_mmdit_adds_a_second_attention_for_the_image_stream(monkeypatch):
    """What the lesson says of ``SD3IPAdapterJointAttnProcessor2_0``: the joint attention runs as
    before; a second attention has the image tokens as queries and their own keys beside the
    reference's; the text stream is untouched."""
    import diffusers.models.attention_processor as processors
    from diffusers.models.attention import JointTransformerBlock

    torch.manual_seed(0)
    dim, heads, n_img, n_txt, n_ref = 32, 2, 16, 5, 4
    attn = JointTransformerBlock(
        dim=dim, num_attention_heads=heads, attention_head_dim=dim // heads
    ).attn
    img, txt = torch.randn(1, n_img, dim), torch.randn(1, n_txt, dim)
    ref, temb = torch.randn(1, n_ref, 24), torch.randn(1, dim)
    plain_img, plain_txt = attn(hidden_states=img, encoder_hidden_states=txt)

    calls = []
    sdpa = processors.F.scaled_dot_product_attention

    def recording(q, k, v, **kwargs):
        calls.append((q.shape[2], k.shape[2]))
        return sdpa(q, k, v, **kwargs)

    attn.set_processor(
        processors.SD3IPAdapterJointAttnProcessor2_0(
            hidden_size=dim, ip_hidden_states_dim=24, head_dim=dim // heads, timesteps_emb_dim=dim
        )
    )
    monkeypatch.setattr(processors.F, "scaled_dot_product_attention", recording)
    ip_img, ip_txt = attn(
        hidden_states=img, encoder_hidden_states=txt, ip_hidden_states=ref, temb=temb
    )

    # first the joint attention over [image; text], then image queries over [image; reference]
    assert calls == [(n_img + n_txt, n_img + n_txt), (n_img, n_img + n_ref)]
    assert torch.equal(ip_txt, plain_txt)
    assert not torch.allclose(ip_img, plain_img)

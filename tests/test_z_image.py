"""Lesson 4 (Z-Image): RoPE and position ids against diffusers, real-size counts.

The DMD toy has its own file, ``tests/test_dmd.py``.

The single-stream block itself is compared with diffusers' ``ZImageTransformerBlock`` in
``tests/test_generators.py``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from numerics import assert_same_function

from snippets.params import count_parameters
from snippets.rope import (
    apply_rope,
    caption_position_ids,
    image_position_ids,
    padded_length,
    rope_angles,
    rope_freqs_cis,
    rope_scores,
)


def _tiny_zimage():
    from diffusers import ZImageTransformer2DModel

    torch.manual_seed(0)
    # head width 16 = 4 + 6 + 6, as the real model's 128 = 32 + 48 + 48
    return ZImageTransformer2DModel(
        in_channels=4,
        dim=64,
        n_layers=1,
        n_refiner_layers=1,
        n_heads=4,
        n_kv_heads=4,
        cap_feat_dim=24,
        axes_dims=[4, 6, 6],
        axes_lens=[256, 64, 64],
    )


def test_rope_angles_equal_diffusers_table():
    from diffusers.models.transformers.transformer_z_image import RopeEmbedder

    theirs = RopeEmbedder(theta=256.0, axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512])
    ids = torch.cat([caption_position_ids(45), image_position_ids(40, 24, caption_tokens=45)])
    torch.testing.assert_close(rope_freqs_cis(ids), theirs(ids), rtol=0, atol=0)


@pytest.mark.parametrize("caption_tokens", [20, 32, 33])
def test_position_ids_equal_the_model_s(caption_tokens):
    model = _tiny_zimage()
    image = torch.randn(4, 1, 6, 10)  # [C, F, H, W]: 3 x 5 patches of 2 x 2
    caption = torch.randn(caption_tokens, 24)
    out = model.patchify_and_embed([image], [caption], patch_size=2, f_patch_size=1)
    img_ids, cap_ids = out[3][0], out[4][0]
    ours_cap = caption_position_ids(caption_tokens)
    # the model builds extra caption rows and cuts them to the padded length before use
    assert torch.equal(cap_ids[: len(ours_cap)], ours_cap)
    assert len(out[1][0]) == len(ours_cap) == padded_length(caption_tokens)
    assert torch.equal(img_ids, image_position_ids(3, 5, caption_tokens))


def test_rotated_attention_equals_diffusers_processor():
    from diffusers.models.attention_processor import Attention
    from diffusers.models.transformers.transformer_z_image import ZSingleStreamAttnProcessor

    torch.manual_seed(1)
    dim, heads = 128 * 2, 2
    attn = Attention(
        query_dim=dim,
        dim_head=128,
        heads=heads,
        qk_norm="rms_norm",
        eps=1e-5,
        bias=False,
        out_bias=False,
        processor=ZSingleStreamAttnProcessor(),
    )
    with torch.no_grad():
        for p in attn.parameters():
            p.copy_(torch.randn_like(p) * 0.2 + (1.0 if p.ndim == 1 else 0.0))
    ids = torch.cat([image_position_ids(4, 8, caption_tokens=9), caption_position_ids(9)])
    x = torch.randn(1, len(ids), dim)
    ref = attn(x, freqs_cis=rope_freqs_cis(ids)[None])

    def heads_of(t):
        return t.unflatten(-1, (heads, -1))

    q = attn.norm_q(heads_of(attn.to_q(x)))
    k = attn.norm_k(heads_of(attn.to_k(x)))
    v = heads_of(attn.to_v(x))
    angles = rope_angles(ids)
    q, k = apply_rope(q, angles), apply_rope(k, angles)
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    ours = attn.to_out[0](out.transpose(1, 2).flatten(2))
    assert_same_function(ours, ref)


def test_text_query_scores_depend_on_image_row_and_column():
    """A text query's scores over the image vary with each patch's row and column; only the
    first axis (caption order) adds one shift shared by all patches."""
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(128, generator=g), torch.randn(128, generator=g)
    text = caption_position_ids(20)[5:6]
    grid = image_position_ids(16, 16, caption_tokens=20)[:256]
    scores = rope_scores(q, k, text, grid)[0]
    assert scores.std() > 0.05 * scores.abs().mean()  # same content, different scores
    # a longer caption moves every image key by the same first-axis offset: the spread of the
    # scores over the grid stays the same up to one shared shift only when the first axis is
    # left out of the query; with it, the scores change
    longer = rope_scores(q, k, text, image_position_ids(16, 16, caption_tokens=40)[:256])[0]
    assert not torch.allclose(scores, longer, atol=1e-4)
    q_spatial = q.clone()
    q_spatial[:32] = 0  # remove the first axis' part of the query
    a = rope_scores(q_spatial, k, text, grid)[0]
    b = rope_scores(q_spatial, k, text, image_position_ids(16, 16, caption_tokens=40)[:256])[0]
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_counts_follow_the_configuration():
    from snippets.zimage import (
        ZIMAGE_TRANSFORMER_CONFIG,
        adaln_comparison,
        block_parts,
        build_qwen3_4b,
        build_zimage_transformer,
        dual_stream_extra,
        qwen3_used_parameters,
        zimage_parts,
    )

    model = build_zimage_transformer()
    cfg = ZIMAGE_TRANSFORMER_CONFIG
    dim = cfg["dim"]
    assert (
        len(model.layers) == cfg["n_layers"] and len(model.noise_refiner) == cfg["n_refiner_layers"]
    )
    assert sum(zimage_parts(model).values()) == count_parameters(model)
    # refiner blocks are full-width blocks: the image refiner is exactly a main block
    assert block_parts(model.noise_refiner[0]) == block_parts(model.layers[0])
    assert block_parts(model.layers[0])["attention"] == 4 * dim * dim + 2 * (dim // cfg["n_heads"])
    assert block_parts(model.layers[0])["feed-forward"] == 3 * dim * int(dim / 3 * 8)
    # a second stream doubles the main blocks
    assert sum(dual_stream_extra(model).values()) == zimage_parts(model)["main blocks (shared)"]
    costs = adaln_comparison(dim, cfg["n_layers"])
    assert costs["shared embedder"] == count_parameters(model.t_embedder)
    assert costs["z-image per block"] == count_parameters(model.layers[0].adaLN_modulation)
    qwen = build_qwen3_4b()
    unused = count_parameters(qwen.layers[-1]) + count_parameters(qwen.norm)
    assert qwen3_used_parameters(qwen) == count_parameters(qwen) - unused


def test_text_encoder_rows_agree_with_lessons_1_and_3():
    """One builder for every row: SD3's row is what SD3 loads (lesson 3), the CLIPs of SD v1.5
    and SDXL are lesson 1's (ViT-L without its projection)."""
    from snippets.sd3 import encoder_rows
    from snippets.sdxl import CLIP_VIT_L, OPENCLIP_BIGG, build_text_encoder
    from snippets.zimage import text_encoder_rows

    rows = {row["model"]: row["parameters"] for row in text_encoder_rows()}
    assert rows["SD3"] == sum(row["parameters"] for row in encoder_rows())
    clip_l = count_parameters(build_text_encoder(CLIP_VIT_L, with_projection=False))
    clip_g = count_parameters(build_text_encoder(OPENCLIP_BIGG, with_projection=True))
    assert rows["SD v1.5"] == clip_l
    assert rows["SDXL"] == clip_l + clip_g


def test_shape_trace_follows_the_configuration():
    from snippets.rope import padded_length
    from snippets.zimage import (
        VAE_DOWNSAMPLING,
        ZIMAGE_TRANSFORMER_CONFIG,
        build_zimage_transformer,
        trace_shapes,
    )

    cfg = ZIMAGE_TRANSFORMER_CONFIG
    shapes = dict(
        trace_shapes(build_zimage_transformer(), height=512, width=768, caption_tokens=40)
    )
    p = cfg["all_patch_size"][0]
    n_image = (512 // VAE_DOWNSAMPLING // p) * (768 // VAE_DOWNSAMPLING // p)
    n_text = padded_length(40)
    head = cfg["dim"] // cfg["n_heads"]
    assert shapes["joint sequence [image; text]"] == (n_image + n_text, cfg["dim"])
    assert shapes[f"queries: {cfg['n_heads']} heads of {head}"] == (
        n_image + n_text,
        cfg["n_heads"],
        head,
    )
    assert shapes["final layer, image tokens"] == (n_image, p * p * cfg["in_channels"])


def test_qwen3_hidden_state_minus_two_is_the_second_to_last_layer():
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen3Config(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
    )
    model = Qwen3ForCausalLM(cfg).eval()
    outputs = []
    for layer in model.model.layers:
        layer.register_forward_hook(
            lambda mod, inp, out: outputs.append(out[0] if isinstance(out, tuple) else out)
        )
    hidden = model(torch.randint(0, 50, (1, 6)), output_hidden_states=True).hidden_states
    assert torch.equal(hidden[-2], outputs[-2])

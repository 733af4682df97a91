"""Our DiT pieces against diffusers' production code, weights copied across, float32, seeded.

diffusers' ``DiTTransformer2DModel`` builds its ``PatchEmbed`` with ``height = width =
sample_size``, so ``base_size = sample_size // patch_size`` and ``interpolation_scale = 1``; its
blocks are ``BasicTransformerBlock(norm_type="ada_norm_zero")``, each holding its own
``CombinedTimestepLabelEmbeddings`` inside ``AdaLayerNormZero``. Two defaults differ from the
reference DiT and are set explicitly below: the MLP-branch layer norm's ``norm_eps`` (diffusers
1e-5, DiT 1e-6) and the timestep frequencies (diffusers ``downscale_freq_shift=1``, DiT 0).
"""

import pytest
import torch
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.embeddings import CombinedTimestepLabelEmbeddings, get_timestep_embedding
from diffusers.models.embeddings import PatchEmbed as DiffusersPatchEmbed
from diffusers.models.embeddings import get_2d_sincos_pos_embed as diffusers_2d_sincos
from numerics import assert_same_function

from snippets.dit import DiT, DiTBlock, build_dit, timestep_embedding
from snippets.params import build_diffusers_dit, count_parameters, embedder_parameters
from snippets.patchify import PatchEmbed, get_2d_sincos_pos_embed


def randomize(module: torch.nn.Module, seed: int, std: float = 0.1) -> None:
    """Random (not zero) weights everywhere, so gates, shifts and scales are all non-trivial."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)


def copy_block(ours: DiTBlock, theirs: BasicTransformerBlock) -> None:
    with torch.no_grad():
        q, k, v = ours.attn.qkv.weight.chunk(3, dim=0)
        qb, kb, vb = ours.attn.qkv.bias.chunk(3, dim=0)
        pairs = [
            (theirs.norm1.linear.weight, ours.adaLN_modulation[1].weight),
            (theirs.norm1.linear.bias, ours.adaLN_modulation[1].bias),
            (theirs.attn1.to_q.weight, q),
            (theirs.attn1.to_q.bias, qb),
            (theirs.attn1.to_k.weight, k),
            (theirs.attn1.to_k.bias, kb),
            (theirs.attn1.to_v.weight, v),
            (theirs.attn1.to_v.bias, vb),
            (theirs.attn1.to_out[0].weight, ours.attn.proj.weight),
            (theirs.attn1.to_out[0].bias, ours.attn.proj.bias),
            (theirs.ff.net[0].proj.weight, ours.mlp.fc1.weight),
            (theirs.ff.net[0].proj.bias, ours.mlp.fc1.bias),
            (theirs.ff.net[2].weight, ours.mlp.fc2.weight),
            (theirs.ff.net[2].bias, ours.mlp.fc2.bias),
        ]
        for dst, src in pairs:
            assert dst.shape == src.shape
            dst.copy_(src)


def copy_embedders(ours: DiT, emb: CombinedTimestepLabelEmbeddings) -> None:
    with torch.no_grad():
        emb.timestep_embedder.linear_1.weight.copy_(ours.t_embedder.mlp[0].weight)
        emb.timestep_embedder.linear_1.bias.copy_(ours.t_embedder.mlp[0].bias)
        emb.timestep_embedder.linear_2.weight.copy_(ours.t_embedder.mlp[2].weight)
        emb.timestep_embedder.linear_2.bias.copy_(ours.t_embedder.mlp[2].bias)
        emb.class_embedder.embedding_table.weight.copy_(ours.y_embedder.embedding_table.weight)


@pytest.mark.parametrize("sample_size,patch_size,dim", [(32, 2, 64), (16, 4, 48), (8, 2, 32)])
def test_patch_embed_matches_diffusers(sample_size, patch_size, dim):
    torch.manual_seed(0)
    ours = PatchEmbed(sample_size, patch_size, 4, dim)
    theirs = DiffusersPatchEmbed(
        height=sample_size, width=sample_size, patch_size=patch_size, in_channels=4, embed_dim=dim
    )
    with torch.no_grad():
        theirs.proj.weight.copy_(ours.proj.weight)
        theirs.proj.bias.copy_(ours.proj.bias)
    x = torch.randn(3, 4, sample_size, sample_size, generator=torch.Generator().manual_seed(1))
    assert_same_function(ours.pos_embed, theirs.pos_embed)
    assert_same_function(ours(x), theirs(x))


def test_pos_table_matches_diffusers_dit_model():
    model = build_diffusers_dit("DiT-XL/2", device="cpu", num_layers=1)
    theirs = model.pos_embed.pos_embed[0]
    assert theirs.shape == (256, 1152)
    assert_same_function(get_2d_sincos_pos_embed(1152, 16), theirs)


def test_pos_table_matches_diffusers_function_with_base_size():
    for grid, base in [(16, 16), (8, 16), (32, 16), (12, 12)]:
        ours = get_2d_sincos_pos_embed(64, grid, base_size=base)
        theirs = diffusers_2d_sincos(64, grid, base_size=base)
        assert_same_function(ours, theirs)


def test_timestep_embedding_matches_diffusers_with_shift_zero():
    t = torch.tensor([0.0, 1.0, 17.5, 999.0])
    ours = timestep_embedding(t, 256)
    theirs = get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0)
    assert_same_function(ours, theirs)
    # diffusers' DiT default (shift 1) is a different table: frequencies differ slightly
    default = get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=1)
    assert (ours - default).abs().max() > 1e-2


def test_block_matches_diffusers_ada_norm_zero_block():
    dim, heads = 64, 4
    torch.manual_seed(0)
    ours = DiTBlock(dim, heads)
    theirs = BasicTransformerBlock(
        dim,
        heads,
        dim // heads,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=10,
        attention_bias=True,
        norm_type="ada_norm_zero",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
    ).eval()
    randomize(ours, seed=1)
    randomize(theirs, seed=2)  # embedder weights inside norm1.emb
    copy_block(ours, theirs)

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 16, dim, generator=gen)
    t = torch.tensor([10.0, 700.0])
    y = torch.tensor([3, 8])
    c = theirs.norm1.emb(t, y, hidden_dtype=x.dtype)  # the conditioning diffusers computes inside
    gates = ours.adaLN_modulation(c).chunk(6, dim=1)
    assert gates[2].abs().min() > 0 and gates[5].abs().min() > 0  # non-trivial gates

    with torch.no_grad():
        out_ours = ours(x, c)
        out_theirs = theirs(x, timestep=t, class_labels=y)
    assert_same_function(out_ours, out_theirs)
    assert (out_ours - x).abs().max() > 0.1  # far from the identity: the comparison means something


def test_whole_model_matches_diffusers_dit():
    cfg = dict(
        input_size=16,
        patch_size=2,
        in_channels=4,
        hidden_size=64,
        depth=3,
        num_heads=4,
        num_classes=10,
    )
    torch.manual_seed(0)
    ours = DiT(**cfg).eval()
    randomize(ours, seed=1)
    theirs = build_diffusers_dit(
        "DiT-S/2",
        device="cpu",
        num_attention_heads=4,
        attention_head_dim=16,
        num_layers=3,
        sample_size=16,
        num_embeds_ada_norm=10,
        norm_eps=1e-6,
    ).eval()
    with torch.no_grad():
        theirs.pos_embed.proj.weight.copy_(ours.x_embedder.proj.weight)
        theirs.pos_embed.proj.bias.copy_(ours.x_embedder.proj.bias)
        for block_ours, block_theirs in zip(ours.blocks, theirs.transformer_blocks):
            copy_block(block_ours, block_theirs)
            copy_embedders(ours, block_theirs.norm1.emb)  # every block gets the same copy
        theirs.proj_out_1.weight.copy_(ours.final_layer.adaLN_modulation[1].weight)
        theirs.proj_out_1.bias.copy_(ours.final_layer.adaLN_modulation[1].bias)
        theirs.proj_out_2.weight.copy_(ours.final_layer.linear.weight)
        theirs.proj_out_2.bias.copy_(ours.final_layer.linear.bias)

    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, 16, 16, generator=gen)
    t, y = torch.tensor([3.0, 420.0]), torch.tensor([1, 7])
    with torch.no_grad():
        out_ours = ours(x, t, y)
        default_shift = theirs(x, t, y).sample
        for block in theirs.transformer_blocks:
            block.norm1.emb.time_proj.downscale_freq_shift = 0  # DiT's timestep frequencies
        out_theirs = theirs(x, t, y).sample
    assert_same_function(out_ours, out_theirs)
    # diffusers' default frequency shift is a different function: far outside the tolerance.
    assert (out_ours - default_shift).abs().max() > 100 * 1e-5 * out_ours.abs().max()
    assert out_ours.shape == (2, 8, 16, 16)
    assert out_ours.abs().max() > 0.1


def test_embedder_count_matches_diffusers_module_and_explains_gap():
    for D in (384, 1152):
        with torch.device("meta"):
            theirs = CombinedTimestepLabelEmbeddings(1000, D)
        assert embedder_parameters(D) == count_parameters(theirs)
    for name, depth, D in [("DiT-S/2", 12, 384), ("DiT-XL/2", 28, 1152)]:
        gap = count_parameters(build_diffusers_dit(name)) - count_parameters(build_dit(name))
        assert gap == (depth - 1) * embedder_parameters(D)

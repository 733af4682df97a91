"""Patchify, unpatchify, the 2D positional table and the patch embedding."""

import math

import pytest
import torch
from einops import rearrange

from snippets.patchify import (
    PatchEmbed,
    get_1d_sincos_pos_embed,
    get_2d_sincos_pos_embed,
    num_patches,
    patchify,
    unpatchify,
)


def naive_patchify(latent: torch.Tensor, p: int) -> torch.Tensor:
    """Patchify with explicit loops: patches row by row; inside a patch (row, column, channel)."""
    batch, channels, height, width = latent.shape
    tokens = []
    for b in range(batch):
        seq = []
        for i in range(height // p):
            for j in range(width // p):
                values = [
                    latent[b, c, i * p + di, j * p + dj]
                    for di in range(p)
                    for dj in range(p)
                    for c in range(channels)
                ]
                seq.append(torch.stack(values))
        tokens.append(torch.stack(seq))
    return torch.stack(tokens)


@pytest.mark.parametrize("shape,p", [((2, 4, 8, 8), 2), ((1, 3, 12, 8), 4), ((1, 1, 6, 6), 3)])
def test_patchify_matches_loops(shape, p):
    latent = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    assert torch.equal(patchify(latent, p), naive_patchify(latent, p))


@pytest.mark.parametrize("shape,p", [((2, 4, 32, 32), 2), ((3, 4, 16, 24), 4), ((1, 8, 8, 8), 8)])
def test_roundtrip(shape, p):
    latent = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    tokens = patchify(latent, p)
    assert tokens.shape == (shape[0], (shape[2] // p) * (shape[3] // p), p * p * shape[1])
    back = unpatchify(tokens, p, shape[1], shape[2], shape[3])
    assert torch.equal(back, latent)


def test_record_shape_trace():
    """[4, 32, 32] -> 256 patches of 16 values -> [256, 1152] tokens (DiT-XL/2)."""
    latent = torch.randn(1, 4, 32, 32)
    assert patchify(latent, 2).shape == (1, 256, 16)
    with torch.device("meta"):
        embed = PatchEmbed(32, 2, 4, 1152)
    assert embed(latent.to("meta")).shape == (1, 256, 1152)


def test_unpatchify_matches_dit_reshape():
    """DiT's unpatchify: reshape to (N, h, w, p, q, c), permute to (N, c, h, p, w, q)."""
    tokens = torch.randn(2, 16, 2 * 2 * 8)
    n, h, p, c = 2, 4, 2, 8
    reference = (
        tokens.reshape(n, h, h, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(n, c, h * p, h * p)
    )
    assert torch.equal(unpatchify(tokens, 2, 8), reference)


def test_unpatchify_rejects_bad_grid():
    with pytest.raises(ValueError):
        unpatchify(torch.randn(1, 15, 16), 2, 4)
    with pytest.raises(ValueError):
        patchify(torch.randn(1, 4, 9, 8), 2)


def test_token_counts_for_patch_sizes():
    assert [num_patches(64, 64, p) for p in (8, 4, 2)] == [(64 // p) ** 2 for p in (8, 4, 2)]


def test_1d_sincos_formula():
    dim, pos = 8, torch.tensor([0.0, 1.0, 5.0])
    table = get_1d_sincos_pos_embed(dim, pos)
    for m, x in enumerate(pos.tolist()):
        for i in range(dim // 2):
            w = 10000 ** (-i / (dim // 2))
            assert table[m, i].item() == pytest.approx(math.sin(x * w), abs=1e-6)
            assert table[m, dim // 2 + i].item() == pytest.approx(math.cos(x * w), abs=1e-6)


def test_2d_table_is_column_then_row():
    """Token (row r, col c) = [1D(c) | 1D(r)], tokens in row-major order."""
    dim, rows, cols = 16, 3, 5
    table = get_2d_sincos_pos_embed(dim, (rows, cols))
    assert table.shape == (rows * cols, dim)
    for r in range(rows):
        for c in range(cols):
            k = r * cols + c
            expected = torch.cat(
                [
                    get_1d_sincos_pos_embed(dim // 2, torch.tensor([float(c)])),
                    get_1d_sincos_pos_embed(dim // 2, torch.tensor([float(r)])),
                ],
                dim=1,
            )[0]
            assert torch.allclose(table[k], expected)


def test_2d_positions_all_distinct():
    table = get_2d_sincos_pos_embed(64, 16)
    distances = torch.cdist(table, table)
    off_diagonal = distances + torch.eye(256) * 1e9
    assert off_diagonal.min() > 1e-3


def test_base_size_and_interpolation_rescale_positions():
    # positions index / (grid / base) / scale: grid 8 with base 16 = positions 0, 2, 4, ...
    rescaled = get_2d_sincos_pos_embed(32, 8, base_size=16)
    doubled = get_2d_sincos_pos_embed(32, 8, interpolation_scale=0.5)
    assert torch.allclose(rescaled, doubled, atol=1e-6)
    assert not torch.allclose(rescaled, get_2d_sincos_pos_embed(32, 8), atol=1e-3)
    assert torch.equal(get_2d_sincos_pos_embed(32, 8, base_size=8), get_2d_sincos_pos_embed(32, 8))


def test_patch_embed_conv_equals_linear_on_patches():
    """A conv with kernel = stride = p is a Linear applied to each patch (weights reordered)."""
    torch.manual_seed(0)
    embed = PatchEmbed(input_size=16, patch_size=4, in_channels=3, hidden_size=32)
    x = torch.randn(2, 3, 16, 16)
    weight = rearrange(embed.proj.weight, "d c p q -> d (p q c)")  # patchify's value order
    by_linear = patchify(x, 4) @ weight.T + embed.proj.bias + embed.pos_embed
    assert torch.allclose(embed(x), by_linear, atol=1e-5)


def test_patch_embed_pos_table_is_a_buffer():
    embed = PatchEmbed(8, 2, 4, 16)
    assert "pos_embed" not in dict(embed.named_parameters())
    assert torch.equal(embed.pos_embed[0], get_2d_sincos_pos_embed(16, 4))
    # without the table, moving a patch moves its token and nothing else tells them apart
    x = torch.randn(1, 4, 8, 8)
    swapped = x.clone()
    swapped[..., 0:2, 0:2], swapped[..., 0:2, 2:4] = x[..., 0:2, 2:4], x[..., 0:2, 0:2]
    a, b = embed(x), embed(swapped)
    assert torch.allclose(
        a[0, 0] - embed.pos_embed[0, 0], b[0, 1] - embed.pos_embed[0, 1], atol=1e-6
    )
    assert not torch.allclose(a[0, 0], b[0, 1], atol=1e-3)

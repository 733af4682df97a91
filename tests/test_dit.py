"""The DiT block, adaLN-Zero's identity at initialisation, the model, and its parameter count."""

import pytest
import torch

from snippets.dit import (
    DIT_CONFIGS,
    DiT,
    DiTBlock,
    FinalLayer,
    LabelEmbedder,
    build_dit,
    modulate,
    timestep_embedding,
)
from snippets.params import count_parameters, parameter_breakdown


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def test_fresh_block_is_identity_then_learns():
    torch.manual_seed(0)
    block = DiTBlock(hidden_size=64, num_heads=4)
    x = torch.randn(4, 16, 64, generator=seeded(1))
    c = torch.randn(4, 64, generator=seeded(2))
    assert torch.equal(block(x, c), x)

    target = torch.randn(4, 16, 64, generator=seeded(3))
    loss = ((block(x, c) - target) ** 2).mean()
    loss.backward()
    gate_grad = block.adaLN_modulation[-1].weight.grad
    # Why one step is enough: out = x + alpha * F(modulated x), with alpha = Linear(SiLU(c)) = 0.
    # dL/dalpha = dL/dout * F(...), which is not zero even though alpha is; so the zeroed linear
    # layer receives a nonzero gradient (rows of alpha only: shift and scale are multiplied by
    # alpha downstream, so their gradient is exactly zero, as is every attention and MLP weight's).
    alpha_rows = torch.cat([gate_grad[128:192], gate_grad[320:384]])  # gate_msa, gate_mlp
    assert alpha_rows.abs().sum() > 0
    others = torch.cat([gate_grad[0:128], gate_grad[192:320]])  # shifts and scales
    assert torch.equal(others, torch.zeros_like(others))
    assert torch.equal(block.attn.qkv.weight.grad, torch.zeros_like(block.attn.qkv.weight))
    assert torch.equal(block.mlp.fc1.weight.grad, torch.zeros_like(block.mlp.fc1.weight))

    torch.optim.SGD(block.parameters(), lr=0.1).step()
    out = block(x, c)
    assert not torch.equal(out, x)
    assert ((out - target) ** 2).mean() < loss  # and the step went downhill


def test_block_without_zero_init_is_not_identity():
    block = DiTBlock(32, 4)
    torch.nn.init.normal_(block.adaLN_modulation[-1].weight, std=0.1)
    x, c = torch.randn(2, 8, 32), torch.randn(2, 32)
    assert not torch.allclose(block(x, c), x, atol=1e-3)


def test_modulate_broadcasts_per_sample():
    x = torch.randn(2, 3, 4)
    shift, scale = torch.randn(2, 4), torch.randn(2, 4)
    out = modulate(x, shift, scale)
    for b in range(2):
        for token in range(3):
            assert torch.allclose(out[b, token], x[b, token] * (1 + scale[b]) + shift[b])


def test_timestep_embedding_formula():
    t = torch.tensor([3.0, 250.5])
    emb = timestep_embedding(t, 6, max_period=100)
    freqs = [100 ** (-i / 3) for i in range(3)]
    for n, tn in enumerate(t.tolist()):
        expected = [torch.cos(torch.tensor(tn * f)) for f in freqs] + [
            torch.sin(torch.tensor(tn * f)) for f in freqs
        ]
        assert torch.allclose(emb[n], torch.stack(expected), atol=1e-5)
    assert timestep_embedding(t, 7).shape == (2, 7)


def test_label_dropout_only_in_training():
    embedder = LabelEmbedder(num_classes=10, hidden_size=8, dropout_prob=0.5)
    labels = torch.arange(10).repeat(20)
    dropped = embedder.token_drop(labels, generator=seeded(0))
    assert 0 < (dropped == 10).sum() < len(labels)
    assert torch.equal(dropped[dropped != 10], labels[dropped != 10])
    embedder.eval()
    assert torch.equal(embedder(labels), embedder.embedding_table(labels))
    assert LabelEmbedder(10, 8, dropout_prob=0.0).embedding_table.num_embeddings == 10


def small_dit(**kw):
    torch.manual_seed(0)
    args = dict(
        input_size=8,
        patch_size=2,
        in_channels=4,
        hidden_size=32,
        depth=2,
        num_heads=4,
        num_classes=10,
    )
    args.update(kw)
    return DiT(**args)


def test_dit_shapes_and_zero_output_at_init():
    model = small_dit()
    x = torch.randn(3, 4, 8, 8)
    t, y = torch.tensor([1.0, 50.0, 999.0]), torch.tensor([0, 5, 9])
    out = model(x, t, y)
    assert out.shape == (3, 8, 8, 8)  # learn_sigma doubles the channels
    assert torch.equal(out, torch.zeros_like(out))  # final layer starts at zero
    assert small_dit(learn_sigma=False)(x, t, y).shape == (3, 4, 8, 8)
    assert small_dit(patch_size=4)(x, t, y).shape == (3, 8, 8, 8)


def test_dit_trains_and_uses_the_label():
    model = small_dit(learn_sigma=False, class_dropout_prob=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.randn(8, 4, 8, 8, generator=seeded(0))
    t = torch.full((8,), 10.0)
    y = torch.arange(8)
    target = torch.randn(8, 4, 8, 8, generator=seeded(1))
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(x, t, y) - target) ** 2).mean()
        loss.backward()
        opt.step()
    assert loss < 0.9  # started at 1 (zero output vs unit-variance target)
    assert not torch.allclose(model(x, t, y), model(x, t, (y + 1) % 10), atol=1e-4)


def test_forward_with_cfg():
    model = small_dit()
    for p in model.final_layer.parameters():  # make the output depend on the label
        torch.nn.init.normal_(p, std=0.1)
    for block in model.blocks:
        torch.nn.init.normal_(block.adaLN_modulation[-1].weight, std=0.1)
    model.eval()
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([5.0, 5.0]), torch.tensor([1, 2])
    cond, uncond = model(x, t, y), model(x, t, torch.full_like(y, 10))
    assert torch.allclose(model.forward_with_cfg(x, t, y, 1.0), cond, atol=1e-6)
    guided = model.forward_with_cfg(x, t, y, 4.0)
    assert torch.allclose(
        guided[:, :4], uncond[:, :4] + 4.0 * (cond[:, :4] - uncond[:, :4]), atol=1e-5
    )
    assert torch.allclose(guided[:, 4:], cond[:, 4:], atol=1e-6)


def test_final_layer_zero():
    out = FinalLayer(16, 2, 3)(torch.randn(1, 4, 16), torch.randn(1, 16))
    assert out.shape == (1, 4, 12) and not out.any()


def dit_parameters_by_formula(
    depth, D, p, C=4, classes=1000, freq=256, learn_sigma=True, mlp_ratio=4
):
    """An independent count of DiT's parameters, layer by layer (weights + biases)."""
    out_channels = 2 * C if learn_sigma else C
    hidden = mlp_ratio * D
    attention = (D * 3 * D + 3 * D) + (D * D + D)  # qkv, output projection
    mlp = (D * hidden + hidden) + (hidden * D + D)
    adaln = D * 6 * D + 6 * D  # shift, scale, gate for two sub-layers
    per_block = attention + mlp + adaln
    patch_embed = C * p * p * D + D  # conv with kernel p x p
    t_embed = (freq * D + D) + (D * D + D)
    y_embed = (classes + 1) * D  # + the null class
    final = (D * 2 * D + 2 * D) + (D * p * p * out_channels + p * p * out_channels)
    return depth * per_block + patch_embed + t_embed + y_embed + final


@pytest.mark.parametrize("name", sorted(DIT_CONFIGS))
def test_parameter_count_matches_formula(name):
    cfg = DIT_CONFIGS[name]
    model = build_dit(name)  # meta device: no memory
    assert next(model.parameters()).device.type == "meta"
    expected = dit_parameters_by_formula(cfg["depth"], cfg["hidden_size"], cfg["patch_size"])
    assert count_parameters(model) == expected
    assert sum(parameter_breakdown(model).values()) == expected


def test_per_block_formula_is_18_d_squared():
    D = 1152
    block = build_dit("DiT-XL/2").blocks[0]
    assert count_parameters(block) == 18 * D * D + 15 * D


def test_dit_xl_2_meta_forward_trace():
    model = build_dit("DiT-XL/2")
    x = torch.empty(2, 4, 32, 32, device="meta")
    tokens = model.x_embedder(x)
    assert tokens.shape == (2, 256, 1152)
    c = model.condition(
        torch.empty(2, device="meta"), torch.zeros(2, dtype=torch.long, device="meta")
    )
    assert c.shape == (2, 1152)
    assert model.blocks[0](tokens, c).shape == (2, 256, 1152)
    assert model.final_layer(tokens, c).shape == (2, 256, 2 * 2 * 8)
    assert model(
        x, torch.empty(2, device="meta"), torch.zeros(2, dtype=torch.long, device="meta")
    ).shape == (
        2,
        8,
        32,
        32,
    )


def test_configs_are_the_twelve_models():
    assert len(DIT_CONFIGS) == 12
    assert DIT_CONFIGS["DiT-S/8"] == dict(depth=12, hidden_size=384, num_heads=6, patch_size=8)
    with pytest.raises(KeyError):
        build_dit("DiT-M/2")

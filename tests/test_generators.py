"""The tiny digit generators: blocks, training smoke tests, determinism, sampling (snippets.digits.training)."""

from __future__ import annotations

import pytest
import torch
from numerics import assert_same_function
from torch import nn

from snippets import attention
from snippets.attention import record_attention
from snippets.digits.evaluation import parameter_groups
from snippets.digits.scenes import scene_tokenizer
from snippets.digits.training import (
    KINDS,
    TRAIN_PARAMS,
    Conditioner,
    GeneratorConfig,
    build_generator,
    cpu_threads,
    load_trained,
    sample_digits,
    save_trained,
    train_generator,
)
from snippets.mmdit import DIFFUSERS_NAMES as MMDIT_NAMES
from snippets.mmdit import MMDiT, MMDiTBlock
from snippets.naming import to_diffusers
from snippets.single_stream import DIFFUSERS_NAMES as SINGLE_STREAM_NAMES
from snippets.single_stream import SingleStreamBlock, SingleStreamDiT

TINY = dict(hidden_size=32, depth=2, num_heads=4, batch_size=16)
PAIRS = torch.tensor([[3, 7], [7, 3], [0, 9], [5, 5]])


def _requests(kind: str, n: int = 4) -> torch.Tensor:
    """What a model is asked for: class labels (DiT) or scene pairs (text models)."""
    return torch.arange(n) if kind == "dit" else PAIRS[:n]


def _shape(kind: str, n: int, size: int = 8) -> tuple[int, ...]:
    return (n, 1, size, size if kind == "dit" else 2 * size)


def _randomize(module: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("kind", KINDS)
def test_smoke_training_shapes(kind):
    trained = train_generator(GeneratorConfig(kind, steps=12, **TINY))
    assert len(trained.losses) == 2 and all(torch.isfinite(torch.tensor(trained.losses)))
    assert trained.parameters == sum(p.numel() for p in trained.model.parameters())
    x = sample_digits(trained.model, kind, _requests(kind), steps=2, guidance_scale=2.0)
    assert x.shape == _shape(kind, 4) and torch.isfinite(x).all()
    # training moved the weights away from the (zero-initialised) output layer
    assert any(p.abs().sum() > 0 for n, p in trained.model.named_parameters() if "final_layer" in n)


@pytest.mark.parametrize("kind", KINDS)
def test_seeded_training_is_bit_identical(kind):
    with cpu_threads("cpu"):  # the thread count the pipeline trains with
        a = train_generator(GeneratorConfig(kind, steps=6, **TINY)).model.state_dict()
        b = train_generator(GeneratorConfig(kind, steps=6, **TINY)).model.state_dict()
        c = train_generator(GeneratorConfig(kind, steps=6, seed=1, **TINY)).model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_training_does_not_touch_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_generator(GeneratorConfig("dit", steps=3, **TINY))
    assert torch.equal(torch.rand(3), expected)


def test_gpu_profile_shapes_on_cpu():
    """The GPU profile's 16x16 path, shrunk to a few steps of a tiny model so it runs here."""
    params = {**TRAIN_PARAMS["dit"]["gpu"], **TINY, "steps": 2}
    assert params["size"] == 16
    for kind in KINDS:
        trained = train_generator(GeneratorConfig(kind, **params))
        x = sample_digits(trained.model, kind, _requests(kind, 3), steps=2, size=16)
        assert x.shape == _shape(kind, 3, size=16)


def _host_reads(monkeypatch) -> list[str]:
    """Record every read of a tensor's value back into Python (what makes a host wait for a GPU)."""
    reads = []
    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        real = getattr(torch.Tensor, name)

        def spy(self, *args, _real=real, _name=name):
            reads.append(_name)
            return _real(self, *args)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return reads


@pytest.mark.parametrize("kind", KINDS)
def test_training_reads_nothing_back_per_step(kind, monkeypatch):
    """The loop runs on the CPU here, but the same code on a GPU must not wait for the device
    at every step: the number of host reads does not grow with the number of steps."""
    counts = []
    for steps in (4, 24):
        reads = _host_reads(monkeypatch)
        train_generator(GeneratorConfig(kind, steps=steps, **TINY))
        counts.append(len(reads))
        monkeypatch.undo()
    assert counts[0] == counts[1], counts  # setup reads (the caption table) only


def test_loss_curve_is_the_mean_of_every_ten_steps():
    """The curve kept on the device equals Python floats summed step by step, bit for bit."""
    from snippets.digits.training import LossCurve

    losses = torch.rand(37, generator=torch.Generator().manual_seed(0))
    curve = LossCurve("cpu")
    for i, loss in enumerate(losses):
        curve.add(loss, last=i == len(losses) - 1)
    expected, running = [], 0.0
    for i, loss in enumerate(losses.tolist()):
        running += loss
        if (i + 1) % 10 == 0 or i == len(losses) - 1:
            expected.append(running / ((i % 10) + 1))
            running = 0.0
    assert curve.values() == expected


@pytest.mark.parametrize("kind", ["dit", "mmdit"])
def test_sampling_in_batches_draws_the_same_samples(kind):
    """The CPU samples in batches of ``CPU_SAMPLE_BATCH``, a GPU all at once: the same images."""
    model = build_generator(GeneratorConfig(kind, **TINY))
    _randomize(model)
    wanted = _requests(kind).repeat(5, *([1] * (_requests(kind).dim() - 1)))
    whole = sample_digits(model, kind, wanted, steps=3, batch_size=len(wanted))
    parts = sample_digits(model, kind, wanted, steps=3, batch_size=3)
    torch.testing.assert_close(parts, whole, rtol=1e-5, atol=1e-5)


def test_save_and_load_round_trip(tmp_path):
    trained = train_generator(GeneratorConfig("mmdit", steps=3, **TINY))
    save_trained(trained, tmp_path)
    model, info = load_trained(tmp_path)
    assert info["parameters"] == trained.parameters
    noise = torch.randn(4, 1, 8, 16)
    a = sample_digits(trained.model, "mmdit", PAIRS, 3, noise=noise)
    b = sample_digits(model, "mmdit", PAIRS, 3, noise=noise)
    assert torch.equal(a, b)


def test_conditioner_captions_and_null():
    text = Conditioner("single-stream")
    tok = scene_tokenizer()
    ids = text(torch.tensor([[1, 8], [1, 8]]), torch.tensor([0, 2]))
    assert [tok.decode(r) for r in ids] == ["one left of eight", "left one right eight"]
    assert [tok.decode(r) for r in text(torch.tensor([[8, 1]]))] == ["eight left of one"]
    assert (text.null == tok.pad_id).all() and text.null.shape == (tok.max_length,)
    assert Conditioner("dit").null.item() == 10


def test_mmdit_block_is_identity_at_init_and_streams_talk_after():
    block = MMDiTBlock(32, num_heads=4)
    img, txt, c = torch.randn(2, 16, 32), torch.randn(2, 4, 32), torch.randn(2, 32)
    out_img, out_txt = block(img, txt, c)
    assert torch.equal(out_img, img) and torch.equal(out_txt, txt)
    _randomize(block)
    base, _ = block(img, txt, c)
    other_txt = txt.clone()
    other_txt[:, 0] = torch.randn(2, 32)  # change one text token: every image token must notice
    changed, _ = block(img, other_txt, c)
    assert ((changed - base).abs().amax(dim=-1) > 0).all()


def test_mmdit_block_matches_diffusers_joint_transformer_block():
    from diffusers.models.attention import JointTransformerBlock

    dim, heads = 48, 4
    ours = MMDiTBlock(dim, heads)
    _randomize(ours, seed=1)
    theirs = JointTransformerBlock(dim, heads, dim // heads, context_pre_only=False)

    theirs.load_state_dict(to_diffusers(ours.state_dict(), MMDIT_NAMES), strict=True)
    n_ours = sum(p.numel() for p in ours.parameters())
    assert n_ours == sum(p.numel() for p in theirs.parameters())

    g = torch.Generator().manual_seed(2)
    img, txt, c = (torch.randn(s, generator=g) for s in ((2, 16, dim), (2, 5, dim), (2, dim)))
    out_img, out_txt = ours(img, txt, c)
    ref_txt, ref_img = theirs(hidden_states=img, encoder_hidden_states=txt, temb=c)
    assert_same_function(out_img, ref_img)
    assert_same_function(out_txt, ref_txt)


def test_attention_maps_are_distributions_over_text_and_image():
    model = MMDiT(hidden_size=32, depth=2, num_heads=4, text_dim=24)
    _randomize(model)
    args = (torch.randn(2, 1, 8, 8), torch.rand(2), torch.randn(2, 4, 24))
    with record_attention() as maps:
        out = model(*args)
    assert torch.allclose(out, model(*args), atol=1e-5)  # recording does not change the output
    assert len(maps) == 2 and maps[0].shape == (2, 4, 20, 20)
    assert torch.allclose(maps[0].sum(-1), torch.ones(2, 4, 20), atol=1e-5)
    assert not attention._recorders  # the recorder is gone after the block


def test_explicit_attention_equals_fused_kernel():
    model = SingleStreamDiT(hidden_size=32, depth=2, num_heads=4, text_dim=24)
    _randomize(model)
    args = (torch.randn(2, 1, 8, 8), torch.rand(2), torch.randn(2, 4, 24))
    with record_attention() as maps:
        with_maps = model(*args)
    assert len(maps) == 2 + 2  # one refiner per modality, then two main blocks
    assert_same_function(with_maps, model(*args))


def test_single_stream_shares_weights_across_modalities():
    block = SingleStreamBlock(32, num_heads=4, modulation=True, adaln_dim=32)
    x, c = torch.randn(2, 20, 32), torch.randn(2, 32)
    assert torch.equal(block(x, c), x)  # tanh(0) gates: identity at initialisation
    _randomize(block)
    # the same weights act on every token: permuting the sequence permutes the output
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(block(x, c)[:, perm], block(x[:, perm], c), atol=1e-5)
    model = SingleStreamDiT(hidden_size=32, depth=2, num_heads=4, n_refiner_layers=2)
    groups = parameter_groups(model)
    assert groups["image only"] == groups["text only"] + 2 * sum(
        p.numel() for p in model.noise_refiner[0].adaLN_modulation.parameters()
    )  # refiners are alike except the context refiner has no adaLN
    mm = parameter_groups(MMDiT(hidden_size=32, depth=2, num_heads=4))
    assert mm["shared by both"] == 0 and mm["image only"] == mm["text only"]


def test_sampling_is_deterministic_and_seed_dependent():
    model = build_generator(GeneratorConfig("dit", **TINY))
    _randomize(model)
    labels = torch.arange(10)
    a = sample_digits(model, "dit", labels, 4, seed=3)
    assert torch.equal(a, sample_digits(model, "dit", labels, 4, seed=3))
    assert not torch.equal(a, sample_digits(model, "dit", labels, 4, seed=4))


@pytest.mark.parametrize("modulation", [True, False])
def test_single_stream_block_matches_diffusers_z_image_block(modulation):
    from diffusers.models.transformers.transformer_z_image import ZImageTransformerBlock

    dim, heads = 64, 4
    adaln_dim = min(dim, 256)  # Z-Image's ADALN_EMBED_DIM bottleneck
    ours = SingleStreamBlock(dim, heads, modulation=modulation, adaln_dim=adaln_dim)
    _randomize(ours, seed=3)
    theirs = ZImageTransformerBlock(
        0, dim, heads, heads, norm_eps=1e-5, qk_norm=True, modulation=modulation
    )
    theirs.load_state_dict(to_diffusers(ours.state_dict(), SINGLE_STREAM_NAMES), strict=True)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())

    g = torch.Generator().manual_seed(4)
    x, c = torch.randn(2, 20, dim, generator=g), torch.randn(2, adaln_dim, generator=g)
    out = ours(x, c if modulation else None)
    ref = theirs(x, attn_mask=None, freqs_cis=None, adaln_input=c if modulation else None)
    assert_same_function(out, ref)

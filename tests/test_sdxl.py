"""Lesson 1 (SDXL): traced shapes match the real configurations; our conditioning route is diffusers';
the trained micro-conditioning demo moves in the asked directions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from artifacts.sdxl.microcond_effects import effect_sentences
from snippets.digits.microcond import (
    MicroCondConfig,
    centre_of_mass,
    degrade,
    random_conditions,
    sample_microcond,
    sharpness,
    train_microcond,
)
from snippets.sdxl import (
    CLIP_VIT_L,
    OPENCLIP_BIGG,
    SDXL_BASE_UNET,
    SDXL_REFINER_UNET,
    TINY_WIDTHS,
    build_unet,
    tiny_sdxl_pipeline,
)
from snippets.sdxl_conditioning import MicroConditioning, add_time_ids, refiner_split
from tests.numerics import assert_same_function


@pytest.fixture(scope="module")
def pipe():
    return tiny_sdxl_pipeline()


def test_tiny_pipeline_context_is_the_two_encoders_side_by_side(pipe):
    prompt_embeds, _, pooled, _ = pipe.encode_prompt(
        "a photo of a cat", device="cpu", do_classifier_free_guidance=False
    )
    ids = pipe.tokenizer(
        "a photo of a cat", padding="max_length", max_length=77, return_tensors="pt"
    ).input_ids
    first = pipe.text_encoder(ids, output_hidden_states=True).hidden_states[-2]
    out2 = pipe.text_encoder_2(ids, output_hidden_states=True)
    second = out2.hidden_states[-2]
    assert prompt_embeds.shape == (1, 77, sum(TINY_WIDTHS))
    assert_same_function(prompt_embeds, torch.cat([first, second], dim=-1))
    # pooled: the final layer at the first end-of-text token, normed, then text_projection
    eos = (ids[0] == pipe.tokenizer.eos_token_id).nonzero()[0, 0]
    last = pipe.text_encoder_2.text_model.final_layer_norm(out2.hidden_states[-1])
    assert_same_function(pooled, pipe.text_encoder_2.text_projection(last[:, eos]))


def test_real_widths_match_the_traced_route():
    unet = build_unet(SDXL_BASE_UNET)
    attn2 = unet.down_blocks[1].attentions[0].transformer_blocks[0].attn2
    assert attn2.to_k.in_features == CLIP_VIT_L["hidden_size"] + OPENCLIP_BIGG["hidden_size"]
    ids = add_time_ids((1024, 1024), (0, 0), (1024, 1024))
    assert (
        unet.add_embedding.linear_1.in_features
        == ids.shape[1] * unet.config.addition_time_embed_dim + OPENCLIP_BIGG["projection_dim"]
    )
    assert unet.add_embedding.linear_2.out_features == unet.time_embedding.linear_2.out_features
    refiner = build_unet(SDXL_REFINER_UNET)
    attn2 = refiner.down_blocks[1].attentions[0].transformer_blocks[0].attn2
    assert attn2.to_k.in_features == OPENCLIP_BIGG["hidden_size"]
    assert refiner.add_embedding.linear_1.in_features == 5 * 256 + OPENCLIP_BIGG["projection_dim"]


def test_micro_conditioning_equals_diffusers_add_embedding(pipe):
    unet = pipe.unet
    torch.manual_seed(0)
    for p in unet.add_embedding.parameters():
        torch.nn.init.normal_(p, std=0.5)
    ours = MicroConditioning(
        pooled_dim=TINY_WIDTHS[1],
        n_ids=6,
        id_dim=unet.config.addition_time_embed_dim,
        out_dim=unet.add_embedding.linear_2.out_features,
    )
    ours.load_state_dict(
        {f"add_embedding.{k}": v for k, v in unet.add_embedding.state_dict().items()}
    )
    pooled = torch.randn(2, TINY_WIDTHS[1])
    ids = torch.cat(
        [
            add_time_ids((512, 768), (16, 0), (1024, 1024)),
            add_time_ids((1024, 1024), (0, 0), (1024, 1024)),
        ]
    )
    expected = unet.get_aug_embed(torch.zeros(2, 1), None, {"text_embeds": pooled, "time_ids": ids})
    assert_same_function(ours(pooled, ids), expected)


def test_refiner_split_covers_the_schedule_once():
    for steps in (10, 25, 40):
        base, refiner, cutoff = refiner_split(steps, 0.8)
        assert len(base) + len(refiner) == steps
        assert min(base) >= cutoff > max(refiner)


def test_degrade_blurs_and_shifts():
    x = torch.full((1, 1, 8, 8), -1.0)
    x[0, 0, 2:6, 3:5] = 1.0
    full = degrade(x, torch.tensor([8]), torch.zeros(1, 2, dtype=torch.long), 3)
    small = degrade(x, torch.tensor([4]), torch.zeros(1, 2, dtype=torch.long), 3)
    shifted = degrade(x, torch.tensor([8]), torch.tensor([[1, 2]]), 3)
    assert torch.equal(full, x)
    assert sharpness(small) < sharpness(full)
    assert torch.allclose(centre_of_mass(shifted), centre_of_mass(x) - torch.tensor([1.0, 2.0]))


def test_small_trained_model_follows_its_conditions():
    """A quickly trained model: asked small it is blurrier; asked an offset its digits move up-left."""
    config = MicroCondConfig(hidden_size=48, depth=2, steps=500, batch_size=64, lr=5e-3)
    torch.set_num_threads(2)
    model = train_microcond(config).model
    n = 100
    labels = torch.arange(n) % 10
    zero = torch.zeros(n, 2, dtype=torch.long)
    sharp = sample_microcond(model, labels, torch.full((n,), 8), zero, seed=1)
    blurry = sample_microcond(model, labels, torch.full((n,), 3), zero, seed=1)
    moved = sample_microcond(model, labels, torch.full((n,), 8), torch.full((n, 2), 3), seed=1)
    assert sharpness(blurry).mean() < sharpness(sharp).mean()
    shift = centre_of_mass(moved).mean(0) - centre_of_mass(sharp).mean(0)
    assert (shift < 0).all()


def test_random_conditions_leave_some_digits_clean():
    config = MicroCondConfig()
    original, crop = random_conditions(2000, config, torch.Generator().manual_seed(0))
    clean = (original == config.size) & (crop == 0).all(1)
    assert 0.2 < clean.float().mean() < 0.5


def test_produced_effects_point_the_right_way(built_site):
    """The page's numbers, as the build's pipeline produced them, show both effects."""
    path = Path(__file__).parents[1] / "docs/generated/sdxl-microcond-effects/effects.json"
    effects = json.loads(path.read_text())
    sizes = effects["size"]
    assert sizes[0]["sharpness"] < sizes[-1]["sharpness"]
    assert sizes[0]["data_sharpness"] < sizes[-1]["data_sharpness"]
    crops = effects["crop"]
    assert crops[0]["offset"] == 0 and all(
        c["shift"][0] < 0 and c["shift"][1] < 0 for c in crops[1:]
    )


def _effects(sharp, data_sharp, shift, data_shift):
    """An ``effects.json``-shaped dict: two sizes (3 and 8 px), crops (0, 0) and (3, 3)."""
    return {
        "size": [
            {"original": o, "sharpness": a, "data_sharpness": b}
            for o, a, b in zip((3, 8), sharp, data_sharp)
        ],
        "crop": [
            {"offset": 0, "shift": [0.0, 0.0], "data_shift": [0.0, 0.0]},
            {"offset": 3, "shift": shift, "data_shift": data_shift},
        ],
    }


def test_result_sentences_follow_the_measurement_both_ways():
    """The page's words about the trained model come from the numbers, direction included."""
    learned = effect_sentences(_effects((0.1, 0.3), (0.1, 0.4), [-1.0, -2.0], [-1.5, -2.5]))
    assert "get sharper" in learned["size"] and "rises" in learned["size"]
    assert "1.00 px up and 2.00 px left" in learned["crop"]
    assert "learned which kind of digit" in learned["verdict"]

    reversed_ = effect_sentences(_effects((0.3, 0.1), (0.1, 0.4), [1.0, -2.0], [-1.5, -2.5]))
    assert "get blurrier" in reversed_["size"] and "falls" in reversed_["size"]
    assert "1.00 px down" in reversed_["crop"]
    assert "did not learn those conditions" in reversed_["verdict"]
    assert "learned which kind of digit" not in reversed_["verdict"]

    crop_only = effect_sentences(_effects((0.1, 0.3), (0.1, 0.4), [0.5, -2.0], [-1.5, -2.5]))
    assert "follow the data on size, but not on the crop" in crop_only["verdict"]


def test_produced_findings_are_the_measurement_in_words(built_site):
    """``findings.md`` on the page says what ``effects.json`` holds, no more."""
    folder = Path(__file__).parents[1] / "docs/generated/sdxl-microcond-effects"
    effects = json.loads((folder / "effects.json").read_text())
    findings = (folder / "findings.md").read_text()
    for sentence in effect_sentences(effects).values():
        assert sentence in findings

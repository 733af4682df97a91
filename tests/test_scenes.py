"""The two-digit scenes world of lessons 3 and 4: data, scorer, frozen encoder, shared weights,
evaluation, and the stored results the pages state (snippets.digits.scenes, artifacts.digits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snippets.digits.data import default_evaluator
from snippets.digits.evaluation import (
    attention_at,
    average_scenes,
    compare_seeds,
    scene_requests,
    scene_scores,
)
from snippets.digits.scenes import (
    HELD_OUT_PAIRS,
    SEEN_PAIRS,
    SceneSampler,
    caption,
    compose,
    halves,
    placement,
    region_of_tokens,
    scene_text_encoder,
    scene_tokenizer,
    word_region_shares,
)
from snippets.digits.training import GeneratorConfig, build_generator, train_generator
from snippets.mmdit import MMDiT

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "docs" / "generated"
TINY = dict(hidden_size=32, depth=1, num_heads=4, batch_size=16)


# --------------------------------------------------------------------------- the world


def test_held_out_pairs_are_never_drawn_and_every_digit_plays_both_sides():
    assert not set(SEEN_PAIRS) & set(HELD_OUT_PAIRS)
    assert len(SEEN_PAIRS) + len(HELD_OUT_PAIRS) == 100
    for pairs in (SEEN_PAIRS, HELD_OUT_PAIRS):
        for side in (0, 1):
            assert {p[side] for p in pairs} == set(range(10))
    sampler = SceneSampler(default_evaluator().split)
    _, _, pairs = sampler.draw(2000, torch.Generator().manual_seed(0))
    assert {tuple(p) for p in pairs.tolist()} == set(SEEN_PAIRS)  # all seen, none held out


def test_sampler_is_deterministic_and_its_captions_name_its_pairs():
    sampler = SceneSampler(default_evaluator().split)
    a = sampler.draw(64, torch.Generator().manual_seed(3))
    b = sampler.draw(64, torch.Generator().manual_seed(3))
    c = sampler.draw(64, torch.Generator().manual_seed(4))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    x, ids, pairs = a
    tok = scene_tokenizer()
    texts = [tok.decode(r) for r in ids]
    for text, (left, right) in zip(texts, pairs.tolist()):
        assert text in {caption(left, right, k) for k in range(4)}
    assert len(set(texts)) > 20  # phrasings and pairs vary
    # each half is a real training digit of the named class
    split = default_evaluator().split
    left, _ = halves(x)
    for image, label in zip(left[:8], pairs[:8, 0]):
        matches = (split.train_x == image).flatten(1).all(1)
        assert matches.any() and (split.train_y[matches] == label).all()


def test_same_words_in_another_order_are_another_caption():
    tok = scene_tokenizer()
    assert sorted(tok.encode(caption(3, 7))) == sorted(tok.encode(caption(7, 3)))
    assert tok.encode(caption(3, 7)) != tok.encode(caption(7, 3))
    assert caption(3, 7, 0) != caption(3, 7, 1)  # phrasings of one scene differ in words


# --------------------------------------------------------------------------- the scorer


def _correctly_classified():
    ev = default_evaluator()
    x, y = ev.split.test_x, ev.split.test_y
    ok = ev.classifier(x).argmax(1) == y
    return ev, x[ok], y[ok]


def test_placement_on_hand_made_scenes():
    ev, x, y = _correctly_classified()
    n = 60
    left, right = x[:n], x[n : 2 * n]
    yl, yr = y[:n], y[n : 2 * n]
    scenes = compose(left, right)
    # every digit is one the classifier reads right: the true pairs score exactly 1
    assert placement(ev.classifier, scenes, torch.stack([yl, yr], 1)) == {
        "both": 1.0,
        "left": 1.0,
        "right": 1.0,
    }
    # the caption read backwards: every scene whose two digits differ fails
    differ = (yl != yr).float().mean().item()
    swapped = placement(ev.classifier, scenes, torch.stack([yr, yl], 1))
    assert swapped["both"] == pytest.approx(1 - differ)
    # the right half blanked: the left still counts, the scene does not
    blank = compose(left, torch.full_like(right, -1.0))
    scores = placement(ev.classifier, blank, torch.stack([yl, (yr + 1) % 10], 1))
    assert scores["left"] == 1.0 and scores["both"] <= scores["right"] < 0.5


def test_word_region_shares_read_text_first_maps():
    ids = scene_tokenizer()(["right seven left three"])  # three on the left, seven on the right
    pairs = torch.tensor([[3, 7]])
    regions = region_of_tokens(2, 4, 1)  # 8 image tokens: columns 0-1 left, 2-3 right
    n = 4 + 8
    probs = torch.full((1, 2, n, n), 1 / n)  # blind to place: one half each
    assert word_region_shares(probs, ids, pairs, regions) == {
        "word_to_region": pytest.approx(0.5),
        "region_to_word": pytest.approx(0.5),
    }
    # "seven" (position 1) looks only at the right half, "three" (position 3) at the left
    probs[0, :, 1, 4:] = torch.where(regions == 1, 0.25, 0.0)
    probs[0, :, 3, 4:] = torch.where(regions == 0, 0.25, 0.0)
    assert word_region_shares(probs, ids, pairs, regions)["word_to_region"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- the models


def test_frozen_text_encoder_stays_frozen_through_training():
    fresh = scene_text_encoder()
    trained = train_generator(GeneratorConfig("mmdit", steps=4, **TINY)).model
    assert not any(p.requires_grad for p in trained.text_encoder.parameters())
    for (name, a), (_, b) in zip(
        trained.text_encoder.state_dict().items(), fresh.state_dict().items()
    ):
        assert torch.equal(a, b), name
    # and its features differ from the patch embeddings in scale, as T5's do
    ids = scene_tokenizer()([caption(a, b) for a, b in SEEN_PAIRS])
    feats = fresh(ids)
    noise = torch.randn(8, 1, 8, 16, generator=torch.Generator().manual_seed(0))
    patches = trained.backbone.x_embedder(noise)
    assert feats.std() > 3 * patches.std()


def test_share_weights_really_shares():
    shared = MMDiT((8, 16), 2, 1, 32, 2, 4, text_dim=32, share_weights=True)
    apart = MMDiT((8, 16), 2, 1, 32, 2, 4, text_dim=32)
    for block in shared.blocks:
        assert block.txt_mod is block.img_mod and block.txt_mlp is block.img_mlp
        assert block.attn.txt_qkv is block.attn.img_qkv
        assert block.attn.txt_proj is block.attn.img_proj
    for block in apart.blocks:
        assert block.txt_mlp is not block.img_mlp
    # the same block family and pooled path: the naive model only lacks the text streams
    assert {n for n, _ in shared.named_children()} == {n for n, _ in apart.named_children()}
    text_stream = sum(p.numel() for n, p in apart.blocks.named_parameters() if "txt_" in n)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(apart) - count(shared) == text_stream


def test_scene_scores_are_deterministic_and_use_both_sets():
    model = build_generator(GeneratorConfig("mmdit", **TINY))
    ev = default_evaluator()
    args = (model, "mmdit", ev, ((2, 1.0),), (1, 2), 20)
    a, b = scene_scores(*args), scene_scores(*args)
    assert a == b
    assert [(r["seed"], r["set"]) for r in a] == [
        (1, "seen"),
        (1, "held_out"),
        (2, "seen"),
        (2, "held_out"),
    ]
    avg = average_scenes(a)
    assert avg[(2, 1.0, "seen")]["seeds"] == [1, 2]
    pairs, templates = scene_requests(HELD_OUT_PAIRS, 40)
    assert {tuple(p) for p in pairs.tolist()} == set(HELD_OUT_PAIRS)
    assert set(templates.tolist()) == {0, 1, 2, 3}


def test_compare_seeds_needs_every_seed_apart():
    assert compare_seeds([0.6, 0.7], [0.1, 0.2])["beyond_spread"]
    assert not compare_seeds([0.6, 0.7], [0.1, 0.65])["beyond_spread"]
    assert compare_seeds([0.1, 0.2], [0.6, 0.7])["higher"] == "b"


def test_attention_maps_of_both_text_models_put_text_first():
    for kind in ("mmdit", "single-stream"):
        model = build_generator(GeneratorConfig(kind, hidden_size=32, depth=2, num_heads=4))
        maps, t = attention_at(
            model, kind, torch.tensor([[4, 7]]), 0.5, 4, torch.randn(1, 1, 8, 16)
        )
        assert t == 0.5 and [m.shape for m in maps] == [(1, 4, 36, 36)] * 2
        assert torch.allclose(maps[0].sum(-1), torch.ones(1, 4, 36), atol=1e-5)


# --------------------------------------------------------------------------- stored results


STORED = {
    "digits-scenes-mmdit": "scenes",
    "digits-scenes-naive-concat": "scenes",
    "digits-scenes-single-stream": "scenes",
    "digits-scenes-no-refiners": "scenes",
    "sd3-naive-vs-mmdit": "comparison",
    "zimage-refiners": "comparison",
    "digits-streams": "streams",
    "digits-attention": "attention",
    "digits-same-seed": "same-seed",
}
"""Every artifact whose fragments state a measured result on a page."""


@pytest.fixture(scope="module")
def generated(request) -> Path:
    """``docs/generated``, with the artifacts above in it: built by the site build if missing."""
    if not all((GENERATED / name).is_dir() for name in STORED):
        request.getfixturevalue("built_site")  # the strict build runs the pipeline first
    missing = [name for name in STORED if not (GENERATED / name).is_dir()]
    assert not missing, (
        f"not built: {missing}; run python -m sitetools.pipeline --only {' '.join(missing)}"
    )
    return GENERATED


def _scores(generated: Path, name: str) -> dict:
    return json.loads((generated / name / "scenes.json").read_text())


def _fragment(generated: Path, name: str, file: str) -> str:
    return (generated / name / file).read_text().strip()


@pytest.mark.parametrize("name", [n for n, kind in STORED.items() if kind == "scenes"])
def test_stored_scene_headlines_say_what_their_rows_hold(generated, name):
    from artifacts.digits.models import TEXT_MODEL_NAMES
    from artifacts.digits.scene_scores import model_findings, scores_table

    result = _scores(generated, name)
    model = name.replace("digits-scenes-", "digits-")
    assert result["model"] == model and len(result["seeds"]) >= 3
    rows = result["rows"]
    assert len(rows) == 2 * len(result["cells"]) * len(result["seeds"])
    assert all(r["both"] <= min(r["left"], r["right"]) for r in rows)
    # the page's sentences and table are what the stored per-seed rows give
    assert _fragment(generated, name, "headline.md") == " ".join(
        model_findings(result, TEXT_MODEL_NAMES[model])
    )
    assert _fragment(generated, name, "scenes-table.md") == scores_table(result).strip()


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("sd3-naive-vs-mmdit", "artifacts.sd3_and_flux.naive_vs_mmdit"),
        ("zimage-refiners", "artifacts.z_image.refiners"),
    ],
)
def test_stored_comparisons_say_what_both_models_rows_hold(generated, name, module):
    import importlib

    from artifacts.digits.compare import comparison_findings
    from artifacts.digits.scene_scores import MAIN_CELL, per_seed

    producer = importlib.import_module(module)
    a, b = (
        _scores(generated, artifact.replace("digits-", "digits-scenes-"))
        for artifact in producer.MODELS.values()
    )
    findings = comparison_findings(a, b, producer.SENTENCE_NAMES)
    assert _fragment(generated, name, "headline.md") == " ".join(findings)
    # the held-out claim, checked again from the raw rows: "beyond" only if no seed overlaps
    va, vb = per_seed(a["rows"], MAIN_CELL, "held_out"), per_seed(b["rows"], MAIN_CELL, "held_out")
    apart = min(va) > max(vb) or min(vb) > max(va)
    assert ("beyond the spread" in findings[1]) == apart


def test_stored_streams_attention_and_same_seed_sentences(generated):
    from artifacts.digits.attention import attention_findings
    from artifacts.digits.compare import comparison_findings
    from artifacts.digits.same_seed import same_seed_sentence
    from snippets.digits.training import MODEL_NAMES

    streams = _fragment(generated, "digits-streams", "headline.md")
    findings = comparison_findings(
        _scores(generated, "digits-scenes-mmdit"),
        _scores(generated, "digits-scenes-single-stream"),
        ("MMDiT", "single-stream model"),
    )
    assert streams.endswith(" ".join(findings))

    attention = json.loads((generated / "digits-attention" / "attention.json").read_text())
    for kind, result in attention.items():
        assert len(result["seeds"]) >= 3
        assert _fragment(generated, "digits-attention", f"headline-{kind}.md") == " ".join(
            attention_findings(result, MODEL_NAMES[kind])
        )
    same = json.loads((generated / "digits-same-seed" / "same-seed.json").read_text())
    assert same["repeat_bit_identical"]
    assert _fragment(generated, "digits-same-seed", "headline.md") == same_seed_sentence(same)

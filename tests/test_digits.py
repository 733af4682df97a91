"""Digits data, tokenizer and metrics (snippets.digits)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snippets.digits.data import (
    CLASS_NAMES,
    default_evaluator,
    frechet_distance,
    load_digit_split,
    random_shift,
    to_eval_space,
)
from snippets.digits.scenes import SCENE_TEMPLATES, caption, scene_tokenizer


def test_tokenizer_round_trips_every_caption():
    tok = scene_tokenizer()
    captions = [caption(a, b, k) for a in range(10) for b in range(10) for k in range(4)]
    for text in captions:
        ids = tok.encode(text)
        assert len(ids) == tok.max_length
        assert tok.unk_id not in ids
        assert tok.decode(ids) == text
    assert tok.encode("") == [tok.pad_id] * tok.max_length
    assert tok.decode(tok.encode("THREE Left of Seven")) == "three left of seven"  # lower-cased
    assert tok.encode("three left of giraffe")[3] == tok.unk_id
    assert len(tok.encode("one two three four five six seven")) == tok.max_length  # truncated
    words = {w for t in SCENE_TEMPLATES for w in t.format(left="", right="").split()}
    assert set(tok.vocab) == words | set(CLASS_NAMES) | {"<pad>", "<unk>"}


def test_split_is_fixed_disjoint_and_scaled():
    a, b = load_digit_split(seed=0), load_digit_split(seed=0)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert a.train_x.shape[0] + a.test_x.shape[0] == 1797
    assert a.train_x.min() == -1 and a.train_x.max() == 1
    train = {tuple(r) for r in a.train_x.reshape(-1, 64).tolist()}
    shared = sum(tuple(r) in train for r in a.test_x.reshape(-1, 64).tolist())
    assert shared < 5  # the digits set has a handful of exact duplicate images, no more
    other = load_digit_split(seed=1)
    assert not torch.equal(a.test_y, other.test_y)


def test_upsampled_digits_come_back_to_eval_space():
    small, big = load_digit_split(size=8), load_digit_split(size=16)
    assert big.train_x.shape[-1] == 16
    back = to_eval_space(big.train_x)
    assert back.shape == small.train_x.shape
    # bilinear up then 2x2 average down blurs a little; the digit stays the same image
    assert (back - small.train_x).abs().mean().item() < 0.2
    corr = torch.corrcoef(torch.stack([back.flatten(), small.train_x.flatten()]))[0, 1]
    assert corr > 0.95


def test_random_shift_moves_without_losing_ink():
    x = torch.full((64, 1, 8, 8), -1.0)
    x[:, :, 3:5, 3:5] = 1.0
    y = random_shift(x, torch.Generator().manual_seed(0))
    assert torch.equal((y == 1).sum(dim=(1, 2, 3)), (x == 1).sum(dim=(1, 2, 3)))
    assert not torch.equal(y, x)


def _scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(c1 @ c2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * covmean))


def test_frechet_distance_known_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3000, 5))
    b = rng.normal(size=(3000, 5)) @ np.diag([1, 2, 3, 1, 1]) + 0.5
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(a, b) == pytest.approx(_scipy_frechet(a, b), rel=1e-6)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)
    # two Gaussians with identity and diag(s^2) covariances, means 0 and m: |m|^2 + sum (1 - s)^2
    exact = 5 * 0.5**2 + (1 - 2) ** 2 + (1 - 3) ** 2
    assert frechet_distance(a, b) == pytest.approx(exact, rel=0.05)


def test_perfect_generator_scores_the_classifier_accuracy_and_the_yardstick():
    ev = default_evaluator()
    assert ev.held_out_accuracy >= 0.98
    assert ev.agreement(ev.split.test_x, ev.split.test_y) == ev.held_out_accuracy
    assert ev.fd(ev.split.test_x) == pytest.approx(ev.yardstick)
    assert ev.fd(ev.split.train_x) == pytest.approx(0.0, abs=1e-4)  # the reference set itself


def test_metrics_separate_bad_generators_from_real_digits():
    ev = default_evaluator()
    split = ev.split
    means = torch.stack([split.train_x[split.train_y == c].mean(0) for c in range(10)])[
        split.test_y
    ]
    noise = torch.randn(split.test_x.shape, generator=torch.Generator().manual_seed(0))
    wrong = split.test_x[
        torch.randperm(split.test_x.shape[0], generator=torch.Generator().manual_seed(0))
    ]
    assert ev.fd(means) > 10 * ev.yardstick  # class averages: recognisable but no variety
    assert ev.agreement(means, split.test_y) >= 0.9
    assert ev.fd(noise) > 50 * ev.yardstick
    assert ev.agreement(wrong, split.test_y) < 0.3  # real digits, wrong labels

"""Flow matching and the Euler sampler (snippets.flow), checked against diffusers' scheduler."""

from __future__ import annotations

import copy

import pytest
import torch
from numerics import assert_same_function
from torch import nn

from snippets.flow import (
    drop_condition,
    ema_update,
    euler_sample,
    euler_steps,
    flow_matching_loss,
    guided_velocity,
    interpolate,
    logit_normal_timesteps,
    sigma_schedule,
    velocity_target,
)


def toy_velocity(x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """A smooth, nonlinear stand-in for a network (depends on x, t and the condition)."""
    t = t.reshape(-1, *([1] * (x.ndim - 1)))
    c = cond.float().reshape(-1, *([1] * (x.ndim - 1)))
    return torch.sin(3 * x) * t + torch.cos(5 * t) - 0.3 * x + 0.1 * c


@pytest.mark.parametrize("steps", [1, 2, 4, 8, 16, 32])
def test_euler_matches_diffusers_flow_match_scheduler(steps):
    from diffusers import FlowMatchEulerDiscreteScheduler

    g = torch.Generator().manual_seed(steps)
    noise = torch.randn(3, 1, 8, 8, generator=g)
    cond = torch.tensor([0, 4, 9])
    ours = [x for _, x in euler_steps(toy_velocity, noise, cond, steps)]

    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    scheduler.set_timesteps(sigmas=sigma_schedule(steps)[:-1].tolist())
    assert torch.allclose(scheduler.sigmas, sigma_schedule(steps))  # same grid, terminal 0 appended
    x, theirs = noise.clone(), [noise.clone()]
    for timestep in scheduler.timesteps:
        sigma = (timestep / scheduler.config.num_train_timesteps).expand(x.shape[0])
        x = scheduler.step(toy_velocity(x, sigma, cond), timestep, x).prev_sample
        theirs.append(x)
    assert len(ours) == len(theirs) == steps + 1
    for a, b in zip(ours, theirs):
        assert_same_function(a, b)


def test_scheduler_default_grid_differs_at_the_end():
    """What the sigma_schedule docstring says: the default grid's last nonzero sigma is 1/1000."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0)
    scheduler.set_timesteps(num_inference_steps=4)
    assert scheduler.sigmas[0].item() == pytest.approx(1.0)
    assert scheduler.sigmas[-2].item() == pytest.approx(1e-3)
    assert sigma_schedule(4)[-2].item() == pytest.approx(0.25)


def test_interpolation_endpoints_and_velocity():
    x0, noise = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.equal(interpolate(x0, noise, torch.zeros(4)), x0)
    assert torch.equal(interpolate(x0, noise, torch.ones(4)), noise)
    t0, t1 = torch.full((4,), 0.2), torch.full((4,), 0.7)
    slope = (interpolate(x0, noise, t1) - interpolate(x0, noise, t0)) / 0.5
    assert torch.allclose(slope, velocity_target(x0, noise), atol=1e-5)


def test_loss_is_zero_for_the_exact_velocity_of_a_single_point():
    # For data that is one point x0, the true velocity field is (x_t - x0) / t.
    x0 = torch.randn(1, 1, 4, 4).expand(256, -1, -1, -1).contiguous()
    exact = lambda x, t, c: (x - x0) / t.reshape(-1, 1, 1, 1)  # noqa: E731
    zero = lambda x, t, c: torch.zeros_like(x)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    assert flow_matching_loss(exact, x0, torch.zeros(256), g).item() < 1e-8
    assert flow_matching_loss(zero, x0, torch.zeros(256), g).item() > 0.5


def test_loss_is_reproducible_with_a_seeded_generator():
    model = nn.Conv2d(1, 1, 3, padding=1)
    wrapped = lambda x, t, c: model(x)  # noqa: E731
    x0, cond, null = torch.randn(16, 1, 8, 8), torch.arange(16) % 10, torch.tensor(10)
    a = flow_matching_loss(wrapped, x0, cond, torch.Generator().manual_seed(3), null, 0.5)
    b = flow_matching_loss(wrapped, x0, cond, torch.Generator().manual_seed(3), null, 0.5)
    c = flow_matching_loss(wrapped, x0, cond, torch.Generator().manual_seed(4), null, 0.5)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_logit_normal_median_and_range():
    g = torch.Generator().manual_seed(0)
    t = logit_normal_timesteps(20_000, mean=1.0, std=0.5, generator=g)
    assert ((t > 0) & (t < 1)).all()
    assert t.median().item() == pytest.approx(torch.sigmoid(torch.tensor(1.0)).item(), abs=0.01)
    logits = torch.log(t / (1 - t))
    assert logits.std().item() == pytest.approx(0.5, abs=0.02)


def test_condition_dropout():
    labels = torch.arange(10).repeat(100)
    null = torch.tensor(10)
    assert torch.equal(drop_condition(labels, null, 0.0), labels)
    assert (drop_condition(labels, null, 1.0, torch.Generator().manual_seed(0)) == 10).all()
    ids = torch.randint(2, 19, (500, 4))
    dropped = drop_condition(
        ids, torch.zeros(4, dtype=torch.long), 0.3, torch.Generator().manual_seed(1)
    )
    rows_null = (dropped == 0).all(-1)
    assert 0.2 < rows_null.float().mean().item() < 0.4
    assert torch.equal(dropped[~rows_null], ids[~rows_null])  # whole prompts are dropped or kept


def test_guidance_is_the_classifier_free_combination():
    x, t = torch.randn(5, 1, 8, 8), torch.rand(5)
    cond, null = torch.arange(5), torch.tensor(10)
    v_c, v_u = toy_velocity(x, t, cond), toy_velocity(x, t, null.expand(5))
    assert torch.equal(guided_velocity(toy_velocity, x, t, cond, 1.0, null), v_c)
    assert torch.allclose(
        guided_velocity(toy_velocity, x, t, cond, 3.0, null), v_u + 3.0 * (v_c - v_u), atol=1e-6
    )
    assert torch.allclose(guided_velocity(toy_velocity, x, t, cond, 0.0, null), v_u, atol=1e-6)


def test_sampler_is_deterministic_and_exact_for_straight_paths():
    noise = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    cond = torch.arange(4)
    a = euler_sample(toy_velocity, noise, cond, 8, 2.0, torch.tensor(10))
    b = euler_sample(toy_velocity, noise, cond, 8, 2.0, torch.tensor(10))
    assert torch.equal(a, b)
    # a constant velocity field is integrated exactly by any number of Euler steps
    target = torch.randn(4, 1, 8, 8)
    constant = lambda x, t, c: noise - target  # noqa: E731
    for steps in (1, 3, 32):
        assert torch.allclose(euler_sample(constant, noise, cond, steps), target, atol=1e-5)


def test_ema_update():
    model = nn.Linear(3, 3)
    ema = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    before = [p.clone() for p in ema.parameters()]
    ema_update(ema, model, decay=1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, ema.parameters()))
    ema_update(ema, model, decay=0.75)
    for old, new, target in zip(before, ema.parameters(), model.parameters()):
        assert torch.allclose(new, 0.75 * old + 0.25 * target)
    ema_update(ema, model, decay=0.0)
    assert all(torch.equal(a, b) for a, b in zip(ema.parameters(), model.parameters()))

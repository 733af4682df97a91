r"""Rectified flow (flow matching): the training objective and sampler of SD3, Flux and Z-Image.

Convention (the one of SD3 and of diffusers' ``FlowMatchEulerDiscreteScheduler``): a time
``t`` in ``[0, 1]``, called sigma in diffusers, slides a straight line from data to noise,

$$x_t = (1 - t)\,x_0 + t\,\varepsilon, \qquad \varepsilon \sim \mathcal N(0, I),$$

so ``t = 0`` is a clean image and ``t = 1`` is pure noise. Along that line the velocity is
constant, ``v = dx_t/dt = ε - x0``, and the network is trained to predict it with a plain MSE.
Sampling integrates the ODE ``dx/dt = v(x, t)`` backwards from ``t = 1`` to ``t = 0`` with Euler
steps ``x <- x + (t_next - t) v``, which is exactly what the diffusers scheduler's ``step`` does.

Every model in this package is called as ``model(x_t, t, cond)`` with ``t`` a float tensor of
shape ``[B]`` in ``[0, 1]`` and returns a velocity shaped like ``x_t``. (DiT's ``t`` is a step
index in ``0..1000``; the models here embed ``1000 t`` with the same sine-cosine features.)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

VelocityModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _expand_like(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape a per-sample ``[B]`` tensor so it broadcasts against ``x`` (``[B, ...]``)."""
    return t.reshape(-1, *([1] * (x.ndim - 1)))


def interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The point ``x_t = (1 - t) x0 + t noise`` on the straight line from data to noise.

    Args:
        x0: Clean samples, ``[B, ...]``.
        noise: Gaussian noise shaped like ``x0``.
        t: Times in ``[0, 1]``, shape ``[B]``.

    Returns:
        ``x_t`` shaped like ``x0``.

    Examples:
        >>> x0, noise = torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8)
        >>> xt = interpolate(x0, noise, torch.tensor([0.0, 0.25]))
        >>> xt.shape, xt[0].max().item(), xt[1].max().item()
        (torch.Size([2, 1, 8, 8]), 0.0, 0.25)
    """
    t = _expand_like(t, x0)
    return (1 - t) * x0 + t * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The regression target ``v = noise - x0``: the time derivative of [`interpolate`][snippets.flow.interpolate].

    Examples:
        >>> x0, noise = torch.randn(3, 4), torch.randn(3, 4)
        >>> t, dt = torch.full((3,), 0.3), 1e-3
        >>> numeric = (interpolate(x0, noise, t + dt) - interpolate(x0, noise, t)) / dt
        >>> torch.allclose(numeric, velocity_target(x0, noise), atol=1e-3)
        True
    """
    return noise - x0


def logit_normal_timesteps(
    n: int,
    mean: float = 0.0,
    std: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Training times ``t = sigmoid(u)``, ``u ~ N(mean, std)`` (SD3's logit-normal sampling).

    The density peaks at ``t = 0.5`` for ``mean = 0``: the middle of the path, where predicting
    the velocity is hardest, gets the most training signal; both ends get little.

    Args:
        n: Number of times to draw.
        mean: Mean of the underlying normal (SD3 uses 0).
        std: Standard deviation of the underlying normal (SD3 uses 1).
        generator: Source of randomness (its device is used when ``device`` is None).
        device: Where to create the tensor.

    Returns:
        A ``[n]`` float tensor with values in ``(0, 1)``.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> t = logit_normal_timesteps(10_000, generator=g)
        >>> t.shape, bool((t > 0).all() and (t < 1).all()), round(t.mean().item(), 2)
        (torch.Size([10000]), True, 0.5)
    """
    if device is None and generator is not None:
        device = generator.device
    u = torch.randn(n, generator=generator, device=device)
    return torch.sigmoid(mean + std * u)


def logit_normal_density(t: torch.Tensor, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    """Density of the times [`logit_normal_timesteps`][snippets.flow.logit_normal_timesteps] draws:
    ``N(logit t; mean, std) / (t (1 - t))``.

    Examples:
        >>> round(logit_normal_density(torch.tensor([0.5])).item(), 4)  # 1 / (sqrt(2 pi) * 0.25)
        1.5958
        >>> t = torch.linspace(0.0005, 0.9995, 1000)
        >>> round((logit_normal_density(t) * 0.001).sum().item(), 2)    # integrates to 1
        1.0
    """
    logit = torch.log(t / (1 - t))
    normal = torch.exp(-0.5 * ((logit - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
    return normal / (t * (1 - t))


def predicted_clean(x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Where a velocity says the path ends: ``x0 = x_t - t v``, since ``x_t = x0 + t (noise - x0)``.

    The model's guess of the finished image at any point of the path; one Euler step from
    ``t = 1`` lands exactly there.

    Examples:
        >>> x0, noise = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
        >>> t = torch.tensor([0.8, 0.3])
        >>> x_t, v = interpolate(x0, noise, t), velocity_target(x0, noise)   # the exact velocity
        >>> torch.allclose(predicted_clean(x_t, t, v), x0, atol=1e-6)
        True
    """
    return x_t - _expand_like(t, x_t) * v


def drop_condition(
    cond: torch.Tensor,
    null_cond: torch.Tensor,
    p_uncond: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Replace each sample's condition by the null condition with probability ``p_uncond``.

    This is how one network learns both the conditional and the unconditional velocity that
    classifier-free guidance needs.

    Args:
        cond: Conditions, ``[B]`` (class labels) or ``[B, L]`` (token ids), or ``[B, ...]``.
        null_cond: One null condition, shaped like ``cond[0]`` (e.g. the extra "no class" label
            or the token ids of the empty prompt).
        p_uncond: Drop probability.
        generator: Source of randomness.

    Returns:
        A tensor like ``cond``.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> labels = torch.zeros(1000, dtype=torch.long)
        >>> dropped = drop_condition(labels, torch.tensor(10), 0.1, g)
        >>> 0.07 < (dropped == 10).float().mean().item() < 0.13
        True
    """
    if p_uncond <= 0:
        return cond
    drop = torch.rand(cond.shape[0], generator=generator, device=cond.device) < p_uncond
    null = null_cond.to(cond.device).expand_as(cond)
    return torch.where(_expand_like(drop, cond), null, cond)


def flow_matching_loss(
    model: VelocityModel,
    x0: torch.Tensor,
    cond: torch.Tensor,
    generator: torch.Generator | None = None,
    null_cond: torch.Tensor | None = None,
    p_uncond: float = 0.0,
    t_mean: float = 0.0,
    t_std: float = 1.0,
) -> torch.Tensor:
    """The rectified-flow loss ``|| model(x_t, t, c) - (noise - x0) ||^2`` for one batch.

    All the randomness (times, noise, condition dropout) comes from ``generator``, in that
    order, so a seeded generator makes the loss reproducible bit for bit.

    Args:
        model: Velocity network ``model(x_t, t, cond)``.
        x0: Clean training samples ``[B, C, H, W]``.
        cond: Their conditions (``[B]`` labels or ``[B, L]`` token ids).
        generator: Source of randomness.
        null_cond: The null condition for dropout (needed when ``p_uncond > 0``).
        p_uncond: Condition-dropout probability for classifier-free guidance.
        t_mean: Mean of the logit-normal time distribution.
        t_std: Standard deviation of the logit-normal time distribution.

    Returns:
        The scalar mean squared error.

    Examples:
        >>> zero_velocity = lambda x, t, c: torch.zeros_like(x)
        >>> g = torch.Generator().manual_seed(0)
        >>> x0 = torch.zeros(4096, 1, 2, 2)
        >>> loss = flow_matching_loss(zero_velocity, x0, torch.zeros(4096), g)
        >>> round(loss.item(), 1)   # E[noise^2] = 1 when x0 = 0 and the model says 0
        1.0
    """
    b = x0.shape[0]
    t = logit_normal_timesteps(b, t_mean, t_std, generator=generator, device=x0.device)
    noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    if p_uncond > 0:
        if null_cond is None:
            raise ValueError("p_uncond > 0 needs a null_cond")
        cond = drop_condition(cond, null_cond, p_uncond, generator)
    x_t = interpolate(x0, noise, t.to(x0.dtype))
    return F.mse_loss(model(x_t, t, cond), velocity_target(x0, noise))


def sigma_schedule(steps: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Evenly spaced times ``1 = t_0 > t_1 > ... > t_steps = 0`` for an Euler sampler.

    These are the sigmas diffusers' ``FlowMatchEulerDiscreteScheduler`` uses after
    ``set_timesteps(sigmas=sigma_schedule(n)[:-1])`` with ``shift=1.0`` (it appends the final 0).
    Its default ``set_timesteps(num_inference_steps=n)`` differs slightly: its last nonzero
    sigma is 1/1000 (``sigma_min``) rather than 1/n.

    Examples:
        >>> sigma_schedule(4).tolist()
        [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    return torch.linspace(1.0, 0.0, steps + 1, device=device)


def guided_velocity(
    model: VelocityModel,
    x: torch.Tensor,
    t: torch.Tensor,
    cond: torch.Tensor,
    guidance_scale: float = 1.0,
    null_cond: torch.Tensor | None = None,
) -> torch.Tensor:
    """Classifier-free guided velocity ``v_u + w (v_c - v_u)``.

    ``w = 1`` is plain conditional sampling and costs one forward pass; any other ``w`` runs the
    conditional and the unconditional batch together (two passes' worth of work).

    Args:
        model: Velocity network.
        x: Current samples ``[B, ...]``.
        t: Current time, ``[B]``.
        cond: Conditions ``[B, ...]``.
        guidance_scale: ``w``.
        null_cond: The null condition, shaped like ``cond[0]``.

    Returns:
        The velocity to step with, shaped like ``x``.

    Examples:
        >>> model = lambda x, t, c: c.float().reshape(-1, 1) * torch.ones_like(x)
        >>> x, t = torch.zeros(2, 3), torch.ones(2)
        >>> guided_velocity(model, x, t, torch.tensor([2, 2]), 3.0, torch.tensor(0))[0].tolist()
        [6.0, 6.0, 6.0]
    """
    if guidance_scale == 1.0:
        return model(x, t, cond)
    if null_cond is None:
        raise ValueError("guidance needs a null_cond")
    null = null_cond.to(cond.device).expand_as(cond)
    v = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, null]))
    v_cond, v_uncond = v.chunk(2)
    return v_uncond + guidance_scale * (v_cond - v_uncond)


@torch.no_grad()
def euler_steps(
    model: VelocityModel,
    noise: torch.Tensor,
    cond: torch.Tensor,
    steps: int,
    guidance_scale: float = 1.0,
    null_cond: torch.Tensor | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The Euler sampler one step at a time: yields ``(t, x_t)`` from ``t = 1`` down to ``t = 0``.

    ``steps + 1`` pairs: the noise at ``t = 1``, then the state after each step. A study that
    needs the model's state partway (attention at ``t = 0.5``) stops iterating there.

    Examples:
        >>> x0 = torch.full((1, 1, 2, 2), 0.5)
        >>> oracle = lambda x, t, c: (x - x0) / t.reshape(-1, 1, 1, 1)  # exact velocity to x0
        >>> [round(float(t), 2) for t, _ in euler_steps(oracle, torch.randn(1, 1, 2, 2), None, 4)]
        [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    x = noise
    sigmas = sigma_schedule(steps, device=noise.device)
    yield sigmas[0], x
    for i in range(steps):
        t = sigmas[i].expand(x.shape[0])
        v = guided_velocity(model, x, t, cond, guidance_scale, null_cond)
        x = x + (sigmas[i + 1] - sigmas[i]) * v
        yield sigmas[i + 1], x


# --8<-- [start:euler-sample]
def euler_sample(
    model: VelocityModel,
    noise: torch.Tensor,
    cond: torch.Tensor,
    steps: int,
    guidance_scale: float = 1.0,
    null_cond: torch.Tensor | None = None,
) -> torch.Tensor:
    """Integrate ``dx/dt = v`` from ``t = 1`` (noise) to ``t = 0`` with ``steps`` Euler steps.

    Deterministic: the same noise, model and step count give the same image. One step jumps
    straight along the first predicted velocity, ``x0 = noise - v(noise, 1)``. At ``t = 1`` the
    noise says nothing about the image, so for a velocity with the smallest squared error that
    jump lands on the mean of the data the condition allows; more steps let later predictions,
    made from less noisy points, correct the path.

    Args:
        model: Velocity network ``model(x_t, t, cond)``.
        noise: Starting point ``[B, C, H, W]`` drawn from ``N(0, I)``.
        cond: Conditions ``[B, ...]``.
        steps: Number of Euler steps (network evaluations, doubled under guidance).
        guidance_scale: Classifier-free guidance scale ``w`` (1 = none).
        null_cond: Null condition for guidance.

    Returns:
        The samples at ``t = 0``.

    Examples:
        >>> x0 = torch.full((1, 1, 2, 2), 0.5)
        >>> oracle = lambda x, t, c: (x - x0) / t.reshape(-1, 1, 1, 1)  # exact velocity to x0
        >>> out = euler_sample(oracle, torch.randn(1, 1, 2, 2), torch.zeros(1), steps=4)
        >>> torch.allclose(out, x0, atol=1e-6)
        True
    """
    for _, x in euler_steps(model, noise, cond, steps, guidance_scale, null_cond):  # noqa: B007
        pass  # only the last state is the sample
    return x


# --8<-- [end:euler-sample]


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """Move every parameter of ``ema`` a step towards ``model``: ``e <- decay e + (1 - decay) p``.

    Sampling from the exponential moving average of the weights averages out the noise of the
    last optimiser steps; it is what diffusion models ship.

    Args:
        ema: The averaged copy (updated in place).
        model: The model being trained.
        decay: Weight on the old average, e.g. 0.999.

    Examples:
        >>> model = nn.Linear(1, 1, bias=False)
        >>> ema = copy.deepcopy(model)
        >>> _ = model.weight.data.fill_(1.0); _ = ema.weight.data.fill_(0.0)
        >>> ema_update(ema, model, decay=0.9)
        >>> round(ema.weight.item(), 6)
        0.1
    """
    # One multi-tensor call per kind, not one kernel per parameter: on a GPU a tiny model's EMA
    # otherwise costs more kernel launches than its forward pass. Same arithmetic as ``lerp_``.
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    buffers = list(ema.buffers())
    if buffers:
        torch._foreach_copy_(buffers, list(model.buffers()))


def make_ema(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` to hold the moving average (see [`ema_update`][snippets.flow.ema_update]).

    Examples:
        >>> ema = make_ema(nn.Linear(2, 2))
        >>> any(p.requires_grad for p in ema.parameters())
        False
    """
    ema = copy.deepcopy(model).eval()
    ema.requires_grad_(False)
    return ema

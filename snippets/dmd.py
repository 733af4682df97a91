r"""Distribution Matching Distillation (DMD) and Decoupled-DMD on a 2D toy you can train in seconds.

The data: eight small Gaussian blobs on a circle, alternating between two classes, so every
class has four modes and each mode sits between two modes of the other class. A small
class-conditional flow-matching **teacher** learns it (with label dropout, so it also knows the
unconditional velocity that classifier-free guidance needs). A **one-step student**, initialised
as a copy of the teacher, maps noise to a sample in one network call and is distilled with the
terms of DMD's gradient, written in the flow-matching convention of [`snippets.flow`][snippets.flow]
(``x_t = (1 - t) x0 + t noise``; a velocity ``v`` predicts ``x0 = x_t - t v``).

For a student sample ``x`` re-noised to ``x_τ``, with the teacher's conditional, unconditional and
guided predictions ``x0_c``, ``x0_u``, ``x0_cfg = x0_u + w (x0_c - x0_u)`` and the prediction
``x0_f`` of a *fake* model trained online on the student's own samples, the gradient DMD pushes
into ``x`` (to be descended) is ``x0_f - x0_cfg``. It splits exactly into two terms:

- **distribution matching** (the shield): ``x0_f - x0_c``, zero when the student's distribution
  equals the conditional teacher's;
- **CFG augmentation** (the spear): ``-(w - 1) (x0_c - x0_u)``, the guidance direction itself,
  which does not vanish when the distributions match.

(In scores, ``s = -(x_τ - (1 - τ) x0) / τ²``, so ``x0_f - x0_r = τ² / (1 - τ) · (s_f - s_r)``: a
positive multiple of DMD's ``-(s_r - s_f)``, the same direction.)

What the toy leaves out compared with DMD as used for Z-Image: images, a transformer and a
text prompt (two class labels stand in); a few-step student (ours takes one step); DMD's
per-sample gradient normalisation and its regression loss on teacher pairs (DMD, Yin et al.
2024) or the GAN term of DMD2 (Adam absorbs the gradient's scale here); and DMDR's DPO and GRPO
stages, replaced by a differentiable toy reward optimised directly.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from snippets.flow import flow_matching_loss

__all__ = [
    "NUM_CLASSES",
    "MODES_PER_CLASS",
    "NULL_LABEL",
    "mode_centers",
    "sample_data",
    "VelocityMLP",
    "train_teacher",
    "teacher_sample",
    "x0_prediction",
    "OneStepStudent",
    "dm_term",
    "ca_term",
    "coupled_gradient",
    "decoupled_gradient",
    "dmd_loss",
    "DistillConfig",
    "distill",
    "right_reward",
    "evaluate_samples",
]

NUM_CLASSES = 2
MODES_PER_CLASS = 4
NULL_LABEL = NUM_CLASSES
"""The extra label that means "no class" (label dropout), as DiT's 1001st ImageNet row."""
RADIUS, SPREAD = 2.0, 0.12


def mode_centers() -> tuple[torch.Tensor, torch.Tensor]:
    """The eight blob centres on a circle of radius 2 and their classes (alternating).

    Examples:
        >>> centers, labels = mode_centers()
        >>> centers.shape, labels.tolist()
        (torch.Size([8, 2]), [0, 1, 0, 1, 0, 1, 0, 1])
    """
    k = NUM_CLASSES * MODES_PER_CLASS
    angles = torch.arange(k) * (2 * math.pi / k)
    return RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1), torch.arange(k) % NUM_CLASSES


def sample_data(
    n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
):
    """``n`` points of the data distribution (and their labels, balanced unless given).

    Examples:
        >>> x, y = sample_data(6, torch.Generator().manual_seed(0))
        >>> x.shape, y.tolist()
        (torch.Size([6, 2]), [0, 1, 0, 1, 0, 1])
    """
    centers, mode_class = mode_centers()
    y = torch.arange(n) % NUM_CLASSES if labels is None else labels
    pick = torch.randint(0, MODES_PER_CLASS, (n,), generator=generator)
    mode = pick * NUM_CLASSES + y  # modes of class y are y, y + 2, y + 4, y + 6
    return centers[mode] + SPREAD * torch.randn(n, 2, generator=generator), y


class VelocityMLP(nn.Module):
    """A small velocity network ``v(x_t, t, y)`` for 2D points: time features, a label table, an MLP.

    Examples:
        >>> net = VelocityMLP()
        >>> net(torch.randn(5, 2), torch.rand(5), torch.tensor([0, 1, 2, 0, 1])).shape
        torch.Size([5, 2])
    """

    def __init__(self, width: int = 128, frequencies: int = 8):
        super().__init__()
        self.register_buffer("freqs", 2.0 ** torch.arange(frequencies) * math.pi)
        self.label = nn.Embedding(NUM_CLASSES + 1, width)  # the last row is the null label
        self.inp = nn.Linear(2 + 2 * frequencies, width)
        self.mlp = nn.Sequential(
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, 2),
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x [B, 2]``, ``t [B]``, ``y [B]`` -> velocity ``[B, 2]``."""
        angles = t[:, None] * self.freqs
        h = self.inp(torch.cat([x, angles.sin(), angles.cos()], dim=1)) + self.label(y)
        return self.mlp(h)


def train_teacher(
    steps: int = 2000,
    batch: int = 512,
    lr: float = 2e-3,
    p_uncond: float = 0.2,
    generator: torch.Generator | None = None,
) -> VelocityMLP:
    """Train the class-conditional flow-matching teacher (label dropout ``p_uncond`` for CFG).

    Examples:
        >>> teacher = train_teacher(steps=5, generator=torch.Generator().manual_seed(0))
        >>> isinstance(teacher, VelocityMLP)
        True
    """
    model = VelocityMLP()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        x0, y = sample_data(batch, generator)
        loss = flow_matching_loss(model, x0, y, generator, torch.tensor(NULL_LABEL), p_uncond)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval().requires_grad_(False)


@torch.no_grad()
def teacher_sample(
    teacher: nn.Module, noise: torch.Tensor, y: torch.Tensor, steps: int, guidance: float = 1.0
):
    """Euler sampling of the teacher with classifier-free guidance ``guidance``.

    Examples:
        >>> net = VelocityMLP()
        >>> teacher_sample(net, torch.randn(4, 2), torch.tensor([0, 1, 0, 1]), steps=2).shape
        torch.Size([4, 2])
    """
    x = noise
    times = torch.linspace(1.0, 0.0, steps + 1)
    null = torch.full_like(y, NULL_LABEL)
    for t, t_next in zip(times[:-1], times[1:]):
        tt = torch.full((len(x),), float(t))
        v_c, v_u = teacher(x, tt, y), teacher(x, tt, null)
        x = x + (t_next - t) * (v_u + guidance * (v_c - v_u))
    return x


def x0_prediction(
    model: nn.Module, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """The clean point a velocity model predicts: ``x0 = x_t - t v(x_t, t, y)``.

    Examples:
        >>> zero = lambda x, t, y: torch.zeros_like(x)
        >>> x0_prediction(zero, torch.ones(1, 2), torch.ones(1), torch.zeros(1)).tolist()
        [[1.0, 1.0]]
    """
    return x_t - t[:, None] * model(x_t, t, y)


class OneStepStudent(nn.Module):
    """A one-step generator ``G(z, y) = z - v(z, 1, y)``: the teacher's single Euler step, made trainable.

    Examples:
        >>> student = OneStepStudent(VelocityMLP())
        >>> student(torch.randn(3, 2), torch.tensor([0, 1, 0])).shape
        torch.Size([3, 2])
    """

    def __init__(self, teacher: nn.Module):
        super().__init__()
        self.net = copy.deepcopy(teacher).requires_grad_(True).train()

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Noise ``[B, 2]`` and labels ``[B]`` -> samples ``[B, 2]``."""
        return z - self.net(z, torch.ones(len(z)), y)


def _renoise(x: torch.Tensor, tau_range: tuple[float, float], generator: torch.Generator | None):
    """Draw ``τ ~ U(tau_range)`` and noise, and return ``(x_τ, τ)`` for the detached sample ``x``."""
    lo, hi = tau_range
    tau = lo + (hi - lo) * torch.rand(len(x), generator=generator)
    noise = torch.randn(x.shape, generator=generator)
    return (1 - tau[:, None]) * x + tau[:, None] * noise, tau


# --8<-- [start:terms]
@torch.no_grad()
def dm_term(teacher, fake, x_tau, tau, y):
    """The shield: ``x0_fake - x0_cond``. Zero once the student's samples look like the teacher's."""
    return x0_prediction(fake, x_tau, tau, y) - x0_prediction(teacher, x_tau, tau, y)


@torch.no_grad()
def ca_term(teacher, x_tau, tau, y, guidance):
    """The spear: ``-(w - 1)(x0_cond - x0_uncond)``. Descending it moves ``x`` along the guidance."""
    null = torch.full_like(y, NULL_LABEL)
    x0_c, x0_u = x0_prediction(teacher, x_tau, tau, y), x0_prediction(teacher, x_tau, tau, null)
    return -(guidance - 1) * (x0_c - x0_u)


# --8<-- [end:terms]


# --8<-- [start:coupled]
def coupled_gradient(
    teacher, fake, x, y, guidance, tau_range=(0.02, 0.98), generator=None, use_dm=True, use_ca=True
):
    """DMD with a guided teacher: one re-noising ``τ`` shared by both terms.

    With both terms on this is ``x0_fake - x0_cfg``: the gradient DMD implementations compute.
    """
    x_tau, tau = _renoise(x.detach(), tau_range, generator)
    grad = torch.zeros_like(x)
    if use_dm:
        grad += dm_term(teacher, fake, x_tau, tau, y)
    if use_ca:
        grad += ca_term(teacher, x_tau, tau, y, guidance)
    return grad


# --8<-- [end:coupled]


# --8<-- [start:decoupled]
def decoupled_gradient(
    teacher, fake, x, y, guidance, ca_range=(0.5, 0.98), dm_range=(0.02, 0.98), generator=None
):
    """Decoupled-DMD: each term re-noises the sample on its own schedule."""
    x_ca, tau_ca = _renoise(x.detach(), ca_range, generator)  # the spear's noise levels
    x_dm, tau_dm = _renoise(x.detach(), dm_range, generator)  # the shield's noise levels
    return ca_term(teacher, x_ca, tau_ca, y, guidance) + dm_term(teacher, fake, x_dm, tau_dm, y)


# --8<-- [end:decoupled]


def dmd_loss(x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """A loss whose gradient with respect to ``x`` is ``grad`` (per sample), DMD's usual trick.

    Examples:
        >>> x = torch.zeros(2, 2, requires_grad=True)
        >>> dmd_loss(x, torch.tensor([[1.0, 2.0], [3.0, 4.0]])).backward()
        >>> x.grad.tolist()                        # averaged over the batch of 2
        [[0.5, 1.0], [1.5, 2.0]]
    """
    return 0.5 * ((x - (x - grad).detach()) ** 2).sum(dim=1).mean()


def right_reward(x: torch.Tensor) -> torch.Tensor:
    """A toy reward: how far to the right a point is (``x[0]``). It has no maximum: easy to hack.

    Examples:
        >>> right_reward(torch.tensor([[2.0, 0.0], [-1.0, 5.0]])).tolist()
        [2.0, -1.0]
    """
    return x[:, 0]


@dataclass
class DistillConfig:
    """How to distil a student: which DMD terms, which schedules, and an optional reward.

    Attributes:
        use_dm: Include the distribution-matching term (the shield; needs the fake model).
        use_ca: Include the CFG-augmentation term (the spear).
        decoupled: Re-noise the two terms separately (``ca_range`` and ``dm_range``).
        guidance: The teacher's guidance scale ``w`` inside the spear.
        reward_weight: Weight of the toy reward (0 = none); DMDR when the DMD terms stay on.
        draws: Re-noisings averaged per sample and step (fewer noisy gradients on a toy budget).
    """

    use_dm: bool = True
    use_ca: bool = True
    decoupled: bool = False
    guidance: float = 4.0
    ca_range: tuple[float, float] = (0.5, 0.98)
    dm_range: tuple[float, float] = (0.02, 0.98)
    reward_weight: float = 0.0
    steps: int = 600
    batch: int = 256
    lr: float = 1e-4
    fake_lr: float = 1e-3
    fake_updates: int = 2
    draws: int = 4


def distill(teacher: nn.Module, config: DistillConfig, generator: torch.Generator | None = None):
    """Train a one-step student from ``teacher`` with the terms ``config`` selects.

    Each step: update the fake model on fresh student samples (flow matching, so it tracks the
    student's current distribution), then move the student's samples along minus the chosen
    gradient (and up the reward, if any).

    Returns:
        The trained [`OneStepStudent`][snippets.dmd.OneStepStudent].

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> teacher = train_teacher(steps=5, generator=g)
        >>> student = distill(teacher, DistillConfig(steps=3, batch=16), g)
        >>> student(torch.randn(4, 2), torch.tensor([0, 1, 0, 1])).shape
        torch.Size([4, 2])
    """
    student = OneStepStudent(teacher)
    fake = copy.deepcopy(teacher).requires_grad_(True).train()
    opt = torch.optim.Adam(student.parameters(), lr=config.lr)
    fake_opt = torch.optim.Adam(fake.parameters(), lr=config.fake_lr)
    for _ in range(config.steps):
        y = torch.randint(0, NUM_CLASSES, (config.batch,), generator=generator)
        if config.use_dm:
            for _ in range(config.fake_updates):
                with torch.no_grad():
                    samples = student(torch.randn(config.batch, 2, generator=generator), y)
                fake_loss = flow_matching_loss(fake, samples, y, generator)
                fake_opt.zero_grad()
                fake_loss.backward()
                fake_opt.step()
        x = student(torch.randn(config.batch, 2, generator=generator), y)
        grad = torch.zeros_like(x)
        for _ in range(config.draws if (config.use_dm or config.use_ca) else 0):
            if config.decoupled:
                grad += (
                    decoupled_gradient(
                        teacher,
                        fake,
                        x,
                        y,
                        config.guidance,
                        config.ca_range,
                        config.dm_range,
                        generator,
                    )
                    / config.draws
                )
            else:
                grad += (
                    coupled_gradient(
                        teacher,
                        fake,
                        x,
                        y,
                        config.guidance,
                        config.dm_range,
                        generator,
                        config.use_dm,
                        config.use_ca,
                    )
                    / config.draws
                )
        loss = dmd_loss(x, grad) - config.reward_weight * right_reward(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return student.eval().requires_grad_(False)


def _energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Energy distance ``2 E|a - b| - E|a - a'| - E|b - b'|`` (0 for equal distributions)."""
    return (
        2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean()
    ).item()


def evaluate_samples(
    x: torch.Tensor, y: torch.Tensor, reference: torch.Tensor | None = None
) -> dict[str, float]:
    """Quality, coverage and distance of labelled 2D samples.

    - ``on_mode``: fraction of samples within three blob widths of a mode of *their own* class
      (quality);
    - ``wrong_class``: fraction near a mode of the other class;
    - ``modes_covered``: modes (of 8) that receive at least 10% of their class's on-mode samples
      (a uniform spread gives each 25%);
    - ``distance``: energy distance to ``reference`` samples with the same labels (if given).

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = sample_data(4000, g)
        >>> m = evaluate_samples(x, y)
        >>> m["on_mode"] > 0.99, m["modes_covered"]
        (True, 8)
    """
    centers, mode_class = mode_centers()
    dist = torch.cdist(x, centers)  # [N, 8]
    near = dist < 3 * SPREAD
    own = near & (mode_class[None] == y[:, None])
    other = near & (mode_class[None] != y[:, None])
    covered = 0
    for c in range(NUM_CLASSES):
        per_mode = own[y == c].float().sum(0)[mode_class == c]
        covered += int((per_mode >= 0.10 * per_mode.sum().clamp_min(1)).sum())
    metrics = {
        "on_mode": own.any(1).float().mean().item(),
        "wrong_class": other.any(1).float().mean().item(),
        "modes_covered": covered,
    }
    if reference is not None:
        metrics["distance"] = (
            sum(_energy_distance(x[y == c], reference[y == c]) for c in range(NUM_CLASSES)) / 2
        )
    return metrics

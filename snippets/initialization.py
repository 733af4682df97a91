"""DiT's weight initialisation, shared by every model of the lessons.

Xavier-uniform weights and zero biases for every linear layer; the patch projection (a
convolution) initialised like the linear layer it is; N(0, 0.02) for embeddings; zeros for the
layers that must start silent (adaLN-Zero modulations, the output layer), so that every block
starts as the identity and the model's first prediction is zero.

Examples:
    >>> import torch.nn as nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    >>> init_dit_weights(model, zero=[model[1]])
    >>> bool(model[0].weight.detach().abs().sum() > 0), bool(model[0].bias.detach().abs().sum() == 0)
    (True, True)
    >>> float(model[1].weight.detach().abs().sum())
    0.0
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def init_dit_weights(
    model: nn.Module,
    patch_proj: nn.Conv2d | None = None,
    normal: Iterable[torch.Tensor] = (),
    zero: Iterable[nn.Module] = (),
) -> None:
    """Initialise ``model`` in place, in the reference order (so seeded runs are reproducible).

    Args:
        model: every ``nn.Linear`` in it gets Xavier-uniform weights and zero biases.
        patch_proj: the patchify convolution, initialised as a linear layer of fan-in
            ``p * p * C``.
        normal: tensors drawn from N(0, 0.02), in this order (embedding tables, timestep MLP).
        zero: modules whose weight and bias start at zero.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    if patch_proj is not None:
        nn.init.xavier_uniform_(patch_proj.weight.view(patch_proj.weight.shape[0], -1))
        nn.init.zeros_(patch_proj.bias)
    for tensor in normal:
        nn.init.normal_(tensor, std=0.02)
    for module in zero:
        nn.init.zeros_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)

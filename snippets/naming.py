"""Carry weights between the teaching modules and diffusers through a name map.

The teaching blocks keep the reference code's short names (``img_qkv``, ``adaLN_modulation``);
diffusers names the same layers its own way (``attn.to_q``, ``norm1.linear``). Each teaching
module that mirrors a diffusers class holds the map from its names to diffusers' (for example
[`snippets.mmdit.DIFFUSERS_NAMES`][snippets.mmdit.DIFFUSERS_NAMES]); the equivalence tests
load weights through that same map, so the map cannot drift from the code.

Examples:
    >>> import torch
    >>> ours = {"qkv.weight": torch.arange(6.0).reshape(6, 1), "proj.bias": torch.zeros(2)}
    >>> names = {"qkv": ("to_q", "to_k", "to_v"), "proj": "to_out.0"}
    >>> theirs = to_diffusers(ours, names)
    >>> sorted(theirs), theirs["to_k"+ ".weight"].flatten().tolist()
    (['to_k.weight', 'to_out.0.bias', 'to_q.weight', 'to_v.weight'], [2.0, 3.0])
"""

from __future__ import annotations

import torch

NameMap = dict[str, str | tuple[str, ...]]


def to_diffusers(state_dict: dict[str, torch.Tensor], names: NameMap) -> dict[str, torch.Tensor]:
    """Rename a state dict with ``names`` (our module path -> diffusers' module path).

    A tuple of paths means one fused layer of ours is several layers there (Q, K and V): its
    weight and bias are split into equal parts along the output axis. A key whose module is not
    in the map raises ``KeyError``, so a new layer cannot be forgotten silently.
    """
    out = {}
    for key, tensor in state_dict.items():
        module, _, leaf = key.rpartition(".")
        target = names[module]
        if isinstance(target, tuple):
            for name, part in zip(target, tensor.chunk(len(target), dim=0)):
                out[f"{name}.{leaf}"] = part
        else:
            out[f"{target}.{leaf}"] = tensor
    return out

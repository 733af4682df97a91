"""The one attention function of the teaching code, and a recorder for its probabilities.

Every block of the lessons (DiT's self-attention, the MMDiT's joint attention, the single-stream
attention) calls [`attention`][snippets.attention.attention]. It uses PyTorch's fused kernel;
inside [`record_attention`][snippets.attention.record_attention] it computes the probabilities
explicitly and appends them to the recorder's list, so a study can look at the attention maps
without any model changing what its ``forward`` returns.

Examples:
    >>> q = k = v = torch.randn(1, 2, 5, 8)     # [B, heads, L, head_dim]
    >>> with record_attention() as maps:
    ...     out = attention(q, k, v)
    >>> out.shape, maps[0].shape, torch.allclose(maps[0].sum(-1), torch.ones(1, 2, 5))
    (torch.Size([1, 2, 5, 8]), torch.Size([1, 2, 5, 5]), True)
    >>> torch.allclose(out, attention(q, k, v), atol=1e-6)   # same function, fused kernel
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F

_recorders: list[list[torch.Tensor]] = []


def attention_probs(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d))``: ``[B, H, L, d]`` x ``[B, H, S, d]`` -> ``[B, H, L, S]``."""
    return torch.softmax(q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5, dim=-1)


# --8<-- [start:attention]
def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention: ``[B, H, L, d]`` queries over ``[B, H, S, d]`` keys/values.

    Returns ``[B, H, L, d]``: each query's softmax-weighted average of the values.
    """
    if not _recorders:
        return F.scaled_dot_product_attention(q, k, v)
    probs = attention_probs(q, k)  # [B, H, L, S]
    _recorders[-1].append(probs.detach())
    return probs @ v


# --8<-- [end:attention]


@contextlib.contextmanager
def record_attention() -> Iterator[list[torch.Tensor]]:
    """Collect the ``[B, H, L, S]`` probabilities of every attention call made inside the block,
    in call order (for a model: block by block)."""
    maps: list[torch.Tensor] = []
    _recorders.append(maps)
    try:
        yield maps
    finally:
        _recorders.pop()

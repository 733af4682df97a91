r"""Z-Image's 3D unified rotary position embedding (RoPE), written out in plain PyTorch.

Every attention head of Z-Image is 128 numbers wide. RoPE splits those numbers into pairs and
rotates each pair by an angle proportional to a position. Z-Image gives every token **three**
positions, one per axis, and spends part of the head on each axis (``axes_dims``, from the
configuration): the first 32 numbers turn with the first position, the next 48 with the row, the
last 48 with the column. Caption tokens and image patches are laid out on the same three axes:

- caption token ``k`` sits at ``(1 + k, 0, 0)``: it counts along the first axis;
- image patch ``(row, column)`` sits at ``(L + 1, row, column)``, where ``L`` is the caption's
  length after padding to a multiple of 32: every patch shares one first-axis position, just
  after the caption, and varies along the other two.

This follows diffusers' ``ZImageTransformer2DModel`` (``transformer_z_image.py``: ``RopeEmbedder``,
``_pad_with_ids``, ``patchify_and_embed`` and the ``apply_rotary_emb`` of
``ZSingleStreamAttnProcessor``); the tests compare the angles, the position ids and the rotated
queries with it. What this module leaves out: the video (frame) axis is always 0 here; the
"omni" editing mode (several images, SigLIP tokens) is not covered; diffusers looks angles up
in a precomputed table of ``axes_lens`` rows per axis, we compute them directly (same numbers);
and we rotate with real arithmetic where diffusers multiplies complex numbers (same result).

One detail of the reference code that this module reproduces: padding tokens of the caption
(added to reach a multiple of 32) keep counting along the first axis, while padding tokens of
the image get ``(0, 0, 0)``.
"""

from __future__ import annotations

import torch

__all__ = [
    "ZIMAGE_AXES_DIMS",
    "ZIMAGE_AXES_LENS",
    "ZIMAGE_ROPE_THETA",
    "SEQ_MULTI_OF",
    "axis_frequencies",
    "rope_angles",
    "rope_freqs_cis",
    "apply_rope",
    "padded_length",
    "caption_position_ids",
    "image_position_ids",
    "rope_scores",
]

# From the hub: Tongyi-MAI/Z-Image-Turbo, transformer/config.json.
ZIMAGE_AXES_DIMS = (32, 48, 48)
"""Head numbers per axis (first/"temporal", row, column); they sum to the head width 128."""
ZIMAGE_AXES_LENS = (1536, 512, 512)
"""Rows of diffusers' precomputed angle table per axis (the largest position it can look up)."""
ZIMAGE_ROPE_THETA = 256.0
"""RoPE base. Language models use 10,000 or more; Z-Image's small base makes faster turns."""
SEQ_MULTI_OF = 32
"""diffusers pads caption and image sequences to a multiple of 32 tokens."""


# --8<-- [start:rope]
def axis_frequencies(
    dim: int,
    theta: float = ZIMAGE_ROPE_THETA,
) -> torch.Tensor:
    """Angular speed of each of an axis' ``dim // 2`` pairs.

    Pair ``i`` turns at ``theta ** (-2i / dim)`` radians per position.

    Args:
        dim: Numbers of the head given to this axis (even).
        theta: RoPE base.

    Returns:
        ``[dim // 2]`` float64 frequencies, from 1 (fastest) down.

    Examples:
        >>> axis_frequencies(8, theta=256.0)
        tensor([1.0000, 0.2500, 0.0625, 0.0156], dtype=torch.float64)
    """
    exponents = torch.arange(0, dim, 2, dtype=torch.float64) / dim
    return 1.0 / theta**exponents


def rope_angles(
    ids: torch.Tensor,
    axes_dims=ZIMAGE_AXES_DIMS,
    theta: float = ZIMAGE_ROPE_THETA,
) -> torch.Tensor:
    """Rotation angle of every pair of the head for every token.

    Args:
        ids: ``[N, 3]`` integer positions (first axis, row, column).
        axes_dims: Head numbers per axis.
        theta: RoPE base.

    Returns:
        ``[N, sum(axes_dims) // 2]`` float32 angles: the first axis'
        pairs, then the row's, then the column's.

    Examples:
        >>> ids = torch.tensor([[6, 0, 0], [33, 3, 7]])
        >>> angles = rope_angles(ids)
        >>> angles.shape                     # 16 + 24 + 24 pairs
        torch.Size([2, 64])
        >>> # a caption token turns nothing on row and column
        >>> angles[0, 16:].abs().max().item()
        0.0
    """
    per_axis = []
    for axis, dim in enumerate(axes_dims):
        # position * frequency in float64, rounded once, as diffusers' table
        position = ids[:, axis, None].double()
        per_axis.append((position * axis_frequencies(dim, theta)).float())
    return torch.cat(per_axis, dim=-1)


def rope_freqs_cis(
    ids: torch.Tensor,
    axes_dims=ZIMAGE_AXES_DIMS,
    theta: float = ZIMAGE_ROPE_THETA,
) -> torch.Tensor:
    """The same angles as unit complex numbers ``cos + i sin``.

    This is the form diffusers passes to its attention processor.

    Examples:
        >>> rope_freqs_cis(torch.tensor([[1, 0, 0]])).dtype
        torch.complex64
    """
    angles = rope_angles(ids, axes_dims, theta)
    return torch.polar(torch.ones_like(angles), angles)


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate each pair ``(x[2i], x[2i+1])`` of every head by its angle.

    Args:
        x: ``[B, L, heads, head_dim]`` queries or keys.
        angles: ``[B, L, head_dim // 2]`` (or ``[L, head_dim // 2]``),
            from [`rope_angles`][snippets.rope.rope_angles].

    Returns:
        ``x`` rotated, same shape and dtype.

    Examples:
        >>> x = torch.tensor([[[[1.0, 0.0]]]])   # one token, head, pair
        >>> quarter_turn = torch.tensor([[torch.pi / 2]])
        >>> turned = apply_rope(x, quarter_turn)
        >>> [round(v, 6) + 0.0 for v in turned.flatten().tolist()]
        [0.0, 1.0]
    """
    pairs = x.float().unflatten(-1, (-1, 2))  # [B, L, heads, head_dim/2, 2]
    even, odd = pairs[..., 0], pairs[..., 1]
    # the same angles for every head
    cos, sin = angles.cos().unsqueeze(-2), angles.sin().unsqueeze(-2)
    rotated = torch.stack(
        [even * cos - odd * sin, even * sin + odd * cos],
        dim=-1,
    )
    return rotated.flatten(-2).type_as(x)


# --8<-- [end:rope]


def padded_length(n: int, multiple: int = SEQ_MULTI_OF) -> int:
    """``n`` rounded up to a multiple of 32, as diffusers pads each sequence.

    Examples:
        >>> padded_length(20), padded_length(32), padded_length(33)
        (32, 32, 64)
    """
    return n + (-n) % multiple


# --8<-- [start:position-ids]
def caption_position_ids(n_tokens: int) -> torch.Tensor:
    """Positions of a caption's tokens, padded to a multiple of 32 tokens.

    Token ``k`` (padding included) sits at ``(1 + k, 0, 0)``.

    Returns:
        ``[padded_length(n_tokens), 3]`` int32.

    Examples:
        >>> ids = caption_position_ids(20)
        >>> ids.shape, ids[5].tolist()       # text token 5
        (torch.Size([32, 3]), [6, 0, 0])
    """
    k = torch.arange(padded_length(n_tokens), dtype=torch.int32)
    zeros = torch.zeros_like(k)
    return torch.stack([1 + k, zeros, zeros], dim=-1)


def image_position_ids(
    rows: int,
    columns: int,
    caption_tokens: int,
) -> torch.Tensor:
    """Positions of a ``rows x columns`` grid of patches after a caption.

    Patch ``(r, c)`` (row-major order) sits at ``(L + 1, r, c)``, with
    ``L`` the caption's padded length; padding patches sit at ``(0, 0, 0)``.

    Returns:
        ``[padded_length(rows * columns), 3]`` int32.

    Examples:
        >>> ids = image_position_ids(16, 16, caption_tokens=20)
        >>> ids[3 * 16 + 7].tolist()         # the patch at row 3, column 7
        [33, 3, 7]
    """
    first = padded_length(caption_tokens) + 1
    row, col = torch.arange(rows), torch.arange(columns)
    r, c = torch.meshgrid(row, col, indexing="ij")
    ids = torch.stack([torch.full_like(r, first), r, c], dim=-1)
    ids = ids.flatten(0, 1).int()
    pad = padded_length(len(ids)) - len(ids)
    return torch.cat([ids, torch.zeros(pad, 3, dtype=torch.int32)])


# --8<-- [end:position-ids]


def rope_scores(
    q: torch.Tensor, k: torch.Tensor, q_ids: torch.Tensor, k_ids: torch.Tensor
) -> torch.Tensor:
    """Attention logits ``<R(q_pos) q, R(k_pos) k> / sqrt(d)`` for one head.

    Args:
        q: ``[head_dim]`` one query's content (the same vector placed at every query position).
        k: ``[head_dim]`` one key's content (the same at every key position), or ``[M, head_dim]``.
        q_ids: ``[N, 3]`` query positions.
        k_ids: ``[M, 3]`` key positions.

    Returns:
        ``[N, M]`` scores. With fixed content, any change across positions is positional bias.

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> q, k = torch.randn(128, generator=g), torch.randn(128, generator=g)
        >>> same = rope_scores(q, k, torch.tensor([[5, 0, 0]]), torch.tensor([[9, 2, 2], [14, 2, 2]]))
        >>> moved = rope_scores(q, k, torch.tensor([[0, 0, 0]]), torch.tensor([[4, 2, 2], [9, 2, 2]]))
        >>> torch.allclose(same, moved, atol=1e-4)   # only offsets matter
        True
    """
    k = k.expand(len(k_ids), -1)
    rq = apply_rope(q.expand(len(q_ids), -1)[None, :, None], rope_angles(q_ids))[0, :, 0]
    rk = apply_rope(k[None, :, None], rope_angles(k_ids))[0, :, 0]
    return rq @ rk.T / q.shape[-1] ** 0.5

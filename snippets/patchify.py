"""Tokenize the image: cut a latent into p x p patches and embed each patch as a token.

This is the first idea of a Diffusion Transformer (Peebles & Xie, 2023): a latent
``[C, H, W]`` becomes a sequence of ``L = (H / p) * (W / p)`` tokens, each holding the
``p * p * C`` numbers of one patch, and a linear projection turns every patch into a
``hidden_size`` vector. A fixed 2D sine-cosine table, added to the tokens, tells the
transformer where each patch came from.

The module mirrors ``facebookresearch/DiT`` (``models.py``, which takes ``PatchEmbed`` from
timm and the positional table from MAE) and diffusers' ``PatchEmbed``; the tests check it
against diffusers numerically.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

__all__ = [
    "patchify",
    "unpatchify",
    "num_patches",
    "get_1d_sincos_pos_embed",
    "get_2d_sincos_pos_embed",
    "PatchEmbed",
]


# --8<-- [start:patchify-def]
def patchify(latent: torch.Tensor, patch_size: int) -> torch.Tensor:
    # --8<-- [end:patchify-def]
    """Cut a batch of latents into non-overlapping square patches, one token per patch.

    Patches are read row by row (left to right, top to bottom); inside a patch the values are
    ordered (row in patch, column in patch, channel), the order DiT's ``unpatchify`` expects.

    Args:
        latent: ``[B, C, H, W]`` tensor; ``H`` and ``W`` must be multiples of ``patch_size``.
        patch_size: side ``p`` of each square patch.

    Returns:
        ``[B, L, p * p * C]`` with ``L = (H / p) * (W / p)``.

    Examples:
        >>> import torch
        >>> latent = torch.randn(1, 4, 32, 32)
        >>> patchify(latent, 2).shape          # 16 x 16 patches of 2 x 2 x 4 numbers
        torch.Size([1, 256, 16])
        >>> patchify(latent, 8).shape
        torch.Size([1, 16, 256])
    """
    _, _, height, width = latent.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"latent {height}x{width} is not divisible by patch size {patch_size}")
    # --8<-- [start:patchify-body]
    return rearrange(
        latent,
        "b c (h p) (w q) -> b (h w) (p q c)",
        p=patch_size,
        q=patch_size,
    )
    # --8<-- [end:patchify-body]


def unpatchify(
    tokens: torch.Tensor,
    patch_size: int,
    channels: int,
    height: int | None = None,
    width: int | None = None,
) -> torch.Tensor:
    """Put patch tokens back together into a latent: the inverse of
    [`patchify`][snippets.patchify.patchify].

    Args:
        tokens: ``[B, L, p * p * C]`` patch tokens in [`patchify`][snippets.patchify.patchify] order.
        patch_size: side ``p`` of each square patch.
        channels: ``C``, the channels of the output latent.
        height: ``H`` of the output latent in latent pixels; with ``width`` omitted too,
            the latent is taken to be square (``L`` must then be a perfect square).
        width: ``W`` of the output latent in latent pixels.

    Returns:
        ``[B, C, H, W]``.

    Examples:
        >>> import torch
        >>> latent = torch.randn(2, 4, 32, 32)
        >>> tokens = patchify(latent, 2)
        >>> unpatchify(tokens, 2, channels=4).shape
        torch.Size([2, 4, 32, 32])
        >>> torch.equal(unpatchify(tokens, 2, channels=4), latent)
        True
    """
    num_tokens = tokens.shape[1]
    if height is None and width is None:
        side = round(num_tokens**0.5)
        if side * side != num_tokens:
            raise ValueError(
                f"{num_tokens} tokens do not form a square grid; pass height and width"
            )
        grid_h = grid_w = side
    else:
        if height is None or width is None:
            raise ValueError("pass both height and width, or neither")
        grid_h, grid_w = height // patch_size, width // patch_size
    if grid_h * grid_w != num_tokens:
        raise ValueError(f"{num_tokens} tokens do not fill a {grid_h}x{grid_w} grid")
    return rearrange(
        tokens,
        "b (h w) (p q c) -> b c (h p) (w q)",
        h=grid_h,
        w=grid_w,
        p=patch_size,
        q=patch_size,
        c=channels,
    )


def num_patches(height: int, width: int, patch_size: int) -> int:
    """Sequence length ``L = (H / p) * (W / p)`` of a ``H x W`` latent cut into ``p x p`` patches.

    Args:
        height: latent height ``H``.
        width: latent width ``W``.
        patch_size: patch side ``p``.

    Returns:
        The number of tokens.

    Examples:
        >>> [num_patches(64, 64, p) for p in (8, 4, 2)]
        [64, 256, 1024]
    """
    if height % patch_size or width % patch_size:
        raise ValueError(f"{height}x{width} is not divisible by patch size {patch_size}")
    return (height // patch_size) * (width // patch_size)


def get_1d_sincos_pos_embed(embed_dim: int, positions: torch.Tensor) -> torch.Tensor:
    r"""Sine-cosine embedding of 1D positions, the Transformer's fixed positional encoding.

    Position ``x`` maps to ``[sin(x w_0), ..., sin(x w_{D/2-1}), cos(x w_0), ..., cos(x w_{D/2-1})]``
    with frequencies $w_i = 10000^{-2i/D}$. Computed in float64 (as MAE, DiT and diffusers
    do) and returned as float32.

    Args:
        embed_dim: ``D``, even.
        positions: ``[M]`` positions (may be fractional).

    Returns:
        ``[M, D]`` float32.

    Examples:
        >>> import torch
        >>> table = get_1d_sincos_pos_embed(4, torch.arange(3.0))
        >>> table.shape
        torch.Size([3, 4])
        >>> table[0].tolist()                   # position 0: sines are 0, cosines are 1
        [0.0, 0.0, 1.0, 1.0]
    """
    if embed_dim % 2:
        raise ValueError(f"embed_dim must be even, got {embed_dim}")
    half = embed_dim // 2
    omega = torch.arange(half, dtype=torch.float64, device=positions.device) / half
    omega = 1.0 / 10000**omega  # [D/2]
    angles = positions.reshape(-1).to(torch.float64)[:, None] * omega[None, :]  # [M, D/2]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def get_2d_sincos_pos_embed(
    embed_dim: int,
    grid_size: int | tuple[int, int],
    base_size: int | None = None,
    interpolation_scale: float = 1.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Fixed 2D sine-cosine positional table for a grid of patches, as in DiT and MAE.

    Half of the ``D`` numbers encode the patch's column, the other half its row, each with
    [`get_1d_sincos_pos_embed`][snippets.patchify.get_1d_sincos_pos_embed]. The column comes
    first: MAE's code builds the grid with ``meshgrid(w, h)``, and DiT and diffusers keep that
    order. Rows of the table follow [`patchify`][snippets.patchify.patchify]'s token order
    (row-major).

    Positions are ``index / (grid / base_size) / interpolation_scale``. With the defaults
    (``base_size`` = grid side, ``interpolation_scale`` = 1), positions are the integer indices,
    which is what DiT uses and what diffusers' ``PatchEmbed`` passes for ``DiTTransformer2DModel``
    (its ``base_size`` is ``sample_size // patch_size``). diffusers' standalone function defaults
    to ``base_size=16``, which rescales positions for grids other than 16 x 16.

    Args:
        embed_dim: ``D``, a multiple of 4.
        grid_size: grid side, or ``(rows, columns)``.
        base_size: grid side that positions are normalised to; ``None`` means no rescaling.
        interpolation_scale: extra divisor of the positions.
        device: where to build the table.

    Returns:
        ``[rows * columns, D]`` float32.

    Examples:
        >>> table = get_2d_sincos_pos_embed(1152, 16)      # DiT-XL/2 on a 32 x 32 latent
        >>> table.shape
        torch.Size([256, 1152])
        >>> bool(table.requires_grad)                        # fixed, not learned
        False
    """
    if embed_dim % 4:
        raise ValueError(f"embed_dim must be a multiple of 4, got {embed_dim}")
    rows, cols = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    row_pos = torch.arange(rows, dtype=torch.float32, device=device)
    col_pos = torch.arange(cols, dtype=torch.float32, device=device)
    if base_size is not None:
        row_pos = row_pos / (rows / base_size)
        col_pos = col_pos / (cols / base_size)
    row_pos, col_pos = row_pos / interpolation_scale, col_pos / interpolation_scale
    # token k = r * cols + c  ->  (row r, column c)
    row_of_token = row_pos.repeat_interleave(cols)
    col_of_token = col_pos.repeat(rows)
    half = embed_dim // 2
    return torch.cat(
        [get_1d_sincos_pos_embed(half, col_of_token), get_1d_sincos_pos_embed(half, row_of_token)],
        dim=1,
    )


class PatchEmbed(nn.Module):
    """Patchify, project each patch to ``hidden_size`` and add the fixed 2D positional table.

    The projection is a convolution with ``kernel_size = stride = p``: each output position sees
    exactly one patch, so it is the same map as an ``nn.Linear`` applied to
    [`patchify`][snippets.patchify.patchify]'s output (with the weight reordered; the tests check
    it). The positional table is a buffer, not a
    parameter: DiT freezes it (``requires_grad=False``) and diffusers stores it as a buffer.

    Args:
        input_size: side of the square latent (32 for 256 x 256 images through the SD VAE), or
            its ``(height, width)``.
        patch_size: patch side ``p``.
        in_channels: latent channels ``C``.
        hidden_size: token width ``D``.

    Examples:
        >>> import torch
        >>> embed = PatchEmbed(input_size=32, patch_size=2, in_channels=4, hidden_size=1152)
        >>> embed(torch.randn(1, 4, 32, 32)).shape
        torch.Size([1, 256, 1152])
        >>> embed.num_patches, tuple(embed.pos_embed.shape)
        (256, (1, 256, 1152))
        >>> PatchEmbed((8, 16), 2, 1, 32)(torch.randn(1, 1, 8, 16)).shape   # a wide canvas
        torch.Size([1, 32, 32])
    """

    def __init__(
        self, input_size: int | tuple[int, int], patch_size: int, in_channels: int, hidden_size: int
    ):
        super().__init__()
        self.input_size = input_size
        self.patch_size = patch_size
        height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
        self.grid_size = (height // patch_size, width // patch_size)
        if height == width:
            self.grid_size = height // patch_size
        self.num_patches = num_patches(height, width, patch_size)
        self.proj = nn.Conv2d(
            in_channels, hidden_size, kernel_size=patch_size, stride=patch_size, bias=True
        )
        pos_embed = get_2d_sincos_pos_embed(hidden_size, self.grid_size)
        self.register_buffer("pos_embed", pos_embed.unsqueeze(0), persistent=False)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, L, D]``."""
        tokens = rearrange(self.proj(latent), "b d h w -> b (h w) d")
        return tokens + self.pos_embed

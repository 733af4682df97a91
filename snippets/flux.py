r"""Flux's single-stream block: one set of weights for all tokens, attention and MLP side by side.

FLUX.1 starts like SD3, with dual-stream (MMDiT) blocks that keep separate weights per modality.
After them the text and image tokens are concatenated once, ``[text; image]``, and the rest of
the network is **single-stream** blocks: every token goes through the same weights. Each block
also runs its attention and its MLP **in parallel** from the same modulated input (the
"parallel layers" of GPT-J and ViT-22B), and one linear layer, ``proj_out``, maps the
concatenation of both results back to the width ``D``:

$$
h = \mathrm{LN}(x)\,(1 + \gamma) + \beta, \qquad
x \leftarrow x + \alpha \odot W_{\text{out}}\,[\mathrm{Attention}(h);\ \mathrm{GELU}(W_{\text{mlp}} h)]
$$

with ``(β, γ, α)`` from one ``Linear(D, 3 D)`` of ``SiLU(c)``: adaLN-Zero with three vectors per
block instead of six, since there is one residual branch instead of two.

Attribute names follow diffusers' ``FluxSingleTransformerBlock`` (``norm.linear``, ``proj_mlp``,
``proj_out``, ``attn.to_q``/``to_k``/``to_v``, ``attn.norm_q``/``norm_k``), so the tests load
weights across by name and compare outputs.

What this toy version leaves out: rotary position embeddings (FLUX.1 rotates queries and keys
with a 3-axis RoPE instead of adding positions to the tokens; ``image_rotary_emb=None`` in the
comparison), and the zero initialisation of the modulation (diffusers initialises it randomly and
loads trained weights; here it starts at zero as in DiT, so a fresh block is the identity).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from einops import rearrange

from snippets.attention import attention
from snippets.dit import modulate

__all__ = ["FluxAttention", "AdaLNZeroSingle", "FluxSingleBlock"]


class FluxAttention(nn.Module):
    """Q/K/V with RMS-normalised queries and keys, and **no** output projection (``pre_only``).

    The output projection is folded into the block's ``proj_out``, which also receives the MLP.

    Examples:
        >>> attn = FluxAttention(32, num_heads=4)
        >>> attn(torch.randn(2, 20, 32)).shape
        torch.Size([2, 20, 32])
    """

    def __init__(self, dim: int, num_heads: int, eps: float = 1e-6):
        super().__init__()
        self.num_heads = num_heads
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, dim) for _ in range(3))
        self.norm_q = nn.RMSNorm(dim // num_heads, eps=eps)  # QK-norm keeps logits bounded at scale
        self.norm_k = nn.RMSNorm(dim // num_heads, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, L, D]`` -> ``[B, L, D]`` (heads concatenated, not yet projected)."""
        heads = "b l (h d) -> b h l d"
        q = self.norm_q(rearrange(self.to_q(x), heads, h=self.num_heads))
        k = self.norm_k(rearrange(self.to_k(x), heads, h=self.num_heads))
        v = rearrange(self.to_v(x), heads, h=self.num_heads)
        return rearrange(attention(q, k, v), "b h l d -> b l (h d)")


class AdaLNZeroSingle(nn.Module):
    """LayerNorm modulated by ``(shift, scale)``, plus one gate: three vectors from ``c``.

    Examples:
        >>> norm = AdaLNZeroSingle(32)
        >>> h, gate = norm(torch.randn(2, 20, 32), torch.randn(2, 32))
        >>> h.shape, gate.shape, bool(gate.eq(0).all())    # zero-initialised
        (torch.Size([2, 20, 32]), torch.Size([2, 32]), True)
    """

    def __init__(self, dim: int):
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, 3 * dim)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, L, D]``, ``c [B, D]`` -> ``(modulated x [B, L, D], gate [B, D])``."""
        shift, scale, gate = self.linear(self.silu(c)).chunk(3, dim=1)
        return modulate(self.norm(x), shift, scale), gate


# --8<-- [start:flux-single-block]
class FluxSingleBlock(nn.Module):
    """A Flux single-stream block over the joint sequence ``[text; image]``.

    Args:
        dim: Token width ``D``.
        num_heads: Attention heads.
        mlp_ratio: MLP inner width as a multiple of ``D``.

    Examples:
        >>> block = FluxSingleBlock(32, num_heads=4)
        >>> txt, img = torch.randn(2, 4, 32), torch.randn(2, 16, 32)
        >>> c = torch.randn(2, 32)
        >>> txt_out, img_out = block(txt, img, c)
        >>> txt_out.shape, img_out.shape
        (torch.Size([2, 4, 32]), torch.Size([2, 16, 32]))
        >>> torch.equal(img_out, img)            # zero gate: identity
        True
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm = AdaLNZeroSingle(dim)  # one modulation for all tokens
        self.attn = FluxAttention(dim, num_heads)
        self.proj_mlp = nn.Linear(dim, int(dim * mlp_ratio))
        self.act_mlp = nn.GELU(approximate="tanh")
        # one output layer for both branches, attention's and the MLP's
        self.proj_out = nn.Linear(dim + int(dim * mlp_ratio), dim)

    def forward(
        self, txt: torch.Tensor, img: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``txt [B, T, D]``, ``img [B, N, D]``, ``c [B, D]``.

        Returns the updated ``(txt, img)``, shapes unchanged.
        """
        x = torch.cat([txt, img], dim=1)  # [B, T + N, D]: one stream
        h, gate = self.norm(x, c)
        mlp = self.act_mlp(self.proj_mlp(h))  # [B, T+N, 4 D], beside attention
        both = torch.cat([self.attn(h), mlp], dim=2)  # [B, T + N, 5 D]
        x = x + gate.unsqueeze(1) * self.proj_out(both)
        return x[:, : txt.shape[1]], x[:, txt.shape[1] :]


# --8<-- [end:flux-single-block]

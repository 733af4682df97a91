r"""A single-stream transformer in the style of Z-Image's S3-DiT, at toy size.

Where MMDiT keeps two sets of weights in every block, S3-DiT ("scalable single-stream DiT")
spends its modality-specific weights **up front** and shares everything after:

1. a few **refiner** blocks per modality: ``noise_refiner`` for the image tokens (modulated by
   the timestep) and ``context_refiner`` for the text tokens (no modulation);
2. the refined sequences are concatenated, ``[image; text]``, and every main block applies the
   **same** Q/K/V, output projection and feed-forward weights to all tokens ("translate once,
   then speak together").

The block follows diffusers' ``ZImageTransformerBlock`` (``transformer_z_image.py``; the tests copy
weights across and compare outputs):

- RMSNorm everywhere, in a *sandwich*: a norm before attention/FFN and another on the branch's
  output before the residual add; RMSNorm on queries and keys (QK-norm);
- a SwiGLU feed-forward, ``w2(silu(w1 x) * w3 x)``, inner width ``8/3 D``, no biases;
- adaLN with **scale and gate only** (no shift): ``Linear(c)`` gives four vectors, scales enter
  as ``1 + scale`` and gates as ``tanh(gate)``; the conditioning vector ``c`` is the timestep
  embedding alone, at width ``min(D, 256)`` (a low-rank bottleneck for large ``D``). The text
  conditions the image only through attention;
- the final layer: LayerNorm, a scale ``1 + Linear(SiLU(c))``, a linear map to patches.

What this toy version simplifies: additive positions (2D sine-cosine for image patches; the text
features carry their own order) instead of Z-Image's 3D RoPE; a small frozen transformer's
features instead of the Qwen3 language model's hidden states (both reach the model through
``cap_embedder``, RMSNorm then Linear); no padding/masking of variable-length
sequences; the adaLN and output layers start at zero as in DiT (so ``tanh(0) = 0`` gates make a
fresh modulated block the identity); the timestep enters as ``1000 t`` with ``t = 1`` noise, where
Z-Image feeds ``1 - t`` (its ``t = 1`` is the clean image).

Names: the attributes are diffusers' (``ZImageTransformerBlock``) except the fused ``qkv`` and
``proj`` of the attention; ``DIFFUSERS_NAMES`` maps a block's names to diffusers':

    >>> DIFFUSERS_NAMES["attention.qkv"]
    ('attention.to_q', 'attention.to_k', 'attention.to_v')
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from snippets.attention import attention, record_attention  # noqa: F401 (doctests)
from snippets.dit import TimestepEmbedder
from snippets.initialization import init_dit_weights
from snippets.patchify import PatchEmbed, unpatchify

__all__ = [
    "SwiGLU",
    "SingleStreamAttention",
    "SingleStreamBlock",
    "SingleStreamFinalLayer",
    "SingleStreamDiT",
]

DIFFUSERS_NAMES = {
    "attention.qkv": ("attention.to_q", "attention.to_k", "attention.to_v"),
    "attention.norm_q": "attention.norm_q",
    "attention.norm_k": "attention.norm_k",
    "attention.proj": "attention.to_out.0",
    "feed_forward.w1": "feed_forward.w1",
    "feed_forward.w2": "feed_forward.w2",
    "feed_forward.w3": "feed_forward.w3",
    "attention_norm1": "attention_norm1",
    "attention_norm2": "attention_norm2",
    "ffn_norm1": "ffn_norm1",
    "ffn_norm2": "ffn_norm2",
    "adaLN_modulation": "adaLN_modulation.0",
}
"""[`SingleStreamBlock`][snippets.single_stream.SingleStreamBlock] module names -> diffusers'
``ZImageTransformerBlock`` (for [`snippets.naming.to_diffusers`][snippets.naming.to_diffusers])."""

ADALN_EMBED_DIM = 256


class SwiGLU(nn.Module):
    """Gated feed-forward ``w2(silu(w1 x) * w3 x)`` (Shazeer, 2020), as in Llama and Z-Image.

    Examples:
        >>> ffn = SwiGLU(48)
        >>> ffn.w1.out_features, ffn(torch.randn(2, 5, 48)).shape   # inner width int(48 / 3 * 8)
        (128, torch.Size([2, 5, 48]))
    """

    def __init__(self, dim: int, hidden_dim: int | None = None):
        super().__init__()
        hidden_dim = hidden_dim or int(dim / 3 * 8)
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, L, D]`` -> ``[B, L, D]``."""
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class SingleStreamAttention(nn.Module):
    """Self-attention with QK RMSNorm and bias-free projections (Z-Image's attention).

    Examples:
        >>> attn = SingleStreamAttention(32, num_heads=4)
        >>> with record_attention() as probs:
        ...     out = attn(torch.randn(2, 20, 32))
        >>> out.shape, probs[0].shape
        (torch.Size([2, 20, 32]), torch.Size([2, 4, 20, 20]))
    """

    def __init__(self, dim: int, num_heads: int, eps: float = 1e-5):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.norm_q = nn.RMSNorm(dim // num_heads, eps=eps)
        self.norm_k = nn.RMSNorm(dim // num_heads, eps=eps)
        self.proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, L, D]`` -> ``[B, L, D]``."""
        q, k, v = rearrange(
            self.qkv(x), "b l (three h d) -> three b h l d", three=3, h=self.num_heads
        )
        q, k = self.norm_q(q), self.norm_k(k)  # QK-norm: bounded logits at any width
        return self.proj(rearrange(attention(q, k, v), "b h l d -> b l (h d)"))


class SingleStreamBlock(nn.Module):
    """Z-Image's transformer block: sandwich RMSNorms, SwiGLU, optional scale-and-gate adaLN.

    With ``modulation`` (noise refiner and main blocks)::

        x = x + tanh(g1) * norm2(attn(norm1(x) * (1 + s1)))
        x = x + tanh(g2) * ffn_norm2(ffn(ffn_norm1(x) * (1 + s2)))

    with ``(s1, g1, s2, g2) = Linear(c)``. Without it (context refiner) the scales and gates are
    dropped.

    Args:
        dim: Token width ``D``.
        num_heads: Attention heads.
        modulation: Condition on ``c`` (adaLN) or not.
        adaln_dim: Width of ``c``.

    Examples:
        >>> block = SingleStreamBlock(32, num_heads=4, modulation=True, adaln_dim=32)
        >>> x, c = torch.randn(2, 20, 32), torch.randn(2, 32)
        >>> torch.equal(block(x, c), x)                  # zero-initialised gate: tanh(0) = 0
        True
        >>> SingleStreamBlock(32, num_heads=4, modulation=False)(x).shape
        torch.Size([2, 20, 32])
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        modulation: bool = True,
        adaln_dim: int | None = None,
        eps: float = 1e-5,
    ):
        super().__init__()
        self.attention = SingleStreamAttention(dim, num_heads, eps)
        self.feed_forward = SwiGLU(dim)
        self.attention_norm1, self.attention_norm2 = (
            nn.RMSNorm(dim, eps=eps),
            nn.RMSNorm(dim, eps=eps),
        )
        self.ffn_norm1, self.ffn_norm2 = nn.RMSNorm(dim, eps=eps), nn.RMSNorm(dim, eps=eps)
        self.modulation = modulation
        if modulation:
            self.adaLN_modulation = nn.Linear(adaln_dim or min(dim, ADALN_EMBED_DIM), 4 * dim)
            nn.init.zeros_(self.adaLN_modulation.weight)
            nn.init.zeros_(self.adaLN_modulation.bias)

    # --8<-- [start:single-stream-block-forward]
    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None):
        """``x [B, L, D]``, ``c [B, adaln_dim]`` (if modulated) -> ``x``."""
        if self.modulation:
            mod = self.adaLN_modulation(c).unsqueeze(1)
            scale_msa, gate_msa, scale_mlp, gate_mlp = mod.chunk(4, dim=2)
            scale_msa, scale_mlp = 1 + scale_msa, 1 + scale_mlp
            gate_msa, gate_mlp = gate_msa.tanh(), gate_mlp.tanh()
        else:
            scale_msa = gate_msa = scale_mlp = gate_mlp = 1.0
        attn = self.attention(self.attention_norm1(x) * scale_msa)
        x = x + gate_msa * self.attention_norm2(attn)
        ffn = self.feed_forward(self.ffn_norm1(x) * scale_mlp)
        x = x + gate_mlp * self.ffn_norm2(ffn)
        return x

    # --8<-- [end:single-stream-block-forward]


class SingleStreamFinalLayer(nn.Module):
    """Z-Image's output layer: LayerNorm scaled by ``1 + Linear(SiLU(c))`` (no shift), then linear.

    Examples:
        >>> final = SingleStreamFinalLayer(32, patch_size=2, out_channels=1, adaln_dim=32)
        >>> final(torch.randn(2, 16, 32), torch.randn(2, 32)).shape
        torch.Size([2, 16, 4])
    """

    def __init__(self, dim: int, patch_size: int, out_channels: int, adaln_dim: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(adaln_dim, dim))
        for layer in (self.adaLN_modulation[-1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``[B, L, D]``, ``[B, adaln_dim]`` -> ``[B, L, p * p * out_channels]``."""
        return self.linear(self.norm_final(x) * (1 + self.adaLN_modulation(c).unsqueeze(1)))


class SingleStreamDiT(nn.Module):
    """Refine each modality apart, then run shared-weight blocks over ``[image; text]``.

    Args:
        input_size: Image side, or ``(height, width)``.
        patch_size: Patch side ``p``.
        in_channels: Image channels.
        hidden_size: Token width ``D``.
        depth: Number of shared (main) blocks.
        num_heads: Attention heads.
        text_dim: Width of the frozen text encoder's features.
        n_refiner_layers: Refiner blocks per modality (Z-Image: 2).

    Examples:
        >>> model = SingleStreamDiT(input_size=8, patch_size=2, in_channels=1, hidden_size=32, depth=2,
        ...                         num_heads=4, text_dim=24, n_refiner_layers=1)
        >>> x, t, text = torch.randn(3, 1, 8, 8), torch.rand(3), torch.randn(3, 4, 24)
        >>> model(x, t, text).shape
        torch.Size([3, 1, 8, 8])
        >>> with record_attention() as probs:
        ...     _ = model(x, t, text)
        >>> [p.shape[-1] for p in probs]   # 1 image refiner (16), 1 text refiner (4), 2 main (16 + 4)
        [16, 4, 20, 20]
    """

    def __init__(
        self,
        input_size: int = 8,
        patch_size: int = 2,
        in_channels: int = 1,
        hidden_size: int = 64,
        depth: int = 4,
        num_heads: int = 4,
        text_dim: int = 32,
        n_refiner_layers: int = 1,
    ):
        super().__init__()
        self.in_channels, self.patch_size = in_channels, patch_size
        adaln_dim = min(hidden_size, ADALN_EMBED_DIM)
        self.x_embedder = PatchEmbed(input_size, patch_size, in_channels, hidden_size)
        self.t_embedder = TimestepEmbedder(adaln_dim)
        # Z-Image: RMSNorm then Linear from Qwen3's 2560 features to 3840
        self.cap_embedder = nn.Sequential(nn.RMSNorm(text_dim), nn.Linear(text_dim, hidden_size))
        self.noise_refiner = nn.ModuleList(
            [
                SingleStreamBlock(hidden_size, num_heads, True, adaln_dim)
                for _ in range(n_refiner_layers)
            ]
        )
        self.context_refiner = nn.ModuleList(
            [SingleStreamBlock(hidden_size, num_heads, False) for _ in range(n_refiner_layers)]
        )
        self.layers = nn.ModuleList(
            [SingleStreamBlock(hidden_size, num_heads, True, adaln_dim) for _ in range(depth)]
        )
        self.final_layer = SingleStreamFinalLayer(hidden_size, patch_size, in_channels, adaln_dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT's recipe ([`init_dit_weights`][snippets.initialization.init_dit_weights]); every
        modulated block's adaLN and the output layer start at zero."""
        zero = [b.adaLN_modulation for b in (*self.noise_refiner, *self.layers)]
        zero += [self.final_layer.adaLN_modulation[-1], self.final_layer.linear]
        normal = [self.t_embedder.mlp[0].weight, self.t_embedder.mlp[2].weight]
        init_dit_weights(self, patch_proj=self.x_embedder.proj, normal=normal, zero=zero)

    def forward(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``x [B, C, H, W]``, ``t [B]`` in ``[0, 1]``, ``text [B, T, text_dim]`` -> velocity ``[B, C, H, W]``.

        Under [`record_attention`][snippets.attention.record_attention] the refiners record
        their maps first, then each main block its ``[B, heads, N+T, N+T]`` map (image first).
        """
        height, width = x.shape[-2:]
        c = self.t_embedder(t * 1000)  # [B, adaln_dim]: the timestep only
        img = self.x_embedder(x)  # [B, N, D]
        for block in self.noise_refiner:
            img = block(img, c)
        txt = self.cap_embedder(text)  # [B, T, D]
        for block in self.context_refiner:
            txt = block(txt)
        n_img = img.shape[1]
        seq = torch.cat([img, txt], dim=1)  # [B, N + T, D]: one stream from here on
        for block in self.layers:
            seq = block(seq, c)
        patches = self.final_layer(seq[:, :n_img], c)
        out = unpatchify(patches, self.patch_size, self.in_channels, height, width)
        return out

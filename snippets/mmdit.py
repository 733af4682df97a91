r"""MMDiT, the dual-stream transformer of Stable Diffusion 3 (Esser et al., 2024), at toy size.

One MMDiT block holds **two sets of weights**, one per modality (image tokens and text tokens):
their own adaLN-Zero modulation, Q/K/V projection, output projection and MLP. The only thing
the modalities share is **one attention operation** over the concatenated sequence
``[text; image]``: every text token can attend to every image token and back ("shared
listening, separate thinking").

Conditioning follows SD3: the text reaches the image twice, per token through joint attention
and globally through a pooled text vector that is added to the timestep embedding and drives
adaLN-Zero in every block.

What this toy version simplifies, compared with diffusers' ``SD3Transformer2DModel`` /
``JointTransformerBlock``:

- the text encoder is one small frozen transformer (SD3 runs two CLIPs and T5-XXL); its features
  reach the model through ``context_embedder`` as in SD3, and the pooled vector is their mean
  (SD3 uses CLIP's pooled outputs);
- every block updates the text stream (SD3's last block is ``context_pre_only``: it stops after
  the text tokens' attention projections, since nothing reads them afterwards);
- no QK-normalisation (SD3.5 adds it) and no second image-only attention (SD3.5's
  ``use_dual_attention``).

Names: the attributes follow the SD3 reference code's short names. ``DIFFUSERS_NAMES`` maps
them to diffusers' ``JointTransformerBlock`` (a tuple: one fused layer here, three there):

    >>> DIFFUSERS_NAMES["attn.img_qkv"]
    ('attn.to_q', 'attn.to_k', 'attn.to_v')
    >>> DIFFUSERS_NAMES["txt_mod.1"]
    'norm1_context.linear'

Token order: this module concatenates ``[text; image]`` (as the SD3 reference code and Flux do);
diffusers' ``JointAttnProcessor2_0`` concatenates ``[image; text]``. Attention is
permutation-equivariant and positions are added before, so both orders give the same outputs
(the tests check it against diffusers with copied weights).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from einops import rearrange

from snippets.attention import attention, record_attention  # noqa: F401 (doctests)
from snippets.dit import FinalLayer, Mlp, TimestepEmbedder, modulate
from snippets.initialization import init_dit_weights
from snippets.patchify import PatchEmbed, unpatchify

__all__ = ["DIFFUSERS_NAMES", "JointAttention", "MMDiTBlock", "MMDiT"]

DIFFUSERS_NAMES = {
    "img_mod.1": "norm1.linear",
    "txt_mod.1": "norm1_context.linear",
    "attn.img_qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
    "attn.txt_qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"),
    "attn.img_proj": "attn.to_out.0",
    "attn.txt_proj": "attn.to_add_out",
    "img_mlp.fc1": "ff.net.0.proj",
    "img_mlp.fc2": "ff.net.2",
    "txt_mlp.fc1": "ff_context.net.0.proj",
    "txt_mlp.fc2": "ff_context.net.2",
}
"""[`MMDiTBlock`][snippets.mmdit.MMDiTBlock] module names -> diffusers' ``JointTransformerBlock``
(for [`snippets.naming.to_diffusers`][snippets.naming.to_diffusers])."""


class JointAttention(nn.Module):
    """Modality-specific Q/K/V and output projections around ONE attention over both streams.

    Args:
        hidden_size: Token width ``D`` of both streams.
        num_heads: Attention heads.

    Examples:
        >>> attn = JointAttention(32, num_heads=4)
        >>> img, txt = torch.randn(2, 16, 32), torch.randn(2, 4, 32)
        >>> with record_attention() as maps:
        ...     img_out, txt_out = attn(img, txt)
        >>> img_out.shape, txt_out.shape, maps[0].shape   # 4 text + 16 image = 20 tokens
        (torch.Size([2, 16, 32]), torch.Size([2, 4, 32]), torch.Size([2, 4, 20, 20]))
    """

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.img_qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.txt_qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.img_proj = nn.Linear(hidden_size, hidden_size)
        self.txt_proj = nn.Linear(hidden_size, hidden_size)

    # --8<-- [start:joint-attention-forward]
    def forward(self, img: torch.Tensor, txt: torch.Tensor):
        """``img [B, N, D]``, ``txt [B, T, D]`` -> ``(img, txt)``, same shapes.

        The joint sequence is ``[text; image]``: maps have text rows first.
        """
        n_txt, h = txt.shape[1], self.num_heads
        split = "b l (three h d) -> three b h l d"
        q_i, k_i, v_i = rearrange(self.img_qkv(img), split, three=3, h=h)
        q_t, k_t, v_t = rearrange(self.txt_qkv(txt), split, three=3, h=h)
        q = torch.cat([q_t, q_i], dim=2)  # [B, H, T + N, d]
        k = torch.cat([k_t, k_i], dim=2)
        v = torch.cat([v_t, v_i], dim=2)
        out = attention(q, k, v)  # one attention for both streams
        out = rearrange(out, "b h l d -> b l (h d)")
        txt_out, img_out = out[:, :n_txt], out[:, n_txt:]  # split back
        return self.img_proj(img_out), self.txt_proj(txt_out)

    # --8<-- [end:joint-attention-forward]


class MMDiTBlock(nn.Module):
    """An MMDiT (SD3) joint block: a DiT block per modality whose attentions are merged into one.

    Each stream has its own adaLN-Zero modulation (six vectors from ``c``), layer norms, Q/K/V,
    output projection and MLP; the modulation layers start at zero, so a fresh block returns both
    streams unchanged, as a fresh [`DiTBlock`][snippets.dit.DiTBlock] does.

    Args:
        hidden_size: Token width ``D``.
        num_heads: Attention heads.
        mlp_ratio: MLP inner width as a multiple of ``D``.

    Examples:
        >>> block = MMDiTBlock(32, num_heads=4)
        >>> img, txt, c = torch.randn(2, 16, 32), torch.randn(2, 4, 32), torch.randn(2, 32)
        >>> img_out, txt_out = block(img, txt, c)
        >>> torch.equal(img_out, img), torch.equal(txt_out, txt)   # adaLN-Zero: identity at init
        (True, True)
    """

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.attn = JointAttention(hidden_size, num_heads)
        for stream in ("img", "txt"):
            modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))
            nn.init.zeros_(modulation[-1].weight)
            nn.init.zeros_(modulation[-1].bias)
            setattr(self, f"{stream}_mod", modulation)
            setattr(
                self,
                f"{stream}_norm1",
                nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6),
            )
            setattr(
                self,
                f"{stream}_norm2",
                nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6),
            )
            setattr(self, f"{stream}_mlp", Mlp(hidden_size, mlp_ratio))

    def share_weights(self) -> None:
        """Give the text stream the image stream's modules: one set of weights for every token."""
        self.txt_mod, self.txt_mlp = self.img_mod, self.img_mlp
        self.attn.txt_qkv, self.attn.txt_proj = self.attn.img_qkv, self.attn.img_proj

    # --8<-- [start:mmdit-block-forward]
    def forward(self, img: torch.Tensor, txt: torch.Tensor, c: torch.Tensor):
        """``img [B, N, D]``, ``txt [B, T, D]``, ``c [B, D]`` -> same shapes."""
        # per stream: shift, scale, gate for attention, then for the MLP
        i = self.img_mod(c).chunk(6, dim=1)
        t = self.txt_mod(c).chunk(6, dim=1)
        img_attn, txt_attn = self.attn(
            modulate(self.img_norm1(img), i[0], i[1]),
            modulate(self.txt_norm1(txt), t[0], t[1]),
        )
        img = img + i[2].unsqueeze(1) * img_attn
        txt = txt + t[2].unsqueeze(1) * txt_attn
        img_mlp = self.img_mlp(modulate(self.img_norm2(img), i[3], i[4]))
        txt_mlp = self.txt_mlp(modulate(self.txt_norm2(txt), t[3], t[4]))
        img = img + i[5].unsqueeze(1) * img_mlp
        txt = txt + t[5].unsqueeze(1) * txt_mlp
        return img, txt

    # --8<-- [end:mmdit-block-forward]


class MMDiT(nn.Module):
    """A text-conditioned MMDiT: patchified image tokens and text features through joint blocks.

    The text arrives as the features of a frozen text encoder, ``[B, T, text_dim]`` (SD3: T5's
    and the CLIPs' hidden states), and ``context_embedder`` maps them to the model's width.
    ``c = embed(t) + MLP(mean of the text features)`` drives adaLN-Zero (SD3's global path, where
    SD3 uses CLIP's pooled outputs); the text tokens themselves join the image tokens in every
    block's attention (SD3's per-token path). Only the image tokens are decoded into the output.

    With ``share_weights=True`` every block gives the text tokens the *image* stream's weights:
    naive concatenation, the same blocks and pooled path with one set of weights for both kinds
    of token (the lesson's negative example).

    Args:
        input_size: Image side, or ``(height, width)``.
        patch_size: Patch side ``p``.
        in_channels: Image channels.
        hidden_size: Token width ``D`` (both streams).
        depth: Number of joint blocks.
        num_heads: Attention heads.
        text_dim: Width of the text encoder's features.
        mlp_ratio: MLP inner width as a multiple of ``D``.
        share_weights: One set of weights for both streams (naive concatenation).

    Examples:
        >>> model = MMDiT(input_size=8, patch_size=2, in_channels=1, hidden_size=32, depth=2,
        ...               num_heads=4, text_dim=24)
        >>> x, t, text = torch.randn(3, 1, 8, 8), torch.rand(3), torch.randn(3, 4, 24)
        >>> model(x, t, text).shape
        torch.Size([3, 1, 8, 8])
        >>> with record_attention() as probs:
        ...     _ = model(x, t, text)
        >>> len(probs), probs[0].shape                     # per block: [B, heads, 4 + 16, 4 + 16]
        (2, torch.Size([3, 4, 20, 20]))
        >>> shared = MMDiT(8, 2, 1, 32, 2, 4, text_dim=24, share_weights=True)
        >>> count = lambda module: sum(p.numel() for p in module.parameters())
        >>> text_stream = sum(p.numel() for n, p in model.blocks[0].named_parameters() if "txt" in n)
        >>> count(model) - count(shared) == 2 * text_stream      # two blocks, no text weights left
        True
    """

    def __init__(
        self,
        input_size: int | tuple[int, int] = 8,
        patch_size: int = 2,
        in_channels: int = 1,
        hidden_size: int = 64,
        depth: int = 4,
        num_heads: int = 4,
        text_dim: int = 32,
        mlp_ratio: float = 4.0,
        share_weights: bool = False,
    ):
        super().__init__()
        self.in_channels, self.patch_size = in_channels, patch_size
        self.x_embedder = PatchEmbed(input_size, patch_size, in_channels, hidden_size)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.context_embedder = nn.Linear(text_dim, hidden_size)  # SD3: 4096 -> 1536
        self.pooled_embedder = (
            nn.Sequential(  # SD3: PixArtAlphaTextProjection (linear, SiLU, linear)
                nn.Linear(text_dim, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
            )
        )
        self.blocks = nn.ModuleList(
            [MMDiTBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)]
        )
        self.final_layer = FinalLayer(hidden_size, patch_size, in_channels)
        self.initialize_weights()
        if share_weights:
            for block in self.blocks:
                block.share_weights()

    def initialize_weights(self) -> None:
        """DiT's recipe ([`init_dit_weights`][snippets.initialization.init_dit_weights]); both
        streams' modulations and the output layer start at zero."""
        zero = [m for b in self.blocks for m in (b.img_mod[-1], b.txt_mod[-1])]
        zero += [self.final_layer.adaLN_modulation[-1], self.final_layer.linear]
        normal = [self.t_embedder.mlp[0].weight, self.t_embedder.mlp[2].weight]
        init_dit_weights(self, patch_proj=self.x_embedder.proj, normal=normal, zero=zero)

    def forward(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """``x [B, C, H, W]``, ``t [B]`` in ``[0, 1]``, ``text [B, T, text_dim]`` -> velocity ``[B, C, H, W]``.

        Under [`record_attention`][snippets.attention.record_attention] each block records its
        ``[B, heads, T+N, T+N]`` attention probabilities (text first).
        """
        height, width = x.shape[-2:]
        img = self.x_embedder(x)  # [B, N, D]
        txt = self.context_embedder(text)  # [B, T, D]
        c = self.t_embedder(t * 1000) + self.pooled_embedder(text.mean(dim=1))  # [B, D]
        for block in self.blocks:
            img, txt = block(img, txt, c)
        out = unpatchify(self.final_layer(img, c), self.patch_size, self.in_channels, height, width)
        return out

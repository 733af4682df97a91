r"""The Diffusion Transformer (DiT): a standard transformer conditioned through adaLN-Zero.

Structure and names follow ``facebookresearch/DiT`` ``models.py`` (Peebles & Xie, 2023), written
here in plain PyTorch: [`TimestepEmbedder`][snippets.dit.TimestepEmbedder] and
[`LabelEmbedder`][snippets.dit.LabelEmbedder] turn ``(t, y)`` into one conditioning vector ``c``;
every [`DiTBlock`][snippets.dit.DiTBlock] is self-attention plus an MLP whose layer norms are
shifted and scaled by ``c`` and whose residual branches are gated by ``c``; the
[`FinalLayer`][snippets.dit.FinalLayer] maps tokens back to patches, and
[`unpatchify`][snippets.patchify.unpatchify] puts the latent back together.

Conditioning, per sub-layer (what the code computes; ``F`` is the attention or the MLP):

$$
x \leftarrow x + \alpha \odot F\big(\mathrm{LN}(x) \odot (1 + \gamma) + \beta\big),
\qquad (\beta, \gamma, \alpha) = \mathrm{Linear}(\mathrm{SiLU}(c)).
$$

``β``, ``γ`` and ``α`` are ``D``-vectors, one per sample. The linear layer that produces them
starts at zero, so at initialisation ``α = 0`` and every block is the identity.

Time: DiT's ``t`` is a diffusion step index in ``0..1000`` (DDPM's discrete schedule); the flow
models of [`snippets.flow`][snippets.flow] use a continuous ``t`` in ``[0, 1]`` and multiply it by
1000 before the same sine-cosine embedding.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from snippets.attention import attention
from snippets.initialization import init_dit_weights
from snippets.patchify import PatchEmbed, unpatchify

__all__ = [
    "modulate",
    "timestep_embedding",
    "TimestepEmbedder",
    "LabelEmbedder",
    "SelfAttention",
    "Mlp",
    "DiTBlock",
    "FinalLayer",
    "DiT",
    "DIT_CONFIGS",
    "build_dit",
]


# --8<-- [start:modulate]
def modulate(
    x: torch.Tensor,
    shift: torch.Tensor,
    scale: torch.Tensor,
) -> torch.Tensor:
    """Shift and scale each token per channel: ``x * (1 + scale) + shift``.

    The ``1 +`` matters: with ``scale = 0`` (zero initialisation) the
    normalised tokens pass through unchanged. The scale DiT's code learns is
    the offset from one.

    Args:
        x: ``[B, L, D]`` tokens (already layer-normalised).
        shift: ``[B, D]``, one shift per sample and channel (``β``).
        scale: ``[B, D]``, one scale per sample and channel (``γ``: the tokens are
            multiplied by ``1 + γ``).

    Returns:
        ``[B, L, D]``.

    Examples:
        >>> import torch
        >>> x = torch.randn(2, 5, 8)
        >>> zeros = torch.zeros(2, 8)
        >>> torch.equal(modulate(x, zeros, zeros), x)
        True
        >>> shift = torch.tensor([[0.5, 0.0]])
        >>> scale = torch.tensor([[1.0, -1.0]])
        >>> modulate(torch.ones(1, 1, 2), shift, scale).tolist()
        [[[2.5, 0.0]]]
    """
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


# --8<-- [end:modulate]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000) -> torch.Tensor:
    """Sinusoidal features of (possibly fractional) timesteps, ``[cos | sin]`` as in GLIDE and DiT.

    Frequencies are ``max_period ** (-i / (dim / 2))`` for ``i < dim / 2``. (diffusers' DiT divides
    by ``dim / 2 - 1`` instead, its ``downscale_freq_shift=1``: a slightly different table.)

    Args:
        t: ``[N]`` timesteps.
        dim: output width.
        max_period: the slowest period.

    Returns:
        ``[N, dim]`` float32.

    Examples:
        >>> import torch
        >>> emb = timestep_embedding(torch.tensor([0.0, 500.0]), 256)
        >>> emb.shape
        torch.Size([2, 256])
        >>> emb[0, :2].tolist(), emb[0, 128:130].tolist()   # t = 0: cosines 1, sines 0
        ([1.0, 1.0], [0.0, 0.0])
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


class TimestepEmbedder(nn.Module):
    """Timestep -> ``hidden_size`` vector: sinusoidal features, then a two-layer SiLU MLP.

    Args:
        hidden_size: output width ``D``.
        frequency_embedding_size: width of the sinusoidal features.

    Examples:
        >>> import torch
        >>> TimestepEmbedder(64)(torch.tensor([1.0, 999.0])).shape
        torch.Size([2, 64])
    """

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256):
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size),
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """``[N]`` -> ``[N, D]``."""
        return self.mlp(timestep_embedding(t, self.frequency_embedding_size))


class LabelEmbedder(nn.Module):
    """Class label -> ``hidden_size`` vector, with label dropout for classifier-free guidance.

    With ``dropout_prob > 0`` the table has one extra row, index ``num_classes``: the "null"
    class. In training mode each label is replaced by it with probability ``dropout_prob``, so the
    same network also learns the unconditional prediction that guidance needs.

    Args:
        num_classes: number of real classes.
        hidden_size: output width ``D``.
        dropout_prob: probability of dropping a label in training mode.

    Examples:
        >>> import torch
        >>> embedder = LabelEmbedder(num_classes=10, hidden_size=32, dropout_prob=0.1)
        >>> embedder.embedding_table.num_embeddings    # 10 classes + the null class
        11
        >>> embedder(torch.tensor([3, 7])).shape
        torch.Size([2, 32])
        >>> embedder.token_drop(torch.tensor([3, 7]), force_drop_ids=torch.tensor([0, 1])).tolist()
        [3, 10]
    """

    def __init__(self, num_classes: int, hidden_size: int, dropout_prob: float):
        super().__init__()
        use_cfg_embedding = int(dropout_prob > 0)
        self.embedding_table = nn.Embedding(num_classes + use_cfg_embedding, hidden_size)
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob

    def token_drop(
        self,
        labels: torch.Tensor,
        force_drop_ids: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Replace labels by the null class, at random or where ``force_drop_ids == 1``."""
        if force_drop_ids is None:
            drop = (
                torch.rand(labels.shape[0], device=labels.device, generator=generator)
                < self.dropout_prob
            )
        else:
            drop = force_drop_ids == 1
        return torch.where(drop, torch.full_like(labels, self.num_classes), labels)

    def forward(
        self,
        labels: torch.Tensor,
        force_drop_ids: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``[N]`` integer labels -> ``[N, D]``; drops labels only in training mode (or when forced)."""
        if (self.training and self.dropout_prob > 0) or force_drop_ids is not None:
            labels = self.token_drop(labels, force_drop_ids, generator)
        return self.embedding_table(labels)


class SelfAttention(nn.Module):
    """Plain multi-head self-attention: one fused ``qkv`` projection, scaled dot product, ``proj``.

    Args:
        hidden_size: token width ``D``.
        num_heads: number of heads; ``D`` must be divisible by it.

    Examples:
        >>> import torch
        >>> SelfAttention(64, num_heads=4)(torch.randn(2, 16, 64)).shape
        torch.Size([2, 16, 64])
    """

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=True)
        self.proj = nn.Linear(hidden_size, hidden_size, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, L, D]`` -> ``[B, L, D]``; every token attends to every token."""
        q, k, v = rearrange(
            self.qkv(x), "b l (three h d) -> three b h l d", three=3, h=self.num_heads
        )
        out = attention(q, k, v)  # softmax(q k^T / sqrt(d)) v
        return self.proj(rearrange(out, "b h l d -> b l (h d)"))


class Mlp(nn.Module):
    """The transformer's position-wise feed-forward network: Linear, GELU (tanh), Linear.

    Args:
        hidden_size: token width ``D``.
        mlp_ratio: inner width as a multiple of ``D``.

    Examples:
        >>> import torch
        >>> Mlp(64).fc1.out_features
        256
    """

    def __init__(self, hidden_size: int, mlp_ratio: float = 4.0):
        super().__init__()
        inner = int(hidden_size * mlp_ratio)
        self.fc1 = nn.Linear(hidden_size, inner)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(inner, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, L, D]`` -> ``[B, L, D]``."""
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    """A transformer block conditioned through adaLN-Zero.

    Pre-norm self-attention and MLP with residual connections, as in any transformer, except that
    the layer norms have no weights of their own: their shift and scale, and a gate on each
    residual branch, come from the conditioning vector ``c`` (six ``D``-vectors per block).

    ``adaLN_modulation``'s linear layer is zero-initialised here (DiT does it in
    ``initialize_weights``), so a freshly built block returns its input exactly.

    Args:
        hidden_size: token width ``D``.
        num_heads: attention heads.
        mlp_ratio: MLP inner width as a multiple of ``D``.

    Examples:
        >>> import torch
        >>> block = DiTBlock(hidden_size=64, num_heads=4)
        >>> x, c = torch.randn(2, 16, 64), torch.randn(2, 64)
        >>> block(x, c).shape
        torch.Size([2, 16, 64])
        >>> torch.equal(block(x, c), x)         # gate alpha = 0 at initialisation
        True
    """

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(hidden_size, num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, mlp_ratio)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))
        nn.init.zeros_(self.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.adaLN_modulation[-1].bias)

    # --8<-- [start:dit-block-forward]
    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``[B, L, D]`` tokens and ``[B, D]`` conditioning -> ``[B, L, D]``."""
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = (
            self.adaLN_modulation(c).chunk(6, dim=1)
        )  # fmt: skip
        x = x + gate_msa.unsqueeze(1) * self.attn(
            modulate(self.norm1(x), shift_msa, scale_msa),
        )
        x = x + gate_mlp.unsqueeze(1) * self.mlp(
            modulate(self.norm2(x), shift_mlp, scale_mlp),
        )
        return x

    # --8<-- [end:dit-block-forward]


class FinalLayer(nn.Module):
    """Adaptive layer norm (shift and scale from ``c``, no gate), then a linear map to patch values.

    Both linear layers start at zero, as in DiT, so an untrained DiT predicts exactly zero.

    Args:
        hidden_size: token width ``D``.
        patch_size: patch side ``p``.
        out_channels: channels predicted per latent pixel.

    Examples:
        >>> import torch
        >>> final = FinalLayer(hidden_size=64, patch_size=2, out_channels=8)
        >>> out = final(torch.randn(2, 16, 64), torch.randn(2, 64))
        >>> out.shape                           # 2 x 2 x 8 numbers per patch
        torch.Size([2, 16, 32])
        >>> bool((out == 0).all())
        True
    """

    def __init__(self, hidden_size: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))
        for layer in (self.adaLN_modulation[-1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``[B, L, D]``, ``[B, D]`` -> ``[B, L, p * p * out_channels]``."""
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    """Class-conditional Diffusion Transformer: patchify, N adaLN-Zero blocks, unpatchify.

    Defaults are DiT-XL/2 for 256 x 256 ImageNet (a ``[4, 32, 32]`` SD-VAE latent). With
    ``learn_sigma`` the output has twice the input channels: the noise prediction and the
    interpolation weights of the variance (as in improved DDPM).

    Args:
        input_size: side of the square latent.
        patch_size: patch side ``p``.
        in_channels: latent channels.
        hidden_size: token width ``D`` (the first scaling knob).
        depth: number of blocks ``N`` (the second scaling knob).
        num_heads: attention heads.
        mlp_ratio: MLP inner width as a multiple of ``D``.
        class_dropout_prob: label dropout for classifier-free guidance.
        num_classes: number of classes.
        learn_sigma: predict the variance too (doubles ``out_channels``).

    Examples:
        >>> import torch
        >>> model = DiT(input_size=8, patch_size=2, in_channels=1, hidden_size=32, depth=2,
        ...             num_heads=4, num_classes=10, learn_sigma=False)
        >>> x, t, y = torch.randn(3, 1, 8, 8), torch.tensor([1.0, 10.0, 100.0]), torch.tensor([0, 1, 2])
        >>> model(x, t, y).shape
        torch.Size([3, 1, 8, 8])
    """

    def __init__(
        self,
        input_size: int = 32,
        patch_size: int = 2,
        in_channels: int = 4,
        hidden_size: int = 1152,
        depth: int = 28,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        class_dropout_prob: float = 0.1,
        num_classes: int = 1000,
        learn_sigma: bool = True,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        self.patch_size = patch_size
        self.num_heads = num_heads
        self.x_embedder = PatchEmbed(input_size, patch_size, in_channels, hidden_size)
        # Fixed, yet saved: DiT's official checkpoints carry the table (key ``pos_embed``), so it is a
        # persistent buffer here (in the state dict, still not a parameter nor counted as one).
        self.x_embedder.register_buffer("pos_embed", self.x_embedder.pos_embed, persistent=True)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.y_embedder = LabelEmbedder(num_classes, hidden_size, class_dropout_prob)
        self.blocks = nn.ModuleList(
            [DiTBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)]
        )
        self.final_layer = FinalLayer(hidden_size, patch_size, self.out_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT's initialisation ([`init_dit_weights`][snippets.initialization.init_dit_weights]):
        every adaLN-Zero modulation and the output layer start at zero."""
        zero = [block.adaLN_modulation[-1] for block in self.blocks]
        zero += [self.final_layer.adaLN_modulation[-1], self.final_layer.linear]
        init_dit_weights(
            self,
            patch_proj=self.x_embedder.proj,
            normal=[
                self.y_embedder.embedding_table.weight,
                self.t_embedder.mlp[0].weight,
                self.t_embedder.mlp[2].weight,
            ],
            zero=zero,
        )

    def condition(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The conditioning vector ``c = embed(t) + embed(y)``, ``[B, D]``, shared by all blocks."""
        return self.t_embedder(t) + self.y_embedder(y)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x``: ``[B, C, H, W]`` noisy latents, ``t``: ``[B]`` timesteps, ``y``: ``[B]`` labels
        -> ``[B, out_channels, H, W]``."""
        height, width = x.shape[-2:]
        tokens = self.x_embedder(x)  # [B, L, D], positions added
        c = self.condition(t, y)  # [B, D]
        for block in self.blocks:
            tokens = block(tokens, c)
        patches = self.final_layer(tokens, c)  # [B, L, p*p*out]
        return unpatchify(patches, self.patch_size, self.out_channels, height, width)

    def forward_with_cfg(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, cfg_scale: float
    ) -> torch.Tensor:
        """Classifier-free guidance: ``uncond + cfg_scale * (cond - uncond)`` in one batched pass.

        Guidance is applied to the first ``in_channels`` output channels (the noise prediction);
        the learned-variance channels come from the conditional pass. (DiT's ``sample.py`` guides
        only the first three channels, a choice it keeps to reproduce its published numbers.)

        Args:
            x: ``[B, C, H, W]``.
            t: ``[B]``.
            y: ``[B]`` labels.
            cfg_scale: guidance scale; 1 gives the conditional prediction.

        Returns:
            ``[B, out_channels, H, W]``.

        Examples:
            >>> import torch
            >>> model = DiT(input_size=8, patch_size=2, in_channels=1, hidden_size=32, depth=1,
            ...             num_heads=4, num_classes=10, learn_sigma=False).eval()
            >>> x, t, y = torch.randn(2, 1, 8, 8), torch.tensor([5.0, 5.0]), torch.tensor([3, 4])
            >>> torch.allclose(model.forward_with_cfg(x, t, y, 1.0), model(x, t, y))
            True
        """
        null = torch.full_like(y, self.y_embedder.num_classes)
        out = self.forward(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        cond, uncond = out.chunk(2, dim=0)
        k = self.in_channels
        guided = uncond[:, :k] + cfg_scale * (cond[:, :k] - uncond[:, :k])
        return torch.cat([guided, cond[:, k:]], dim=1)


def _family() -> dict[str, dict[str, int]]:
    sizes = {  # depth N, width D, heads: Table 1 of Peebles & Xie (2023)
        "S": dict(depth=12, hidden_size=384, num_heads=6),
        "B": dict(depth=12, hidden_size=768, num_heads=12),
        "L": dict(depth=24, hidden_size=1024, num_heads=16),
        "XL": dict(depth=28, hidden_size=1152, num_heads=16),
    }
    return {
        f"DiT-{name}/{p}": dict(size, patch_size=p)
        for name, size in sizes.items()
        for p in (2, 4, 8)
    }


DIT_CONFIGS: dict[str, dict[str, int]] = _family()
"""The twelve DiT configurations, ``"DiT-S/2"`` to ``"DiT-XL/8"``: size (depth, width, heads)
and patch size. Other arguments keep [`DiT`][snippets.dit.DiT]'s defaults (256 x 256 ImageNet)."""


def build_dit(name: str, device: torch.device | str = "meta", **overrides) -> DiT:
    """Build a named DiT configuration, on the ``meta`` device by default (shapes, no memory).

    Args:
        name: a key of [`DIT_CONFIGS`][snippets.dit.DIT_CONFIGS], e.g. ``"DiT-XL/2"``.
        device: where to build; ``"meta"`` allocates nothing, so real sizes cost nothing.
        **overrides: other [`DiT`][snippets.dit.DiT] arguments (e.g. ``input_size=64``).

    Returns:
        The model.

    Examples:
        >>> import torch
        >>> model = build_dit("DiT-XL/2")
        >>> x = torch.empty(1, 4, 32, 32, device="meta")
        >>> model.x_embedder(x).shape           # 256 tokens of width 1152
        torch.Size([1, 256, 1152])
        >>> model(x, torch.empty(1, device="meta"), torch.zeros(1, dtype=torch.long, device="meta")).shape
        torch.Size([1, 8, 32, 32])
    """
    if name not in DIT_CONFIGS:
        raise KeyError(f"unknown DiT configuration {name!r}; choose from {sorted(DIT_CONFIGS)}")
    with torch.device(device):
        return DiT(**{**DIT_CONFIGS[name], **overrides})

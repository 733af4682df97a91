"""Counting parameters and attention cost: the numbers behind DiT's scaling recipe.

Real-size models are built on PyTorch's ``meta`` device: every tensor has a shape and no
storage, so DiT-XL/2 (about 675 million parameters) costs no memory and parameter counts are
exact. The functions here compute the rows of the DiT family table (ours, diffusers', and the figures quoted
for the paper) and the patch-size table (tokens and relative attention cost).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from snippets.dit import DIT_CONFIGS, LabelEmbedder, TimestepEmbedder, build_dit
from snippets.patchify import num_patches

__all__ = [
    "count_parameters",
    "on_meta",
    "meta_device",
    "parameter_breakdown",
    "QUOTED_PARAMS_M",
    "PAPER_GFLOPS",
    "build_diffusers_dit",
    "embedder_parameters",
    "dit_family_rows",
    "dit_gflops",
    "attention_cost",
    "patch_size_rows",
]

QUOTED_PARAMS_M: dict[str, int] = {"S": 33, "B": 130, "L": 458, "XL": 675}
"""Parameter counts in millions as commonly quoted for the DiT family (/2 models) and as the
course record gives them: DiT-S 33M, DiT-B 130M, DiT-L 458M, DiT-XL 675M (the paper's Table 1
lists depth, width, heads and Gflops, not parameters). Our trainable count rounds to each of
them (see [`dit_family_rows`][snippets.params.dit_family_rows])."""

PAPER_GFLOPS: dict[str, float] = {"S": 1.4, "B": 5.6, "L": 19.7, "XL": 29.1}
"""Forward Gflops at a 32 x 32 latent with p = 4, from Table 1 of Peebles & Xie (2023)."""


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of a module (works on ``meta`` modules: only shapes are read).

    Buffers, such as DiT's fixed positional table, are not parameters and are not counted.

    Args:
        module: any ``nn.Module``.
        trainable_only: count only parameters with ``requires_grad``.

    Returns:
        The count.

    Examples:
        >>> from torch import nn
        >>> count_parameters(nn.Linear(10, 3))   # 10 * 3 weights + 3 biases
        33
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@contextlib.contextmanager
def meta_device() -> Iterator[None]:
    """Context manager: modules created inside live on the ``meta`` device.

    Examples:
        >>> from torch import nn
        >>> with meta_device():
        ...     layer = nn.Linear(4096, 4096)
        >>> layer.weight.device.type, count_parameters(layer)
        ('meta', 16781312)
    """
    with torch.device("meta"):
        yield


def on_meta(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` with the ``meta`` device as default: build without memory.

    Args:
        fn: a constructor or factory.
        *args: its positional arguments.
        **kwargs: its keyword arguments.

    Returns:
        What ``fn`` returns.

    Examples:
        >>> from snippets.dit import DiT
        >>> model = on_meta(DiT)                 # the defaults are DiT-XL/2
        >>> count_parameters(model)
        674834720
    """
    with meta_device():
        return fn(*args, **kwargs)


# (pattern on the parameter name, group): first match wins. Covers our DiT and diffusers' DiT.
_GROUPS: list[tuple[str, str]] = [
    (r"(adaLN_modulation|norm1\.linear)", "adaLN"),
    (r"(t_embedder|y_embedder|norm1\.emb)", "embedders"),
    (r"(x_embedder|pos_embed)", "patch embedding"),
    (r"(\.attn\.|\.attn1\.)", "attention"),
    (r"(\.mlp\.|\.ff\.)", "mlp"),
    (r"(final_layer|proj_out)", "final layer"),
]


def parameter_breakdown(module: nn.Module) -> dict[str, int]:
    """Parameters grouped by what they do: patch embedding, embedders, attention, mlp, adaLN, final.

    Understands the parameter names of [`DiT`][snippets.dit.DiT] and of diffusers'
    ``DiTTransformer2DModel``; anything else lands in ``"other"``. In the final layer, its
    adaLN linear is counted under ``adaLN``.

    Args:
        module: a DiT-like model.

    Returns:
        Group name -> count, groups in a fixed order, empty groups left out.

    Examples:
        >>> from snippets.dit import build_dit
        >>> groups = parameter_breakdown(build_dit("DiT-XL/2"))
        >>> list(groups)
        ['patch embedding', 'embedders', 'attention', 'mlp', 'adaLN', 'final layer']
        >>> round(groups["adaLN"] / sum(groups.values()), 2)   # adaLN-Zero is about a third
        0.33
    """
    order = ["patch embedding", "embedders", "attention", "mlp", "adaLN", "final layer", "other"]
    counts = dict.fromkeys(order, 0)
    for name, param in module.named_parameters():
        group = next((g for pattern, g in _GROUPS if re.search(pattern, name)), "other")
        counts[group] += param.numel()
    return {group: n for group, n in counts.items() if n}


def build_diffusers_dit(
    name: str, device: torch.device | str = "meta", **overrides: Any
) -> nn.Module:
    """diffusers' ``DiTTransformer2DModel`` configured like a named DiT (as the released
    ``facebook/DiT-XL-2-256`` checkpoint is: 1000 classes, learned sigma, 32 x 32 latent).

    Args:
        name: a key of [`DIT_CONFIGS`][snippets.dit.DIT_CONFIGS].
        device: where to build (``meta`` by default).
        **overrides: other ``DiTTransformer2DModel`` arguments.

    Returns:
        The diffusers model.

    Examples:
        >>> model = build_diffusers_dit("DiT-S/2")
        >>> model.config.num_layers, model.inner_dim
        (12, 384)
    """
    from diffusers import DiTTransformer2DModel

    cfg = DIT_CONFIGS[name]
    kwargs = dict(
        num_attention_heads=cfg["num_heads"],
        attention_head_dim=cfg["hidden_size"] // cfg["num_heads"],
        in_channels=4,
        out_channels=8,
        num_layers=cfg["depth"],
        sample_size=32,
        patch_size=cfg["patch_size"],
        num_embeds_ada_norm=1000,
    )
    kwargs.update(overrides)
    with torch.device(device):
        return DiTTransformer2DModel(**kwargs)


def embedder_parameters(
    hidden_size: int, num_classes: int = 1000, class_dropout_prob: float = 0.1
) -> int:
    """Parameters of one timestep embedder plus one label embedder of width ``hidden_size``.

    DiT has one pair, shared by every block. diffusers' ``DiTTransformer2DModel`` builds one pair
    inside every block (``norm1.emb``, a ``CombinedTimestepLabelEmbeddings``) and uses only the
    first block's for the final layer, so it holds ``depth - 1`` extra pairs.

    Args:
        hidden_size: width ``D``.
        num_classes: classes of the label table.
        class_dropout_prob: > 0 adds the null-class row.

    Returns:
        The count.

    Examples:
        >>> embedder_parameters(1152)   # 256*D + D  +  D*D + D  +  1001*D
        2777472
    """
    with meta_device():
        pair = nn.ModuleList(
            [
                TimestepEmbedder(hidden_size),
                LabelEmbedder(num_classes, hidden_size, class_dropout_prob),
            ]
        )
    return count_parameters(pair)


def dit_family_rows(patch_size: int = 2) -> list[dict[str, Any]]:
    """The DiT family at real size, counted on the ``meta`` device, three ways.

    For each size S, B, L, XL at the given patch size: our count, the count of diffusers'
    ``DiTTransformer2DModel`` configured the same way, the reference code's count (ours plus the
    frozen positional table, which ``facebookresearch/DiT`` keeps as an ``nn.Parameter`` with
    ``requires_grad=False`` and so includes in ``model.parameters()``), the quoted figure, and the
    diffusers surplus explained as ``(depth - 1) * embedder_parameters(D)``.

    Args:
        patch_size: 2, 4 or 8.

    Returns:
        One dict per size with keys ``name, depth, hidden_size, num_heads, ours, reference,
        diffusers, paper_m, gap, extra_embedders``.

    Examples:
        >>> rows = dit_family_rows()
        >>> [row["name"] for row in rows]
        ['DiT-S/2', 'DiT-B/2', 'DiT-L/2', 'DiT-XL/2']
        >>> all(row["gap"] == row["extra_embedders"] for row in rows)   # the gap, fully explained
        True
        >>> [round(row["ours"] / 1e6) for row in rows]          # the quoted 33M, 130M, 458M, 675M
        [33, 130, 458, 675]
    """
    rows = []
    for size in QUOTED_PARAMS_M:
        name = f"DiT-{size}/{patch_size}"
        cfg = DIT_CONFIGS[name]
        ours_model = build_dit(name)
        ours = count_parameters(ours_model)
        pos_table = ours_model.x_embedder.pos_embed.numel()
        diffusers = count_parameters(build_diffusers_dit(name))
        rows.append(
            dict(
                name=name,
                depth=cfg["depth"],
                hidden_size=cfg["hidden_size"],
                num_heads=cfg["num_heads"],
                ours=ours,
                reference=ours + pos_table,
                diffusers=diffusers,
                paper_m=QUOTED_PARAMS_M[size],
                gap=diffusers - ours,
                extra_embedders=(cfg["depth"] - 1) * embedder_parameters(cfg["hidden_size"]),
            )
        )
    return rows


def _millions(n: int) -> str:
    return f"{n / 1e6:,.1f}M"


def dit_gflops(name: str, input_size: int = 32) -> float:
    """Forward cost of one DiT on one latent, in billions of multiply-accumulates.

    Counts the matrix multiplications: per block ``12 L D^2`` (qkv, output projection, the 4x MLP)
    plus ``2 L^2 D`` (scores and weighted sum) plus ``6 D^2`` (adaLN), and the patch embedding,
    embedders and final layer. The DiT paper reports this quantity as "Gflops" (a fused
    multiply-add counted once); layer norms and activations are left out, which puts DiT-XL/4
    0.06 below the paper's 29.1.

    Args:
        name: a key of [`DIT_CONFIGS`][snippets.dit.DIT_CONFIGS].
        input_size: side of the latent.

    Returns:
        Giga multiply-accumulates.

    Examples:
        >>> round(dit_gflops("DiT-XL/2"), 1)   # the paper's 118.6 Gflops for DiT-XL/2
        118.6
        >>> ours = [dit_gflops(f"DiT-{s}/4") for s in ("S", "B", "L", "XL")]
        >>> [round(g, 2) for g in ours]          # Table 1 of the paper: 1.4, 5.6, 19.7, 29.1
        [1.41, 5.57, 19.7, 29.04]
        >>> all(abs(g - PAPER_GFLOPS[s]) < 0.1 for g, s in zip(ours, ("S", "B", "L", "XL")))
        True
    """
    cfg = DIT_CONFIGS[name]
    d, p, depth = cfg["hidden_size"], cfg["patch_size"], cfg["depth"]
    tokens = num_patches(input_size, input_size, p)
    patch_values = p * p * 4
    block = 12 * tokens * d * d + 2 * tokens * tokens * d + 6 * d * d
    embed = tokens * patch_values * d + 256 * d + d * d
    final = 2 * d * d + tokens * d * p * p * 8
    return (depth * block + embed + final) / 1e9


def attention_cost(latent_size: int, patch_size: int) -> int:
    """Entries of one attention matrix, ``L^2``, for a square latent: the quadratic part of the cost.

    Args:
        latent_size: side of the latent.
        patch_size: patch side.

    Returns:
        ``L * L``.

    Examples:
        >>> attention_cost(64, 2) // attention_cost(64, 8)   # 4x the side -> 16x tokens -> 256x
        256
    """
    return num_patches(latent_size, latent_size, patch_size) ** 2


def patch_size_rows(
    latent_shape: tuple[int, int, int] = (4, 64, 64), patch_sizes: tuple[int, ...] = (8, 4, 2)
) -> list[dict[str, int]]:
    """Tokens, patch width and attention cost relative to the first patch size, per patch size.

    Args:
        latent_shape: ``(C, H, W)``.
        patch_sizes: patch sides; the first one is the reference for the relative cost.

    Returns:
        One dict per patch size: ``patch_size, grid, tokens, patch_dim, attention_entries,
        relative_cost``.

    Examples:
        >>> [(r["patch_size"], r["tokens"], r["relative_cost"]) for r in patch_size_rows()]
        [(8, 64, 1), (4, 256, 16), (2, 1024, 256)]
    """
    channels, height, width = latent_shape
    reference = None
    rows = []
    for p in patch_sizes:
        tokens = num_patches(height, width, p)
        entries = tokens * tokens
        reference = reference or entries
        rows.append(
            dict(
                patch_size=p,
                grid=height // p,
                tokens=tokens,
                patch_dim=p * p * channels,
                attention_entries=entries,
                relative_cost=entries // reference,
            )
        )
    return rows

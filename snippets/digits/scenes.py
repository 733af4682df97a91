r"""Two-digit scenes and their captions: a world in which the words carry the picture.

A scene is an ``8 x 16`` canvas (``size x 2 size``) holding two scikit-learn digits side by side.
Its caption names both digits and binds each to its place, in one of four phrasings:

    >>> [caption(3, 7, k) for k in range(len(SCENE_TEMPLATES))]
    ['three left of seven', 'seven right of three', 'left three right seven', 'right seven left three']

The same words in another order mean another picture ("three left of seven" is not "seven left
of three"), so a model can only draw the right scene by relating each digit word to the word that
places it, and each place to a region of the canvas: the job of attention between words and
image patches. A class label cannot do it.

Twenty of the hundred ordered pairs never appear in training (``HELD_OUT_PAIRS``): a model that
draws them correctly composes what it learned about each digit and each place, rather than
recalling a picture it saw. Every digit still appears on both sides in training:

    >>> len(SEEN_PAIRS), len(HELD_OUT_PAIRS)
    (80, 20)
    >>> sorted({a for a, _ in SEEN_PAIRS}) == sorted({b for _, b in SEEN_PAIRS}) == list(range(10))
    True

The text reaches the models through [`FrozenTextEncoder`][snippets.digits.scenes.FrozenTextEncoder],
a small fixed transformer standing in for T5 or Qwen3: like theirs, its features have their own
scale and a few large outlier channels, nothing like the patch embeddings they meet.
The scorer, [`placement`][snippets.digits.scenes.placement], classifies each half of a generated
scene and counts the scenes whose two digits are both where the caption put them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from snippets.attention import attention
from snippets.digits.data import CLASS_NAMES, DigitSplit, WordTokenizer, build_tokenizer
from snippets.patchify import get_1d_sincos_pos_embed

SLOTS = ("left", "right")
SCENE_TEMPLATES = (
    "{left} left of {right}",
    "{right} right of {left}",
    "left {left} right {right}",
    "right {right} left {left}",
)
"""Four phrasings of one scene; ``{left}`` and ``{right}`` are digit names."""

HELD_OUT_PAIRS = tuple((a, (a + s) % 10) for s in (3, 6) for a in range(10))
"""``(left digit, right digit)`` pairs never shown in training: each digit twice on each side."""
SEEN_PAIRS = tuple((a, b) for a in range(10) for b in range(10) if (a, b) not in HELD_OUT_PAIRS)


def caption(left: int, right: int, template: int = 0) -> str:
    """The caption of a scene with digit ``left`` on the left and ``right`` on the right.

    Examples:
        >>> caption(3, 7), caption(7, 3)     # same words, another order, another scene
        ('three left of seven', 'seven left of three')
    """
    return SCENE_TEMPLATES[template].format(left=CLASS_NAMES[left], right=CLASS_NAMES[right])


def scene_tokenizer() -> WordTokenizer:
    """The word tokenizer of the captions: every word they can hold, padded to 4 ids.

    Examples:
        >>> tok = scene_tokenizer()
        >>> len(tok), tok.max_length, tok.encode("")   # 10 digits, left, right, of + pad, unk
        (15, 4, [0, 0, 0, 0])
    """
    return build_tokenizer(
        [
            caption(a, b, k)
            for a in range(10)
            for b in range(10)
            for k in range(len(SCENE_TEMPLATES))
        ]
    )


def caption_ids(pairs: torch.Tensor, templates: torch.Tensor | None = None) -> torch.Tensor:
    """Token ids ``[B, 4]`` of the captions of ``pairs [B, 2]`` (template 0 unless given).

    Examples:
        >>> tok = scene_tokenizer()
        >>> [tok.decode(r) for r in caption_ids(torch.tensor([[3, 7], [3, 7]]), torch.tensor([0, 3]))]
        ['three left of seven', 'right seven left three']
    """
    tok = scene_tokenizer()
    if templates is None:
        templates = torch.zeros(pairs.shape[0], dtype=torch.long)
    rows = [
        tok.encode(caption(int(a), int(b), int(k)))
        for (a, b), k in zip(pairs.tolist(), templates.tolist())
    ]
    return torch.tensor(rows, dtype=torch.long, device=pairs.device)


def compose(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Two batches of digits ``[B, 1, s, s]`` side by side: scenes ``[B, 1, s, 2s]``.

    Examples:
        >>> compose(torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8)).shape
        torch.Size([2, 1, 8, 16])
    """
    return torch.cat([left, right], dim=-1)


def halves(scenes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The left and right digits ``[B, 1, s, s]`` of scenes ``[B, 1, s, 2s]`` (inverse of compose).

    Examples:
        >>> left, right = halves(compose(torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)))
        >>> left.sum().item(), right.sum().item()
        (0.0, 64.0)
    """
    return scenes.chunk(2, dim=-1)


class SceneSampler:
    """Draws training scenes: a seen pair, a phrasing and a real digit image for each place.

    Every draw comes from the generator, so a seeded generator gives the same batches. The digit
    images are drawn from ``split``'s training digits, independently for each place, so the
    number of distinct scenes is far larger than the number of digits.

    Args:
        split: Digits at the model's resolution (training images only are used).
        pairs: The ``(left, right)`` pairs to draw from (``SEEN_PAIRS`` for training).

    Examples:
        >>> from snippets.digits.data import load_digit_split
        >>> sampler = SceneSampler(load_digit_split())
        >>> x, ids, pairs = sampler.draw(5, torch.Generator().manual_seed(0))
        >>> x.shape, ids.shape, pairs.shape
        (torch.Size([5, 1, 8, 16]), torch.Size([5, 4]), torch.Size([5, 2]))
        >>> all(tuple(p) in SEEN_PAIRS for p in pairs.tolist())
        True
    """

    def __init__(self, split: DigitSplit, pairs=SEEN_PAIRS):
        order = torch.argsort(split.train_y, stable=True)
        self.images = split.train_x[order]  # sorted by class
        counts = torch.bincount(split.train_y, minlength=10)
        self.offsets = torch.cumsum(counts, 0) - counts
        self.counts = counts
        self.pairs = torch.tensor(pairs, dtype=torch.long, device=split.train_x.device)
        self.ids = {}  # all captions' ids, per device, looked up by (pair, template)

    def _caption_table(self, device) -> torch.Tensor:
        if device not in self.ids:
            table = torch.stack(
                [
                    caption_ids(self.pairs.cpu(), torch.full((len(self.pairs),), k))
                    for k in range(len(SCENE_TEMPLATES))
                ]
            )  # [templates, pairs, 4]
            self.ids[device] = table.to(device)
        return self.ids[device]

    def _pick(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        u = torch.rand(labels.shape, generator=generator, device=generator.device)
        u = u.to(labels.device)
        index = self.offsets[labels] + (u * self.counts[labels]).long()
        return self.images[index]

    def draw(self, n: int, generator: torch.Generator):
        """``n`` scenes ``[n, 1, s, 2s]``, their caption ids ``[n, 4]`` and pairs ``[n, 2]``."""
        device = self.images.device
        which = torch.randint(
            0, len(self.pairs), (n,), generator=generator, device=generator.device
        )
        template = torch.randint(
            0, len(SCENE_TEMPLATES), (n,), generator=generator, device=generator.device
        )
        which, template = which.to(device), template.to(device)
        pairs = self.pairs[which]
        x = compose(self._pick(pairs[:, 0], generator), self._pick(pairs[:, 1], generator))
        return x, self._caption_table(device)[template, which], pairs


# --------------------------------------------------------------------------- the frozen text encoder


@dataclass(frozen=True)
class TextEncoderConfig:
    """Shape and statistics of the frozen text encoder (shared by every text model)."""

    width: int = 32
    depth: int = 2
    num_heads: int = 2
    scale: float = 4.0
    outlier_channels: tuple[int, ...] = (3, 17)
    outlier_scale: float = 30.0
    seed: int = 1234


class FrozenTextEncoder(nn.Module):
    """A small, fixed, randomly initialised transformer over caption ids: the toy's T5.

    Its weights are drawn once from ``config.seed`` and never trained, as a real text encoder's
    are frozen during diffusion training. Each word gets a random vector and its place a
    sine-cosine position; two pre-norm transformer layers mix the words, so a token's feature
    depends on its neighbours. The output is scaled and a few channels are much larger than the
    rest, as in T5's and Qwen3's hidden states: the diffusion model has to learn to read
    features whose statistics are nothing like its patch embeddings.

    Args:
        vocab_size: Ids it accepts.
        max_length: Caption length.
        config: Width, depth and output statistics.

    Examples:
        >>> enc = FrozenTextEncoder(15, 4)
        >>> feats = enc(torch.tensor([[5, 7, 3, 2], [0, 0, 0, 0]]))
        >>> feats.shape, sum(p.requires_grad for p in enc.parameters())
        (torch.Size([2, 4, 32]), 0)
        >>> std = feats.std(dim=(0, 1))                  # per channel: two outliers stand out
        >>> sorted(std.topk(2).indices.tolist()), bool(std[[3, 17]].min() > 4 * std.median())
        ([3, 17], True)
    """

    def __init__(
        self, vocab_size: int, max_length: int, config: TextEncoderConfig = TextEncoderConfig()
    ):
        super().__init__()
        self.config = config
        d = config.width
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.embedding = nn.Embedding(vocab_size, d)
            self.layers = nn.ModuleList(
                nn.ModuleDict(
                    {
                        "norm1": nn.LayerNorm(d),
                        "qkv": nn.Linear(d, 3 * d),
                        "proj": nn.Linear(d, d),
                        "norm2": nn.LayerNorm(d),
                        "fc1": nn.Linear(d, 4 * d),
                        "fc2": nn.Linear(4 * d, d),
                    }
                )
                for _ in range(config.depth)
            )
            self.norm = nn.LayerNorm(d)
        positions = get_1d_sincos_pos_embed(d, torch.arange(max_length).float())
        self.register_buffer("positions", positions.unsqueeze(0), persistent=False)
        gain = torch.full((d,), config.scale)
        gain[list(config.outlier_channels)] = config.outlier_scale
        self.register_buffer("gain", gain, persistent=False)
        self.requires_grad_(False)

    @torch.no_grad()
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids [B, T]`` -> features ``[B, T, width]``."""
        h = self.config.num_heads
        x = self.embedding(ids) + self.positions
        for layer in self.layers:
            q, k, v = rearrange(
                layer["qkv"](layer["norm1"](x)), "b l (three h d) -> three b h l d", three=3, h=h
            )
            x = x + layer["proj"](rearrange(attention(q, k, v), "b h l d -> b l (h d)"))
            x = x + layer["fc2"](F.gelu(layer["fc1"](layer["norm2"](x))))
        return self.norm(x) * self.gain


def scene_text_encoder() -> FrozenTextEncoder:
    """The one frozen encoder every text model of the course reads captions with.

    Examples:
        >>> a, b = scene_text_encoder(), scene_text_encoder()
        >>> ids = caption_ids(torch.tensor([[3, 7]]))
        >>> torch.equal(a(ids), b(ids))                  # fixed weights: the same features
        True
    """
    tok = scene_tokenizer()
    return FrozenTextEncoder(len(tok), tok.max_length)


# --------------------------------------------------------------------------- scoring


@torch.no_grad()
def placement(classifier: nn.Module, scenes: torch.Tensor, pairs: torch.Tensor) -> dict[str, float]:
    """Share of scenes whose digits are recognised where their caption placed them.

    Each half of a scene goes through the digit classifier. ``both`` counts the scenes where the
    left half is classified as the named left digit *and* the right half as the named right one;
    ``left`` and ``right`` count each place alone. A generator that ignored the caption would score
    about 1% on ``both`` (one pair in a hundred), and 10% on each place.

    Args:
        classifier: A digit classifier on ``[N, 1, s, s]`` images (the evaluator's).
        scenes: Generated scenes ``[N, 1, s, 2s]``.
        pairs: The captions' ``(left, right)`` digits ``[N, 2]``.

    Examples:
        >>> from snippets.digits.data import default_evaluator
        >>> ev = default_evaluator()
        >>> x, y = ev.split.test_x, ev.split.test_y
        >>> right = torch.roll(y, 1)
        >>> scenes = compose(x, torch.roll(x, 1, dims=0))          # real digits, both places right
        >>> placement(ev.classifier, scenes, torch.stack([y, right], 1))["both"] > 0.9
        True
        >>> placement(ev.classifier, scenes, torch.stack([right, y], 1))["both"] < 0.15   # swapped
        True
    """
    left, right = halves(scenes.detach().float().cpu())
    pairs = pairs.cpu()
    ok_left = classifier(left).argmax(1) == pairs[:, 0]
    ok_right = classifier(right).argmax(1) == pairs[:, 1]
    return {
        "both": (ok_left & ok_right).float().mean().item(),
        "left": ok_left.float().mean().item(),
        "right": ok_right.float().mean().item(),
    }


def region_of_tokens(height: int, width: int, patch_size: int) -> torch.Tensor:
    """For each image token (row-major patches of a ``height x width`` scene): 0 left, 1 right.

    Examples:
        >>> region_of_tokens(8, 16, 2).reshape(4, 8)[0].tolist()
        [0, 0, 0, 0, 1, 1, 1, 1]
    """
    cols = width // patch_size
    col = torch.arange((height // patch_size) * cols) % cols
    return (col >= cols // 2).long()


def word_region_shares(
    probs: torch.Tensor, ids: torch.Tensor, pairs: torch.Tensor, regions: torch.Tensor
) -> dict[str, float]:
    """How much of the attention between a digit word and the image falls on that digit's half.

    ``probs [B, H, T + N, T + N]`` are joint attention probabilities with the ``T`` text tokens
    first. For each scene, the two digit words are found in ``ids``; then

    - ``word_to_region``: of the attention the digit word's query gives to image tokens, the share
      on its own digit's half (0.5 when blind to place);
    - ``region_to_word``: of the attention the image tokens of a half give to the two digit words,
      the share on the word naming that half's digit (0.5 when blind).

    Both are averaged over heads, both digits and the batch. Scenes whose two digits are the same
    are skipped (the word cannot tell the halves apart).

    Examples:
        >>> ids = caption_ids(torch.tensor([[3, 7]]))               # "three left of seven"
        >>> regions = torch.tensor([0, 0, 1, 1])                    # 4 image tokens
        >>> p = torch.zeros(1, 1, 8, 8)
        >>> p[0, 0, :4, 4:6] = 0.5; p[0, 0, 3, 4:] = torch.tensor([0, 0, .5, .5])  # "three"->left, "seven"->right
        >>> p[0, 0, 4:6, 0] = 1.0; p[0, 0, 6:, 3] = 1.0            # halves -> their own word
        >>> word_region_shares(p, ids, torch.tensor([[3, 7]]), regions)
        {'word_to_region': 1.0, 'region_to_word': 1.0}
    """
    tok = scene_tokenizer()
    n_txt = ids.shape[1]
    digit_ids = torch.tensor([tok.index[name] for name in CLASS_NAMES])
    p = probs.float().mean(1)  # [B, T+N, T+N], mean over heads
    w2r, r2w = [], []
    for b in range(p.shape[0]):
        a, c = pairs[b].tolist()
        if a == c:
            continue
        pos = {d: (ids[b] == digit_ids[d]).nonzero()[0, 0].item() for d in (a, c)}
        for digit, side in ((a, 0), (c, 1)):
            to_img = p[b, pos[digit], n_txt:]
            w2r.append((to_img[regions == side].sum() / to_img.sum()).item())
            rows = p[b, n_txt:][regions == side]  # [n_side, T+N]
            own, other = rows[:, pos[digit]].sum(), rows[:, pos[c if digit == a else a]].sum()
            r2w.append((own / (own + other)).item())
    return {
        "word_to_region": sum(w2r) / len(w2r) if w2r else math.nan,
        "region_to_word": sum(r2w) / len(r2w) if r2w else math.nan,
    }

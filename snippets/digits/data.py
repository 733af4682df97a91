r"""The scikit-learn digits as a tiny image-generation benchmark: data, prompts, and metrics.

- Data: the 1,797 8x8 digits of ``sklearn.datasets.load_digits`` (shipped inside scikit-learn, no
  download), scaled from ``0..16`` to ``[-1, 1]``, split once into training and held-out digits by a
  fixed seed. Larger profiles upsample them (bilinear) to 16x16 or 32x32.
- Words: the digits' names, and a word tokenizer built from a list of sentences (the captions
  of [`snippets.digits.scenes`][snippets.digits.scenes] use it).
- Metrics: a small CNN classifier trained on the real training digits gives

  * **class agreement**: the fraction of generated samples it assigns to the requested class;
  * a fixed **feature space** (its 64-unit penultimate layer, as FID uses an Inception layer) in
    which the **Fréchet distance** (FD) between two sets of images is measured.

Every evaluated image is first brought back to 8x8 (average pooling) and clipped to ``[-1, 1]``.
The reference set is the training digits; a set of generated samples has the size and class
mix of the held-out digits, so the FD of the held-out digits is the yardstick a perfect
generator would score.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PAD, UNK = "<pad>", "<unk>"
EVAL_SIZE = 8


class WordTokenizer:
    """A whitespace word tokenizer with a fixed vocabulary, padding and an unknown token.

    Real text encoders use sub-word tokenizers with tens of thousands of entries (CLIP: 49,408;
    T5: 32,128); the principle, text to a fixed-length row of integer ids, is the same.

    Args:
        words: The vocabulary (without the special tokens).
        max_length: Every encoding is padded (or cut) to this many ids.

    Examples:
        >>> tok = WordTokenizer(["left", "of", "seven", "three"], max_length=5)
        >>> ids = tok.encode("three left of seven")
        >>> ids, tok.decode(ids)                          # padded to 5 ids
        ([5, 2, 3, 4, 0], 'three left of seven')
        >>> tok.decode(tok.encode("three left of dragon"))
        'three left of <unk>'
    """

    def __init__(self, words: list[str], max_length: int):
        self.vocab = [PAD, UNK, *words]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.max_length = max_length
        self.pad_id, self.unk_id = 0, 1

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        """Lower-case, split on whitespace, look up, pad/truncate to ``max_length``."""
        ids = [self.index.get(w, self.unk_id) for w in text.lower().split()][: self.max_length]
        return ids + [self.pad_id] * (self.max_length - len(ids))

    def decode(self, ids) -> str:
        """Ids back to words, padding dropped."""
        return " ".join(self.vocab[int(i)] for i in ids if int(i) != self.pad_id)

    def __call__(self, texts: list[str], device: torch.device | str | None = None) -> torch.Tensor:
        """Encode a batch: ``[B, max_length]`` int64 ids.

        Examples:
            >>> build_tokenizer(["three left of seven"])(["seven", ""]).shape
            torch.Size([2, 4])
        """
        return torch.tensor([self.encode(t) for t in texts], dtype=torch.long, device=device)


def build_tokenizer(prompts: list[str]) -> WordTokenizer:
    """The tokenizer for a set of prompts: every word they hold, sorted, padded to the longest.

    The empty prompt encodes to all padding: it is the null condition for guidance.

    Examples:
        >>> tok = build_tokenizer(["two left of one", "one"])
        >>> tok.vocab, tok.max_length, tok.encode("")
        (['<pad>', '<unk>', 'left', 'of', 'one', 'two'], 4, [0, 0, 0, 0])
    """
    words = sorted({w for p in prompts for w in p.split()})
    return WordTokenizer(words, max_length=max(len(p.split()) for p in prompts))


@dataclass
class DigitSplit:
    """Training and held-out digits, ``[N, 1, size, size]`` in ``[-1, 1]``, with labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def to(self, device) -> DigitSplit:
        """The same split on ``device``."""
        return DigitSplit(
            *(t.to(device) for t in (self.train_x, self.train_y, self.test_x, self.test_y))
        )


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of ``[N, 1, H, W]`` images to ``size x size`` (identity when equal)."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def to_eval_space(x: torch.Tensor) -> torch.Tensor:
    """Bring images of any resolution to the 8x8, ``[-1, 1]`` space the metrics work in.

    Examples:
        >>> to_eval_space(torch.full((2, 1, 16, 16), 3.0)).shape, to_eval_space(torch.full((1, 1, 8, 8), 3.0)).max().item()
        (torch.Size([2, 1, 8, 8]), 1.0)
    """
    if x.shape[-1] != EVAL_SIZE:
        x = F.adaptive_avg_pool2d(x, EVAL_SIZE)
    return x.clamp(-1, 1)


@lru_cache(maxsize=8)
def _load_split_cpu(seed: int, held_out: float, size: int) -> DigitSplit:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data.astype(np.float32) / 8.0 - 1.0  # 0..16 -> -1..1
    y = digits.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=held_out, random_state=seed, stratify=y)

    def images(a):
        return resize(torch.from_numpy(a).reshape(-1, 1, 8, 8), size)

    return DigitSplit(images(xtr), torch.from_numpy(ytr), images(xte), torch.from_numpy(yte))


def load_digit_split(
    seed: int = 0,
    held_out: float = 0.25,
    size: int = 8,
    device: torch.device | str = "cpu",
) -> DigitSplit:
    """Load the digits, scale them to ``[-1, 1]``, and split them (stratified, fixed seed).

    Args:
        seed: Seed of the split (the same seed always gives the same split).
        held_out: Fraction of digits held out from training.
        size: Image side (8 is native; 16 or 32 upsample bilinearly).
        device: Where to put the tensors.

    Returns:
        A [`DigitSplit`][snippets.digits.data.DigitSplit].

    Examples:
        >>> split = load_digit_split()
        >>> split.train_x.shape, split.test_x.shape, split.train_x.min().item(), split.train_x.max().item()
        (torch.Size([1347, 1, 8, 8]), torch.Size([450, 1, 8, 8]), -1.0, 1.0)
        >>> everything = torch.cat([split.train_y, split.test_y])
        >>> (torch.bincount(split.test_y) / torch.bincount(everything)).round(decimals=2).unique().tolist()  # stratified
        [0.25]
    """
    return _load_split_cpu(seed, held_out, size).to(device)


class DigitClassifier(nn.Module):
    """A small CNN on 8x8 digits; its 64-unit penultimate layer is the FD feature space.

    Two 3x3 convolutions (16 and 32 channels), a 2x2 max-pool, then a 64-unit layer whose
    ReLU outputs are the features and a linear layer to the 10 class logits.

    Examples:
        >>> clf = DigitClassifier()
        >>> clf.features(torch.zeros(5, 1, 8, 8)).shape, clf(torch.zeros(5, 1, 16, 16)).shape
        (torch.Size([5, 64]), torch.Size([5, 10]))
    """

    def __init__(
        self, channels: tuple[int, int] = (16, 32), feature_dim: int = 64, num_classes: int = 10
    ):
        super().__init__()
        c1, c2 = channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # [N, c2, 4, 4]
            nn.Flatten(),
            nn.Linear(c2 * (EVAL_SIZE // 2) ** 2, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 1, H, W]`` images (any H = W) to ``[N, feature_dim]`` features."""
        return self.body(to_eval_space(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``[N, num_classes]``."""
        return self.head(self.features(x))


def random_shift(
    x: torch.Tensor, generator: torch.Generator | None = None, max_shift: int = 1
) -> torch.Tensor:
    """Translate each ``[N, 1, H, W]`` image by up to ``max_shift`` pixels, filling with background.

    Examples:
        >>> x = torch.full((4, 1, 8, 8), -1.0); x[:, :, 3:5, 3:5] = 1.0
        >>> y = random_shift(x, torch.Generator().manual_seed(0))
        >>> y.shape, (y == 1).sum().item() == (x == 1).sum().item()   # ink moves, none is lost
        (torch.Size([4, 1, 8, 8]), True)
    """
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # [N, H, 1]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # [N, 1, W]
    return padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)


def train_classifier(
    split: DigitSplit, seed: int = 0, steps: int = 600, batch_size: int = 128
) -> DigitClassifier:
    """Train [`DigitClassifier`][snippets.digits.data.DigitClassifier] on the training digits (CPU, seeded, a few seconds).

    Augmentation (random one-pixel shifts and light Gaussian pixel noise) makes it accurate on
    held-out digits and hard to fool with slightly misplaced or speckled strokes.

    Examples:
        >>> split = load_digit_split()
        >>> untrained = accuracy(train_classifier(split, steps=0), split.test_x, split.test_y)
        >>> trained = accuracy(train_classifier(split, steps=60), split.test_x, split.test_y)
        >>> untrained < 0.3 < 0.8 < trained           # chance is 10%; a few steps already learn
        True
    """
    g = torch.Generator().manual_seed(seed)
    x = to_eval_space(split.train_x.cpu())
    y = split.train_y.cpu()
    with torch.random.fork_rng(devices=[]):  # seeded init that leaves the global RNG alone
        torch.manual_seed(seed)
        model = DigitClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=g)
        batch = random_shift(x[idx], g) + 0.1 * torch.randn(batch_size, *x.shape[1:], generator=g)
        loss = F.cross_entropy(model(batch), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval().requires_grad_(False)


@torch.no_grad()
def accuracy(classifier: DigitClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of images ``x`` the classifier labels ``y``.

    Generated samples asked to be class ``y`` give the *class agreement*.
    """
    return (
        (classifier(x.to(next(classifier.parameters()).device)).argmax(-1).cpu() == y.cpu())
        .float()
        .mean()
        .item()
    )


class_agreement = accuracy


def gaussian_stats(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and covariance ``[D, D]`` (float64) of ``[N, D]`` features."""
    f = np.asarray(
        features.detach().cpu() if isinstance(features, torch.Tensor) else features,
        dtype=np.float64,
    )
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance_from_stats(mu1, cov1, mu2, cov2) -> float:
    r"""Fréchet distance between the Gaussians ``N(mu1, cov1)`` and ``N(mu2, cov2)``.

    $$\mathrm{FD} = \lVert\mu_1-\mu_2\rVert^2 + \operatorname{tr}\big(C_1 + C_2 - 2\,(C_1 C_2)^{1/2}\big)$$

    The trace of the matrix square root is computed as the sum of square roots of the
    eigenvalues of the symmetric matrix ``C1^{1/2} C2 C1^{1/2}`` (same eigenvalues as
    ``C1 C2``), which stays real and stable where a general ``sqrtm`` can return complex noise.
    """
    s1 = _sqrt_psd(cov1)
    middle = s1 @ cov2 @ s1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet distance between two ``[N, D]`` feature sets (each fitted with a Gaussian).

    Examples:
        >>> g = torch.Generator().manual_seed(0)
        >>> a = torch.randn(2000, 3, generator=g)
        >>> round(frechet_distance(a, a), 6)
        0.0
        >>> round(frechet_distance(a, a + 2.0), 2)   # shifting the mean by 2 in 3 dims: 3 * 2^2
        12.0
    """
    return frechet_distance_from_stats(*gaussian_stats(feats_a), *gaussian_stats(feats_b))


class Evaluator:
    """Class agreement and FD for generated digits, with the real-vs-real yardstick.

    Args:
        split: The digits (any resolution; images are evaluated at 8x8).
        seed: Seed of the classifier's training.

    Attributes:
        classifier: The trained [`DigitClassifier`][snippets.digits.data.DigitClassifier].
        held_out_accuracy: Its accuracy on the held-out digits.
        yardstick: FD between the held-out digits and the training digits: the score of a
            generator that produces new real digits.

    Examples:
        >>> ev = default_evaluator()        # Evaluator(load_digit_split()), cached per process
        >>> ev.fd(ev.split.test_x) == ev.yardstick, ev.agreement(ev.split.test_x, ev.split.test_y) == ev.held_out_accuracy
        (True, True)
    """

    def __init__(self, split: DigitSplit, seed: int = 0):
        self.split = split.to("cpu")
        self.classifier = train_classifier(self.split, seed=seed)
        self.ref_mu, self.ref_cov = gaussian_stats(self.features(self.split.train_x))
        self.held_out_accuracy = accuracy(self.classifier, self.split.test_x, self.split.test_y)
        self.yardstick = self.fd(self.split.test_x)

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``[N, 64]`` of images at any resolution."""
        return self.classifier.features(x.detach().float().cpu())

    def fd(self, x: torch.Tensor) -> float:
        """FD between images ``x`` and the training digits."""
        return frechet_distance_from_stats(
            *gaussian_stats(self.features(x)), self.ref_mu, self.ref_cov
        )

    def agreement(self, x: torch.Tensor, labels: torch.Tensor) -> float:
        """Fraction of ``x`` classified as ``labels``."""
        return accuracy(self.classifier, x.detach().float().cpu(), labels)


@lru_cache(maxsize=4)
def default_evaluator(size: int = 8, seed: int = 0) -> Evaluator:
    """``Evaluator(load_digit_split(seed, size=size), seed)``, built once per process and size."""
    return Evaluator(load_digit_split(seed=seed, size=size), seed=seed)

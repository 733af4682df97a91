"""Figure style shared by every lesson's producers: palette, figure factory, digit mosaics.

White backgrounds (readable in light and dark mode), the Okabe-Ito colour-blind-safe palette.
"""

from __future__ import annotations

import numpy as np
import torch

PALETTE = {  # Okabe-Ito
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#555555",
}
SIZES = ("S", "B", "L", "XL")
SIZE_COLOURS = {
    "S": PALETTE["sky"],
    "B": PALETTE["green"],
    "L": PALETTE["orange"],
    "XL": PALETTE["vermillion"],
}
PATCH_COLOURS = {2: PALETTE["vermillion"], 4: PALETTE["blue"], 8: PALETTE["green"]}


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (8, 4), **kwargs):
    """A matplotlib figure in the lesson's style: white background, light grid, no top/right spines.

    Args:
        nrows: subplot rows.
        ncols: subplot columns.
        figsize: inches.
        **kwargs: passed to ``plt.subplots``.

    Returns:
        ``(fig, axes)`` as from ``plt.subplots``.

    Examples:
        >>> fig, ax = new_figure()
        >>> fig.get_facecolor()[:3]
        (1.0, 1.0, 1.0)
        >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "savefig.facecolor": "white",
        }
    )
    return plt.subplots(nrows, ncols, figsize=figsize, **kwargs)


def stand_in_latent(size: int = 32) -> np.ndarray:
    """A ``size x size`` RGB picture (scikit-learn's bundled flower photo, centre crop, box-averaged)
    standing in for a latent: an SD-VAE latent looks like a small, blurred copy of its image.

    Args:
        size: output side; must divide the crop side (416).

    Returns:
        ``[size, size, 3]`` floats in [0, 1].

    Examples:
        >>> stand_in_latent(32).shape
        (32, 32, 3)
    """
    from sklearn.datasets import load_sample_image

    image = load_sample_image("flower.jpg").astype(np.float64) / 255.0  # [427, 640, 3]
    crop = 416
    top, left = (image.shape[0] - crop) // 2, (image.shape[1] - crop) // 2 + 40
    image = image[top : top + crop, left : left + crop]
    k = crop // size
    return image.reshape(size, k, size, k, 3).mean(axis=(1, 3))


def mosaic(images: torch.Tensor) -> np.ndarray:
    """Tile ``[R, C, 1, H, W]`` images into one array with a one-pixel NaN gutter between tiles.

    Examples:
        >>> mosaic(torch.zeros(2, 3, 1, 8, 8)).shape
        (17, 26)
    """
    r, c, _, h, w = images.shape
    out = np.full((r * (h + 1) - 1, c * (w + 1) - 1), np.nan)
    for i in range(r):
        for j in range(c):
            out[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = (
                images[i, j, 0].clamp(-1, 1).numpy()
            )
    return out


def show_digits(ax, images: torch.Tensor, title: str | None = None) -> None:
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("gray_r").copy()
    cmap.set_bad("#b0bec5")  # gutter between tiles
    ax.imshow(mosaic(images), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def row_labels(ax, labels: list[str], tile: int) -> None:
    ax.set_yticks([i * (tile + 1) + (tile - 1) / 2 for i in range(len(labels))])
    ax.set_yticklabels(labels, fontsize=9)
    ax.tick_params(axis="y", length=0)


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"

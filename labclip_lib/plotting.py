"""Plotting helpers for the book. Nothing changes matplotlib's state until :func:`set_style`."""

from __future__ import annotations

import textwrap
from typing import Sequence

import numpy as np

__all__ = ["set_style", "show_images", "color_swatches", "PAPER_STYLE"]

#: How a paper's number is drawn beside ours (a dashed line or hollow marker).
PAPER_STYLE = {"color": "0.25", "linestyle": "--", "linewidth": 1.2}


def set_style(context: str = "notebook", dpi: int = 110) -> None:
    """The book's figure style: seaborn's whitegrid theme, compact fonts, crisp images."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(style="whitegrid", context=context)
    mpl.rcParams.update(
        {
            "figure.dpi": dpi,
            "savefig.dpi": 2 * dpi,
            "axes.titlesize": "medium",
            "image.interpolation": "nearest",
            "figure.constrained_layout.use": True,
        }
    )


def show_images(
    images: np.ndarray | Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    size: float = 2.4,
    title_width: int = 28,
    suptitle: str | None = None,
):
    """Grid of images ``(N, H, W, 3)`` uint8 with optional wrapped titles; returns the figure."""
    import matplotlib.pyplot as plt

    images = list(images)
    if not images:
        raise ValueError("no images to show (empty list)")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = min(ncols, len(images))
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.35 * nrows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, im) in enumerate(zip(axes.flat, images)):
        ax.imshow(im)
        if titles is not None:
            lines = titles[i].split("\n")
            ax.set_title("\n".join(textwrap.fill(line, title_width) for line in lines), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def color_swatches(colors: dict[str, tuple[int, int, int]], ax=None):
    """The colour vocabulary as labelled swatches; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 * len(colors), 1.2))
    for i, (name, rgb) in enumerate(colors.items()):
        ax.add_patch(plt.Rectangle((i, 0), 0.9, 0.9, color=np.array(rgb) / 255))
        ax.text(i + 0.45, -0.15, name, ha="center", va="top", fontsize=9)
        ax.text(i + 0.45, 0.45, "{},{},{}".format(*rgb), ha="center", va="center", fontsize=6,
                color="white" if sum(rgb) < 400 else "black")
    ax.set_xlim(-0.1, len(colors))
    ax.set_ylim(-0.5, 1)
    ax.axis("off")
    return ax

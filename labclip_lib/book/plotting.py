"""Plotting helpers for the book. Nothing changes matplotlib's (or pandas') state until :func:`set_style`."""

from __future__ import annotations

import textwrap
from typing import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from ..experiments.grids import CLAIMS, GRIDS, claim_verdict
from ..experiments.verdicts import RULE

__all__ = ["set_style", "show_images", "color_swatches", "plot_training_curves", "plot_accuracy_bars",
           "plot_metric_lines", "show_scored_pairs", "plot_caption_ranking", "plot_confusion",
           "plot_distributions", "plot_swap_pairs_2d", "plot_grouped_bars", "plot_singular_values", "plot_sweep", "plot_claim",
           "plot_rescue_heatmap", "plot_rescue_scatter", "plot_architecture_profiles", "PAPER_STYLE"]

#: How a paper's number is drawn beside ours (a dashed line or hollow marker).
PAPER_STYLE = {"color": "0.25", "linestyle": "--", "linewidth": 1.2}


def set_style(context: str = "notebook", dpi: int = 110) -> None:
    """The book's figure and table style: seaborn's whitegrid theme, compact fonts, crisp images;
    tables show every cell in full (pandas' ``display.max_colwidth`` off, so a claim or a note is
    never cut to "..."). Numbers in tables are rounded where the table is made (e.g.
    :func:`~labclip_lib.experiments.verdict_table`) or by :func:`~labclip_lib.book.show_table`.

    Used in every chapter.
    """

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
    pd.set_option("display.max_colwidth", None)


def show_images(
    images: np.ndarray | Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    size: float = 2.4,
    title_width: int = 28,
    suptitle: str | None = None,
):
    """Grid of images ``(N, H, W, 3)`` uint8 with optional wrapped titles; returns the figure. Used in chapter 1."""

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
    """The colour vocabulary as labelled swatches; returns the axes. Used in chapter 1."""

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


def plot_training_curves(histories: dict[str, dict]):
    """Loss, in-batch accuracy, validation loss (when recorded) and validation binding per epoch,
    one line per organism (or map); a ring marks the epoch whose weights were kept when that is
    not the last. Used in chapters 2, 6."""

    if not histories:
        raise ValueError("no training histories to plot")
    panels = [("loss", "training loss"), ("batch_accuracy", "in-batch image→text accuracy")]
    if any(h.get("val_loss") for h in histories.values()):
        panels.append(("val_loss", "validation contrastive loss"))
    panels.append(("val_binding", "held-out (val) binding accuracy"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (key, title) in zip(axes, panels):
        for k, (name, h) in enumerate(histories.items()):
            if not h.get(key):
                continue
            x = h["epoch"][-len(h[key]):]
            ax.plot(x, h[key], marker="o", ms=3, label=name, color=f"C{k}")
            kept = h.get("kept_epoch") or 0
            if 0 < kept < x[-1] and kept in x:
                ax.plot(kept, h[key][x.index(kept)], "o", ms=9, mfc="none", color=f"C{k}")
        ax.set_title(title)
        ax.set_xlabel("epoch")
    axes[-1].axhline(0.5, **{**PAPER_STYLE, "color": "0.6"})
    axes[-1].text(1, 0.51, "chance", fontsize=8, color="0.4")
    axes[0].legend(fontsize=8)
    return fig


def plot_accuracy_bars(table, value: str, by: str, references: dict[str, float] | None = None,
                       ylabel: str = "accuracy", ax=None, order: Sequence[str] | None = None):
    """Mean ± std of ``value`` per ``by`` group (dots: single seeds) with labelled reference lines.

    ``table`` is a pandas DataFrame; ``references`` maps a label (e.g. "chance", "paper: CLIP
    on CLEVR") to a horizontal line.

    Used in chapters 2, 3, 4, 5.
    """

    if len(table) == 0:
        raise ValueError("empty table")
    groups = list(order) if order is not None else list(dict.fromkeys(table[by]))
    stats = table.groupby(by)[value].agg(["mean", "std"]).reindex(groups)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * len(groups) + 2.5, 3.4))
    x = np.arange(len(groups))
    ax.bar(x, stats["mean"], yerr=stats["std"].fillna(0), capsize=4, color="C0", alpha=0.75)
    for i, g in enumerate(groups):
        vals = table.loc[table[by] == g, value].to_numpy()
        ax.plot(np.full(len(vals), i) + np.linspace(-0.12, 0.12, len(vals)), vals, "k.", ms=4)
        ax.text(i, stats["mean"][g] + 0.02, f"{stats['mean'][g]:.2f}", ha="center", fontsize=8)
    for k, (label, y) in enumerate((references or {}).items()):
        ax.axhline(y, **{**PAPER_STYLE, "color": f"C{k + 1}"})
        ax.text(len(groups) - 0.5, y, f" {label}", va="center", fontsize=8, color=f"C{k + 1}")
    ax.set_xticks(x, groups)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.08)
    return ax


def plot_metric_lines(table, x: str, y: str, by: str, references: dict[str, float] | None = None,
                      ylabel: str = "accuracy", ax=None, order: Sequence[str] | None = None):
    """Mean ± std of ``y`` against ``x``, one line per ``by`` group, with reference lines. Used in chapters 3, 4, 6."""

    if len(table) == 0:
        raise ValueError("empty table")
    groups = list(order) if order is not None else list(dict.fromkeys(table[by]))
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.4))
    for g in groups:
        stats = table[table[by] == g].groupby(x)[y].agg(["mean", "std"])
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker="o", ms=4, capsize=3, label=g)
    for k, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, **{**PAPER_STYLE, "color": f"0.{3 + 2 * k}"})
        ax.text(ax.get_xlim()[1], value, f" {label}", va="center", fontsize=8, color=f"0.{3 + 2 * k}")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="lower left")
    return ax


def show_scored_pairs(images, captions: Sequence[str], negatives: Sequence[str], pos_scores, neg_scores,
                      ncols: int = 4, size: float = 3.4):
    """Images titled with their caption and swapped caption and the model's cosine for each.

    The winning caption of each image is marked with a check (true caption) or a cross (the
    swap won); returns the figure.

    Used in chapter 3.
    """
    pos, neg = np.asarray(pos_scores, dtype=float), np.asarray(neg_scores, dtype=float)
    if not (len(images) == len(captions) == len(negatives) == len(pos) == len(neg)):
        raise ValueError("images, captions, negatives and both score lists must have the same length")
    titles = []
    for c, n, p, q in zip(captions, negatives, pos, neg):
        verdict = "\u2713" if p > q else ("tie" if p == q else "\u2717")
        titles.append(f"{verdict} true  {p:+.3f}: {c}\n   swap {q:+.3f}: {n}")
    return show_images(images, titles, ncols=ncols, size=size, title_width=60)


def plot_caption_ranking(scores, texts: Sequence[str], true: int | None = None, swap: int | None = None,
                         top: int = 12, ax=None):
    """Horizontal bars of the ``top`` captions by score, true caption green, swap red.

    ``scores``: ``(M,)`` similarities of one image with ``texts``. When the true or swapped
    caption is not among the top, it is appended with its rank. Returns the axes.
    """

    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 1 or len(scores) != len(texts) or len(texts) == 0:
        raise ValueError(f"need one score per caption, got {scores.shape} for {len(texts)} captions")
    order = np.argsort(-scores, kind="stable")
    rank = {int(c): r for r, c in enumerate(order)}
    shown = [int(c) for c in order[:top]]
    for extra in (true, swap):
        if extra is not None and extra not in shown:
            shown.append(int(extra))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.28 * len(shown) + 0.8))
    colors = ["C2" if c == true else "C3" if c == swap else "0.7" for c in shown]
    y = np.arange(len(shown))[::-1]
    ax.barh(y, scores[shown], color=colors)
    ax.set_yticks(y, [f"#{rank[c] + 1}  {texts[c]}" for c in shown], fontsize=8)
    lo, hi = scores[shown].min(), scores[shown].max()
    ax.set_xlim(lo - 0.1 * (hi - lo + 1e-6), hi + 0.05 * (hi - lo + 1e-6))
    ax.set_xlabel("cosine similarity with the image")
    return ax


def plot_confusion(true: Sequence[int], pred: Sequence[int], labels: Sequence[str], ax=None, title: str | None = None):
    """Row-normalised confusion matrix of a probe (rows: true class, columns: predicted)."""

    true, pred = np.asarray(true, dtype=int), np.asarray(pred, dtype=int)
    if len(true) == 0 or len(true) != len(pred):
        raise ValueError(f"need equally many (>0) true and predicted labels, got {len(true)} and {len(pred)}")
    k = len(labels)
    m = np.zeros((k, k))
    np.add.at(m, (true, pred), 1)
    m = m / np.maximum(m.sum(1, keepdims=True), 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.3))
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(k), labels, fontsize=7)
    ax.set_xlabel("predicted colour", fontsize=8)
    ax.set_ylabel("true colour", fontsize=8)
    ax.grid(False)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_distributions(table, value: str, by: str, references: dict[str, float] | None = None, ax=None,
                       order: Sequence[str] | None = None, bins: int = 60):
    """Overlaid histograms (densities) of ``value`` per ``by`` group, with vertical reference lines.

    Used in chapter 5.
    """

    if len(table) == 0:
        raise ValueError("empty table")
    groups = list(order) if order is not None else list(dict.fromkeys(table[by]))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.4))
    lo, hi = float(table[value].min()), float(table[value].max())
    edges = np.linspace(lo, hi + 1e-9, bins + 1)
    for k, g in enumerate(groups):
        ax.hist(table.loc[table[by] == g, value], bins=edges, density=True, histtype="step", lw=1.6,
                color=f"C{k}", label=g)
    for k, (label, x) in enumerate((references or {}).items()):
        ax.axvline(x, **{**PAPER_STYLE, "color": "0.3"})
        ax.text(x, ax.get_ylim()[1] * (0.95 - 0.08 * k), f" {label}", fontsize=8, color="0.3")
    ax.set_xlabel(value)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return ax


def plot_swap_pairs_2d(image_xy, caption_xy, swap_xy, labels: Sequence[str] | None = None, highlight: int | None = None,
                       ax=None):
    """Images (circles), their captions (squares) and swapped captions (crosses) in 2-D.

    Each image is joined to its caption (solid) and to its swap (dotted); ``highlight``
    draws one triple in full colour and the rest faded. Returns the axes.

    Used in chapter 5.
    """

    image_xy, caption_xy, swap_xy = (np.asarray(a, dtype=float) for a in (image_xy, caption_xy, swap_xy))
    if not (image_xy.shape == caption_xy.shape == swap_xy.shape) or image_xy.ndim != 2 or image_xy.shape[1] != 2:
        raise ValueError("image, caption and swap coordinates must all be (N, 2)")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5))
    for k in range(len(image_xy)):
        alpha = 1.0 if highlight is None or highlight == k else 0.2
        c = f"C{k % 10}"
        (x0, y0), (x1, y1), (x2, y2) = image_xy[k], caption_xy[k], swap_xy[k]
        ax.plot([x0, x1], [y0, y1], "-", color=c, alpha=alpha, lw=1)
        ax.plot([x0, x2], [y0, y2], ":", color=c, alpha=alpha, lw=1)
        ax.plot(x0, y0, "o", color=c, alpha=alpha, ms=7)
        ax.plot(x1, y1, "s", color=c, alpha=alpha, ms=6)
        ax.plot(x2, y2, "x", color=c, alpha=alpha, ms=7, mew=2)
        if labels is not None and (highlight is None or highlight == k):
            ax.annotate(labels[k], (x1, y1), fontsize=7, color=c, xytext=(4, 4), textcoords="offset points")
    ax.plot([], [], "ko", label="image")
    ax.plot([], [], "ks", label="its caption")
    ax.plot([], [], "kx", label="swapped caption")
    ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    return ax


def plot_architecture_profiles(table: pd.DataFrame,
                               measures: Sequence[str] = ("binding", "map binding", "image probe", "text probe")):
    """One panel per measure of an :func:`~labclip_lib.book.chapters.architecture_profiles`
    table: a bar per diet and architecture (seeds as dots), chance (0.5) under the binding
    panels, the mean bag-of-words ceiling under the probes'. Returns the axes. Used in chapter 2."""
    if len(table) == 0:
        raise ValueError("empty table")
    fig, axes = plt.subplots(1, len(measures), figsize=(3.6 * len(measures), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, measure in zip(axes, measures):
        probe = "probe" in measure
        line = {"ceiling": float(table["ceiling"].mean())} if probe else {"chance": 0.5}
        plot_grouped_bars(table, measure, "diet", "architecture", references=line, ax=ax,
                          ylabel="accuracy (test)" if ax is axes[0] else "")
        ax.set_title(measure)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=len(labels), fontsize=9)
    return axes


def plot_grouped_bars(table, value: str, by: str, hue: str, references: dict[str, float] | None = None,
                      ylabel: str = "accuracy", ax=None, order: Sequence[str] | None = None,
                      hue_order: Sequence[str] | None = None, paper: dict[str, float] | None = None):
    """Mean ± std of ``value`` per (``by``, ``hue``) with single seeds as dots.

    ``references``: labelled horizontal lines (e.g. chance). ``paper``: a value per ``hue``
    (e.g. paper 1's CLEVR numbers for "before", "LABCLIP", "fine-tuned") drawn as hollow
    diamonds at the right of the axes, in the hue's colour.

    Used in chapter 6.
    """

    if len(table) == 0:
        raise ValueError("empty table")
    groups = list(order) if order is not None else list(dict.fromkeys(table[by]))
    hues = list(hue_order) if hue_order is not None else list(dict.fromkeys(table[hue]))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.9 * len(groups) + 3, 3.6))
    width = 0.8 / len(hues)
    for k, h in enumerate(hues):
        sub = table[table[hue] == h]
        stats = sub.groupby(by)[value].agg(["mean", "std"]).reindex(groups)
        x = np.arange(len(groups)) + (k - (len(hues) - 1) / 2) * width
        ax.bar(x, stats["mean"], width * 0.95, yerr=stats["std"].fillna(0), capsize=3, color=f"C{k}", alpha=0.8,
               label=h)
        for xi, g in zip(x, groups):
            vals = sub.loc[sub[by] == g, value].to_numpy()
            ax.plot(np.full(len(vals), xi), vals, "k.", ms=3)
            if len(vals):
                ax.text(xi, np.nanmean(vals) + 0.03, f"{np.nanmean(vals):.2f}", ha="center", fontsize=7)
        if paper and h in paper:
            ax.plot([len(groups) - 0.2 + 0.15 * k], [paper[h]], marker="D", mfc="none", mec=f"C{k}", ms=8, mew=2)
    if paper:
        ax.text(len(groups) - 0.2, 1.1, "paper 1\n(CLEVR)", ha="left", fontsize=8)
    for k, (label, y) in enumerate((references or {}).items()):
        ax.axhline(y, **{**PAPER_STYLE, "color": f"0.{4 + 2 * k}"})
        ax.text(-0.5, y + 0.01, f" {label}", fontsize=8, color=f"0.{4 + 2 * k}")
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_xlim(-0.6, len(groups) + (0.6 if paper else -0.4))
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.2)
    ax.legend(fontsize=8, loc="upper left", ncol=len(hues))
    return ax


def plot_singular_values(maps: dict, ax=None):
    """Singular values of each LABCLIP map, largest first (the identity is flat at 1).

    ``maps``: name -> fitted :class:`~labclip_lib.alignment.LinearAlignment` (or a ``(D, D)``
    tensor).

    Used in chapter 6.
    """

    if not maps:
        raise ValueError("no maps to plot")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, m in maps.items():
        w = m if isinstance(m, torch.Tensor) else m.weight_
        sv = torch.linalg.svdvals(w.double()).numpy()
        ax.plot(np.arange(1, len(sv) + 1) / len(sv), sv, label=f"{name} (D={len(sv)})")
    ax.axhline(1.0, **{**PAPER_STYLE, "color": "0.6"})
    ax.text(0.01, 1.02, "identity", fontsize=8, color="0.4")
    ax.set_xlabel("rank / D")
    ax.set_ylabel("singular value")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    return ax


def plot_sweep(table, knob: str, measures: Sequence[str] = ("binding", "map binding"), claim: str | None = None,
               verdict=None, ax=None, xlabel: str | None = None, log_x: bool = False, label: str | None = None,
               first_color: int = 0):
    """A sweep's measures against its knob: mean ± std over seeds (single seeds as dots), chance
    at 0.5, the claim it tests as the title and, under it, the computed verdict.

    ``table``: rows of :func:`~labclip_lib.experiments.sweep` (columns ``knob``, ``seed`` and
    each measure); ``verdict``: a :class:`~labclip_lib.experiments.Verdict` (or None); ``label``
    prefixes the legend entries and ``first_color`` shifts the colours (several grids on one axes).

    Used in chapters 7, 8.
    """
    if len(table) == 0:
        raise ValueError("empty table")
    missing = [c for c in (knob, *measures) if c not in table]
    if missing:
        raise ValueError(f"the sweep table has no column(s) {missing}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.6, 3.6))
    for k, m in enumerate(measures, start=first_color):
        stats = table.groupby(knob)[m].agg(["mean", "std"])
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker="o", ms=4, capsize=3,
                    color=f"C{k}", label=f"{label}: {m}" if label else m)
        ax.plot(table[knob], table[m], ".", color=f"C{k}", ms=3, alpha=0.6)
    if log_x:
        ax.set_xscale("log", base=2)
        ticks = sorted(table[knob].unique())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.axhline(0.5, **{**PAPER_STYLE, "color": "0.6"})
    ax.text(ax.get_xlim()[0], 0.51, " chance", fontsize=8, color="0.4")
    ax.set_xlabel(xlabel or knob)
    ax.set_ylabel("binding accuracy (test)")
    ax.set_ylim(0.4, 1.04)
    ax.legend(fontsize=8, loc="lower right")
    title = "\n".join(textwrap.wrap(claim, 60)) if claim else ""
    if verdict is not None:
        title += f"\nverdict: {verdict.verdict} (margin {verdict.margin:+.2f})"
    ax.set_title(title, fontsize=9)
    return ax


def plot_rescue_heatmap(table, x: str, y: str, values: Sequence[str] = ("binding", "map binding", "image margin"),
                        axes=None):
    """One heat map per measure over two knobs (mean over seeds, annotated): where binding is
    lost, where a linear map brings it back, and whether the image encoder kept the pairing.

    Used in chapter 9.
    """
    if len(table) == 0:
        raise ValueError("empty table")
    if axes is None:
        _, axes = plt.subplots(1, len(values), figsize=(3.6 * len(values), 3.3))
    for ax, v in zip(np.atleast_1d(axes), values):
        grid = table.pivot_table(index=y, columns=x, values=v, aggfunc="mean").sort_index(ascending=False)
        low, high = (0.5, 1.0) if "binding" in v else (0.0, max(0.01, float(np.nanmax(grid.to_numpy()))))
        sns.heatmap(grid, annot=True, fmt=".2f", cmap="viridis", vmin=low, vmax=high, ax=ax, cbar=False,
                    annot_kws={"fontsize": 8})
        ax.set_title(v, fontsize=9)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
    return axes


def plot_rescue_scatter(table, x: str = "image margin", y: str = "map gain", by: str = "grid",
                        label: str | None = None, ax=None, diagonal: bool = False):
    """Each organism as a dot: what its image encoder kept (``x``) against what a linear map on
    its text side recovered (``y``), coloured by ``by``; ``label`` (a column) writes a short
    name beside each dot; ``diagonal`` draws ``y = x`` (for a bound on ``y``) instead of the
    zero line. The Pearson correlation is in the title.

    Used in chapter 9.
    """
    if len(table) < 2:
        raise ValueError(f"need at least two organisms to scatter, got {len(table)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 4.4))
    groups = list(table.groupby(by, sort=False))
    colors = plt.cm.tab20(np.linspace(0, 1, 20)) if len(groups) > 10 else [f"C{k}" for k in range(10)]
    for k, (g, sub) in enumerate(groups):
        ax.plot(sub[x], sub[y], "os^D"[k // 20 % 4], ms=6, color=colors[k % len(colors)], alpha=0.85, label=str(g))
        if label is not None:
            for _, r in sub.iterrows():
                ax.annotate(str(r[label]), (r[x], r[y]), fontsize=6, xytext=(3, 2), textcoords="offset points")
    r = float(np.corrcoef(table[x], table[y])[0, 1])
    if diagonal:
        lo = float(min(table[x].min(), table[y].min()))
        ax.plot([lo, 1], [lo, 1], color="0.6", linewidth=0.8, linestyle="--", label="y = x")
    else:
        ax.axhline(0, color="0.6", linewidth=0.8)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{len(table)} organisms, Pearson r = {r:.2f}", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    return ax


def _claim_title(claim: str, verdict) -> str:
    return "\n".join(textwrap.wrap(CLAIMS[claim], 70)) + f"\nverdict: {verdict.verdict} (margin {verdict.margin:+.2f})"


def plot_claim(table, claim: str, measures: Sequence[str] = ("binding", "map binding")):
    """Paper 2's ``claim`` (a key of :data:`~labclip_lib.experiments.CLAIMS`) as a figure: the
    rows of its grid(s) in ``table`` (:func:`~labclip_lib.experiments.run_grids`), the claim
    written above and the verdict computed from the same rows
    (:func:`~labclip_lib.experiments.claim_verdict`). Numeric knobs are drawn as
    :func:`plot_sweep` lines (one panel per grid), on/off knobs as bars per grid. Returns the
    figure.

    Used in chapters 7, 8.
    """
    verdict = claim_verdict(claim, table)
    names = [n for n, g in GRIDS.items() if g.claim == claim and n in set(table["grid"])]
    knobs = [GRIDS[n].knobs[0][0] for n in names]
    if all(table.loc[table["grid"] == n, k].map(type).eq(bool).all() for n, k in zip(names, knobs)):
        rows = table[table["grid"].isin(names)].copy()
        rows["diet"] = rows["grid"].str.split(": ").str[-1]
        rows["training"] = rows[knobs[0]].map({False: "without hard negatives", True: "with hard negatives"})
        ax = plot_grouped_bars(rows, measures[0], "diet", "training", {"chance": 0.5, "reliable": RULE.reliable},
                               ylabel=f"{measures[0]} (test)")
        ax.set_title(_claim_title(claim, verdict), fontsize=9)
        return ax.figure
    panels = list(dict.fromkeys(knobs))  # grids that vary the same knob share a panel
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 3.9), squeeze=False)
    for ax, knob in zip(axes[0], panels):
        shared = [n for n, k in zip(names, knobs) if k == knob]
        for i, name in enumerate(shared):
            note = GRIDS[name].note
            plot_sweep(table[table["grid"] == name], knob, measures, ax=ax, log_x=knob.startswith("batch_size"),
                       xlabel=f"{knob}" + (f"\n({note})" if note and len(shared) == 1 else ""),
                       label=name if len(shared) > 1 else None, first_color=i * len(measures))
        if any(GRIDS[n].verdict == "above" for n in names):
            ax.axhline(RULE.almost_perfect, **{**PAPER_STYLE, "color": "C2"})
            ax.text(ax.get_xlim()[0], RULE.almost_perfect + 0.005, " almost perfect", fontsize=8, color="C2")
    fig.suptitle(_claim_title(claim, verdict), fontsize=9)
    return fig

"""The benchmark metrics, on score matrices (no models here; shapes in the docstrings).

* :func:`retrieval_recall` — image->text and text->image recall@k with several captions per
  image (COCO: 5 per image).
* :func:`option_hits` / :func:`option_accuracy` — ARO- and SugarCrepe-style multiple choice:
  the true option must beat all others. **A tie for the top counts as** ``1 / (number of options
  tied for the top)``: half a hit with two options, so a bag-of-words model that scores a
  caption and its word-order permutation equally gets exactly chance. (ARO's own code takes
  ``argmax``, which breaks ties by position: VG-R/VG-A put the false caption first, so a tie is
  a miss there; COCO-Order puts the true caption first, so a tie is a hit there.)
* :func:`macro_accuracy` — the mean of per-group accuracies over groups with at least
  ``min_count`` items (ARO's VG-Attribution: attribute pairs with >= 25 examples).
* :func:`category_scores` — SugarCrepe's REPLACE / SWAP / ADD, both sample-weighted (the
  SugarCrepe paper) and unweighted (the LABCLIP authors' notebook), labelled.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

__all__ = [
    "TIE_TOL",
    "retrieval_recall",
    "option_hits",
    "option_accuracy",
    "macro_accuracy",
    "SUGARCREPE_CATEGORIES",
    "category_scores",
]

#: two scores closer than this are a tie (as in :func:`labclip_lib.metrics.binding_accuracy`)
TIE_TOL = 1e-6


def _matrix(name: str, x) -> torch.Tensor:
    t = torch.as_tensor(x).float() if not isinstance(x, torch.Tensor) else x.float()
    if t.ndim != 2 or 0 in t.shape:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def retrieval_recall(
    scores, image_of_text: Sequence[int], ks: Sequence[int] = (1, 5, 10), chunk: int = 4096
) -> dict[str, float]:
    """Recall@k in both directions from a score matrix with several captions per image.

    Args:
        scores: ``(N_images, N_texts)`` similarities (higher = more similar).
        image_of_text: ``(N_texts,)`` the index of each caption's image.
        ks: the cut-offs.
        chunk: captions per block of the computation (memory only; the result does not depend on it).

    Returns ``text->image R@k`` (share of captions whose image is among the ``k`` best images)
    and ``image->text R@k`` (share of images with at least one of their captions among the
    ``k`` best captions), as in CLIP_benchmark. Ties are counted **against** the query: a
    candidate is ranked by the number of wrong candidates scoring at least as high, so a model
    that scores everything equally gets recall 0 (up to k = all), never a lucky 1. Every image
    must have at least one caption.
    """
    s = _matrix("scores", scores)
    n_img, n_txt = s.shape
    owner = torch.as_tensor(list(image_of_text), dtype=torch.long)
    if owner.shape != (n_txt,):
        raise ValueError(f"image_of_text has {owner.numel()} entries for {n_txt} captions")
    if owner.min() < 0 or owner.max() >= n_img:
        raise ValueError(f"image_of_text must lie in [0, {n_img})")
    counts = torch.bincount(owner, minlength=n_img)
    if (counts == 0).any():
        raise ValueError(
            f"{int((counts == 0).sum())} image(s) have no caption (e.g. image {int((counts == 0).nonzero()[0])})"
        )
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive integers, got {list(ks)}")
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    cols = torch.arange(n_txt)
    true_score = s[owner, cols]  # (T,)
    t2i_rank = torch.empty(n_txt, dtype=torch.long)
    best_true = torch.full((n_img,), float("-inf"))
    best_true.scatter_reduce_(0, owner, true_score, reduce="amax")  # (N,) each image's best own caption
    i2t_rank = torch.zeros(n_img, dtype=torch.long)
    for a in range(0, n_txt, chunk):  # column blocks keep the boolean temporaries small (COCO: 5k x 25k)
        b = min(a + chunk, n_txt)
        block = s[:, a:b]
        right = torch.zeros(n_img, b - a, dtype=torch.bool)
        right[owner[a:b], torch.arange(b - a)] = True
        # text -> image: wrong images scoring at least as high as the true one
        t2i_rank[a:b] = ((block >= true_score[None, a:b]) & ~right).sum(0)
        # image -> text: wrong captions scoring at least as high as the image's best own caption
        i2t_rank += ((block >= best_true[:, None]) & ~right).sum(1)
    out: dict[str, float] = {}
    for k in ks:
        out[f"text->image R@{k}"] = float((t2i_rank < k).float().mean())
    for k in ks:
        out[f"image->text R@{k}"] = float((i2t_rank < k).float().mean())
    return out


def option_hits(scores, true_index: int | Sequence[int] = 0, tie_tol: float = TIE_TOL) -> torch.Tensor:
    """Per-item credit of a multiple choice: ``(N, K)`` option scores -> ``(N,)`` in [0, 1].

    1 when the true option (``true_index``: one column for all rows, or one per row) beats every
    other option by more than ``tie_tol``; ``1 / m`` when it is among ``m`` options tied for the
    top (within ``tie_tol`` of the best); 0 otherwise.
    """
    s = _matrix("option scores", scores)
    n, k = s.shape
    if k < 2:
        raise ValueError(f"a multiple choice needs at least 2 options, got {k}")
    idx = (
        torch.full((n,), int(true_index), dtype=torch.long)
        if isinstance(true_index, (int, np.integer))
        else torch.as_tensor(list(true_index), dtype=torch.long)
    )
    if idx.shape != (n,) or idx.min() < 0 or idx.max() >= k:
        raise ValueError(f"true_index must be an int or {n} ints in [0, {k})")
    best = s.max(1).values
    true = s[torch.arange(n), idx]
    tied = (s >= best[:, None] - tie_tol).sum(1).float()
    return torch.where(true >= best - tie_tol, 1.0 / tied, torch.zeros(n))


def option_accuracy(scores, true_index: int | Sequence[int] = 0, tie_tol: float = TIE_TOL) -> float:
    """Mean of :func:`option_hits` (ties count ``1 / m``: half with two options)."""
    return float(option_hits(scores, true_index, tie_tol).mean())


def macro_accuracy(hits, groups: Sequence[str], min_count: int = 1, exclude: Sequence[str] = ()) -> dict:
    """Accuracy per group and their unweighted mean.

    Args:
        hits: ``(N,)`` per-item credit (from :func:`option_hits`).
        groups: ``(N,)`` a group label per item (a VG relation, a VG attribute pair).
        min_count: groups with fewer items are left out (VG-Attribution: 25).
        exclude: group labels left out (VG-Relation's symmetric relations).

    Returns ``{"macro accuracy", "micro accuracy" (over the kept items), "groups" (kept),
    "items" (kept), "records": [{"group", "accuracy", "count"}, ...]}``.
    """
    h = torch.as_tensor(hits, dtype=torch.float64).reshape(-1)
    g = np.asarray([str(x) for x in groups])
    if len(g) != len(h):
        raise ValueError(f"got {len(h)} hits but {len(g)} group labels")
    if len(h) == 0:
        raise ValueError("no items")
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    drop = set(exclude)
    records = []
    for name in np.unique(g):
        if name in drop:
            continue
        mask = torch.from_numpy(g == name)
        if int(mask.sum()) < min_count:
            continue
        records.append({"group": str(name), "accuracy": float(h[mask].mean()), "count": int(mask.sum())})
    if not records:
        raise ValueError(f"no group has at least {min_count} items (after excluding {len(drop)} labels)")
    kept = sum(r["count"] for r in records)
    micro = sum(r["accuracy"] * r["count"] for r in records) / kept
    return {
        "macro accuracy": float(np.mean([r["accuracy"] for r in records])),
        "micro accuracy": float(micro),
        "groups": len(records),
        "items": kept,
        "records": records,
    }


#: SugarCrepe's three categories and their subsets
SUGARCREPE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "REPLACE": ("replace_obj", "replace_att", "replace_rel"),
    "SWAP": ("swap_obj", "swap_att"),
    "ADD": ("add_obj", "add_att"),
}


def category_scores(
    accuracy: Mapping[str, float],
    counts: Mapping[str, int],
    categories: Mapping[str, Sequence[str]] = SUGARCREPE_CATEGORIES,
) -> dict[str, float]:
    """SugarCrepe category scores from per-subset accuracies, both ways, labelled.

    ``"<CAT> (weighted)"`` weights each subset by its number of items (the SugarCrepe paper's
    category score); ``"<CAT> (unweighted)"`` is the plain mean of the subsets' accuracies (the
    LABCLIP authors' notebook). A category is reported only when all its subsets are present.
    Also ``"mean of subsets"`` over every subset given.
    """
    if not accuracy:
        raise ValueError("no subset accuracies")
    missing = set(accuracy) - set(counts)
    if missing:
        raise ValueError(f"no item count for subsets {sorted(missing)}")
    if any(counts[k] <= 0 for k in accuracy):
        raise ValueError("every subset needs a positive item count")
    out: dict[str, float] = {}
    for cat, subsets in categories.items():
        if not all(s in accuracy for s in subsets):
            continue
        n = sum(counts[s] for s in subsets)
        out[f"{cat} (weighted)"] = float(sum(accuracy[s] * counts[s] for s in subsets) / n)
        out[f"{cat} (unweighted)"] = float(np.mean([accuracy[s] for s in subsets]))
    out["mean of subsets"] = float(np.mean(list(accuracy.values())))
    return out

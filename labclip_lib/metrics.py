"""Binding metrics on embeddings (vectorised; shapes in the docstrings)."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

__all__ = ["check_embeddings", "pair_scores", "binding_hits", "binding_accuracy", "report_rows", "mean_interval"]


def check_embeddings(name: str, x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Validate an ``(N, D)`` float embedding matrix: non-empty, finite, right size."""
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) tensor, got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 rows)")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} has embedding size {x.shape[1]}, expected {dim}")
    if not torch.isfinite(x.sum()) and not torch.isfinite(x).all():  # the sum is a cheap first test
        raise ValueError(f"{name} contains NaN or infinite values")
    return x.float()


def pair_scores(image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity of matched rows: ``(N, D), (N, D) -> (N,)``."""
    image = check_embeddings("image embeddings", image)
    text = check_embeddings("text embeddings", text, image.shape[1])
    if image.shape[0] != text.shape[0]:
        raise ValueError(f"got {image.shape[0]} image rows but {text.shape[0]} text rows")
    return (torch.nn.functional.normalize(image, dim=1) * torch.nn.functional.normalize(text, dim=1)).sum(1)


def binding_hits(image: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                 tie_tol: float = 1e-6) -> torch.Tensor:
    """Per-row outcomes of the two-way binding test: ``(N,)`` of 1 (the image is closer, cosine,
    to its caption than to the attribute-swapped one), 0, or 0.5 for a tie (scores within
    ``tie_tol``). ``image, positive, negative``: ``(N, D)``. :func:`binding_accuracy` is their
    mean; verdicts with intervals resample them (:mod:`labclip_lib.experiments.bootstrap`)."""
    diff = pair_scores(image, positive) - pair_scores(image, negative)
    return (diff > tie_tol).float() + 0.5 * (diff.abs() <= tie_tol).float()


def binding_accuracy(image: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                     tie_tol: float = 1e-6) -> float:
    """Two-way binding accuracy (chance 0.5).

    For each row, is the image closer (cosine) to its caption than to the attribute-swapped
    caption? ``image, positive, negative``: ``(N, D)``. A tie (scores within ``tie_tol``) counts
    as half a hit, so a bag-of-words model that scores both captions equally gets exactly 0.5.
    Rows without a valid negative must be removed by the caller.
    """
    return float(binding_hits(image, positive, negative, tie_tol).mean())


def report_rows(result: dict | list[dict]) -> list[dict]:
    """A report's result as rows: a dict is one row, a list of dicts stays as it is (the reports of
    the analyses return one or the other)."""
    return list(result) if isinstance(result, list) else [result]


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` (e.g. one number per seed, or paired differences) and its two-sided
    Student-t confidence interval at ``level``: ``(mean, low, high)``. With one value the
    interval is ``(nan, nan)``: one seed cannot give one. NaN values raise ``ValueError``."""
    x = np.asarray(values, dtype=float).ravel()
    if len(x) == 0:
        raise ValueError("mean_interval: no values")
    if np.isnan(x).any():
        raise ValueError("mean_interval: NaN among the values")
    if not 0 < level < 1:
        raise ValueError(f"mean_interval: level must be in (0, 1), got {level}")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return mean, mean - half, mean + half

"""Verdicts with uncertainty: a two-stage cluster bootstrap over seeds and held-out classes.

An organism's binding accuracy is a mean over test items, but the items are not independent:
every item of a seed shares that seed's training run, and the items of one held-out swap class
(the same pair of object kinds whose pairing was never seen) share their difficulty. So the
interval of a claim's effect resamples what varies: **seeds** first, then **held-out classes
within each seed** (each class's items kept whole). Arms that share seeds and test scenes are
resampled **together** (paired), so what they have in common cancels in a contrast.

A claim's verdict (:func:`contrast_test`, :func:`level_test`), by rules stated before any result:

* a *contrast* ("bad data bind worse than good data"), effect = mean(good) - mean(bad):
  **reproduced** when the interval's lower end is above 0 and the effect is at least the clear
  gap; **partly** when the lower end is above 0 but the effect is smaller; **not reproduced**
  when the upper end is below the small gap; **inconclusive** otherwise;
* a *level* ("no setting reaches reliable binding", "the right data reach almost perfect
  binding"): the statistic is the **best** setting's binding, chosen again inside every
  bootstrap replicate, so that picking the best of many noisy settings is paid for in the
  interval. "None reaches": **reproduced** when the upper end is below the threshold, **not
  reproduced** when the lower end is at or above it; "reaches": the other way round;
  **inconclusive** when the interval holds the threshold;
* more seeds, declared in advance: any point whose interval holds a threshold gets at least
  :data:`SEEDS_AT_A_THRESHOLD` seeds (:func:`needs_more_seeds`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .verdicts import RULE, VerdictRule

__all__ = ["ItemScores", "BootstrapVerdict", "bootstrap_means", "contrast_test", "level_test",
           "needs_more_seeds", "percentile_interval", "SEEDS_AT_A_THRESHOLD"]

#: seeds for a point whose interval holds a verdict's threshold (the pre-declared rule)
SEEDS_AT_A_THRESHOLD = 5


@dataclass(frozen=True)
class ItemScores:
    """One organism's per-item outcomes on its test split.

    ``hits``: ``(n,)`` in [0, 1] (1: the image prefers its caption to the attribute swap);
    ``clusters``: ``(n,)`` the held-out swap class of each item (items of a class are
    resampled together); ``seed``: the organism's seed (arms are paired through it).
    """

    hits: np.ndarray
    clusters: np.ndarray
    seed: int

    def __post_init__(self) -> None:
        hits = np.asarray(self.hits, dtype=float)
        clusters = np.asarray(self.clusters)
        if hits.ndim != 1 or hits.size == 0:
            raise ValueError(f"seed {self.seed}: hits must be a non-empty 1-d array, got shape {hits.shape}")
        if clusters.shape != hits.shape:
            raise ValueError(f"seed {self.seed}: {clusters.shape[0] if clusters.ndim else 0} cluster labels for "
                             f"{hits.size} hits")
        if np.isnan(hits).any() or (hits < 0).any() or (hits > 1).any():
            raise ValueError(f"seed {self.seed}: hits must be in [0, 1] with no NaN")
        object.__setattr__(self, "hits", hits)
        object.__setattr__(self, "clusters", clusters)

    @property
    def accuracy(self) -> float:
        return float(self.hits.mean())

    def cluster_sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(labels, hits per cluster, items per cluster)``, labels sorted."""
        labels, inverse = np.unique(self.clusters, return_inverse=True)
        return labels, np.bincount(inverse, self.hits), np.bincount(inverse).astype(float)


@dataclass(frozen=True)
class BootstrapVerdict:
    """A claim's verdict: the effect (positive supports the claim), its interval, why, and the
    fewest seeds of any arm it read."""

    claim: str
    verdict: str
    effect: float
    low: float
    high: float
    evidence: str
    seeds: int = 0

    def __str__(self) -> str:
        return (f"{self.claim}: {self.verdict.upper()} (effect {self.effect:+.3f}, "
                f"[{self.low:+.3f}, {self.high:+.3f}]; {self.evidence})")


def _check_arms(arms: Mapping[str, Sequence[ItemScores]]) -> dict[str, list[ItemScores]]:
    if not arms:
        raise ValueError("no arms to bootstrap")
    out = {}
    for name, scores in arms.items():
        scores = list(scores)
        if not scores:
            raise ValueError(f"arm {name!r} has no organisms")
        seeds = [s.seed for s in scores]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"arm {name!r} has a seed twice: {seeds}")
        out[name] = sorted(scores, key=lambda s: s.seed)
    return out


def _pairable(arms: dict[str, list[ItemScores]]) -> bool:
    """Same seeds and, per seed, the same cluster label of every item (the same test scenes)."""
    first = next(iter(arms.values()))
    for scores in arms.values():
        if [s.seed for s in scores] != [s.seed for s in first]:
            return False
        if any(a.clusters.shape != b.clusters.shape or (a.clusters != b.clusters).any()
               for a, b in zip(scores, first)):
            return False
    return True


def _replicates(arms: dict[str, list[ItemScores]], n_boot: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Two-stage bootstrap means ``(n_boot,)`` per arm, all arms sharing every draw: resample the
    seeds (k slots from the k seeds), then in every slot the clusters of the drawn seed."""
    first = next(iter(arms.values()))
    k = len(first)
    slots = rng.integers(0, k, size=(n_boot, k))  # which seed fills each slot
    out = {name: np.zeros(n_boot) for name in arms}
    for s in range(k):
        labels, _, _ = first[s].cluster_sums()
        c = len(labels)
        weights = rng.multinomial(c, np.full(c, 1 / c), size=(n_boot, k))  # (B, k, C): one draw per slot
        used = slots == s
        for name, scores in arms.items():
            _, hits, counts = scores[s].cluster_sums()
            value = (weights @ hits) / np.maximum(weights @ counts, 1)  # (B, k)
            out[name] += np.where(used, value, 0).sum(axis=1) / k
    return out


def bootstrap_means(arms: Mapping[str, Sequence[ItemScores]], n_boot: int = 2000, seed: int = 0,
                    paired: bool = True) -> dict[str, np.ndarray]:
    """Bootstrap replicates of each arm's binding (mean over seeds of the per-seed accuracy).

    ``arms``: ``{name: [ItemScores per seed]}``. ``paired``: resample every arm with the same
    draws (they must share seeds and test scenes; a clear error otherwise); ``False``: each arm
    on its own draws. Returns ``{name: (n_boot,) array}``.
    """
    checked = _check_arms(arms)
    if n_boot < 100:
        raise ValueError(f"n_boot must be at least 100, got {n_boot}")
    rng = np.random.default_rng(seed)
    if paired:
        if not _pairable(checked):
            raise ValueError("paired bootstrap: the arms do not share seeds and test scenes "
                             f"({', '.join(checked)}); pass paired=False")
        return _replicates(checked, n_boot, rng)
    return {name: _replicates({name: scores}, n_boot, rng)[name] for name, scores in checked.items()}


def _point(scores: Sequence[ItemScores]) -> float:
    return float(np.mean([s.accuracy for s in scores]))


def percentile_interval(values, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates (NaN replicates left out)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(np.asarray(values, dtype=float), [tail, 100 - tail])
    return float(low), float(high)


def contrast_test(claim: str, good: Mapping[str, Sequence[ItemScores]], bad: Mapping[str, Sequence[ItemScores]],
                  rule: VerdictRule = RULE, level: float = 0.95, n_boot: int = 2000, seed: int = 0,
                  paired: bool | None = None) -> BootstrapVerdict:
    """The claim "the ``bad`` settings bind worse than the ``good`` ones": effect = mean over the
    good arms - mean over the bad arms, with its two-stage cluster bootstrap interval (paired
    when every arm shares seeds and test scenes, unless ``paired`` says otherwise). Verdict by
    the rule in the module docstring."""
    overlap = set(good) & set(bad)
    if overlap:
        raise ValueError(f"arms on both sides of the contrast: {', '.join(sorted(overlap))}")
    arms = _check_arms({**good, **bad})
    paired = _pairable(arms) if paired is None else paired
    reps = bootstrap_means(arms, n_boot, seed, paired)
    diff = np.mean([reps[g] for g in good], axis=0) - np.mean([reps[b] for b in bad], axis=0)
    effect = float(np.mean([_point(arms[g]) for g in good]) - np.mean([_point(arms[b]) for b in bad]))
    low, high = percentile_interval(diff, level)
    if low > 0:
        verdict = "reproduced" if effect >= rule.clear_gap else "partly"
    elif high < rule.some_gap:
        verdict = "not reproduced"
    else:
        verdict = "inconclusive"
    evidence = (f"{', '.join(good)} vs {', '.join(bad)}; {'paired' if paired else 'unpaired'}, "
                f"{min(len(v) for v in arms.values())} seeds; clear gap {rule.clear_gap:g}, small gap {rule.some_gap:g}")
    return BootstrapVerdict(claim, verdict, effect, low, high, evidence, min(len(v) for v in arms.values()))


def level_test(claim: str, arms: Mapping[str, Sequence[ItemScores]], threshold: float, reaches: bool,
               level: float = 0.95, n_boot: int = 2000, seed: int = 0, paired: bool | None = None) -> BootstrapVerdict:
    """The claim "the best setting reaches ``threshold``" (``reaches=True``) or "no setting
    reaches it" (``False``). The statistic is the best arm's binding, the best chosen again in
    every replicate; the effect is signed so that positive supports the claim (best -
    threshold, or threshold - best)."""
    checked = _check_arms(arms)
    paired = _pairable(checked) if paired is None else paired
    reps = bootstrap_means(checked, n_boot, seed, paired)
    best = np.max(np.stack([reps[a] for a in checked]), axis=0)
    points = {a: _point(s) for a, s in checked.items()}
    top = max(points, key=points.get)
    low, high = percentile_interval(best, level)
    if reaches:
        effect, lo, hi = points[top] - threshold, low - threshold, high - threshold
    else:
        effect, lo, hi = threshold - points[top], threshold - high, threshold - low
    verdict = "reproduced" if lo > 0 else "not reproduced" if hi <= 0 else "inconclusive"
    evidence = (f"best: {top} {points[top]:.3f}, best over {len(checked)} setting(s) in [{low:.3f}, {high:.3f}], "
                f"threshold {threshold:g}")
    return BootstrapVerdict(claim, verdict, float(effect), float(lo), float(hi), evidence,
                            min(len(v) for v in checked.values()))


def needs_more_seeds(low: float, high: float, thresholds: Sequence[float], seeds: int) -> bool:
    """The pre-declared rule: a point whose interval ``[low, high]`` holds any of ``thresholds``
    needs at least :data:`SEEDS_AT_A_THRESHOLD` seeds; ``True`` when it has fewer."""
    if low > high:
        raise ValueError(f"interval [{low}, {high}] is empty")
    touches = any(low <= t <= high for t in thresholds)
    return touches and seeds < SEEDS_AT_A_THRESHOLD

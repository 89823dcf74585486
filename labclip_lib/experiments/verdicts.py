"""Verdicts on the papers' claims, computed from measured numbers by the stated rules below.

Two kinds of claim:

* a *contrast* ("low attribute density hurts binding"): the mean binding of the settings the
  claim calls good minus the mean of those it calls bad. **reproduced** when that gap is at
  least :attr:`VerdictRule.clear_gap`, **partly** when it is positive but smaller than that
  and at least :attr:`VerdictRule.some_gap`, **not reproduced** otherwise;
* a *level* ("batch size does not give reliable binding", "the right data give almost perfect
  binding"): every value below (or the mean above) a threshold. "Reliable" is
  :attr:`VerdictRule.reliable`, "almost perfect" :attr:`VerdictRule.almost_perfect`; **partly**
  when the values straddle the threshold or miss it by less than ``some_gap``.

The margin in each verdict is signed so that positive supports the claim.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..metrics import mean_interval

__all__ = ["VerdictRule", "RULE", "Verdict", "contrast_verdict", "below_verdict", "above_verdict", "verdict_table",
           "goal_check"]


@dataclass(frozen=True)
class VerdictRule:
    """Thresholds of the verdicts (binding accuracy, two-way, chance 0.5)."""

    clear_gap: float = 0.10
    some_gap: float = 0.03
    reliable: float = 0.90
    almost_perfect: float = 0.95

    def __post_init__(self) -> None:
        if not 0 < self.some_gap < self.clear_gap < 0.5:
            raise ValueError(f"need 0 < some_gap < clear_gap < 0.5, got {self.some_gap} and {self.clear_gap}")
        if not 0.5 < self.reliable <= self.almost_perfect <= 1:
            raise ValueError(f"need 0.5 < reliable <= almost_perfect <= 1, got {self.reliable}, {self.almost_perfect}")


#: the book's rule
RULE = VerdictRule()


@dataclass(frozen=True)
class Verdict:
    """One claim's verdict: ``verdict`` is "reproduced", "partly" or "not reproduced"; ``margin``
    (positive supports the claim) and ``evidence`` say why."""

    claim: str
    verdict: str
    margin: float
    evidence: str

    def __str__(self) -> str:
        return f"{self.claim}: {self.verdict.upper()} (margin {self.margin:+.3f}; {self.evidence})"


def _values(name: str, values: Sequence[float]) -> np.ndarray:
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        raise ValueError(f"no values for {name}")
    if np.isnan(v).any():
        raise ValueError(f"NaN among the values for {name}")
    return v


def _mean_sd(v: np.ndarray) -> str:
    return f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f} (n={v.size})" if v.size > 1 else " (n=1)")


def contrast_verdict(claim: str, good: Sequence[float], bad: Sequence[float], good_label: str, bad_label: str,
                     rule: VerdictRule = RULE) -> Verdict:
    """The claim "``bad`` settings bind worse than ``good`` ones": gap = mean(good) - mean(bad)."""
    g, b = _values(good_label, good), _values(bad_label, bad)
    gap = float(g.mean() - b.mean())
    verdict = "reproduced" if gap >= rule.clear_gap else "partly" if gap >= rule.some_gap else "not reproduced"
    return Verdict(claim, verdict, gap, f"{good_label} {_mean_sd(g)} vs {bad_label} {_mean_sd(b)}")


def below_verdict(claim: str, values: Sequence[float], label: str, threshold: float | None = None,
                  rule: VerdictRule = RULE) -> Verdict:
    """The claim "none of ``values`` reaches ``threshold``" (default: reliable binding):
    margin = threshold - max(values); partly when the best value passes it by less than
    ``some_gap``."""
    v = _values(label, values)
    threshold = rule.reliable if threshold is None else threshold
    margin = float(threshold - v.max())
    verdict = "reproduced" if margin > 0 else "partly" if margin > -rule.some_gap else "not reproduced"
    return Verdict(claim, verdict, margin, f"best of {label}: {v.max():.3f}, threshold {threshold:g}")


def above_verdict(claim: str, values: Sequence[float], label: str, threshold: float | None = None,
                  rule: VerdictRule = RULE) -> Verdict:
    """The claim "``values`` reach ``threshold``" (default: almost perfect binding) on average:
    margin = mean(values) - threshold; partly when short by less than ``some_gap`` or when some
    but not all values reach it."""
    v = _values(label, values)
    threshold = rule.almost_perfect if threshold is None else threshold
    margin = float(v.mean() - threshold)
    if margin >= 0 and (v >= threshold).all():
        verdict = "reproduced"
    elif margin > -rule.some_gap or (v >= threshold).any():
        verdict = "partly"
    else:
        verdict = "not reproduced"
    return Verdict(claim, verdict, margin, f"{label} {_mean_sd(v)}, threshold {threshold:g}")


#: decimal places of the margins in :func:`verdict_table` (the evidence strings use the same)
MARGIN_DIGITS = 3


def verdict_table(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    """The verdicts as a table indexed by claim, ready for a page: the margin rounded to
    :data:`MARGIN_DIGITS` places (``0.278``, not ``0.278261``), the claim and evidence in full
    (the book's :func:`~labclip_lib.book.set_style` stops pandas from truncating long cells)."""
    if not verdicts:
        raise ValueError("no verdicts")
    table = pd.DataFrame([asdict(v) for v in verdicts]).set_index("claim")
    table["margin"] = table["margin"].astype(float).round(MARGIN_DIGITS) + 0.0  # + 0.0: never "-0.0"
    return table


def goal_check(values: Sequence[float], goal: float, level: float = 0.95) -> dict:
    """Does the mean of ``values`` (one per seed) reach ``goal``? ``"reached"`` when the whole
    ``level`` confidence interval of the mean (Student t over the values) is at or above the
    goal, ``"missed"`` when it is wholly below, ``"inconclusive"`` when it straddles the goal or
    when one value gives no interval. Returns ``{"mean", "low", "high", "n", "goal", "outcome"}``.
    Used in chapter 2's positive control."""
    v = _values("the goal check", values)
    mean, low, high = mean_interval(v, level)
    outcome = ("inconclusive" if np.isnan(low) else "reached" if low >= goal else "missed" if high < goal
               else "inconclusive")
    return {"mean": mean, "low": low, "high": high, "n": int(v.size), "goal": float(goal), "outcome": outcome}

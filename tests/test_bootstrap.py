"""The two-stage cluster bootstrap and the verdicts built on it, on synthetic data with known answers."""

import numpy as np
import pytest

from labclip_lib.experiments import (
    SEEDS_AT_A_THRESHOLD,
    ItemScores,
    bootstrap_means,
    contrast_test,
    level_test,
    needs_more_seeds,
)


def _arm(rng, base, seeds=(0, 1, 2, 3, 4), classes=12, per_class=40, seed_sd=0.02, class_sd=0.05,
         shared=None):
    """Per-item hits of one arm: accuracy base + seed effect + class effect (``shared``: the
    seed and class effects of another arm, so the two arms are correlated as paired arms are)."""
    out, effects = [], {}
    for s in seeds:
        if shared is None:
            e_seed, e_class = rng.normal(0, seed_sd), rng.normal(0, class_sd, classes)
        else:
            e_seed, e_class = shared[s]
        effects[s] = (e_seed, e_class)
        clusters = np.repeat(np.arange(classes), per_class)
        p = np.clip(base + e_seed + e_class[clusters], 0, 1)
        out.append(ItemScores(rng.random(p.size) < p, clusters, s))
    return out, effects


def test_item_scores_validate():
    with pytest.raises(ValueError, match="cluster labels"):
        ItemScores(np.ones(3), np.zeros(2), 0)
    with pytest.raises(ValueError, match="NaN"):
        ItemScores(np.array([1.0, np.nan]), np.zeros(2), 0)
    with pytest.raises(ValueError, match="non-empty"):
        ItemScores(np.array([]), np.array([]), 0)
    s = ItemScores(np.array([1, 0, 1, 1]), np.array(["a", "a", "b", "b"]), 0)
    labels, hits, counts = s.cluster_sums()
    assert list(labels) == ["a", "b"] and list(hits) == [1, 2] and list(counts) == [2, 2]
    assert s.accuracy == 0.75


def test_bootstrap_centres_on_the_point_and_resamples_whole_clusters():
    # two clusters, all hits in one and none in the other: every replicate is a mix of whole
    # clusters, so replicate means are multiples of 1/2 (within one seed)
    s = ItemScores(np.r_[np.ones(10), np.zeros(10)], np.r_[np.zeros(10), np.ones(10)], 0)
    reps = bootstrap_means({"a": [s]}, n_boot=500)["a"]
    assert set(np.round(reps, 6)) <= {0.0, 0.5, 1.0}
    assert abs(reps.mean() - 0.5) < 0.05


def test_paired_needs_shared_seeds_and_scenes():
    rng = np.random.default_rng(0)
    a, _ = _arm(rng, 0.8, seeds=(0, 1, 2))
    b, _ = _arm(rng, 0.8, seeds=(0, 1, 3))
    with pytest.raises(ValueError, match="do not share seeds"):
        bootstrap_means({"a": a, "b": b}, paired=True)
    with pytest.raises(ValueError, match="both sides"):
        contrast_test("x", {"a": a}, {"a": a})
    with pytest.raises(ValueError, match="no organisms"):
        bootstrap_means({"a": []})


def test_a_true_effect_is_found():
    rng = np.random.default_rng(1)
    good, fx = _arm(rng, 0.95)
    bad, _ = _arm(rng, 0.70, shared=fx)
    v = contrast_test("bad data hurt", {"good": good}, {"bad": bad})
    assert v.verdict == "reproduced" and v.low > 0.15 and v.low <= v.effect <= v.high
    small, _ = _arm(rng, 0.90, shared=fx)
    assert contrast_test("a little", {"good": good}, {"small": small}).verdict == "partly"


def test_a_null_effect_is_rarely_called_reproduced():
    rng = np.random.default_rng(2)
    called, lower_above_zero = 0, 0
    trials = 60
    for t in range(trials):
        a, fx = _arm(rng, 0.8)
        b, _ = _arm(rng, 0.8, shared=fx)
        v = contrast_test("null", {"a": a}, {"b": b}, n_boot=400, seed=t)
        called += v.verdict == "reproduced"
        lower_above_zero += v.low > 0
    assert called == 0
    # a 95% interval's lower end is above zero in about 2.5% of null data sets; allow sampling noise
    assert lower_above_zero / trials <= 0.1


def test_paired_interval_is_narrower_on_correlated_arms():
    rng = np.random.default_rng(3)
    a, fx = _arm(rng, 0.85, seed_sd=0.05, class_sd=0.12)
    b, _ = _arm(rng, 0.80, shared=fx)
    paired = contrast_test("x", {"a": a}, {"b": b}, paired=True)
    unpaired = contrast_test("x", {"a": a}, {"b": b}, paired=False)
    assert paired.effect == pytest.approx(unpaired.effect)
    assert (paired.high - paired.low) < 0.6 * (unpaired.high - unpaired.low)


def test_level_claims_pay_for_choosing_the_best():
    rng = np.random.default_rng(4)
    # ten settings, all truly at 0.88: "none reaches 0.90" is true, but the best of ten noisy
    # settings sits higher than any one of them; the interval of the best accounts for that
    arms = {f"s{i}": _arm(rng, 0.88, seeds=(0, 1, 2))[0] for i in range(10)}
    v = level_test("none reliable", arms, 0.90, reaches=False, paired=False)
    one = level_test("none reliable", {"s0": arms["s0"]}, 0.90, reaches=False)
    assert v.verdict in {"inconclusive", "reproduced"}
    assert v.high - v.effect >= 0  # effect inside its interval
    assert v.effect <= one.effect + 0.02  # the best of ten is no further below the threshold than one
    high = {"top": _arm(rng, 0.99, class_sd=0.01)[0]}
    assert level_test("reaches", high, 0.95, reaches=True).verdict == "reproduced"
    assert level_test("none reach", high, 0.95, reaches=False).verdict == "not reproduced"
    low = {"bottom": _arm(rng, 0.60)[0]}
    assert level_test("reaches", low, 0.95, reaches=True).verdict == "not reproduced"


def test_more_seeds_rule():
    assert needs_more_seeds(0.88, 0.93, [0.90], seeds=3)
    assert not needs_more_seeds(0.88, 0.93, [0.90], seeds=SEEDS_AT_A_THRESHOLD)
    assert not needs_more_seeds(0.91, 0.93, [0.90], seeds=3)
    with pytest.raises(ValueError, match="empty"):
        needs_more_seeds(0.9, 0.8, [0.85], seeds=3)

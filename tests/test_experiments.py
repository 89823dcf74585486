"""Paper 2's caption knobs, sweeps over organisms and the claims' verdicts (chapters 7-9)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from labclip_lib import experiments as X
from labclip_lib import organisms as O
from labclip_lib.world.captions import CaptionSpec, caption_statistics, describe_all, swap_negatives
from labclip_lib.world.sampling import sample_scenes
from labclip_lib.world.scenes import MATERIALS, SIZES

TINY = O.OrganismConfig(name="tiny", n_scenes=300, epochs=1, batch_size=64, embed_dim=16, image_width=8,
                        text_hidden=16, seed=1)
FAST_MAP = X.MapSettings(epochs=2)


@pytest.fixture(scope="module")
def scenes():
    return sample_scenes(3000, 3, seed=5, sizes=SIZES)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_attributes_per_object_knob_states_that_many_attributes(scenes, k):
    caps = describe_all(scenes, attributes=k, seed=2)
    stats = caption_statistics(caps, scenes)
    assert stats["attributes_per_object"] == pytest.approx(k)
    assert stats["attribute_density"] == (0.0 if k == 0 else 1.0)  # the colour is the first attribute
    words = {w for c in caps for w in c.text.split()}
    assert bool(words & set(SIZES + MATERIALS)) == (k >= 2)
    if k == 2:  # size or material, each about half the time
        sizes = sum(e[0] in SIZES for c in caps for e in c.extras) / sum(len(c.extras) for c in caps)
        assert sizes == pytest.approx(0.5, abs=0.03)


def test_extra_attributes_follow_the_scene_and_clevr_order(scenes):
    caps = describe_all(scenes[:200], attributes=3, seed=0)
    for cap, scene in zip(caps, scenes[:200]):
        if len(set(scene.combination)) < len(scene):
            continue  # two objects of the same colour and shape: which one a mention names is ambiguous
        by_shape_colour = {(o.color, o.shape): (o.size, o.material) for o in scene.objects}
        for (colour, shape), extras in zip(cap.mentions, cap.extras):
            assert tuple(extras) == by_shape_colour[(colour, shape)]
            assert f"{extras[0]} {colour} {extras[1]} {shape}" in cap.text  # "large red metal cube"


def test_swap_negatives_move_colours_only(scenes):
    caps = describe_all(scenes[:300], attributes=3, seed=0)
    negs = swap_negatives(caps, seed=0, scenes=scenes[:300])
    assert sum(n is not None for n in negs) > 250
    for cap, neg in zip(caps, negs):
        if neg is not None:
            assert neg.extras == cap.extras and [s for _, s in neg.mentions] == [s for _, s in cap.mentions]
            assert sorted(c for c, _ in neg.mentions) == sorted(c for c, _ in cap.mentions)
            assert neg.bound_pairs != cap.bound_pairs


def test_density_and_attributes_combine(scenes):
    caps = describe_all(scenes, attributes=3, attribute_density=0.4, seed=3)
    stats = caption_statistics(caps, scenes)
    assert stats["attribute_density"] == pytest.approx(0.4, abs=0.02)
    assert stats["attributes_per_object"] == pytest.approx(2.4, abs=0.02)  # size and material always stated


def test_default_attributes_keep_old_captions_and_keys(scenes):
    before = describe_all(scenes[:50], CaptionSpec(), seed=4)
    assert [c.text for c in before] == [c.text for c in describe_all(scenes[:50], attributes=1, seed=4)]
    assert "attributes" not in O.organism_config("complete").to_dict()["captions"][0][1]
    rich = X.vary(O.organism_config("complete"), "attributes", 3)
    assert rich.to_dict()["captions"][0][1]["attributes"] == 3
    assert O.OrganismConfig.from_dict(rich.to_dict()) == rich


def test_vocabulary_grows_only_for_attribute_words():
    assert O.organism_vocabulary(TINY) == O.VOCABULARY
    rich = O.organism_vocabulary(X.vary(TINY, "attributes", 2))
    assert set(rich) - set(O.VOCABULARY) == set(SIZES + MATERIALS)
    O.WordTokenizer(rich)(["large red metal cube and small blue rubber sphere"])
    with pytest.raises(ValueError, match="out-of-vocabulary"):
        O.WordTokenizer()(["large red cube"])


@pytest.mark.parametrize("knob, value, match", [
    ("attribute_density", -0.1, "attribute_density"), ("attribute_density", 1.5, r"\[0, 1\]"),
    ("completeness", 2, "completeness"), ("saliency_bias", -1, "saliency_bias"),
    ("attributes", 4, "from 0 to 3"), ("attributes", -1, "attributes"), ("attributes", 1.5, "integer"),
    ("batch_size", 0, "batch_size must be at least 2"), ("batch_size", 2.5, "whole number"),
    ("batch_size (equal steps)", 96, "whole number"), ("n_objects", 0, "positive"),
    ("hard_negatives", 1, "True or False"), ("colour", 1, "unknown knob"),
])
def test_bad_knob_values_fail_with_the_knob_named(knob, value, match):
    with pytest.raises(ValueError, match=match):
        X.vary(TINY, knob, value)


def test_knobs_change_what_they_name():
    assert X.vary(TINY, "batch_size (equal steps)", 256).epochs == 4
    assert X.vary(TINY, "batch_size (equal steps)", 256).batch_size == 256
    assert X.vary(TINY, "n_objects", 4).n_objects == (4,)
    mixed = replace(TINY, captions=((0.5, CaptionSpec()), (0.5, CaptionSpec(completeness=0.5))))
    assert [s.saliency_bias for _, s in X.vary(mixed, "saliency_bias", 1.0).captions] == [1.0, 1.0]
    points = X.sweep_configs(TINY, {"completeness": [0.5, 1.0], "saliency_bias": [0.0, 1.0]}, seeds=[0, 1])
    assert len(points) == 8 and len({c.key for _, c in points}) == 8
    with pytest.raises(ValueError, match="empty list of values"):
        X.sweep_configs(TINY, {"completeness": []})
    with pytest.raises(ValueError, match="at least one seed"):
        X.sweep_configs(TINY, {"completeness": [1.0]}, seeds=[])


def test_sweep_returns_one_row_per_point_and_reuses_the_cache(monkeypatch):
    table = X.sweep(TINY, "attribute_density", [0.0, 1.0], map_settings=FAST_MAP, jobs=1)
    assert list(table["attribute_density"]) == [0.0, 1.0] and list(table["seed"]) == [0, 0]
    for column in ("binding", "image probe", "text probe", "ceiling", "map binding", "training seconds"):
        assert table[column].notna().all()
    assert table["binding"].between(0, 1).all() and (table["training seconds"] > 0).all()
    assert np.allclose(table["map gain"], table["map binding"] - table["binding"])

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of reading the cache")

    monkeypatch.setattr(O.store, "train_organism", no_training)
    monkeypatch.setattr(X.rescue, "rescue_profile", no_training)
    again = X.sweep(TINY, "attribute_density", [0.0, 1.0], map_settings=FAST_MAP, jobs=1)
    assert again.drop(columns="seconds").equals(table.drop(columns="seconds"))


def test_verdicts_follow_the_stated_rule():
    assert X.contrast_verdict("c", [0.95, 0.97], [0.6], "good", "bad").verdict == "reproduced"
    assert X.contrast_verdict("c", [0.8], [0.75], "good", "bad").verdict == "partly"
    v = X.contrast_verdict("c", [0.7], [0.75], "good", "bad")
    assert v.verdict == "not reproduced" and v.margin == pytest.approx(-0.05)
    assert X.below_verdict("b", [0.6, 0.7], "batches").verdict == "reproduced"
    assert X.below_verdict("b", [0.6, 0.91], "batches").verdict == "partly"
    assert X.below_verdict("b", [0.6, 0.99], "batches").verdict == "not reproduced"
    assert X.above_verdict("a", [0.97, 0.99], "right").verdict == "reproduced"
    assert X.above_verdict("a", [0.93, 0.99], "right").verdict == "partly"
    assert X.above_verdict("a", [0.7, 0.8], "right").verdict == "not reproduced"
    with pytest.raises(ValueError, match="NaN"):
        X.contrast_verdict("c", [float("nan")], [0.5], "good", "bad")
    with pytest.raises(ValueError, match="no values"):
        X.below_verdict("b", [], "batches")
    table = X.verdict_table([v])
    assert table.loc["c", "verdict"] == "not reproduced"


def test_worker_processes_give_the_serial_numbers(tmp_path, monkeypatch):
    config = replace(TINY, seed=2)
    points = X.sweep_configs(config, {"saliency_bias": [0.0, 1.0]}, [2])
    parallel = X.run_points(points, map_settings=FAST_MAP, jobs=2)
    monkeypatch.setenv("LABCLIP_CACHE", str(tmp_path))  # an empty cache: the serial run trains anew, in-process
    serial = X.run_points(points, map_settings=FAST_MAP, jobs=1)
    assert parallel.drop(columns=["seconds", "training seconds"]).equals(
        serial.drop(columns=["seconds", "training seconds"]))


def test_grids_run_their_verdict_points_with_more_seeds_and_judge_claims():
    points = X.grid_points("completeness", seeds=[0], verdict_seeds=[0, 1, 2], values={"completeness": [0.25, 0.5, 1.0]})
    values = sorted((labels["completeness"], labels["seed"]) for labels, _ in points)
    assert values == [(0.25, 0), (0.25, 1), (0.25, 2), (0.5, 0), (1.0, 0), (1.0, 1), (1.0, 2)]
    assert all(c.n_objects == (4,) for _, c in points)
    changed = X.grid_points("completeness", changes={"n_scenes": 400}, values={"completeness": [0.5]})
    assert [c.n_scenes for _, c in changed] == [400] and [lab["completeness"] for lab, _ in changed] == [0.5]
    with pytest.raises(ValueError, match="has no knob"):
        X.grid_points("completeness", values={"saliency_bias": [0.0]})
    with pytest.raises(ValueError, match="unknown grid"):
        X.grid_points("colour")
    import pandas as pd

    table = pd.DataFrame([{"grid": "completeness", "completeness": c, "seed": s, "binding": b}
                          for c, s, b in [(1.0, 0, 0.9), (1.0, 1, 0.92), (0.25, 0, 0.6), (0.25, 1, 0.62)]])
    v = X.claim_verdict("2a", table)
    assert v.verdict == "reproduced" and v.margin == pytest.approx(0.3)
    assert list(X.claim_verdicts(table).index) == ["2a"]
    with pytest.raises(ValueError, match="no rows of a grid testing claim 3"):
        X.claim_verdict("3", table)


def test_verdict_tables_round_the_margin_and_keep_the_claim_whole():
    import pandas as pd

    table = pd.DataFrame([{"grid": "completeness", "completeness": c, "seed": s, "binding": b}
                          for c, s, b in [(1.0, 0, 0.9), (1.0, 1, 0.9234), (0.25, 0, 0.6), (0.25, 1, 0.62)]])
    assert X.claim_verdict("2a", table).margin == pytest.approx(0.3017)  # the verdict keeps the exact margin
    shown = X.claim_verdicts(table)
    assert shown.loc["2a", "margin"] == 0.302  # the table shows three places, not 0.3017
    assert shown.loc["2a", "claim"] == X.CLAIMS["2a"] and len(X.CLAIMS["2a"]) > 50  # longer than pandas' cut
    tiny = X.verdict_table([X.below_verdict("b", [0.6, 0.8999999], "batches"), X.below_verdict("c", [0.27826087], "x")])
    assert str(tiny.loc["b", "margin"]) == "0.0"  # never "-0.0" or "1e-07"
    assert tiny.loc["c", "margin"] == 0.622


def test_measuring_a_new_organism_builds_its_data_once(monkeypatch):
    config = replace(TINY, seed=3)
    assert O.trained_organism(config) is None
    built = []
    real = O.build_data

    def counting(cfg, *args, **kwargs):
        built.append(cfg.key)
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(O.store, "build_data", counting)
    monkeypatch.setattr(X.rescue, "build_data", counting)
    row = X.measure_organism(config, "test", FAST_MAP)
    assert built == [config.key]  # trained and measured on one build of its data
    path = O.trained_organism(config)
    assert path is not None and 0 <= row["map binding"] <= 1

    def no_fitting(*args, **kwargs):
        raise AssertionError("fitted the map again instead of reading the one measured")

    monkeypatch.setattr(X.rescue, "fit_map", no_fitting)
    model, alignment = X.organism_with_map(config, FAST_MAP)  # the explorer's map is the measured one
    e = X.rescue.pair_embeddings(model, real(config), "test")
    assert alignment.score(e["image"], e["caption"], e["swap"]) == pytest.approx(row["map binding"])


def test_stored_train_binding_reads_the_first_scenes_of_the_split(monkeypatch):
    monkeypatch.setattr(O.store, "TRAIN_METRIC_SCENES", 40)
    config = replace(TINY, seed=4)
    network, meta = O.read_organism(O.get_organism(config, progress=False))
    tok = O.WordTokenizer(O.organism_vocabulary(config))
    data = O.build_data(config)
    assert meta["metrics"]["train"] == O.binding_accuracy_2way(network, tok, data, "train", limit=40)
    assert meta["metrics"]["test"] == O.binding_accuracy_2way(network, tok, data, "test")
    idx = [i for i in data.split.train if data.eval_negatives[i] is not None]
    assert len(idx) > 40  # so the limit took effect


def test_bench_sweep_quick_runs():
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "speed" / "bench_sweep.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--grid", "completeness", "--value", "0.25"],
                         capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    for phase in ("scene set (once per set)", "training captions", "training", "stored binding", "measuring",
                  "before: data built again"):
        assert phase in out.stdout
    assert "measuring / training now" in out.stdout


def test_bench_measure_quick_runs():
    """The measurement's speed script: both speed-ups equal their baselines, every part is timed."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "speed" / "bench_measure.py"
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True,
                         env={**os.environ, "TQDM_DISABLE": "1"}, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line.split("  ")[0]: line for line in out.stdout.splitlines()}
    for name in ("image embedding (s)", "conjunction codes (s)"):
        assert " True " in rows[name], rows[name]  # equal to the baseline, bit for bit
    for part in ("binding and probes", "pair embeddings (3 splits)", "LABCLIP map (50 epochs)", "pairing bound"):
        assert any(line.strip().startswith(part) and line.strip().endswith("%") for line in out.stdout.splitlines()), part


def test_goal_check_reads_the_interval_not_the_mean():
    from labclip_lib.metrics import mean_interval

    mean, low, high = mean_interval([0.90, 0.92, 0.94])
    assert mean == pytest.approx(0.92) and low < 0.92 < high
    # t(0.975, 2) = 4.303; sd 0.02; half-width 4.303 * 0.02 / sqrt(3)
    assert high - mean == pytest.approx(4.303 * 0.02 / 3**0.5, rel=1e-3)
    assert X.goal_check([0.99, 0.985, 0.992], 0.95)["outcome"] == "reached"
    assert X.goal_check([0.80, 0.82, 0.79], 0.95)["outcome"] == "missed"
    straddle = X.goal_check([0.93, 0.97, 0.96], 0.95)
    assert straddle["mean"] > 0.95 and straddle["outcome"] == "inconclusive"  # the mean alone would say reached
    assert X.goal_check([0.99], 0.95)["outcome"] == "inconclusive"  # one seed: no interval
    with pytest.raises(ValueError, match="NaN"):
        X.goal_check([0.9, float("nan")], 0.95)
    with pytest.raises(ValueError, match="no values"):
        mean_interval([])


def test_bound_by_grid_means_per_grid_in_order():
    import pandas as pd

    rows = pd.DataFrame({"grid": ["a", "b", "a"], "binding": [0.5, 0.6, 0.7], "map binding": [0.8, 0.9, 0.6],
                         "pairing bound": [0.9, 0.95, 0.8], "bound gap": [0.1, 0.05, 0.2]})
    table = X.bound_by_grid(rows, ["b", "a", "missing"])
    assert list(table.index) == ["b", "a"] and table.loc["a", "binding"] == pytest.approx(0.6)
    assert table.loc["a", "organisms"] == 2
    with pytest.raises(ValueError, match="no organisms"):
        X.bound_by_grid(rows.iloc[:0])


def _items(rng, p, seed, classes=8, per_class=30):
    clusters = np.repeat([f"class {k}" for k in range(classes)], per_class)
    return X.ItemScores((rng.random(clusters.size) < p).astype(float), clusters, seed)


def test_claim_tests_judge_contrasts_and_levels_with_intervals():
    import pandas as pd

    rng = np.random.default_rng(0)
    rows, items = [], {}
    for value, p in ((1.0, 0.95), (0.25, 0.6)):
        for s in (0, 1, 2):
            key = f"c{value}-{s}"
            rows.append({"grid": "completeness", "completeness": value, "seed": s, "organism": key})
            items[key] = _items(rng, p, s)
    for b, p in ((64, 0.55), (512, 0.6)):
        key = f"b{b}"
        rows.append({"grid": "batch size (converged)", "batch_size": b, "seed": 0, "organism": key})
        items[key] = _items(rng, p, 0)
    table = pd.DataFrame(rows)
    tests = X.claim_tests(table, items)
    assert list(tests.index) == ["2a", "4"]
    assert tests.loc["2a", "verdict"] == "reproduced" and tests.loc["2a", "low"] > 0.2
    assert tests.loc["2a", "claim"] == X.CLAIMS["2a"] and tests.loc["2a", "seeds"] == 3
    assert tests.loc["4", "verdict"] == "reproduced" and tests.loc["4", "high"] > 0
    assert tests.loc["4", "seeds"] == 1 and not tests.loc["4", "more seeds by the rule"]
    # the same data with the bad arm's items missing: a clear error, not a silent verdict
    with pytest.raises(ValueError, match="no item scores"):
        X.claim_test("2a", table, {k: v for k, v in items.items() if not k.startswith("c0.25")})
    near = dict(items, b512=_items(rng, 0.9, 0))  # the best batch size at the threshold
    t = X.claim_tests(table, near, claims=["4"])
    assert t.loc["4", "verdict"] == "inconclusive" and t.loc["4", "more seeds by the rule"]


def test_measure_items_are_the_binding_item_by_item(monkeypatch):
    config = replace(TINY, seed=5)
    row = X.measure_organism(config, map_settings=FAST_MAP)

    def recomputed(*args, **kwargs):
        raise AssertionError("measure_organism keeps the items: measure_items must read them back")

    with monkeypatch.context() as m:
        m.setattr("labclip_lib.experiments.rescue.pair_embeddings", recomputed)
        items = X.measure_items(config)
    assert np.mean(items["hits"]) == pytest.approx(row["binding"])
    assert set(items["hits"]) <= {0.0, 0.5, 1.0} and len(items["clusters"]) == len(items["hits"])
    data = O.build_data(config)
    assert len(set(items["clusters"])) <= len(data.split.test_classes)
    assert O.cached_config(config.key) == config
    with pytest.raises(ValueError, match="no trained organism"):
        O.cached_config("0" * 16)
    import pandas as pd

    table = pd.DataFrame([{"grid": "completeness", "completeness": c, "seed": 5, "organism": config.key}
                          for c in (1.0, 0.25)])
    scores = X.grid_items(table, jobs=1)
    assert scores[config.key].accuracy == pytest.approx(row["binding"]) and scores[config.key].seed == 5


def test_rescue_on_a_common_scale_and_within_grid_correlations():
    import pandas as pd

    rows = pd.DataFrame({"binding": [0.6, 0.8, 1.0], "map binding": [0.8, 0.9, 1.0],
                         "image probe": [0.8, 0.7, 0.9], "ceiling": [0.6, 0.5, 0.6]})
    out = X.normalised_rescue(rows)
    assert out["normalised gain"].iloc[:2].tolist() == pytest.approx([0.5, 0.5])
    assert np.isnan(out["normalised gain"].iloc[2])  # binds perfectly: nothing to recover
    assert out["normalised margin"].tolist() == pytest.approx([0.5, 0.4, 0.75])
    with pytest.raises(ValueError, match="no column"):
        X.normalised_rescue(rows.drop(columns="ceiling"))
    rng = np.random.default_rng(0)
    # two grids: within each, y rises with x; across grids the offsets run the other way, so the
    # raw correlation is negative while the within-grid one is positive
    parts = []
    for g, offset in (("a", 0.0), ("b", 1.0)):
        x = rng.random(12) + offset
        parts.append(pd.DataFrame({"grid": g, "x": x, "y": x - 3 * offset + rng.normal(0, 0.05, 12)}))
    parts.append(pd.DataFrame({"grid": "c", "x": [0.1, 0.2], "y": [0.3, 0.1]}))
    table = pd.concat(parts)
    assert np.corrcoef(table["x"], table["y"])[0, 1] < 0
    r = X.within_grid_correlations(table, "x", "y", names=["b", "a", "c"], n_boot=300)
    assert list(r.index) == ["b", "a", "c", "pooled within grids"]
    assert r.loc["a", "r"] > 0.9 and r.loc["a", "low"] > 0.5 and np.isnan(r.loc["c", "r"])
    assert r.loc["pooled within grids", "r"] > 0.9 and r.loc["pooled within grids", "organisms"] == 24


def test_grids_train_by_their_recipe_and_changes_win():
    (_, config), *_ = X.grid_points("completeness", verdict_seeds=())
    # the four-object claims train to convergence: chapter 2's positive control is their good point
    assert config.stopping == "val-loss" and config.epochs == O.RECIPES["converged"]["epochs"]
    full = [c for lab, c in X.grid_points("completeness", verdict_seeds=(0,)) if lab["completeness"] == 1.0]
    assert full[0].key == O.organism_config("complete", 0, "converged", n_objects=(4,)).key
    quick = X.grid_base(X.GRIDS["completeness"], {"epochs": 1, "n_scenes": 400})
    assert quick.epochs == 1 and quick.stopping == "val-loss"  # a quick run keeps the recipe's stopping rule
    second = X.grid_base(X.GRIDS["completeness"], {"recipe": "second"})
    assert second.stopping == "fixed" and second.epochs == 2
    assert X.grid_base(X.GRIDS["attribute density"]).stopping == "fixed"
    with pytest.raises(ValueError, match="unknown recipe"):
        X.Grid("complete", (("completeness", (1.0,)),), recipe="longer")
    with pytest.raises(ValueError, match="unknown measure"):
        X.Grid("complete", (("completeness", (1.0,)),), measure="accuracy")
    attrs = X.grid_base(X.GRIDS["attributes per object"])
    assert (attrs.resolution, attrs.stem_stride, attrs.sizes) == (64, 2, ("small", "large"))
    with pytest.raises(ValueError, match="knob 'resolution'"):
        X.vary(TINY, "resolution", 31.5)


#: four-object grids kept at the two-epoch budget: claim 4 at equal epochs and at equal steps (on
#: purpose), claim 2b's difference-in-differences (for the build's time budget; see its grid)
TWO_EPOCH_GRIDS = {"batch size (2 epochs)", "batch size (equal steps)", "objects in image"}


def test_every_four_object_grid_trains_to_convergence_except_the_two_epoch_arms():
    four = [n for n in X.GRIDS if any(c.n_objects == (4,) for _, c in X.grid_points(n, verdict_seeds=()))]
    assert {"completeness", "objects in image", "saliency bias", "right properties", "hard negatives: salient",
            "hard negatives: incomplete", "completeness x saliency"} <= set(four)
    for name in four:
        stopping = {c.stopping for _, c in X.grid_points(name, verdict_seeds=()) if c.n_objects == (4,)}
        assert stopping == ({"fixed"} if name in TWO_EPOCH_GRIDS else {"val-loss"}), name


def test_claim_2b_is_a_paired_contrast_on_the_same_four_object_scenes():
    points = X.grid_points("objects in image", seeds=(0,), verdict_seeds=(0, 1, 2))
    arms = {(lab["completeness"], lab["seed"]): c for lab, c in points}
    assert sorted(arms) == [(0.5, 0), (0.5, 1), (0.5, 2), (1.0, 0), (1.0, 1), (1.0, 2)]
    for seed in (0, 1, 2):
        good, bad = arms[1.0, seed], arms[0.5, seed]
        # same scenes (only the captions differ), so the bootstrap pairs them item by item
        assert {k: v for k, v in good.to_dict().items() if k != "captions"} == \
               {k: v for k, v in bad.to_dict().items() if k != "captions"}
        assert good.key != bad.key
    # complete at four objects, two epochs, is a candidate of chapter 2's positive control: one organism
    assert arms[1.0, 0].key == O.organism_config("complete", 0, "second", n_objects=(4,)).key


def test_completeness_x_saliency_reuses_other_grids_organisms():
    others = {c.key for n in ("completeness", "saliency bias", "hard negatives: incomplete", "batch size (converged)")
              for _, c in X.grid_points(n, seeds=(0,), verdict_seeds=())}
    assert {c.key for _, c in X.grid_points("completeness x saliency", verdict_seeds=())} <= others


def test_hard_negative_screen_keeps_the_diets_that_fail_without_negatives_on_validation(monkeypatch):
    names = ["hard negatives: density 0.5", "hard negatives: salient"]
    wanted = {n: [c for lab, c in X.grid_points(n, seeds=(1,), verdict_seeds=()) if not lab["hard_negatives"]][0]
              for n in names}
    trained = []
    val = {wanted[names[0]].key: 0.93, wanted[names[1]].key: 0.88}

    def fake_get_organisms(configs, jobs=None):
        trained.extend(configs)
        return [c.key for c in configs]

    monkeypatch.setattr(X.grids, "get_organisms", fake_get_organisms)
    monkeypatch.setattr(X.grids, "organism_summary", lambda key: {"val binding": val[key], "test binding": 0.0,
                                                                  "epochs": 9})
    screen = X.hard_negative_screen(names, seed=1)
    # the grids' own organisms without negatives at that seed, trained together
    assert [c.key for c in trained] == [wanted[n].key for n in names]
    assert not any(c.hard_negatives for c in trained)
    assert screen["arm of claim 5"].tolist() == [False, True]  # 0.93 binds reliably already; 0.88 does not
    assert screen.loc[names[1], "recipe"] == "converged"
    with pytest.raises(ValueError, match="not an arm of claim 5"):
        X.hard_negative_screen(["completeness"])
    with pytest.raises(ValueError, match="unknown grid"):
        X.hard_negative_screen(["hard negatives: nowhere"])


def test_claim_five_reads_only_diets_with_swap_negatives():
    assert X.GRIDS["hard negatives: natural"].verdict is None  # context: no caption has a negative
    seeds = sorted((lab["hard_negatives"], lab["seed"]) for lab, _ in X.grid_points("hard negatives: incomplete"))
    assert seeds == [(False, 0), (True, 0), (True, 1), (True, 2)]
    import pandas as pd

    table = pd.DataFrame([{"grid": g, "hard_negatives": h, "seed": 0, "binding": b}
                          for g, h, b in [("hard negatives: natural", True, 0.99), ("hard negatives: natural", False, 0.5),
                                          ("hard negatives: incomplete", True, 0.7),
                                          ("hard negatives: incomplete", False, 0.6)]])
    v = X.claim_verdict("5", table)
    assert v.verdict == "reproduced" and v.margin == pytest.approx(X.RULE.reliable - 0.7)  # natural's 0.99 not read


def test_training_budget_names_recipe_and_epochs():
    import pandas as pd

    rows = [{"grid": "completeness", "completeness": c, "seed": s, "binding": 0.5, "epochs": e}
            for c, s, e in [(1.0, 0, 19), (1.0, 1, 23), (0.25, 0, 9), (0.25, 1, 8)]]
    assert X.training_budget("2a", pd.DataFrame(rows)) == "converged: 8-23 epochs"
    density = pd.DataFrame([{"grid": "attribute density", "attribute_density": d, "seed": 0, "binding": 0.5,
                             "epochs": 2} for d in (1.0, 0.25)])
    assert X.training_budget("1a", density) == "second: 2 epochs"
    assert X.claim_verdicts(density).loc["1a", "training"] == "second: 2 epochs"
    with pytest.raises(ValueError, match="own-format binding"):
        X.claim_verdict("1b", pd.DataFrame([{"grid": "attributes per object", "attributes": a, "seed": 0,
                                             "binding": 0.5} for a in (1, 3)]))


def test_own_format_captions_keep_the_diets_words_and_swap_colours_only():
    config = replace(TINY, captions=((1.0, CaptionSpec(attributes=3)),), sizes=SIZES)
    scenes = sample_scenes(200, 2, seed=3, sizes=SIZES)
    caps, negs = O.own_format_captions(config, scenes)
    assert all(len(c.extras) == len(c.mentions) and all(len(e) == 2 for e in c.extras) for c in caps)
    for cap, neg in zip(caps, negs):
        if neg is not None:
            assert neg.extras == cap.extras and sorted(neg.mentions) != sorted(cap.mentions)
            assert sorted(c for c, _ in neg.mentions) == sorted(c for c, _ in cap.mentions)
    colour_only = replace(config, captions=((1.0, CaptionSpec()),))
    own, own_negs = O.own_format_captions(colour_only, scenes)
    ref, ref_negs = O.evaluation_captions(colour_only, scenes, cache=False)
    assert [c.text for c in own] == [c.text for c in ref]  # a colour-only diet: the evaluation captions
    assert [n and n.text for n in own_negs] == [n and n.text for n in ref_negs]
    with pytest.raises(ValueError, match="no colours"):
        O.own_format_captions(replace(config, captions=((1.0, CaptionSpec(attributes=0)),)), scenes)
    with pytest.raises(ValueError, match="mixes caption formats"):
        O.own_format_captions(replace(config, captions=((0.5, CaptionSpec()), (0.5, CaptionSpec(attributes=2)))),
                              scenes)


def test_own_format_binding_of_a_colour_only_organism_is_its_binding():
    config = replace(TINY, seed=5)
    row = X.measure_organism(config, map_settings=FAST_MAP)
    own = X.measure_own_format(config)
    assert own["own-format binding"] == pytest.approx(row["binding"])
    assert own["hits"] == X.measure_items(config)["hits"]


def test_the_more_seeds_rule_runs_only_the_flagged_claims_verdict_points():
    import pandas as pd

    quick = {"n_scenes": 300, "epochs": 1, "embed_dim": 16, "image_width": 8, "text_hidden": 16}
    values = {"attribute density": {"attribute_density": [0.0, 0.25, 1.0]}}
    table = X.run_grids(["attribute density"], seeds=[0], verdict_seeds=[0], changes=quick, values=values,
                        map_settings=FAST_MAP, jobs=1)
    flagged = pd.DataFrame({"more seeds by the rule": [True]}, index=pd.Index(["1a"], name="claim number"))
    more = X.with_more_seeds(table, flagged, [0, 1], values=values, changes=quick, map_settings=FAST_MAP, jobs=1)
    seeds = sorted((r.attribute_density, r.seed) for r in more.itertuples())
    assert seeds == [(0.0, 0), (0.25, 0), (0.25, 1), (1.0, 0), (1.0, 1)]  # the context point keeps one seed
    assert more.iloc[: len(table)].equals(table)  # the first run's rows unchanged
    added = more.iloc[len(table):]  # measured on what the verdict reads: binding alone
    assert added["binding"].notna().all() and added["map binding"].isna().all()
    assert (added["epochs"] == 1).all()
    settled = pd.DataFrame({"more seeds by the rule": [False]}, index=pd.Index(["1a"], name="claim number"))
    assert X.with_more_seeds(table, settled, [0, 1], values=values, changes=quick).equals(table)
    with pytest.raises(ValueError, match="no seeds"):
        X.with_more_seeds(table, flagged, [])


def test_recipe_name_describes_a_custom_config():
    assert O.recipe_name(O.organism_config("complete", 0, "converged")) == "converged"
    custom = O.organism_config("complete", 0, resolution=64, stem_stride=2, sizes=("small", "large"))
    assert O.recipe_name(custom) == "custom"
    assert O.recipe_name(custom, describe=True) == "second with sizes small+large, resolution 64, stem_stride 2"


def test_the_rule_adds_seeds_only_to_level_settings_whose_interval_holds_the_threshold():
    import pandas as pd

    from labclip_lib.experiments.grids import _arm_needs_seeds

    rng = np.random.default_rng(1)
    grid = X.GRIDS["hard negatives: density 0.5"]
    rows = pd.DataFrame([{"grid": "hard negatives: density 0.5", "hard_negatives": True, "seed": s,
                          "organism": f"k{s}"} for s in range(3)])
    near = {f"k{s}": _items(rng, X.RULE.reliable, s) for s in range(3)}  # at the threshold
    far = {f"k{s}": _items(rng, 0.6, s) for s in range(3)}  # far below it
    assert _arm_needs_seeds(grid, rows, near, X.RULE)
    assert not _arm_needs_seeds(grid, rows, far, X.RULE)
    five = pd.DataFrame([{"grid": "hard negatives: density 0.5", "hard_negatives": True, "seed": s,
                          "organism": f"k{s}"} for s in range(5)])
    at_five = {f"k{s}": _items(rng, X.RULE.reliable, s) for s in range(5)}
    assert not _arm_needs_seeds(grid, five, at_five, X.RULE)  # five seeds already: the rule is met


def test_single_object_pairs_differ_only_in_the_colour_and_the_negative_is_false_of_the_scene():
    from labclip_lib.world.captions import single_object_pairs

    scenes = sample_scenes(300, 3, seed=4)
    present = single_object_pairs(scenes, "present", seed=1)
    absent = single_object_pairs(scenes, "absent", style="natural", seed=1)
    assert present and absent and present == single_object_pairs(scenes, "present", seed=1)  # seeded
    for pairs, inside in ((present, True), (absent, False)):
        for i, pos, neg in pairs:
            ((c, s),), ((c2, s2),) = pos.mentions, neg.mentions
            colours = {o.color for o in scenes[i].objects}
            assert s == s2 and c != c2 and (c, s) in scenes[i].combination
            assert (c2 in colours) == inside and (c2, s) not in scenes[i].combination
    assert present[0][1].text.count(" ") == 1 and absent[0][1].text.startswith(("a ", "an "))
    # one object per pair: a scene whose objects all share a colour has no "present" pair
    same = [i for i, sc in enumerate(scenes) if len({o.color for o in sc.objects}) == 1]
    assert not {i for i, _, _ in present} & set(same)
    with pytest.raises(ValueError, match="unknown negative"):
        single_object_pairs(scenes, "other")
    with pytest.raises(ValueError, match="empty"):
        single_object_pairs([], "present")


def test_single_object_measure_fills_its_columns_and_items(monkeypatch):
    import pandas as pd

    from labclip_lib.experiments import grids as G

    calls = []

    def fake(config, part):
        calls.append((config.key, part))
        return {"single-object binding": 0.7, "colour recognition": 0.9, "hits": [1.0, 0.0, 1.0],
                "clusters": ["a", "a", "b"]}

    monkeypatch.setitem(G.MEASURES, "single-object binding", fake)
    grid = X.GRIDS["batch size: natural"]
    assert grid.measure == "single-object binding" and grid.claim is None  # context for claim 4, not evidence
    quick = {"n_scenes": 300, "epochs": 1, "embed_dim": 16, "image_width": 8, "text_hidden": 16}
    table = X.run_grids(["batch size: natural"], values={"batch size: natural": {"batch_size": [64]}},
                        changes=quick, map_settings=FAST_MAP, jobs=1)
    assert table["single-object binding"].tolist() == [0.7] and table["colour recognition"].tolist() == [0.9]
    assert calls == [(table["organism"].iloc[0], "test")]
    # a verdict grid on that measure reads its items
    monkeypatch.setitem(G.GRIDS, "one object", X.Grid("natural", (("batch_size", (64,)),), claim="4",
                                                       verdict="below", measure="single-object binding"))
    rows = pd.DataFrame([{"grid": "one object", "batch_size": 64, "seed": 0, "organism": k, "binding": 0.5}
                         for k in table["organism"]])
    items = X.grid_items(rows, ["4"], jobs=1)
    (scores,) = items.values()
    assert list(items) == [f"single-object binding: {table['organism'].iloc[0]}"]
    assert scores.hits.tolist() == [1.0, 0.0, 1.0]


def test_claim_four_is_judged_at_convergence_with_the_two_epoch_budget_as_context():
    judged = [n for n, g in X.GRIDS.items() if g.claim == "4" and g.verdict]
    assert judged == ["batch size (converged)"]
    context = ["batch size (2 epochs)", "batch size (equal steps)"]
    assert all(X.GRIDS[n].claim == "4" and X.GRIDS[n].verdict is None for n in context)
    configs = {n: [c for _, c in X.grid_points(n)] for n in judged + context}
    assert all(c.seed == 0 for n in context for c in configs[n])  # context: one seed per point
    for n in judged + context:  # four objects, the two most salient mentioned: the diet of chapter 8's salient arm
        assert all(c.n_objects == (4,) and c.captions[0][1].completeness == 0.5
                   and c.captions[0][1].saliency_bias == 1.0 for c in configs[n])
    assert {c.stopping for c in configs["batch size (converged)"]} == {"val-loss"}
    assert sorted((c.batch_size, c.seed) for c in configs["batch size (converged)"]) == [
        (128, 0), (512, 0), (512, 1), (512, 2)]  # the largest batch with the verdict seeds
    steps = {c.batch_size: c.epochs for c in configs["batch size (equal steps)"]}
    assert steps == {128: 2, 512: 8}
    # the two fixed-budget grids share their batch-128 organism; the converged grid shares its
    # with the hard-negative arm (trained to convergence too)
    for names in (("batch size (2 epochs)", "batch size (equal steps)"),
                  ("batch size (converged)", "hard negatives: salient")):
        keys = {c.key for n in names for _, c in X.grid_points(n, verdict_seeds=())
                if c.batch_size == 128 and not c.hard_negatives}
        assert len(keys) == 1, names


def test_single_object_binding_scores_every_pair_of_the_test_split():
    from labclip_lib.world.captions import single_object_pairs

    config = replace(TINY, seed=6)
    out = X.measure_single_object(config)
    data = O.build_data(config)
    test = [data.scenes[i] for i in data.split.test]
    assert len(out["hits"]) == len(single_object_pairs(test, "present")) == len(out["clusters"])
    assert out["single-object binding"] == pytest.approx(np.mean(out["hits"]))
    assert 0.0 <= out["colour recognition"] <= 1.0 and set(out["hits"]) <= {0.0, 0.5, 1.0}
    assert X.measure_single_object(config) == out  # cached
    mixed = replace(config, captions=((0.5, CaptionSpec()), (0.5, CaptionSpec(style="natural"))))
    with pytest.raises(ValueError, match="mixes caption styles"):
        X.measure_single_object(mixed)


def test_the_rule_adds_seeds_to_every_level_setting_whose_interval_holds_the_threshold():
    import pandas as pd

    quick = {"n_scenes": 300, "epochs": 1, "embed_dim": 16, "image_width": 8, "text_hidden": 16}
    values = {"batch size (converged)": {"batch_size": [32, 64]}}  # no verdict point among them: one seed each
    table = X.run_grids(["batch size (converged)"], seeds=[0], verdict_seeds=[0, 1], changes=quick, values=values,
                        map_settings=FAST_MAP, jobs=1)
    assert sorted(table["batch_size"]) == [32, 64]
    rng = np.random.default_rng(2)
    key = dict(zip(table["batch_size"], table["organism"]))
    items = {key[32]: _items(rng, X.RULE.reliable, 0), key[64]: _items(rng, 0.6, 0)}  # 32 near, 64 far below
    flagged = pd.DataFrame({"more seeds by the rule": [True]}, index=pd.Index(["4"], name="claim number"))
    more = X.with_more_seeds(table, flagged, [0, 1], values=values, items=items, changes=quick,
                             map_settings=FAST_MAP, jobs=1)
    assert sorted(zip(more["batch_size"], more["seed"])) == [(32, 0), (32, 1), (64, 0)]
    assert more.iloc[: len(table)].equals(table)

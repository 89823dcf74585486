"""Linear probes: single- and set-valued protocols, the bag-of-words ceilings, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labclip_lib.analysis import (
    LinearProbe,
    bag_of_words_ceiling,
    object_color_sets,
    probe_object_colors,
    set_bag_of_words_ceiling,
)
from labclip_lib.world import COLORS, SHAPES, sample_scenes, split_by_combination


def bound_embedding(scenes, noise=0.05, seed=0):
    """One-hot of every (shape, colour) pair present: binding is linearly readable."""
    x = torch.zeros(len(scenes), len(SHAPES) * len(COLORS))
    for i, s in enumerate(scenes):
        for o in s.objects:
            x[i, SHAPES.index(o.shape) * len(COLORS) + COLORS.index(o.color)] = 1
    return x + noise * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))


def bag_embedding(scenes, noise=0.05, seed=0):
    """Counts of colours and of shapes, no pairing: a bag of words."""
    x = torch.zeros(len(scenes), len(SHAPES) + len(COLORS))
    for i, s in enumerate(scenes):
        for o in s.objects:
            x[i, SHAPES.index(o.shape)] += 1
            x[i, len(SHAPES) + COLORS.index(o.color)] += 1
    return x + noise * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def two():
    scenes = sample_scenes(6000, 2, seed=0, salience=False)
    return scenes, split_by_combination(scenes, seed=0)


@pytest.fixture(scope="module")
def four():
    scenes = sample_scenes(2400, 4, seed=1, salience=False)
    return scenes, split_by_combination(scenes, seed=1)


def test_bound_embeddings_are_read_and_bags_stay_at_the_ceiling(two):
    scenes, split = two
    bound = probe_object_colors(bound_embedding(scenes), scenes, split)
    bag = probe_object_colors(bag_embedding(scenes), scenes, split)
    for b, g in zip(bound, bag):
        assert b.test > 0.95
        assert g.test < g.ceiling + 0.08  # a bag of words cannot beat its ceiling (up to ~3 std of sampling)
        assert 0.5 <= g.ceiling < 0.7 and g.ceiling == b.ceiling  # 0.5625 in expectation
        assert len(b.test_pred) == len(b.test_true) == b.n_test == len(b.test_index)


def test_set_protocol_with_repeated_shapes(four):
    scenes, split = four
    idx, sets = object_color_sets(scenes, "cube")
    assert all(len(t) >= 1 and list(t) == sorted(set(t)) for t in sets)
    assert any(len(t) > 1 for t in sets)  # some scenes have two differently coloured cubes
    bound = probe_object_colors(bound_embedding(scenes), scenes, split, multi=True)
    bag = probe_object_colors(bag_embedding(scenes), scenes, split, multi=True)
    for b, g in zip(bound, bag):
        assert b.test > 0.9
        assert g.test < g.ceiling + 0.08
        assert b.test > g.ceiling + 0.2


def test_set_ceiling_matches_the_exact_formula_when_the_shape_occurs_once(two):
    scenes, _ = two
    once = [s for s in scenes if sum(o.shape == "sphere" for o in s.objects) == 1]
    assert set_bag_of_words_ceiling(once, "sphere") == pytest.approx(bag_of_words_ceiling(once, "sphere"))


def test_probe_save_load_round_trip(tmp_path, two):
    scenes, split = two
    res = probe_object_colors(bound_embedding(scenes), scenes, split, shapes=["cube"])[0]
    res.probe.save(tmp_path / "probe.safetensors")
    back = LinearProbe.load(tmp_path / "probe.safetensors")
    x = bound_embedding(scenes[:50], seed=3)
    np.testing.assert_allclose(back.predict_proba(x), res.probe.predict_proba(x), atol=1e-10)
    assert back.C_ == res.probe.C_
    with pytest.raises(ValueError, match="fit the probe"):
        LinearProbe().save(tmp_path / "x.safetensors")


def test_probe_bad_inputs():
    with pytest.raises(ValueError, match="single class"):
        LinearProbe().fit(np.random.rand(10, 4), np.zeros(10, int))
    with pytest.raises(ValueError, match="NaN"):
        LinearProbe().fit(np.full((10, 4), np.nan), np.arange(10) % 2)
    with pytest.raises(ValueError, match="labels"):
        LinearProbe().fit(np.random.rand(10, 4), np.arange(9) % 2)
    with pytest.raises(ValueError, match="unknown shape"):
        object_color_sets([], "pyramid")


def test_modality_probes_and_object_counts_on_an_untrained_organism():
    from labclip_lib.analysis import (
        modality_probes,
        probe_data,
        probe_rows,
        probes_by_object_count,
    )
    from labclip_lib.organisms import OrganismModel, organism_config

    model = OrganismModel.untrained(organism_config("complete", 0))
    data = probe_data(2, 600, model.image_size, seed=0)
    assert data.images.shape == (600, 32, 32, 3) and len(data.captions) == 600
    res = modality_probes(model, data)
    assert set(res) == {"image", "text"} and [r.shape for r in res["image"]] == list(SHAPES)
    rows = probe_rows(res, organism="untrained")
    assert len(rows) == 6 and all(0 <= r["test"] <= 1 and r["organism"] == "untrained" for r in rows)
    assert probe_rows(modality_probes(model, data)) == probe_rows(res)  # deterministic
    counts = probes_by_object_count(model, counts=(2, 4), n_scenes=400)
    assert [(r["objects"], r["modality"]) for r in counts] == [(2, "image"), (2, "text"), (4, "image"), (4, "text")]
    assert counts[2]["ceiling"] < counts[0]["ceiling"]  # more objects: a lower bag-of-words ceiling
    with pytest.raises(ValueError, match="empty"):
        probes_by_object_count(model, counts=())


def test_other_object_error_share():
    from labclip_lib.analysis import ProbeResult, other_object_error_share
    from labclip_lib.world import make_scene

    scenes = [make_scene([("red", "cube"), ("blue", "sphere")], seed=0)] * 3
    red, blue, green = (COLORS.index(c) for c in ("red", "blue", "green"))
    res = ProbeResult("cube", 1, 1, 0, 0.5, 3, None, np.arange(3), [red, red, red], [red, blue, green])
    assert other_object_error_share(res, scenes) == 0.5  # of two errors, one names the sphere's colour
    res.test_pred = [red, red, red]
    assert np.isnan(other_object_error_share(res, scenes))


def test_conjunctive_search_data_and_a_bag_of_words_at_chance():
    from labclip_lib.analysis import conjunctive_data, conjunctive_search

    d = conjunctive_data(5, 60, resolution=32, seed=0)
    for scene, odd, other in zip(d.scenes, d.odd, d.other):
        pairs = [(o.color, o.shape) for o in scene.objects]
        assert pairs.count(odd) == 1 and other not in pairs and len(pairs) == 5
        # both candidates use only colours and shapes present in the scene
        assert {odd[0], other[0]} <= {c for c, _ in pairs} and {odd[1], other[1]} <= {s for _, s in pairs}
    assert d.images.shape == (60, 32, 32, 3) and conjunctive_data(5, 60, 32, seed=0).odd == d.odd

    class WordSet:  # knows which words occur, not their counts or pairing
        image_size = 32

        def encode_images(self, images):
            return torch.ones(len(images), 11)

        def encode_texts(self, captions):
            out = torch.zeros(len(captions), 11)
            for i, c in enumerate(captions):
                for w in c.split():
                    out[i, (list(COLORS) + list(SHAPES)).index(w)] = 1
            return out

    rows = conjunctive_search(WordSet(), counts=(3,), n_scenes=300)
    assert rows[0]["zero-shot"] == 0.5  # the two candidates are equally far from a constant image
    assert rows[0]["probe"] < 0.3  # constant images: nothing to find (24 classes)
    with pytest.raises(ValueError, match="at least 3 objects"):
        conjunctive_data(2, 60, 32)


@pytest.mark.parametrize("multi", [False, True])
def test_parallel_probes_equal_serial_ones(four, multi):
    from labclip_lib.analysis import probe_object_colors_many

    scenes, split = four
    embs = [bound_embedding(scenes), bag_embedding(scenes)]
    serial = probe_object_colors_many(embs, scenes, split, multi=multi, n_jobs=1)
    parallel = probe_object_colors_many(embs, scenes, split, multi=multi, n_jobs=2)
    assert [len(r) for r in parallel] == [len(SHAPES), len(SHAPES)]
    for s_list, p_list in zip(serial, parallel):
        for s, p in zip(s_list, p_list):
            assert (s.shape, s.train, s.val, s.test, s.ceiling, s.test_pred) == (p.shape, p.train, p.val, p.test,
                                                                                  p.ceiling, p.test_pred)
            assert np.array_equal(s.probe.coef_, p.probe.coef_)
    # the order of the results follows the embeddings: the bound one is read, the bag is not
    assert np.mean([r.test for r in parallel[0]]) > np.mean([r.test for r in parallel[1]]) + 0.2


def test_parallel_map_order_and_bad_jobs(monkeypatch):
    from labclip_lib.runtime import parallel_map

    assert parallel_map(divmod, [(7, 2), (9, 4), (1, 1)], n_jobs=2) == [(3, 1), (2, 1), (1, 0)]
    monkeypatch.setenv("LABCLIP_JOBS", "1")
    assert parallel_map(pow, [(2, 3)]) == [8]
    with pytest.raises(ValueError, match="n_jobs"):
        parallel_map(pow, [(2, 3)], n_jobs=0)
    monkeypatch.setenv("LABCLIP_JOBS", "two")
    with pytest.raises(ValueError, match="LABCLIP_JOBS"):
        parallel_map(pow, [(2, 3)])


def test_one_core_restores_threads_and_jobs(monkeypatch):
    import os

    from labclip_lib.runtime import one_core

    monkeypatch.setenv("LABCLIP_JOBS", "2")
    threads = torch.get_num_threads()
    with one_core():
        assert os.environ["LABCLIP_JOBS"] == "1" and torch.get_num_threads() == 1
    assert os.environ["LABCLIP_JOBS"] == "2" and torch.get_num_threads() == threads
    monkeypatch.delenv("LABCLIP_JOBS")
    with pytest.raises(KeyError):
        with one_core():
            raise KeyError("inside")
    assert "LABCLIP_JOBS" not in os.environ


def _cache_of_worker() -> str:
    from labclip_lib.runtime import cache_dir

    return str(cache_dir(create=False))


def test_reused_workers_see_the_callers_current_cache(tmp_path, monkeypatch):
    """loky keeps its worker processes between calls: a cache directory set after they started
    must still reach them (else they would train into another cache)."""
    from labclip_lib.runtime import parallel_map

    monkeypatch.setenv("LABCLIP_CACHE", str(tmp_path / "first"))
    assert parallel_map(_cache_of_worker, [(), ()], n_jobs=2) == [str(tmp_path / "first")] * 2
    monkeypatch.setenv("LABCLIP_CACHE", str(tmp_path / "second"))
    assert parallel_map(_cache_of_worker, [(), ()], n_jobs=2) == [str(tmp_path / "second")] * 2

"""Chapter 3's cross-modal metrics: the caption set, retrieval, binding by object count."""

from __future__ import annotations

import pytest
import torch

from labclip_lib.analysis import (
    binding_by_object_count,
    object_count_data,
    pair_caption_set,
    retrieval_metrics,
)
from labclip_lib.world import COLORS, SHAPES, make_scene, sample_scenes

WORDS = sorted(set(COLORS) | set(SHAPES) | {"and", "a", "an"})


class BagOfWords:
    """A model that reads captions as bags of words; images embed their objects' words (an oracle
    for the bag, blind to the pairing)."""

    image_size = 32
    dim = len(WORDS)

    def encode_texts(self, captions):
        out = torch.zeros(len(captions), self.dim)
        for i, c in enumerate(captions):
            for w in c.replace(",", " ").split():
                out[i, WORDS.index(w)] += 1
        return out

    def encode_images(self, images):
        return torch.randn(len(images), self.dim, generator=torch.Generator().manual_seed(len(images))).abs()


def test_pair_caption_set_is_the_authors_192_and_maps_scenes_both_ways():
    cs = pair_caption_set()
    assert len(cs) == 3 * 8 * 8 == 192 and len(set(cs.texts)) == 192
    scene = make_scene([("red", "sphere"), ("blue", "cube")], seed=0)
    assert cs.texts[cs.caption_of(scene)] == "blue cube and red sphere"
    assert cs.texts[cs.swap_of(scene)] == "red cube and blue sphere"
    assert cs.swap_of(make_scene([("red", "sphere"), ("red", "cube")], seed=0)) is None
    with pytest.raises(ValueError, match="different shapes"):
        cs.caption_of(make_scene([("red", "cube"), ("blue", "cube")], seed=0))
    assert pair_caption_set() == cs  # fixed order, no set-iteration dependence


def test_retrieval_metrics_on_known_geometry():
    cs = pair_caption_set()
    scenes = [s for s in sample_scenes(80, 2, seed=1, salience=False) if cs.covers(s)]
    true = [cs.caption_of(s) for s in scenes]
    swap = [cs.swap_of(s) for s in scenes]
    captions = torch.randn(len(cs), 32, generator=torch.Generator().manual_seed(0))
    exact = retrieval_metrics(captions[true], captions, true, swap)
    assert exact["image->text R@1"] == 1.0 and exact["reverse R@1"] == 0.0
    assert exact["text->image R@1"] == 1.0
    swapped_imgs = torch.stack([captions[s] if s is not None else captions[t] for t, s in zip(true, swap)])
    rev = retrieval_metrics(swapped_imgs, captions, true, swap)
    assert rev["reverse R@1"] == 1.0
    n_swap = sum(s is not None for s in swap)
    assert rev["image->text R@1"] == pytest.approx(1 - n_swap / len(scenes))
    assert rev["image->text R@10"] >= rev["image->text R@5"] >= rev["image->text R@1"]
    with pytest.raises(ValueError, match="true indices"):
        retrieval_metrics(captions[true], captions, true[:-1], swap)
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(torch.full((len(true), 32), float("nan")), captions, true, swap)


def test_bag_of_words_model_is_exactly_at_chance_for_every_object_count():
    rows = binding_by_object_count(BagOfWords(), counts=(2, 3, 4), n_scenes=60, seed=0)
    assert [r["objects"] for r in rows] == [2, 3, 4]
    assert all(r["binding"] == 0.5 and r["scenes"] > 0 for r in rows)


def test_object_count_data_negatives_are_derangements_of_the_same_bag():
    d = object_count_data(4, 30, resolution=32, seed=3)
    assert d.images.shape == (len(d.scenes), 32, 32, 3) and d.images.dtype == torch.uint8
    for cap, neg in zip(d.captions, d.negatives):
        assert cap != neg and sorted(cap.split()) == sorted(neg.split())
    again = object_count_data(4, 30, resolution=32, seed=3)
    assert again.captions == d.captions and torch.equal(again.images, d.images)


def test_single_object_report_invariants():
    from labclip_lib.analysis import single_object_report
    from labclip_lib.organisms import OrganismModel, organism_config

    model = OrganismModel.untrained(organism_config("complete", 0))
    r = single_object_report(model, n_scenes=120, seed=0)
    assert r["scenes"] == 120
    # the exact caption right implies colour and shape right
    assert r["colour accuracy"] >= r["single-object accuracy"] and r["shape accuracy"] >= r["single-object accuracy"]
    assert all(0 <= r[k] <= 1 for k in r if k != "scenes")
    assert single_object_report(model, n_scenes=120, seed=0) == r  # seeded


def test_fresh_scene_sets_draw_the_sizes_asked_for():
    from labclip_lib.analysis.conjunctive import conjunctive_data
    from labclip_lib.analysis.crossmodal import object_count_data
    from labclip_lib.analysis.unimodal import probe_data

    large = object_count_data(3, 40, 32, seed=1, sizes=("large",))
    assert {o.size for s in large.scenes for o in s.objects} == {"large"}
    assert {o.size for s in probe_data(2, 40, 32, seed=1, sizes=("large",)).scenes for o in s.objects} == {"large"}
    assert {o.size for s in conjunctive_data(4, 40, 32, seed=1, sizes=("large",)).scenes for o in s.objects} == {"large"}
    # above six objects, small ones only (ten large objects do not fit)
    assert {o.size for s in conjunctive_data(8, 20, 32, seed=1, sizes=("large",)).scenes for o in s.objects} == {"small"}
    mixed = object_count_data(3, 40, 32, seed=1)
    assert {o.size for s in mixed.scenes for o in s.objects} == {"small", "large"}

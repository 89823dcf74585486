"""Benchmarks, part 2: every evaluate function end to end on a tiny random CLIP (saved and loaded
like a hub model) with fixture data in the real formats, checked against the same numbers
computed by hand from the model's embeddings; the cache; maps; the scene-world versions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from labclip_lib.alignment.aligned import AlignedModel
from labclip_lib.alignment.estimator import LinearAlignment
from labclip_lib.benchmarks import (
    LexiconTagger,
    coco_triplets,
    evaluate_choice,
    evaluate_retrieval,
    evaluate_sugarcrepe,
    evaluate_zeroshot,
    fit_coco_map,
    load_coco_karpathy,
    load_coco_order,
    load_image_folder,
    load_released_map,
    load_sugarcrepe,
    load_vg_attribution,
    load_vg_relation,
    option_hits,
    records_frame,
    retrieval_recall,
    with_and_without_map,
)
from labclip_lib.benchmarks.embedding import load_pixels
from labclip_lib.benchmarks.evaluate import choice_records, choice_scores, embed_images
from labclip_lib.benchmarks.sceneworld import (
    SCENE_NEGATIVES,
    evaluate_scene_benchmarks,
    scene_benchmarks,
    single_object_classes,
    sugarcrepe_style,
)
from labclip_lib.models import load_model
from labclip_lib.testing import BENCHMARK_CAPTIONS, make_tiny_clip, write_benchmark_fixtures
from labclip_lib.world.captions import CaptionSpec, describe_all
from labclip_lib.world.sampling import sample_scenes
from labclip_lib.world.scenes import COLORS, SHAPES

TAGGER = LexiconTagger(SHAPES, COLORS)
CAPS = list(BENCHMARK_CAPTIONS)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model(make_tiny_clip(tmp_path_factory.mktemp("tiny-clip")))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """The fixtures of :func:`labclip_lib.testing.write_benchmark_fixtures` (coco, aro, sugar, folder, ...)."""
    root = tmp_path_factory.mktemp("bench-data")
    write_benchmark_fixtures(root)
    return root


def _manual_image_embeddings(model, refs):
    return model.encode_images(np.stack([load_pixels(r, 32, (32, 32)) for r in refs]))


def test_retrieval_end_to_end_matches_hand_computation(model, data_root):
    ds = load_coco_karpathy(data_root / "coco", "test")
    out = evaluate_retrieval(model, ds, ks=(1, 2, 5))
    img = _manual_image_embeddings(model, ds.images)
    txt = model.encode_texts(ds.captions)
    expect = retrieval_recall(img @ txt.T, ds.image_of_caption, (1, 2, 5))
    assert out["images"] == 3 and out["captions"] == 15
    for k, v in expect.items():
        assert out[k] == pytest.approx(v, abs=1e-6), k
    assert out["text->image R@5"] == 1.0  # only 3 images: every caption's image is in the top 5


def test_image_cache_serves_the_second_call(model, data_root, monkeypatch):
    ds = load_coco_karpathy(data_root / "coco", "test")
    first = embed_images(model, ds.images)
    calls = []
    monkeypatch.setattr(model, "encode_images", lambda *a, **k: calls.append(1) or torch.zeros(1))
    again = embed_images(model, ds.images)
    assert not calls and torch.equal(first, again)
    assert torch.allclose(first.norm(dim=1), torch.ones(3), atol=1e-5)


def test_aro_end_to_end(model, data_root):
    vgr = load_vg_relation(data_root / "aro")
    out = evaluate_choice(model, vgr)
    s = choice_scores(model, vgr)
    hits = option_hits(s, 1).tolist()
    # by hand: relations on (items 0, 1), in (2), next to (3, symmetric: excluded officially)
    assert out["macro accuracy"] == pytest.approx((np.mean(hits[:2]) + hits[2]) / 2)
    assert out["macro accuracy (all groups)"] == pytest.approx((np.mean(hits[:2]) + hits[2] + hits[3]) / 3)
    assert out["accuracy"] == pytest.approx(np.mean(hits)) and out["groups"] == 2
    # the image is cropped to its box before embedding
    crop = _manual_image_embeddings(model, vgr.images[:1])
    cap = model.encode_texts(vgr.options[0])
    assert torch.allclose(s[0], (crop @ cap.T)[0], atol=1e-5)
    vga = evaluate_choice(model, load_vg_attribution(data_root / "aro"))
    assert vga["groups"] == 1 and vga["items in groups"] == 25  # green_gray has 5 < 25 items
    rows = choice_records(model, vgr)
    assert len(rows) == 4 and [r["hit"] for r in rows] == pytest.approx(hits)


def test_coco_order_end_to_end(model, data_root):
    ds = load_coco_order(data_root / "coco", TAGGER, seed=0)
    out = evaluate_choice(model, ds)
    assert out["options"] == 5 and out["items"] == 15 and 0.0 <= out["accuracy"] <= 1.0
    assert out["accuracy"] == pytest.approx(float(option_hits(choice_scores(model, ds), 0).mean()))


def test_sugarcrepe_end_to_end(model, data_root):
    subsets = load_sugarcrepe(data_root / "sugar")
    out = evaluate_sugarcrepe(model, subsets)
    assert out["items"] == 3 * 3 + 2 * 4
    for name, ds in subsets.items():
        img = _manual_image_embeddings(model, ds.images)
        txt = model.encode_texts([o for opts in ds.options for o in opts]).view(len(ds), 2, -1)
        assert out[name] == pytest.approx(float(option_hits(torch.einsum("nd,nkd->nk", img, txt), 0).mean()))
    rep = [out[k] for k in ("replace_obj", "replace_att", "replace_rel")]
    assert out["REPLACE (unweighted)"] == pytest.approx(np.mean(rep))
    assert out["REPLACE (weighted)"] == pytest.approx(np.mean(rep))  # equal sizes: both agree
    assert out["SWAP (weighted)"] == pytest.approx((out["swap_obj"] * 2 + out["swap_att"] * 2) / 4)


def test_zeroshot_before_and_after_a_map(model, data_root):
    ds = load_image_folder(data_root / "folder", templates=("{} cube", "a {} sphere"))
    assert ds.classnames == ["blue", "red"]
    ident = LinearAlignment.identity(model.dim)
    out = evaluate_zeroshot(model, ds, alignment=ident, ks=(1,))
    assert out["top-1"] == out["top-1 (after map)"]  # the identity map changes nothing
    img = _manual_image_embeddings(model, ds.images)
    w = torch.nn.functional.normalize(
        model.encode_texts(["blue cube", "a blue sphere", "red cube", "a red sphere"]).view(2, 2, -1).mean(1), dim=1
    )
    assert out["top-1"] == pytest.approx(float(((img @ w.T).argmax(1) == torch.tensor(ds.labels)).float().mean()))
    # a random rotation: the after-map numbers are those of the rotated prompt embeddings
    rot = LinearAlignment.identity(model.dim)
    q, _ = torch.linalg.qr(torch.randn(model.dim, model.dim, generator=torch.Generator().manual_seed(0)))
    rot._set(q, 0.0)
    after = evaluate_zeroshot(model, ds, alignment=rot, ks=(1,))
    aligned_w = torch.nn.functional.normalize(
        rot.transform(model.encode_texts(["blue cube", "a blue sphere", "red cube", "a red sphere"]))
        .view(2, 2, -1)
        .mean(1),
        dim=1,
    )
    expect = float(((img @ aligned_w.T).argmax(1) == torch.tensor(ds.labels)).float().mean())
    assert after["top-1 (after map)"] == pytest.approx(expect)


def test_with_and_without_map_and_frame(model, data_root, tmp_path):
    ds = load_coco_karpathy(data_root / "coco", "test")
    rows = with_and_without_map(evaluate_retrieval, model, LinearAlignment.identity(model.dim), ds)
    frame = records_frame(rows)
    assert list(frame["map"]) == ["before", "after"] and frame.shape[0] == 2
    assert frame.loc[0, "text->image R@1"] == pytest.approx(frame.loc[1, "text->image R@1"])


def test_coco_map_fit_and_released_map(model, data_root, tmp_path):
    train = load_coco_karpathy(data_root / "coco", "test")
    idx, pos, neg = coco_triplets(train, TAGGER, seed=0)
    assert len(idx) == len(pos) == len(neg) > 0 and all(p != n for p, n in zip(pos, neg))
    assert all(sorted(p.split()) == sorted(n.split()) for p, n in zip(pos, neg))
    m = fit_coco_map(model, train, TAGGER, seed=0, epochs=2, batch_size=8)
    assert m.weight_.shape == (model.dim, model.dim) and m.metadata_["negatives"] == "noun/adjective shuffle"
    assert not torch.equal(m.weight_, torch.eye(model.dim))
    # the authors' format: a state dict with t and linear.weight
    torch.save({"t": torch.tensor(4.0), "linear.weight": m.weight_}, tmp_path / "labclip_coco_neg_B32.pt")
    loaded = load_released_map(tmp_path / "labclip_coco_neg_B32.pt", model)
    assert torch.equal(loaded.weight_, m.weight_) and loaded.log_scale_ == 4.0
    out = evaluate_retrieval(AlignedModel(model, loaded), train)
    assert 0.0 <= out["text->image R@1"] <= 1.0
    with pytest.raises(ValueError, match="embeddings have size"):
        load_released_map(tmp_path / "labclip_coco_neg_B32.pt", type("M", (), {"dim": model.dim + 1})())


# ---------------------------------------------------------------------------------------------- scene world
def _mentions(text):
    out = []
    for part in text.replace(" and ", ", ").split(", "):
        words = [w for w in part.split() if w not in ("a", "an")]
        out.append((words[0], words[1]) if len(words) == 2 else (None, words[0]))
    return out


def _false_of_scene(negative, scene, positive):
    """Read back from the text: the negative states a colour-shape pair (beyond the caption's) that
    the scene lacks, or more objects of a shape than the scene has."""
    have = Counter(scene.combination)
    pos = Counter(m for m in _mentions(positive) if m[0] is not None)
    new = Counter(m for m in _mentions(negative) if m[0] is not None) - pos
    shapes = Counter(s for _, s in _mentions(negative))
    return any(have[p] < k for p, k in new.items()) or any(
        sum(o.shape == s for o in scene.objects) < k for s, k in shapes.items()
    )


def test_scene_negatives_are_false_and_of_the_right_kind():
    scenes = sample_scenes(40, [2, 3], seed=3, salience=False)
    caps = describe_all(scenes, CaptionSpec(style="natural", attribute_density=0.7), seed=3)
    images = torch.zeros(40, 8, 8, 3, dtype=torch.uint8)
    sets = sugarcrepe_style(images, scenes, caps, seed=0)
    assert set(sets) == set(SCENE_NEGATIVES)
    for kind, ds in sets.items():
        for i, (pos, neg) in zip(ds.info["scenes"], ds.options):
            assert pos == caps[i].text and neg != pos
            pw, nw = pos.replace(",", " ").split(), neg.replace(",", " ").split()
            assert _false_of_scene(neg, scenes[i], pos), (kind, neg, scenes[i].combination)
            if kind == "swap_att":
                assert sorted(pw) == sorted(nw)
            elif kind in ("replace_att", "replace_obj"):
                assert len(pw) == len(nw) and sum(a != b for a, b in zip(pw, nw)) == 1
            else:
                assert len(nw) > len(pw)
    again = sugarcrepe_style(images, scenes, caps, seed=0)
    assert all(again[k].options == sets[k].options for k in sets)


class BagOfWords:
    """A perfect bag-of-words model: an image is the bag of its scene's colours and shapes, a
    caption the bag of its words (so it cannot bind colours to shapes)."""

    name, fingerprint, image_size, preprocess_config = "bag of words", "", 8, None
    words = list(COLORS) + list(SHAPES)
    dim = len(words)

    def __init__(self, scenes):
        self.scenes = scenes

    def encode_images(self, images, **kwargs):
        idx = torch.as_tensor(images)[:, 0, 0, 0].long()
        out = torch.zeros(len(idx), self.dim)
        for r, i in enumerate(idx.tolist()):
            for o in self.scenes[i].objects:
                out[r, self.words.index(o.color)] = 1
                out[r, self.words.index(o.shape)] = 1
        return torch.nn.functional.normalize(out, dim=1)

    def encode_texts(self, texts, **kwargs):
        out = torch.zeros(len(texts), self.dim)
        for r, t in enumerate(texts):
            for w in t.replace(",", " ").split():
                if w in self.words:
                    out[r, self.words.index(w)] = 1
        return torch.nn.functional.normalize(out, dim=1)


def test_scene_world_reproduces_sugarcrepes_pattern_for_a_bag_of_words_model():
    scenes = sample_scenes(60, 2, seed=4, salience=False)
    caps = describe_all(scenes, CaptionSpec(style="natural"), seed=4)
    images = torch.zeros(60, 8, 8, 3, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(60)  # the model reads its scene from this pixel
    sets = sugarcrepe_style(images, scenes, caps, seed=0, kinds=("replace_att", "swap_att"))
    out = evaluate_sugarcrepe(BagOfWords(scenes), sets, cache=False)
    assert out["swap_att"] == pytest.approx(0.5)  # the same words: every item a tie, half a hit
    assert out["replace_att"] > 0.9  # a colour the image lacks


def test_scene_benchmarks_end_to_end_on_the_tiny_clip(model):
    suite = scene_benchmarks(model.image_size, n_scenes=24, n_objects=2, seed=0, single_object_scenes=16)
    assert suite.order.options[0][0] == suite.retrieval.captions[0].replace(",", " ,")
    assert all(sorted(o.split()) == sorted(opts[0].split()) for opts in suite.order.options for o in opts)
    rows = evaluate_scene_benchmarks(model, suite)
    names = [r["benchmark"] for r in rows]
    assert names == [
        "scene SugarCrepe-style",
        "scene order",
        "scene retrieval",
        "scene colour",
        "scene shape",
        "scene colour-shape",
    ]
    assert all(0.0 <= v <= 1.0 for r in rows for k, v in r.items() if isinstance(v, float))
    assert rows[5]["classes"] == 24 and rows[3]["classes"] == 8 and rows[4]["classes"] == 3
    # the same metric code as the real benchmarks: the retrieval row equals retrieval_recall by hand
    img = model.encode_images(suite.retrieval.images)
    txt = model.encode_texts(suite.retrieval.captions)
    expect = retrieval_recall(img @ txt.T, suite.retrieval.image_of_caption)
    assert rows[2]["image->text R@1"] == pytest.approx(expect["image->text R@1"], abs=1e-6)


def test_single_object_classes_label_each_scene():
    scenes = sample_scenes(12, 1, seed=5, salience=False)
    images = torch.zeros(12, 4, 4, 3, dtype=torch.uint8)
    for kind, n in (("colour", 8), ("shape", 3), ("colour-shape", 24)):
        ds = single_object_classes(images, scenes, kind)
        assert len(ds.classnames) == n
        for sc, lab in zip(scenes, ds.labels):
            o = sc.objects[0]
            want = {"colour": o.color, "shape": o.shape, "colour-shape": f"{o.color} {o.shape}"}[kind]
            assert ds.classnames[lab] == want
    with pytest.raises(ValueError, match="exactly one object"):
        single_object_classes(images[:2], sample_scenes(2, 2, seed=0, salience=False))


def test_pug_pairs_end_to_end_on_the_test_part(model, data_root):
    from labclip_lib.benchmarks import leak_free_split, load_pug, pug_pairs

    recs = load_pug(data_root / "pug_spare", "spare")
    assert len(recs) == 18
    split = leak_free_split(recs, val=0.2, test=0.2, seed=1)
    test = pug_pairs(recs, split["test"], name="PUG:SPARE test")
    out = evaluate_choice(model, test)
    hits = option_hits(choice_scores(model, test), 0)
    assert out["items"] == len(split["test"]) and out["accuracy"] == pytest.approx(float(hits.mean()))
    assert all(o[0].split()[0] in ("red", "blue", "green", "gray") for o in test.options)
    assert out["groups"] >= 1  # grouped by world

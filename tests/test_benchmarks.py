"""Benchmarks, part 1: the metrics against hand-computed answers, the loaders on fixture files in the
real formats, and the errors for missing or malformed datasets (offline, no model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from labclip_lib.benchmarks import (
    ChoiceDataset,
    DatasetFormatError,
    DatasetNotFoundError,
    ImageRef,
    LexiconTagger,
    category_scores,
    leak_free_split,
    load_cifar,
    load_coco_karpathy,
    load_coco_order,
    load_image_folder,
    load_pug,
    load_sugarcrepe,
    load_vg_attribution,
    load_vg_relation,
    macro_accuracy,
    option_accuracy,
    option_hits,
    pre_caption,
    pug_pairs,
    retrieval_recall,
    shuffle_negatives,
)
from labclip_lib.benchmarks.embedding import load_pixels
from labclip_lib.benchmarks.sugarcrepe import SUGARCREPE_SIZES
from labclip_lib.benchmarks.text import order_options, shuffle_nouns_and_adjectives, tokenize
from labclip_lib.benchmarks.zeroshot_data import CIFAR10_CLASSES, CIFAR100_CLASSES
from labclip_lib.testing import write_cifar_binary, write_cifar_python, write_jpeg
from labclip_lib.world.scenes import COLORS, SHAPES

TAGGER = LexiconTagger(SHAPES, COLORS)


# ---------------------------------------------------------------------------------------------- metrics
def test_retrieval_recall_both_directions_by_hand():
    s = torch.tensor([[0.9, 0.1, 0.8, 0.2], [0.8, 0.3, 0.4, 0.7]])
    r = retrieval_recall(s, [0, 0, 1, 1], ks=(1, 2))
    # text->image: caption 0 -> image 0 (0.9 > 0.8) hit; 1 -> 0.1 < 0.3 miss; 2 -> 0.4 < 0.8 miss; 3 -> hit
    assert r["text->image R@1"] == pytest.approx(0.5)
    assert r["text->image R@2"] == pytest.approx(1.0)
    # image->text: image 0's best own caption 0.9 beats every other caption; image 1's best own (0.7)
    # is beaten by caption 0 (0.8)
    assert r["image->text R@1"] == pytest.approx(0.5)
    assert r["image->text R@2"] == pytest.approx(1.0)


def test_retrieval_ties_count_against_the_query():
    r = retrieval_recall(torch.ones(2, 4), [0, 0, 1, 1], ks=(1, 2, 3))
    assert r["text->image R@1"] == 0.0 and r["text->image R@2"] == 1.0
    assert r["image->text R@1"] == 0.0 and r["image->text R@2"] == 0.0 and r["image->text R@3"] == 1.0


def test_retrieval_recall_rejects_bad_input():
    with pytest.raises(ValueError, match="no caption"):
        retrieval_recall(torch.rand(3, 2), [0, 1])
    with pytest.raises(ValueError, match="entries"):
        retrieval_recall(torch.rand(2, 2), [0, 1, 1])
    with pytest.raises(ValueError, match="NaN"):
        retrieval_recall(torch.tensor([[float("nan"), 1.0]]), [0, 0])


def test_option_hits_ties_count_one_over_tied():
    s = torch.tensor([[0.9, 0.1, 0.2], [0.5, 0.5, 0.1], [0.4, 0.4, 0.4], [0.1, 0.9, 0.2]])
    assert torch.allclose(option_hits(s, 0), torch.tensor([1.0, 0.5, 1 / 3, 0.0]))
    assert option_accuracy(s, 0) == pytest.approx((1 + 0.5 + 1 / 3 + 0) / 4)
    # two options, tied: exactly half; the true option's position does not matter
    assert option_accuracy(torch.tensor([[0.3, 0.3]]), 1) == 0.5
    assert torch.allclose(option_hits(s, [1, 0, 2, 1]), torch.tensor([0.0, 0.5, 1 / 3, 1.0]))


def test_macro_accuracy_min_count_and_exclusions_by_hand():
    hits = [1, 1, 0, 0.5, 1, 0]
    groups = ["a", "a", "a", "b", "b", "c"]
    m = macro_accuracy(hits, groups, min_count=2)
    assert m["groups"] == 2 and m["items"] == 5
    assert m["macro accuracy"] == pytest.approx((2 / 3 + 0.75) / 2)
    assert m["micro accuracy"] == pytest.approx(3.5 / 5)
    assert macro_accuracy(hits, groups, min_count=2, exclude=["b"])["macro accuracy"] == pytest.approx(2 / 3)
    assert macro_accuracy(hits, groups)["macro accuracy"] == pytest.approx((2 / 3 + 0.75 + 0) / 3)
    with pytest.raises(ValueError, match="no group"):
        macro_accuracy(hits, groups, min_count=10)


def test_category_scores_weighted_and_unweighted_by_hand():
    acc = {"replace_obj": 0.9, "replace_att": 0.8, "replace_rel": 0.6, "swap_obj": 0.5, "swap_att": 0.7}
    n = {"replace_obj": 100, "replace_att": 50, "replace_rel": 50, "swap_obj": 10, "swap_att": 30}
    c = category_scores(acc, n)
    assert c["REPLACE (weighted)"] == pytest.approx(0.8) and c["REPLACE (unweighted)"] == pytest.approx(2.3 / 3)
    assert c["SWAP (weighted)"] == pytest.approx(0.65) and c["SWAP (unweighted)"] == pytest.approx(0.6)
    assert "ADD (weighted)" not in c  # add subsets absent: no category


def test_category_scores_reproduce_the_published_clip_b32_categories():
    # official SugarCrepe per-subset accuracies of OpenAI ViT-B/32 (papers.md §C.1) and the
    # subset sizes: the paper's weighted categories and the LABCLIP notebook's unweighted ones (§C.6)
    acc = {
        "replace_obj": 90.92,
        "replace_att": 80.08,
        "replace_rel": 69.20,
        "swap_obj": 61.38,
        "swap_att": 63.96,
        "add_obj": 77.21,
        "add_att": 68.79,
    }
    c = category_scores(acc, SUGARCREPE_SIZES)
    assert [round(c[f"{k} (weighted)"], 2) for k in ("REPLACE", "SWAP", "ADD")] == [80.76, 63.27, 75.09]
    assert [round(c[f"{k} (unweighted)"], 2) for k in ("REPLACE", "SWAP", "ADD")] == [80.07, 62.67, 73.00]


# ---------------------------------------------------------------------------------------------- text
def test_pre_caption_cleans_like_aro():
    assert pre_caption("A Man's  dog: (running)!\n", 30) == "a man's dog running"
    assert pre_caption("one two three four", 2) == "one two"


def test_shuffles_are_seeded_and_keep_the_words():
    cap = "a red cube and a blue sphere and a green cylinder"
    a = shuffle_nouns_and_adjectives(cap, TAGGER, 3)
    assert a == shuffle_nouns_and_adjectives(cap, TAGGER, 3)
    assert sorted(a.split()) == sorted(cap.split())
    # nouns stay where nouns were, adjectives where adjectives were
    for w0, w1 in zip(cap.split(), a.split()):
        assert (w0 in SHAPES) == (w1 in SHAPES) and (w0 in COLORS) == (w1 in COLORS)
    opts = order_options(cap, TAGGER, 5)
    assert opts == order_options(cap, TAGGER, 5) and opts[0] == cap and len(opts) == 5
    assert all(sorted(tokenize(o)) == sorted(tokenize(cap)) for o in opts)
    assert len({o for o in (order_options(cap, TAGGER, s)[4] for s in range(10))}) > 1


def test_shuffle_negatives_redraw_identity_and_drop_unshufflable():
    out = shuffle_negatives(["a red cube and a blue sphere", "a red cube", "a red cube, a blue cube"], TAGGER, seed=0)
    pos, neg = out[0]
    assert neg == "a blue sphere and a red cube" or neg in (
        "a red sphere and a blue cube",
        "a blue cube and a red sphere",
    )
    assert neg != pos
    assert out[1] is None  # one noun, one adjective: no shuffle changes it
    pos2, neg2 = out[2]
    assert pos2 == "a red cube , a blue cube" and neg2 == "a blue cube , a red cube"  # same tokens both sides


# ---------------------------------------------------------------------------------------------- fixtures
_jpeg = write_jpeg  # (path, color, size): a JPEG in the real format


@pytest.fixture
def coco_root(tmp_path):
    root = tmp_path / "coco"
    caps = [
        "a red cube and a blue sphere",
        "a blue sphere and a red cube",
        "a red cube",
        "a sphere",
        "a blue sphere",
        "a red cube and a sphere",
    ]
    images = []
    for i, (split, col) in enumerate(
        [
            ("test", (200, 0, 0)),
            ("test", (0, 0, 200)),
            ("test", (0, 200, 0)),
            ("train", (9, 9, 9)),
            ("restval", (90, 90, 90)),
        ]
    ):
        fname = f"COCO_val2014_{i:012d}.jpg"
        _jpeg(root / "val2014" / fname, col, (40 + 8 * i, 30))
        n = 6 if i == 0 else 5
        images.append(
            {
                "filepath": "val2014",
                "filename": fname,
                "split": split,
                "sentences": [{"raw": caps[(i + k) % len(caps)]} for k in range(n)],
                "cocoid": i,
            }
        )
    (root / "dataset_coco.json").write_text(json.dumps({"images": images, "dataset": "coco"}))
    return root


def test_coco_karpathy_loader(coco_root):
    ds = load_coco_karpathy(coco_root, "test")
    assert len(ds.images) == 3 and len(ds.captions) == 15  # first 5 of image 0's 6 captions
    assert ds.image_of_caption == [0] * 5 + [1] * 5 + [2] * 5
    assert ds.captions[:2] == ["a red cube and a blue sphere", "a blue sphere and a red cube"]
    assert ds.images[1].path.endswith("COCO_val2014_000000000001.jpg")
    assert len(load_coco_karpathy(coco_root, "test", captions_per_image=None).captions) == 16
    train = load_coco_karpathy(coco_root, "train")  # train + restval, as Karpathy's split does
    assert len(train.images) == 2


def test_coco_blip_format(tmp_path):
    root = tmp_path / "c"
    _jpeg(root / "val2014" / "a.jpg")
    (root / "coco_karpathy_test.json").write_text(json.dumps([{"image": "val2014/a.jpg", "caption": ["A Red cube."]}]))
    ds = load_coco_karpathy(root, "test", max_words=30)
    assert ds.captions == ["a red cube"] and ds.image_of_caption == [0]


def test_missing_and_malformed_coco(tmp_path, coco_root):
    with pytest.raises(DatasetNotFoundError) as err:
        load_coco_karpathy(tmp_path / "nowhere")
    msg = str(err.value)
    assert "coco" in msg and "nowhere" in msg and "how to get it" in msg and isinstance(err.value, FileNotFoundError)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError, match="dataset_coco.json"):
        load_coco_karpathy(empty)
    (empty / "dataset_coco.json").write_text("{not json")
    with pytest.raises(DatasetFormatError, match="not valid JSON"):
        load_coco_karpathy(empty)
    (empty / "dataset_coco.json").write_text(json.dumps({"images": [{"split": "test"}]}))
    with pytest.raises(DatasetFormatError, match="filename|sentences"):
        load_coco_karpathy(empty)
    (coco_root / "val2014" / "COCO_val2014_000000000001.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match="COCO_val2014_000000000001.jpg"):
        load_coco_karpathy(coco_root)


@pytest.fixture
def aro_root(tmp_path):
    root = tmp_path / "aro"
    _jpeg(root / "images" / "1.jpg", (255, 0, 0), (60, 40))
    _jpeg(root / "images" / "2.jpg", (0, 0, 255), (60, 40))
    rel = [
        {
            "image_path": f"{1 + i % 2}.jpg",
            "bbox_x": 5,
            "bbox_y": 6,
            "bbox_w": 20,
            "bbox_h": 10,
            "true_caption": "the cube is on the sphere",
            "false_caption": "the sphere is on the cube",
            "relation_name": name,
        }
        for i, name in enumerate(["on", "on", "next to"])
    ]
    (root / "visual_genome_relation.json").write_text(json.dumps(rel))
    att = [
        {
            "image_path": "1.jpg",
            "bbox_x": 0,
            "bbox_y": 0,
            "bbox_w": 30,
            "bbox_h": 30,
            "true_caption": "the red cube and the blue sphere",
            "false_caption": "the blue cube and the red sphere",
            "attributes": ["red", "blue"],
        }
    ] * 26 + [
        {
            "image_path": "2.jpg",
            "bbox_x": 0,
            "bbox_y": 0,
            "bbox_w": 30,
            "bbox_h": 30,
            "true_caption": "the green cube",
            "false_caption": "the cube green",
            "attributes": ["green", "big"],
        }
    ]
    (root / "visual_genome_attribution.json").write_text(json.dumps(att))
    return root


def test_vg_loaders(aro_root):
    vgr = load_vg_relation(aro_root)
    assert len(vgr) == 3 and vgr.true_index == [1, 1, 1]
    assert vgr.options[0] == ["the sphere is on the cube", "the cube is on the sphere"]  # ARO's order: false first
    assert vgr.groups == ["on", "on", "next to"] and "next to" in vgr.exclude_groups and "on" not in vgr.exclude_groups
    assert vgr.images[0].box == (5.0, 6.0, 20.0, 10.0)
    crop = load_pixels(vgr.images[0], 10, (10, 10))
    assert crop.shape == (10, 10, 3)
    vga = load_vg_attribution(aro_root)
    assert vga.min_group == 25 and vga.groups[0] == "red_blue" and len(vga) == 27


def test_vg_errors(tmp_path, aro_root):
    with pytest.raises(DatasetNotFoundError, match="VG-Relation"):
        load_vg_relation(tmp_path / "missing")
    (aro_root / "visual_genome_relation.json").write_text(json.dumps([{"image_path": "1.jpg"}]))
    with pytest.raises(DatasetFormatError, match="lacks a field"):
        load_vg_relation(aro_root)
    (aro_root / "visual_genome_attribution.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(DatasetFormatError, match="non-empty list"):
        load_vg_attribution(aro_root)


def test_coco_order_is_seeded_and_reproducible(coco_root):
    a = load_coco_order(coco_root, TAGGER, seed=1)
    b = load_coco_order(coco_root, TAGGER, seed=1)
    c = load_coco_order(coco_root, TAGGER, seed=2)
    assert len(a) == 16 and all(len(o) == 5 for o in a.options) and a.true_index == [0] * 16  # every caption
    assert a.options == b.options and a.options != c.options
    assert a.options[0][0] == "a red cube and a blue sphere"
    # a prefix of the items has the same options as the whole (per-item seeds)
    assert load_coco_order(coco_root, TAGGER, seed=1, max_items=4).options == a.options[:4]


@pytest.fixture
def sugar_root(tmp_path):
    root = tmp_path / "sugar"
    _jpeg(root / "val2017" / "000000000001.jpg", (255, 0, 0))
    _jpeg(root / "val2017" / "000000000002.jpg", (0, 0, 255))
    for sub in ("swap_att", "add_att", "replace_obj"):
        data = {
            str(k): {
                "filename": f"00000000000{1 + k}.jpg",
                "caption": "a red cube and a blue sphere",
                "negative_caption": "a blue cube and a red sphere",
            }
            for k in range(2)
        }
        (root / f"{sub}.json").write_text(json.dumps(data))
    return root


def test_sugarcrepe_loader_and_errors(sugar_root):
    subs = load_sugarcrepe(sugar_root, subsets=("swap_att", "add_att"))
    assert set(subs) == {"swap_att", "add_att"}
    d = subs["swap_att"]
    assert len(d) == 2 and d.options[0] == ["a red cube and a blue sphere", "a blue cube and a red sphere"]
    assert d.true_index == [0, 0] and d.images[1].path.endswith("000000000002.jpg")
    with pytest.raises(DatasetNotFoundError, match="swap_obj.json"):
        load_sugarcrepe(sugar_root, subsets=("swap_obj",))
    with pytest.raises(ValueError, match="unknown SugarCrepe"):
        load_sugarcrepe(sugar_root, subsets=("swap_everything",))
    (sugar_root / "add_att.json").write_text(json.dumps({"0": {"filename": "000000000001.jpg"}}))
    with pytest.raises(DatasetFormatError, match="caption"):
        load_sugarcrepe(sugar_root, subsets=("add_att",))
    with pytest.raises(DatasetNotFoundError, match="val2017"):
        load_sugarcrepe(sugar_root, images_dir=sugar_root / "nope")


_cifar_bin = write_cifar_binary


def test_cifar_binary_loader(tmp_path):
    _cifar_bin(tmp_path / "cifar-10-batches-bin" / "test_batch.bin", [3, 9, 0], 1)
    ds = load_cifar(tmp_path, "cifar10")
    assert ds.labels == [3, 9, 0] and ds.classnames[3] == "cat" and len(ds.templates) == 18
    px = np.asarray(ds.images[1])
    assert px.shape == (32, 32, 3) and px[5, 5, 0] == 10 and px[0, 1, 2] == 255 and px[1, 0, 2] == 0  # channel-planar
    _cifar_bin(tmp_path / "cifar-100-binary" / "test.bin", [99, 1], 2)
    ds100 = load_cifar(tmp_path, "cifar100")
    assert ds100.labels == [99, 1] and ds100.classnames[1] == "aquarium fish"
    (tmp_path / "cifar-100-binary" / "test.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetFormatError, match="records"):
        load_cifar(tmp_path, "cifar100")
    with pytest.raises(DatasetNotFoundError, match="CIFAR-10"):
        load_cifar(tmp_path / "none", "cifar10")


def _file_names(classes) -> list[str]:
    """Class names as CIFAR's meta files spell them (``aquarium_fish``)."""
    return [c.replace(" ", "_") for c in classes]


def test_cifar_python_version_loader(tmp_path):
    # the python-version tarballs' layout (cifar-10-batches-py/, cifar-100-python/: Python 2 pickles
    # with bytes keys; labclip_lib.testing.write_cifar_python)
    folder = write_cifar_python(tmp_path, "cifar10", [3, 9, 0], _file_names(CIFAR10_CLASSES))
    assert sorted(p.name for p in folder.iterdir()) == ["batches.meta", "data_batch_1", "data_batch_2",
                                                         "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
    ds = load_cifar(tmp_path, "cifar10")
    assert ds.labels == [3, 9, 0] and ds.info["format"] == "python" and ds.info["file"].endswith("test_batch")
    px = np.asarray(ds.images[1])
    assert px.shape == (32, 32, 3) and px[5, 5, 0] == 10 and px[0, 1, 2] == 255 and px[1, 0, 2] == 0  # channel-planar
    write_cifar_python(tmp_path, "cifar100", [99, 1, 26], _file_names(CIFAR100_CLASSES))
    ds100 = load_cifar(tmp_path, "cifar100")
    assert ds100.labels == [99, 1, 26] and ds100.classnames[26] == "crab" and ds100.info["file"].endswith("test")
    write_cifar_binary(tmp_path / "cifar-10-batches-bin" / "test_batch.bin", [1], 1)
    assert load_cifar(tmp_path, "cifar10").info["format"] == "binary"  # both there: the binary one


def test_cifar_python_version_errors(tmp_path):
    import os
    import pickle

    names = _file_names(CIFAR10_CLASSES)
    write_cifar_python(tmp_path, "cifar10", [3], names[1::-1] + names[2:])  # two names swapped
    with pytest.raises(DatasetFormatError, match=r"(?s)\(0, 'automobile', 'airplane'\).*batches.meta"):
        load_cifar(tmp_path, "cifar10")
    test_batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    ran = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch '{ran}'",))

    test_batch.write_bytes(pickle.dumps({b"data": Exploit(), b"labels": [0]}, protocol=2))
    with pytest.raises(DatasetFormatError, match=r"refusing to load (posix|nt|os)\.system"):
        load_cifar(tmp_path, "cifar10")
    assert not ran.exists()  # refused, not run
    test_batch.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}, protocol=2))
    with pytest.raises(DatasetFormatError, match="expected keys b'data' .* and b'labels'"):
        load_cifar(tmp_path, "cifar10")


def test_image_folder_loader(tmp_path):
    _jpeg(tmp_path / "n02" / "b.jpg")
    _jpeg(tmp_path / "n01" / "a.jpg")
    _jpeg(tmp_path / "n01" / "c.png")
    ds = load_image_folder(tmp_path, classnames=["red cube", "blue sphere"])
    assert ds.labels == [0, 0, 1] and ds.classnames == ["red cube", "blue sphere"]
    with pytest.raises(DatasetFormatError, match="3 class names for 2 folders"):
        load_image_folder(tmp_path, classnames=["a", "b", "c"])


# ---------------------------------------------------------------------------------------------- PUG
def _pug_rows():
    rows = []
    for w in ("Desert", "Island"):
        for a1, a2 in (("cube", "sphere"), ("sphere", "cube"), ("cube", "cylinder"), ("cylinder", "sphere")):
            for t1, t2 in (("Red", "Blue"), ("Blue", "Red"), ("Red", "Red")):
                rows.append(
                    {
                        "filename": f"{w}_{a1}_{a2}_{t1}_{t2}.jpg",
                        "world_name": w,
                        "character_name": a1,
                        "character2_name": a2,
                        "character_texture": t1,
                        "character2_texture": t2,
                        "character_pos": "left",
                    }
                )
    return rows


@pytest.fixture
def pug_root(tmp_path):
    import pandas as pd

    root = tmp_path / "pug"
    rows = _pug_rows()
    for r in rows:
        _jpeg(root / r["world_name"] / r["filename"], size=(16, 16))
    pd.DataFrame(rows).to_csv(root / "PUG_SPARE.csv", index=False)
    return root


def test_pug_spare_loader_pairs_and_leak_free_split(pug_root):
    recs = load_pug(pug_root, "spare")
    assert len(recs) == 24 and recs[0].animal1 == "cube" and recs[0].texture1 == "Red"
    pairs = pug_pairs(recs)
    assert len(pairs) == 16  # the 8 same-texture rows have no negative
    assert pairs.options[0] == ["red cube and blue sphere", "blue cube and red sphere"]
    split = leak_free_split(recs, val=0.25, test=0.25, seed=0)
    parts = [set(split[p].tolist()) for p in ("train", "val", "test")]
    assert sum(map(len, parts)) == 24 and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    group_part = {}
    for p, idx in split.items():
        for i in idx:
            assert group_part.setdefault(recs[i].group, p) == p  # a scene, its reverse and its swap together
    assert all(len(split[p]) > 0 for p in ("train", "val", "test"))
    assert {tuple(v) for v in leak_free_split(recs, 0.25, 0.25, seed=0).values()} == {tuple(v) for v in split.values()}


def test_pug_errors(tmp_path, pug_root):
    with pytest.raises(DatasetNotFoundError, match="PUG:SPAR"):
        load_pug(tmp_path, "spar")
    import pandas as pd

    pd.DataFrame([{"filename": "x.jpg", "world_name": "Desert"}]).to_csv(pug_root / "PUG_SPARE.csv", index=False)
    with pytest.raises(DatasetFormatError, match="missing columns"):
        load_pug(pug_root, "spare")


def _spar_shards(root, n_shards: int, rows_per_shard: int, row_group: int, side: int = 96) -> dict:
    """PUG:SPAR's parquet layout (facebook/PUG_SPAR: data/train-000NN-of-000MM.parquet; image =
    struct<bytes, path> as ``datasets`` stores an Image, world_name, character_name,
    character2_name, character1_pos, character2_pos, character_texture, character2_texture) with
    noise PNGs (incompressible, so a shard's size is its images'). Every third row has a blank
    second animal (filtered out). Returns the kept rows' labels and one image per kept row."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    gen = np.random.default_rng(0)
    (root / "data").mkdir(parents=True)
    kept, shard_bytes = [], []
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    for s in range(n_shards):
        cols = {c: [] for c in ("image", "world_name", "character_name", "character2_name", "character1_pos",
                                "character2_pos", "character_texture", "character2_texture")}
        for r in range(rows_per_shard):
            pixels = gen.integers(0, 256, (side, side, 3), dtype=np.uint8)
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, "PNG")
            second = "blank" if r % 3 == 2 else "Camel"
            row = {"image": {"bytes": buf.getvalue(), "path": None}, "world_name": f"World{s}",
                   "character_name": "Elephant", "character2_name": second, "character1_pos": "left",
                   "character2_pos": "right", "character_texture": ["Red", "Blue"][r % 2],
                   "character2_texture": "Grass"}
            for c, v in row.items():
                cols[c].append(v)
            if second != "blank":
                kept.append((f"World{s}", row["character_texture"], pixels))
        arrays = {c: pa.array(v, type=image_type if c == "image" else pa.string()) for c, v in cols.items()}
        path = root / "data" / f"train-{s:05d}-of-{n_shards:05d}.parquet"
        pq.write_table(pa.table(arrays), path, row_group_size=row_group)
        shard_bytes.append(sum(len(c["bytes"]) for c in cols["image"]))
    return {"kept": kept, "shard_bytes": shard_bytes}


def test_pug_spar_parquet_is_read_shard_by_shard_in_bounded_memory(tmp_path):
    pytest.importorskip("pyarrow")
    import tracemalloc

    import pyarrow.parquet  # noqa: F401  (imported before tracing: its import is not the loader's memory)

    from labclip_lib.benchmarks import DatasetSizeWarning
    from labclip_lib.benchmarks.data import open_image

    shards = _spar_shards(tmp_path / "spar", n_shards=5, rows_per_shard=24, row_group=6)
    budget = 2 * max(shards["shard_bytes"])
    assert sum(shards["shard_bytes"]) > 2 * budget  # holding every shard's images would break the budget
    tracemalloc.start()
    try:
        with pytest.warns(DatasetSizeWarning, match="has 120 items, the published size is 43,560"):
            recs = load_pug(tmp_path / "spar", "spar", image_dir=tmp_path / "images")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < budget, f"peak {peak:,} bytes while loading; one shard holds {max(shards['shard_bytes']):,}"
    assert len(recs) == len(shards["kept"]) == 80  # the blank-animal rows are filtered
    assert [(r.world, r.texture1) for r in recs] == [(w, t) for w, t, _ in shards["kept"]]
    assert all(isinstance(r.image, ImageRef) for r in recs)
    assert (np.asarray(open_image(recs[41].image)) == shards["kept"][41][2]).all()  # lossless, the right row
    assert len(load_pug(tmp_path / "spar", "spar", max_items=7, image_dir=tmp_path / "images")) == 7


def test_choice_dataset_validates():
    with pytest.raises(ValueError, match="same number"):
        ChoiceDataset("x", [ImageRef("a")], [["only one"]], [0])


def test_retrieval_recall_does_not_depend_on_the_chunk():
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(7, 20, generator=gen).round(decimals=1)  # rounding makes ties
    owner = [i % 7 for i in range(20)]
    assert retrieval_recall(s, owner, (1, 3), chunk=3) == retrieval_recall(s, owner, (1, 3))


def test_spacy_tagger_says_how_to_install():
    from labclip_lib.benchmarks import SpacyTagger

    try:
        import spacy  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install spacy"):
            SpacyTagger()("a red cube")
    else:
        pytest.skip("spaCy is installed")


def test_pug_spar_csv_layout_applies_the_authors_filter(tmp_path):
    import pandas as pd

    from labclip_lib.testing import write_benchmark_fixtures

    root = write_benchmark_fixtures(tmp_path)["pug_spar"]
    spar = load_pug(root, "spar")
    assert len(spar) == 18  # the fixture's 18 rows all pass: two different animals, no "Default" texture
    table = pd.read_csv(root / "labels.csv")
    table.loc[0, "character_texture"] = "Default"
    table.loc[1, "character2_name"] = table.loc[1, "character_name"]
    table.to_csv(root / "labels.csv", index=False)
    assert len(load_pug(root, "spar")) == 16

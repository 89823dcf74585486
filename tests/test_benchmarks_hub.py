"""The hub loaders (``load_*_hub``) on real ``datasets.Dataset`` objects built offline in the
layouts of the hub copies they are meant for: each fixture has that copy's features (``Image``,
``ClassLabel``, list and struct columns, its misspelt column names) and splits, with a comment
naming the card or the upload script it mirrors. ``datasets.load_dataset`` is replaced by a lookup
of those tables (an unknown split fails as on the hub), so the code that turns hub rows into
benchmark items runs as it would on Colab, without a network."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from labclip_lib.benchmarks import (
    DatasetFormatError,
    DatasetNotFoundError,
    DatasetSizeWarning,
    ImageRef,
    load_cifar_hub,
    load_coco_karpathy,
    load_coco_karpathy_hub,
    load_pug_spar_hub,
    load_sugarcrepe_hub,
    load_vg_hub,
)
from labclip_lib.benchmarks.data import open_image
from labclip_lib.benchmarks.zeroshot_data import CIFAR10_CLASSES, CIFAR100_CLASSES

datasets = pytest.importorskip("datasets")

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
STRING = datasets.Value("string")


def _images(n: int, size: tuple[int, int] = (8, 8)) -> list[Image.Image]:
    return [Image.new("RGB", size, COLOURS[i % len(COLOURS)]) for i in range(n)]


def _table(columns: dict, features: dict):
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


@pytest.fixture
def hub(monkeypatch):
    """``{hub_id: {split: Dataset}}``, served by a stand-in ``load_dataset``: an unknown id fails as
    offline, an unknown split as ``datasets`` does (``ValueError``)."""
    tables: dict = {}
    calls: list = []

    def load_dataset(hub_id, config=None, split=None):
        calls.append((hub_id, config, split))
        if hub_id not in tables:
            raise ConnectionError(f"Couldn't reach '{hub_id}' on the Hub (offline)")
        if split not in tables[hub_id]:
            raise ValueError(f'Unknown split "{split}". Should be one of {list(tables[hub_id])}.')
        return tables[hub_id][split]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    tables["_calls"] = calls
    return tables


# ------------------------------------------------------------------------------------ SugarCrepe
# HuggingFaceM4/SugarCrepe_{subset}, split "test": the HuggingFaceM4 upload script builds every row
# as image, tested_labels = [caption, negative_caption] (Sequence(string)) and true_label = the
# caption, a ClassLabel whose names are list(set(every caption and negative of the 7 subsets)).
SUGAR_ROWS = {
    "swap_att": [("a red cube and a blue ball", "a blue cube and a red ball"),
                 ("a big dog on a small mat", "a small dog on a big mat"),
                 ("a white cat", "a black cat")],
    "add_att": [("a cube", "a red cube"), ("a ball near a box", "a ball near a red box")],
}


def _sugarcrepe_hub(hub: dict) -> None:
    every = [t for rows in SUGAR_ROWS.values() for pair in rows for t in pair]
    names = sorted(set(every), reverse=True)  # a set's order: the caption's index is not its row's
    features = {"image": datasets.Image(), "tested_labels": datasets.Sequence(STRING),
                "true_label": datasets.ClassLabel(names=names)}
    for sub, rows in SUGAR_ROWS.items():
        hub[f"HuggingFaceM4/SugarCrepe_{sub}"] = {"test": _table(
            {"image": _images(len(rows)), "tested_labels": [list(p) for p in rows], "true_label": [c for c, _ in rows]},
            features)}


def test_sugarcrepe_hub_reads_tested_labels_and_the_class_label(hub, tmp_path):
    _sugarcrepe_hub(hub)
    table = hub["HuggingFaceM4/SugarCrepe_swap_att"]["test"]
    assert table["true_label"][:] != [0, 0, 0]  # the label is an index into the names, not into the options
    with pytest.warns(DatasetSizeWarning, match="published size is 666"):
        got = load_sugarcrepe_hub(("swap_att",), image_dir=tmp_path)["swap_att"]
    assert got.options == [list(p) for p in SUGAR_ROWS["swap_att"]] and got.true_index == [0, 0, 0]
    assert all(isinstance(im, ImageRef) and im.path.startswith(str(tmp_path)) for im in got.images)
    assert open_image(got.images[1]).getpixel((0, 0)) == COLOURS[1]
    assert hub["_calls"] == [("HuggingFaceM4/SugarCrepe_swap_att", None, "test")]


def test_sugarcrepe_hub_true_option_is_found_by_its_text(hub, tmp_path):
    _sugarcrepe_hub(hub)
    names = hub["HuggingFaceM4/SugarCrepe_add_att"]["test"].features["true_label"].names
    hub["HuggingFaceM4/SugarCrepe_add_att"]["test"] = _table(
        {"image": _images(2),
         "tested_labels": [["a red cube", "a cube"], ["a ball near a box", "a ball near a red box"]],
         "true_label": ["a cube", "a ball near a box"]},
        {"image": datasets.Image(), "tested_labels": datasets.Sequence(STRING),
         "true_label": datasets.ClassLabel(names=names)})
    with pytest.warns(DatasetSizeWarning):
        got = load_sugarcrepe_hub(("add_att",), image_dir=tmp_path)["add_att"]
    assert got.true_index == [1, 0]
    hub["HuggingFaceM4/SugarCrepe_add_att"]["test"] = _table(
        {"image": _images(1), "tested_labels": [["a cube", "a red cube"]], "true_label": ["a white cat"]},
        {"image": datasets.Image(), "tested_labels": datasets.Sequence(STRING),
         "true_label": datasets.ClassLabel(names=names)})
    with pytest.raises(DatasetFormatError, match="the true caption 'a white cat' is none of the options"):
        load_sugarcrepe_hub(("add_att",), image_dir=tmp_path)


def test_sugarcrepe_hub_json_field_names_and_unknown_layouts(hub, tmp_path):
    # the JSON files' field names (RAIVNLab/sugar-crepe data/*.json: caption, negative_caption), as
    # mteb's SugarCrepe task reads them from yjkimstats/SUGARCREPE_fmt (its image column: "images")
    hub["someone/SugarCrepe_swap_att"] = {"test": _table(
        {"images": _images(2), "caption": ["a red cube", "a cat"], "negative_caption": ["a cube red", "a dog"]},
        {"images": datasets.Image(), "caption": STRING, "negative_caption": STRING})}
    with pytest.warns(DatasetSizeWarning):
        got = load_sugarcrepe_hub(("swap_att",), "someone/SugarCrepe_", image_column="images", image_dir=tmp_path)
    assert got["swap_att"].options == [["a red cube", "a cube red"], ["a cat", "a dog"]]
    hub["other/SugarCrepe_swap_att"] = {"test": _table(
        {"image": _images(1), "text": ["a cat"]}, {"image": datasets.Image(), "text": STRING})}
    with pytest.raises(DatasetFormatError, match=r"neither the hub layout.*it has \['image', 'text'\]"):
        load_sugarcrepe_hub(("swap_att",), "other/SugarCrepe_", image_dir=tmp_path)


# ------------------------------------------------------------------------------------ ARO VG
BBOX = {k: datasets.Value("float32") for k in ("x", "y", "w", "h")}


def test_vg_relation_default_copy_crops_full_images_to_their_box(hub, tmp_path):
    # gowitheflow/ARO-Visual-Relation (card: image, true_caption, false_caption, relation_name,
    # bbox {x, y, w, h} float32; split "test", 23,937 rows). Row 0 holds a full image (red, the box
    # blue), row 1 an image of the box's size (taken as already cropped).
    full = np.zeros((48, 64, 3), np.uint8)
    full[..., 0] = 255
    full[4:14, 8:28] = (0, 0, 255)
    hub["gowitheflow/ARO-Visual-Relation"] = {"test": _table(
        {"image": [Image.fromarray(full), Image.new("RGB", (20, 10), COLOURS[1])],
         "true_caption": ["the cat is on the mat", "the man wears a hat"],
         "false_caption": ["the mat is on the cat", "the hat wears a man"], "relation_name": ["on", "wears"],
         "bbox": [{"x": 8, "y": 4, "w": 20, "h": 10}, {"x": 100, "y": 50, "w": 20, "h": 10}]},
        {"image": datasets.Image(), "true_caption": STRING, "false_caption": STRING, "relation_name": STRING,
         "bbox": BBOX})}
    with pytest.warns(DatasetSizeWarning, match="published size is 23,937"):
        got = load_vg_hub("relation", image_dir=tmp_path)
    assert got.options[0] == ["the mat is on the cat", "the cat is on the mat"] and got.true_index == [1, 1]
    assert got.groups == ["on", "wears"] and got.info["hub_id"] == "gowitheflow/ARO-Visual-Relation"
    assert got.images[0].box == (8.0, 4.0, 20.0, 10.0) and got.images[1].box is None and got.info["cropped"] == 1
    crop = np.asarray(open_image(got.images[0]))
    assert crop.shape == (10, 20, 3) and (crop == (0, 0, 255)).all()
    assert open_image(got.images[1]).size == (20, 10)


def test_vg_relation_list_valued_false_captions_are_options_never_strings(hub, tmp_path):
    # yjkimstats/ARO_VG_Relation (card: images, Realation_name [sic], text, hard_texts: a list of
    # strings; split "train" only; no box)
    features = {"images": datasets.Image(), "Realation_name": STRING, "text": STRING,
                "hard_texts": datasets.Sequence(STRING)}
    hub["yjkimstats/ARO_VG_Relation"] = {"train": _table(
        {"images": _images(2), "Realation_name": ["eating", "on"],
         "text": ["the horse is eating the grass", "the cup is on the table"],
         "hard_texts": [["the grass is eating the horse"], ["the table is on the cup"]]}, features)}
    mapping = dict(split="train", image_column="images", true_column="text", false_column="hard_texts",
                   group_column="Realation_name", image_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="split 'test'"):
        load_vg_hub("relation", "yjkimstats/ARO_VG_Relation", image_dir=tmp_path)
    with pytest.warns(UserWarning) as caught:
        got = load_vg_hub("relation", "yjkimstats/ARO_VG_Relation", **mapping)
    assert got.options == [["the grass is eating the horse", "the horse is eating the grass"],
                           ["the table is on the cup", "the cup is on the table"]]
    assert got.true_index == [1, 1] and got.groups == ["eating", "on"]
    assert any("no box column" in str(w.message) for w in caught)
    hub["yjkimstats/ARO_VG_Relation"]["train"] = _table(
        {"images": _images(2), "Realation_name": ["eating", "on"], "text": ["a", "b"],
         "hard_texts": [["x"], ["y", "z"]]}, features)
    with pytest.raises(DatasetFormatError, match=r"different numbers of false captions \(1, 2\)"):
        load_vg_hub("relation", "yjkimstats/ARO_VG_Relation", **mapping)


def test_vg_attribution_needs_its_attribute_pair_or_plain_accuracy(hub, tmp_path):
    # gowitheflow/ARO-Visual-Attribution (split "test"): mteb's AROVisualAttribution reads image,
    # true_caption, false_caption; the column of the attribute pair is not documented, so the
    # fixture has only the documented columns
    hub["gowitheflow/ARO-Visual-Attribution"] = {"test": _table(
        {"image": _images(2), "true_caption": ["the white plate and the brown table"] * 2,
         "false_caption": ["the brown plate and the white table"] * 2},
        {"image": datasets.Image(), "true_caption": STRING, "false_caption": STRING})}
    with pytest.raises(DatasetFormatError, match="attribute pair.*group_column=.*macro=False"):
        load_vg_hub("attribution", image_dir=tmp_path)
    with pytest.warns(UserWarning):
        got = load_vg_hub("attribution", macro=False, image_dir=tmp_path)
    assert got.groups is None and got.true_index == [1, 1]
    assert got.options[0] == ["the brown plate and the white table", "the white plate and the brown table"]


# ------------------------------------------------------------------------------------ COCO
def _karpathy_rows(images: list[dict], split: str):
    # yerevann/coco-karpathy: data/{train,validation,test,restval}.parquet, a row per image
    # (the card has no schema; these are the columns code reading it selects: filepath, sentids,
    # filename, imgid, sentences = its captions, cocoid, url)
    return _table(
        {"filepath": [im["filepath"] for im in images], "sentids": [[0] * len(im["sentences"]) for im in images],
         "filename": [im["filename"] for im in images], "imgid": list(range(len(images))),
         "sentences": [[s["raw"] for s in im["sentences"]] for im in images],
         "cocoid": list(range(len(images))), "url": [f"http://images.cocodataset.org/{split}" for _ in images]},
        {"filepath": STRING, "sentids": datasets.Sequence(datasets.Value("int32")), "filename": STRING,
         "imgid": datasets.Value("int32"), "sentences": datasets.Sequence(STRING), "cocoid": datasets.Value("int32"),
         "url": STRING})


def test_coco_karpathy_hub_splits_and_captions_match_the_local_path(hub, tmp_path):
    import json

    from labclip_lib.testing import write_benchmark_fixtures

    root = write_benchmark_fixtures(tmp_path)["coco"]
    images = json.loads((root / "dataset_coco.json").read_text())["images"]
    test = [im for im in images if im["split"] == "test"]
    test[0]["sentences"][0]["raw"] = "A Red cube. And (a) blue sphere; on the left"
    (root / "dataset_coco.json").write_text(json.dumps({"images": images}))
    train = [im for im in images if im["split"] == "train"]
    hub["yerevann/coco-karpathy"] = {
        "test": _karpathy_rows(test, "test"), "validation": _karpathy_rows(test[:1], "val"),
        "train": _karpathy_rows(train, "train"), "restval": _karpathy_rows(test[1:], "r"),
    }
    with pytest.warns(DatasetSizeWarning, match="has 3 items, the published size is 5,000"):
        got = load_coco_karpathy_hub(root, "test", max_words=5)
    local = load_coco_karpathy(root, "test", max_words=5)
    assert got.captions == local.captions and got.image_of_caption == local.image_of_caption
    assert [p.path for p in got.images] == [p.path for p in local.images]
    assert got.captions[0] == "a red cube and a"
    with pytest.warns(DatasetSizeWarning):
        val = load_coco_karpathy_hub(root, "val")
    assert len(val.images) == 1 and ("yerevann/coco-karpathy", None, "validation") in hub["_calls"]
    with pytest.warns(DatasetSizeWarning, match=r"train \+ restval\) has 3 items, the published size is 113,287"):
        tr = load_coco_karpathy_hub(root, "train")
    assert len(tr.images) == 3  # train (1 image) and restval (2)
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        load_coco_karpathy_hub(root, "validation")
    (root / "val2014" / test[2]["filename"]).unlink()
    with pytest.raises(DatasetNotFoundError, match="COCO images"), pytest.warns(DatasetSizeWarning):
        load_coco_karpathy_hub(root)


# ------------------------------------------------------------------------------------ CIFAR
def test_cifar_hub_labels_and_class_names(hub):
    # uoft-cs/cifar10 (card: img, label = ClassLabel airplane ... truck; test 10,000 rows)
    hub["uoft-cs/cifar10"] = {"test": _table(
        {"img": _images(3), "label": [0, 9, 3]},
        {"img": datasets.Image(), "label": datasets.ClassLabel(names=list(CIFAR10_CLASSES))})}
    with pytest.warns(DatasetSizeWarning, match="published size is 10,000"):
        got = load_cifar_hub("cifar10")
    assert got.labels == [0, 9, 3] and got.classnames[9] == "truck" and len(got.templates) == 18
    assert got.images[2].getpixel((0, 0)) == COLOURS[2]


def test_cifar100_hub_class_label_names_are_checked(hub):
    # uoft-cs/cifar100 (card: img, fine_label = ClassLabel with "_" for spaces and class 26 spelt
    # "cra", coarse_label = ClassLabel of the 20 superclasses)
    fine = [c.replace(" ", "_") for c in CIFAR100_CLASSES]
    fine[26] = "cra"
    coarse = datasets.ClassLabel(names=[f"superclass_{i}" for i in range(20)])

    def copy(names):
        return {"test": _table({"img": _images(2), "fine_label": [26, 1], "coarse_label": [0, 1]},
                               {"img": datasets.Image(), "fine_label": datasets.ClassLabel(names=names),
                                "coarse_label": coarse})}

    hub["uoft-cs/cifar100"] = copy(fine)
    with pytest.warns(DatasetSizeWarning):
        got = load_cifar_hub("cifar100")
    assert got.labels == [26, 1] and got.classnames[26] == "crab" and got.classnames[1] == "aquarium fish"
    hub["uoft-cs/cifar100"] = copy(fine[1:2] + fine[:1] + fine[2:])  # two classes in the other order
    with pytest.raises(DatasetFormatError, match=r"not the expected 100 in order.*\(0, 'aquarium fish', 'apple'\)"):
        load_cifar_hub("cifar100")


# ------------------------------------------------------------------------------------ PUG:SPAR
def test_pug_spar_hub_applies_the_authors_filter(hub, tmp_path):
    # facebook/PUG_SPAR (card: image, world_name, character_name, character2_name, character1_pos,
    # character2_pos, character_texture, character2_texture; split "train", 43,560 rows)
    rows = {"image": _images(4), "world_name": ["Desert"] * 4,
            "character_name": ["Elephant", "blank", "Camel", "Camel"],
            "character2_name": ["Camel", "Camel", "Camel", "Elephant"],
            "character1_pos": ["left"] * 4, "character2_pos": ["right"] * 4,
            "character_texture": ["Red", "Red", "Red", "Default"],
            "character2_texture": ["Blue", "Blue", "Blue", "Blue"]}
    features = {c: (datasets.Image() if c == "image" else STRING) for c in rows}
    hub["facebook/PUG_SPAR"] = {"train": _table(rows, features)}
    with pytest.warns(DatasetSizeWarning, match="published size is 43,560"):
        got = load_pug_spar_hub(image_dir=tmp_path)
    assert [(r.animal1, r.texture1, r.animal2, r.texture2) for r in got] == [("Elephant", "Red", "Camel", "Blue")]
    assert got[0].world == "Desert" and isinstance(got[0].image, ImageRef)
    assert open_image(got[0].image).getpixel((0, 0)) == COLOURS[0]
    assert [p.name for p in tmp_path.iterdir()] == [p.name for p in tmp_path.iterdir() if p.suffix == ".png"]
    assert len(list(tmp_path.iterdir())) == 1  # only the kept row's image was written


# ------------------------------------------------------------------------------------ errors
def test_hub_errors_name_the_dataset_and_the_fix(hub):
    with pytest.raises(DatasetNotFoundError, match="(?s)SugarCrepe replace_att.*cannot load from the hub.*offline"):
        load_sugarcrepe_hub(("replace_att",))
    hub["uoft-cs/cifar100"] = {"test": _table({"img": _images(1), "coarse_label": [1]},
                                              {"img": datasets.Image(), "coarse_label": datasets.Value("int64")})}
    with pytest.raises(DatasetFormatError, match=r"missing columns \['fine_label'\]; it has \['img', 'coarse_label'\]"):
        load_cifar_hub("cifar100")


def test_hub_path_without_datasets_says_how_to_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if it were not installed
    for call in (
        lambda: load_sugarcrepe_hub(("swap_att",)),
        lambda: load_pug_spar_hub(),
        lambda: load_vg_hub("relation"),
        lambda: load_cifar_hub("cifar10"),
    ):
        with pytest.raises(ImportError, match="pip install datasets"):
            call()

"""The hub loaders (``load_*_hub``) on real ``datasets.Dataset`` objects built offline in the
hub copies' layouts: ``datasets.load_dataset`` is replaced by a lookup of those tables, so the
code that turns hub rows into benchmark items runs as it would on Colab (lazy columns, images
decoded to PIL on access), without a network."""

from __future__ import annotations

import sys

import pytest
from PIL import Image

from labclip_lib.benchmarks import (
    DatasetFormatError,
    DatasetNotFoundError,
    load_cifar_hub,
    load_coco_karpathy_hub,
    load_pug_spar_hub,
    load_sugarcrepe_hub,
    load_vg_hub,
)

datasets = pytest.importorskip("datasets")

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def _images(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (8, 8), COLOURS[i % len(COLOURS)]) for i in range(n)]


def _table(columns: dict, image_columns: tuple[str, ...] = ()):
    features = {}
    for name, values in columns.items():
        if name in image_columns:
            features[name] = datasets.Image()
        elif isinstance(values[0], list):
            features[name] = datasets.Sequence(datasets.Value("string"))
        elif isinstance(values[0], int):
            features[name] = datasets.Value("int64")
        else:
            features[name] = datasets.Value("string")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


@pytest.fixture
def hub(monkeypatch):
    """``{hub_id: Dataset}``, served by a stand-in ``load_dataset`` (unknown ids: offline error)."""
    tables: dict = {}
    calls: list = []

    def load_dataset(hub_id, config=None, split=None):
        calls.append((hub_id, config, split))
        if hub_id not in tables:
            raise ConnectionError(f"Couldn't reach '{hub_id}' on the Hub (offline)")
        return tables[hub_id]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    tables["_calls"] = calls
    return tables


def test_sugarcrepe_hub_rows_become_two_option_items(hub):
    hub["HuggingFaceM4/SugarCrepe_swap_att"] = _table(
        {"image": _images(3), "caption": ["a red cube", "a blue ball", "a cat"],
         "negative_caption": ["a cube red", "a ball blue", "a dog"]}, ("image",))
    got = load_sugarcrepe_hub(("swap_att",))["swap_att"]
    assert got.options == [["a red cube", "a cube red"], ["a blue ball", "a ball blue"], ["a cat", "a dog"]]
    assert got.true_index == [0, 0, 0] and len(got.images) == 3
    assert isinstance(got.images[1], Image.Image) and got.images[1].getpixel((0, 0)) == COLOURS[1]
    assert hub["_calls"] == [("HuggingFaceM4/SugarCrepe_swap_att", None, "test")]


def test_coco_karpathy_hub_captions_with_local_images(hub, tmp_path):
    (tmp_path / "val2014").mkdir()
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (8, 8)).save(tmp_path / "val2014" / name)
    hub["yerevann/coco-karpathy"] = _table(
        {"filepath": ["val2014", "val2014"], "filename": ["a.jpg", "b.jpg"],
         "sentences": [["one", "two", "three"], ["four", "five"]]})
    got = load_coco_karpathy_hub(tmp_path, captions_per_image=2)
    assert got.captions == ["one", "two", "four", "five"] and got.image_of_caption == [0, 0, 1, 1]
    assert [p.path for p in got.images] == [str(tmp_path / "val2014" / "a.jpg"), str(tmp_path / "val2014" / "b.jpg")]
    (tmp_path / "val2014" / "b.jpg").unlink()
    with pytest.raises(DatasetNotFoundError, match="COCO images"):
        load_coco_karpathy_hub(tmp_path)


def test_vg_hub_puts_the_false_caption_first_and_groups_rows(hub):
    hub["someone/vg_relation"] = _table(
        {"image": _images(2), "true_caption": ["the cat is on the mat", "the man wears a hat"],
         "false_caption": ["the mat is on the cat", "the hat wears a man"], "relation_name": ["on", "wears"]},
        ("image",))
    got = load_vg_hub("relation", "someone/vg_relation")
    assert got.options[0] == ["the mat is on the cat", "the cat is on the mat"] and got.true_index == [1, 1]
    assert got.groups == ["on", "wears"] and got.info["hub_id"] == "someone/vg_relation"
    hub["someone/vg_attribution"] = _table(
        {"image": _images(1), "true_caption": ["the red car and the big tree"],
         "false_caption": ["the big car and the red tree"], "attributes": [["red", "big", "extra"]]}, ("image",))
    got = load_vg_hub("attribution", "someone/vg_attribution")
    assert got.groups == ["red_big"] and got.min_group == 25


def test_cifar_hub_labels_and_class_names(hub):
    hub["uoft-cs/cifar10"] = _table({"img": _images(3), "label": [0, 9, 3]}, ("img",))
    got = load_cifar_hub("cifar10")
    assert got.labels == [0, 9, 3] and got.classnames[9] == "truck" and len(got.templates) == 18
    assert got.images[2].getpixel((0, 0)) == COLOURS[2]


def test_pug_spar_hub_applies_the_authors_filter(hub):
    rows = {"image": _images(4), "world_name": ["Desert"] * 4,
            "character_name": ["Elephant", "blank", "Camel", "Camel"],
            "character2_name": ["Camel", "Camel", "Camel", "Elephant"],
            "character_texture": ["Red", "Red", "Red", "Default"],
            "character2_texture": ["Blue", "Blue", "Blue", "Blue"]}
    hub["facebook/PUG_SPAR"] = _table(rows, ("image",))
    got = load_pug_spar_hub()
    assert [(r.animal1, r.texture1, r.animal2, r.texture2) for r in got] == [("Elephant", "Red", "Camel", "Blue")]
    assert got[0].world == "Desert" and isinstance(got[0].image, Image.Image)


def test_hub_errors_name_the_dataset_and_the_fix(hub):
    with pytest.raises(DatasetNotFoundError, match="(?s)SugarCrepe replace_att.*cannot load from the hub.*offline"):
        load_sugarcrepe_hub(("replace_att",))
    hub["uoft-cs/cifar100"] = _table({"img": _images(1), "coarse_label": [1]}, ("img",))
    with pytest.raises(DatasetFormatError, match=r"missing columns \['fine_label'\]; it has \['img', 'coarse_label'\]"):
        load_cifar_hub("cifar100")


def test_hub_path_without_datasets_says_how_to_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if it were not installed
    for call in (
        lambda: load_sugarcrepe_hub(("swap_att",)),
        lambda: load_pug_spar_hub(),
        lambda: load_vg_hub("relation", "yjkimstats/ARO_VG_Relation"),
        lambda: load_cifar_hub("cifar10"),
    ):
        with pytest.raises(ImportError, match="pip install datasets"):
            call()

"""The pretrained path on a CLIP that has learned: a small ``transformers.CLIPModel`` trained on
the scene world (``labclip_lib.testing.make_trained_clip``), loaded by ``load_model`` from its
Hugging Face directory as any hub CLIP. Its numbers are not chance, so the assertions below fail
when the path scrambles pairing, the processor's resizing or the projections, as the broken
variants show."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

import labclip_lib.organisms as O
from labclip_lib.alignment import LinearAlignment
from labclip_lib.metrics import binding_accuracy
from labclip_lib.models import load_model
from labclip_lib.testing import trained_clip_config

SCENES = 400  # test scenes scored


@pytest.fixture(scope="module")
def learned(trained_clip):
    path = trained_clip  # conftest's: make_trained_clip's CLIP, trained once per run
    data = O.build_data(trained_clip_config())
    idx = [i for i in data.split.test if data.eval_negatives[i] is not None][:SCENES]
    return path, data, idx


def _scores(model, data, idx) -> dict:
    """Caption retrieval (is the image's nearest caption, among the scenes', its own text?) with
    its chance level, and two-way binding, on the test scenes ``idx``."""
    texts = [data.eval_captions[i].text for i in idx]
    image = model.encode_images(data.images[idx])
    positive = model.encode_texts(texts)
    negative = model.encode_texts([data.eval_negatives[i].text for i in idx])
    nearest = (image @ positive.T).argmax(1).tolist()
    retrieval = sum(texts[j] == texts[i] for i, j in enumerate(nearest)) / len(idx)
    chance = sum(texts.count(t) for t in texts) / len(idx) ** 2  # a random caption's match rate
    return {"retrieval": retrieval, "chance": chance, "binding": binding_accuracy(image, positive, negative),
            "image": image, "positive": positive, "negative": negative}


def test_a_learned_clip_retrieves_and_binds_through_the_pretrained_path(learned):
    path, data, idx = learned
    model = load_model(path)
    assert type(model).__name__ == "HFClipModel" and model.dim == 16 and model.image_size == 32
    s = _scores(model, data, idx)
    assert s["retrieval"] > 4 * s["chance"], s["retrieval"]
    assert s["binding"] > 0.6, s["binding"]


def test_a_map_fitted_on_the_learned_clip_changes_its_scores(learned):
    path, data, idx = learned
    model = load_model(path)
    train = [i for i in data.split.train if data.eval_negatives[i] is not None][:4000]
    fit, test = _scores(model, data, train), _scores(model, data, idx)
    alignment = LinearAlignment(epochs=50, seed=0).fit(fit["image"], fit["positive"], fit["negative"])
    mapped = alignment.score(test["image"], test["positive"], test["negative"])
    assert not torch.allclose(alignment.transform(test["positive"]), test["positive"], atol=1e-3)
    assert mapped != test["binding"] and mapped > 0.6, (test["binding"], mapped)


def _broken_copy(path, tmp_path, name: str):
    broken = tmp_path / name
    shutil.copytree(path, broken)
    return broken


def test_swapped_projections_fail_the_assertions(learned, tmp_path):
    path, data, idx = learned
    broken = _broken_copy(path, tmp_path, "swapped")
    weights = load_file(broken / "model.safetensors")
    weights["visual_projection.weight"], weights["text_projection.weight"] = (
        weights["text_projection.weight"], weights["visual_projection.weight"])
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    s = _scores(load_model(broken), data, idx)
    assert not (s["retrieval"] > 4 * s["chance"] and s["binding"] > 0.6), (s["retrieval"], s["binding"])


def test_a_processor_that_resizes_wrongly_fails_the_assertions(learned, tmp_path):
    path, data, idx = learned
    broken = _broken_copy(path, tmp_path, "zoomed")
    config_file = broken / "processor_config.json"
    config = json.loads(config_file.read_text())
    config["image_processor"]["size"] = {"shortest_edge": 64}  # upscale, then crop the centre: a zoom
    config_file.write_text(json.dumps(config))
    model = load_model(broken)
    assert model.image_size == 32
    s = _scores(model, data, idx)
    assert not (s["retrieval"] > 4 * s["chance"] and s["binding"] > 0.6), (s["retrieval"], s["binding"])

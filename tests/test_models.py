"""The loader, the embedding engine and the cache, offline, on a tiny random CLIP saved to disk."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.modeling_outputs import BaseModelOutputWithPooling

from labclip_lib.embed import (
    HFClipModel,
    cached_encode_images,
    cached_encode_texts,
    feature_tensor,
)
from labclip_lib.models import load_model
from labclip_lib.storage import compute_or_load, fingerprint_array
from labclip_lib.testing import make_tiny_clip
from labclip_lib.world import render, sample_scenes

CAPTIONS = ["red cube and blue sphere", "a cube", "blue cube and red sphere", "a green cylinder, a gray cube and a sphere"]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return make_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def model(tiny_dir):
    return load_model(tiny_dir)


@pytest.fixture(scope="module")
def images():
    return render(sample_scenes(6, 2, seed=0, salience=False), 48)


def test_loader_round_trip(model, tiny_dir, images):
    assert isinstance(model, HFClipModel) and model.dim == 16 and model.image_size == 32
    txt = model.encode_texts(CAPTIONS)
    img = model.encode_images(images)
    assert txt.shape == (4, 16) and img.shape == (6, 16) and txt.dtype == img.dtype == torch.float32
    assert torch.allclose(txt.norm(dim=1), torch.ones(4), atol=1e-5)
    # identical to calling the model by hand with its own tokenizer and processor
    from transformers import AutoProcessor, CLIPModel

    ref_model = CLIPModel.from_pretrained(tiny_dir).eval()
    proc = AutoProcessor.from_pretrained(tiny_dir)
    with torch.no_grad():
        tok = proc.tokenizer(CAPTIONS, padding=True, return_tensors="pt")
        ref_t = feature_tensor(ref_model.get_text_features(input_ids=tok.input_ids, attention_mask=tok.attention_mask))
        px = proc.image_processor([Image.fromarray(x) for x in images], return_tensors="pt").pixel_values
        ref_i = feature_tensor(ref_model.get_image_features(pixel_values=px))
    assert torch.allclose(model.encode_texts(CAPTIONS, normalize=False), ref_t, atol=1e-5)
    # our batched torch preprocessing vs the HF processor: resize kernels differ slightly
    ours = model.preprocess(torch.from_numpy(images))
    assert (ours - px).abs().mean() < 0.02
    cos = torch.nn.functional.cosine_similarity(model.encode_images(images, normalize=False), ref_i)
    assert cos.min() > 0.999


def test_pil_input_and_modes(model, images):
    pil = [Image.fromarray(x) for x in images]
    a = model.encode_images(pil)
    b = model.encode_images([p.convert("RGBA") for p in pil])  # RGBA is converted to RGB
    assert torch.allclose(a, model.encode_images(images), atol=1e-6) and torch.allclose(a, b, atol=1e-6)


def test_feature_unwrapping_transformers_4_and_5():
    t = torch.randn(3, 8)
    assert feature_tensor(t) is t
    assert feature_tensor(BaseModelOutputWithPooling(last_hidden_state=torch.randn(3, 4, 8), pooler_output=t)) is t
    with pytest.raises(TypeError, match="pooler_output"):
        feature_tensor({"x": 1})


def test_batch_size_invariance_and_order(model, images):
    many = CAPTIONS * 5
    a = model.encode_texts(many, batch_size=1)
    b = model.encode_texts(many, batch_size=64)
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(b[1], b[5], atol=1e-6)  # same caption, same row after length sorting
    assert torch.allclose(model.encode_images(images, batch_size=1), model.encode_images(images, batch_size=64),
                          atol=1e-5)


@pytest.mark.parametrize("bad, match", [
    (lambda m: m.encode_texts([]), "empty list of captions"),
    (lambda m: m.encode_images([]), "empty list of images"),
    (lambda m: m.encode_images(np.zeros((2, 32, 32, 4), np.uint8)), r"\(N, H, W, 3\)"),
    (lambda m: m.encode_images(np.zeros((32, 32, 3), np.uint8)), r"\(N, H, W, 3\)"),
    (lambda m: m.encode_images(np.zeros((2, 32, 32, 3), np.float32)), "uint8"),
])
def test_bad_inputs(model, bad, match):
    with pytest.raises(ValueError, match=match):
        bad(model)


def test_unknown_model_offline_fails_fast_and_clearly():
    code = ("from labclip_lib.models import load_model, ModelNotAvailableError\n"
            "try:\n    load_model('openai/clip-vit-nonexistent')\n"
            "except ModelNotAvailableError as e:\n    print('ERR', e)\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ERR could not load model 'openai/clip-vit-nonexistent'" in r.stdout
    assert "Traceback" not in r.stderr


def test_cache_hit_miss_keys_and_corruption(tmp_path, model, images):
    calls = []

    def compute():
        calls.append(1)
        return torch.arange(12, dtype=torch.float32).reshape(3, 4)

    key = {"model_fingerprint": "m1", "data": "d1", "normalize": True}
    a = compute_or_load(key, compute, directory=tmp_path)
    b = compute_or_load(key, compute, directory=tmp_path)
    assert torch.equal(a, b) and len(calls) == 1
    for change in ({"model_fingerprint": "m2"}, {"data": "d2"}, {"normalize": False}, {"preprocess": "x"}):
        compute_or_load({**key, **change}, compute, directory=tmp_path)
    assert len(calls) == 5
    files = sorted(tmp_path.glob("*.safetensors"))
    assert len(files) == 5 and not list(tmp_path.glob(".tmp-*"))
    # corrupt the entry of `key` in two ways
    from labclip_lib.storage import key_hash

    path = tmp_path / f"emb-{key_hash(key)[:24]}.safetensors"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 7])  # truncated
    with pytest.warns(UserWarning, match="recomputing"):
        compute_or_load(key, compute, directory=tmp_path)
    assert len(calls) == 6
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # a flipped byte inside the tensor data
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="checksum"):
        compute_or_load(key, compute, directory=tmp_path)
    assert len(calls) == 7 and path.exists()
    # dict values round-trip as dicts
    d = compute_or_load({"k": 1}, lambda: {"x": torch.ones(2), "y": torch.zeros(3)}, directory=tmp_path)
    d2 = compute_or_load({"k": 1}, lambda: {"x": torch.zeros(2)}, directory=tmp_path)
    assert set(d2) == {"x", "y"} and torch.equal(d2["x"], d["x"])


def test_cached_encoders_key_on_model_and_data(tmp_path, model, images, tiny_dir):
    e1 = cached_encode_images(model, images, directory=tmp_path)
    e2 = cached_encode_images(model, images, directory=tmp_path)
    assert torch.equal(e1, e2) and len(list(tmp_path.glob("img-*"))) == 1
    cached_encode_images(model, images[:3], directory=tmp_path)  # other data: a new entry
    cached_encode_texts(model, CAPTIONS, directory=tmp_path)
    other = make_tiny_clip(tmp_path / "other", seed=1)  # same name pattern, other weights
    m2 = load_model(other)
    assert m2.fingerprint != model.fingerprint
    e3 = cached_encode_images(m2, images, directory=tmp_path)
    assert not torch.allclose(e1, e3) and len(list(tmp_path.glob("img-*"))) == 3
    assert fingerprint_array(images) != fingerprint_array(images[:3])


def test_binding_profile_of_a_pretrained_style_model(model):
    """Chapter 2's MODEL_ID path: a HF CLIP profiled on scenes rendered at its own resolution."""
    from labclip_lib.analysis import binding_profile
    from labclip_lib.organisms import build_data, organism_config

    data = build_data(organism_config("complete", 0, n_scenes=300, resolution=model.image_size))
    assert data.images.shape[1:] == (model.image_size, model.image_size, 3)
    prof = binding_profile(model, data, "test")
    assert set(prof) == {"binding", "image probe", "text probe", "ceiling"}
    assert all(0.0 <= v <= 1.0 for v in prof.values())
    assert prof == binding_profile(model, data, "test")  # deterministic
    with pytest.raises(ValueError, match="part"):
        binding_profile(model, data, "train")

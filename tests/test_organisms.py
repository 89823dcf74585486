"""Organisms: tokenizer, deterministic training, save/load round trip (tiny configs, CPU)."""

from __future__ import annotations

import json

import pytest
import torch

import labclip_lib.organisms as O
from labclip_lib.metrics import binding_accuracy
from labclip_lib.world import CaptionSpec

TINY = O.OrganismConfig(name="tiny", n_scenes=800, epochs=2, batch_size=64, embed_dim=32, seed=3)


@pytest.fixture(scope="module")
def tiny_data():
    return O.build_data(TINY)


def test_tokenizer_and_oov_message():
    tok = O.WordTokenizer()
    ids, lengths = tok(["red cube and blue sphere", "a cube, a sphere and a red cylinder"])
    assert ids.shape == (2, 9) and lengths.tolist() == [5, 9]
    assert ids[0, 5:].eq(0).all()
    with pytest.raises(ValueError, match=r"out-of-vocabulary word\(s\) \['pink'\]"):
        tok(["pink cube"])
    with pytest.raises(ValueError, match="empty list of captions"):
        tok([])


def test_config_key_and_round_trip():
    cfg = O.OrganismConfig(captions=((0.7, CaptionSpec(completeness=0.5)), (0.3, CaptionSpec())))
    assert O.OrganismConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.key != O.OrganismConfig().key
    with pytest.raises(ValueError, match="sum to 1"):
        O.OrganismConfig(captions=((0.5, CaptionSpec()),))


def test_training_is_deterministic_and_learns(tiny_data):
    m1, h1 = O.train_organism(TINY, tiny_data, progress=False)
    m2, h2 = O.train_organism(TINY, tiny_data, progress=False)
    assert h1.loss == h2.loss
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert h1.loss[-1] < h1.loss[0]


def test_hard_negatives_and_word_shuffle_change_training(tiny_data):
    base = O.train_organism(TINY, tiny_data, progress=False)[1].loss
    neg = O.train_organism(O.OrganismConfig(**{**TINY.__dict__, "hard_negatives": True}), tiny_data,
                           progress=False)[1].loss
    assert neg != base
    shuffled = O.build_data(O.OrganismConfig(**{**TINY.__dict__, "shuffle_words": True}))
    assert shuffled.train_texts != tiny_data.train_texts
    assert sorted(shuffled.train_texts[0].split()) == sorted(tiny_data.train_texts[0].split())


def test_get_organism_caches_and_reloads(tmp_path, tiny_data):
    path = O.get_organism(TINY, directory=tmp_path, progress=False)
    meta = json.loads((path / O.ORGANISM_FILE).read_text())
    assert set(meta["metrics"]) == {"train", "val", "test"}
    mtime = (path / O.WEIGHTS_FILE).stat().st_mtime_ns
    assert O.get_organism(TINY, directory=tmp_path, progress=False) == path
    assert (path / O.WEIGHTS_FILE).stat().st_mtime_ns == mtime  # cache hit, not re-trained
    model, meta2 = O.read_organism(path)
    tok = O.WordTokenizer()
    acc = O.binding_accuracy_2way(model, tok, tiny_data, "test")
    assert acc == pytest.approx(meta["metrics"]["test"], abs=1e-6)
    # a corrupted weight file is detected, never used
    raw = (path / O.WEIGHTS_FILE).read_bytes()
    (path / O.WEIGHTS_FILE).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="checksum"):
        O.read_organism(path)
    with pytest.warns(UserWarning, match="re-training"):
        O.get_organism(TINY, directory=tmp_path, progress=False)
    O.read_organism(path)


def test_unknown_organism_name():
    with pytest.raises(ValueError, match="unknown organism 'nope'"):
        O.get_organism("nope")


def test_binding_accuracy_ties_and_perfect():
    img = torch.eye(4)
    assert binding_accuracy(img, img, -img) == 1.0
    assert binding_accuracy(img, img + 1, img + 1) == 0.5  # bag of words: identical scores
    with pytest.raises(ValueError, match="NaN"):
        binding_accuracy(img, img * float("nan"), img)
    with pytest.raises(ValueError, match="embedding size"):
        binding_accuracy(img, torch.ones(4, 3), img)


def test_organism_model_interface_and_bad_inputs(tmp_path, tiny_data):
    path = O.get_organism(TINY, directory=tmp_path, progress=False)
    model = O.load_organism(path)
    assert model.dim == TINY.embed_dim and model.image_size == TINY.resolution
    img = model.encode_images(tiny_data.images[:10])
    txt = model.encode_texts(["red cube and blue sphere", "a cube"])
    assert img.shape == (10, 32) and txt.shape == (2, 32) and img.dtype == torch.float32
    assert torch.allclose(img.norm(dim=1), torch.ones(10), atol=1e-5)
    # batch-size invariance
    assert torch.allclose(model.encode_images(tiny_data.images[:10], batch_size=1), img, atol=1e-5)
    assert torch.allclose(model.encode_texts(["red cube and blue sphere", "a cube"], batch_size=1), txt, atol=1e-5)
    # the fingerprint names the exact weights
    assert model.fingerprint.endswith(json.loads((path / O.ORGANISM_FILE).read_text())["weights_sha256"])
    with pytest.raises(ValueError, match="out-of-vocabulary"):
        model.encode_texts(["a red pyramid"])
    with pytest.raises(ValueError, match="empty list of captions"):
        model.encode_texts([])
    with pytest.raises(ValueError, match="32 px"):
        model.encode_images(torch.zeros(2, 64, 64, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        model.encode_images(torch.zeros(2, 32, 32, 3))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        model.encode_images(torch.zeros(2, 32, 32, 4, dtype=torch.uint8))


def test_progress_bars_respect_tqdm_disable(monkeypatch):
    from labclip_lib.runtime import progress_bar

    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_bar(10, "x", show=True).disable
    monkeypatch.delenv("TQDM_DISABLE")
    assert not progress_bar(10, "x", show=True).disable and progress_bar(10, "x", show=False).disable


@pytest.mark.parametrize("change, match", [
    ({"batch_size": 0}, "batch_size must be at least 2"),
    ({"epochs": -1}, "epochs must be at least 1"),
    ({"resolution": 30}, "resolution must be a multiple of 8"),
    ({"resolution": 24}, "at least 32"),
    ({"lr": 0.0}, "lr must be positive"),
    ({"val": 0.6, "test": 0.5}, "val \\+ test < 1"),
    ({"n_objects": ()}, "n_objects must be a non-empty list"),
    ({"embed_dim": 0}, "embed_dim must be positive"),
    ({"seed": -3}, "seed must be >= 0"),
])
def test_bad_configs_fail_when_made_with_a_clear_message(change, match):
    with pytest.raises(ValueError, match=match):
        O.organism_config("complete", **change)


def test_a_config_needs_a_name():
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        O.OrganismConfig(name="")

"""Organisms: tokenizer, deterministic training, save/load round trip (tiny configs, CPU)."""

from __future__ import annotations

import json

import pytest
import torch

import labclip_lib.organisms as O
from labclip_lib.metrics import binding_accuracy
from labclip_lib.organisms.training import split_image_embeddings
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


@pytest.mark.parametrize("change, match", [
    ({"image_width": 0}, "image_width must be positive"),
    ({"text_encoder": "lstm"}, "text_encoder must be one of bigru, gru"),
    ({"image_pooling": "max"}, "image_pooling must be one of"),
    ({"stem_stride": 3}, "stem_stride must be 1 or 2"),
    ({"sizes": ("huge",)}, "sizes must be a non-empty list of small, large"),
    ({"sizes": ()}, "sizes must be a non-empty list"),
])
def test_bad_architecture_fields_fail_when_made(change, match):
    with pytest.raises(ValueError, match=match):
        O.organism_config("complete", **change)


def test_recipes_by_name():
    first, second = (O.organism_config("complete", 1, recipe=r) for r in ("first", "second"))
    assert O.recipe_name(first) == "first" and O.recipe_name(second) == "second"
    assert second == O.organism_config("complete", 1)  # the default recipe
    assert first.key != second.key and first.captions == second.captions and first.seed == 1
    assert O.recipe_name(O.organism_config("complete", epochs=9)) == "custom"
    assert first.image_width == 32 and first.text_encoder == "bigru" and first.sizes == ("small", "large")
    with pytest.raises(ValueError, match="unknown recipe 'third'"):
        O.organism_config("complete", recipe="third")
    converged = O.organism_config("complete", 1, recipe="converged")
    assert O.recipe_name(converged) == "converged" and converged.stopping == "val-loss"
    assert O.OrganismConfig.from_dict(json.loads(json.dumps(converged.to_dict()))) == converged
    rows = {r["field"]: r for r in O.recipe_rows()}
    assert rows["epochs"]["first"] == 6 and rows["epochs"]["second"] == second.epochs


@pytest.mark.parametrize("recipe", ["first", "second", "converged", "converged-bf16"])
def test_each_recipe_trains_deterministically(recipe):
    cfg = O.organism_config("complete", 2, recipe=recipe, n_scenes=300, epochs=2, batch_size=64)
    data = O.build_data(cfg, cache=False)
    (m1, h1), (m2, h2) = (O.train_organism(cfg, data, progress=False) for _ in range(2))
    assert h1.loss == h2.loss and O.weights_digest(m1) == O.weights_digest(m2)
    # and its network is the one the config names
    net = O.DualEncoder.from_config(cfg)
    assert [k for k in net.state_dict()] == [k for k in m1.state_dict()]


def test_channels_last_and_pool_order_are_layout_choices():
    torch.manual_seed(0)
    cfg = O.organism_config("complete", channels_last=False)
    a = O.DualEncoder.from_config(cfg).eval()
    b = O.DualEncoder.from_config(O.organism_config("complete", channels_last=True)).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(a.encode_image(x), b.encode_image(x), atol=1e-5)
    # the mean-pooled linear head adds up: the embedding of a batch mean is the mean embedding
    feats = a.image.features(x)
    assert torch.allclose(a.image.head(feats).mean(0), a.image.head(feats.mean(0, keepdim=True))[0], atol=1e-5)


def test_forward_text_encoder_ignores_padding():
    enc = O.DualEncoder.from_config(O.organism_config("complete")).eval()
    tok = O.WordTokenizer()
    ids, lengths = tok(["red cube and blue sphere", "a cube"])
    with torch.no_grad():
        both = enc.encode_text(ids, lengths)
        alone = enc.encode_text(*tok(["a cube"]))
    assert torch.allclose(both[1], alone[0], atol=1e-5)
    with torch.no_grad():  # word order matters: not a bag of words
        swapped = enc.encode_text(*tok(["blue cube and red sphere"]))
    assert not torch.allclose(both[0], swapped[0], atol=1e-4)


def test_bench_organisms_quick_runs(tmp_path, monkeypatch):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "speed" / "bench_organisms.py"
    env = {**__import__("os").environ, "LABCLIP_CACHE": str(tmp_path)}
    out = subprocess.run([sys.executable, str(script), "--quick", "--no-probes"], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "speed ratio (first / second recipe" in out.stdout
    assert out.stdout.count("seed 0:") == len(O.RECIPES)  # every recipe trained
    assert "share of GEMM" in out.stdout and "chosen on validation binding:" in out.stdout


def test_first_generation_metadata_loads_as_the_first_recipe():
    first = O.organism_config("natural", 1, recipe="first")
    old = first.to_dict()
    for k in ("sizes", "image_width", "batch_norm", "channels_last", "image_pooling", "stem_stride", "pool_first",
              "text_encoder", "text_hidden"):
        old.pop(k)  # a file written before these fields existed
    assert O.OrganismConfig.from_dict(old) == first


def test_a_batch_as_large_as_the_data_still_trains():
    """One optimiser step per epoch (a batch-size sweep on a tiny data set) trains at a constant rate."""
    config = O.OrganismConfig(name="one-step", n_scenes=200, epochs=1, batch_size=2048, embed_dim=8, image_width=4,
                              text_hidden=8)
    model, hist = O.train_organism(config, progress=False)
    assert len(hist.loss) == 1 and torch.isfinite(torch.tensor(hist.loss[0]))


def test_earlier_recipes_keep_their_cache_keys():
    """Fields added later are left out of the key at their default: cached organisms stay valid."""
    assert O.OrganismConfig().key == "b231fa862531f81a"
    assert O.organism_config("natural", 1, recipe="first").key == "2e062c28e671b089"
    assert "stopping" not in O.OrganismConfig().to_dict()
    assert O.organism_config("complete", recipe="converged").key != O.organism_config("complete", epochs=30).key


@pytest.mark.parametrize("change, match", [
    ({"stopping": "val-binding"}, "stopping must be one of fixed, val-loss"),
    ({"patience": 0}, "patience must be at least 1"),
    ({"precision": "fp16"}, "precision must be one of fp32, bf16"),
])
def test_bad_stopping_fields_fail_when_made(change, match):
    with pytest.raises(ValueError, match=match):
        O.organism_config("complete", recipe="converged", **change)


def test_plateau_stopping_on_a_synthetic_curve():
    stopper = O.PlateauStopping(patience=3, min_improvement=0.01)
    curve = [5.0, 4.0, 3.0, 3.2, 2.9, 3.0, 2.88, 2.89, 1.0]
    kept = []
    for epoch, loss in enumerate(curve, 1):
        if stopper.update(loss):
            kept.append(epoch)
        if stopper.stop:
            break
    # 3.2 is a plateau of one epoch (rate halved once, then progress again); after 2.9 three
    # epochs in a row do not beat it by 1% (2.88 beats it by less): stop at epoch 8, keep epoch 5,
    # never see the 1.0
    assert epoch == 8 and stopper.best_epoch == 5 and stopper.best == 2.9 and kept == [1, 2, 3, 5]
    assert stopper.scale == 0.5 ** 4  # halved on each of the four epochs without progress
    with pytest.raises(ValueError, match="not finite"):
        O.PlateauStopping().update(float("nan"))
    with pytest.raises(ValueError, match="patience must be at least 1"):
        O.PlateauStopping(patience=0)
    any_gain = O.PlateauStopping(patience=3, min_improvement=0.0)
    for loss in curve[:8]:
        any_gain.update(loss)
    assert any_gain.best_epoch == 7 and not any_gain.stop


def test_val_loss_stopping_keeps_the_best_epoch_and_holds_the_cap(tiny_data):
    cap = O.OrganismConfig(**{**TINY.__dict__, "stopping": "val-loss", "patience": 5, "epochs": 3})
    model, hist = O.train_organism(cap, tiny_data, progress=False)
    assert hist.epoch == [1, 2, 3] and hist.stopped == "cap"  # patience never ran out: the cap ends it
    assert hist.kept_epoch == 1 + min(range(3), key=hist.val_loss.__getitem__)
    tok = O.WordTokenizer(O.organism_vocabulary(cap))
    # the returned weights are the kept epoch's: their validation loss is the one recorded then
    assert O.validation_loss(model, tok, tiny_data, cap.batch_size) == pytest.approx(
        hist.val_loss[hist.kept_epoch - 1], rel=1e-5)
    assert len(hist.lr) == 3 and hist.lr[0] == pytest.approx(cap.lr)  # warm-up ends with epoch 1
    # patience 1 with a cap of 12: stops at the first epoch without progress
    short = O.OrganismConfig(**{**TINY.__dict__, "stopping": "val-loss", "patience": 1, "epochs": 12, "lr": 0.05})
    _, h = O.train_organism(short, tiny_data, progress=False)
    worse = [e for e in range(1, len(h.val_loss)) if h.val_loss[e] >= min(h.val_loss[:e]) * (1 - O.MIN_IMPROVEMENT)]
    assert h.stopped == "patience" and len(h.epoch) == worse[0] + 1 and len(h.epoch) < 12
    fixed = O.train_organism(TINY, tiny_data, progress=False)[1]
    assert fixed.stopped == "fixed" and fixed.kept_epoch == TINY.epochs and len(fixed.val_loss) == TINY.epochs


def test_organism_configs_nest_names_seeds_recipes_and_check_input():
    configs = O.organism_configs(["complete", "natural"], [0, 1], ("second", "converged"), {"n_objects": (4,)})
    assert [(c.name, c.seed, c.stopping) for c in configs[:4]] == [
        ("complete", 0, "fixed"), ("complete", 0, "val-loss"), ("complete", 1, "fixed"), ("complete", 1, "val-loss")]
    assert len(configs) == 8 and all(c.n_objects == (4,) for c in configs)
    assert configs[0] == O.organism_config("complete", 0, n_objects=(4,))
    with pytest.raises(ValueError, match="at least one"):
        O.organism_configs([], [0])


def test_training_cost_orders_the_long_organisms_first():
    base = O.organism_config("complete", 0)
    costs = [O.training_cost(c) for c in (base, O.organism_config("complete", 0, "converged"),
                                          O.organism_config("complete", 0, n_objects=(4,)),
                                          O.organism_config("complete", 0, resolution=64, stem_stride=2))]
    assert costs[1] == 15 * costs[0] and costs[2] == 2 * costs[0] and costs[3] == 2 * costs[0]
    clip = [O.training_cost(O.organism_config("complete", 0, "clip", patch_size=p)) for p in (8, 4)]
    assert costs[1] < clip[0] < clip[1] == 4 * clip[0]  # a transformer over more patches costs more


def test_get_organisms_in_two_workers_equals_one_by_one(tmp_path, monkeypatch):
    """Organisms trained side by side in worker processes (one thread each) are the ones
    trained alone with one thread, up to floating-point rounding (another process may align
    its buffers differently, and a reduction then rounds in another order)."""
    monkeypatch.setenv("LABCLIP_CACHE", str(tmp_path / "pool"))
    configs = [O.OrganismConfig(name="tiny", n_scenes=300, epochs=1, batch_size=64, embed_dim=16, seed=s)
               for s in (0, 1)]
    paths = O.get_organisms(configs + configs[:1], jobs=2)
    assert paths[0] == paths[2] and paths[0] != paths[1]
    monkeypatch.setenv("LABCLIP_CACHE", str(tmp_path / "alone"))
    from labclip_lib.runtime import one_core

    with one_core():
        alone = O.get_organism(configs[1], progress=False)
    pooled, other = O.read_organism(paths[1])[0].state_dict(), O.read_organism(alone)[0].state_dict()
    seed0 = O.read_organism(paths[0])[0].state_dict()
    for k, v in pooled.items():
        if v.is_floating_point():
            assert torch.allclose(v, other[k], rtol=1e-4, atol=1e-5), k
    assert any(not torch.allclose(v, seed0[k], rtol=1e-4, atol=1e-5) for k, v in pooled.items() if v.is_floating_point())


def test_bf16_recipe_runs_the_cnn_in_bfloat16_and_keeps_fp32_keys(tiny_data):
    """Mixed precision changes the CNN's arithmetic in training only: its convolutions run in
    bfloat16, the weights and the evaluation stay fp32, the fp32 configs keep their keys, and the
    curves match fp32 training to bfloat16's rounding (first-epoch loss within 2%)."""
    assert "precision" not in O.organism_config("complete", recipe="converged").to_dict()
    bf16 = O.OrganismConfig(**{**TINY.__dict__, "precision": "bf16"})
    assert bf16.key != TINY.key and O.OrganismConfig.from_dict(bf16.to_dict()) == bf16
    assert O.recipe_name(O.organism_config("complete", recipe="converged-bf16")) == "converged-bf16"
    dtypes = []
    original = torch.nn.Conv2d.forward
    try:
        torch.nn.Conv2d.forward = lambda self, x: dtypes.append((out := original(self, x)).dtype) or out
        model, hist = O.train_organism(bf16, tiny_data, progress=False)
    finally:
        torch.nn.Conv2d.forward = original
    assert torch.bfloat16 in dtypes  # training steps
    assert dtypes[-1] == torch.float32  # the last validation pass embeds in fp32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    fp32 = O.train_organism(TINY, tiny_data, progress=False)[1]
    assert hist.loss != fp32.loss
    assert abs(hist.loss[0] - fp32.loss[0]) < 0.02 * fp32.loss[0]


def test_validation_images_embedded_once_give_the_same_loss_and_binding(tiny_data):
    torch.manual_seed(0)
    tok = O.WordTokenizer(O.organism_vocabulary(TINY))
    model = O.build_network(TINY, len(tok.vocabulary))
    images = split_image_embeddings(model, tiny_data, "val", TINY.batch_size)
    assert images.shape == (len(tiny_data.split.val), TINY.embed_dim)
    # the loss's own batches: the same number to the bit, given the embeddings or not
    assert O.validation_loss(model, tok, tiny_data, TINY.batch_size, images=images) == \
        O.validation_loss(model, tok, tiny_data, TINY.batch_size)
    given = O.binding_accuracy_2way(model, tok, tiny_data, "val", images=images)
    assert given == pytest.approx(O.binding_accuracy_2way(model, tok, tiny_data, "val"), abs=1e-6)
    assert O.binding_accuracy_2way(model, tok, tiny_data, "val", limit=7, images=images) == pytest.approx(
        O.binding_accuracy_2way(model, tok, tiny_data, "val", limit=7), abs=1e-6)
    with pytest.raises(ValueError, match="rows"):
        O.validation_loss(model, tok, tiny_data, TINY.batch_size, images=images[:-1])
    with pytest.raises(ValueError, match="rows"):
        O.binding_accuracy_2way(model, tok, tiny_data, "val", images=images[:-1])


def test_images_embedded_in_small_batches_equal_one_large_batch():
    """``encode_images`` embeds ``IMAGE_BATCH`` images at a time (fast on CPU); in eval mode each
    image's embedding does not depend on the batch it is in, so the result equals one large batch."""
    cfg = O.organism_config("complete", 0, n_scenes=300)
    model, data = O.OrganismModel.untrained(cfg), O.build_data(cfg, cache=False)
    assert O.IMAGE_BATCH < len(data.images)
    small = model.encode_images(data.images)
    large = model.encode_images(data.images, batch_size=len(data.images))
    assert small.shape == (300, cfg.embed_dim)
    torch.testing.assert_close(small, large, rtol=0, atol=1e-6)

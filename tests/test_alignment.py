"""LABCLIP's linear map: fitting, losses, persistence (ours and the authors' format), errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labclip_lib.alignment import (
    AlignedModel,
    LinearAlignment,
    duplicate_ids,
    finetune_organism,
    hnb_loss,
    map_statistics,
    sb_loss,
)
from labclip_lib.metrics import binding_accuracy

K, M = 12, 6  # bag-of-words dims, binding dims
D = K + 2 * M


def planted(n: int, seed: int):
    """Embeddings where only a linear map separates a caption from its swap, and only hard
    negatives teach it.

    Images ``b + c``; captions ``b + P c`` and swaps ``b - P c`` (plus noise). ``b`` (the bag of
    words, shared by a caption and its swap, different for every scene) lives in the first K
    dims; the binding component ``c`` (the same for every positive: "the colours are bound as
    the caption says") lives in the next M dims of the image, while ``P`` writes it into the last
    M dims of the text, orthogonal to the image's, so the plain cosine ties. The planted map
    sends the last M dims onto the middle M. In a batch without hard negatives every caption
    carries ``+P c``, so the binding component gives no contrast: plain InfoNCE (SB) has
    (almost) nothing to learn it from.
    """
    g = torch.Generator().manual_seed(seed)
    b = torch.randn(n, K, generator=g)
    c = torch.full((n, M), 1.5 / M**0.5)
    z = torch.zeros(n, M)
    noise = lambda: 0.5 * torch.randn(n, D, generator=g)  # noqa: E731
    return torch.cat([b, c, z], 1) + noise(), torch.cat([b, z, c], 1) + noise(), torch.cat([b, z, -c], 1) + noise()


@pytest.fixture(scope="module")
def data():
    return planted(1500, 0), planted(400, 1), planted(600, 2)


@pytest.fixture(scope="module")
def hnb(data):
    train, val, _ = data
    return LinearAlignment("hnb", lr=0.01, epochs=8, batch_size=64, progress=False).fit(*train, validation=val)


def test_plain_cosine_is_bag_of_words_and_hnb_recovers_the_planted_map(data, hnb):
    _, _, test = data
    assert abs(binding_accuracy(*test) - 0.5) < 0.08
    assert hnb.score(*test) > 0.85
    # the learned map sends the caption's binding direction onto the image's (planted: 1)
    u = torch.full((M,), 1 / M**0.5)
    assert float(u @ hnb.weight_[K : K + M, K + M :] @ u) > 0.8
    assert hnb.history_.val_binding[-1] > hnb.history_.val_binding[0] + 0.3


def test_hnb_beats_sb(data, hnb):
    train, val, test = data
    sb = LinearAlignment("sb", lr=0.01, epochs=8, batch_size=64, progress=False).fit(*train, validation=val)
    assert hnb.score(*test) > sb.score(*test) + 0.15
    u = torch.full((M,), 1 / M**0.5)
    assert float(u @ sb.weight_[K : K + M, K + M :] @ u) < 0.5


def test_identity_start_equals_unaligned_scores(data):
    train, val, test = data
    a = LinearAlignment(epochs=0, progress=False).fit(*train, validation=val)
    assert torch.equal(a.weight_, torch.eye(D)) and a.scale_ == 1.0
    assert torch.equal(a.transform(test[1]), F.normalize(test[1], dim=1))
    assert a.score(*test) == binding_accuracy(*test)
    assert a.history_.val_binding[0] == binding_accuracy(*val)
    ident = LinearAlignment.identity(D)
    assert torch.equal(ident.similarity(test[0], test[1]), F.normalize(test[0], dim=1) @ F.normalize(test[1], dim=1).T)


def test_same_seed_same_map_other_seed_other_map(data):
    train, _, _ = data
    fit = lambda seed: LinearAlignment(epochs=2, batch_size=64, seed=seed, progress=False).fit(*train)  # noqa: E731
    a, b, c = fit(0), fit(0), fit(1)
    assert torch.equal(a.weight_, b.weight_) and a.log_scale_ == b.log_scale_
    assert not torch.equal(a.weight_, c.weight_)


def test_early_stopping_restores_the_best_validation_epoch(data):
    train, val, _ = data
    a = LinearAlignment(lr=0.05, epochs=12, batch_size=64, early_stopping=True, patience=2, progress=False)
    a.fit(*train, validation=val)
    h = a.history_
    assert h.best_epoch == int(np.argmax(h.val_binding))
    assert a.score(*val) == pytest.approx(max(h.val_binding))
    with pytest.raises(ValueError, match="needs validation"):
        LinearAlignment(early_stopping=True).fit(*train)


def test_one_map_recipe(data):
    """MapSettings is the book's one map recipe (the authors' settings) and what fit_map, fit_maps
    and the chapters pass to LinearAlignment, early stopping included when asked for."""
    from labclip_lib.alignment import MapSettings

    recipe = MapSettings()
    assert (recipe.epochs, recipe.lr, recipe.batch_size, recipe.early_stopping) == (50, 0.01, 128, False)
    short = MapSettings(epochs=12, lr=0.05, batch_size=64, early_stopping=True, patience=2)
    a = LinearAlignment(progress=False, **short.estimator_kwargs())
    a.fit(*data[0], validation=data[1])
    assert a.early_stopping and a.patience == 2 and a.history_.best_epoch == int(np.argmax(a.history_.val_binding))
    assert short.key() != MapSettings(epochs=12, lr=0.05, batch_size=64, early_stopping=True, patience=3).key()
    assert recipe.estimator_kwargs()["early_stopping"] is False
    with pytest.raises(ValueError, match="patience >= 1"):
        MapSettings(patience=0)


def test_hnb_loss_matches_the_formula_and_masks_false_negatives():
    g = torch.Generator().manual_seed(3)
    x, p, q = (F.normalize(torch.randn(4, 5, generator=g), dim=1) for _ in range(3))
    t = torch.tensor(0.7)
    s = math.exp(0.7)
    i2t = -(torch.log_softmax(s * torch.cat([x @ p.T, x @ q.T], 1), 1).diagonal()).mean()
    t2i = -(torch.log_softmax(s * p @ x.T, 1).diagonal()).mean()
    assert torch.allclose(hnb_loss(x, p, q, t), (i2t + t2i) / 2, atol=1e-6)
    assert torch.allclose(sb_loss(x, p, t), (-(torch.log_softmax(s * x @ p.T, 1).diagonal()).mean() + t2i) / 2,
                          atol=1e-6)
    # masking (image 0, caption 2) deletes that caption from image 0's softmax and image 0 from caption 2's
    fp = torch.zeros(4, 4, dtype=torch.bool)
    fp[0, 2] = True
    logits = s * torch.cat([x @ p.T, x @ q.T], 1)
    i2t_rows = [-(logits[i, i] - torch.logsumexp(logits[i, [c for c in range(8) if not (i == 0 and c == 2)]], 0))
                for i in range(4)]
    t2i_rows = [-(s * p[j] @ x[j] - torch.logsumexp(s * x[[r for r in range(4) if not (j == 2 and r == 0)]] @ p[j], 0))
                for j in range(4)]
    expected = (torch.stack(i2t_rows).mean() + torch.stack(t2i_rows).mean()) / 2
    assert torch.allclose(hnb_loss(x, p, q, t, false_pos=fp), expected, atol=1e-6)
    fn = torch.zeros(4, 4, dtype=torch.bool)
    fn[1, 3] = True  # caption 3's swap is image 1's caption: drop it from image 1's softmax
    i2t_rows[1] = -(logits[1, 1] - torch.logsumexp(logits[1, [c for c in range(8) if c != 4 + 3]], 0))
    t2i_plain = -(torch.log_softmax(s * p @ x.T, 1).diagonal()).mean()
    expected = (torch.stack([-(logits[i, i] - torch.logsumexp(logits[i], 0)) if i != 1 else i2t_rows[1]
                             for i in range(4)]).mean() + t2i_plain) / 2
    assert torch.allclose(hnb_loss(x, p, q, t, false_neg=fn), expected, atol=1e-6)


def test_duplicate_masking(data):
    train, _, _ = data
    # 20 distinct captions shared by 1500 images: many in-batch duplicates
    img, pos, neg = train
    g = torch.Generator().manual_seed(0)
    which = torch.randint(0, 20, (len(img),), generator=g)
    pos, neg = pos[which], neg[which]
    pid, nid = duplicate_ids(pos, neg)
    assert torch.equal(pid, duplicate_ids(pos)[0]) or len(torch.unique(pid)) == 20
    assert len(torch.unique(pid)) == 20 and not set(pid.tolist()) & set(nid.tolist())
    plain = LinearAlignment(epochs=1, batch_size=64, progress=False).fit(img, pos, neg)
    masked = LinearAlignment(epochs=1, batch_size=64, mask_duplicates=True, progress=False).fit(img, pos, neg)
    assert not torch.equal(plain.weight_, masked.weight_)
    assert masked.history_.loss[-1] < plain.history_.loss[-1]  # false negatives no longer in the softmax
    explicit = LinearAlignment(epochs=1, batch_size=64, mask_duplicates=True, progress=False).fit(
        img, pos, neg, pos_ids=which, neg_ids=which + 100)
    assert torch.allclose(explicit.weight_, masked.weight_)


def test_save_load_round_trip_and_corruption(tmp_path, hnb, data):
    _, _, test = data
    hnb.metadata_["model"] = "synthetic"
    path = hnb.save(tmp_path / "map")
    back = LinearAlignment.load(path)
    assert torch.equal(back.weight_, hnb.weight_) and back.log_scale_ == hnb.log_scale_
    assert torch.equal(back.transform(test[1]), hnb.transform(test[1]))
    assert back.metadata_["model"] == "synthetic" and back.loss == "hnb"
    assert back.history_.val_binding == hnb.history_.val_binding
    with pytest.raises(ValueError, match=f"{D} x {D}.*size 7"):
        LinearAlignment.load(path, dim=7)
    raw = (path / "alignment.safetensors").read_bytes()
    (path / "alignment.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="checksum"):
        LinearAlignment.load(path)


def test_authors_checkpoint_format(tmp_path):
    g = torch.Generator().manual_seed(5)
    w = torch.randn(16, 16, generator=g)
    torch.save({"t": torch.tensor(4.266), "linear.weight": w}, tmp_path / "labclip_coco_neg_B32.pt")
    a = LinearAlignment.load(tmp_path / "labclip_coco_neg_B32.pt", dim=16)
    x = torch.randn(9, 16, generator=g)
    assert torch.equal(a.transform(x), F.normalize(x @ w.T, dim=1))
    assert a.scale_ == pytest.approx(math.exp(4.266), rel=1e-6)
    # DataParallel prefixes are accepted; wrong size, extra keys, pickled objects are refused
    torch.save({"module.t": torch.zeros(1), "module.linear.weight": w}, tmp_path / "dp.pt")
    assert torch.equal(LinearAlignment.load(tmp_path / "dp.pt").weight_, w)
    with pytest.raises(ValueError, match="embeddings have size 512"):
        LinearAlignment.load(tmp_path / "labclip_coco_neg_B32.pt", dim=512)
    torch.save({"t": torch.zeros(()), "linear.weight": w, "linear.bias": torch.zeros(16)}, tmp_path / "bias.pt")
    with pytest.raises(ValueError, match="no bias"):
        LinearAlignment.load(tmp_path / "bias.pt")
    torch.save({"weight": w}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="missing"):
        LinearAlignment.load(tmp_path / "other.pt")
    torch.save({"t": torch.zeros(()), "linear.weight": torch.randn(4, 5)}, tmp_path / "rect.pt")
    with pytest.raises(ValueError, match="square"):
        LinearAlignment.load(tmp_path / "rect.pt")
    torch.save({"t": torch.zeros(()), "linear.weight": w, "obj": _Fake(w)}, tmp_path / "pickled.pt")
    with pytest.raises(ValueError, match="weights_only"):
        LinearAlignment.load(tmp_path / "pickled.pt")


def test_bad_inputs_give_clear_errors(data):
    (img, pos, neg), _, _ = data
    a = LinearAlignment(epochs=1, progress=False)
    with pytest.raises(ValueError, match="embedding size"):
        a.fit(img, pos[:, :-1], neg)
    with pytest.raises(ValueError, match="NaN"):
        bad = pos.clone()
        bad[3, 2] = float("nan")
        a.fit(img, bad, neg)
    with pytest.raises(ValueError, match="empty"):
        a.fit(img[:0], pos[:0], neg[:0])
    with pytest.raises(ValueError, match="negative"):
        a.fit(img, pos)
    with pytest.raises(ValueError, match="rows"):
        a.fit(img, pos[:-1], neg[:-1])
    with pytest.raises(ValueError, match="unknown loss"):
        LinearAlignment("triplet")
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearAlignment().transform(pos)
    fitted = LinearAlignment.identity(D)
    with pytest.raises(ValueError, match="embedding size"):
        fitted.transform(torch.randn(3, D + 1))


def test_map_statistics():
    st = map_statistics(LinearAlignment.identity(8))
    assert st["||A - I||_F"] == 0 and st["mean diagonal"] == 1 and st["condition number"] == 1
    a = LinearAlignment.identity(2)
    a._set(torch.tensor([[1.0, 2.0], [-2.0, 1.0]]), 0.0)
    st = map_statistics(a)
    assert st["||sym - I||_F"] == pytest.approx(0) and st["||antisym||_F"] == pytest.approx(math.sqrt(8))
    assert st["parameters"] == 4


class _Fake:
    """A model stand-in: images -> fixed rows, texts -> looked up rows."""

    name, dim, fingerprint = "fake", D, "fake:0"

    def __init__(self, table):
        self.table = table

    def encode_images(self, images, **kw):
        return F.normalize(torch.as_tensor(images, dtype=torch.float32), dim=1)

    def encode_texts(self, captions, **kw):
        return F.normalize(self.table[[int(c) for c in captions]], dim=1)


def test_aligned_model_maps_texts_only(data, hnb):
    _, _, (img, pos, neg) = data
    fake = _Fake(pos)
    aligned = AlignedModel(fake, hnb)
    assert torch.equal(aligned.encode_images(img[:5]), fake.encode_images(img[:5]))
    assert torch.allclose(aligned.encode_texts(["0", "3"]), hnb.transform(pos[[0, 3]]), atol=1e-6)
    assert aligned.fingerprint != fake.fingerprint and aligned.dim == D
    with pytest.raises(ValueError, match="dimensions"):
        AlignedModel(_Fake(pos), LinearAlignment.identity(D + 1))


def test_finetune_organism_trains_a_copy():
    from labclip_lib.organisms import OrganismModel, build_data, organism_config

    cfg = organism_config("complete", 0, n_scenes=400)
    data = build_data(cfg)
    base = OrganismModel.untrained(cfg)
    before = {k: v.clone() for k, v in base.network.state_dict().items()}
    res = finetune_organism(base, data, epochs=1, batch_size=64, progress=False)
    assert all(torch.equal(v, base.network.state_dict()[k]) for k, v in before.items())  # the original is untouched
    changed = res.model.model.network.state_dict()
    assert any(not torch.equal(v, changed[k]) for k, v in before.items() if v.is_floating_point())
    assert res.parameters == sum(p.numel() for p in base.network.parameters()) + cfg.embed_dim**2 + 1
    assert len(res.history["val_binding"]) == 1 and 0 <= res.history["val_binding"][0] <= 1
    emb = res.model.encode_texts(["red cube and blue sphere"])
    assert emb.shape == (1, cfg.embed_dim) and torch.allclose(emb.norm(dim=1), torch.ones(1))
    with pytest.raises(TypeError, match="organism"):
        finetune_organism(_Fake(torch.eye(D)), data)


def test_pretrained_path_end_to_end_with_a_tiny_hf_clip(tmp_path):
    """The chapter's pretrained path offline: a random HF CLIP, its pair embeddings, a fitted map,
    the aligned model scored through the same functions, the map saved and re-opened for it."""
    from labclip_lib.analysis import pair_embeddings
    from labclip_lib.models import load_model
    from labclip_lib.organisms import build_data, organism_config
    from labclip_lib.testing import make_tiny_clip

    model = load_model(make_tiny_clip(tmp_path / "clip"))
    data = build_data(organism_config("complete", 0, n_scenes=300, resolution=model.image_size))
    emb = {part: pair_embeddings(model, data, part) for part in ("train", "val", "test")}
    from labclip_lib.alignment import fit_alignment

    a = fit_alignment(emb, "hnb", epochs=2, batch_size=32, progress=False, metadata={"model": model.name})
    assert a.n_features_in_ == model.dim and len(a.history_.val_binding) == 3
    aligned = AlignedModel(model, a)
    test = emb["test"]
    direct = binding_accuracy(test["image"], aligned.encode_texts([data.eval_captions[i].text for i in test["index"]]),
                              aligned.encode_texts([data.eval_negatives[i].text for i in test["index"]]))
    assert direct == pytest.approx(a.score(test["image"], test["caption"], test["swap"]), abs=1e-6)
    back = LinearAlignment.load(a.save(tmp_path / "map"), dim=model.dim)
    assert back.metadata_["model"] == model.name
    with pytest.raises(ValueError, match="size"):
        LinearAlignment.load(tmp_path / "map", dim=model.dim + 1)


def test_effects_refit_and_plots(data, hnb):
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from labclip_lib.alignment import alignment_effects
    from labclip_lib.book import (
        alignment_refitter,
        plot_grouped_bars,
        plot_singular_values,
        refit_alignment,
    )

    train, val, test = data
    eff = alignment_effects(hnb, *test)
    assert eff["binding before"] == binding_accuracy(*test) and eff["binding after"] == hnb.score(*test)
    assert eff["margin after"] > eff["margin before"] + 0.05
    ident = alignment_effects(LinearAlignment.identity(D), *test)
    assert ident["cos(caption, swap) after"] == pytest.approx(ident["cos(caption, swap) before"], abs=1e-6)
    emb = {name: dict(zip(("image", "caption", "swap"), part)) for name, part in zip(("train", "val", "test"), data)}
    combos = [i % 30 for i in range(len(train[0]))]
    few = refit_alignment(emb, combos, n_combinations=3, epochs=1)
    assert few["combinations"] == 3 and few["rows"] == len(combos) // 10  # 3 of 30 equal-sized groups
    assert few["test before"] == binding_accuracy(*test)
    with pytest.raises(ValueError, match="between 1 and 30"):
        refit_alignment(emb, combos, n_combinations=31)
    table = pd.DataFrame([{"g": g, "h": h, "v": v} for g in "ab" for h in ("x", "y") for v in (0.4, 0.6)])
    ax = plot_grouped_bars(table, "v", "g", "h", {"chance": 0.5}, paper={"x": 0.9})
    assert len(ax.patches) == 4 and len(ax.lines) >= 1
    ax = plot_singular_values({"identity": LinearAlignment.identity(4), "fit": hnb})
    assert len(ax.lines) == 3 and np.allclose(ax.lines[0].get_ydata(), 1)
    box = alignment_refitter({"synthetic": emb}, {"synthetic": combos}, epochs=1)
    assert len(box.children) == 4


def test_training_step_loss_equals_the_paper_formulation():
    from labclip_lib.alignment.loss import _interleaved_loss

    g = torch.Generator().manual_seed(7)
    x, p, q = (F.normalize(torch.randn(6, 5, generator=g), dim=1) for _ in range(3))
    t = torch.tensor(1.3)
    z = torch.stack([p, q], 1).reshape(12, 5)  # [p0, n0, p1, n1, ...]
    assert torch.allclose(_interleaved_loss(x, z, t)[0], hnb_loss(x, p, q, t), atol=1e-6)
    assert torch.allclose(_interleaved_loss(x, p, t)[0], sb_loss(x, p, t), atol=1e-6)
    fp = torch.zeros(6, 6, dtype=torch.bool)
    fn = torch.zeros(6, 6, dtype=torch.bool)
    fp[0, 3] = fn[2, 4] = True
    mask = torch.stack([fp, fn], 2).reshape(6, 12)
    assert torch.allclose(_interleaved_loss(x, z, t, mask)[0], hnb_loss(x, p, q, t, fp, fn), atol=1e-6)


def _reference_loss(x, z, t, mask=None):
    """The loss through autograd's cross-entropies (what the written-out backward must match)."""
    b, stride = len(x), len(z) // len(x)
    logits = t.exp() * x @ z.T
    if mask is not None:
        logits = logits.masked_fill(mask, float("-inf"))
    target = torch.arange(b)
    return (F.cross_entropy(logits, target * stride) + F.cross_entropy(logits[:, ::stride].T, target)) / 2


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("log_scale, unit", [(0.7, False), (0.7, True), (5.3, True), (5.3, False)])
def test_written_out_backward_equals_autograd(stride, masked, log_scale, unit):
    """Both paths of the written-out softmax: shifted by the scale (small scales) and by the
    maxima (scale 200 on unit vectors underflows; on raw vectors overflows)."""
    from labclip_lib.alignment.loss import _interleaved_loss

    g = torch.Generator().manual_seed(3)
    b, d = 7, 5
    x = torch.randn(b, d, generator=g, dtype=torch.float64)
    z = torch.randn(stride * b, d, generator=g, dtype=torch.float64)
    if unit:
        x, z = F.normalize(x, dim=1), F.normalize(z, dim=1)
    x, z = x.requires_grad_(), z.requires_grad_()
    t = torch.tensor(log_scale, dtype=torch.float64, requires_grad=True)
    mask = None
    if masked:
        mask = torch.zeros(b, stride * b, dtype=torch.bool)
        mask[0, stride * 3] = mask[4, stride * 1] = mask[2, stride * 5 + stride - 1] = True
    ours = _interleaved_loss(x, z, t, mask)[0]
    grads = torch.autograd.grad(ours, (x, z, t))
    ref = _reference_loss(x, z, t, mask)
    ref_grads = torch.autograd.grad(ref, (x, z, t))
    assert torch.allclose(ours, ref, atol=1e-12)
    for a, r in zip(grads, ref_grads):
        assert torch.allclose(a, r, atol=1e-10)
    # the rank-1 flags: own caption first in its row
    _, correct = _interleaved_loss(x, z, t, mask)
    logits = (t.exp() * x @ z.T).detach()
    if mask is not None:
        logits = logits.masked_fill(mask, float("-inf"))
    assert torch.equal(correct, logits.argmax(1) == torch.arange(b) * stride)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("masked", [False, True])
def test_map_step_gradients_equal_autograd_through_the_normalisation(stride, masked):
    """The map's training step written out (map_gradients) against autograd through
    F.normalize(texts @ A.T) and the cross-entropy formulation: loss, rank-1 flags and both
    gradients; a caption row of zeros (its norm floored, as F.normalize does) included."""
    from labclip_lib.alignment.loss import map_gradients

    g = torch.Generator().manual_seed(11)
    b, d = 6, 5
    x = F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)
    texts = torch.randn(stride * b, d, generator=g, dtype=torch.float64)
    texts[3] = 0.0
    weight = (torch.eye(d, dtype=torch.float64) + 0.3 * torch.randn(d, d, generator=g, dtype=torch.float64))
    weight.requires_grad_()
    t = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    mask = None
    if masked:
        mask = torch.zeros(b, stride * b, dtype=torch.bool)
        mask[0, stride * 2] = mask[5, stride * 1] = True
    ref = _reference_loss(x, F.normalize(texts @ weight.T, dim=1), t, mask)
    ref_w, ref_t = torch.autograd.grad(ref, (weight, t))
    with torch.no_grad():
        loss, correct, g_w, g_t = map_gradients(x, texts, weight, t, mask)
    assert torch.allclose(loss, ref.detach(), atol=1e-12)
    assert torch.allclose(g_w, ref_w, atol=1e-10) and torch.allclose(g_t, ref_t, atol=1e-10)
    logits = t.detach().exp() * x @ F.normalize(texts @ weight.detach().T, dim=1).T
    if mask is not None:
        logits = logits.masked_fill(mask, float("-inf"))
    assert torch.equal(correct, logits.argmax(1) == torch.arange(b) * stride)


def test_far_negatives_are_floored_before_exp_without_changing_the_loss():
    """At a large scale most shifted logits fall where exp() gives subnormal floats (slow on
    CPUs): they are floored first. Loss and gradients stay those of the float64 formula, and the
    own caption's logit is never floored (a row whose positive lies below the floor)."""
    from labclip_lib.alignment.loss import _EXP_FLOOR, _interleaved_loss

    g = torch.Generator().manual_seed(5)
    b, d, log_scale = 16, 8, math.log(100.0)
    x = F.normalize(torch.randn(b, d, generator=g), dim=1)
    z = F.normalize(torch.randn(2 * b, d, generator=g), dim=1)
    z[2] = F.normalize(x[1] + 0.01 * torch.randn(d, generator=g), dim=0)  # row 1: a near-duplicate caption
    z[0] = -x[0]  # row 0's own caption: cosine -1, logit - scale = -200
    shifted = 100.0 * x @ z.T - 100.0
    assert (shifted < _EXP_FLOOR).float().mean() > 0.5  # most terms would be subnormal
    x, z = x.requires_grad_(), z.requires_grad_()
    t = torch.tensor(log_scale, requires_grad=True)
    ours = _interleaved_loss(x, z, t)[0]
    grads = torch.autograd.grad(ours, (x, z, t))
    x64, z64 = x.detach().double().requires_grad_(), z.detach().double().requires_grad_()
    t64 = torch.tensor(log_scale, dtype=torch.float64, requires_grad=True)
    ref = _reference_loss(x64, z64, t64, None)
    ref_grads = torch.autograd.grad(ref, (x64, z64, t64))
    assert math.isclose(float(ours.detach()), float(ref.detach()), rel_tol=1e-5)
    for a, r in zip(grads, ref_grads):
        assert torch.allclose(a.double(), r, rtol=1e-4, atol=1e-5)


def test_second_backward_is_refused():
    from labclip_lib.alignment.loss import _interleaved_loss

    x = torch.randn(4, 3)
    z = torch.randn(8, 3, requires_grad=True)
    loss = _interleaved_loss(x, z, torch.tensor(0.0))[0]
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="single backward"):
        loss.backward()


def test_binding_by_method_rows_and_before_after(data, hnb):
    from labclip_lib.alignment import METHODS, before_after, binding_by_method

    train, val, test = data
    emb = {("planted", 0): {name: dict(zip(("image", "caption", "swap"), part))
                            for name, part in zip(("train", "val", "test"), data)}}
    rows = binding_by_method(emb, {("planted", 0, "hnb"): hnb})  # no SB map: that method is skipped
    assert [r["method"] for r in rows] == list(METHODS[:2])
    assert rows[0]["binding"] == binding_accuracy(*test) and rows[1]["binding"] == hnb.score(*test)
    assert all(r["organism"] == "planted" and r["seed"] == 0 for r in rows)
    with pytest.raises(ValueError, match="no 'val2' part"):
        binding_by_method(emb, {}, part="val2")
    with pytest.raises(ValueError, match="needs data"):
        binding_by_method(emb, {}, finetuned={("planted", 0): None})

    class Encoder:  # a stand-in model: captions -> fixed embeddings
        dim = D

        def encode_texts(self, captions, **kwargs):
            return test[1][: len(captions)]

    variants = before_after(Encoder(), hnb)
    assert list(variants) == list(METHODS[:2])
    assert torch.allclose(variants[METHODS[1]].encode_texts(["a"] * 3), hnb.transform(test[1][:3]))

"""Linear probes on frozen embeddings: does an embedding know which colour goes with which shape?

Protocol (paper 1, uni-modal probing, per object): for each shape ``s``, take the scenes in
which ``s`` occurs exactly once, and predict that object's colour (8 classes, chance 1/8)
from the frozen image embedding, or from the frozen text embedding of the scene's caption.
Probes are trained on the train split and scored on held-out combinations.

Two reference lines besides chance: the *bag-of-words ceiling* (:func:`bag_of_words_ceiling`),
the best accuracy of any predictor that knows which colours and which shapes are in the
scene but not which goes with which; and the same probe on an untrained encoder.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ..metrics import check_embeddings
from ..runtime import parallel_map
from ..world.scenes import COLORS, SHAPES, Scene
from ..world.splits import Split

__all__ = ["LinearProbe", "object_color_labels", "object_color_sets", "bag_of_words_ceiling",
           "set_bag_of_words_ceiling", "ProbeResult", "probe_object_colors", "probe_object_colors_many"]

DEFAULT_CS = (0.01, 0.1, 1.0, 10.0)


class LinearProbe:
    """Multinomial logistic regression with its regularisation chosen on a validation set.

    scikit-learn style: :meth:`fit`, :meth:`predict`, :meth:`score`. Inputs are ``(N, D)``
    embeddings (standardised inside) and integer labels ``(N,)``.
    """

    def __init__(self, cs: Sequence[float] = DEFAULT_CS, max_iter: int = 2000, tol: float = 1e-3, seed: int = 0):
        if len(cs) == 0:
            raise ValueError("empty list of regularisation strengths")
        self.cs = tuple(float(c) for c in cs)
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed

    def _prep(self, x) -> np.ndarray:
        x = check_embeddings("probe input", torch.as_tensor(np.asarray(x)))
        return x.numpy().astype(np.float64)

    def fit(self, x_train, y_train, x_val=None, y_val=None, sample_weight=None) -> "LinearProbe":
        """Fit one probe per C on train; keep the best on val (or the middle C without val).

        ``sample_weight`` ``(N,)`` weights the training rows (soft labels are rows repeated
        with weights that sum to one per example: cross-entropy against the distribution).
        """

        xt, yt = self._prep(x_train), np.asarray(y_train)
        if len(xt) != len(yt):
            raise ValueError(f"got {len(xt)} embeddings but {len(yt)} labels")
        if len(np.unique(yt)) < 2:
            raise ValueError("training labels contain a single class; a probe needs at least two")
        self.classes_ = np.unique(yt)
        cands = self.cs if x_val is not None else (self.cs[len(self.cs) // 2],)
        # One BLAS thread: these problems are small, and with more threads L-BFGS spends most
        # of its time synchronising (7x slower on 2 cores, measured).
        with threadpool_limits(1):
            best = self._fit_candidates(cands, xt, yt, x_val, y_val, sample_weight)
        self.val_score_, self.C_, self.model_ = best
        self.train_score_ = float(self.model_.score(xt, yt, sample_weight=sample_weight))
        return self

    def _fit_candidates(self, cands, xt, yt, x_val, y_val, sample_weight):
        """A regularisation path: one scaler, then C in increasing order, each fit warm-started
        from the previous solution (about 5x fewer L-BFGS iterations than cold starts)."""

        scaler = StandardScaler().fit(xt)
        xs = scaler.transform(xt)
        lr = LogisticRegression(max_iter=self.max_iter, tol=self.tol, warm_start=True, random_state=self.seed)
        best = None
        for c in sorted(cands):
            lr.set_params(C=c)
            lr.fit(xs, yt, sample_weight=sample_weight)
            model = make_pipeline(scaler, copy.deepcopy(lr))
            val = self._val_score(model, x_val, y_val) if x_val is not None else float("nan")
            if best is None or val > best[0]:
                best = (val, c, model)
        return best

    def _val_score(self, model, x_val, y_val) -> float:
        """Validation accuracy; ``y_val`` may be label sets (exact-set match of the top-k)."""
        x = self._prep(x_val)
        if len(y_val) and isinstance(y_val[0], (tuple, list, frozenset, set)):
            return _set_accuracy(model.predict_proba(x), model.classes_, y_val)
        return float(model.score(x, np.asarray(y_val)))

    def predict(self, x) -> np.ndarray:
        """Most likely class per row: ``(N, D) -> (N,)``."""
        return self.model_.predict(self._prep(x))

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities ``(N, n_classes)`` in the order of ``classes_``."""
        return self.model_.predict_proba(self._prep(x))

    def predict_sets(self, x, sizes: Sequence[int]) -> list[tuple[int, ...]]:
        """The ``sizes[i]`` most likely classes of row ``i``, sorted."""
        proba = self.predict_proba(x)
        if len(sizes) != len(proba):
            raise ValueError(f"got {len(sizes)} set sizes for {len(proba)} rows")
        order = np.argsort(-proba, axis=1, kind="stable")
        return [tuple(sorted(int(self.classes_[j]) for j in order[i, :k])) for i, k in enumerate(sizes)]

    def score_sets(self, x, label_sets: Sequence[Sequence[int]]) -> float:
        """Exact-set accuracy: the top-``k`` classes equal the true set (``k`` its size)."""
        if len(label_sets) == 0:
            raise ValueError("cannot score a probe on an empty set")
        return _set_accuracy(self.predict_proba(x), self.classes_, label_sets)

    def save(self, path) -> None:
        """Save as safetensors (weights, scaler, classes) with the chosen C in the metadata."""

        if not hasattr(self, "model_"):
            raise ValueError("fit the probe before saving it")
        scaler, lr = self.model_[0], self.model_[1]
        arrays = {"coef": lr.coef_, "intercept": lr.intercept_, "mean": scaler.mean_, "scale": scaler.scale_,
                  "classes": np.asarray(self.classes_, dtype=np.int64)}
        # safetensors writes the raw buffer: sklearn's coef_ is Fortran-ordered, so copy to C order
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path),
                  metadata={"C": repr(self.C_), "val_score": repr(self.val_score_), "train_score": repr(self.train_score_)})

    @classmethod
    def load(cls, path) -> "LinearProbe":
        """Load a probe written by :meth:`save` (no unpickling)."""

        with safe_open(str(path), framework="numpy") as f:
            t = {k: f.get_tensor(k) for k in f.keys()}
            meta = f.metadata() or {}
        probe = cls(cs=(float(meta.get("C", 1.0)),))
        scaler, lr = StandardScaler(), LogisticRegression()
        scaler.mean_, scaler.scale_ = t["mean"], t["scale"]
        scaler.var_, scaler.n_features_in_ = t["scale"] ** 2, len(t["mean"])
        lr.coef_, lr.intercept_, lr.classes_ = t["coef"], t["intercept"], t["classes"]
        lr.n_features_in_ = len(t["mean"])
        probe.model_, probe.classes_ = make_pipeline(scaler, lr), t["classes"]
        probe.C_ = float(meta.get("C", "nan"))
        probe.val_score_ = float(meta.get("val_score", "nan"))
        probe.train_score_ = float(meta.get("train_score", "nan"))
        return probe

    def score(self, x, y) -> float:
        """Accuracy on ``(x, y)``."""
        y = np.asarray(y)
        if len(y) == 0:
            raise ValueError("cannot score a probe on an empty set")
        return float(np.mean(self.predict(x) == y))

    @property
    def coef_(self) -> np.ndarray:
        """Weights in the (unstandardised) embedding space: ``(n_classes, D)``."""
        scaler, lr = self.model_[0], self.model_[1]
        return lr.coef_ / scaler.scale_[None, :]


def _set_accuracy(proba: np.ndarray, classes: np.ndarray, label_sets) -> float:
    order = np.argsort(-proba, axis=1, kind="stable")
    hits = [tuple(sorted(int(classes[j]) for j in order[i, :len(set(t))])) == tuple(sorted(set(t)))
            for i, t in enumerate(label_sets)]
    return float(np.mean(hits))


def object_color_labels(scenes: Sequence[Scene], shape: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the scenes where ``shape`` occurs exactly once, and that object's colour index."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    idx, lab = [], []
    for i, s in enumerate(scenes):
        objs = [o for o in s.objects if o.shape == shape]
        if len(objs) == 1:
            idx.append(i)
            lab.append(COLORS.index(objs[0].color))
    return np.array(idx, dtype=int), np.array(lab, dtype=int)


def object_color_sets(scenes: Sequence[Scene], shape: str) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Indices of the scenes containing ``shape`` (once or more) and the set of its colours.

    The multi-object protocol: when a shape occurs several times, the label is the set of
    colours of its instances (sorted colour indices).
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    idx, sets = [], []
    for i, s in enumerate(scenes):
        cols = sorted({COLORS.index(o.color) for o in s.objects if o.shape == shape})
        if cols:
            idx.append(i)
            sets.append(tuple(cols))
    return np.array(idx, dtype=int), sets


def set_bag_of_words_ceiling(scenes: Sequence[Scene], shape: str, n_samples: int = 400, seed: int = 0) -> float:
    """Bag-of-words ceiling of the exact-set protocol (:func:`object_color_sets`).

    A predictor that knows the multisets of colours and shapes and the size ``k`` of the true
    colour set, but not the pairing, scores at best ``max_S P(S | bags, k)`` on a scene: every
    pairing of the colours with the objects is equally likely. Estimated per scene by
    ``n_samples`` random pairings (exact formula when ``shape`` occurs once).
    """
    idx, sets = object_color_sets(scenes, shape)
    if len(idx) == 0:
        raise ValueError(f"no scene contains a {shape}")
    gen = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    vals = []
    for i, true in zip(idx, sets):
        colors = [o.color for o in scenes[i].objects]
        is_shape = np.array([o.shape == shape for o in scenes[i].objects])
        if is_shape.sum() == 1:
            vals.append(max(colors.count(c) for c in set(colors)) / len(colors))
            continue
        counts: dict[tuple, int] = {}
        for _ in range(n_samples):
            perm = gen.permutation(len(colors))
            got = tuple(sorted({colors[j] for j in perm[is_shape]}))
            if len(got) == len(true):
                counts[got] = counts.get(got, 0) + 1
        total = sum(counts.values())
        vals.append(max(counts.values()) / total if total else 1.0)
    return float(np.mean(vals))


def bag_of_words_ceiling(scenes: Sequence[Scene], shape: str) -> float:
    """Best expected accuracy of a bag-of-words predictor of the colour of ``shape``.

    The predictor knows the multiset of colours and of shapes in each scene, not the pairing.
    Scenes are sampled with independent attributes, so given the bags every pairing is
    equally likely and the chance that the (single) ``shape`` object has colour ``c`` is
    ``count(c) / n``: the best guess scores ``max_c count(c) / n``. Averaged over the scenes
    where ``shape`` occurs once (two objects, 8 colours: 1/8 + 7/8 * 1/2 = 0.5625).
    """
    idx, _ = object_color_labels(scenes, shape)
    if len(idx) == 0:
        raise ValueError(f"no scene contains exactly one {shape}")
    vals = []
    for i in idx:
        colors = [o.color for o in scenes[i].objects]
        vals.append(max(colors.count(c) for c in set(colors)) / len(colors))
    return float(np.mean(vals))


@dataclass
class ProbeResult:
    """One shape's colour probe: accuracies per split, the ceiling on test, test predictions."""

    shape: str
    train: float
    val: float
    test: float
    ceiling: float
    n_test: int
    probe: LinearProbe
    test_index: np.ndarray  # scene indices of the test rows
    test_true: list  # colour index (or colour-index set) per test row
    test_pred: list


def _fit_shape_probe(x: np.ndarray, labels: list, pick: dict[str, np.ndarray], multi: bool, seed: int):
    """One shape's probe on its rows ``x``: returns ``(probe, test predictions, test accuracy)``.
    A module-level function, so that worker processes can run it."""
    lab = {k: [labels[j] for j in pick[k]] for k in pick}
    if multi:  # soft targets as weighted rows
        rows = [(j, c, 1.0 / len(labels[j])) for j in pick["train"] for c in labels[j]]
        xt = x[[r[0] for r in rows]]
        probe = LinearProbe(seed=seed).fit(xt, [r[1] for r in rows], x[pick["val"]], lab["val"],
                                           sample_weight=np.array([r[2] for r in rows]))
        probe.train_score_ = probe.score_sets(x[pick["train"]], lab["train"])
        pred = probe.predict_sets(x[pick["test"]], [len(t) for t in lab["test"]])
        test = float(np.mean([p == t for p, t in zip(pred, lab["test"])]))
    else:
        probe = LinearProbe(seed=seed).fit(x[pick["train"]], lab["train"], x[pick["val"]], lab["val"])
        pred = [int(v) for v in probe.predict(x[pick["test"]])]
        test = float(np.mean(np.array(pred) == np.array(lab["test"])))
    return probe, pred, test


def probe_object_colors_many(embs: Sequence[torch.Tensor], scenes: Sequence[Scene], split: Split,
                             shapes: Sequence[str] = SHAPES, seed: int = 0, multi: bool = False,
                             n_jobs: int | None = None) -> list[list[ProbeResult]]:
    """:func:`probe_object_colors` for several embeddings of the same scenes (e.g. image and
    text), all probes fitted in parallel (``n_jobs`` processes, see
    :func:`~labclip_lib.runtime.parallel_map`): each probe runs on one core, so two cores fit
    two at a time. Same results as one by one."""
    embs = [check_embeddings("embeddings", e) for e in embs]
    for e in embs:
        if len(e) != len(scenes):
            raise ValueError(f"got {len(e)} embeddings for {len(scenes)} scenes")
    prepared, tasks = [], []
    for shape in shapes:
        if multi:
            idx, labels = object_color_sets(scenes, shape)
        else:
            idx, lab = object_color_labels(scenes, shape)
            labels = [int(v) for v in lab]
        where = {k: np.isin(idx, split[k]) for k in ("train", "val", "test")}
        for k, m in where.items():
            if not m.any():
                raise ValueError(f"the {k} split has no scene with {'a' if multi else 'exactly one'} {shape}")
        pick = {k: np.flatnonzero(m) for k, m in where.items()}
        test_scenes = [scenes[i] for i in idx[where["test"]]]
        ceiling = (set_bag_of_words_ceiling(test_scenes, shape, seed=seed) if multi
                   else bag_of_words_ceiling(test_scenes, shape))
        prepared.append((shape, idx[where["test"]], [labels[j] for j in pick["test"]], ceiling, len(pick["test"])))
        tasks += [(e[idx].numpy(), labels, pick, multi, seed) for e in embs]
    fits = parallel_map(_fit_shape_probe, tasks, n_jobs=n_jobs)
    out: list[list[ProbeResult]] = [[] for _ in embs]
    for k, (shape, test_index, test_true, ceiling, n_test) in enumerate(prepared):
        for m in range(len(embs)):
            probe, pred, test = fits[k * len(embs) + m]
            out[m].append(ProbeResult(shape, probe.train_score_, probe.val_score_, test, ceiling, n_test, probe,
                                      test_index, test_true, pred))
    return out


def probe_object_colors(emb: torch.Tensor, scenes: Sequence[Scene], split: Split,
                        shapes: Sequence[str] = SHAPES, seed: int = 0, multi: bool = False) -> list[ProbeResult]:
    """Per-shape colour probes on ``emb`` ``(N, D)`` (one row per scene), scored per split.

    ``multi=False``: scenes where the shape occurs once, 8-way accuracy (chance 1/8).
    ``multi=True``: scenes where it occurs at least once, label = set of its colours, trained
    with the set as a uniform soft target and scored by exact-set match of the top-``k``.
    The shapes' probes are fitted in parallel (:func:`probe_object_colors_many`).
    """
    return probe_object_colors_many([emb], scenes, split, shapes, seed=seed, multi=multi)[0]

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

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .metrics import check_embeddings
from .scenes import COLORS, SHAPES, Scene
from .splits import Split

__all__ = ["LinearProbe", "object_color_labels", "bag_of_words_ceiling", "probe_object_colors"]

DEFAULT_CS = (0.01, 0.1, 1.0, 10.0)


class LinearProbe:
    """Multinomial logistic regression with its regularisation chosen on a validation set.

    scikit-learn style: :meth:`fit`, :meth:`predict`, :meth:`score`. Inputs are ``(N, D)``
    embeddings (standardised inside) and integer labels ``(N,)``.
    """

    def __init__(self, cs: Sequence[float] = DEFAULT_CS, max_iter: int = 2000, seed: int = 0):
        if len(cs) == 0:
            raise ValueError("empty list of regularisation strengths")
        self.cs = tuple(float(c) for c in cs)
        self.max_iter = max_iter
        self.seed = seed

    def _prep(self, x) -> np.ndarray:
        x = check_embeddings("probe input", torch.as_tensor(np.asarray(x)))
        return x.numpy().astype(np.float64)

    def fit(self, x_train, y_train, x_val=None, y_val=None) -> "LinearProbe":
        """Fit one probe per C on train; keep the best on val (or the middle C without val)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        xt, yt = self._prep(x_train), np.asarray(y_train)
        if len(xt) != len(yt):
            raise ValueError(f"got {len(xt)} embeddings but {len(yt)} labels")
        if len(np.unique(yt)) < 2:
            raise ValueError("training labels contain a single class; a probe needs at least two")
        self.classes_ = np.unique(yt)
        cands = self.cs if x_val is not None else (self.cs[len(self.cs) // 2],)
        best = None
        for c in cands:
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=self.max_iter,
                                                                       random_state=self.seed))
            model.fit(xt, yt)
            val = float(model.score(self._prep(x_val), np.asarray(y_val))) if x_val is not None else float("nan")
            if best is None or val > best[0]:
                best = (val, c, model)
        self.val_score_, self.C_, self.model_ = best
        self.train_score_ = float(self.model_.score(xt, yt))
        return self

    def predict(self, x) -> np.ndarray:
        return self.model_.predict(self._prep(x))

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
    shape: str
    train: float
    val: float
    test: float
    ceiling: float
    n_test: int
    probe: LinearProbe


def probe_object_colors(emb: torch.Tensor, scenes: Sequence[Scene], split: Split,
                        shapes: Sequence[str] = SHAPES, seed: int = 0) -> list[ProbeResult]:
    """Per-shape colour probes on ``emb`` ``(N, D)`` (one row per scene), scored per split."""
    emb = check_embeddings("embeddings", emb)
    if len(emb) != len(scenes):
        raise ValueError(f"got {len(emb)} embeddings for {len(scenes)} scenes")
    out = []
    for shape in shapes:
        idx, lab = object_color_labels(scenes, shape)
        where = {k: np.isin(idx, split[k]) for k in ("train", "val", "test")}
        for k, m in where.items():
            if not m.any():
                raise ValueError(f"the {k} split has no scene with exactly one {shape}")
        x = emb[idx]
        probe = LinearProbe(seed=seed).fit(x[where["train"]], lab[where["train"]], x[where["val"]],
                                           lab[where["val"]])
        test_scenes = [scenes[i] for i in idx[where["test"]]]
        out.append(ProbeResult(shape, probe.train_score_, probe.val_score_,
                               probe.score(x[where["test"]], lab[where["test"]]),
                               bag_of_words_ceiling(test_scenes, shape), int(where["test"].sum()), probe))
    return out

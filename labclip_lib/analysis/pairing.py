"""What a text-side map can reach: the two-way pairing probe on the image embedding (chapters 6, 9).

A LABCLIP map ``A`` acts on text only, so it decides a scene against its attribute swap by
comparing ``f(I)·A g(caption)`` with ``f(I)·A g(swap)``: up to the normalisation of the mapped
captions, the sign of ``f(I)ᵀ A (g(caption) - g(swap))``, a bilinear form in the frozen image
embedding ``f(I)`` and the caption pair. The *pairing probe* learns the best such form directly
for the two-way decision: ``f(I)ᵀ W z``, where the pair's code ``z`` holds

* the caption's (colour, shape) conjunctions minus the swap's (C = 8 colours x 3 shapes entries:
  ``+1`` for red cube and blue sphere, ``-1`` for blue cube and red sphere): an ideal text side
  that writes a caption as its bag of conjunctions, and
* the frozen text embeddings' difference ``g(caption) - g(swap)`` (optional): the text side the
  map actually gets, so every map's decision is a special case (``W = A`` on this block).

It is trained on the train combinations (logistic loss, no intercept and no centring, so the
swapped pair gets exactly the opposite score), its L2 penalty chosen on val, and scored on held-out
combinations as two-way accuracy (chance 0.5). Trained for the decision itself, it is the
reference a map fitted with the LABCLIP loss can at best reach (an estimate, not a theorem: a
different objective and finite data): a map well below it leaves pairing that the frozen image
embedding holds unread; a map at it is limited by the embeddings.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..embed.protocol import EmbeddingModel
from ..metrics import check_embeddings
from ..runtime import torch_threads
from ..world.captions import Caption
from ..world.scenes import COLORS, SHAPES
from .geometry import pair_embeddings

__all__ = ["CONJUNCTIONS", "conjunction_difference", "PairingProbe", "pairing_bound", "pairing_bounds"]

#: the (colour, shape) conjunctions a caption can state, in the order of ``e``'s entries
CONJUNCTIONS: tuple[tuple[str, str], ...] = tuple((c, s) for c in COLORS for s in SHAPES)
_INDEX = {cs: k for k, cs in enumerate(CONJUNCTIONS)}
DEFAULT_PENALTIES = (1e-3, 1e-2, 1e-1, 1.0)


def conjunction_difference(captions: Sequence[Caption], swaps: Sequence[Caption]) -> torch.Tensor:
    """``(N, C)``: each caption's (colour, shape) conjunctions minus its swap's.

    Raises ``ValueError`` for an empty list, lists of different lengths, a missing swap, a
    mention without a colour, an unknown colour or shape, or a swap that states the same
    conjunctions as its caption (no binding to decide).
    """
    if len(captions) == 0:
        raise ValueError("no captions to encode")
    if len(captions) != len(swaps):
        raise ValueError(f"{len(captions)} captions but {len(swaps)} swaps")
    out = np.zeros((len(captions), len(CONJUNCTIONS)))  # filled in numpy: a tensor's items are slow to write
    for i, (cap, swap) in enumerate(zip(captions, swaps)):
        if swap is None:
            raise ValueError(f"caption {i} ({cap.text!r}) has no swap; leave such scenes out")
        row = out[i]
        for sign, c in ((1.0, cap), (-1.0, swap)):
            for colour, shape in c.mentions:
                k = _INDEX.get((colour, shape))
                if k is None:
                    raise ValueError(f"caption {c.text!r}: no conjunction for colour {colour!r} and shape "
                                     f"{shape!r} (colours: {', '.join(COLORS)}; shapes: {', '.join(SHAPES)})")
                row[k] += sign
    same = ~out.any(axis=1)
    if same.any():
        i = int(np.flatnonzero(same)[0])
        raise ValueError(f"caption {captions[i].text!r} and its swap {swaps[i].text!r} state the same conjunctions")
    return torch.from_numpy(out)


class PairingProbe:
    """Bilinear two-way probe ``score = f(I)ᵀ W z`` with its L2 penalty chosen on validation.

    scikit-learn habits: :meth:`fit`, :meth:`decision_function`, :meth:`score`. ``image``:
    ``(N, D)`` embeddings (L2-normalised inside, then scaled by ``sqrt(D)``); ``difference``:
    ``(N, K)`` codes of the caption pairs, e.g. :func:`conjunction_difference` (each column
    divided by its root mean square on the training rows, not centred, so ``-z`` still scores
    ``-score``). Full-batch L-BFGS in float32 on one thread (to a gradient norm of
    ``tolerance``), so the same inputs give the same probe.
    """

    def __init__(self, penalties: Sequence[float] = DEFAULT_PENALTIES, max_iter: int = 200, tolerance: float = 1e-5):
        if len(penalties) == 0 or any(p < 0 for p in penalties):
            raise ValueError(f"penalties must be a non-empty list of values >= 0, got {penalties!r}")
        self.penalties = tuple(float(p) for p in penalties)
        self.max_iter, self.tolerance = max_iter, tolerance

    def _features(self, image, difference) -> tuple[torch.Tensor, torch.Tensor]:
        x = check_embeddings("image embeddings", torch.as_tensor(image)).to(torch.float32)
        e = torch.as_tensor(difference, dtype=torch.float32)
        if e.ndim != 2 or len(e) != len(x):
            raise ValueError(f"difference must be (N, K) with N = {len(x)} rows, got shape {tuple(e.shape)}")
        if not torch.isfinite(e).all():
            raise ValueError("difference has NaN or infinite entries")
        if hasattr(self, "code_scale_"):
            if e.shape[1] != len(self.code_scale_):
                raise ValueError(f"fitted on codes of {len(self.code_scale_)} entries, got {e.shape[1]}")
            e = e / self.code_scale_
        return F.normalize(x, dim=1) * x.shape[1] ** 0.5, e

    def _fit_one(self, x: torch.Tensor, e: torch.Tensor, penalty: float, start: torch.Tensor | None = None
                 ) -> torch.Tensor:
        w = (torch.zeros(x.shape[1], e.shape[1], dtype=x.dtype) if start is None else start.clone())
        w.requires_grad_(True)
        opt = torch.optim.LBFGS([w], max_iter=self.max_iter, tolerance_grad=self.tolerance,
                                tolerance_change=self.tolerance * 1e-2, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.softplus(-((x @ w) * e).sum(1)).mean() + penalty * (w * w).sum()
            loss.backward()
            return loss

        with torch_threads(1):  # small products: one thread is fastest
            opt.step(closure)
        return w.detach()

    def fit(self, image, difference, image_val=None, difference_val=None) -> "PairingProbe":
        """Fit one probe per penalty on train and keep the best on val (without val: the middle one)."""
        for attr in ("code_scale_", "weight_"):
            self.__dict__.pop(attr, None)
        x, e = self._features(image, difference)
        rms = e.pow(2).mean(0).sqrt()
        self.code_scale_ = torch.where(rms > 0, rms, torch.ones_like(rms))
        e = e / self.code_scale_
        if image_val is None:
            self.penalty_ = self.penalties[len(self.penalties) // 2]
            self.weight_ = self._fit_one(x, e, self.penalty_)
            return self
        xv, ev = self._features(image_val, difference_val)
        best, w = None, None
        # the strongest penalty first, each fit starting from the last one's solution (a warm
        # start: same optimum, fewer steps); a tie keeps the weaker penalty
        for p in sorted(self.penalties, reverse=True):
            w = self._fit_one(x, e, p, w)
            acc = self._accuracy(((xv @ w) * ev).sum(1))
            if best is None or acc >= best[0]:
                best = (acc, p, w)
        self.val_score_, self.penalty_, self.weight_ = best
        return self

    def decision_function(self, image, difference) -> torch.Tensor:
        """``(N,)``: positive when the probe prefers the caption to its swap."""
        if not hasattr(self, "weight_"):
            raise ValueError("PairingProbe is not fitted; call fit first")
        x, e = self._features(image, difference)
        if x.shape[1] != self.weight_.shape[0]:
            raise ValueError(f"fitted on {self.weight_.shape[0]}-dim embeddings, got {x.shape[1]}")
        return ((x @ self.weight_) * e).sum(1)

    @staticmethod
    def _accuracy(z: torch.Tensor, tie_tol: float = 1e-6) -> float:
        return float(((z > tie_tol).double() + 0.5 * (z.abs() <= tie_tol).double()).mean())

    def score(self, image, difference) -> float:
        """Two-way accuracy (a tie counts as half; chance 0.5)."""
        return self._accuracy(self.decision_function(image, difference))


def _part(model: EmbeddingModel, data, part: str, embeddings: dict | None, text: bool
          ) -> tuple[torch.Tensor, torch.Tensor]:
    emb = embeddings[part] if embeddings is not None and part in embeddings else pair_embeddings(model, data, part)
    idx = emb["index"]
    code = conjunction_difference([data.eval_captions[i] for i in idx], [data.eval_negatives[i] for i in idx])
    if text:
        diff = torch.as_tensor(emb["caption"], dtype=torch.float64) - torch.as_tensor(emb["swap"], dtype=torch.float64)
        code = torch.cat([code, diff], dim=1)
    return emb["image"], code


def pairing_bound(model: EmbeddingModel, data, part: str = "test", embeddings: dict | None = None,
                  text: bool = True) -> float:
    """Two-way pairing-probe accuracy of ``model``'s image embedding on split ``part`` of ``data``
    (an :class:`~labclip_lib.organisms.OrganismData`): trained on train, penalty chosen on val.
    What a text-side map can at best recover (module docstring). ``text``: the pair's code holds
    the frozen text embeddings' difference besides its conjunctions (``False``: conjunctions
    only, an ideal text side). ``embeddings``: the
    :func:`~labclip_lib.analysis.geometry.pair_embeddings` of some splits by name, when the
    caller has them already.

    Used in chapters 6, 9.
    """
    if part not in ("val", "test"):
        raise ValueError(f"part must be 'val' or 'test', got {part!r}")
    probe = PairingProbe().fit(*_part(model, data, "train", embeddings, text),
                               *_part(model, data, "val", embeddings, text))
    return probe.score(*_part(model, data, part, embeddings, text))


def pairing_bounds(emb: dict, data: dict, part: str = "test") -> list[dict]:
    """:func:`pairing_bound` of every organism and seed from embeddings it already has:
    ``emb`` ``{(name, seed): {"train", "val", part: pair embeddings}}``, ``data`` ``{seed:
    OrganismData}``. Rows ``{"organism", "seed", "pairing bound"}``. Used in chapter 6."""
    if not emb:
        raise ValueError("no embeddings to probe")
    return [{"organism": name, "seed": seed, "pairing bound": pairing_bound(None, data[seed], part, embeddings=e)}
            for (name, seed), e in emb.items()]

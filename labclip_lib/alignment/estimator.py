"""LABCLIP: a linear map on frozen text embeddings that restores binding (paper 1's fix).

The method: keep both encoders frozen, learn ``A`` (``D x D``, no bias, identity at start)
and a temperature ``t`` (scale ``exp(t)``, starting at 1), score a caption ``c`` against an
image ``x`` by ``cos(x, normalize(A c))``. ``A`` is trained on cached embeddings with the
*hard-negative batch* loss (HNB): every image is contrasted against the batch's ``B``
positive captions **and** their ``B`` attribute-swapped captions (``B x 2B`` logits), and
every positive caption against the ``B`` images; the two cross-entropies are averaged. The
ablation SB is plain symmetric InfoNCE over ``B x B`` (no negatives).

:class:`LinearAlignment` is the estimator (``fit`` / ``transform`` / ``score`` / ``save`` /
``load``); it also opens the authors' released checkpoints (a state dict with ``t`` and
``linear.weight``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..metrics import binding_accuracy, check_embeddings
from ..runtime import get_device, progress_bar, torch_threads
from ..storage import read_directory, save_directory
from .loss import LOSSES, duplicate_ids, hnb_loss, map_gradients, sb_loss

__all__ = ["ALIGNMENT_FORMAT", "AlignmentHistory", "LinearAlignment", "MapSettings", "map_statistics", "triplet",
           "fit_alignment"]

ALIGNMENT_FORMAT = "labclip-alignment/1"
WEIGHTS_FILE = "alignment.safetensors"
META_FILE = "alignment.json"


def _check_ids(name: str, ids, n: int) -> torch.Tensor:
    ids = torch.as_tensor(np.asarray(ids) if not isinstance(ids, torch.Tensor) else ids)
    if ids.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {tuple(ids.shape)}")
    return ids.long()


@dataclass(frozen=True)
class MapSettings:
    """The book's one recipe for a LABCLIP map on an organism or a model (chapters 2, 6-10): the
    authors' CLEVR settings (Adam, learning rate 0.01, batch 128, 50 epochs, the last epoch kept).
    ``early_stopping=True`` instead keeps the epoch of the best validation binding after
    ``patience`` epochs without a better one (on the organisms it stopped early and bound worse on
    held-out scenes than 50 epochs, so the book keeps the authors' recipe)."""

    epochs: int = 50
    lr: float = 0.01
    batch_size: int = 128
    early_stopping: bool = False
    patience: int = 5

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.lr <= 0 or self.batch_size < 2 or self.patience < 1:
            raise ValueError(f"map settings need epochs >= 1, lr > 0, batch_size >= 2 and patience >= 1, got {self}")

    def estimator_kwargs(self) -> dict:
        """The settings as :class:`LinearAlignment` arguments."""
        return {"epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size,
                "early_stopping": self.early_stopping, "patience": self.patience}

    def key(self) -> list:
        """What names these settings in a cache key."""
        return [self.epochs, self.lr, self.batch_size, self.early_stopping, self.patience]


@dataclass
class AlignmentHistory:
    """Per-epoch curves of a fit; epoch 0 is the identity map before any step."""

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)  # mean training loss of the epoch (nan at 0)
    batch_accuracy: list[float] = field(default_factory=list)  # in-batch image->text top-1 over the 2B captions
    val_loss: list[float] = field(default_factory=list)
    val_binding: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    seconds: float = 0.0
    best_epoch: int | None = None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class LinearAlignment:
    """Paper 1's linear map ``A`` on text embeddings, fitted on frozen embeddings.

    Args:
        loss: ``"hnb"`` (the paper's hard-negative batch loss) or ``"sb"`` (the ablation).
        lr, epochs, batch_size: Adam's learning rate (PyTorch defaults otherwise), passes over the
            data and batch size. Defaults are the authors' CLEVR recipe (0.01, 50, 128).
        early_stopping: ``False`` (default) keeps the last epoch, as the authors do. ``True``
            needs ``validation`` in :meth:`fit`: it stops after ``patience`` epochs without a
            better validation binding accuracy and restores the best epoch's map.
        mask_duplicates: remove in-batch false negatives (another row with the same caption)
            from the softmax. Off by default, as in the paper.
        seed: seeds the per-epoch permutations; the same seed gives the same map.
        device: where to train (CUDA when present, else CPU); results are stored on CPU.

    After :meth:`fit`: ``weight_`` ``(D, D)`` (``A``; applied as ``x @ A.T``), ``log_scale_``
    (``t``), ``history_`` and ``n_features_in_``.

    Used in chapter 6.
    """

    def __init__(self, loss: str = "hnb", lr: float = 0.01, epochs: int = 50, batch_size: int = 128,
                 early_stopping: bool = False, patience: int = 5, mask_duplicates: bool = False, seed: int = 0,
                 device: str | torch.device | None = None, progress: bool | None = None):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
        if epochs < 0 or batch_size < 2 or lr <= 0 or patience < 1:
            raise ValueError(f"need epochs >= 0, batch_size >= 2, lr > 0, patience >= 1; got {epochs}, "
                             f"{batch_size}, {lr}, {patience}")
        self.loss, self.lr, self.epochs, self.batch_size = loss, float(lr), int(epochs), int(batch_size)
        self.early_stopping, self.patience = bool(early_stopping), int(patience)
        self.mask_duplicates, self.seed, self.device, self.progress = bool(mask_duplicates), int(seed), device, progress
        self.metadata_: dict = {}

    # ---------------------------------------------------------------- construction
    @classmethod
    def identity(cls, dim: int, **kwargs) -> "LinearAlignment":
        """The un-fitted map ``A = I``, ``t = 0`` (scores equal the plain cosine)."""
        if dim < 1:
            raise ValueError(f"dimension must be positive, got {dim}")
        self = cls(**kwargs)
        self._set(torch.eye(dim), 0.0)
        return self

    def _set(self, weight: torch.Tensor, log_scale: float) -> None:
        self.weight_ = weight.detach().float().cpu().contiguous()
        self.log_scale_ = float(log_scale)
        self.n_features_in_ = int(weight.shape[0])

    def _fitted(self) -> None:
        if not hasattr(self, "weight_"):
            raise RuntimeError("this LinearAlignment is not fitted yet: call fit() or load()")

    @property
    def scale_(self) -> float:
        """The learned logit scale ``exp(t)``."""
        self._fitted()
        return float(np.exp(self.log_scale_))

    # ---------------------------------------------------------------- fitting
    def fit(self, image_emb: torch.Tensor, pos_text_emb: torch.Tensor, neg_text_emb: torch.Tensor | None = None, *,
            validation: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
            pos_ids=None, neg_ids=None, metadata: dict | None = None) -> "LinearAlignment":
        """Fit ``A`` and ``t`` on matched rows.

        Args:
            image_emb: ``(N, D)`` image embeddings (normalised inside).
            pos_text_emb: ``(N, D)`` text embeddings of each image's caption.
            neg_text_emb: ``(N, D)`` its attribute-swapped caption; required for ``loss="hnb"``,
                ignored by ``"sb"``.
            validation: optional ``(image, positive, negative)`` held-out rows: their loss and
                binding accuracy are recorded every epoch (and drive early stopping).
            pos_ids, neg_ids: ``(N,)`` caption ids (equal ids = the same caption) for
                ``mask_duplicates``; derived from the embeddings when omitted.
            metadata: stored with the map by :meth:`save` (model id, training data...).
        """
        d = torch.as_tensor(image_emb).shape[-1]
        small = get_device(self.device).type == "cpu" and self.batch_size * d * d < 2**24
        with torch_threads(1 if small else None):  # small products: one thread is fastest
            return self._fit(image_emb, pos_text_emb, neg_text_emb, validation, pos_ids, neg_ids, metadata)

    def _fit(self, image_emb, pos_text_emb, neg_text_emb, validation, pos_ids, neg_ids, metadata) -> "LinearAlignment":
        img = F.normalize(check_embeddings("image embeddings", image_emb), dim=1)
        d = img.shape[1]
        pos = check_embeddings("positive text embeddings", pos_text_emb, d)
        if len(pos) != len(img):
            raise ValueError(f"got {len(img)} image rows but {len(pos)} positive caption rows")
        neg = None
        if self.loss == "hnb":
            if neg_text_emb is None:
                raise ValueError("loss='hnb' needs negative (attribute-swapped) text embeddings")
            neg = check_embeddings("negative text embeddings", neg_text_emb, d)
            if len(neg) != len(img):
                raise ValueError(f"got {len(img)} image rows but {len(neg)} negative caption rows")
        if len(img) < 2:
            raise ValueError("need at least 2 training rows for a contrastive loss")
        if self.early_stopping and validation is None:
            raise ValueError("early_stopping=True needs validation=(image, positive, negative)")
        if validation is not None:
            vi, vp, vn = (check_embeddings(f"validation {k} embeddings", v, d)
                          for k, v in zip(("image", "positive", "negative"), validation))
            if not len(vi) == len(vp) == len(vn):
                raise ValueError(f"validation rows differ: {len(vi)}, {len(vp)}, {len(vn)}")
            vi = F.normalize(vi, dim=1)
        if self.mask_duplicates:
            if pos_ids is None or (neg is not None and neg_ids is None):
                derived = duplicate_ids(pos, neg) if neg is not None else duplicate_ids(pos)
                pos_ids = derived[0] if pos_ids is None else pos_ids
                neg_ids = (derived[1] if neg_ids is None else neg_ids) if neg is not None else None
            pos_ids = _check_ids("pos_ids", pos_ids, len(img))
            neg_ids = _check_ids("neg_ids", neg_ids, len(img)) if neg is not None else None

        dev = get_device(self.device)
        img, pos = img.to(dev), pos.to(dev)
        neg = neg.to(dev) if neg is not None else None
        weight = torch.nn.Parameter(torch.eye(d, device=dev))
        log_scale = torch.nn.Parameter(torch.zeros((), device=dev))
        opt = torch.optim.Adam([weight, log_scale], lr=self.lr, fused=dev.type in ("cpu", "cuda"))
        gen = torch.Generator().manual_seed(self.seed)
        hist = AlignmentHistory()
        n, bs = len(img), self.batch_size
        steps = (n + bs - 1) // bs

        def evaluate() -> tuple[float, float]:
            if validation is None:
                return float("nan"), float("nan")
            with torch.no_grad():
                w = weight.detach().cpu()
                p, q = F.normalize(vp @ w.T, dim=1), F.normalize(vn @ w.T, dim=1)
                scale = log_scale.detach().cpu()
                vloss = 0.0
                for s in range(0, len(vi), bs):  # same batching as training, in order
                    sl = slice(s, s + bs)
                    if len(vi[sl]) < 2:
                        continue
                    b = (hnb_loss(vi[sl], p[sl], q[sl], scale) if self.loss == "hnb"
                         else sb_loss(vi[sl], p[sl], scale))
                    vloss += float(b) * len(vi[sl])
                return vloss / len(vi), binding_accuracy(vi, p, q)

        def record(epoch: int, loss: float, acc: float) -> None:
            vl, vb = evaluate()
            hist.epoch.append(epoch)
            hist.loss.append(loss)
            hist.batch_accuracy.append(acc)
            hist.val_loss.append(vl)
            hist.val_binding.append(vb)
            hist.scale.append(float(log_scale.detach().exp()))

        record(0, float("nan"), float("nan"))
        best = (hist.val_binding[0], 0, weight.detach().clone(), float(log_scale.detach()))
        t0 = time.perf_counter()
        bar = progress_bar(steps * self.epochs, f"fitting LABCLIP map ({self.loss})", show=self.progress is not False)
        # Each step gathers its rows into buffers reused across steps (hot in cache, no fresh
        # allocations); caption and swap are interleaved once, row j = [p_j, n_j], so that one
        # gather and one product serve both ([p0, n0, p1, n1, ...]).
        texts = torch.stack([pos, neg], 1).view(n, 2 * d) if neg is not None else pos
        x_buf = torch.empty(bs, d, device=dev)
        t_buf = torch.empty(bs, texts.shape[1], device=dev)
        ids = torch.stack([pos_ids, neg_ids if neg is not None else pos_ids], 1).to(dev) if self.mask_duplicates else None
        for epoch in range(1, self.epochs + 1):
            perm = torch.randperm(n, generator=gen).to(dev)
            tot_loss = torch.zeros((), device=dev)
            hits = torch.zeros((), device=dev)
            for s in range(steps):
                rows = perm[s * bs : (s + 1) * bs]
                nb = len(rows)
                if nb < 2:  # a contrastive batch of one row has nothing to contrast
                    continue
                x = torch.index_select(img, 0, rows, out=x_buf[:nb])
                ts = torch.index_select(texts, 0, rows, out=t_buf[:nb]).view(-1, d)
                mask = None
                if ids is not None:
                    pi, ni = ids[rows, 0], ids[rows, 1]
                    mask = (pi[:, None] == pi[None, :]) & ~torch.eye(nb, dtype=torch.bool, device=dev)
                    if neg is not None:  # interleave: column 2j = positive j, 2j + 1 = negative j
                        mask = torch.stack([mask, pi[:, None] == ni[None, :]], dim=2).reshape(nb, 2 * nb)
                with torch.no_grad():  # forward and backward written out (map_gradients)
                    loss, correct, weight.grad, log_scale.grad = map_gradients(x, ts, weight, log_scale, mask)
                opt.step()
                with torch.no_grad():
                    tot_loss += loss * nb
                    hits += correct.sum()
                bar.update()
            record(epoch, float(tot_loss) / n, float(hits) / n)
            if validation is not None and hist.val_binding[-1] > best[0]:
                best = (hist.val_binding[-1], epoch, weight.detach().clone(), float(log_scale.detach()))
            if self.early_stopping and epoch - best[1] >= self.patience:
                break
        bar.close()
        hist.seconds = time.perf_counter() - t0
        if self.early_stopping:
            hist.best_epoch = best[1]
            self._set(best[2], best[3])
        else:
            self._set(weight.detach(), float(log_scale.detach()))
        self.history_ = hist
        self.metadata_ = {**(metadata or {}), "n_train": n}
        return self

    # ---------------------------------------------------------------- using the map
    def transform(self, text_emb: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` text embeddings -> ``normalize(x @ A.T)``, ``(N, D)`` float32."""
        self._fitted()
        x = check_embeddings("text embeddings", text_emb, self.n_features_in_)
        return F.normalize(x @ self.weight_.T, dim=1)

    def similarity(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Aligned cosine scores ``(N_images, N_texts)``."""
        img = F.normalize(check_embeddings("image embeddings", image_emb, self.n_features_in_), dim=1)
        return img @ self.transform(text_emb).T

    def score(self, image_emb: torch.Tensor, pos_text_emb: torch.Tensor, neg_text_emb: torch.Tensor) -> float:
        """Two-way binding accuracy after the map (ties count half; see ``metrics.binding_accuracy``)."""
        self._fitted()
        img = check_embeddings("image embeddings", image_emb, self.n_features_in_)
        return binding_accuracy(img, self.transform(pos_text_emb), self.transform(neg_text_emb))

    # ---------------------------------------------------------------- persistence
    def _meta(self) -> dict:
        return {"format": ALIGNMENT_FORMAT, "dim": self.n_features_in_, "log_scale": self.log_scale_,
                "loss": self.loss, "lr": self.lr, "epochs": self.epochs, "batch_size": self.batch_size,
                "early_stopping": self.early_stopping, "mask_duplicates": self.mask_duplicates, "seed": self.seed,
                "metadata": self.metadata_,
                "history": self.history_.to_dict() if hasattr(self, "history_") else None}

    def save(self, path: str | Path) -> Path:
        """Write a directory with ``alignment.safetensors`` (``A`` and ``t``) and ``alignment.json``
        (model id, D, loss, training data, curves); atomic (temporary directory + rename)."""
        self._fitted()
        return save_directory(path, META_FILE, WEIGHTS_FILE,
                              {"weight": self.weight_, "log_scale": torch.tensor([self.log_scale_])}, self._meta(),
                              indent=1, default=float)

    @classmethod
    def load(cls, path: str | Path, dim: int | None = None) -> "LinearAlignment":
        """Open a saved map: our directory format, or the authors' released ``.pt`` checkpoint
        (a state dict with ``t`` and ``linear.weight``, possibly saved from CUDA), read with
        ``torch.load(weights_only=True, map_location="cpu")``. ``dim``: the embedding size the
        map must have (a clear error otherwise)."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no alignment checkpoint at {path}")
        if path.is_dir():
            self = cls._load_ours(path)
        else:
            self = cls._load_authors(path)
        if dim is not None and self.n_features_in_ != dim:
            raise ValueError(f"the map in {path} is {self.n_features_in_} x {self.n_features_in_}, but the "
                             f"embeddings have size {dim} (a checkpoint for another model?)")
        return self

    @classmethod
    def _load_ours(cls, path: Path) -> "LinearAlignment":
        meta, tensors = read_directory(path, META_FILE, WEIGHTS_FILE, "an alignment")
        if meta.get("format") != ALIGNMENT_FORMAT:
            raise ValueError(f"{path / META_FILE} has format {meta.get('format')!r}, expected {ALIGNMENT_FORMAT!r}")
        self = cls(loss=meta["loss"], lr=meta["lr"], epochs=meta["epochs"], batch_size=meta["batch_size"],
                   early_stopping=meta["early_stopping"], mask_duplicates=meta["mask_duplicates"], seed=meta["seed"])
        self._set(_square(tensors["weight"], path), float(tensors["log_scale"].reshape(-1)[0]))
        self.metadata_ = meta.get("metadata") or {}
        if meta.get("history"):
            self.history_ = AlignmentHistory(**meta["history"])
        return self

    @classmethod
    def _load_authors(cls, path: Path) -> "LinearAlignment":
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - report any unreadable file the same way
            raise ValueError(f"cannot read {path} as a PyTorch state dict (weights_only=True): "
                             f"{type(err).__name__}: {err}") from None
        if not isinstance(state, dict):
            raise ValueError(f"{path} holds a {type(state).__name__}, expected a state dict with 't' and 'linear.weight'")
        state = {k.removeprefix("module."): v for k, v in state.items()}
        missing = [k for k in ("t", "linear.weight") if k not in state]
        if missing:
            raise ValueError(f"{path} is not a LABCLIP checkpoint: missing {missing}; found keys {sorted(state)[:10]}")
        extra = sorted(set(state) - {"t", "linear.weight"})
        if extra:
            raise ValueError(f"{path} has unexpected keys {extra[:10]} besides 't' and 'linear.weight' "
                             "(the LABCLIP map has no bias)")
        t = state["t"]
        if not isinstance(t, torch.Tensor) or t.numel() != 1:
            raise ValueError(f"{path}: 't' must be a scalar tensor, got {t!r:.80}")
        self = cls()
        self._set(_square(state["linear.weight"], path), float(t.reshape(-1)[0]))
        self.metadata_ = {"source": str(path), "format": "authors' state dict (t, linear.weight)"}
        return self


def _square(w: torch.Tensor, path: Path) -> torch.Tensor:
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"{path}: the map must be a square D x D matrix, got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all():
        raise ValueError(f"{path}: the map contains NaN or infinite values")
    return w.float()


def map_statistics(alignment: LinearAlignment) -> dict[str, float]:
    """What a map looks like: size, distance from the identity, diagonal, symmetric and
    antisymmetric parts (Frobenius norms of ``(A + A.T)/2 - I`` and ``(A - A.T)/2``), singular
    value range and condition number, and the learned scale ``exp(t)``.

    Used in chapter 6.
    """
    alignment._fitted()
    a = alignment.weight_.double()
    d = a.shape[0]
    eye = torch.eye(d, dtype=a.dtype)
    off = a[~torch.eye(d, dtype=torch.bool)]
    sv = torch.linalg.svdvals(a)
    return {"D": d, "parameters": d * d, "scale exp(t)": alignment.scale_,
            "||A - I||_F": float(torch.linalg.norm(a - eye)),
            "||A - I||_F / sqrt(D)": float(torch.linalg.norm(a - eye) / d**0.5),
            "mean diagonal": float(a.diagonal().mean()), "rms off-diagonal": float(off.pow(2).mean().sqrt()),
            "||sym - I||_F": float(torch.linalg.norm((a + a.T) / 2 - eye)),
            "||antisym||_F": float(torch.linalg.norm((a - a.T) / 2)),
            "largest singular value": float(sv[0]), "smallest singular value": float(sv[-1]),
            "condition number": float(sv[0] / sv[-1]) if sv[-1] > 0 else float("inf")}


def triplet(part: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(image, caption, swap)`` of one part of :func:`~labclip_lib.analysis.geometry.pair_embeddings`: the
    arguments of ``binding_accuracy``, ``LinearAlignment.fit`` / ``score`` and ``alignment_effects``.

    Used in chapter 6.
    """
    return part["image"], part["caption"], part["swap"]


def fit_alignment(emb: dict, loss: str = "hnb", metadata: dict | None = None, **kwargs) -> LinearAlignment:
    """Fit a map on ``emb["train"]`` and record ``emb["val"]`` every epoch (when present).

    ``emb``: ``{"train": ..., "val": ...}``, each ``{"image", "caption", "swap"}`` ``(N, D)``
    embeddings (see :func:`~labclip_lib.analysis.geometry.pair_embeddings`); ``kwargs`` go to
    :class:`LinearAlignment`.

    Used in chapter 6.
    """
    if "train" not in emb:
        raise ValueError("emb needs a 'train' part")
    val = triplet(emb["val"]) if "val" in emb else None
    return LinearAlignment(loss, **kwargs).fit(*triplet(emb["train"]), validation=val, metadata=metadata)

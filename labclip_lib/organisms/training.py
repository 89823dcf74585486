"""Training an organism: CLIP's symmetric InfoNCE loss with a learnable temperature, AdamW with a
one-cycle schedule (or, with ``stopping="val-loss"``, a warm-up and a rate halved on plateaus,
stopped on the validation loss), optional NegCLIP-style hard negatives; validation loss and
held-out binding after every epoch."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..metrics import binding_accuracy
from ..runtime import progress_bar
from .config import OrganismConfig
from .data import OrganismData, build_data
from .networks import IMAGE_BATCH, DualEncoder, build_network, to_pixels
from .tokenizer import WordTokenizer, organism_vocabulary

__all__ = ["TrainingHistory", "PlateauStopping", "train_organism", "image_autocast", "binding_accuracy_2way",
           "validation_loss",
           "MIN_ONE_CYCLE_STEPS", "MIN_IMPROVEMENT"]

#: fewer optimiser steps than this (a tiny data set with a large batch) train at a constant rate
MIN_ONE_CYCLE_STEPS = 10
#: with ``stopping="val-loss"`` an epoch is progress when it lowers the best validation loss by
#: more than this fraction (smaller gains late in training are not worth an epoch)
MIN_IMPROVEMENT = 0.01


@dataclass
class TrainingHistory:
    """Per-epoch curves: training loss, in-batch image->text accuracy, validation contrastive
    loss, held-out (val) binding accuracy, learning rate at the epoch's end; the epoch whose
    weights were kept and why training ended ("fixed", "patience" or "cap")."""

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    batch_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_binding: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    kept_epoch: int = 0
    stopped: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PlateauStopping:
    """Early stopping on a validation loss (lower is better), with the rate halved on plateaus.

    Feed it one loss per epoch with :meth:`update`. An epoch counts as progress when its loss is
    below the best so far by more than the fraction ``min_improvement`` of it; an epoch without
    progress multiplies :attr:`scale` (the factor on the learning rate) by ``factor``, and after
    ``patience`` such epochs in a row :attr:`stop` is true. :attr:`best_epoch` (1-based) is the
    last epoch of progress, whose weights to keep.
    """

    patience: int = 3
    factor: float = 0.5
    min_improvement: float = MIN_IMPROVEMENT
    best: float = math.inf
    best_epoch: int = 0
    epochs: int = 0
    bad: int = 0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {self.patience}")
        if not 0 < self.factor <= 1:
            raise ValueError(f"factor must be in (0, 1], got {self.factor}")
        if not 0 <= self.min_improvement < 1:
            raise ValueError(f"min_improvement must be in [0, 1), got {self.min_improvement}")

    def update(self, loss: float) -> bool:
        """Record an epoch's validation loss; ``True`` if the epoch is progress (keep its weights)."""
        if not math.isfinite(loss):
            raise ValueError(f"validation loss is not finite ({loss}) at epoch {self.epochs + 1}")
        self.epochs += 1
        if loss < self.best * (1 - self.min_improvement):
            self.best, self.best_epoch, self.bad = loss, self.epochs, 0
            return True
        self.bad += 1
        self.scale *= self.factor
        return False

    @property
    def stop(self) -> bool:
        return self.bad >= self.patience


def _embed(model: DualEncoder, tok: WordTokenizer, images: torch.Tensor | None, texts: Sequence[str] | None,
           batch_size: int = 1024) -> torch.Tensor:
    """Normalised embeddings of ``images`` (``IMAGE_BATCH`` at a time) or of ``texts``
    (``batch_size`` at a time), ``(N, D)``."""
    model.eval()
    out = []
    with torch.inference_mode():
        if images is not None:
            for i in range(0, len(images), IMAGE_BATCH):
                out.append(F.normalize(model.encode_image(to_pixels(images[i : i + IMAGE_BATCH])), dim=1))
        else:
            for i in range(0, len(texts), batch_size):
                ids, lengths = tok(texts[i : i + batch_size])
                out.append(F.normalize(model.encode_text(ids, lengths), dim=1))
    return torch.cat(out)


def binding_accuracy_2way(model: DualEncoder, tok: WordTokenizer, data: OrganismData, part: str,
                          limit: int | None = None, images: torch.Tensor | None = None) -> float:
    """Held-out two-way binding accuracy of ``model`` on split ``part`` (complete captions).

    Scenes whose caption has no valid swap negative (same colour or same shape) are left out;
    ``limit``: at most that many scenes, the split's first. ``images``: the split's image
    embeddings ``(N_part, D)`` in its order, when already computed (:func:`split_image_embeddings`).
    """
    keep = [k for k, i in enumerate(data.split[part]) if data.eval_negatives[i] is not None][:limit]
    if not keep:
        raise ValueError(f"no scene of the {part!r} split has a swap negative")
    idx = [data.split[part][k] for k in keep]
    if images is None:
        img = _embed(model, tok, data.images[idx], None)
    elif len(images) != len(data.split[part]):
        raise ValueError(f"images has {len(images)} rows, the {part!r} split {len(data.split[part])} scenes")
    else:
        img = images[keep]
    pos = _embed(model, tok, None, [data.eval_captions[i].text for i in idx])
    neg = _embed(model, tok, None, [data.eval_negatives[i].text for i in idx])
    return binding_accuracy(img, pos, neg)


def image_autocast(config: OrganismConfig) -> torch.autocast:
    """The context of the image encoder's training forward: bfloat16 autocast for
    ``precision="bf16"`` (mixed precision: its backward follows, the rest stays fp32), a no-op
    for fp32. Cast its output with ``.float()``."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.precision == "bf16")


def _contrastive_loss(model: DualEncoder, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
    scale = model.logit_scale.exp().clamp(max=100)
    logits = scale * img @ txt.T
    target = torch.arange(len(img), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def split_image_embeddings(model: DualEncoder, data: OrganismData, part: str, batch_size: int) -> torch.Tensor:
    """L2-normalised image embeddings ``(N_part, D)`` of split ``part``, in its order, embedded in
    batches of ``batch_size`` (:func:`validation_loss`'s batches, so that its loss is the same
    whether it embeds them or is given them)."""
    idx = list(data.split[part])
    model.eval()
    with torch.inference_mode():
        return torch.cat([F.normalize(model.encode_image(to_pixels(data.images[idx[i : i + batch_size]])), dim=1)
                          for i in range(0, len(idx), batch_size)])


def validation_loss(model: DualEncoder, tok: WordTokenizer, data: OrganismData, batch_size: int,
                    images: torch.Tensor | None = None) -> float:
    """CLIP's symmetric contrastive loss on the validation split: each scene with its caption from
    the organism's own diet, in the split's order cut into batches of ``batch_size`` (a last
    batch of fewer than two scenes is dropped), no hard negatives; the mean over batches.
    ``images``: :func:`split_image_embeddings` of the validation split, when already computed."""
    idx = list(data.split.val)
    if len(idx) < 2:
        raise ValueError("the validation split has fewer than two scenes: no contrastive loss")
    if images is None:
        images = split_image_embeddings(model, data, "val", batch_size)
    elif len(images) != len(idx):
        raise ValueError(f"images has {len(images)} rows, the validation split {len(idx)} scenes")
    model.eval()
    losses, weights = [], []
    with torch.inference_mode():
        for i in range(0, len(idx), batch_size):
            b = idx[i : i + batch_size]
            if len(b) < 2:
                break
            img = images[i : i + batch_size]
            ids, lengths = tok([data.train_texts[j] for j in b])
            txt = F.normalize(model.encode_text(ids, lengths), dim=1)
            losses.append(float(_contrastive_loss(model, img, txt)))
            weights.append(len(b))
    return float(np.average(losses, weights=weights))


def train_organism(config: OrganismConfig, data: OrganismData | None = None, progress: bool | None = None,
                   ) -> tuple[DualEncoder, TrainingHistory]:
    """Train an organism on the CPU (always, GPU or not) and return it with its curves."""
    data = data if data is not None else build_data(config)
    tok = WordTokenizer(organism_vocabulary(config))
    torch.manual_seed(config.seed)
    model = build_network(config, len(tok.vocabulary))
    train = torch.as_tensor(data.split.train)
    ids, lengths = tok([data.train_texts[i] for i in train.tolist()])
    has_neg = torch.tensor([data.train_negatives[i] is not None for i in train.tolist()])
    neg_ids = neg_len = None
    if config.hard_negatives:
        fill = [data.train_negatives[i] or data.train_texts[i] for i in train.tolist()]
        neg_ids, neg_len = tok(fill)
    steps_per_epoch = max(1, len(train) // config.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = steps_per_epoch * config.epochs
    stopper = PlateauStopping(config.patience) if config.stopping == "val-loss" else None
    if stopper is not None:  # one epoch of linear warm-up, then the rate the stopper's scale sets
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: min(1.0, (step + 1) / steps_per_epoch) * stopper.scale)
    elif total >= MIN_ONE_CYCLE_STEPS:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total, pct_start=0.2)
    else:  # a one-cycle schedule needs a few steps to warm up and anneal; tiny runs keep the rate constant
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    kept = None
    autocast = image_autocast(config)
    gen = torch.Generator().manual_seed(config.seed)
    hist = TrainingHistory()
    t0 = time.perf_counter()
    bar = progress_bar(steps_per_epoch * config.epochs, f"training organism {config.name!r}", show=progress is not False)
    for epoch in range(config.epochs):
        model.train()
        perm = torch.randperm(len(train), generator=gen)
        losses, accs = [], []
        for s in range(steps_per_epoch):
            b = perm[s * config.batch_size : (s + 1) * config.batch_size]
            with autocast:
                img = F.normalize(model.encode_image(to_pixels(data.images[train[b]])).float(), dim=1)
            lb = lengths[b]
            txt = F.normalize(model.encode_text(ids[b, : int(lb.max())], lb), dim=1)
            scale = model.logit_scale.exp().clamp(max=100)
            logits = scale * img @ txt.T
            target = torch.arange(len(b))
            i2t = logits
            if neg_ids is not None:
                nl = neg_len[b]
                neg = F.normalize(model.encode_text(neg_ids[b, : int(nl.max())], nl), dim=1)
                neg_logits = (scale * img @ neg.T).masked_fill(~has_neg[b][None, :], float("-inf"))
                i2t = torch.cat([logits, neg_logits], dim=1)
            loss = (F.cross_entropy(i2t, target) + F.cross_entropy(logits.T, target)) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            accs.append((logits.argmax(1) == target).float().mean().item())
            bar.update()
        hist.epoch.append(epoch + 1)
        hist.loss.append(float(np.mean(losses)))
        hist.batch_accuracy.append(float(np.mean(accs)))
        hist.lr.append(float(opt.param_groups[0]["lr"]))
        # the validation images embedded once for both (the loss's batches, so its value is unchanged)
        val_images = split_image_embeddings(model, data, "val", config.batch_size)
        hist.val_loss.append(validation_loss(model, tok, data, config.batch_size, images=val_images))
        hist.val_binding.append(binding_accuracy_2way(model, tok, data, "val", images=val_images))
        if stopper is not None:
            if stopper.update(hist.val_loss[-1]):
                kept = copy.deepcopy(model.state_dict())
            if stopper.stop:
                break
    bar.close()
    if stopper is None:
        hist.kept_epoch, hist.stopped = len(hist.epoch), "fixed"
    else:
        model.load_state_dict(kept)
        hist.kept_epoch, hist.stopped = stopper.best_epoch, "patience" if stopper.stop else "cap"
    hist.seconds = time.perf_counter() - t0
    model.eval()
    return model, hist

"""Training an organism: CLIP's symmetric InfoNCE loss with a learnable temperature, AdamW with a
one-cycle schedule, optional NegCLIP-style hard negatives; held-out binding after every epoch."""

from __future__ import annotations

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
from .networks import DualEncoder, to_pixels
from .tokenizer import WordTokenizer, organism_vocabulary

__all__ = ["TrainingHistory", "train_organism", "binding_accuracy_2way", "MIN_ONE_CYCLE_STEPS"]

#: fewer optimiser steps than this (a tiny data set with a large batch) train at a constant rate
MIN_ONE_CYCLE_STEPS = 10


@dataclass
class TrainingHistory:
    """Per-epoch curves: loss, in-batch image->text accuracy, held-out (val) binding accuracy."""

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    batch_accuracy: list[float] = field(default_factory=list)
    val_binding: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _embed(model: DualEncoder, tok: WordTokenizer, images: torch.Tensor | None, texts: Sequence[str] | None,
           batch_size: int = 1024) -> torch.Tensor:
    model.eval()
    out = []
    with torch.inference_mode():
        if images is not None:
            for i in range(0, len(images), batch_size):
                out.append(F.normalize(model.encode_image(to_pixels(images[i : i + batch_size])), dim=1))
        else:
            for i in range(0, len(texts), batch_size):
                ids, lengths = tok(texts[i : i + batch_size])
                out.append(F.normalize(model.encode_text(ids, lengths), dim=1))
    return torch.cat(out)


def binding_accuracy_2way(model: DualEncoder, tok: WordTokenizer, data: OrganismData, part: str,
                          limit: int | None = None) -> float:
    """Held-out two-way binding accuracy of ``model`` on split ``part`` (complete captions).

    Scenes whose caption has no valid swap negative (same colour or same shape) are left out;
    ``limit``: at most that many scenes, the split's first.
    """
    idx = [i for i in data.split[part] if data.eval_negatives[i] is not None][:limit]
    if not idx:
        raise ValueError(f"no scene of the {part!r} split has a swap negative")
    img = _embed(model, tok, data.images[idx], None)
    pos = _embed(model, tok, None, [data.eval_captions[i].text for i in idx])
    neg = _embed(model, tok, None, [data.eval_negatives[i].text for i in idx])
    return binding_accuracy(img, pos, neg)


def train_organism(config: OrganismConfig, data: OrganismData | None = None, progress: bool | None = None,
                   ) -> tuple[DualEncoder, TrainingHistory]:
    """Train an organism on CPU (or CUDA when present) and return it with its curves."""
    data = data if data is not None else build_data(config)
    tok = WordTokenizer(organism_vocabulary(config))
    torch.manual_seed(config.seed)
    model = DualEncoder.from_config(config, len(tok.vocabulary))
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
    if total >= MIN_ONE_CYCLE_STEPS:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total, pct_start=0.2)
    else:  # a one-cycle schedule needs a few steps to warm up and anneal; tiny runs keep the rate constant
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
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
            img = F.normalize(model.encode_image(to_pixels(data.images[train[b]])), dim=1)
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
        hist.val_binding.append(binding_accuracy_2way(model, tok, data, "val"))
    bar.close()
    hist.seconds = time.perf_counter() - t0
    model.eval()
    return model, hist

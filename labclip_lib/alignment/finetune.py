"""Paper 1's "CLIP-FT" baseline on an organism: both encoders and the map trained together with
the LABCLIP loss (the baseline the map is compared with in chapters 6 and 9; the book trains it
for one epoch, far shorter than the authors' CLIP-FT, so it is no bound on what fine-tuning reaches)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..analysis.geometry import pair_embeddings
from ..embed.protocol import EmbeddingModel
from ..metrics import binding_accuracy
from ..organisms.model import OrganismModel, weights_digest
from ..organisms.networks import to_pixels
from ..runtime import progress_bar
from .aligned import AlignedModel
from .estimator import LinearAlignment, triplet
from .loss import LOSSES, hnb_loss, sb_loss

__all__ = ["FinetuneResult", "finetune_organism"]

@dataclass
class FinetuneResult:
    """A fully fine-tuned organism (both encoders and the map) and its curves."""

    model: AlignedModel
    history: dict
    seconds: float
    parameters: int


def finetune_organism(model: EmbeddingModel, data, *, loss: str = "hnb", epochs: int = 2, lr: float = 3e-4, batch_size: int = 128,
                      seed: int = 0, progress: bool | None = None) -> FinetuneResult:
    """Paper 1's "CLIP-FT" baseline on an organism: unfreeze both encoders *and* the map.

    ``model``: an :class:`~labclip_lib.organisms.OrganismModel` (left unchanged; a copy is
    trained). ``data``: its :class:`~labclip_lib.organisms.OrganismData`; training rows are the
    train split's scenes with a valid swap, with their complete captions and swapped captions,
    the same rows the map is fitted on. Same loss as the map (HNB or SB), Adam (the authors used
    plain SGD in fp16 for 50 epochs on a GPU; we train in fp32 for ``epochs`` passes, CPU-sized).

    Used in chapter 6.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    if not isinstance(model, OrganismModel):
        raise TypeError("finetune_organism needs an organism (OrganismModel); for a pretrained CLIP, fine-tune "
                        "with your own training loop")
    idx = [int(i) for i in data.split.train if data.eval_negatives[i] is not None]
    has_val = any(data.eval_negatives[i] is not None for i in data.split.val)
    if len(idx) < 2:
        raise ValueError("fewer than 2 training scenes with a valid swap")
    torch.manual_seed(seed)
    net = copy.deepcopy(model.network).to(model.device).train()
    tok = model.tokenizer
    d = model.dim
    weight = torch.nn.Parameter(torch.eye(d, device=model.device))
    log_scale = torch.nn.Parameter(torch.zeros((), device=model.device))
    ids, lens = tok([data.eval_captions[i].text for i in idx])
    nids, nlens = tok([data.eval_negatives[i].text for i in idx])
    params = list(net.parameters()) + [weight, log_scale]
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    steps = len(idx) // batch_size if len(idx) >= batch_size else 1
    images = data.images[idx]
    hist = {"epoch": [], "loss": [], "val_binding": []}

    def current() -> AlignedModel:
        snapshot = copy.deepcopy(net).eval()
        m = OrganismModel(snapshot, model.config, model.tokenizer.vocabulary,
                          fingerprint=f"{model.fingerprint}+ft@{weights_digest(snapshot)}", device=model.device)
        a = LinearAlignment(loss=loss, lr=lr, epochs=epochs, batch_size=batch_size, seed=seed)
        a._set(weight.detach(), float(log_scale.detach()))
        return AlignedModel(m, a, name=f"{model.name} fine-tuned")

    def val_binding() -> float:
        return binding_accuracy(*triplet(pair_embeddings(current(), data, "val")))

    t0 = time.perf_counter()
    bar = progress_bar(steps * epochs, f"fine-tuning {model.name} ({loss})", show=progress is not False)
    for epoch in range(1, epochs + 1):
        net.train()
        perm = torch.randperm(len(idx), generator=gen)
        losses = []
        for s in range(steps):
            b = perm[s * batch_size : (s + 1) * batch_size]
            x = F.normalize(net.encode_image(to_pixels(images[b]).to(model.device)), dim=1)
            lb, nb = lens[b], nlens[b]
            p = F.normalize(net.encode_text(ids[b, : int(lb.max())].to(model.device), lb) @ weight.T, dim=1)
            if loss == "hnb":
                q = F.normalize(net.encode_text(nids[b, : int(nb.max())].to(model.device), nb) @ weight.T, dim=1)
                value = hnb_loss(x, p, q, log_scale)
            else:
                value = sb_loss(x, p, log_scale)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            losses.append(float(value.detach()))
            bar.update()
        hist["epoch"].append(epoch)
        hist["loss"].append(float(np.mean(losses)))
        hist["val_binding"].append(val_binding() if has_val else float("nan"))
    bar.close()
    seconds = time.perf_counter() - t0
    return FinetuneResult(current(), hist, seconds, sum(p.numel() for p in params))

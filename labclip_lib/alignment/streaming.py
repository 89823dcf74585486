"""A streaming LABCLIP fit: the map trained from a shard folder without loading it whole, alone or
across torch.distributed ranks, checkpointed and resumable.

The row order of epoch ``e`` is a function of ``(seed, e)`` only: the shards in an order drawn
from ``default_rng([seed, e])``, their rows cut into consecutive blocks of ``buffer_rows`` (the
shuffle buffer), each block permuted by ``default_rng([seed, e, block])``, batches of
``batch_size`` taken in that order. A step therefore reads only its own rows (memory-mapped
pages), and memory stays bounded by the buffer's indices and a batch, whatever the folder's size.

Across ``W`` ranks every rank computes the same order; rank ``r`` reads the ``r``-th slice of
each global batch, maps its captions, and the images and mapped captions are gathered, so every
rank computes the loss of the whole global batch (all ``B`` positives and ``B`` swapped
negatives as in one process); the map's gradient is summed over ranks. The result equals the
one-process fit up to float rounding (summation order).

The state (map, temperature, Adam's moments, position in the epoch, running sums) is
checkpointed every ``checkpoint_every`` steps and at the end of each epoch, atomically; a rerun
with the same checkpoint folder continues from it and ends with the same map as an
uninterrupted run. Not supported here (use :meth:`LinearAlignment.fit`): validation, early
stopping, duplicate masking.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..distributed import all_gather_rows, all_reduce_sum, barrier, distributed_info
from ..embed.shards import ShardReader
from ..runtime import torch_threads
from ..storage import read_directory, save_directory
from .estimator import AlignmentHistory, LinearAlignment
from .loss import LOSSES, _interleaved_loss

__all__ = ["StreamSettings", "ArrayRows", "epoch_order", "fit_streaming", "fit_from_shards", "FIT_FAULT_ENV"]

CHECKPOINT_FORMAT = "labclip-stream-checkpoint/1"
CKPT_META, CKPT_WEIGHTS = "checkpoint.json", "checkpoint.safetensors"
#: fault injection for the tests: the process dies right after this global step (and its checkpoint)
FIT_FAULT_ENV = "LABCLIP_FAULT_AFTER_STEPS"


class Rows(Protocol):
    """What the streaming fit reads: ``len``, ``dim``, ``shard_bounds()`` and ``take(indices, modality)``."""

    dim: int
    modalities: list[str]

    def __len__(self) -> int: ...

    def shard_bounds(self) -> list[tuple[int, int]]: ...

    def take(self, indices: np.ndarray, modality: str) -> np.ndarray: ...


class ArrayRows:
    """In-memory embeddings behind the reader's interface (the in-memory path of the same fit):
    ``image``, ``text``, ``negative`` ``(N, D)``, cut into shards of ``shard_size`` rows."""

    def __init__(self, image, text, negative=None, shard_size: int | None = None):
        self.arrays = {k: np.asarray(v, dtype=np.float32) for k, v in
                       (("image", image), ("text", text), ("negative", negative)) if v is not None}
        n = len(self.arrays["image"])
        if any(len(v) != n for v in self.arrays.values()):
            raise ValueError(f"rows differ: {({k: len(v) for k, v in self.arrays.items()})}")
        self.dim = int(self.arrays["image"].shape[1])
        self.shard_size = shard_size or n
        self.modalities = list(self.arrays)

    def __len__(self) -> int:
        return len(self.arrays["image"])

    def shard_bounds(self) -> list[tuple[int, int]]:
        return [(s, min(len(self), s + self.shard_size)) for s in range(0, len(self), self.shard_size)]

    def take(self, indices: np.ndarray, modality: str) -> np.ndarray:
        return self.arrays[modality][np.asarray(indices, dtype=np.int64)]


@dataclass(frozen=True)
class StreamSettings:
    """The streaming fit's recipe: the estimator's (loss, lr, epochs, batch size = the *global*
    batch over all ranks, seed), the shuffle buffer in rows, and a checkpoint every
    ``checkpoint_every`` steps (0: only at the end of each epoch)."""

    loss: str = "hnb"
    lr: float = 0.01
    epochs: int = 50
    batch_size: int = 128
    seed: int = 0
    buffer_rows: int = 65_536
    checkpoint_every: int = 0

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {LOSSES}")
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0 or self.buffer_rows < 1 or self.checkpoint_every < 0:
            raise ValueError(f"need epochs >= 1, batch_size >= 2, lr > 0, buffer_rows >= 1, checkpoint_every >= 0; "
                             f"got {self}")


def _block(bounds: Sequence[tuple[int, int]], shard_order: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Global row indices at stream positions ``[lo, hi)`` of the shards taken in ``shard_order``."""
    parts, pos = [], 0
    for s in shard_order:
        a, b = bounds[s]
        n = b - a
        if pos + n > lo and pos < hi:
            parts.append(np.arange(a + max(0, lo - pos), a + min(n, hi - pos), dtype=np.int64))
        pos += n
        if pos >= hi:
            break
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def epoch_order(bounds: Sequence[tuple[int, int]], seed: int, epoch: int, buffer_rows: int,
                start: int = 0) -> Iterator[np.ndarray]:
    """The rows of ``epoch`` from stream position ``start`` on, a shuffle-buffer block at a time
    (module docstring): ``(rows,)`` int64 global indices. Memory: one block."""
    n = sum(b - a for a, b in bounds)
    order = np.random.default_rng([seed, epoch]).permutation(len(bounds))
    for blk in range(start // buffer_rows, (n + buffer_rows - 1) // buffer_rows):
        lo, hi = blk * buffer_rows, min(n, (blk + 1) * buffer_rows)
        rows = _block(bounds, order, lo, hi)[np.random.default_rng([seed, epoch, blk]).permutation(hi - lo)]
        yield rows[max(0, start - lo):]


def _batches(bounds, seed: int, epoch: int, buffer_rows: int, batch_size: int, first_step: int) -> Iterator[np.ndarray]:
    buf: list[np.ndarray] = []
    have = 0
    for rows in epoch_order(bounds, seed, epoch, buffer_rows, first_step * batch_size):
        buf.append(rows)
        have += len(rows)
        while have >= batch_size:
            cat = np.concatenate(buf)
            yield cat[:batch_size]
            buf, have = [cat[batch_size:]], have - batch_size
    if have:
        yield np.concatenate(buf)


def _signature(rows: Rows, settings: StreamSettings) -> dict:
    return {"settings": asdict(settings), "rows": len(rows), "dim": rows.dim,
            "shard_bounds": [list(b) for b in rows.shard_bounds()]}


def _save_checkpoint(path: Path, state: dict, tensors: dict[str, torch.Tensor]) -> None:
    save_directory(path, CKPT_META, CKPT_WEIGHTS, tensors, {"format": CHECKPOINT_FORMAT, **state}, indent=1)


def _load_checkpoint(path: Path, signature: dict) -> tuple[dict, dict] | None:
    if not (path / CKPT_META).is_file():
        return None
    meta, tensors = read_directory(path, CKPT_META, CKPT_WEIGHTS, "a streaming-fit checkpoint")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path / CKPT_META} has format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
    if meta.get("signature") != json.loads(json.dumps(signature)):
        raise ValueError(f"the checkpoint in {path} belongs to another fit (other data or settings); "
                         "delete it or choose another checkpoint folder")
    return meta, tensors


def fit_streaming(rows: Rows, settings: StreamSettings = StreamSettings(), *, checkpoint_dir: str | Path | None = None,
                  on_step: Callable[[int], None] | None = None, metadata: dict | None = None) -> LinearAlignment:
    """Fit a LABCLIP map on ``rows`` (a :class:`~labclip_lib.embed.shards.ShardReader` or
    :class:`ArrayRows`) by streaming (module docstring); under torchrun every rank calls it and
    gets the same map. ``checkpoint_dir``: resume from / write checkpoints there (rank 0 writes).
    ``on_step(global_step)`` is called after every step (tests use it to interrupt a fit)."""
    if settings.loss == "hnb" and "negative" not in rows.modalities:
        raise ValueError("loss='hnb' needs negative (attribute-swapped) caption embeddings in the shards")
    n, d = len(rows), rows.dim
    if n < 2:
        raise ValueError("need at least 2 training rows for a contrastive loss")
    dist = distributed_info()
    bs, world = settings.batch_size, dist.world_size
    if bs < 2 * world:
        raise ValueError(f"batch_size {bs} must be at least 2 rows per rank ({world} ranks)")
    bounds = rows.shard_bounds()
    steps = (n + bs - 1) // bs
    signature = _signature(rows, settings)
    weight = torch.nn.Parameter(torch.eye(d))
    log_scale = torch.nn.Parameter(torch.zeros(()))
    opt = torch.optim.Adam([weight, log_scale], lr=settings.lr)
    hist = AlignmentHistory()
    hist.epoch.append(0)
    for lst in (hist.loss, hist.batch_accuracy, hist.val_loss, hist.val_binding):
        lst.append(float("nan"))
    hist.scale.append(1.0)
    epoch, step, tot_loss, hits, global_step, seconds = 1, 0, 0.0, 0.0, 0, 0.0
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    loaded = _load_checkpoint(ckpt, signature) if ckpt is not None else None
    if loaded is not None:
        meta, tensors = loaded
        with torch.no_grad():
            weight.copy_(tensors["weight"])
            log_scale.copy_(tensors["log_scale"].reshape(()))
        opt.load_state_dict({"state": {0: {"step": tensors["step"].reshape(()), "exp_avg": tensors["exp_avg_w"],
                                           "exp_avg_sq": tensors["exp_avg_sq_w"]},
                                       1: {"step": tensors["step"].reshape(()).clone(),
                                           "exp_avg": tensors["exp_avg_t"].reshape(()),
                                           "exp_avg_sq": tensors["exp_avg_sq_t"].reshape(())}},
                             "param_groups": opt.state_dict()["param_groups"]})
        epoch, step, tot_loss, hits = meta["epoch"], meta["step"], meta["tot_loss"], meta["hits"]
        global_step, seconds = meta["global_step"], meta["seconds"]
        hist = AlignmentHistory(**meta["history"])

    def save() -> None:
        if ckpt is None:
            return
        if dist.is_main:
            st = opt.state_dict()["state"]
            tensors = {"weight": weight.detach(), "log_scale": log_scale.detach().reshape(1),
                       "step": st[0]["step"].reshape(1) if 0 in st else torch.zeros(1),
                       "exp_avg_w": st[0]["exp_avg"] if 0 in st else torch.zeros(d, d),
                       "exp_avg_sq_w": st[0]["exp_avg_sq"] if 0 in st else torch.zeros(d, d),
                       "exp_avg_t": st[1]["exp_avg"].reshape(1) if 1 in st else torch.zeros(1),
                       "exp_avg_sq_t": st[1]["exp_avg_sq"].reshape(1) if 1 in st else torch.zeros(1)}
            _save_checkpoint(ckpt, {"signature": signature, "epoch": epoch, "step": step, "tot_loss": tot_loss,
                                    "hits": hits, "global_step": global_step,
                                    "seconds": seconds + time.perf_counter() - t0, "history": hist.to_dict()}, tensors)
        barrier()

    fault = os.environ.get(FIT_FAULT_ENV, "").strip()
    fault = int(fault) if fault.isdigit() else None
    small = bs * d * d < 2**24
    t0 = time.perf_counter()
    with torch_threads(1 if small else None):
        while epoch <= settings.epochs:
            for rows_idx in _batches(bounds, settings.seed, epoch, settings.buffer_rows, bs, step):
                nb = len(rows_idx)
                step += 1
                if nb >= 2 * world:  # a contrastive batch needs rows to contrast (as LinearAlignment.fit)
                    sizes = [len(p) for p in np.array_split(rows_idx, world)]
                    mine = np.array_split(rows_idx, world)[dist.rank]
                    x = F.normalize(torch.from_numpy(rows.take(mine, "image")), dim=1)
                    t = torch.from_numpy(rows.take(mine, "text"))
                    if settings.loss == "hnb":
                        t = torch.stack([t, torch.from_numpy(rows.take(mine, "negative"))], 1).view(2 * len(mine), d)
                    z = F.normalize(t @ weight.T, dim=1)
                    per = z.shape[0] // len(mine)
                    if world > 1:
                        x = all_gather_rows(x, sizes)
                        zs = all_gather_rows(z.detach(), [per * s for s in sizes])
                        off = per * sum(sizes[: dist.rank])
                        z = torch.cat([zs[:off], z, zs[off + z.shape[0]:]])
                    loss, correct = _interleaved_loss(x, z, log_scale)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    all_reduce_sum(weight.grad)  # the loss is whole on every rank; t's gradient already is
                    opt.step()
                    tot_loss += float(loss.detach()) * nb
                    hits += float(correct.sum())
                global_step += 1
                if settings.checkpoint_every and global_step % settings.checkpoint_every == 0 and step < steps:
                    save()
                if on_step is not None:
                    on_step(global_step)
                if fault is not None and global_step >= fault:
                    os._exit(17)
            hist.epoch.append(epoch)
            hist.loss.append(tot_loss / n)
            hist.batch_accuracy.append(hits / n)
            hist.val_loss.append(float("nan"))
            hist.val_binding.append(float("nan"))
            hist.scale.append(float(log_scale.detach().exp()))
            epoch, step, tot_loss, hits = epoch + 1, 0, 0.0, 0.0
            save()
    hist.seconds = seconds + time.perf_counter() - t0
    est = LinearAlignment(loss=settings.loss, lr=settings.lr, epochs=settings.epochs, batch_size=bs,
                          seed=settings.seed, progress=False)
    est._set(weight.detach(), float(log_scale.detach()))
    est.history_ = hist
    est.metadata_ = {**(metadata or {}), "streaming": {**asdict(settings), "rows": n, "world_size": world}}
    return est


def fit_from_shards(directory: str | Path, settings: StreamSettings = StreamSettings(), *,
                    checkpoint_dir: str | Path | None = None, metadata: dict | None = None) -> LinearAlignment:
    """:func:`fit_streaming` on a shard folder written by :func:`~labclip_lib.embed.shards.embed_shards`
    (images, captions and, for ``hnb``, swapped captions), memory-mapped."""
    reader = ShardReader(directory)
    meta = {"shards": str(directory), **({"model": reader.info.get("model")} if reader.info else {}),
            **(metadata or {})}
    return fit_streaming(reader, settings, checkpoint_dir=checkpoint_dir, metadata=meta)

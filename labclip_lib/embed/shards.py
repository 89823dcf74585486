"""Sharded embedding in clip-retrieval's layout, resumable and split over torch.distributed ranks,
and a memory-mapped reader for it.

A data set of N rows (:mod:`.sources`) is cut into contiguous shards of ``shard_size`` rows
(shard ``i``: rows ``[i * shard_size, (i + 1) * shard_size)``), and shard ``i`` is embedded by
rank ``i % world_size`` (no padding: every row is embedded once). Shard ``i`` is written as

* ``img_emb/img_emb_{i}.npy``, ``text_emb/text_emb_{i}.npy`` (and ``neg_text_emb/...`` for
  attribute-swapped captions, our addition): ``(rows, D)`` float16 or float32, clip-retrieval's
  names (``i`` zero-padded to the digits of the shard count), so embedding-reader and autofaiss
  read them;
* ``metadata/metadata_{i}.parquet``: the rows' ``key`` (and ``caption``, ``negative``), in row order;
* ``stats/stats_{i}.json``, written **last**: the marker that the shard is complete (rows, keys
  digest, every file's size and sha256), as img2dataset's stats files.

Every file goes to a temporary name and is renamed into place. A rerun skips shards whose marker
exists and whose files have the recorded sizes, and recomputes the rest (a missing marker, a
truncated file). ``embedding_info.json`` records the model, D, dtype, shard size and data; a
rerun into the same folder with another model, shard size or data stops with an error naming it.
Within a shard, batches start at the shard's first row whatever the rank, so with one thread per
process the files are bitwise equal to a one-process run's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from ..distributed import barrier, distributed_info
from ..storage import write_atomic
from .protocol import EmbeddingModel
from .sources import RowSource, keys_digest

__all__ = ["SHARD_FORMAT", "MODALITIES", "FAULT_ENV", "ShardPlan", "embed_shards", "ShardReader", "open_shards",
           "shard_name"]

SHARD_FORMAT = "labclip-shards/1"
INFO_FILE = "embedding_info.json"
#: modality -> folder and file prefix (clip-retrieval's for images and captions)
MODALITIES = {"image": "img_emb", "text": "text_emb", "negative": "neg_text_emb"}
#: fault injection for the tests: a worker that has written this many shards starts the next one,
#: leaves its embeddings without a marker, and dies
FAULT_ENV = "LABCLIP_FAULT_AFTER_SHARDS"
_DTYPES = {"fp16": np.float16, "fp32": np.float32}


def shard_name(prefix: str, index: int, n_shards: int, suffix: str = ".npy") -> str:
    """``{prefix}_{index}{suffix}`` with ``index`` zero-padded to the digits of ``n_shards`` (as clip-retrieval)."""
    return f"{prefix}_{str(index).zfill(len(str(max(n_shards, 1))))}{suffix}"


@dataclass(frozen=True)
class ShardPlan:
    """Contiguous shards of ``shard_size`` rows over ``n_rows`` rows, dealt to ``world_size`` ranks."""

    n_rows: int
    shard_size: int

    def __post_init__(self) -> None:
        if self.n_rows < 1 or self.shard_size < 1:
            raise ValueError(f"need at least one row and shard_size >= 1, got {self.n_rows} rows, "
                             f"shard_size {self.shard_size}")

    @property
    def n_shards(self) -> int:
        return (self.n_rows + self.shard_size - 1) // self.shard_size

    def bounds(self, i: int) -> tuple[int, int]:
        """Rows ``[start, stop)`` of shard ``i``."""
        return i * self.shard_size, min(self.n_rows, (i + 1) * self.shard_size)

    def shards_of(self, rank: int, world_size: int) -> list[int]:
        """Shards ``rank, rank + world_size, ...``: every shard to exactly one rank."""
        return list(range(rank, self.n_shards, world_size))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_file(path: Path, write) -> None:
    """``write(f)`` into ``path`` through a fixed temporary sibling (``.name.tmp``) renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _shard_files(out: Path, i: int, n_shards: int, modalities: Sequence[str]) -> dict[str, Path]:
    files = {m: out / MODALITIES[m] / shard_name(MODALITIES[m], i, n_shards) for m in modalities}
    files["metadata"] = out / "metadata" / shard_name("metadata", i, n_shards, ".parquet")
    return files


def _marker(out: Path, i: int, n_shards: int) -> Path:
    return out / "stats" / shard_name("stats", i, n_shards, ".json")


def _shard_done(out: Path, i: int, n_shards: int) -> bool:
    """A marker that parses, and every file it lists present with its recorded size."""
    marker = _marker(out, i, n_shards)
    if not marker.is_file():
        return False
    try:
        stats = json.loads(marker.read_text())
        return all((out / rel).is_file() and (out / rel).stat().st_size == f["bytes"]
                   for rel, f in stats["files"].items())
    except (json.JSONDecodeError, KeyError, TypeError):
        return False


def _info(model: EmbeddingModel, source: RowSource, plan: ShardPlan, modalities: list[str], dtype: str) -> dict:
    return {"format": SHARD_FORMAT, "model": getattr(model, "name", type(model).__name__),
            "model_fingerprint": model.fingerprint, "dim": int(model.dim), "dtype": dtype,
            "image_size": getattr(model, "image_size", None), "modalities": modalities,
            "n_rows": plan.n_rows, "shard_size": plan.shard_size, "n_shards": plan.n_shards,
            "source": source.name, "keys_sha256": keys_digest(source.keys(0, len(source)))}


def _check_info(path: Path, want: dict) -> None:
    try:
        have = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is corrupt ({err}); delete the folder or choose another") from None
    fields = ("format", "model_fingerprint", "dim", "dtype", "modalities", "n_rows", "shard_size", "keys_sha256")
    diff = [f"{k}: {have.get(k)!r} there, {want[k]!r} now" for k in fields if have.get(k) != want[k]]
    if diff:
        raise ValueError(f"{path.parent} holds shards of another run ({'; '.join(diff)}); refusing to mix "
                         f"them: choose another output folder or delete it (see {path})")


def _embed_shard(model: EmbeddingModel, source: RowSource, start: int, stop: int, modalities: list[str],
                 batch_size: int) -> dict[str, torch.Tensor]:
    out: dict[str, list[torch.Tensor]] = {m: [] for m in modalities}
    for s in range(start, stop, batch_size):  # batches start at the shard's first row on every rank
        e = min(stop, s + batch_size)
        if "image" in modalities:
            out["image"].append(model.encode_images(source.images(s, e, getattr(model, "image_size", None)),
                                                    batch_size=batch_size))
        if "text" in modalities:
            out["text"].append(model.encode_texts(source.captions(s, e), batch_size=batch_size))
        if "negative" in modalities:
            out["negative"].append(model.encode_texts(source.negatives(s, e), batch_size=batch_size))
    return {m: torch.cat(v) for m, v in out.items()}


def _write_shard(out: Path, i: int, plan: ShardPlan, source: RowSource, emb: dict[str, torch.Tensor],
                 dtype: str, rank: int, seconds: float, fault: bool = False) -> None:
    start, stop = plan.bounds(i)
    files = _shard_files(out, i, plan.n_shards, list(emb))
    _marker(out, i, plan.n_shards).unlink(missing_ok=True)  # a stale marker never vouches for new files
    for m, t in emb.items():
        arr = np.ascontiguousarray(t.numpy().astype(_DTYPES[dtype]))
        _write_file(files[m], lambda f, a=arr: np.save(f, a, allow_pickle=False))
        if fault:  # killed mid-shard: embeddings written, no metadata, no marker
            os._exit(17)
    keys = source.keys(start, stop)
    meta = {"key": keys}
    if source.has_captions:
        meta["caption"] = source.captions(start, stop)
    if source.has_negatives:
        meta["negative"] = source.negatives(start, stop)
    _write_file(files["metadata"], lambda f: pd.DataFrame(meta).to_parquet(f, index=False))
    stats = {"shard": i, "start": start, "stop": stop, "rows": stop - start, "keys_sha256": keys_digest(keys),
             "dtype": dtype, "dim": int(next(iter(emb.values())).shape[1]), "rank": rank,
             "seconds": round(seconds, 4),
             "files": {p.relative_to(out).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
                       for p in files.values()}}
    write_atomic(_marker(out, i, plan.n_shards), json.dumps(stats, indent=1).encode())


def embed_shards(model: EmbeddingModel, source: RowSource, out_dir: str | Path, *, shard_size: int = 10_000,
                 dtype: str = "fp16", batch_size: int = 256, modalities: Sequence[str] | None = None,
                 progress: bool = False) -> dict:
    """Embed ``source`` with ``model`` into ``out_dir`` in clip-retrieval's layout (module docstring).

    Run alone, or under ``torchrun`` after :func:`~labclip_lib.distributed.init_distributed`: each
    rank embeds shards ``rank, rank + world_size, ...``. ``modalities``: any of ``"image"``,
    ``"text"``, ``"negative"`` (default: every one the source has). Returns this rank's summary:
    shards computed and skipped, rows embedded, seconds.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    if modalities is None:
        modalities = [m for m, has in (("image", source.has_images), ("text", source.has_captions),
                                       ("negative", source.has_negatives)) if has]
    modalities = [m for m in MODALITIES if m in modalities]
    if not modalities:
        raise ValueError(f"nothing to embed from {source.name}")
    plan = ShardPlan(len(source), shard_size)
    dist = distributed_info()
    out = Path(out_dir)
    want = _info(model, source, plan, modalities, dtype)
    info_path = out / INFO_FILE
    if dist.is_main:
        for sub in [*(MODALITIES[m] for m in modalities), "metadata", "stats"]:
            (out / sub).mkdir(parents=True, exist_ok=True)
            for tmp in (out / sub).glob(".*.tmp"):  # left by a killed worker
                tmp.unlink()
        if info_path.is_file():
            _check_info(info_path, want)
        else:
            write_atomic(info_path, json.dumps(want, indent=1).encode())
    barrier()
    if not dist.is_main:
        _check_info(info_path, want)
    fault_after = os.environ.get(FAULT_ENV, "").strip()
    fault_after = int(fault_after) if fault_after.isdigit() else None
    t0 = time.perf_counter()
    done, skipped, rows, first = [], [], 0, None
    for i in plan.shards_of(dist.rank, dist.world_size):
        if _shard_done(out, i, plan.n_shards):
            skipped.append(i)
            continue
        start, stop = plan.bounds(i)
        ts = time.perf_counter()
        emb = _embed_shard(model, source, start, stop, modalities, batch_size)
        fault = fault_after is not None and len(done) >= fault_after
        _write_shard(out, i, plan, source, emb, dtype, dist.rank, time.perf_counter() - ts, fault)
        done.append(i)
        rows += stop - start
        first = first if first is not None else time.perf_counter() - t0
        if progress:
            print(f"rank {dist.rank}: shard {i + 1}/{plan.n_shards} ({stop - start} rows)", flush=True)
    barrier()
    return {"rank": dist.rank, "world_size": dist.world_size, "computed": done, "skipped": skipped, "rows": rows,
            "seconds": time.perf_counter() - t0, "first_shard_seconds": first, "n_shards": plan.n_shards}


# --------------------------------------------------------------------------- reading

_NAME = re.compile(r"^(?P<prefix>[a-z_]+)_(?P<index>\d+)\.(npy|parquet|json)$")


def _indexed(folder: Path, prefix: str, suffix: str) -> dict[int, Path]:
    out = {}
    for p in folder.glob(f"{prefix}_*{suffix}"):
        m = _NAME.match(p.name)
        if m and m["prefix"] == prefix:
            out[int(m["index"])] = p
    return out


def _open_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - numpy raises several types for broken files
        raise ValueError(f"{path} is not a readable .npy file (corrupt or truncated?): {err}") from None
    if arr.ndim != 2 or arr.dtype not in (np.float16, np.float32):
        raise ValueError(f"{path} holds a {arr.dtype} array of shape {arr.shape}, expected float16/32 (rows, D)")
    return arr


class ShardReader:
    """Memory-mapped embeddings of a shard folder (ours or clip-retrieval's), one virtual table.

    Opening checks, naming the offending file: every embedding file is a readable float16/32
    ``(rows, D)`` array with one D; the modalities' shards have equal rows; each shard's metadata
    has as many rows; and, for our folders, every shard is complete (marker present), written by
    the model and with the shard size of ``embedding_info.json``. Rows come back as float32.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"no shard folder at {self.directory}")
        info_path = self.directory / INFO_FILE
        self.info = json.loads(info_path.read_text()) if info_path.is_file() else None
        self.modalities = [m for m, prefix in MODALITIES.items() if (self.directory / prefix).is_dir()]
        if not self.modalities:
            raise ValueError(f"{self.directory} has none of the folders {list(MODALITIES.values())}")
        files = {m: _indexed(self.directory / MODALITIES[m], MODALITIES[m], ".npy") for m in self.modalities}
        self.modalities = [m for m in self.modalities if files[m]]
        if not self.modalities:
            raise ValueError(f"{self.directory} holds no embedding files")
        indices = sorted(files[self.modalities[0]])
        if self.info is not None:
            markers = _indexed(self.directory / "stats", "stats", ".json")
            missing = [i for i in range(self.info["n_shards"]) if i not in markers]
            if missing:
                raise ValueError(f"{self.directory} is incomplete: shards {missing[:10]} have no stats marker "
                                 "(rerun the embedding to finish them)")
            indices = list(range(self.info["n_shards"]))
            self.stats = {i: json.loads(markers[i].read_text()) for i in indices}
        else:
            self.stats = {}
        for m in self.modalities:
            if sorted(files[m]) != indices:
                other = sorted(set(indices) ^ set(files[m]))
                raise ValueError(f"{self.directory / MODALITIES[m]}: shard files {other[:10]} do not match "
                                 f"the {MODALITIES[self.modalities[0]]} shards")
        self._indices = indices
        self.arrays = {m: [_open_npy(files[m][i]) for i in indices] for m in self.modalities}
        self.paths = {m: [files[m][i] for i in indices] for m in self.modalities}
        first = self.paths[self.modalities[0]][0]
        self.dim = int(self.arrays[self.modalities[0]][0].shape[1])
        if self.info is not None and self.info["dim"] != self.dim:
            raise ValueError(f"{first} has D={self.dim} but {info_path} says {self.info['dim']}")
        rows = [len(a) for a in self.arrays[self.modalities[0]]]
        for m in self.modalities:
            for a, p, n in zip(self.arrays[m], self.paths[m], rows):
                if a.shape[1] != self.dim:
                    raise ValueError(f"{p} has D={a.shape[1]}, the others D={self.dim} (from {first}): "
                                     "shards of another model?")
                if len(a) != n:
                    raise ValueError(f"{p} has {len(a)} rows, its {self.modalities[0]} shard {n}")
        if self.info is not None:
            size = self.info["shard_size"]
            for i, (n, p) in enumerate(zip(rows, self.paths[self.modalities[0]])):
                want = min(size, self.info["n_rows"] - i * size)
                if n != want or self.stats[i].get("rows") != n:
                    raise ValueError(f"{p} has {n} rows but shard {i} of {self.info['n_rows']} rows in shards of "
                                     f"{size} ({self.directory / INFO_FILE}) must have {want}: written with "
                                     "another shard size?")
        self.metadata_paths = dict(sorted(_indexed(self.directory / "metadata", "metadata", ".parquet").items()))
        if self.metadata_paths:
            self._check_metadata_rows(indices, rows)
        self.offsets = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)

    def _check_metadata_rows(self, indices: list[int], rows: list[int]) -> None:
        # pyarrow only here: parquet footers give the row counts without reading the columns
        import pyarrow.parquet as pq

        for i, n in zip(indices, rows):
            p = self.metadata_paths.get(i)
            if p is None:
                raise ValueError(f"{self.directory / 'metadata'}: no metadata file for shard {i}")
            try:
                got = pq.ParquetFile(p).metadata.num_rows
            except Exception as err:  # noqa: BLE001 - pyarrow raises several types for broken files
                raise ValueError(f"{p} is not a readable parquet file: {err}") from None
            if got != n:
                raise ValueError(f"{p} has {got} rows but its embeddings {n}")

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_shards(self) -> int:
        return len(self.offsets) - 1

    def shard_bounds(self) -> list[tuple[int, int]]:
        """Each shard's global rows ``[start, stop)``."""
        return [(int(a), int(b)) for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def _modality(self, modality: str) -> list[np.ndarray]:
        if modality not in self.arrays:
            raise KeyError(f"{self.directory} has no {modality!r} embeddings (it has {self.modalities})")
        return self.arrays[modality]

    def rows(self, start: int, stop: int, modality: str = "image") -> np.ndarray:
        """Rows ``[start, stop)`` as float32 ``(stop - start, D)`` (only those pages are read)."""
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"row range [{start}, {stop}) outside [0, {len(self)})")
        arrays = self._modality(modality)
        out = np.empty((stop - start, self.dim), np.float32)
        first = int(np.searchsorted(self.offsets, start, side="right") - 1)
        pos = start
        for s in range(first, self.n_shards):
            if pos >= stop:
                break
            a, b = pos - self.offsets[s], min(stop, self.offsets[s + 1]) - self.offsets[s]
            out[pos - start : pos - start + (b - a)] = arrays[s][a:b]
            pos += b - a
        return out

    def take(self, indices: np.ndarray, modality: str = "image") -> np.ndarray:
        """Rows at global ``indices`` (any order) as float32 ``(len(indices), D)``."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"row indices outside [0, {len(self)})")
        arrays = self._modality(modality)
        shard = np.searchsorted(self.offsets, idx, side="right") - 1
        out = np.empty((len(idx), self.dim), np.float32)
        for s in np.unique(shard):
            sel = np.nonzero(shard == s)[0]
            local = idx[sel] - self.offsets[s]
            order = np.argsort(local, kind="stable")  # read the pages in file order
            out[sel[order]] = arrays[s][local[order]]
        return out

    def batches(self, batch_size: int, modalities: Sequence[str] | None = None) -> Iterator[dict[str, np.ndarray]]:
        """Consecutive batches ``{modality: (B, D) float32}`` in row order."""
        mods = list(modalities or self.modalities)
        for s in range(0, len(self), batch_size):
            e = min(len(self), s + batch_size)
            yield {m: self.rows(s, e, m) for m in mods}

    def metadata(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """The metadata of rows ``[start, stop)``, one row per embedding row in the same order
        (``key`` first). For our folders each shard's keys are checked against its marker."""
        stop = len(self) if stop is None else stop
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"row range [{start}, {stop}) outside [0, {len(self)})")
        if not self.metadata_paths:
            raise ValueError(f"{self.directory} has no metadata folder")
        parts = []
        for s, (a, b) in enumerate(self.shard_bounds()):
            if b <= start or a >= stop:
                continue
            path = self.metadata_paths[self._indices[s]]
            frame = pd.read_parquet(path)
            if s in self.stats:
                if "key" not in frame or keys_digest(frame["key"].astype(str).tolist()) != self.stats[s]["keys_sha256"]:
                    raise ValueError(f"{path}: its keys do not match the keys its embeddings were computed for "
                                     f"(stats marker {_marker(self.directory, s, self.n_shards).name})")
            parts.append(frame.iloc[max(start, a) - a : min(stop, b) - a])
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def open_shards(directory: str | Path) -> ShardReader:
    """:class:`ShardReader` of ``directory``."""
    return ShardReader(directory)

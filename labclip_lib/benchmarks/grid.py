"""Evaluation grids (models x benchmarks) split over torch.distributed ranks, as CLIP_benchmark does:
run ``i`` of the grid (models outer, benchmarks inner) goes to rank ``i % world_size``; each result
is written atomically to ``runs/{model}__{benchmark}.json`` and a rerun skips runs whose file is
there; after a barrier rank 0 merges every run into ``results.csv`` (one row per run and
metrics row). Also the real benchmarks' loaders as row sources for sharded embedding.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..distributed import barrier, distributed_info
from ..embed.sources import ArraySource, load_rgb
from ..storage import write_atomic
from .coco import RetrievalDataset
from .data import open_image

__all__ = ["GridRun", "grid_runs", "run_grid", "merge_grid", "run_path", "RetrievalSource"]

GRID_FORMAT = "labclip-grid-run/1"


@dataclass(frozen=True)
class GridRun:
    """One cell of the grid: a model (id or directory) on a benchmark (a name the evaluator knows)."""

    model: str
    benchmark: str


def grid_runs(models: Sequence[str], benchmarks: Sequence[str]) -> list[GridRun]:
    """Every (model, benchmark), models outer; duplicates refused."""
    if len(set(models)) != len(models) or len(set(benchmarks)) != len(benchmarks):
        raise ValueError("the grid's models and benchmarks must be unique")
    if not models or not benchmarks:
        raise ValueError("the grid needs at least one model and one benchmark")
    return [GridRun(str(m), str(b)) for m in models for b in benchmarks]


def _slug(s: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', s)[-48:]}-{hashlib.sha256(s.encode()).hexdigest()[:8]}"


def run_path(out_dir: str | Path, run: GridRun) -> Path:
    """Where ``run``'s result lives."""
    return Path(out_dir) / "runs" / f"{_slug(run.model)}__{_slug(run.benchmark)}.json"


def _finished(path: Path, run: GridRun) -> bool:
    try:
        stored = json.loads(path.read_text())
        return (stored.get("format") == GRID_FORMAT
                and (stored["model"], stored["benchmark"]) == (run.model, run.benchmark))
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return False


def run_grid(models: Sequence[str], benchmarks: Sequence[str], evaluate: Callable[[str, str], list[dict] | dict],
             out_dir: str | Path) -> dict:
    """Run this rank's share of the grid with ``evaluate(model, benchmark) -> row or rows of
    numbers`` (JSON-able), skipping finished runs; rank 0 then merges (:func:`merge_grid`).
    Returns ``{"rank", "executed": [...], "skipped": [...], "table": DataFrame or None}``.
    Alone (no torchrun) it runs the whole grid."""
    runs = grid_runs(models, benchmarks)
    dist = distributed_info()
    executed, skipped = [], []
    for run in runs[dist.rank :: dist.world_size]:
        path = run_path(out_dir, run)
        if _finished(path, run):
            skipped.append(run)
            continue
        t0 = time.perf_counter()
        rows = evaluate(run.model, run.benchmark)
        rows = [rows] if isinstance(rows, dict) else list(rows)
        body = {"format": GRID_FORMAT, "model": run.model, "benchmark": run.benchmark, "rank": dist.rank,
                "seconds": round(time.perf_counter() - t0, 4), "rows": rows}
        write_atomic(path, json.dumps(body, default=float).encode())
        executed.append(run)
    barrier()
    table = merge_grid(out_dir, models, benchmarks) if dist.is_main else None
    barrier()
    return {"rank": dist.rank, "executed": executed, "skipped": skipped, "table": table}


def merge_grid(out_dir: str | Path, models: Sequence[str], benchmarks: Sequence[str]) -> pd.DataFrame:
    """Every run's rows in grid order, with ``model``, ``benchmark``, ``rank`` and ``seconds``
    columns; written to ``results.csv`` atomically. A missing run is an error naming its file."""
    frames = []
    for run in grid_runs(models, benchmarks):
        path = run_path(out_dir, run)
        if not _finished(path, run):
            raise FileNotFoundError(f"run {run.model} x {run.benchmark} has no result ({path}): rerun the grid")
        stored = json.loads(path.read_text())
        for row in stored["rows"]:
            frames.append({"model": run.model, "grid benchmark": run.benchmark, "rank": stored["rank"],
                           "seconds": stored["seconds"], **row})
    table = pd.DataFrame(frames)
    write_atomic(Path(out_dir) / "results.csv", table.to_csv(index=False).encode())
    return table


class RetrievalSource(ArraySource):
    """A retrieval benchmark (COCO, Flickr30k: :class:`~labclip_lib.benchmarks.coco.RetrievalDataset`)
    as a row source: one row per caption, key ``{image index}-{caption index}``, its image read
    when its shard is embedded."""

    def __init__(self, dataset: RetrievalDataset):
        caps = list(dataset.captions)
        owner = np.asarray(dataset.image_of_caption)
        super().__init__([f"{int(owner[j])}-{j}" for j in range(len(caps))], None, caps, name=dataset.name)
        self._refs, self._owner = list(dataset.images), owner
        self.has_images = True

    def images(self, start: int, stop: int, size: int | None = None) -> np.ndarray:
        return np.stack([load_rgb(open_image(self._refs[self._owner[j]]), size) for j in range(start, stop)])

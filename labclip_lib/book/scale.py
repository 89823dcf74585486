"""The appendix "Beyond one GPU" in a sentence each: the same sharded embedding and the same
streaming map fit run by ``torchrun`` with one process and with several, side by side."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..alignment.estimator import LinearAlignment
from ..distributed import rank_reports, torchrun
from ..embed.estimate import clip_flops, embedding_time_estimate
from ..embed.shards import ShardReader

__all__ = ["scale_embedding", "scale_map_fit", "embedding_estimates"]


def _run(args: Sequence[str], nproc: int) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    res = torchrun(args, nproc)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"torchrun with {nproc} process(es) failed:\n{res.stderr[-3000:]}")
    return wall, rank_reports(res.stdout)


def scale_embedding(model: str | Path, directory: str | Path, scenes: int, processes: Sequence[int] = (1, 2),
                    shard_size: int = 250, resolution: int = 32, seed: int = 0) -> pd.DataFrame:
    """``python -m labclip_lib embed`` of ``scenes`` organism scenes (image, caption, swapped
    caption) with ``model`` under ``torchrun`` with each number of ``processes``, each into
    ``directory/<n>``: one row per run with the rows per second over the embedding (the slowest
    rank), the wall seconds (start-up included), the seconds to the first shard and whether
    every shard equals the first run's. Scenes are rendered (or read from the cache) first."""
    if not processes:
        raise ValueError("no process counts")
    directory = Path(directory)
    common = ["embed", "--model", str(model), "--scenes", str(scenes), "--resolution", str(resolution),
              "--seed", str(seed), "--shard-size", str(shard_size), "--dtype", "fp32"]
    _run([*common[:4], "16", *common[5:], "--out", str(directory / "warm-up")], 1)  # scenes cached once
    rows, first = [], None
    for n in processes:
        wall, reports = _run([*common, "--out", str(directory / str(n))], n)
        reader = ShardReader(directory / str(n))
        first = first or reader
        same = all(np.array_equal(first.rows(0, len(first), m), reader.rows(0, len(reader), m))
                   for m in first.modalities)
        rows.append({"processes": n, "rows/s": scenes / max(r["seconds"] for r in reports), "wall s": wall,
                     "first shard s": max(r["first_shard_seconds"] for r in reports),
                     f"equal to {processes[0]} process(es)": same})
    table = pd.DataFrame(rows).set_index("processes")
    table["scaling efficiency"] = table["rows/s"] / (table["rows/s"].iloc[0] * table.index / table.index[0])
    return table


def scale_map_fit(shards: str | Path, directory: str | Path, processes: Sequence[int] = (1, 2), epochs: int = 2,
                  batch_size: int = 256, seed: int = 0) -> pd.DataFrame:
    """``python -m labclip_lib fit-map`` (LABCLIP's HNB loss, streamed from the memory-mapped
    ``shards``) under ``torchrun`` with each number of ``processes``: one row per run with its
    wall seconds and the largest difference of its map from the first run's."""
    directory = Path(directory)
    rows, first = [], None
    for n in processes:
        out = directory / f"map-{n}"
        wall, _ = _run(["fit-map", "--shards", str(shards), "--out", str(out), "--epochs", str(epochs),
                        "--batch-size", str(batch_size), "--seed", str(seed)], n)
        weight = LinearAlignment.load(out).weight_
        first = weight if first is None else first
        rows.append({"processes": n, "wall s": wall, "rows": len(ShardReader(shards)),
                     "max |W - W(first run)|": float((weight - first).abs().max())})
    return pd.DataFrame(rows).set_index("processes")


def embedding_estimates(pairs: int, architecture: str, devices: Sequence[int], device_tflops: float,
                        utilisation: float, scaling_efficiency: float) -> pd.DataFrame:
    """Estimated hours to embed ``pairs`` image-caption pairs with a CLIP ``architecture``
    (:func:`~labclip_lib.embed.estimate.clip_flops`: image plus one full-length caption) on each
    number of ``devices``, from an assumed peak rate, utilisation and scaling efficiency."""
    flops = clip_flops(architecture)
    per_pair = flops["image"] + flops["text"]
    return pd.DataFrame([{"devices": n, "GFLOP per pair": per_pair / 1e9,
                          "hours (estimate)": embedding_time_estimate(pairs, per_pair, n, device_tflops, utilisation,
                                                                      scaling_efficiency)}
                         for n in devices]).set_index("devices")

"""Scaling out: sharded embedding at 1 and 2 processes, a killed-and-resumed run, and the streaming
map fit against the in-memory one.

* **embedding**: ``torchrun --nproc_per_node P -m labclip_lib embed`` (gloo, one thread per
  process) of organism scenes with a small random CLIP; samples per second over the embedding
  phase (the slowest rank's seconds; start-up excluded), scaling efficiency ``rate(2) / (2 rate(1))``
  (goal >= 0.8 on a 2-core machine), time to the first shard, and the largest difference between
  the two runs' embeddings;
* **resume**: the 2-process run killed in each worker's 3rd shard (``LABCLIP_FAULT_AFTER_SHARDS``)
  and rerun: extra wall time over the clean run (start-ups included) and rows recomputed (goal: at
  most one shard per failed worker);
* **streaming fit**: rows per second of :func:`~labclip_lib.alignment.streaming.fit_from_shards`
  (memory-mapped shards) against :meth:`LinearAlignment.fit` on the same rows in memory, and the
  streaming fit's peak anonymous memory (RssAnon) at 1x and 10x the rows (goal: flat within 20%),
  and how much it grew during each fit.

Run: ``python speed/bench_scale.py`` (``--quick``: fewer rows).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from labclip_lib.alignment import LinearAlignment
from labclip_lib.alignment.streaming import StreamSettings, fit_streaming
from labclip_lib.distributed import rank_reports, torchrun
from labclip_lib.embed.shards import FAULT_ENV, ShardReader
from labclip_lib.testing import make_tiny_clip



def embed(nproc: int, model: Path, out: Path, rows: int, shard: int, env: dict | None = None) -> tuple[float, list]:
    """Wall seconds of one torchrun embedding and the ranks' reports."""
    args = ["embed", "--model", model, "--scenes", rows, "--resolution", 64, "--shard-size", shard,
            "--dtype", "fp32", "--batch-size", 64, "--out", out]
    t0 = time.perf_counter()
    res = torchrun(args, nproc, env=env, timeout=None)
    wall = time.perf_counter() - t0
    if res.returncode != 0 and not env:
        raise RuntimeError(res.stderr[-3000:])
    return wall, rank_reports(res.stdout)


def anon_kib() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


def write_shards(folder: Path, n: int, d: int, shard: int) -> ShardReader:
    g = np.random.default_rng(n)
    for prefix in ("img_emb", "text_emb", "neg_text_emb"):
        (folder / prefix).mkdir(parents=True)
        for i in range(0, n, shard):
            np.save(folder / prefix / f"{prefix}_{i // shard}.npy",
                    g.normal(size=(min(shard, n - i), d)).astype(np.float32))
    return ShardReader(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rows, shard = (512, 64) if args.quick else (2048, 128)
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    os.environ["LABCLIP_CACHE"] = str(tmp / "cache")
    model = make_tiny_clip(tmp / "clip", hidden=128, layers=4, heads=4, image_size=64, patch=8, projection_dim=64)
    embed(1, model, tmp / "warm", 64, 64)  # renders and caches the scenes once, so no run pays for them

    w1, r1 = embed(1, model, tmp / "one", rows, shard)
    w2, r2 = embed(2, model, tmp / "two", rows, shard)
    rate1 = rows / max(r["seconds"] for r in r1)
    rate2 = rows / max(r["seconds"] for r in r2)
    a, b = ShardReader(tmp / "one"), ShardReader(tmp / "two")
    diff = max(float(np.abs(a.rows(0, rows, m) - b.rows(0, rows, m)).max()) for m in a.modalities)
    print(f"sharded embedding of {rows} scenes (image + caption + swap), shards of {shard}, one thread per process")
    print(f"{'processes':>10} {'samples/s':>10} {'first shard s':>14} {'wall s':>8}")
    print(f"{1:>10} {rate1:>10.1f} {r1[0]['first_shard_seconds']:>14.2f} {w1:>8.1f}")
    print(f"{2:>10} {rate2:>10.1f} {max(r['first_shard_seconds'] for r in r2):>14.2f} {w2:>8.1f}")
    print(f"scaling efficiency rate(2) / (2 rate(1)): {rate2 / (2 * rate1):.2f} (goal >= 0.8)")
    print(f"max |difference| 2 processes vs 1: {diff:.3g}")

    wk, _ = embed(2, model, tmp / "killed", rows, shard, env={FAULT_ENV: "2"})
    stats = {p.stem.split("_")[1] for p in (tmp / "killed" / "stats").glob("stats_*.json")}
    partial = [p for p in (tmp / "killed" / "img_emb").glob("img_emb_*.npy") if p.stem.split("_")[2] not in stats]
    wr, rr = embed(2, model, tmp / "killed", rows, shard)
    recomputed = sum(len(np.load(p, mmap_mode="r")) for p in (tmp / "killed" / "img_emb").glob("img_emb_*.npy")
                     if p.stem.split("_")[2] not in stats and p in partial)
    c = ShardReader(tmp / "killed")
    same = all(np.array_equal(a.rows(0, rows, m), c.rows(0, rows, m)) for m in a.modalities)
    print(f"killed in each worker's 3rd shard, rerun: extra wall {wk + wr - w2:.1f} s over the clean run "
          f"(start-ups included), rows recomputed {recomputed} = {len(partial)} shard(s) for 2 failed workers "
          f"(goal <= 1 each); output equals the clean run: {same}")

    n, d = (20_000, 256) if not args.quick else (5_000, 128)
    reader = write_shards(tmp / "fit1x", n, d, 2_000)
    settings = StreamSettings(epochs=2, batch_size=256, buffer_rows=8_192)
    with torch.no_grad():
        x, p, q = (torch.from_numpy(reader.rows(0, n, m)) for m in ("image", "text", "negative"))
    t0 = time.perf_counter()
    LinearAlignment(epochs=2, batch_size=256, progress=False).fit(x, p, q)
    mem_rate = 2 * n / (time.perf_counter() - t0)
    del x, p, q
    t0 = time.perf_counter()
    fit_streaming(reader, settings)
    stream_rate = 2 * n / (time.perf_counter() - t0)

    def peak(r) -> tuple[int, int]:
        """The process's peak anonymous memory during a streaming fit of ``r`` and its growth
        over what the process held before (KiB)."""
        base, top = anon_kib(), [0]
        fit_streaming(r, StreamSettings(epochs=1, batch_size=256, buffer_rows=8_192),
                      on_step=lambda s: top.__setitem__(0, max(top[0], anon_kib())))
        return top[0], max(0, top[0] - base)

    (p1, g1), (p10, g10) = peak(reader), peak(write_shards(tmp / "fit10x", 10 * n, d, 2_000))
    print(f"map fit, {n} x {d}, batch 256: in-memory LinearAlignment.fit {mem_rate:,.0f} rows/s, streaming from "
          f"memory-mapped shards {stream_rate:,.0f} rows/s ({stream_rate / mem_rate:.2f}x)")
    print(f"streaming fit peak anonymous memory: {p1:,} KiB at {n:,} rows, {p10:,} KiB at {10 * n:,} rows "
          f"({10 * n * d * 12 / 2**20:.0f} MiB of embeddings streamed): ratio {p10 / p1:.3f} (goal: flat within 20%, "
          f"{'met' if p10 <= 1.2 * p1 else 'missed'}); growth during the fit {g1} KiB and {g10} KiB")


if __name__ == "__main__":
    main()

"""Helpers of the sharding tests: a deterministic stub model, a stub data set, and a worker that
``torchrun`` launches (``python -m torch.distributed.run --nproc_per_node 2 tests/shardtools.py
embed|fit|grid OUT ...``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]

from labclip_lib.alignment.streaming import StreamSettings, fit_from_shards
from labclip_lib.benchmarks.grid import run_grid
from labclip_lib.distributed import free_port, init_distributed, rank_reports  # noqa: F401
from labclip_lib.embed.shards import embed_shards
from labclip_lib.embed.sources import ArraySource


class StubModel:
    """Deterministic embeddings: a seeded projection of the pixels; a caption's from its sha256."""

    def __init__(self, dim: int = 16, name: str = "stub"):
        self.dim, self.name, self.fingerprint = dim, name, f"{name}-{dim}"
        self.image_size, self.preprocess_config = 8, None
        self._proj = torch.from_numpy(np.random.default_rng(dim).normal(size=(8 * 8 * 3, dim)).astype(np.float32))

    def encode_images(self, images, batch_size=64, normalize=True, progress=None):
        x = torch.as_tensor(np.asarray(images)).float().reshape(len(images), -1) / 255.0
        e = x @ self._proj
        return F.normalize(e, dim=1) if normalize else e

    def encode_texts(self, captions, batch_size=256, normalize=True, progress=None):
        rows = [np.random.default_rng(int(hashlib.sha256(c.encode()).hexdigest()[:8], 16)).normal(size=self.dim)
                for c in captions]
        e = torch.from_numpy(np.asarray(rows, dtype=np.float32))
        return F.normalize(e, dim=1) if normalize else e


def stub_source(n: int = 300, seed: int = 0) -> ArraySource:
    """``n`` rows: 8 x 8 images, captions and negatives, keys ``row-{i}``."""
    g = np.random.default_rng(seed)
    images = g.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return ArraySource([f"row-{i:05d}" for i in range(n)], images, [f"caption {i}" for i in range(n)],
                       [f"swapped {i}" for i in range(n)], name=f"stub(n={n})")


def launch(args: list[str], nproc: int = 2, env: dict | None = None, module: bool = False,
           timeout: float = 120) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node nproc`` of this script (or ``-m labclip_lib`` when ``module``)."""
    target = ["-m", "labclip_lib"] if module else [__file__]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
           str(free_port()), *target, *args]
    full = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "TQDM_DISABLE": "1",
            **(env or {})}
    return subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def stub_evaluate(model: str, benchmark: str) -> dict:
    return {"score": len(model) * 100 + len(benchmark)}


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    what, out = argv[0], Path(argv[1])
    init_distributed()
    if what == "embed":
        n, shard_size = int(argv[2]), int(argv[3])
        print(json.dumps(embed_shards(StubModel(), stub_source(n), out, shard_size=shard_size, dtype="fp32",
                                      batch_size=32)))
    elif what == "fit":
        shards, epochs, every = argv[2], int(argv[3]), int(argv[4])
        est = fit_from_shards(shards, StreamSettings(epochs=epochs, batch_size=64, buffer_rows=100,
                                                     checkpoint_every=every))
        if int(os.environ.get("RANK", "0")) == 0:
            est.save(out)
    elif what == "grid":
        models, benchmarks = argv[2].split(","), argv[3].split(",")
        res = run_grid(models, benchmarks, stub_evaluate, out)
        print(json.dumps({"rank": res["rank"], "executed": [[r.model, r.benchmark] for r in res["executed"]],
                          "skipped": len(res["skipped"])}))
    else:
        raise SystemExit(f"unknown command {what!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

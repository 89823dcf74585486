"""torch.distributed for the sharded jobs: which rank this process is, and the few collectives they use.

A job is launched by ``torchrun`` (one process per GPU; on CPU as many as wanted), which sets
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_distributed` then joins the group with
NCCL on GPUs and gloo on CPU. Without those variables (a plain ``python`` run, a notebook) every
function here behaves as the single process of a group of one, so the same code runs both ways.
Nothing happens at import time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "distributed_info", "init_distributed", "barrier", "all_gather_rows", "all_reduce_sum",
           "free_port", "rank_reports", "torchrun"]


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"environment variable {name} must be a non-negative integer, got {raw!r}")
    return int(raw)


def distributed_info() -> DistInfo:
    """The rank and world size of the initialised group, else torchrun's variables, else ``(0, 1)``."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))
    info = DistInfo(_env_int("RANK", 0), _env_int("WORLD_SIZE", 1), _env_int("LOCAL_RANK", 0))
    if info.world_size < 1 or info.rank >= info.world_size:
        raise ValueError(f"RANK={info.rank} must be below WORLD_SIZE={info.world_size}")
    return info


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join torchrun's process group when ``WORLD_SIZE`` > 1 (``backend``: default NCCL when CUDA is
    available, else gloo; each process then uses GPU ``LOCAL_RANK``). Idempotent; a no-op alone."""
    info = distributed_info()
    if info.world_size > 1 and not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return distributed_info()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Wait for every rank (nothing alone)."""
    if _active():
        dist.barrier()


def all_gather_rows(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Concatenate every rank's ``x`` ``(sizes[rank], ...)`` in rank order: ``(sum(sizes), ...)``.

    ``sizes`` (known to every rank) may differ: the rows are padded to the largest for the
    collective and trimmed after. Not differentiable; alone it returns ``x``.
    """
    if not _active():
        return x
    top = max(sizes)
    pad = x.new_zeros((top, *x.shape[1:]))
    pad[: len(x)] = x
    parts = [torch.empty_like(pad) for _ in sizes]
    dist.all_gather(parts, pad.contiguous())
    return torch.cat([p[:n] for p, n in zip(parts, sizes)])


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum ``x`` over the ranks in place (nothing alone); returns ``x``."""
    if _active():
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x



def free_port() -> int:
    """A free TCP port on this machine for torchrun's ``--master_port``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_reports(stdout: str) -> list[dict]:
    """The JSON objects ``{"rank": ...}`` the ranks of a torchrun job printed (the commands of
    ``python -m labclip_lib`` print one each); their lines may interleave."""
    dec, out, i = json.JSONDecoder(), [], stdout.find('{"rank"')
    while i >= 0:
        obj, end = dec.raw_decode(stdout, i)
        out.append(obj)
        i = stdout.find('{"rank"', end)
    return out


def torchrun(args: Sequence[str], nproc: int = 2, env: dict | None = None, timeout: float | None = 600
             ) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node nproc -m labclip_lib *args`` on this machine (a free port; on
    CPU gloo over the loopback, one PyTorch thread per process), its output captured. ``env``
    adds environment variables. Used in the appendix "Beyond one GPU"."""
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
           str(free_port()), "-m", "labclip_lib", *map(str, args)]
    full = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "TQDM_DISABLE": "1", **(env or {})}
    return subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=timeout)

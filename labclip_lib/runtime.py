"""Runtime helpers every chapter needs: device choice, seeding and the cache directory.

Nothing here runs at import time; every function is called explicitly.
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from joblib import Parallel, delayed
from tqdm.auto import tqdm

__all__ = ["get_device", "autocast", "loader_workers", "seed_everything", "cache_dir", "rng", "progress_bar",
           "torch_threads", "one_core", "parallel_map"]


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` if given, else CUDA when available, else CPU.

    Raises a clear error when CUDA is requested but absent.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} requested but CUDA is not available on this machine")
    return dev


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None = None) -> Iterator[None]:
    """Mixed precision on CUDA in ``dtype`` (default: bf16 where the GPU has it natively, else fp16);
    a no-op on CPU.

    "Natively": compute capability 8 (Ampere) or more, or ROCm. A T4 (Colab's GPU, capability 7.5)
    only emulates bf16, slowly, although ``torch.cuda.is_bf16_supported()`` says yes; it gets fp16.
    """
    if device.type == "cuda":
        if dtype is None:
            native = torch.version.hip is not None or torch.cuda.get_device_capability(device)[0] >= 8
            dtype = torch.bfloat16 if native else torch.float16
        with torch.autocast("cuda", dtype=dtype):
            yield
    else:
        yield


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def loader_workers(device: torch.device, num_workers: int | None = None) -> int:
    """How many ``DataLoader`` worker processes decode images for a model on ``device``.

    ``num_workers`` if given, else ``$LABCLIP_WORKERS`` if set, else ``min(8, usable cores)`` on
    CUDA (the GPU waits for images unless every core decodes) and 0 on CPU (the forward pass
    already uses every core; workers would compete with it for them).
    """
    if num_workers is None:
        env = os.environ.get("LABCLIP_WORKERS", "").strip()
        if env and not env.isdigit():
            raise ValueError(f"LABCLIP_WORKERS must be a non-negative integer, got {env!r}")
        num_workers = int(env) if env else min(8, _usable_cores()) if device.type == "cuda" else 0
    if not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
        raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
    return int(num_workers)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators.

    Library functions take their own ``seed`` arguments and do not rely on global state;
    this is for notebook code that does.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


def rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A NumPy ``Generator`` from a seed (or pass a Generator through unchanged).

    ``None`` is refused: every random choice in labclip takes an explicit seed.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        raise ValueError("an explicit seed is required (got None)")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(int(seed))


def cache_dir(subdir: str | None = None, create: bool = True) -> Path:
    """The labclip cache directory.

    ``$LABCLIP_CACHE`` if set, else ``$XDG_CACHE_HOME/labclip`` or ``~/.cache/labclip``.
    ``subdir`` names a folder inside it (created when ``create``).
    """
    env = os.environ.get("LABCLIP_CACHE")
    if env:
        root = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "labclip"
    path = root / subdir if subdir else root
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def progress_bar(total: int, desc: str, show: bool = True):
    """A ``tqdm.auto`` bar (a widget in notebooks) unless ``show`` is false or the environment
    sets ``TQDM_DISABLE`` (as the book build does: a bar left in a page is dead weight)."""

    if os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes"):
        show = False
    return tqdm(total=total, desc=desc, disable=not show, leave=False)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` PyTorch intra-op threads (``None``: leave as is), then restore.

    Many small matrix products (a 64 x 64 map, batches of 128) run faster on one thread than on
    several, and far faster when another process competes for the cores.
    """
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _set_environment(values: dict[str, str | None]) -> None:
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@contextlib.contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """Run the block with these environment variables (``None``: unset), then restore them."""
    old = {k: os.environ.get(k) for k in values}
    _set_environment(values)
    try:
        yield
    finally:
        _set_environment(old)


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Run the block as one worker among several: one PyTorch thread and no nested worker pools
    (``$LABCLIP_JOBS`` = 1), both restored afterwards, so that a task run in this process (a
    pool of one) leaves the caller's settings as they were."""
    with _environment({"LABCLIP_JOBS": "1"}), torch_threads(1):
        yield


#: environment variables a worker process reads as the caller has them at each call (loky
#: reuses its workers between calls, and a worker keeps the environment it started with)
WORKER_ENVIRONMENT = ("LABCLIP_CACHE", "XDG_CACHE_HOME", "TQDM_DISABLE")


def _with_environment(env: dict, fn, *args):
    with _environment(env):
        return fn(*args)


def parallel_map(fn, tasks: Sequence[tuple], n_jobs: int | None = None) -> list:
    """``[fn(*task) for task in tasks]``, in up to ``n_jobs`` worker processes.

    For independent single-threaded jobs (linear probes: each runs on one core). ``n_jobs``
    defaults to ``$LABCLIP_JOBS`` or the number of usable cores; with one job (or one task)
    everything runs in this process. Results come back in order and equal the serial ones;
    ``fn`` must be a module-level function. Workers (joblib's loky) are reused between calls;
    each task runs with the caller's current :data:`WORKER_ENVIRONMENT` (its cache directory).
    """
    tasks = list(tasks)
    if n_jobs is None:
        env = os.environ.get("LABCLIP_JOBS", "").strip()
        if env and not env.isdigit():
            raise ValueError(f"LABCLIP_JOBS must be a positive integer, got {env!r}")
        n_jobs = int(env) if env else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be at least 1, got {n_jobs}")
    n_jobs = min(n_jobs, len(tasks))
    if n_jobs <= 1:
        return [fn(*t) for t in tasks]

    with warnings.catch_warnings():
        # loky replaces a worker that timed out idle between two calls and says so; results are unaffected
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs", category=UserWarning)
        env = {k: os.environ.get(k) for k in WORKER_ENVIRONMENT}  # e.g. the cache the caller uses now
        return Parallel(n_jobs=n_jobs, backend="loky")(delayed(_with_environment)(env, fn, *t) for t in tasks)

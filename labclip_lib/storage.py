"""Storage: atomic, checksummed files and directories, and a compute-or-load cache.

Knows nothing about models (the model-aware caches are :mod:`labclip_lib.embed.cache`). An entry
is a safetensors or JSON file named by a hash of its *key*: a dict of everything that changes the
value (the arguments, and :func:`code_fingerprint` of the modules that compute it). The key itself
and a checksum of the bytes are stored with the value and checked on load, so an entry is never
served for another key, and a truncated or corrupt file is detected, deleted and recomputed.
Writes go to a temporary file or directory renamed into place. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .runtime import cache_dir

__all__ = ["key_hash", "fingerprint_strings", "fingerprint_array", "tensors_digest", "code_fingerprint",
           "compute_or_load", "compute_or_load_json", "json_entry", "write_atomic", "write_directory", "save_directory",
           "read_directory"]


def write_directory(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Create directory ``path`` atomically: ``write(tmp)`` fills a temporary sibling directory,
    which then replaces ``path`` (a crash leaves the old ``path`` or nothing, never half of it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=path.parent))
    try:
        write(tmp)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling renamed into place, so a reader sees
    the old file or the whole new one, never part of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save_directory(path: str | Path, meta_name: str, weights_name: str, tensors: dict[str, torch.Tensor],
                   meta: dict, **json_kwargs) -> Path:
    """Write ``tensors`` (safetensors ``weights_name``) and ``meta`` plus their checksum
    ``weights_sha256`` (JSON ``meta_name``) into directory ``path`` atomically
    (:func:`write_directory`); :func:`read_directory` reads it back and checks it."""
    def write(tmp: Path) -> None:
        save_file({k: t.contiguous() for k, t in tensors.items()}, str(tmp / weights_name))
        digest = hashlib.sha256((tmp / weights_name).read_bytes()).hexdigest()
        (tmp / meta_name).write_text(json.dumps({**meta, "weights_sha256": digest}, **json_kwargs))

    return write_directory(path, write)


def read_directory(path: str | Path, meta_name: str, weights_name: str, what: str) -> tuple[dict, dict]:
    """Read a directory written by :func:`write_directory` with a JSON ``meta_name`` (holding
    ``weights_sha256``) and safetensors ``weights_name``: returns ``(meta, tensors)``, loaded
    without unpickling. Missing files, corrupt JSON or a checksum mismatch raise ``ValueError``
    naming ``what`` the directory should hold."""
    path = Path(path)
    meta_file, weights = path / meta_name, path / weights_name
    if not meta_file.is_file() or not weights.is_file():
        raise ValueError(f"{path} is not {what} directory (needs {meta_name} and {weights_name})")
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"corrupt {what} metadata {meta_file}: {err}") from None
    if hashlib.sha256(weights.read_bytes()).hexdigest() != meta.get("weights_sha256"):
        raise ValueError(f"{what} weights {weights} do not match their checksum (truncated or modified)")
    return meta, load_file(str(weights))


def _canonical(key: dict) -> str:
    if not isinstance(key, dict) or not key:
        raise ValueError("a cache key must be a non-empty dict")
    return json.dumps(key, sort_keys=True, default=str)


def key_hash(key: dict) -> str:
    """sha256 of the canonical JSON of ``key``."""
    return hashlib.sha256(_canonical(key).encode()).hexdigest()


def fingerprint_strings(items: Sequence[str]) -> str:
    """A fingerprint of a list of strings (order matters)."""
    h = hashlib.sha256()
    for s in items:
        b = str(s).encode()
        h.update(len(b).to_bytes(8, "little") + b)
    return f"str:{len(items)}:{h.hexdigest()}"


def fingerprint_array(x) -> str:
    """A fingerprint of an array's shape, dtype and bytes."""
    a = np.ascontiguousarray(x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x))
    h = hashlib.sha256(f"{a.shape}{a.dtype}".encode())
    h.update(a.tobytes())
    return f"arr:{h.hexdigest()}"


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of named tensors (names, shapes, dtypes and bytes; order-independent)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(name.encode() + str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


@lru_cache(maxsize=None)
def code_fingerprint(*modules: str) -> str:
    """sha256 of the source files of ``labclip_lib`` modules, named relative to the package
    (e.g. ``"world.scenes", "world.render"``): part of every cache key whose values those
    modules compute, so a change to the code never serves stale values."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in sorted(modules):
        path = here.joinpath(*name.split(".")).with_suffix(".py")
        if not path.is_file():
            raise ValueError(f"code_fingerprint: no module labclip_lib.{name} ({path})")
        h.update(name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def _load(path: Path, key: dict):
    """The stored value (tensor or dict of tensors), or None when missing, foreign or corrupt."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as err:  # safetensors raises several types for broken files
        warnings.warn(f"cache entry {path.name} is unreadable ({err}); recomputing", stacklevel=3)
        return None
    if meta.get("key") != _canonical(key):
        return None  # a different key with the same hash: treat as a miss
    if meta.get("sha256") != tensors_digest(tensors):
        warnings.warn(f"cache entry {path.name} fails its checksum (corrupt); recomputing", stacklevel=3)
        return None
    return tensors["value"] if meta.get("kind") == "tensor" else tensors


def compute_or_load(key: dict, compute: Callable[[], torch.Tensor | dict[str, torch.Tensor]], *,
                    directory: str | Path | None = None, name: str = "emb"):
    """Return the cached result for ``key`` or compute, store and return it.

    ``compute`` returns a tensor or a dict of tensors; the same type comes back on a hit.
    Files live in ``directory`` (default ``cache_dir("embeddings")``) as
    ``{name}-{hash[:24]}.safetensors``.
    """
    folder = Path(directory) if directory is not None else cache_dir("embeddings")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{key_hash(key)[:24]}.safetensors"
    if path.exists():
        got = _load(path, key)
        if got is not None:
            return got
        path.unlink(missing_ok=True)
    value = compute()
    tensors = {"value": value} if isinstance(value, torch.Tensor) else dict(value)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors.values()):
        raise TypeError("compute() must return a tensor or a non-empty dict of tensors")
    tensors = {k: t.detach().cpu().contiguous() for k, t in tensors.items()}
    meta = {"key": _canonical(key), "sha256": tensors_digest(tensors),
            "kind": "tensor" if isinstance(value, torch.Tensor) else "dict"}
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=folder)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return value


def json_entry(key: dict, *, directory: str | Path | None = None, name: str = "json") -> Path:
    """Where :func:`compute_or_load_json` keeps the value of ``key`` (present or not)."""
    folder = Path(directory) if directory is not None else cache_dir("json")
    return folder / f"{name}-{key_hash(key)[:24]}.json"


def compute_or_load_json(key: dict, compute: Callable[[], object], *, directory: str | Path | None = None,
                         name: str = "json"):
    """Like :func:`compute_or_load` for a JSON-serialisable value (lists, dicts, strings,
    numbers, None): stored as ``{name}-{hash[:24]}.json`` with its key and a checksum; a foreign,
    corrupt or truncated entry is recomputed. Tuples come back as lists."""
    path = json_entry(key, directory=directory, name=name)
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            body = stored["value"]
            if stored["key"] == _canonical(key) and stored["sha256"] == hashlib.sha256(
                    json.dumps(body, sort_keys=True).encode()).hexdigest():
                return body
        except (json.JSONDecodeError, KeyError, TypeError):
            pass
        warnings.warn(f"cache entry {path.name} is foreign or corrupt; recomputing", stacklevel=2)
    value = json.loads(json.dumps(compute()))  # what a later hit returns, also on this call
    text = json.dumps({"key": _canonical(key), "sha256": hashlib.sha256(json.dumps(value, sort_keys=True).encode())
                       .hexdigest(), "value": value})
    write_atomic(path, text.encode())
    return value



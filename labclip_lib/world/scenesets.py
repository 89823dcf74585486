"""Rendered scene sets, cached on disk.

Sampling 30,000 scenes (placement, visibility re-draws) and rendering them takes about 20 s on
two CPU cores, and every chapter needs the same sets again. :func:`rendered_scenes` keeps each
set under ``cache_dir("scenes")``: the images as a safetensors uint8 tensor, the scenes as JSON
records (every float round-trips exactly), with a checksum. The cache key holds the arguments
and a fingerprint of the source of the modules that make the numbers (scenes, render), so a
change to the scene world or the renderer never serves stale images. Nothing is unpickled.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..runtime import cache_dir
from ..storage import code_fingerprint, key_hash, read_directory, save_directory
from .render import render
from .sampling import sample_scenes
from .scenes import SIZES, Scene, SceneObject

__all__ = ["scenes_to_records", "scenes_from_records", "scene_set_cached", "rendered_scenes"]

_FIELDS = ("shape", "color", "size", "material", "x", "y", "rotation", "salience")
_META, _IMAGES = "scenes.json", "images.safetensors"
#: the scene sets this process read last (a worker trains and measures many organisms on the same
#: set; parsing a 30,000-scene set takes ~2 s): (entry, key, its files' sizes and mtimes) ->
#: (scenes, images); a rewritten or damaged entry has other stamps and is read again
_READ: OrderedDict[tuple, tuple[tuple[Scene, ...], torch.Tensor]] = OrderedDict()
_READ_KEEP = 2


def scenes_to_records(scenes: Sequence[Scene]) -> list[list[list]]:
    """Scenes as JSON-ready lists: one list of ``[shape, colour, size, material, x, y, rotation,
    salience]`` per object."""
    return [[[getattr(o, f) for f in _FIELDS] for o in s.objects] for s in scenes]


def scenes_from_records(records: Sequence[Sequence[Sequence]]) -> list[Scene]:
    """Inverse of :func:`scenes_to_records` (objects are validated again)."""
    return [Scene(tuple(SceneObject(**dict(zip(_FIELDS, o))) for o in objs)) for objs in records]


def _entry(n: int, counts: Sequence[int], seed: int, resolution: int, sizes: Sequence[str],
           directory: str | Path | None) -> tuple[Path, dict]:
    key = {"what": "rendered scenes", "n": int(n), "n_objects": list(counts), "seed": int(seed),
           "resolution": int(resolution), "sizes": list(sizes), "code": code_fingerprint("world.scenes", "world.sampling", "world.render")}
    root = Path(directory) if directory is not None else cache_dir("scenes")
    return root / f"scenes-{key_hash(key)[:20]}", key


def _counts(n_objects: int | Sequence[int]) -> list[int]:
    return [int(n_objects)] if isinstance(n_objects, (int, np.integer)) else [int(k) for k in n_objects]


def _stamp(path: Path) -> tuple:
    """The sizes and modification times of a cache entry's files (``None`` for a missing one)."""
    stamps = []
    for name in (_META, _IMAGES):
        try:
            st = (path / name).stat()
            stamps.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def scene_set_cached(n: int, n_objects: int | Sequence[int], seed: int, resolution: int, *,
                     sizes: Sequence[str] = SIZES, directory: str | Path | None = None) -> bool:
    """Whether :func:`rendered_scenes` with these arguments has an entry in the cache (present;
    its checksum is verified when it is read)."""
    return _entry(n, _counts(n_objects), seed, resolution, sizes, directory)[0].exists()


def rendered_scenes(n: int, n_objects: int | Sequence[int], seed: int, resolution: int, *,
                    sizes: Sequence[str] = SIZES, cache: bool = True,
                    directory: str | Path | None = None) -> tuple[list[Scene], torch.Tensor]:
    """``sample_scenes(n, n_objects, seed, sizes=sizes)`` and their ``render`` at ``resolution``:
    returns ``(scenes, images)`` with ``images`` uint8 ``(n, resolution, resolution, 3)``.

    With ``cache`` the pair is read from (or written to) ``directory`` (default
    ``cache_dir("scenes")``); a corrupt entry is recomputed. Same arguments, same result, with
    or without the cache.
    """
    counts = _counts(n_objects)

    def compute() -> tuple[list[Scene], torch.Tensor]:
        scenes = sample_scenes(n, counts if len(counts) > 1 else counts[0], seed=seed, sizes=tuple(sizes))
        return scenes, torch.from_numpy(render(scenes, resolution))

    if not cache:
        return compute()
    path, key = _entry(n, counts, seed, resolution, sizes, directory)
    if path.exists():
        read = (str(path), key_hash(key), _stamp(path))
        if read in _READ:  # read before by this process, unchanged since: a copy (callers may write to theirs)
            _READ.move_to_end(read)
            scenes, images = _READ[read]
            return list(scenes), images.clone()
        try:
            meta, tensors = read_directory(path, _META, _IMAGES, "a rendered scene set")
            if meta.get("key") == key:
                scenes, images = scenes_from_records(meta["scenes"]), tensors["images"]
                _READ[read] = (tuple(scenes), images)
                while len(_READ) > _READ_KEEP:
                    _READ.popitem(last=False)
                return scenes, images.clone()
        except (ValueError, KeyError, TypeError) as err:
            warnings.warn(f"re-rendering scene set {path.name}: {err}", stacklevel=2)
    scenes, images = compute()
    save_directory(path, _META, _IMAGES, {"images": images}, {"key": key, "scenes": scenes_to_records(scenes)})
    return scenes, images

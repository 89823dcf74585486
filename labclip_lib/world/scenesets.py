"""Rendered scene sets, cached on disk.

Sampling 30,000 scenes (placement, visibility re-draws) and rendering them takes about 20 s on
two CPU cores, and every chapter needs the same sets again. :func:`rendered_scenes` keeps each
set under ``cache_dir("scenes")`` in one safetensors file with a checksum: the images as a uint8
tensor and the scenes as columns (each object's shape, colour, size and material as codes into
the vocabularies stored beside them; positions, rotations and saliences as float64, so every
float comes back exactly). Reading a 30,000-scene set of four objects takes ~0.5 s this way
(JSON records took ~1.5 s, and every organism trained or measured reads its set). The cache key
holds the arguments and a fingerprint of the source of the modules that make the numbers
(scenes, render), so a change to the scene world or the renderer never serves stale images.
Nothing is unpickled.
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
from .scenes import COLORS, MATERIALS, SHAPES, SIZES, Scene, SceneObject

__all__ = ["scenes_to_records", "scenes_from_records", "scenes_to_columns", "scenes_from_columns", "scene_set_cached",
           "rendered_scenes"]

_FIELDS = ("shape", "color", "size", "material", "x", "y", "rotation", "salience")
_META, _IMAGES = "scenes.json", "images.safetensors"
#: the storage layout of a cached set (part of its key: a set stored another way is another entry)
_FORMAT = "columns-1"
#: the vocabularies the stored codes index, in code order (stored with each set and checked on reading)
_VOCABULARY = {"shape": SHAPES, "color": COLORS, "size": SIZES, "material": MATERIALS}
#: the scene sets this process read last (a worker trains and measures many organisms on the same
#: set; reading a 30,000-scene set from disk takes ~0.5 s): (entry, key, its files' sizes and mtimes) ->
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


def scenes_to_columns(scenes: Sequence[Scene]) -> dict[str, torch.Tensor]:
    """Scenes as the tensors a cached set stores: ``objects`` int32 ``(N,)`` (objects per
    scene), ``codes`` uint8 ``(M, 4)`` (shape, colour, size, material as indices into their
    vocabularies), ``floats`` float64 ``(M, 3)`` (x, y, rotation) and ``salience`` float64
    ``(M,)`` with ``measured`` uint8 ``(M,)`` (0 where an object has none), over the ``M``
    objects in scene order."""
    objs = [o for s in scenes for o in s.objects]
    index = {f: {v: i for i, v in enumerate(vocab)} for f, vocab in _VOCABULARY.items()}
    codes = [[index[f][getattr(o, f)] for f in _VOCABULARY] for o in objs]
    return {"objects": torch.tensor([len(s.objects) for s in scenes], dtype=torch.int32),
            "codes": torch.tensor(codes, dtype=torch.uint8).reshape(len(objs), len(_VOCABULARY)),
            "floats": torch.tensor([[o.x, o.y, o.rotation] for o in objs], dtype=torch.float64).reshape(len(objs), 3),
            "salience": torch.tensor([0.0 if o.salience is None else o.salience for o in objs], dtype=torch.float64),
            "measured": torch.tensor([o.salience is not None for o in objs], dtype=torch.uint8)}


def scenes_from_columns(columns: dict[str, torch.Tensor], vocabulary: dict[str, Sequence[str]] | None = None
                        ) -> list[Scene]:
    """Inverse of :func:`scenes_to_columns` (``vocabulary``: the one the codes were written
    with, default today's). The columns are checked as a whole (codes within their vocabularies,
    finite floats, object counts adding up), and the objects are then made without checking each
    one again: a set read back is a set that was checked when it was drawn."""
    vocabulary = {f: tuple(v) for f, v in (vocabulary or _VOCABULARY).items()}
    counts, codes, floats = columns["objects"], columns["codes"], columns["floats"]
    salience, measured = columns["salience"], columns["measured"]
    m = int(counts.sum()) if len(counts) else 0
    if list(vocabulary) != list(_VOCABULARY) or any(not set(v) <= set(_VOCABULARY[f]) for f, v in vocabulary.items()):
        raise ValueError(f"stored scene vocabularies {vocabulary} are not a subset of today's")
    if (counts.ndim != 1 or bool((counts < 1).any()) or codes.shape != (m, len(_VOCABULARY))
            or floats.shape != (m, 3) or salience.shape != (m,) or measured.shape != (m,)):
        raise ValueError(f"scene columns do not fit together: {len(counts)} scenes, {m} objects, codes "
                         f"{tuple(codes.shape)}, floats {tuple(floats.shape)}, salience {tuple(salience.shape)}")
    if not bool(torch.isfinite(floats).all()):
        raise ValueError("scene columns hold a position or rotation that is not finite")
    names = []
    for k, (f, vocab) in enumerate(vocabulary.items()):
        col = codes[:, k]
        if m and int(col.max()) >= len(vocab):
            raise ValueError(f"scene columns hold a {f} code {int(col.max())} outside its vocabulary of {len(vocab)}")
        names.append([vocab[i] for i in col.tolist()])
    xyr = floats.tolist()
    sal = [s if has else None for s, has in zip(salience.tolist(), measured.tolist())]
    new, setattr_ = object.__new__, object.__setattr__  # frozen dataclasses: fill their fields directly
    objects = []
    for shape, color, size, material, (x, y, rotation), s in zip(*names, xyr, sal):
        o = new(SceneObject)
        setattr_(o, "__dict__", {"shape": shape, "color": color, "size": size, "material": material,
                                 "x": x, "y": y, "rotation": rotation, "salience": s})
        objects.append(o)
    scenes, start = [], 0
    for n in counts.tolist():
        scene = new(Scene)
        setattr_(scene, "__dict__", {"objects": tuple(objects[start : start + n])})
        scenes.append(scene)
        start += n
    return scenes


def _entry(n: int, counts: Sequence[int], seed: int, resolution: int, sizes: Sequence[str],
           directory: str | Path | None) -> tuple[Path, dict]:
    key = {"what": "rendered scenes", "n": int(n), "n_objects": list(counts), "seed": int(seed),
           "resolution": int(resolution), "sizes": list(sizes), "format": _FORMAT,
           "code": code_fingerprint("world.scenes", "world.sampling", "world.render")}
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
                scenes, images = scenes_from_columns(tensors, meta["vocabulary"]), tensors["images"]
                _READ[read] = (tuple(scenes), images)
                while len(_READ) > _READ_KEEP:
                    _READ.popitem(last=False)
                return scenes, images.clone()
        except (ValueError, KeyError, TypeError) as err:
            warnings.warn(f"re-rendering scene set {path.name}: {err}", stacklevel=2)
    scenes, images = compute()
    save_directory(path, _META, _IMAGES, {"images": images, **scenes_to_columns(scenes)},
                   {"key": key, "vocabulary": {f: list(v) for f, v in _VOCABULARY.items()}})
    return scenes, images

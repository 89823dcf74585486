"""Row sources for sharded embedding: a data set as numbered rows, each with a key, an image
and/or a caption (and optionally an attribute-swapped caption), read by row range.

:class:`ArraySource` holds arrays already in memory (the organism scenes: :func:`scene_source`);
:class:`FolderSource` reads an image-text folder in img2dataset's layout (``00000.jpg`` next to
``00000.txt``); :class:`ParquetSource` a parquet table of keys, captions and image paths or
bytes. The real benchmarks' loaders become sources in :mod:`labclip_lib.benchmarks.grid`. Images
from files are resized (shortest side) and centre-cropped to one size so that they batch.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd
from PIL import Image

from ..world.captions import describe_all, swap_negatives
from ..world.scenesets import rendered_scenes

__all__ = ["RowSource", "ArraySource", "FolderSource", "ParquetSource", "scene_source", "keys_digest",
           "load_rgb", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@runtime_checkable
class RowSource(Protocol):
    """What :func:`~labclip_lib.embed.shards.embed_shards` reads: ``len(source)`` rows, by range."""

    name: str
    has_images: bool
    has_captions: bool
    has_negatives: bool

    def __len__(self) -> int: ...

    def keys(self, start: int, stop: int) -> list[str]:
        """The rows' unique keys (strings)."""
        ...

    def images(self, start: int, stop: int, size: int | None) -> np.ndarray:
        """uint8 ``(stop - start, H, W, 3)``, square ``size`` when given."""
        ...

    def captions(self, start: int, stop: int) -> list[str]: ...

    def negatives(self, start: int, stop: int) -> list[str]: ...


def keys_digest(keys: Sequence[str]) -> str:
    """sha256 of a list of keys (order matters): how a shard's metadata is tied to its embeddings."""
    h = hashlib.sha256()
    for k in keys:
        b = str(k).encode()
        h.update(len(b).to_bytes(8, "little") + b)
    return h.hexdigest()


def load_rgb(image, size: int | None) -> np.ndarray:
    """An image file path, bytes or PIL image -> uint8 ``(H, W, 3)``; with ``size``: shortest side
    resized to ``size`` (bicubic) and centre-cropped to ``size x size``."""
    if isinstance(image, (bytes, bytearray)):
        image = Image.open(io.BytesIO(image))
    elif isinstance(image, (str, Path)):
        image = Image.open(image)
    im = image.convert("RGB")
    if size is not None:
        w, h = im.size
        s = size / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
    return np.asarray(im, dtype=np.uint8)


def _check_range(n: int, start: int, stop: int) -> None:
    if not 0 <= start <= stop <= n:
        raise IndexError(f"row range [{start}, {stop}) outside [0, {n})")


class ArraySource:
    """Rows held in memory: ``keys`` and any of ``images`` uint8 ``(N, H, W, 3)``, ``captions``,
    ``negatives`` (lists of N strings)."""

    def __init__(self, keys: Sequence[str], images=None, captions: Sequence[str] | None = None,
                 negatives: Sequence[str] | None = None, name: str = "arrays"):
        self._keys = [str(k) for k in keys]
        n = len(self._keys)
        if len(set(self._keys)) != n:
            raise ValueError(f"{name}: keys must be unique")
        for what, v in (("images", images), ("captions", captions), ("negatives", negatives)):
            if v is not None and len(v) != n:
                raise ValueError(f"{name}: {len(v)} {what} for {n} keys")
        if images is None and captions is None:
            raise ValueError(f"{name}: a source needs images or captions")
        self._images = None if images is None else np.asarray(images)
        if self._images is not None and (self._images.dtype != np.uint8 or self._images.ndim != 4):
            raise ValueError(f"{name}: images must be uint8 (N, H, W, 3), got {self._images.dtype} "
                             f"{self._images.shape}")
        self._captions = None if captions is None else [str(c) for c in captions]
        self._negatives = None if negatives is None else [str(c) for c in negatives]
        self.name = name
        self.has_images, self.has_captions = images is not None, captions is not None
        self.has_negatives = negatives is not None

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self, start: int, stop: int) -> list[str]:
        _check_range(len(self), start, stop)
        return self._keys[start:stop]

    def images(self, start: int, stop: int, size: int | None = None) -> np.ndarray:
        _check_range(len(self), start, stop)
        x = self._images[start:stop]
        if size is not None and x.shape[1:3] != (size, size):
            x = np.stack([load_rgb(Image.fromarray(a), size) for a in x])
        return x

    def captions(self, start: int, stop: int) -> list[str]:
        _check_range(len(self), start, stop)
        return self._captions[start:stop]

    def negatives(self, start: int, stop: int) -> list[str]:
        _check_range(len(self), start, stop)
        return self._negatives[start:stop]


def scene_source(n: int, n_objects: int = 2, seed: int = 0, resolution: int = 64) -> ArraySource:
    """``n`` organism scenes (:func:`~labclip_lib.world.scenesets.rendered_scenes`), their captions
    and attribute-swapped captions (scenes without a swap keep their caption as negative: they
    contribute no hard negative); keys ``scene-{seed}-{i}``."""
    scenes, images = rendered_scenes(n, n_objects, seed, resolution)
    caps = describe_all(scenes, seed=seed)
    negs = swap_negatives(caps, seed=seed, scenes=scenes)
    return ArraySource([f"scene-{seed}-{i:08d}" for i in range(n)], images.numpy(), [str(c) for c in caps],
                       [str(q if q is not None else c) for q, c in zip(negs, caps)], name=f"scenes(n={n}, seed={seed})")


class FolderSource:
    """An image-text folder (img2dataset's layout): every image file (``.jpg``, ``.png``, ...)
    under ``directory``, its caption in the ``.txt`` of the same stem (required when
    ``captions``); keys are the paths relative to ``directory`` without suffix, sorted."""

    def __init__(self, directory: str | Path, captions: bool = True):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"no image-text folder at {self.directory}")
        self._files = sorted(p for p in self.directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise ValueError(f"{self.directory} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        if captions:
            missing = [p.with_suffix(".txt") for p in self._files if not p.with_suffix(".txt").is_file()]
            if missing:
                raise ValueError(f"{len(missing)} images have no caption file, e.g. {missing[0]}")
        self.name = f"folder {self.directory}"
        self.has_images, self.has_captions, self.has_negatives = True, bool(captions), False

    def __len__(self) -> int:
        return len(self._files)

    def keys(self, start: int, stop: int) -> list[str]:
        _check_range(len(self), start, stop)
        return [p.relative_to(self.directory).with_suffix("").as_posix() for p in self._files[start:stop]]

    def images(self, start: int, stop: int, size: int | None = None) -> np.ndarray:
        _check_range(len(self), start, stop)
        return np.stack([load_rgb(p, size) for p in self._files[start:stop]])

    def captions(self, start: int, stop: int) -> list[str]:
        _check_range(len(self), start, stop)
        return [p.with_suffix(".txt").read_text().strip() for p in self._files[start:stop]]

    def negatives(self, start: int, stop: int) -> list[str]:
        raise ValueError(f"{self.name} has no negative captions")


class ParquetSource:
    """A parquet table, one row per pair: ``key_column`` (default: the row number), and any of
    ``image_column`` (paths, relative to the file's folder, or encoded bytes; a struct with
    ``bytes`` / ``path`` as the hub writes it), ``caption_column``, ``negative_column``."""

    def __init__(self, path: str | Path, key_column: str | None = "key", image_column: str | None = "image",
                 caption_column: str | None = "caption", negative_column: str | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no parquet file at {self.path}")
        table = pd.read_parquet(self.path)
        wanted = {"key": key_column, "image": image_column, "caption": caption_column, "negative": negative_column}
        missing = [c for c in wanted.values() if c is not None and c not in table.columns and c != "key"]
        if missing:
            raise ValueError(f"{self.path} has no column(s) {missing}; it has {list(table.columns)}")
        self._table = table
        self._cols = {k: (c if c in table.columns else None) for k, c in wanted.items()}
        if self._cols["key"] is not None and table[self._cols["key"]].astype(str).duplicated().any():
            raise ValueError(f"{self.path}: column {key_column!r} has duplicate keys")
        self.name = f"parquet {self.path}"
        self.has_images = self._cols["image"] is not None
        self.has_captions = self._cols["caption"] is not None
        self.has_negatives = self._cols["negative"] is not None
        if not (self.has_images or self.has_captions):
            raise ValueError(f"{self.path}: needs an image or a caption column")

    def __len__(self) -> int:
        return len(self._table)

    def keys(self, start: int, stop: int) -> list[str]:
        _check_range(len(self), start, stop)
        col = self._cols["key"]
        return [str(i) for i in range(start, stop)] if col is None else \
            self._table[col].iloc[start:stop].astype(str).tolist()

    def _image(self, cell):
        if isinstance(cell, dict):
            cell = cell.get("bytes") or cell.get("path")
        if isinstance(cell, str):
            p = Path(cell)
            return p if p.is_absolute() else self.path.parent / p
        return cell

    def images(self, start: int, stop: int, size: int | None = None) -> np.ndarray:
        _check_range(len(self), start, stop)
        cells = self._table[self._cols["image"]].iloc[start:stop]
        return np.stack([load_rgb(self._image(c), size) for c in cells])

    def captions(self, start: int, stop: int) -> list[str]:
        _check_range(len(self), start, stop)
        return self._table[self._cols["caption"]].iloc[start:stop].astype(str).tolist()

    def negatives(self, start: int, stop: int) -> list[str]:
        _check_range(len(self), start, stop)
        return self._table[self._cols["negative"]].iloc[start:stop].astype(str).tolist()

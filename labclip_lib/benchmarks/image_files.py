"""Images kept as files: a loader that reads image bytes (a hub copy's ``Image`` column, a parquet
shard's image cells) writes each image once to a file named by its content and keeps only the
path, so neither the shards nor the decoded pixels of a whole benchmark stay in memory, and the
embedding's data-loader workers decode the images when they are needed.

The files go to the labclip cache (``images/<source>/``, :func:`image_directory`) unless a loader
is given another directory. A file is named by the SHA-256 of its bytes, so a second load writes
nothing and a changed source can never be served stale pixels.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ..runtime import cache_dir
from ..storage import write_atomic
from .data import DatasetFormatError

__all__ = ["image_directory", "store_image"]

_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF8", ".gif"), (b"RIFF", ".webp"), (b"BM", ".bmp"))
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def image_directory(*parts: str) -> Path:
    """``<labclip cache>/images/<parts...>`` (created), each part made safe as a folder name
    (``"facebook/PUG_SPAR"`` -> ``"facebook_PUG_SPAR"``)."""
    names = [_UNSAFE.sub("_", str(p)).strip("._") or "_" for p in parts]
    path = cache_dir("images").joinpath(*names)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _suffix(data: bytes, path: str | None) -> str:
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    ext = Path(path).suffix.lower() if path else ""
    return ext if re.fullmatch(r"\.[a-z0-9]{2,5}", ext) else ".img"


def store_image(cell, directory: str | Path, dataset: str) -> str:
    """The path of an image given as its bytes: ``cell`` is the bytes or a ``{"bytes", "path"}``
    record (how ``datasets`` and parquet store an ``Image``). The bytes are written to
    ``directory/<sha256><ext>`` unless that file exists; a record without bytes whose ``path`` is
    an existing file is returned as it is. Anything else raises :class:`DatasetFormatError`."""
    data, path = (cell.get("bytes"), cell.get("path")) if isinstance(cell, dict) else (cell, None)
    if data is None:
        if path and Path(path).is_file():
            return str(path)
        raise DatasetFormatError(
            dataset, [path or "(no path)"], "a copy whose image column holds the image bytes",
            f"an image cell has no bytes and its path {path!r} is not a file",
        )
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DatasetFormatError(
            dataset, [str(directory)], "a copy whose image column holds the image bytes",
            f"an image cell holds {type(data).__name__}, not bytes",
        )
    data = bytes(data)
    directory = Path(directory)
    target = directory / f"{hashlib.sha256(data).hexdigest()[:32]}{_suffix(data, path)}"
    if target.is_file() and target.stat().st_size == len(data):
        return str(target)
    return str(write_atomic(target, data))

"""What every benchmark loader shares: the dataset errors, image references, JSON reading and the
caption cleaning of the retrieval and ARO benchmarks.

A loader never raises a bare ``KeyError`` or ``FileNotFoundError``: a missing dataset raises
:class:`DatasetNotFoundError` (a ``FileNotFoundError``) and a malformed one
:class:`DatasetFormatError` (a ``ValueError``), each naming the dataset, the path(s) looked for
and how to get the data. A copy with another number of items than the benchmark's published size
is used as it is, with a :class:`DatasetSizeWarning` saying so (:func:`check_size`).
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

__all__ = [
    "DatasetNotFoundError",
    "DatasetFormatError",
    "DatasetSizeWarning",
    "check_size",
    "ImageRef",
    "open_image",
    "read_json",
    "require_dir",
    "resolve_image",
    "pre_caption",
]


def _message(dataset: str, problem: str, paths: Sequence[str | Path], how_to_get: str) -> str:
    looked = "\n".join(f"  - {p}" for p in paths) if paths else "  (no path)"
    return f"{dataset}: {problem}\nlooked for:\n{looked}\nhow to get it: {how_to_get}"


class DatasetNotFoundError(FileNotFoundError):
    """A benchmark's files are not where they were looked for (the message says where and how to get them)."""

    def __init__(self, dataset: str, paths: Sequence[str | Path], how_to_get: str, problem: str = "not found"):
        self.dataset, self.paths, self.how_to_get = dataset, [str(p) for p in paths], how_to_get
        super().__init__(_message(dataset, problem, paths, how_to_get))

    def __str__(self) -> str:  # FileNotFoundError would print "[Errno None]" otherwise
        return str(self.args[0])


class DatasetFormatError(ValueError):
    """A benchmark's files exist but are not in the expected format."""

    def __init__(self, dataset: str, paths: Sequence[str | Path], how_to_get: str, problem: str):
        self.dataset, self.paths, self.how_to_get = dataset, [str(p) for p in paths], how_to_get
        super().__init__(_message(dataset, problem, paths, how_to_get))


class DatasetSizeWarning(UserWarning):
    """A copy of a benchmark holds another number of items than the benchmark's published size."""


def check_size(dataset: str, source: str, expected: int, got: int) -> None:
    """Warn (:class:`DatasetSizeWarning`) when ``source`` holds ``got`` items where ``dataset``'s
    published size is ``expected``: the scores are then over the items it has, not the benchmark's."""
    if got != expected:
        warnings.warn(
            f"{dataset}: {source} has {got:,} items, the published size is {expected:,} ({got - expected:+,}); "
            "the scores are over the items it has",
            DatasetSizeWarning,
            stacklevel=3,
        )


@dataclass(frozen=True)
class ImageRef:
    """An image file, optionally cropped to ``box = (left, top, width, height)`` in pixels (ARO's
    VG-Relation / VG-Attribution crop every image to the box around the relation)."""

    path: str
    box: tuple[float, float, float, float] | None = None


def open_image(image: ImageRef | str | Path | Image.Image) -> Image.Image:
    """An ``ImageRef``, a path or a PIL image -> an RGB PIL image (cropped to the ref's box)."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    ref = image if isinstance(image, ImageRef) else ImageRef(str(image))
    with Image.open(ref.path) as im:
        im = im.convert("RGB")
    if ref.box is not None:
        x, y, w, h = ref.box
        im = im.crop((x, y, x + w, y + h))
    return im


def read_json(path: Path, dataset: str, how_to_get: str) -> Any:
    """Parse a JSON file; a missing file or invalid JSON raises the dataset error."""
    if not path.is_file():
        raise DatasetNotFoundError(dataset, [path], how_to_get)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetFormatError(dataset, [path], how_to_get, f"not valid JSON ({err})") from None


def require_dir(path: str | Path, dataset: str, how_to_get: str) -> Path:
    """``path`` as a ``Path`` if it is a directory, else the dataset error."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise DatasetNotFoundError(dataset, [p], how_to_get, "directory not found")
    return p


def resolve_image(candidates: Sequence[Path], dataset: str, how_to_get: str) -> str:
    """The first existing path among ``candidates`` (as a string), else the dataset error."""
    for c in candidates:
        if c.is_file():
            return str(c)
    raise DatasetNotFoundError(dataset, candidates, how_to_get, "image file not found")


_PUNCT = re.compile(r"([.!\"()*#:;~])")
_SPACES = re.compile(r"\s{2,}")


def pre_caption(caption: str, max_words: int | None = None) -> str:
    """The caption cleaning of the BLIP/ARO retrieval code: lowercase, replace ``. ! " ( ) * # : ; ~``
    by spaces, collapse whitespace, strip, keep at most ``max_words`` words (ARO uses 30, the
    LABCLIP authors' COCO code 40; ``None`` keeps all). Commas and apostrophes stay."""
    text = _SPACES.sub(" ", _PUNCT.sub(" ", str(caption).lower())).strip()
    if max_words is not None:
        if max_words < 1:
            raise ValueError(f"max_words must be positive, got {max_words}")
        words = text.split(" ")
        text = " ".join(words[:max_words])
    return text

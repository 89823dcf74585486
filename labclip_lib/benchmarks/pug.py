"""PUG:SPAR and PUG:SPARE (Meta's photorealistic Unreal scenes of two animals with textures), with
the LABCLIP authors' pair protocol and a leak-free split.

**Licences**: PUG:SPAR is CC-BY-NC 4.0 and "should not be used to train generative AI models";
PUG:SPARE's assets are under Unreal's "NoAI" terms (analysis only). Say so wherever they are used.

Local layouts:

* SPARE: ``root/PUG_SPARE.csv`` (``filename, world_name, character_name, character2_name,
  character_texture, character2_texture``) and the images in ``root/<world_name>/<filename>``;
* SPAR: ``root/labels.csv`` (same columns) and the images in ``root`` or
  ``root/<world_name>/``; or a parquet file (``*.parquet`` in ``root``, the hub's format, with the
  image bytes in an ``image`` column; needs ``pyarrow``).

**Pair protocol** (the authors'): caption ``"<texture1> <animal1> and <texture2> <animal2>"``,
negative with the two textures swapped; an item counts when the caption beats the negative (we
count ties as half and leave out the items whose two textures are equal, whose swap is the
caption itself). SPAR keeps rows with two different, non-``blank`` animals and non-``Default``
textures, as the authors do.

**Split**: the authors' SPARE split let val and test share rows (their "unique" combinations
still held both orders of a scene). :func:`leak_free_split` splits *groups* — the unordered
animal pair with the unordered texture pair — so an image, its reversed-order twin and its
texture-swapped twin always land in the same part, and the parts are disjoint by construction.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from .aro import ChoiceDataset
from .data import DatasetFormatError, DatasetNotFoundError, ImageRef, require_dir, resolve_image
from .hub import hub_rows

__all__ = [
    "PUG_HOW_TO_GET",
    "PugRecord",
    "load_pug",
    "load_pug_spar_hub",
    "pair_caption",
    "leak_free_split",
    "pug_pairs",
]

PUG_HOW_TO_GET = (
    "PUG:SPAR: the labels.csv and images from https://pug.metademolab.com (or the parquet shards of "
    "facebook/PUG_SPAR on the Hugging Face hub); PUG:SPARE: PUG_SPARE.csv (Google Drive id "
    "1lGkG51-wKRhiIb__NkftvOud9QXEc41e) and the world zips of the LABCLIP authors' Drive folder "
    "19NLxbY_ns8hWNrdhNdcb7oF1RbsYU1jt, unzipped to <world_name>/ in the directory"
)
_COLUMNS = ("world_name", "character_name", "character2_name", "character_texture", "character2_texture")


@dataclass(frozen=True)
class PugRecord:
    """One PUG image: two animals with their textures, in the image's stated order."""

    image: object  # ImageRef or PIL image
    world: str
    animal1: str
    texture1: str
    animal2: str
    texture2: str

    @property
    def group(self) -> tuple[tuple[str, str], tuple[str, str]]:
        """The unordered animal pair and the unordered texture pair: the same for the image, its
        reversed-order twin and its texture-swapped twin."""
        return tuple(sorted((self.animal1, self.animal2))), tuple(sorted((self.texture1, self.texture2)))


def _read_table(root: Path, which: str) -> tuple[pd.DataFrame, Path]:
    name = f"PUG:{which.upper()}"
    if which == "spare":
        cands = [root / "PUG_SPARE.csv"]
    else:
        cands = [root / "labels.csv"] + sorted(root.glob("*.parquet")) + sorted((root / "data").glob("*.parquet"))
    path = next((p for p in cands if p.is_file()), None)
    if path is None:
        raise DatasetNotFoundError(name, cands or [root / "*.parquet"], PUG_HOW_TO_GET)
    try:
        if path.suffix == ".parquet":
            files = [p for p in cands if p.suffix == ".parquet"]
            table = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
        else:
            table = pd.read_csv(path)
    except ImportError as err:
        raise ImportError(f"reading {path.name} needs a parquet engine: pip install pyarrow ({err})") from None
    except (ValueError, pd.errors.ParserError, OSError) as err:
        raise DatasetFormatError(name, [path], PUG_HOW_TO_GET, f"unreadable table: {err}") from None
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise DatasetFormatError(
            name, [path], PUG_HOW_TO_GET, f"missing columns {missing}; it has {list(table.columns)[:12]}"
        )
    return table, path


def _image(row, root: Path, name: str):
    img = row.get("image")
    if isinstance(img, dict) and img.get("bytes") is not None:
        return Image.open(io.BytesIO(img["bytes"])).convert("RGB")
    if "filename" not in row or pd.isna(row["filename"]):
        raise DatasetFormatError(name, [root], PUG_HOW_TO_GET, "a row has neither image bytes nor a filename")
    fname = str(row["filename"])
    return ImageRef(
        resolve_image(
            [root / str(row["world_name"]) / fname, root / fname, root / "images" / fname], name, PUG_HOW_TO_GET
        )
    )


def load_pug(root: str | Path, which: str = "spare", max_items: int | None = None) -> list[PugRecord]:
    """PUG:SPARE (``which="spare"``) or PUG:SPAR (``"spar"``) records from ``root`` (layouts in the
    module docstring). SPAR rows are filtered as the authors do."""
    if which not in ("spar", "spare"):
        raise ValueError(f"which must be 'spar' or 'spare', got {which!r}")
    name = f"PUG:{which.upper()}"
    root = require_dir(root, name, PUG_HOW_TO_GET)
    table, _ = _read_table(root, which)
    if which == "spar":
        keep = (
            (table.character_name != "blank")
            & (table.character2_name != "blank")
            & (table.character_name != table.character2_name)
            & (table.character_texture != "Default")
            & (table.character2_texture != "Default")
        )
        table = table[keep]
    out = []
    if max_items is not None:
        table = table.head(max_items)
    for _, row in table.iterrows():
        out.append(
            PugRecord(
                _image(row, root, name),
                str(row.world_name),
                str(row.character_name),
                str(row.character_texture),
                str(row.character2_name),
                str(row.character2_texture),
            )
        )
    if not out:
        raise DatasetFormatError(name, [root], PUG_HOW_TO_GET, "no usable rows")
    return out


def _spar_keep(a1: str, a2: str, t1: str, t2: str) -> bool:
    return a1 != "blank" and a2 != "blank" and a1 != a2 and t1 != "Default" and t2 != "Default"


def load_pug_spar_hub(
    split: str = "train", hub_id: str = "facebook/PUG_SPAR", image_column: str = "image"
) -> list[PugRecord]:
    """PUG:SPAR from the hub (``facebook/PUG_SPAR``, ~17 GB; needs ``datasets`` and a network),
    filtered as the authors do."""
    rows = hub_rows(hub_id, split, (image_column, *_COLUMNS), "PUG:SPAR (hub)")
    out = []
    for r in rows:
        a1, a2, t1, t2 = (
            str(r[c]) for c in ("character_name", "character2_name", "character_texture", "character2_texture")
        )
        if _spar_keep(a1, a2, t1, t2):
            out.append(PugRecord(r[image_column], str(r["world_name"]), a1, t1, a2, t2))
    return out


def pair_caption(animal1: str, texture1: str, animal2: str, texture2: str, lowercase: bool = True) -> str:
    """``"<texture1> <animal1> and <texture2> <animal2>"`` (the authors' template)."""
    text = f"{texture1} {animal1} and {texture2} {animal2}"
    return text.lower() if lowercase else text


def leak_free_split(
    records: Sequence[PugRecord], val: float = 0.1, test: float = 0.1, seed: int = 0
) -> dict[str, np.ndarray]:
    """Indices ``{"train", "val", "test"}``: whole groups (:attr:`PugRecord.group`) are assigned, a
    seeded random ``test`` share of the groups to test and ``val`` to val, so no image, reversed
    order or texture swap of a test scene is seen in train or val. The parts are disjoint."""
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise ValueError(f"need 0 <= val, test and val + test < 1, got {val}, {test}")
    if not records:
        raise ValueError("no records")
    groups = sorted({r.group for r in records})
    order = np.random.default_rng(seed).permutation(len(groups))
    n_test, n_val = int(round(test * len(groups))), int(round(val * len(groups)))
    part = {}
    for rank, g in enumerate(order):
        part[groups[g]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    out = {
        p: np.array([i for i, r in enumerate(records) if part[r.group] == p], dtype=np.int64)
        for p in ("train", "val", "test")
    }
    return out


def pug_pairs(
    records: Sequence[PugRecord], indices: Sequence[int] | None = None, name: str = "PUG pairs", lowercase: bool = True
) -> ChoiceDataset:
    """The pair benchmark on ``records[indices]``: options ``[caption, texture-swapped caption]``
    (true index 0), grouped by world; items with two equal textures are left out."""
    idx = range(len(records)) if indices is None else [int(i) for i in indices]
    images, options, worlds = [], [], []
    for i in idx:
        r = records[i]
        if r.texture1 == r.texture2:
            continue
        images.append(r.image)
        options.append(
            [
                pair_caption(r.animal1, r.texture1, r.animal2, r.texture2, lowercase),
                pair_caption(r.animal1, r.texture2, r.animal2, r.texture1, lowercase),
            ]
        )
        worlds.append(r.world)
    if not images:
        raise ValueError(f"{name}: no record with two different textures")
    return ChoiceDataset(name, images, options, [0] * len(images), worlds)

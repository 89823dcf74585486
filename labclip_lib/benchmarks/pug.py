"""PUG:SPAR and PUG:SPARE (Meta's photorealistic Unreal scenes of two animals with textures), with
the LABCLIP authors' pair protocol and a leak-free split.

**Licences**: PUG:SPAR is CC-BY-NC 4.0 and "should not be used to train generative AI models";
PUG:SPARE's assets are under Unreal's "NoAI" terms (analysis only). Say so wherever they are used.

Local layouts:

* SPARE: ``root/PUG_SPARE.csv`` (``filename, world_name, character_name, character2_name,
  character_texture, character2_texture``) and the images in ``root/<world_name>/<filename>``;
* SPAR: ``root/labels.csv`` (same columns) and the images in ``root`` or
  ``root/<world_name>/``; or the hub's parquet shards (``*.parquet`` in ``root`` or ``root/data``,
  ``train-000NN-of-00035.parquet``, the image bytes in an ``image`` column; needs ``pyarrow``),
  read one row group at a time: the label columns first, then only the kept rows' images, which
  are written once to files (:mod:`.image_files`), so memory holds one row group, not 17 GB.

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

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .aro import ChoiceDataset
from .data import DatasetFormatError, DatasetNotFoundError, ImageRef, check_size, require_dir, resolve_image
from .hub import hub_image_files, hub_rows
from .image_files import image_directory, store_image

__all__ = [
    "PUG_HOW_TO_GET",
    "PUG_SPAR_SIZE",
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
#: rows of PUG:SPAR (facebook/PUG_SPAR's card: 43,560 samples in 35 parquet shards)
PUG_SPAR_SIZE = 43_560


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
    path = root / ("PUG_SPARE.csv" if which == "spare" else "labels.csv")
    if not path.is_file():
        looked = [path] if which == "spare" else [path, root / "*.parquet", root / "data" / "*.parquet"]
        raise DatasetNotFoundError(name, looked, PUG_HOW_TO_GET)
    try:
        table = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, OSError) as err:
        raise DatasetFormatError(name, [path], PUG_HOW_TO_GET, f"unreadable table: {err}") from None
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise DatasetFormatError(
            name, [path], PUG_HOW_TO_GET, f"missing columns {missing}; it has {list(table.columns)[:12]}"
        )
    return table, path


def _image(row, root: Path, name: str) -> ImageRef:
    if "filename" not in row or pd.isna(row["filename"]):
        raise DatasetFormatError(name, [root], PUG_HOW_TO_GET, "a row has no filename")
    fname = str(row["filename"])
    return ImageRef(
        resolve_image(
            [root / str(row["world_name"]) / fname, root / fname, root / "images" / fname], name, PUG_HOW_TO_GET
        )
    )


def _spar_keep(a1: str, a2: str, t1: str, t2: str) -> bool:
    """The authors' PUG:SPAR filter: two different animals, neither ``blank``, no ``Default`` texture."""
    return a1 != "blank" and a2 != "blank" and a1 != a2 and t1 != "Default" and t2 != "Default"


def _record(image, labels: dict, i: int) -> PugRecord:
    """Row ``i`` of ``labels`` (columns ``_COLUMNS``) with its image."""
    return PugRecord(
        image,
        str(labels["world_name"][i]),
        str(labels["character_name"][i]),
        str(labels["character_texture"][i]),
        str(labels["character2_name"][i]),
        str(labels["character2_texture"][i]),
    )


def _kept(labels: dict) -> list[int]:
    """The rows of ``labels`` (columns ``_COLUMNS``) the SPAR filter keeps."""
    cols = [labels[c] for c in ("character_name", "character2_name", "character_texture", "character2_texture")]
    return [i for i, (a1, a2, t1, t2) in enumerate(zip(*cols)) if _spar_keep(str(a1), str(a2), str(t1), str(t2))]


def _load_spar_parquet(root: Path, shards: list[Path], max_items: int | None, image_dir: Path) -> list[PugRecord]:
    """PUG:SPAR from the hub's parquet shards, one row group at a time: the label columns are read
    and filtered first, then only the kept rows' image bytes, which go to files in ``image_dir``.
    At most one row group's images are in memory, never a shard's or the 17 GB of all 35."""
    try:
        import pyarrow.parquet as pq  # optional (the benchmarks extra): only SPAR's parquet files need it
    except ImportError:
        raise ImportError("reading PUG:SPAR's parquet files needs pyarrow: pip install pyarrow") from None
    name, out, rows = "PUG:SPAR", [], 0
    for path in shards:
        try:
            pf = pq.ParquetFile(path)
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise DatasetFormatError(name, [path], PUG_HOW_TO_GET, f"unreadable parquet file: {err}") from None
        missing = [c for c in (*_COLUMNS, "image") if c not in pf.schema_arrow.names]
        if missing:
            raise DatasetFormatError(
                name, [path], PUG_HOW_TO_GET, f"missing columns {missing}; it has {pf.schema_arrow.names[:12]}"
            )
        for group in range(pf.num_row_groups):
            labels = pf.read_row_group(group, columns=list(_COLUMNS)).to_pydict()
            rows += len(labels["world_name"])
            keep = _kept(labels)[: None if max_items is None else max_items - len(out)]
            if keep:
                cells = pf.read_row_group(group, columns=["image"]).column("image").take(keep).to_pylist()
                out += [_record(ImageRef(store_image(c, image_dir, name)), labels, i) for i, c in zip(keep, cells)]
            if max_items is not None and len(out) >= max_items:
                return out
    check_size(name, f"the {len(shards)} parquet file(s) in {root}", PUG_SPAR_SIZE, rows)
    return out


def load_pug(
    root: str | Path, which: str = "spare", max_items: int | None = None, image_dir: str | Path | None = None
) -> list[PugRecord]:
    """PUG:SPARE (``which="spare"``) or PUG:SPAR (``"spar"``) records from ``root`` (layouts in the
    module docstring). SPAR rows are filtered as the authors do. From SPAR's parquet files the kept
    images are written once to ``image_dir`` (default: the labclip cache, see :mod:`.image_files`)
    and the records refer to those files."""
    if which not in ("spar", "spare"):
        raise ValueError(f"which must be 'spar' or 'spare', got {which!r}")
    name = f"PUG:{which.upper()}"
    root = require_dir(root, name, PUG_HOW_TO_GET)
    if which == "spar" and not (root / "labels.csv").is_file():
        shards = sorted(root.glob("*.parquet")) + sorted((root / "data").glob("*.parquet"))
        if shards:
            directory = Path(image_dir) if image_dir is not None else image_directory("PUG_SPAR")
            out = _load_spar_parquet(root, shards, max_items, directory)
            if not out:
                raise DatasetFormatError(name, shards[:3], PUG_HOW_TO_GET, "no usable rows")
            return out
    table, _ = _read_table(root, which)
    if which == "spar":
        table = table.iloc[_kept({c: table[c].tolist() for c in _COLUMNS})]
    if max_items is not None:
        table = table.head(max_items)
    out = [
        PugRecord(
            _image(row, root, name),
            str(row.world_name),
            str(row.character_name),
            str(row.character_texture),
            str(row.character2_name),
            str(row.character2_texture),
        )
        for _, row in table.iterrows()
    ]
    if not out:
        raise DatasetFormatError(name, [root], PUG_HOW_TO_GET, "no usable rows")
    return out


def load_pug_spar_hub(
    split: str = "train", hub_id: str = "facebook/PUG_SPAR", image_column: str = "image",
    image_dir: str | Path | None = None,
) -> list[PugRecord]:
    """PUG:SPAR from the hub (``facebook/PUG_SPAR``: split ``train``, 43,560 rows in 35 parquet
    shards, ~17 GB; ``image``, ``world_name``, ``character_name``, ``character2_name``,
    ``character1_pos``, ``character2_pos``, ``character_texture``, ``character2_texture``; needs
    ``datasets`` and a network), filtered as the authors do. The label columns are filtered first;
    only the kept rows' images are read, a batch at a time, and written once to files
    (``image_dir``, default the labclip cache), which the records refer to."""
    name = "PUG:SPAR (hub)"
    rows = hub_rows(hub_id, split, (image_column, *_COLUMNS), name)
    if split == "train":
        check_size("PUG:SPAR", f"hf://datasets/{hub_id} (split 'train')", PUG_SPAR_SIZE, len(rows))
    labels = rows.select_columns(list(_COLUMNS))[:]
    keep = _kept(labels)
    if not keep:
        raise DatasetFormatError(name, [f"hf://datasets/{hub_id}"], PUG_HOW_TO_GET, "no row passes the SPAR filter")
    directory = Path(image_dir) if image_dir is not None else image_directory("PUG_SPAR")
    files = hub_image_files(rows.select(keep), image_column, directory, name)
    return [_record(ImageRef(f), labels, i) for f, i in zip(files, keep)]


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

"""SugarCrepe (Hsieh et al., NeurIPS 2023): 7 subsets of COCO val2017 images, each item a true
caption and one hard negative (replace / swap / add an object, attribute or relation).

Local layout: the subsets' JSON files from ``RAIVNLab/sugar-crepe`` ``data/`` (``add_att.json``,
``replace_obj.json``, ``swap_att.json``, ...; each ``{id: {"filename", "caption",
"negative_caption"}}``) in ``root`` (or ``root/data``) and the COCO val2017 images in
``images_dir`` (default ``root/val2017``). A subset is scored as the share of items whose
caption beats the negative (ties half); the categories both sample-weighted and unweighted
(:func:`~labclip_lib.benchmarks.metrics.category_scores`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .aro import ChoiceDataset
from .data import DatasetFormatError, DatasetNotFoundError, ImageRef, read_json, require_dir, resolve_image
from .hub import hub_rows

__all__ = ["SUGARCREPE_SUBSETS", "SUGARCREPE_SIZES", "SUGARCREPE_HOW_TO_GET", "load_sugarcrepe", "load_sugarcrepe_hub"]

SUGARCREPE_SUBSETS = ("replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att")
#: items per subset in the released files (papers.md §D) [P]
SUGARCREPE_SIZES = {
    "add_att": 692,
    "add_obj": 2062,
    "replace_att": 788,
    "replace_obj": 1652,
    "replace_rel": 1406,
    "swap_att": 666,
    "swap_obj": 245,
}
SUGARCREPE_HOW_TO_GET = (
    "the JSON files from https://github.com/RAIVNLab/sugar-crepe/tree/main/data into the "
    "directory, and COCO val2017 (http://images.cocodataset.org/zips/val2017.zip) unzipped "
    "to val2017/ there (or pass images_dir)"
)


def load_sugarcrepe(
    root: str | Path,
    images_dir: str | Path | None = None,
    subsets: Sequence[str] = SUGARCREPE_SUBSETS,
    max_items: int | None = None,
) -> dict[str, ChoiceDataset]:
    """The SugarCrepe ``subsets`` from ``root``: ``{subset: ChoiceDataset}`` with options
    ``[caption, negative_caption]`` (true index 0)."""
    unknown = [s for s in subsets if s not in SUGARCREPE_SUBSETS]
    if unknown or not subsets:
        raise ValueError(f"unknown SugarCrepe subsets {unknown}; expected some of {SUGARCREPE_SUBSETS}")
    root = require_dir(root, "SugarCrepe", SUGARCREPE_HOW_TO_GET)
    img_root = require_dir(images_dir or root / "val2017", "SugarCrepe (COCO val2017 images)", SUGARCREPE_HOW_TO_GET)
    out = {}
    for sub in subsets:
        cands = [root / f"{sub}.json", root / "data" / f"{sub}.json"]
        path = next((p for p in cands if p.is_file()), None)
        if path is None:
            raise DatasetNotFoundError(f"SugarCrepe {sub}", cands, SUGARCREPE_HOW_TO_GET)
        data = read_json(path, f"SugarCrepe {sub}", SUGARCREPE_HOW_TO_GET)
        if not isinstance(data, dict) or not data:
            raise DatasetFormatError(
                f"SugarCrepe {sub}",
                [path],
                SUGARCREPE_HOW_TO_GET,
                "expected a non-empty object {id: {filename, caption, negative_caption}}",
            )
        images, options = [], []
        try:
            for key in list(data)[:max_items]:
                rec = data[key]
                file = resolve_image([img_root / rec["filename"]], f"SugarCrepe {sub} images", SUGARCREPE_HOW_TO_GET)
                images.append(ImageRef(file))
                options.append([str(rec["caption"]), str(rec["negative_caption"])])
        except (KeyError, TypeError) as err:
            raise DatasetFormatError(
                f"SugarCrepe {sub}", [path], SUGARCREPE_HOW_TO_GET, f"item {len(images)} lacks field {err}"
            ) from None
        out[sub] = ChoiceDataset(f"SugarCrepe {sub}", images, options, [0] * len(images), info={"file": str(path)})
    return out


def load_sugarcrepe_hub(
    subsets: Sequence[str] = SUGARCREPE_SUBSETS,
    hub_prefix: str = "HuggingFaceM4/SugarCrepe_",
    split: str = "test",
    image_column: str = "image",
    caption_column: str = "caption",
    negative_column: str = "negative_caption",
) -> dict[str, ChoiceDataset]:
    """SugarCrepe from the hub copies ``{hub_prefix}{subset}`` (images inside; needs ``datasets``
    and a network). The column names are parameters: a copy with other names gives an error
    listing the ones it has."""
    out = {}
    for sub in subsets:
        rows = hub_rows(
            f"{hub_prefix}{sub}", split, (image_column, caption_column, negative_column), f"SugarCrepe {sub} (hub)"
        )
        out[sub] = ChoiceDataset(
            f"SugarCrepe {sub}",
            list(rows[image_column]),
            [[str(c), str(n)] for c, n in zip(rows[caption_column], rows[negative_column])],
            [0] * len(rows),
            info={"hub_id": f"{hub_prefix}{sub}"},
        )
    return out

"""SugarCrepe (Hsieh et al., NeurIPS 2023): 7 subsets of COCO val2017 images, each item a true
caption and one hard negative (replace / swap / add an object, attribute or relation).

Local layout: the subsets' JSON files from ``RAIVNLab/sugar-crepe`` ``data/`` (``add_att.json``,
``replace_obj.json``, ``swap_att.json``, ...; each ``{id: {"filename", "caption",
"negative_caption"}}``) in ``root`` (or ``root/data``) and the COCO val2017 images in
``images_dir`` (default ``root/val2017``).

Hub layout (:func:`load_sugarcrepe_hub`): ``HuggingFaceM4/SugarCrepe_{subset}``, split ``test``,
made from the same JSON files by HuggingFaceM4's upload script: ``image``, ``tested_labels``
(``[caption, negative_caption]``) and ``true_label``, a ``ClassLabel`` over every caption of the
seven subsets whose value names the caption (so the true option is index 0 by construction).
Its ``swap_obj`` has 246 rows by the hub's viewer, one more than the 245 of
:data:`SUGARCREPE_SIZES`: the loader warns and scores the rows it has.

A subset is scored as the share of items whose
caption beats the negative (ties half); the categories both sample-weighted and unweighted
(:func:`~labclip_lib.benchmarks.metrics.category_scores`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .aro import ChoiceDataset
from .data import (
    DatasetFormatError,
    DatasetNotFoundError,
    ImageRef,
    check_size,
    read_json,
    require_dir,
    resolve_image,
)
from .hub import class_names, hub_image_files, hub_rows
from .image_files import image_directory

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


def _hub_items(rows, name: str, hub_id: str, columns: dict[str, str]) -> tuple[list[list[str]], list[int]]:
    """Options and true indices of a hub copy's rows, from either layout (see
    :func:`load_sugarcrepe_hub`)."""
    where = [f"hf://datasets/{hub_id}"]
    have = rows.column_names
    if columns["options"] in have and columns["true"] in have:
        options = [list(o) if isinstance(o, (list, tuple)) else o for o in rows[columns["options"]]]
        bad = next((i for i, o in enumerate(options) if not isinstance(o, list) or len(o) < 2
                    or not all(isinstance(t, str) for t in o)), None)
        if bad is not None:
            raise DatasetFormatError(
                name, where, SUGARCREPE_HOW_TO_GET,
                f"row {bad}: {columns['options']!r} is not a list of >= 2 captions: {options[bad]!r}",
            )
        names = class_names(rows, columns["true"])
        true_index = []
        for i, (opts, label) in enumerate(zip(options, rows[columns["true"]])):
            if names is not None:
                if not 0 <= label < len(names):
                    raise DatasetFormatError(
                        name, where, SUGARCREPE_HOW_TO_GET,
                        f"row {i}: {columns['true']!r} is {label}, not one of its {len(names)} names",
                    )
                text = names[label]
            elif isinstance(label, str):
                text = label
            else:
                raise DatasetFormatError(
                    name, where, SUGARCREPE_HOW_TO_GET,
                    f"{columns['true']!r} holds {type(label).__name__} values without ClassLabel names: "
                    "which option is true cannot be told",
                )
            if text not in opts:
                raise DatasetFormatError(name, where, SUGARCREPE_HOW_TO_GET,
                                         f"row {i}: the true caption {text!r} is none of the options {opts!r}")
            true_index.append(opts.index(text))
        return options, true_index
    if columns["caption"] in have and columns["negative"] in have:  # the JSON files' layout
        options = [[str(c), str(n)] for c, n in zip(rows[columns["caption"]], rows[columns["negative"]])]
        return options, [0] * len(options)
    raise DatasetFormatError(
        name, where, SUGARCREPE_HOW_TO_GET,
        f"neither the hub layout ({columns['options']!r}, {columns['true']!r}) nor the JSON files' layout "
        f"({columns['caption']!r}, {columns['negative']!r}); it has {have}",
    )


def load_sugarcrepe_hub(
    subsets: Sequence[str] = SUGARCREPE_SUBSETS,
    hub_prefix: str = "HuggingFaceM4/SugarCrepe_",
    split: str = "test",
    image_column: str = "image",
    caption_column: str = "caption",
    negative_column: str = "negative_caption",
    options_column: str = "tested_labels",
    true_column: str = "true_label",
    image_dir: str | Path | None = None,
) -> dict[str, ChoiceDataset]:
    """SugarCrepe from the hub copies ``{hub_prefix}{subset}`` (images inside; needs ``datasets``
    and a network).

    The HuggingFaceM4 copies (split ``test``) hold ``image``, ``tested_labels`` (the caption, then
    the negative) and ``true_label``, a ``ClassLabel`` whose names are the captions of all seven
    subsets: the true option is the one whose text is ``true_label``'s name. A copy in the JSON
    files' layout (``caption``, ``negative_caption``) is read too. Subset sizes are compared with
    :data:`SUGARCREPE_SIZES` (a :class:`~.data.DatasetSizeWarning` when they differ). The images
    are written once to files (``image_dir``, default the labclip cache; see
    :mod:`.image_files`) and the items refer to them.
    """
    unknown = [s for s in subsets if s not in SUGARCREPE_SUBSETS]
    if unknown or not subsets:
        raise ValueError(f"unknown SugarCrepe subsets {unknown}; expected some of {SUGARCREPE_SUBSETS}")
    columns = {"options": options_column, "true": true_column, "caption": caption_column, "negative": negative_column}
    out = {}
    for sub in subsets:
        hub_id, name = f"{hub_prefix}{sub}", f"SugarCrepe {sub} (hub)"
        rows = hub_rows(hub_id, split, (image_column,), name)
        options, true_index = _hub_items(rows, name, hub_id, columns)
        check_size(f"SugarCrepe {sub}", f"hf://datasets/{hub_id} (split {split!r})", SUGARCREPE_SIZES[sub], len(rows))
        directory = Path(image_dir) if image_dir is not None else image_directory(hub_id, split)
        images = [ImageRef(p) for p in hub_image_files(rows, image_column, directory, name)]
        info = {"hub_id": hub_id, "split": split}
        out[sub] = ChoiceDataset(f"SugarCrepe {sub}", images, options, true_index, info=info)
    return out

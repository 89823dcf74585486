"""ARO (Yuksekgonul et al., ICLR 2023): VG-Relation, VG-Attribution, COCO-Order, Flickr30k-Order.

Every item is one image and several caption options, exactly one of them true
(:class:`ChoiceDataset`).

* **VG-Relation** / **VG-Attribution**: ``root/visual_genome_relation.json`` /
  ``visual_genome_attribution.json`` (records with ``image_path``, ``bbox_x/y/w/h``,
  ``true_caption``, ``false_caption`` and ``relation_name`` or ``attributes``) and the images
  in ``root/images/``; each image is cropped to its box. Scored as the macro accuracy over
  relations (VG-R; officially without the "symmetric" relations of ARO's notebook,
  :data:`VG_SYMMETRIC_RELATIONS`; we report both) or over attribute pairs with >= 25 items (VG-A).
* Hub copies of VG-Relation / VG-Attribution (:func:`load_vg_hub`, default :data:`VG_HUB_IDS`):
  the images written once to files and cropped to their box when a copy stores the full images.
* **COCO-Order** / **Flickr30k-Order**: every caption of the Karpathy test split (all of them,
  as ARO does) with 4 word-order perturbations (:func:`~labclip_lib.benchmarks.text.order_options`),
  all cleaned by ``pre_caption(max_words=30)``; seeded per item, so the same seed gives the
  same options. Scored as the accuracy of picking option 0.

Ties count as ``1 / (number of options tied for the top)`` everywhere
(:func:`~labclip_lib.benchmarks.metrics.option_hits`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .coco import load_karpathy
from .data import DatasetFormatError, ImageRef, check_size, pre_caption, read_json, require_dir, resolve_image
from .hub import hub_image_files, hub_rows
from .image_files import image_directory
from .text import Tagger, default_tagger, order_options, tokenize

__all__ = [
    "ChoiceDataset",
    "ARO_HOW_TO_GET",
    "VG_SYMMETRIC_RELATIONS",
    "VG_HUB_IDS",
    "VG_SIZES",
    "load_vg_relation",
    "load_vg_hub",
    "load_vg_attribution",
    "order_dataset",
    "load_coco_order",
    "load_flickr30k_order",
]

ARO_HOW_TO_GET = (
    "from https://github.com/mertyg/vision-language-models-are-bows: the annotations "
    "visual_genome_relation.json (gdown 1kX2iCHEv0CADL8dSO1nMdW-V0NqIAiP3), "
    "visual_genome_attribution.json (gdown 13tWvOrNOLHxl3Rm9cR3geAdHx2qR3-Tw) and the images zip "
    "(gdown 1qaPlrwhGNMrR3a11iopZUT_GPP_LrgP9, unzipped to images/) into the directory"
)

#: hub copies in ARO's own field names (split ``test``), the defaults of :func:`load_vg_hub`
VG_HUB_IDS = {"relation": "gowitheflow/ARO-Visual-Relation", "attribution": "gowitheflow/ARO-Visual-Attribution"}
#: items in ARO's VG-Relation and VG-Attribution (papers.md §D) [P]
VG_SIZES = {"relation": 23_937, "attribution": 28_748}

#: the relations ARO's official notebook drops from VG-Relation ("Replicate ARO!" notebook of
#: mertyg/vision-language-models-are-bows): swapping their arguments can leave the caption true
VG_SYMMETRIC_RELATIONS = frozenset(
    [
        "adjusting",
        "attached to",
        "between",
        "bigger than",
        "biting",
        "boarding",
        "brushing",
        "chewing",
        "cleaning",
        "climbing",
        "close to",
        "coming from",
        "coming out of",
        "contain",
        "crossing",
        "dragging",
        "draped over",
        "drinking",
        "drinking from",
        "driving",
        "driving down",
        "driving on",
        "eating from",
        "eating in",
        "enclosing",
        "exiting",
        "facing",
        "filled with",
        "floating in",
        "floating on",
        "flying",
        "flying above",
        "flying in",
        "flying over",
        "flying through",
        "full of",
        "going down",
        "going into",
        "going through",
        "grazing in",
        "growing in",
        "growing on",
        "guiding",
        "hanging from",
        "hanging in",
        "hanging off",
        "hanging over",
        "higher than",
        "holding onto",
        "hugging",
        "in between",
        "jumping off",
        "jumping on",
        "jumping over",
        "kept in",
        "larger than",
        "leading",
        "leaning over",
        "leaving",
        "licking",
        "longer than",
        "looking in",
        "looking into",
        "looking out",
        "looking over",
        "looking through",
        "lying next to",
        "lying on top of",
        "making",
        "mixed with",
        "mounted on",
        "moving",
        "on the back of",
        "on the edge of",
        "on the front of",
        "on the other side of",
        "opening",
        "painted on",
        "parked at",
        "parked beside",
        "parked by",
        "parked in",
        "parked in front of",
        "parked near",
        "parked next to",
        "perched on",
        "petting",
        "piled on",
        "playing",
        "playing in",
        "playing on",
        "playing with",
        "pouring",
        "reaching for",
        "reading",
        "reflected on",
        "riding on",
        "running in",
        "running on",
        "running through",
        "seen through",
        "sitting behind",
        "sitting beside",
        "sitting by",
        "sitting in front of",
        "sitting near",
        "sitting next to",
        "sitting under",
        "skiing down",
        "skiing on",
        "sleeping in",
        "sleeping on",
        "smiling at",
        "sniffing",
        "splashing",
        "sprinkled on",
        "stacked on",
        "standing against",
        "standing around",
        "standing behind",
        "standing beside",
        "standing in front of",
        "standing near",
        "standing next to",
        "staring at",
        "stuck in",
        "surrounding",
        "swimming in",
        "swinging",
        "talking to",
        "topped with",
        "touching",
        "traveling down",
        "traveling on",
        "tying",
        "typing on",
        "underneath",
        "wading in",
        "waiting for",
        "walking across",
        "walking by",
        "walking down",
        "walking next to",
        "walking through",
        "working in",
        "working on",
        "worn on",
        "wrapped around",
        "wrapped in",
        "by",
        "of",
        "near",
        "next to",
        "with",
        "beside",
        "on the side of",
        "around",
    ]
)


@dataclass
class ChoiceDataset:
    """Images with caption options: item ``i`` shows ``images[i]`` and offers ``options[i]``, of
    which ``options[i][true_index[i]]`` is true. ``groups`` (optional) labels items for a macro
    accuracy over groups with at least ``min_group`` items, leaving out ``exclude_groups``."""

    name: str
    images: list  # ImageRef or PIL images, (N,)
    options: list[list[str]]  # (N, K)
    true_index: list[int]  # (N,)
    groups: list[str] | None = None
    min_group: int = 1
    exclude_groups: frozenset = frozenset()
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if n == 0:
            raise ValueError(f"{self.name}: no items")
        if len(self.options) != n or len(self.true_index) != n:
            raise ValueError(
                f"{self.name}: {n} images, {len(self.options)} option lists, {len(self.true_index)} true indices"
            )
        if len({len(o) for o in self.options}) != 1 or len(self.options[0]) < 2:
            raise ValueError(f"{self.name}: every item needs the same number (>= 2) of options")
        if self.groups is not None and len(self.groups) != n:
            raise ValueError(f"{self.name}: {len(self.groups)} group labels for {n} items")

    def __len__(self) -> int:
        return len(self.images)


def _load_vg(root: str | Path, kind: str, max_items: int | None) -> ChoiceDataset:
    name = {"relation": "ARO VG-Relation", "attribution": "ARO VG-Attribution"}[kind]
    root = require_dir(root, name, ARO_HOW_TO_GET)
    path = root / f"visual_genome_{kind}.json"
    data = read_json(path, name, ARO_HOW_TO_GET)
    if not isinstance(data, list) or not data:
        raise DatasetFormatError(name, [path], ARO_HOW_TO_GET, "expected a non-empty list of records")
    images, options, groups = [], [], []
    try:
        for rec in data[:max_items]:
            file = resolve_image([root / "images" / rec["image_path"], root / rec["image_path"]], name, ARO_HOW_TO_GET)
            box = tuple(float(rec[k]) for k in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"))
            images.append(ImageRef(file, box))
            options.append([str(rec["false_caption"]), str(rec["true_caption"])])  # ARO's order: false first
            if kind == "relation":
                groups.append(str(rec["relation_name"]))
            else:
                a, b = rec["attributes"][:2]
                groups.append(f"{a}_{b}")
    except (KeyError, TypeError, ValueError) as err:
        raise DatasetFormatError(
            name,
            [path],
            ARO_HOW_TO_GET,
            f"record {len(images)} lacks a field or has a wrong one ({type(err).__name__}: {err})",
        ) from None
    if kind == "relation":
        return ChoiceDataset(
            name, images, options, [1] * len(images), groups, 1, VG_SYMMETRIC_RELATIONS, {"root": str(root)}
        )
    return ChoiceDataset(name, images, options, [1] * len(images), groups, 25, frozenset(), {"root": str(root)})


def load_vg_relation(root: str | Path, max_items: int | None = None) -> ChoiceDataset:
    """ARO's VG-Relation (23,937 items) from ``root`` (see the module docstring for the layout)."""
    return _load_vg(root, "relation", max_items)


def load_vg_attribution(root: str | Path, max_items: int | None = None) -> ChoiceDataset:
    """ARO's VG-Attribution (28,748 items) from ``root``; macro accuracy over pairs with >= 25 items."""
    return _load_vg(root, "attribution", max_items)


def order_dataset(
    name: str,
    images: list,
    captions: list[str],
    image_of_caption: list[int],
    tagger: Tagger | None = None,
    seed: int = 0,
    max_words: int | None = 30,
    same_tokens: bool = False,
) -> ChoiceDataset:
    """An ARO order benchmark from captioned images: one item per caption, options
    ``[caption, 4 perturbations]`` (seed ``(seed, item)``), cleaned by ``pre_caption``. ARO keeps
    the caption's own text while the perturbations are tokens joined by spaces ("dog ," vs
    "dog,"); ``same_tokens`` joins the caption's tokens the same way, so only the order differs."""
    tagger = tagger or default_tagger()
    options = []
    for j, cap in enumerate(captions):
        gen = np.random.default_rng(np.random.SeedSequence([int(seed), j]))
        opts = order_options(cap, tagger, gen)
        if same_tokens:
            opts[0] = " ".join(tokenize(cap))
        options.append([pre_caption(o, max_words) if max_words is not None else o for o in opts])
    return ChoiceDataset(
        name,
        [images[i] for i in image_of_caption],
        options,
        [0] * len(options),
        info={"seed": seed, "max_words": max_words},
    )


def load_coco_order(
    root: str | Path, tagger: Tagger | None = None, seed: int = 0, split: str = "test", max_items: int | None = None
) -> ChoiceDataset:
    """COCO-Order: every caption of the Karpathy ``split`` (ARO: test, 25,010 items) with 4 seeded
    word-order perturbations. ``tagger`` defaults to spaCy's (see :mod:`.text`)."""
    ds = load_karpathy(root, "coco", split, captions_per_image=None)
    n = len(ds.captions) if max_items is None else max_items
    return order_dataset("ARO COCO-Order", ds.images, ds.captions[:n], ds.image_of_caption[:n], tagger, seed)


def load_flickr30k_order(
    root: str | Path, tagger: Tagger | None = None, seed: int = 0, split: str = "test", max_items: int | None = None
) -> ChoiceDataset:
    """Flickr30k-Order: as :func:`load_coco_order` on Flickr30k's Karpathy split."""
    ds = load_karpathy(root, "flickr30k", split, captions_per_image=None)
    n = len(ds.captions) if max_items is None else max_items
    return order_dataset("ARO Flickr30k-Order", ds.images, ds.captions[:n], ds.image_of_caption[:n], tagger, seed)


def _caption_options(trues, falses, name: str, where: list[str]) -> tuple[list[list[str]], int]:
    """ARO's options ``[false..., true]`` per row and the true caption's index. A false caption
    may be a string or a list of strings (one option each; every row the same length); nothing
    else is accepted, so a list never turns into its ``str()``."""
    options = []
    for i, (t, f) in enumerate(zip(trues, falses)):
        fs = [f] if isinstance(f, str) else list(f) if isinstance(f, (list, tuple)) else None
        if not isinstance(t, str) or not fs or not all(isinstance(x, str) for x in fs):
            raise DatasetFormatError(
                name, where, ARO_HOW_TO_GET,
                f"row {i}: the true caption must be a string and the false caption a string or a non-empty "
                f"list of strings, got {t!r} and {f!r}",
            )
        options.append([*fs, t])
    sizes = sorted({len(o) for o in options})
    if len(sizes) > 1:
        raise DatasetFormatError(
            name, where, ARO_HOW_TO_GET,
            f"rows have different numbers of false captions ({', '.join(str(k - 1) for k in sizes)}): "
            "a multiple-choice item needs the same number of options in every row",
        )
    return options, sizes[0] - 1


def _vg_images(rows, image_column: str, bbox_column: str | None, name: str, directory: Path) -> tuple[list, int]:
    """The rows' images as files, each cropped to its box (``{x, y, w, h}``) when the stored image
    is larger than the box by more than a pixel (a copy of the full images); an image of the box's
    size is taken as already cropped. Returns the references and how many are cropped."""
    files = hub_image_files(rows, image_column, directory, name)
    boxes = rows[bbox_column] if bbox_column else [None] * len(files)
    refs, cropped = [], 0
    for i, (file, box) in enumerate(zip(files, boxes)):
        if box is None:
            refs.append(ImageRef(file))
            continue
        try:
            x, y, w, h = (float(box[k]) for k in ("x", "y", "w", "h"))
        except (KeyError, TypeError, ValueError):
            raise DatasetFormatError(name, [bbox_column], ARO_HOW_TO_GET,
                                     f"row {i}: the box {box!r} is not {{x, y, w, h}}") from None
        with Image.open(file) as im:  # reads the header only
            width, height = im.size
        if width > w + 1 or height > h + 1:
            refs.append(ImageRef(file, (x, y, w, h)))
            cropped += 1
        else:
            refs.append(ImageRef(file))
    return refs, cropped


def load_vg_hub(
    kind: str,
    hub_id: str | None = None,
    split: str = "test",
    image_column: str = "image",
    true_column: str = "true_caption",
    false_column: str = "false_caption",
    group_column: str | None = None,
    bbox_column: str | None = "bbox",
    macro: bool = True,
    image_dir: str | Path | None = None,
) -> ChoiceDataset:
    """VG-Relation (``kind="relation"``) or VG-Attribution (``"attribution"``) from a hub copy
    (needs ``datasets`` and a network).

    ``hub_id`` defaults to :data:`VG_HUB_IDS`. ``gowitheflow/ARO-Visual-Relation`` (split
    ``test``, 23,937 rows) has ARO's fields: ``image``, ``true_caption``, ``false_caption``,
    ``relation_name`` and ``bbox`` (``{x, y, w, h}``); whether its images are cropped is not
    documented, so each image is cropped to its box when it is larger than the box (as ARO does)
    and taken as it is otherwise (``info["cropped"]`` counts the crops). A copy without the box
    column is used as stored, with a warning. ``gowitheflow/ARO-Visual-Attribution`` (split
    ``test``) does not document the column of its attribute pair: pass it as ``group_column``
    (an error lists the columns it has) or ``macro=False`` for the plain accuracy instead of ARO's
    macro accuracy over attribute pairs.

    Other copies name their columns differently: pass the names. A false caption that is a list
    (``yjkimstats/ARO_VG_Relation``: split ``train``, ``images``, ``Realation_name`` [sic],
    ``text``, ``hard_texts``) gives one option per element. Row counts are compared with ARO's
    (:data:`VG_SIZES`; a :class:`~.data.DatasetSizeWarning` when they differ).
    """
    if kind not in ("relation", "attribution"):
        raise ValueError(f"kind must be 'relation' or 'attribution', got {kind!r}")
    hub_id = hub_id or VG_HUB_IDS[kind]
    name = f"ARO VG-{kind.capitalize()} (hub)"
    where = [f"hf://datasets/{hub_id}"]
    group_column = (group_column or ("relation_name" if kind == "relation" else "attributes")) if macro else None
    rows = hub_rows(hub_id, split, (image_column, true_column, false_column), name)
    if group_column and group_column not in rows.column_names:
        what = "relation" if kind == "relation" else "attribute pair"
        raise DatasetFormatError(
            name, where, ARO_HOW_TO_GET,
            f"no column {group_column!r} for each row's {what} (it has {rows.column_names}); ARO's macro accuracy "
            f"needs it: pass group_column= the copy's column for it, or macro=False for the plain accuracy",
        )
    options, true_index = _caption_options(rows[true_column], rows[false_column], name, where)
    groups = None
    if group_column:
        groups = []
        for i, g in enumerate(rows[group_column]):
            if isinstance(g, str):
                groups.append(g)
            elif isinstance(g, (list, tuple)) and len(g) >= 2:
                groups.append(f"{g[0]}_{g[1]}")  # an attribute pair, as the local loader names it
            else:
                raise DatasetFormatError(name, where, ARO_HOW_TO_GET,
                                         f"row {i}: group {g!r} is neither a name nor an attribute pair")
    check_size(f"ARO VG-{kind.capitalize()}", f"{where[0]} (split {split!r})", VG_SIZES[kind], len(rows))
    bbox = bbox_column if bbox_column and bbox_column in rows.column_names else None
    if bbox is None:
        warnings.warn(
            f"{name}: {hub_id} has no box column {bbox_column!r}: its images are used as stored (ARO crops each "
            "image to the box around the relation or the objects; a copy of the full images gives other numbers)",
            stacklevel=2,
        )
    directory = Path(image_dir) if image_dir is not None else image_directory(hub_id, split)
    images, cropped = _vg_images(rows, image_column, bbox, name, directory)
    return ChoiceDataset(
        name,
        images,
        options,
        [true_index] * len(options),
        groups,
        1 if kind == "relation" else 25,
        VG_SYMMETRIC_RELATIONS if kind == "relation" and groups is not None else frozenset(),
        {"hub_id": hub_id, "split": split, "cropped": cropped},
    )

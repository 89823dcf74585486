"""COCO (and Flickr30k) image-caption retrieval on the Karpathy splits.

Local layout (either annotation file works)::

    root/
      dataset_coco.json               Karpathy's file: {"images": [{"filepath", "filename", "split",
                                      "sentences": [{"raw": ...}, ...]}, ...]}
      coco_karpathy_test.json         or the BLIP/ARO file: [{"image": "val2014/...jpg",
                                      "caption": [...]}, ...]
      val2014/COCO_val2014_*.jpg      the images (train2014/ for the train split)

The test split has 5,000 images and 25,000 captions (the first 5 of each image, as everyone
reports). Flickr30k uses the same format (``dataset_flickr30k.json``, images in
``flickr30k-images/``).

Hub copy (:func:`load_coco_karpathy_hub`): ``yerevann/coco-karpathy``, one parquet file per part
(``train``, ``validation``, ``test``, ``restval``), a row per image with ``filepath``,
``filename``, ``sentences`` (its captions), ``sentids``, ``imgid``, ``cocoid`` and ``url``; no
pixels, so the images still come from a local COCO folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .data import (
    DatasetFormatError,
    DatasetNotFoundError,
    ImageRef,
    check_size,
    pre_caption,
    read_json,
    require_dir,
    resolve_image,
)
from .hub import hub_rows

__all__ = [
    "RetrievalDataset",
    "COCO_HOW_TO_GET",
    "FLICKR_HOW_TO_GET",
    "KARPATHY_HUB_SPLITS",
    "KARPATHY_SIZES",
    "load_karpathy",
    "load_coco_karpathy",
    "load_coco_karpathy_hub",
]

COCO_HOW_TO_GET = (
    "download the images from http://images.cocodataset.org/zips/val2014.zip (and train2014.zip "
    "for training) and Karpathy's split file dataset_coco.json (or coco_karpathy_{split}.json from "
    "https://storage.googleapis.com/sfr-vision-language-research/datasets/) into the directory"
)
FLICKR_HOW_TO_GET = (
    "sign up for the Flickr30k images at https://forms.illinois.edu/sec/229675 and put "
    "flickr30k-images/ and dataset_flickr30k.json (or flickr30k_{split}.json from "
    "https://storage.googleapis.com/sfr-vision-language-research/datasets/) into the directory"
)

_SPLITS = ("train", "val", "test")
#: our split -> the parts of the hub copy ``yerevann/coco-karpathy`` (its parquet files: train,
#: validation, test, restval); Karpathy's train split is train + restval
KARPATHY_HUB_SPLITS = {"train": ("train", "restval"), "val": ("validation",), "test": ("test",)}
#: images per Karpathy split of COCO (Karpathy & Fei-Fei, 2015): train 82,783 + restval 30,504
KARPATHY_SIZES = {"train": 113_287, "val": 5_000, "test": 5_000}


@dataclass
class RetrievalDataset:
    """Images and their captions: caption ``j`` describes image ``image_of_caption[j]``."""

    name: str
    images: list  # ImageRef or PIL images, (N,)
    captions: list[str]  # (T,)
    image_of_caption: list[int]  # (T,)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.images) == 0 or len(self.captions) == 0:
            raise ValueError(f"{self.name}: no images or no captions")
        if len(self.captions) != len(self.image_of_caption):
            raise ValueError(f"{self.name}: {len(self.captions)} captions but {len(self.image_of_caption)} owners")
        if min(self.image_of_caption) < 0 or max(self.image_of_caption) >= len(self.images):
            raise ValueError(f"{self.name}: a caption points outside the {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)


def _entries(root: Path, name: str, split: str, how: str) -> tuple[list[tuple[str, list[str]]], Path]:
    """``[(relative image path, [captions])]`` of one split from either annotation format."""
    karpathy = [root / f"dataset_{name}.json", root / "annotations" / f"dataset_{name}.json"]
    blip = [
        root / f"{name}_karpathy_{split}.json",
        root / f"{name}_{split}.json",
        root / "annotations" / f"{name}_karpathy_{split}.json",
    ]
    found = next((p for p in karpathy + blip if p.is_file()), None)
    if found is None:
        raise DatasetNotFoundError(f"{name} Karpathy split", karpathy + blip, how)
    data = read_json(found, f"{name} Karpathy split", how)
    wanted = {"train": {"train", "restval"}}.get(split, {split})
    try:
        if found in karpathy:
            if not isinstance(data, dict) or "images" not in data:
                raise KeyError("images")
            out = [
                (str(Path(im.get("filepath", "")) / im["filename"]), [s["raw"] for s in im["sentences"]])
                for im in data["images"]
                if im["split"] in wanted
            ]
        else:
            if not isinstance(data, list):
                raise TypeError("a list of {image, caption} records")
            grouped: dict[str, list[str]] = {}
            for rec in data:  # val/test: a list of captions per image; train: one caption per record
                caps = rec["caption"]
                grouped.setdefault(rec["image"], []).extend([caps] if isinstance(caps, str) else list(caps))
            out = list(grouped.items())
    except (KeyError, TypeError) as err:
        raise DatasetFormatError(
            f"{name} Karpathy split", [found], how, f"unexpected structure (missing or wrong field {err})"
        ) from None
    if not out:
        raise DatasetFormatError(f"{name} Karpathy split", [found], how, f"no images in split {split!r}")
    return out, found


def load_karpathy(
    root: str | Path,
    name: str = "coco",
    split: str = "test",
    captions_per_image: int | None = 5,
    max_words: int | None = None,
    check_images: bool = True,
) -> RetrievalDataset:
    """One Karpathy split of COCO (``name="coco"``) or Flickr30k (``"flickr30k"``) from ``root``.

    ``captions_per_image``: keep the first ``k`` captions of each image (5, the standard
    protocol; ``None`` keeps all). ``max_words``: clean captions with
    :func:`~labclip_lib.benchmarks.data.pre_caption` (ARO: 30, the LABCLIP authors: 40; ``None``
    keeps the raw text). ``check_images``: every image file must exist (else one clear error).
    """
    if split not in _SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {_SPLITS}")
    how = COCO_HOW_TO_GET if name == "coco" else FLICKR_HOW_TO_GET
    root = require_dir(root, f"{name} Karpathy split", how)
    entries, _ = _entries(root, name, split, how)
    items = []
    for rel, caps in entries:
        if check_images:
            cands = [root / rel, root / Path(rel).name, root / "images" / rel]
            if name == "flickr30k":
                cands.append(root / "flickr30k-images" / Path(rel).name)
            path = resolve_image(cands, f"{name} Karpathy {split} images", how)
        else:
            path = str(root / rel)
        items.append((path, caps))
    return _retrieval_set(
        f"{name} Karpathy {split}", items, captions_per_image, max_words, {"root": str(root), "split": split}
    )


def _retrieval_set(
    name: str, items: list[tuple[str, list]], captions_per_image: int | None, max_words: int | None, info: dict
) -> RetrievalDataset:
    """``items`` (image path, its captions) as a retrieval set: the first ``captions_per_image``
    captions of each image, cleaned by ``pre_caption(max_words)`` (``None``: stripped only);
    images left without captions are dropped."""
    images, captions, owner = [], [], []
    for path, caps in items:
        caps = caps[:captions_per_image] if captions_per_image is not None else caps
        if not caps:
            continue
        images.append(ImageRef(path))
        for c in caps:
            captions.append(pre_caption(c, max_words) if max_words is not None else str(c).strip())
            owner.append(len(images) - 1)
    info = {**info, "captions_per_image": captions_per_image, "max_words": max_words}
    return RetrievalDataset(name, images, captions, owner, info)


def load_coco_karpathy(root: str | Path, split: str = "test", **kwargs) -> RetrievalDataset:
    """:func:`load_karpathy` for COCO (test: 5,000 images, 25,000 captions)."""
    return load_karpathy(root, "coco", split, **kwargs)


def load_coco_karpathy_hub(
    image_root: str | Path,
    split: str = "test",
    hub_id: str = "yerevann/coco-karpathy",
    captions_per_image: int | None = 5,
    max_words: int | None = None,
) -> RetrievalDataset:
    """A Karpathy split's captions from the hub (needs ``datasets`` and a network); that copy holds
    file names, not pixels, so the images come from ``image_root`` (the COCO ``val2014/`` /
    ``train2014/`` folders).

    ``split`` is ours (``train``, ``val``, ``test``; :data:`KARPATHY_HUB_SPLITS` maps it to the
    copy's ``train`` + ``restval``, ``validation``, ``test``), so ``train`` is Karpathy's 113,287
    images as on the local path, not the copy's ``train`` part alone (82,783). Image counts are
    compared with :data:`KARPATHY_SIZES` (a :class:`~.data.DatasetSizeWarning` when they differ).
    ``captions_per_image`` and ``max_words`` as in :func:`load_karpathy` (``max_words=None``
    keeps the raw text; chapter 10's local path cleans with 40), so both paths give the same
    captions."""
    if split not in KARPATHY_HUB_SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(KARPATHY_HUB_SPLITS)}")
    name = "COCO Karpathy (hub)"
    parts = [hub_rows(hub_id, part, ("filepath", "filename", "sentences"), name) for part in KARPATHY_HUB_SPLITS[split]]
    check_size(f"COCO Karpathy {split}", f"hf://datasets/{hub_id} (splits {' + '.join(KARPATHY_HUB_SPLITS[split])})",
               KARPATHY_SIZES[split], sum(len(p) for p in parts))
    root = require_dir(image_root, "COCO images", COCO_HOW_TO_GET)
    items = []
    for rows in parts:
        for r in rows:
            path = resolve_image(
                [root / r["filepath"] / r["filename"], root / r["filename"]], "COCO images", COCO_HOW_TO_GET
            )
            items.append((path, [s["raw"] if isinstance(s, dict) else str(s) for s in r["sentences"]]))
    return _retrieval_set(
        f"coco Karpathy {split} (hub)", items, captions_per_image, max_words, {"hub_id": hub_id, "split": split}
    )

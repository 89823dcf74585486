"""Zero-shot classification data: CIFAR-10/100 in their original binary format, any image folder
(ImageNet with your class names), or the hub copies.

Local layouts:

* CIFAR-10: ``root/cifar-10-batches-bin/test_batch.bin`` (records of 1 label byte + 3,072 pixel
  bytes, channel-planar 32 x 32), from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz;
* CIFAR-100: ``root/cifar-100-binary/test.bin`` (2 label bytes, coarse then fine, + 3,072),
  from https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz;
* an image folder: ``root/<class folder>/*.jpg|png`` (folders in sorted order are the labels).

(The binary versions need no unpickling; the python versions of CIFAR are pickles and are not read.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .data import DatasetFormatError, DatasetNotFoundError, ImageRef, require_dir
from .hub import hub_rows
from .zeroshot_data import CIFAR10_CLASSES, CIFAR100_CLASSES, CIFAR_TEMPLATES

__all__ = ["ClassificationDataset", "CIFAR_HOW_TO_GET", "load_cifar", "load_image_folder", "load_cifar_hub"]

CIFAR_HOW_TO_GET = (
    "download and untar https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (CIFAR-10) or "
    "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz (CIFAR-100) into the directory"
)
_EXTS = (".jpg", ".jpeg", ".png", ".JPEG", ".JPG", ".PNG")


@dataclass
class ClassificationDataset:
    """Images, their integer labels, the class names (index = label) and the prompt templates."""

    name: str
    images: list  # PIL images or ImageRef, (N,)
    labels: list[int]  # (N,)
    classnames: list[str]  # (C,)
    templates: tuple[str, ...] = CIFAR_TEMPLATES
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.images) == 0 or len(self.images) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.images)} images but {len(self.labels)} labels")
        if min(self.labels) < 0 or max(self.labels) >= len(self.classnames):
            raise ValueError(f"{self.name}: labels must lie in [0, {len(self.classnames)})")


def _read_cifar_bin(path: Path, label_bytes: int, label_at: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    rec = label_bytes + 3072
    if raw.size == 0 or raw.size % rec:
        raise DatasetFormatError(
            name, [path], CIFAR_HOW_TO_GET, f"{raw.size} bytes is not a whole number of {rec}-byte records"
        )
    raw = raw.reshape(-1, rec)
    images = raw[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), raw[:, label_at].astype(np.int64)


def load_cifar(root: str | Path, which: str = "cifar10", max_items: int | None = None) -> ClassificationDataset:
    """The CIFAR-10 or CIFAR-100 (``which="cifar100"``, fine labels) test set, 10,000 images,
    from the binary version in ``root``."""
    if which not in ("cifar10", "cifar100"):
        raise ValueError(f"which must be 'cifar10' or 'cifar100', got {which!r}")
    name = "CIFAR-10" if which == "cifar10" else "CIFAR-100"
    root = require_dir(root, name, CIFAR_HOW_TO_GET)
    if which == "cifar10":
        cands, label_bytes, label_at, classes = (
            [root / "cifar-10-batches-bin" / "test_batch.bin", root / "test_batch.bin"],
            1,
            0,
            CIFAR10_CLASSES,
        )
    else:
        cands, label_bytes, label_at, classes = (
            [root / "cifar-100-binary" / "test.bin", root / "test.bin"],
            2,
            1,
            CIFAR100_CLASSES,
        )
    path = next((p for p in cands if p.is_file()), None)
    if path is None:
        raise DatasetNotFoundError(name, cands, CIFAR_HOW_TO_GET)
    images, labels = _read_cifar_bin(path, label_bytes, label_at, name)
    if labels.max() >= len(classes):
        raise DatasetFormatError(name, [path], CIFAR_HOW_TO_GET, f"label {labels.max()} >= {len(classes)} classes")
    images, labels = images[:max_items], labels[:max_items]
    return ClassificationDataset(
        name, [Image.fromarray(x) for x in images], labels.tolist(), list(classes), CIFAR_TEMPLATES, {"file": str(path)}
    )


def load_image_folder(
    root: str | Path,
    classnames: Sequence[str] | None = None,
    templates: Sequence[str] = CIFAR_TEMPLATES,
    name: str = "image folder",
    max_per_class: int | None = None,
) -> ClassificationDataset:
    """Images in ``root/<class folder>/``; folders in sorted order are labels 0, 1, ...
    ``classnames`` (one per folder, same order) names them for the prompts (ImageNet: pass the
    readable names; default: the folder names with ``_`` as spaces)."""
    how = "put one folder of images per class into the directory (ImageNet val: one folder per synset)"
    root = require_dir(root, name, how)
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise DatasetNotFoundError(name, [root / "<class>/"], how, "no class folders")
    if classnames is not None and len(classnames) != len(folders):
        raise DatasetFormatError(name, [root], how, f"{len(classnames)} class names for {len(folders)} folders")
    names = list(classnames) if classnames is not None else [f.name.replace("_", " ") for f in folders]
    images, labels = [], []
    for c, folder in enumerate(folders):
        files = sorted(p for p in folder.iterdir() if p.suffix in _EXTS)[:max_per_class]
        images += [ImageRef(str(p)) for p in files]
        labels += [c] * len(files)
    if not images:
        raise DatasetNotFoundError(name, [root / "<class>/*.jpg"], how, "no image files")
    return ClassificationDataset(name, images, labels, names, tuple(templates), {"root": str(root)})


def load_cifar_hub(which: str = "cifar10", split: str = "test") -> ClassificationDataset:
    """CIFAR from the hub (``uoft-cs/cifar10`` / ``uoft-cs/cifar100``; needs ``datasets`` and a network)."""
    hub_id, label, classes = {
        "cifar10": ("uoft-cs/cifar10", "label", CIFAR10_CLASSES),
        "cifar100": ("uoft-cs/cifar100", "fine_label", CIFAR100_CLASSES),
    }[which]
    rows = hub_rows(hub_id, split, ("img", label), which)
    return ClassificationDataset(
        which, list(rows["img"]), [int(x) for x in rows[label]], list(classes), CIFAR_TEMPLATES, {"hub_id": hub_id}
    )

"""Zero-shot classification data: CIFAR-10/100 in either of their distributed formats, any image
folder (ImageNet with your class names), or the hub copies.

Local layouts (``root`` holds the unpacked archive's folder, or its files directly):

* CIFAR-10: ``cifar-10-batches-bin/test_batch.bin`` (the binary version,
  https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz) or ``cifar-10-batches-py/test_batch``
  with ``batches.meta`` (the python version, cifar-10-python.tar.gz: what ``torchvision`` and
  most people download);
* CIFAR-100: ``cifar-100-binary/test.bin`` or ``cifar-100-python/test`` with ``meta``
  (cifar-100-binary.tar.gz / cifar-100-python.tar.gz); fine labels;
* an image folder: ``root/<class folder>/*.jpg|png`` (folders in sorted order are the labels).

The formats are read by :mod:`.cifar_files`. The class names a file ships (the python version's
meta file, a hub copy's ``ClassLabel``) are checked against ours, in order, so labels can never
be read against the wrong names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from PIL import Image

from .cifar_files import read_cifar_binary, read_cifar_python, read_cifar_python_names
from .data import DatasetFormatError, DatasetNotFoundError, ImageRef, check_size, require_dir
from .hub import class_names, hub_rows
from .zeroshot_data import CIFAR10_CLASSES, CIFAR100_CLASSES, CIFAR_TEMPLATES

__all__ = ["ClassificationDataset", "CIFAR_HOW_TO_GET", "CIFAR_SIZES", "check_class_names", "load_cifar",
           "load_image_folder", "load_cifar_hub"]

CIFAR_HOW_TO_GET = (
    "download and untar https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (CIFAR-10) or "
    "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (CIFAR-100), or their binary versions "
    "cifar-10-binary.tar.gz / cifar-100-binary.tar.gz, into the directory"
)
#: images per split of CIFAR-10 and of CIFAR-100 (https://www.cs.toronto.edu/~kriz/cifar.html)
CIFAR_SIZES = {"train": 50_000, "test": 10_000}
#: misspelt class names in hub copies -> ours: uoft-cs/cifar100's ClassLabel names class 26 "cra"
_KNOWN_TYPOS = {"cra": "crab"}
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


def check_class_names(names: Sequence[str], classes: Sequence[str], dataset: str, source: str) -> None:
    """Raise :class:`DatasetFormatError` unless ``names`` (a file's class names, ``_`` for spaces)
    are ``classes`` in the same order; the known misspellings of hub copies are accepted."""
    got = [_KNOWN_TYPOS.get(n, n).replace("_", " ") for n in names]
    if got != list(classes):
        diff = [(i, n, c) for i, (n, c) in enumerate(zip(got, classes)) if n != c][:5]
        raise DatasetFormatError(
            dataset, [source], CIFAR_HOW_TO_GET,
            f"its {len(got)} class names are not the expected {len(classes)} in order "
            f"(first differences, index: theirs vs ours: {diff}); its labels would be read against the wrong names",
        )


def _cifar_file(root: Path, which: str) -> tuple[Path, str]:
    """The test file in ``root`` and its format (``"bin"`` or ``"py"``)."""
    if which == "cifar10":
        cands = [(root / "cifar-10-batches-bin" / "test_batch.bin", "bin"), (root / "test_batch.bin", "bin"),
                 (root / "cifar-10-batches-py" / "test_batch", "py"), (root / "test_batch", "py")]
    else:
        cands = [(root / "cifar-100-binary" / "test.bin", "bin"), (root / "test.bin", "bin"),
                 (root / "cifar-100-python" / "test", "py"), (root / "test", "py")]
    found = next(((p, f) for p, f in cands if p.is_file()), None)
    if found is None:
        raise DatasetNotFoundError("CIFAR-10" if which == "cifar10" else "CIFAR-100", [p for p, _ in cands],
                                   CIFAR_HOW_TO_GET)
    return found


def load_cifar(root: str | Path, which: str = "cifar10", max_items: int | None = None) -> ClassificationDataset:
    """The CIFAR-10 or CIFAR-100 (``which="cifar100"``, fine labels) test set, 10,000 images, from
    the binary or the python version in ``root`` (the binary one when both are there)."""
    if which not in ("cifar10", "cifar100"):
        raise ValueError(f"which must be 'cifar10' or 'cifar100', got {which!r}")
    name = "CIFAR-10" if which == "cifar10" else "CIFAR-100"
    classes = CIFAR10_CLASSES if which == "cifar10" else CIFAR100_CLASSES
    root = require_dir(root, name, CIFAR_HOW_TO_GET)
    path, fmt = _cifar_file(root, which)
    if fmt == "bin":
        images, labels = read_cifar_binary(path, 1 if which == "cifar10" else 2, 0 if which == "cifar10" else 1,
                                           name, CIFAR_HOW_TO_GET)
    else:
        images, labels = read_cifar_python(path, b"labels" if which == "cifar10" else b"fine_labels",
                                           name, CIFAR_HOW_TO_GET)
        meta = path.parent / ("batches.meta" if which == "cifar10" else "meta")
        if meta.is_file():
            key = b"label_names" if which == "cifar10" else b"fine_label_names"
            check_class_names(read_cifar_python_names(meta, key, name, CIFAR_HOW_TO_GET), classes, name, str(meta))
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DatasetFormatError(name, [path], CIFAR_HOW_TO_GET, f"labels outside [0, {len(classes)})")
    images, labels = images[:max_items], labels[:max_items]
    return ClassificationDataset(
        name, [Image.fromarray(x) for x in images], labels.tolist(), list(classes), CIFAR_TEMPLATES,
        {"file": str(path), "format": "binary" if fmt == "bin" else "python"},
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
    """CIFAR from the hub (``uoft-cs/cifar10``: ``img`` and ``label``; ``uoft-cs/cifar100``:
    ``img``, ``fine_label`` and ``coarse_label``; the labels are ``ClassLabel`` columns, whose
    names are checked against ours; needs ``datasets`` and a network)."""
    if which not in ("cifar10", "cifar100"):
        raise ValueError(f"which must be 'cifar10' or 'cifar100', got {which!r}")
    hub_id, label, classes = {
        "cifar10": ("uoft-cs/cifar10", "label", CIFAR10_CLASSES),
        "cifar100": ("uoft-cs/cifar100", "fine_label", CIFAR100_CLASSES),
    }[which]
    rows = hub_rows(hub_id, split, ("img", label), which)
    names = class_names(rows, label)
    if names is not None:
        check_class_names(names, classes, which, f"hf://datasets/{hub_id} column {label!r}")
    if split in CIFAR_SIZES:
        check_size(which, f"hf://datasets/{hub_id} (split {split!r})", CIFAR_SIZES[split], len(rows))
    return ClassificationDataset(
        which, list(rows["img"]), [int(x) for x in rows[label]], list(classes), CIFAR_TEMPLATES, {"hub_id": hub_id}
    )

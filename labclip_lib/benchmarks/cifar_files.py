"""CIFAR-10/100's two distributed formats (https://www.cs.toronto.edu/~kriz/cifar.html) read into
arrays: ``(N, 32, 32, 3)`` uint8 images and ``(N,)`` int64 labels.

* **binary** (``cifar-10-batches-bin/test_batch.bin``, ``cifar-100-binary/test.bin``): records
  of 1 label byte (CIFAR-100: 2, coarse then fine) and 3,072 channel-planar pixel bytes;
* **python** (``cifar-10-batches-py/test_batch`` with ``batches.meta``;
  ``cifar-100-python/test`` with ``meta``): Python 2 pickles of a dict with bytes keys,
  ``b"data"`` (an ``(N, 3072)`` uint8 array, channel-planar rows), ``b"labels"`` (CIFAR-10) or
  ``b"fine_labels"`` (CIFAR-100), and in the meta file ``b"label_names"`` /
  ``b"fine_label_names"``. They are read with an unpickler that rebuilds numpy arrays and
  nothing else, so a file that would run code is refused, not run.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import numpy as np

from .data import DatasetFormatError

__all__ = ["read_cifar_binary", "read_cifar_python", "read_cifar_python_names"]

_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's array-rebuilding function, whatever its module is called
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # as the 2009 pickles name it
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # as numpy >= 2 names it
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Loads dicts, lists, strings, numbers and numpy arrays; any other global is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 spells bytes written by Python 3
            return codecs.encode
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR file holds only arrays and lists")


def _unpickle(path: Path, dataset: str, how: str) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as err:
        raise DatasetFormatError(dataset, [path], how, f"not a CIFAR python-version file ({err})") from None
    if not isinstance(obj, dict):
        raise DatasetFormatError(dataset, [path], how, f"expected a dict, found {type(obj).__name__}")
    return obj


def _images(flat: np.ndarray) -> np.ndarray:
    """``(N, 3072)`` channel-planar rows -> ``(N, 32, 32, 3)``."""
    return np.ascontiguousarray(flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def read_cifar_binary(
    path: Path, label_bytes: int, label_at: int, dataset: str, how: str
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of a binary-version file (label byte ``label_at`` of ``label_bytes``)."""
    raw = np.fromfile(path, dtype=np.uint8)
    rec = label_bytes + 3072
    if raw.size == 0 or raw.size % rec:
        raise DatasetFormatError(dataset, [path], how, f"{raw.size} bytes is not a whole number of {rec}-byte records")
    raw = raw.reshape(-1, rec)
    return _images(raw[:, label_bytes:]), raw[:, label_at].astype(np.int64)


def read_cifar_python(path: Path, label_key: bytes, dataset: str, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels (``label_key``: ``b"labels"`` or ``b"fine_labels"``) of a python-version file."""
    obj = _unpickle(path, dataset, how)
    data, labels = obj.get(b"data"), obj.get(label_key)
    if not isinstance(data, np.ndarray) or labels is None:
        raise DatasetFormatError(
            dataset, [path], how, f"expected keys b'data' (an array) and {label_key!r}; found {sorted(obj)}"
        )
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DatasetFormatError(
            dataset, [path], how,
            f"b'data' is {data.dtype} {data.shape} with {len(labels)} labels; expected uint8 (N, 3072) with N labels",
        )
    return _images(data), np.asarray(labels, dtype=np.int64)


def read_cifar_python_names(path: Path, names_key: bytes, dataset: str, how: str) -> list[str]:
    """The class names of a python-version meta file (``names_key``: ``b"label_names"`` or
    ``b"fine_label_names"``), decoded."""
    names = _unpickle(path, dataset, how).get(names_key)
    if not isinstance(names, list) or not names:
        raise DatasetFormatError(dataset, [path], how, f"no list {names_key!r} in the meta file")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]

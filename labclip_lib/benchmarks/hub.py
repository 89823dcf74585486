"""The one door to the Hugging Face hub's datasets (``datasets.load_dataset``), kept apart from
the local loaders: it needs the ``datasets`` package and a network, neither of which the book's
offline build has."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..runtime import progress_bar
from .data import DatasetFormatError, DatasetNotFoundError
from .image_files import store_image

__all__ = ["hub_rows", "hub_image_files", "class_names"]


def _datasets(dataset: str):
    try:
        # datasets is optional and heavy: only the hub path needs it
        import datasets
    except ImportError:
        raise ImportError(f"loading {dataset} from the hub needs the datasets package: pip install datasets") from None
    return datasets


def hub_rows(hub_id: str, split: str, columns: Sequence[str], dataset: str, config: str | None = None):
    """``datasets.load_dataset(hub_id, config, split=split)``, checked to have ``columns``.

    Raises ``ImportError`` without ``datasets`` (``pip install datasets``),
    :class:`DatasetNotFoundError` when the hub cannot be reached or has no such dataset or split,
    and :class:`DatasetFormatError` naming the columns it does have when some are missing.
    """
    how = f"pip install datasets, then load {hub_id!r} with a network connection (or use the local loader)"
    datasets = _datasets(dataset)
    try:
        ds = datasets.load_dataset(hub_id, config, split=split)
    except (OSError, ValueError, ConnectionError) as err:  # offline, unknown id or split
        raise DatasetNotFoundError(
            dataset,
            [f"hf://datasets/{hub_id} (split {split!r})"],
            how,
            f"cannot load from the hub: {type(err).__name__}: {err}",
        ) from None
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise DatasetFormatError(
            dataset, [f"hf://datasets/{hub_id}"], how, f"missing columns {missing}; it has {ds.column_names}"
        )
    return ds


def hub_image_files(rows, column: str, directory: str | Path, dataset: str, batch_size: int = 64) -> list[str]:
    """The images of ``rows[column]`` (an ``Image`` column) as files in ``directory``, in row order
    (:func:`~labclip_lib.benchmarks.image_files.store_image`): read in batches without decoding,
    so one batch of image bytes is in memory at a time."""
    datasets = _datasets(dataset)
    feature = rows.features.get(column)
    if not isinstance(feature, datasets.Image):
        raise DatasetFormatError(
            dataset, [str(column)], "pass the name of the copy's image column",
            f"column {column!r} is {feature!r}, not an image column",
        )
    raw = rows.select_columns([column]).cast_column(column, datasets.Image(decode=False))
    out: list[str] = []
    with progress_bar(len(raw), f"{dataset}: images to files") as bar:
        for batch in raw.iter(batch_size=batch_size):
            out += [store_image(cell, directory, dataset) for cell in batch[column]]
            bar.update(len(batch[column]))
    return out


def class_names(rows, column: str) -> list[str] | None:
    """The names of a ``ClassLabel`` column (index = label), or ``None`` for any other column."""
    feature = rows.features.get(column)
    return list(feature.names) if isinstance(feature, _datasets(column).ClassLabel) else None

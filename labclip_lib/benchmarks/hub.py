"""The one door to the Hugging Face hub's datasets (``datasets.load_dataset``), kept apart from
the local loaders: it needs the ``datasets`` package and a network, neither of which the book's
offline build has."""

from __future__ import annotations

from typing import Sequence

from .data import DatasetFormatError, DatasetNotFoundError

__all__ = ["hub_rows"]


def hub_rows(hub_id: str, split: str, columns: Sequence[str], dataset: str, config: str | None = None):
    """``datasets.load_dataset(hub_id, config, split=split)``, checked to have ``columns``.

    Raises ``ImportError`` without ``datasets`` (``pip install datasets``),
    :class:`DatasetNotFoundError` when the hub cannot be reached or has no such dataset, and
    :class:`DatasetFormatError` naming the columns it does have when some are missing.
    """
    how = f"pip install datasets, then load {hub_id!r} with a network connection (or use the local loader)"
    try:
        # datasets is optional and heavy: only the hub path needs it
        import datasets
    except ImportError:
        raise ImportError(f"loading {dataset} from the hub needs the datasets package: pip install datasets") from None
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

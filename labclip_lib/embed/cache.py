"""Model-aware embedding caches: a model's embeddings of images, captions or a whole data set,
computed once and kept on disk through :mod:`labclip_lib.storage`.

A key holds the model's fingerprint (which changes whenever its weights could), its
preprocessing, the normalisation, a fingerprint of the data and the library version, so an
entry computed for one model is never served to another (the LABCLIP authors' caches were keyed
by file name only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .. import __version__
from ..storage import compute_or_load, fingerprint_array, fingerprint_strings
from .protocol import EmbeddingModel, images_to_tensor

__all__ = ["cached_encode_images", "cached_encode_texts", "image_embeddings"]


def _model_key(model: EmbeddingModel, what: str, data_fingerprint: str, normalize: bool) -> dict:
    return {
        "what": what,
        "model": getattr(model, "name", type(model).__name__),
        "model_fingerprint": model.fingerprint,
        "preprocess": getattr(model, "preprocess_config", None),
        "normalize": bool(normalize),
        "data": data_fingerprint,
        "labclip_lib": __version__,
    }


def cached_encode_images(model: EmbeddingModel, images, *, data_fingerprint: str | None = None, normalize: bool = True,
                         directory: str | Path | None = None, **kwargs) -> torch.Tensor:
    """``model.encode_images`` through the cache (the data fingerprint defaults to the pixels')."""
    fp = data_fingerprint or fingerprint_array(images_to_tensor(images))
    return compute_or_load(_model_key(model, "images", fp, normalize),
                           lambda: model.encode_images(images, normalize=normalize, **kwargs),
                           directory=directory, name="img")


def cached_encode_texts(model: EmbeddingModel, captions: Sequence[str], *, normalize: bool = True,
                        directory: str | Path | None = None, **kwargs) -> torch.Tensor:
    """``model.encode_texts`` through the cache (keyed by the captions themselves)."""
    captions = [str(c) for c in captions]
    return compute_or_load(_model_key(model, "texts", fingerprint_strings(captions), normalize),
                           lambda: model.encode_texts(captions, normalize=normalize, **kwargs),
                           directory=directory, name="txt")


def image_embeddings(model: EmbeddingModel, data, *, directory: str | Path | None = None) -> torch.Tensor:
    """All of ``data.images`` embedded by ``model``: ``(N, D)``, normalised.

    Every chapter embeds the same scenes with the same models; when the model has a
    fingerprint (``image_fingerprint``, else ``fingerprint``: an aligned model shares its base
    model's images) and the data a ``key`` (:func:`~labclip_lib.organisms.build_data` sets it),
    the result is cached on disk, so each (model, data) pair is embedded once. Otherwise it is
    computed. Index the result for a split: ``image_embeddings(model, data)[idx]``.
    """
    fp = getattr(model, "image_fingerprint", None) or getattr(model, "fingerprint", None)
    data_key = getattr(data, "key", "")
    if not fp or not data_key:
        return model.encode_images(data.images)
    key = {"what": "all images", "model_fingerprint": fp, "preprocess": getattr(model, "preprocess_config", None),
           "image_size": getattr(model, "image_size", None), "data": data_key, "labclip_lib": __version__}
    return compute_or_load(key, lambda: model.encode_images(data.images), directory=directory, name="img")

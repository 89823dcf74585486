"""A model whose text embeddings go through a LABCLIP map: the model protocol again, so every
analysis of the book runs on the aligned model unchanged."""

from __future__ import annotations

import hashlib
from typing import Sequence

import torch

from .estimator import LinearAlignment

__all__ = ["AlignedModel"]

class AlignedModel:
    """A model whose text embeddings go through a LABCLIP map (images untouched).

    Has the same ``encode_images`` / ``encode_texts`` interface as
    :func:`labclip_lib.models.load_model`'s models, so every analysis of the book runs on it.

    Used in chapter 6.
    """

    def __init__(self, model, alignment: LinearAlignment, name: str | None = None):
        alignment._fitted()
        if getattr(model, "dim", alignment.n_features_in_) != alignment.n_features_in_:
            raise ValueError(f"the map is {alignment.n_features_in_}-dimensional but {model!r} embeds in "
                             f"{model.dim} dimensions")
        self.model, self.alignment = model, alignment
        self.name = name or f"{getattr(model, 'name', type(model).__name__)} + LABCLIP"
        self.dim = alignment.n_features_in_
        self.image_size = getattr(model, "image_size", None)
        self.preprocess_config = getattr(model, "preprocess_config", None)
        digest = hashlib.sha256(alignment.weight_.numpy().tobytes()).hexdigest()[:16]
        self.fingerprint = f"{getattr(model, 'fingerprint', self.name)}+map:{digest}"
        # the map leaves images alone: image embeddings are the base model's (and share its cache)
        self.image_fingerprint = getattr(model, "image_fingerprint", None) or getattr(model, "fingerprint", None)

    def __repr__(self) -> str:
        return f"AlignedModel({self.model!r}, D={self.dim})"

    def encode_images(self, images, **kwargs) -> torch.Tensor:
        """The base model's image embeddings, unchanged: ``(N, D)``."""
        return self.model.encode_images(images, **kwargs)

    def encode_texts(self, captions: Sequence[str], normalize: bool = True, **kwargs) -> torch.Tensor:
        """``normalize(A f_text(caption))``: ``(N, D)`` (always unit length; the map re-normalises)."""
        return self.alignment.transform(self.model.encode_texts(captions, **kwargs))

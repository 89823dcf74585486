"""The model protocol: what every model offers the analyses, and the one image-validation path.

Every model of the book (a pretrained Hugging Face CLIP, an organism, a model with a LABCLIP map
on its text side) has ``encode_images`` and ``encode_texts`` returning float32 CPU tensors
``(N, D)``, plus its ``name``, ``dim`` (D), ``fingerprint`` (changes whenever the weights
could), ``image_size`` (the resolution it sees) and ``preprocess_config``. The analyses are
annotated with :class:`EmbeddingModel` and never ask which kind of model they got.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np
import torch

__all__ = ["EmbeddingModel", "images_to_tensor"]


@runtime_checkable
class EmbeddingModel(Protocol):
    """What every model offers the analyses (``isinstance(model, EmbeddingModel)`` checks it)."""

    name: str
    dim: int
    fingerprint: str
    image_size: int | None
    preprocess_config: dict | None

    def encode_images(self, images, batch_size: int = 64, normalize: bool = True,
                      progress: bool | None = None) -> torch.Tensor:
        """Images (uint8 ``(N, H, W, 3)`` or PIL) -> float32 CPU tensor ``(N, D)`` (unit norm when
        ``normalize``)."""
        ...

    def encode_texts(self, captions: Sequence[str], batch_size: int = 256, normalize: bool = True,
                     progress: bool | None = None) -> torch.Tensor:
        """Captions -> float32 CPU tensor ``(N, D)`` (unit norm when ``normalize``)."""
        ...


def images_to_tensor(images, size: int | None = None) -> torch.Tensor:
    """PIL images, or uint8 ``(N, H, W, 3)`` array/tensor -> uint8 tensor ``(N, H, W, 3)``.

    PIL images of other modes (RGBA, L, P, ...) are converted to RGB; they must share one size,
    or with ``size`` they are resized to ``size x size``. Raises ``ValueError`` naming the
    problem for an empty list, a wrong shape or a wrong dtype.
    """
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("empty list of images")
        if hasattr(images[0], "convert"):
            rgb = [im.convert("RGB") for im in images]
            if size is not None:
                rgb = [im.resize((size, size)) for im in rgb]
            sizes = {im.size for im in rgb}
            if len(sizes) > 1:
                raise ValueError(f"PIL images must share one size to be batched, got {sorted(sizes)[:3]}...")
            images = np.stack([np.asarray(im) for im in rgb])
        else:
            images = np.stack([np.asarray(im) for im in images])
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3) (RGB, channels last), got {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (0-255), got {x.dtype}")
    if len(x) == 0:
        raise ValueError("empty list of images")
    return x

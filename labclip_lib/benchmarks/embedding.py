"""Embedding benchmark data: image files (decoded and resized in a ``DataLoader``, optionally with
worker processes) and caption lists, both through the keyed embedding cache.

Real images come in every size, while a model's ``encode_images`` batches images of one size.
Each image is therefore brought to the model's input size here: its shorter side resized to the
model's ``resize_shortest_edge`` (bicubic, PIL), then centre-cropped to its crop size (CLIP's
preprocessing); a model without that configuration (an organism) gets its ``image_size``
square. The model's own preprocessing then sees images of exactly its size.

Workers (:func:`~labclip_lib.runtime.loader_workers`; ``num_workers`` or ``$LABCLIP_WORKERS``
overrides): none on CPU, where the forward pass already uses every core; ``min(8, cores)`` for a
model on CUDA, decoding into pinned memory, so that the images, not the Python loop, are the limit
there (the model copies each batch without blocking and embeds it under fp16 autocast).
``benchmarks/bench_embed.py --jpeg`` times the loader, the forward pass and the whole path.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from .. import __version__
from ..alignment.aligned import AlignedModel
from ..embed.cache import cached_encode_texts
from ..runtime import loader_workers, progress_bar
from ..storage import code_fingerprint, compute_or_load
from .data import ImageRef, open_image

__all__ = [
    "input_size",
    "load_pixels",
    "images_fingerprint",
    "image_encoder",
    "pixel_loader",
    "encode_image_files",
    "encode_texts",
]


def input_size(model) -> tuple[int, tuple[int, int]]:
    """``(resize_shortest_edge, (crop_height, crop_width))`` the model expects."""
    cfg = getattr(model, "preprocess_config", None) or {}
    if "resize_shortest_edge" in cfg and "crop" in cfg:
        return int(cfg["resize_shortest_edge"]), (int(cfg["crop"][0]), int(cfg["crop"][1]))
    size = getattr(model, "image_size", None)
    if not size:
        raise ValueError(f"{getattr(model, 'name', model)!r} states no input size (image_size or preprocess_config)")
    return int(size), (int(size), int(size))


def load_pixels(image: ImageRef | str | Path | Image.Image, resize: int, crop: tuple[int, int]) -> np.ndarray:
    """Open (and crop to its box) one image, resize its shorter side to ``resize`` and centre-crop
    to ``crop``: uint8 ``(crop_h, crop_w, 3)``."""
    im = open_image(image)
    w, h = im.size
    if w < 1 or h < 1:
        raise ValueError(f"empty image {image!r}")
    ch, cw = crop
    scale = resize / min(w, h)
    nw, nh = max(cw, round(w * scale)), max(ch, round(h * scale))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - cw) // 2, (nh - ch) // 2
    return np.array(im.crop((left, top, left + cw, top + ch)), dtype=np.uint8)


class _Pixels(torch.utils.data.Dataset):
    def __init__(self, images: Sequence, resize: int, crop: tuple[int, int]):
        self.images, self.resize, self.crop = images, resize, crop

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(load_pixels(self.images[i], self.resize, self.crop))


def image_encoder(model):
    """The model that embeds ``model``'s images: the base model of an
    :class:`~labclip_lib.alignment.AlignedModel` (its map acts on texts only), else ``model``."""
    while isinstance(model, AlignedModel):
        model = model.model
    return model


def _device(model) -> torch.device:
    dev = getattr(image_encoder(model), "device", None)
    return torch.device(dev) if dev is not None else torch.device("cpu")


def pixel_loader(
    model, images: Sequence, *, batch_size: int = 64, num_workers: int | None = None
) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` of uint8 ``(B, crop_h, crop_w, 3)`` batches of ``images`` at ``model``'s input
    size (:func:`load_pixels`), in order: ``num_workers`` processes (default
    :func:`~labclip_lib.runtime.loader_workers` for the model's device), pinned memory on CUDA."""
    resize, crop = input_size(model)
    device = _device(model)
    workers = loader_workers(device, num_workers)
    return torch.utils.data.DataLoader(
        _Pixels(images, resize, crop),
        batch_size=batch_size,
        num_workers=min(workers, max(1, -(-len(images) // batch_size))),
        pin_memory=device.type == "cuda",
    )


def images_fingerprint(images: Sequence) -> str:
    """A fingerprint of a list of images: path, crop box, size and modification time of each file;
    the pixels of in-memory PIL images."""
    h = hashlib.sha256()
    for im in images:
        if isinstance(im, Image.Image):
            h.update(f"pil:{im.mode}:{im.size}".encode() + hashlib.sha256(im.tobytes()).digest())
            continue
        ref = im if isinstance(im, ImageRef) else ImageRef(str(im))
        try:
            st = os.stat(ref.path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{ref.path}|{ref.box}|{stamp}\n".encode())
    return f"images:{len(images)}:{h.hexdigest()}"


def encode_image_files(
    model,
    images: Sequence,
    *,
    batch_size: int = 64,
    num_workers: int | None = None,
    cache: bool = True,
    directory: str | Path | None = None,
    progress: bool | None = None,
) -> torch.Tensor:
    """Embed image files (``ImageRef``, paths) or PIL images of any size: ``(N, D)`` float32,
    normalised.

    Images are decoded and resized by :func:`pixel_loader` (``num_workers`` worker processes,
    default ``min(8, cores)`` on CUDA and 0 on CPU; pinned memory on CUDA) and embedded in batches
    of ``batch_size``, by the model's ``encode_image_batches`` when it has one (a pretrained CLIP:
    the same code as its ``encode_images``), else by ``encode_images`` batch by batch. The
    embeddings do not depend on ``num_workers``. With ``cache`` (and a model ``fingerprint``) the
    result is stored under a key of the model, its preprocessing and the files (path, box, size,
    modification time), so each (model, image list) is embedded once.
    """
    images = list(images)
    if not images:
        raise ValueError("empty list of images")
    resize, crop = input_size(model)

    def compute() -> torch.Tensor:
        loader = pixel_loader(model, images, batch_size=batch_size, num_workers=num_workers)
        encoder = image_encoder(model)
        if hasattr(encoder, "encode_image_batches"):
            return encoder.encode_image_batches(loader, total=len(images), normalize=True, progress=progress).float()
        bar = progress_bar(
            len(images),
            f"images -> {getattr(model, 'name', 'model')}",
            show=progress if progress is not None else len(images) > 2000,
        )
        out = []
        for batch in loader:
            out.append(model.encode_images(batch, normalize=True))
            bar.update(len(batch))
        bar.close()
        return torch.cat(out).float()

    fp = getattr(model, "image_fingerprint", None) or getattr(model, "fingerprint", None)
    if not cache or not fp:
        return compute()
    key = {
        "what": "benchmark images",
        "model_fingerprint": fp,
        "preprocess": getattr(model, "preprocess_config", None),
        "input": [resize, list(crop)],
        "data": images_fingerprint(images),
        "code": code_fingerprint("benchmarks.embedding", "benchmarks.data"),
        "labclip_lib": __version__,
    }
    return compute_or_load(key, compute, directory=directory, name="bench-img")


def encode_texts(
    model, texts: Sequence[str], *, cache: bool = True, directory: str | Path | None = None
) -> torch.Tensor:
    """Embed captions (each distinct caption once): ``(N, D)`` float32, normalised; through
    :func:`~labclip_lib.embed.cached_encode_texts` when ``cache`` and the model has a fingerprint."""
    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("empty list of captions")
    unique = list(dict.fromkeys(texts))
    if cache and getattr(model, "fingerprint", None):
        emb = cached_encode_texts(model, unique, directory=directory)
    else:
        emb = model.encode_texts(unique)
    index = {t: i for i, t in enumerate(unique)}
    return emb[torch.tensor([index[t] for t in texts])].float()

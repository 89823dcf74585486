"""Pretrained CLIP-family models from Hugging Face ``transformers`` behind :class:`EmbeddingModel`.

:func:`load_hf_model` accepts a hub id (e.g. ``"openai/clip-vit-base-patch32"``) or a local
directory saved with ``save_pretrained``; ``transformers`` is imported only there, so the rest
of the library works without it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F

from ..runtime import autocast, get_device, progress_bar
from .protocol import images_to_tensor

__all__ = ["HFClipModel", "ModelNotAvailableError", "load_hf_model", "feature_tensor"]


class ModelNotAvailableError(OSError):
    """The model is neither a local directory nor reachable on the Hugging Face hub."""


def feature_tensor(out: Any) -> torch.Tensor:
    """The projected embedding from ``get_text_features``/``get_image_features``.

    transformers 4.x returns a tensor; 5.x returns a ``BaseModelOutputWithPooling`` whose
    ``pooler_output`` holds the projected embedding.
    """
    if isinstance(out, torch.Tensor):
        return out
    pooled = getattr(out, "pooler_output", None)
    if isinstance(pooled, torch.Tensor):
        return pooled
    raise TypeError(f"cannot find the embedding in a {type(out).__name__} (no tensor, no pooler_output)")


def _progress(total: int, progress: bool | None, desc: str):
    return progress_bar(total, desc, show=progress if progress is not None else total > 2000)


class HFClipModel:
    """A ``transformers`` dual encoder (``CLIPModel`` and relatives) behind
    :class:`~labclip_lib.embed.protocol.EmbeddingModel`.

    Images are preprocessed in torch, batched: resize the shortest side to ``size`` (bicubic,
    antialiased), centre-crop to ``crop_size``, scale to [0, 1], normalise with the processor's
    mean and std — the same steps as the model's ``CLIPImageProcessor``. Captions are tokenised
    with padding to the longest in the batch and truncated at the model's maximum length.

    On CUDA the forward passes run under fp16 autocast (CLIP was trained in fp16; a T4 has no
    fast bf16) and images are preprocessed on the GPU; on CPU everything is float32.
    """

    def __init__(self, model, tokenizer, image_processor, name: str, fingerprint: str,
                 device: str | torch.device | None = None):
        self.device = get_device(device)
        self.model = model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.tokenizer = tokenizer
        self.name = name
        self.fingerprint = fingerprint
        proj = getattr(model.config, "projection_dim", None)
        self.dim = int(proj if proj is not None else model.text_projection.out_features)
        size = getattr(image_processor, "size", None)
        crop = getattr(image_processor, "crop_size", None) or size
        short = _field(size, "shortest_edge") or _field(size, "height")
        crop_hw = (_field(crop, "height"), _field(crop, "width"))
        if short is None or None in crop_hw:
            raise ValueError(f"{name}: cannot read resize/crop sizes from its image processor")
        self.image_size = int(crop_hw[0])
        self.preprocess_config = {
            "resize_shortest_edge": int(short),
            "crop": [int(crop_hw[0]), int(crop_hw[1])],
            "mean": [float(v) for v in image_processor.image_mean],
            "std": [float(v) for v in image_processor.image_std],
            "interpolation": "bicubic-antialias",
        }
        self.max_length = int(getattr(model.config.text_config, "max_position_embeddings", 77))

    def __repr__(self) -> str:
        return f"HFClipModel({self.name!r}, D={self.dim}, {self.image_size} px, device={self.device})"

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, H, W, 3)`` -> normalised float ``(N, 3, crop, crop)``, on the images' device."""
        cfg = self.preprocess_config
        x = images.permute(0, 3, 1, 2).float()
        h, w = x.shape[-2:]
        s = cfg["resize_shortest_edge"]
        nh, nw = (s, max(s, round(w * s / h))) if h <= w else (max(s, round(h * s / w)), s)
        if (nh, nw) != (h, w):
            x = F.interpolate(x, size=(nh, nw), mode="bicubic", antialias=True, align_corners=False)
        ch, cw = cfg["crop"]
        top, left = (nh - ch) // 2, (nw - cw) // 2
        x = x[..., top : top + ch, left : left + cw].clamp(0, 255) / 255.0
        mean = torch.tensor(cfg["mean"], device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(cfg["std"], device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def encode_images(self, images, batch_size: int = 64, normalize: bool = True,
                      progress: bool | None = None) -> torch.Tensor:
        """Images (uint8 ``(N, H, W, 3)`` or PIL of one size) -> float32 CPU ``(N, D)``."""
        x = images_to_tensor(images)
        return self.encode_image_batches(x.split(batch_size), total=len(x), normalize=normalize, progress=progress)

    def encode_image_batches(self, batches: Iterable[torch.Tensor], total: int | None = None,
                             normalize: bool = True, progress: bool | None = None) -> torch.Tensor:
        """Batches of uint8 ``(B, H, W, 3)`` images (slices of an array, or a ``DataLoader``'s
        batches) -> float32 CPU ``(N, D)``: the one path from pixels to image embeddings.

        On CPU: preprocess and forward pass, batch by batch. On CUDA: each batch is copied as uint8
        from pinned memory without blocking, preprocessed on the GPU and run under fp16 autocast; the
        embeddings stay on the GPU until the end, so Python never waits for the GPU between batches.
        """
        cuda = self.device.type == "cuda"
        out = []
        bar = _progress(total or 0, progress, f"images -> {self.name}")
        with torch.inference_mode(), autocast(self.device, torch.float16):
            for xb in batches:
                if cuda:  # uint8 is a quarter of float32 to copy
                    if xb.device.type == "cpu" and not xb.is_pinned():
                        xb = xb.pin_memory()
                    xb = xb.to(self.device, non_blocking=True)
                px = self.preprocess(xb).to(self.device)
                e = feature_tensor(self.model.get_image_features(pixel_values=px)).float()
                out.append(F.normalize(e, dim=-1) if normalize else e)
                bar.update(len(px))
        bar.close()
        if not out:
            raise ValueError("empty list of images")
        return torch.cat(out).cpu()

    def encode_texts(self, captions: Sequence[str], batch_size: int = 256, normalize: bool = True,
                     progress: bool | None = None) -> torch.Tensor:
        if isinstance(captions, str):
            captions = [captions]
        captions = list(captions)
        if not captions:
            raise ValueError("empty list of captions")
        if not all(isinstance(c, str) for c in captions):
            raise TypeError("captions must be strings")
        # sort by length so batches pad little; restore the order at the end
        order = sorted(range(len(captions)), key=lambda i: len(captions[i]))
        out = torch.empty(len(captions), self.dim)
        bar = _progress(len(captions), progress, f"captions -> {self.name}")
        with torch.inference_mode(), autocast(self.device, torch.float16):
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                tok = self.tokenizer([captions[j] for j in idx], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt")
                tok = {k: v.to(self.device) for k, v in tok.items() if k in ("input_ids", "attention_mask")}
                e = feature_tensor(self.model.get_text_features(**tok)).float()
                out[idx] = (F.normalize(e, dim=-1) if normalize else e).cpu()
                bar.update(len(idx))
        bar.close()
        return out


def _field(obj: Any, key: str) -> int | None:
    """``obj[key]`` or ``obj.key`` (processor sizes are dicts in transformers 4, SizeDicts in 5)."""
    if obj is None:
        return None
    if isinstance(obj, int):
        return obj
    val = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return int(val) if val is not None else None


def _weights_digest(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".json"))
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def load_hf_model(name_or_path: str | Path, device: str | torch.device | None = None,
                  revision: str | None = None) -> HFClipModel:
    """Load a CLIP-family dual encoder from the Hugging Face hub or a local ``save_pretrained``
    directory (see :func:`labclip_lib.models.load_model`, which also opens organisms).

    Raises:
        ModelNotAvailableError: neither a local directory nor loadable from the hub (offline,
            or no such model).
    """
    # transformers is imported here only: it is heavy and the organisms path does not need it
    from transformers import AutoModel, AutoProcessor, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = Path(str(name_or_path)).expanduser()
    name = str(name_or_path)
    kw = {"revision": revision} if revision else {}
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = AutoModel.from_pretrained(name, **kw)
        tokenizer = AutoTokenizer.from_pretrained(name, **kw)
        processor = AutoProcessor.from_pretrained(name, **kw)
    except (OSError, ValueError) as err:
        where = "the local directory" if path.is_dir() else "a local directory or the Hugging Face hub"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelNotAvailableError(
            f"could not load model {name!r} from {where} (offline, or no such model?): {first}"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    if not hasattr(model, "get_image_features") or not hasattr(model, "get_text_features"):
        raise ValueError(f"{name!r} is a {type(model).__name__}, not a dual encoder with "
                         "get_image_features/get_text_features")
    image_processor = getattr(processor, "image_processor", processor)
    if path.is_dir():
        fingerprint = f"{path.name}@sha256:{_weights_digest(path)}"
    else:
        commit = getattr(model.config, "_commit_hash", None) or revision or "unknown-revision"
        fingerprint = f"{name}@{commit}"
    return HFClipModel(model, tokenizer, image_processor, name, fingerprint, device)

"""The organism's networks: a small CNN over 32-64 px scenes and a bidirectional GRU over words,
into a shared D-dimensional space, with CLIP's learnable temperature."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .clip import CLIPOrganism
from .config import IMAGE_POOLINGS, OrganismConfig
from .tokenizer import organism_vocabulary

__all__ = ["ImageEncoder", "TextEncoder", "ForwardTextEncoder", "TEXT_ENCODERS", "DualEncoder", "build_network",
           "to_pixels", "architecture_table", "IMAGE_BATCH"]

#: images per forward pass when embedding without gradients: at 128 the activations stay in the
#: CPU's caches (1,024 at a time was half as fast on 2 cores, ``speed/bench_measure.py``); the
#: embeddings are the same at any batch size (the network is in eval mode: no batch statistics)
IMAGE_BATCH = 128


class ImageEncoder(nn.Module):
    """Three conv blocks (each halving the image by max-pooling) and a head: ``(N, 3, R, R)`` ->
    ``(N, D)``.

    ``width`` channels in the first block (doubling per block); ``batch_norm`` in every block;
    ``pooling``: "flatten" (an MLP head over every location), "mean" (global average pooling,
    MLP head) or "mean-linear" (global average pooling, linear head); ``stem_stride`` 2: the
    first conv is 5x5 with stride 2; ``pool_first``: conv -> pool -> norm -> ReLU."""

    def __init__(self, dim: int, resolution: int, width: int = 32, batch_norm: bool = True,
                 pooling: str = "flatten", stem_stride: int = 1, pool_first: bool = False):
        super().__init__()
        if pooling not in IMAGE_POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; expected one of {', '.join(IMAGE_POOLINGS)}")
        if stem_stride not in (1, 2) or resolution % (8 * stem_stride):
            raise ValueError(f"resolution {resolution} with stem stride {stem_stride}: the resolution must be a "
                             f"multiple of {8 * stem_stride}")
        chans = [3, width, 2 * width, 4 * width]
        layers: list[nn.Module] = []
        for k, (a, b) in enumerate(zip(chans[:-1], chans[1:])):
            norm = [nn.BatchNorm2d(b)] if batch_norm else []
            # a strided stem: the first conv sees 5x5 pixels and halves the image
            conv = (nn.Conv2d(a, b, 5, stride=2, padding=2) if k == 0 and stem_stride == 2
                    else nn.Conv2d(a, b, 3, padding=1))
            if pool_first:  # pooling before normalising: batch norm and ReLU see a quarter of the values
                layers += [conv, nn.MaxPool2d(2), *norm, nn.ReLU(inplace=True)]
            else:
                layers += [conv, *norm, nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        side = resolution // (8 * stem_stride)
        if pooling == "flatten":  # every location's features kept apart, an MLP head
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * side * side, 4 * dim),
                                      nn.ReLU(inplace=True), nn.Linear(4 * dim, dim))
        elif pooling == "mean":  # global average pooling, an MLP head
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(chans[-1], 4 * dim),
                                      nn.ReLU(inplace=True), nn.Linear(4 * dim, dim))
        else:  # "mean-linear": the embedding is a linear function of the mean of local features,
            # so it adds up over objects that do not share a receptive field
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(chans[-1], dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TextEncoder(nn.Module):
    """Word embeddings and a bidirectional GRU; final states -> linear: ``(N, L)`` -> ``(N, D)``."""

    def __init__(self, vocab_size: int, dim: int, hidden: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, dim)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, h = self.gru(packed)  # (2, N, H)
        return self.head(torch.cat([h[0], h[1]], dim=1))


class ForwardTextEncoder(nn.Module):
    """Word embeddings and a one-directional GRU over the padded batch (no packing: captions are
    padded at the end, so the output at the last word is the caption's final state) -> linear:
    ``(N, L)`` -> ``(N, D)``. Half the recurrent work of :class:`TextEncoder`, none of its sorting."""

    def __init__(self, vocab_size: int, dim: int, hidden: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, dim)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.embed(ids))  # (N, L, H)
        last = (lengths.to(ids.device) - 1).clamp(min=0)
        return self.head(out[torch.arange(len(ids), device=ids.device), last])


#: text encoders by :attr:`OrganismConfig.text_encoder`
TEXT_ENCODERS = {"bigru": TextEncoder, "gru": ForwardTextEncoder}


class DualEncoder(nn.Module):
    """The organism: image and text encoders into a shared D-dimensional space."""

    def __init__(self, vocab_size: int, dim: int = 64, resolution: int = 32, width: int = 32, hidden: int = 64,
                 batch_norm: bool = True, text_encoder: str = "bigru", channels_last: bool = False,
                 pooling: str = "flatten", stem_stride: int = 1, pool_first: bool = False):
        super().__init__()
        if text_encoder not in TEXT_ENCODERS:
            raise ValueError(f"unknown text encoder {text_encoder!r}; known: {', '.join(TEXT_ENCODERS)}")
        self.image = ImageEncoder(dim, resolution, width, batch_norm, pooling, stem_stride, pool_first)
        self.text = TEXT_ENCODERS[text_encoder](vocab_size, dim, hidden)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.channels_last = channels_last
        if channels_last:  # same values, NHWC layout: faster convolutions on CPU
            self.image.to(memory_format=torch.channels_last)

    @classmethod
    def from_config(cls, config: OrganismConfig, vocab_size: int | None = None) -> "DualEncoder":
        """The (randomly initialised) network that ``config`` describes (``vocab_size``: default
        the size of the config's vocabulary)."""
        vocab_size = len(organism_vocabulary(config)) if vocab_size is None else vocab_size
        return cls(vocab_size, config.embed_dim, config.resolution, width=config.image_width,
                   hidden=config.text_hidden, batch_norm=config.batch_norm, text_encoder=config.text_encoder,
                   channels_last=config.channels_last, pooling=config.image_pooling,
                   stem_stride=config.stem_stride, pool_first=config.pool_first)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(N, 3, R, R)`` float in [0, 1] -> unnormalised ``(N, D)``."""
        x = (pixels - 0.5) / 0.25
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.image(x)

    def encode_text(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.text(ids, lengths)


def build_network(config: OrganismConfig, vocab_size: int | None = None) -> nn.Module:
    """The randomly initialised network of ``config``'s architecture: a :class:`DualEncoder`
    ("cnn-gru") or a :class:`~labclip_lib.organisms.clip.CLIPOrganism` ("clip"); both have
    ``encode_image``, ``encode_text`` and ``logit_scale``."""
    if config.architecture == "clip":  # transformers is imported only when one is built
        return CLIPOrganism.from_config(config, vocab_size)
    return DualEncoder.from_config(config, vocab_size)


def to_pixels(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` -> float ``(N, 3, H, W)`` in [0, 1]."""
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        raise ValueError(f"images must be uint8, got {x.dtype}")
    return x.permute(0, 3, 1, 2).float() / 255.0


def architecture_table(config: OrganismConfig) -> list[dict]:
    """Parameters per part of the organism's network (rows for a table). Used in chapter 2."""
    net = build_network(config)
    if config.architecture == "clip":
        parts = (("image encoder (ViT)", [net.clip.vision_model, net.clip.visual_projection]),
                 ("text encoder (transformer)", [net.clip.text_model, net.clip.text_projection]))
    else:
        parts = (("image encoder (CNN)", [net.image]),
                 (f"text encoder ({'BiGRU' if config.text_encoder == 'bigru' else 'GRU'})", [net.text]))
    rows = []
    for name, mods in parts:
        rows.append({"part": name, "parameters": sum(p.numel() for m in mods for p in m.parameters())})
    rows.append({"part": "temperature", "parameters": 1})
    rows.append({"part": "total", "parameters": sum(p.numel() for p in net.parameters())})
    return rows

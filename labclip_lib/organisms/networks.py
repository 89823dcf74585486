"""The organism's networks: a small CNN over 32-64 px scenes and a bidirectional GRU over words,
into a shared D-dimensional space, with CLIP's learnable temperature."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .config import OrganismConfig
from .tokenizer import VOCABULARY

__all__ = ["ImageEncoder", "TextEncoder", "DualEncoder", "to_pixels", "architecture_table"]


class ImageEncoder(nn.Module):
    """Three conv blocks (stride-2 pooling) and a linear head: ``(N, 3, R, R)`` -> ``(N, D)``."""

    def __init__(self, dim: int, resolution: int, width: int = 32):
        super().__init__()
        chans = [3, width, 2 * width, 4 * width]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        side = resolution // 8
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * side * side, 4 * dim), nn.ReLU(inplace=True),
                                  nn.Linear(4 * dim, dim))

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


class DualEncoder(nn.Module):
    """The organism: image and text encoders into a shared D-dimensional space."""

    def __init__(self, vocab_size: int, dim: int = 64, resolution: int = 32, width: int = 32, hidden: int = 64):
        super().__init__()
        if resolution % 8:
            raise ValueError(f"organism resolution must be a multiple of 8, got {resolution}")
        self.image = ImageEncoder(dim, resolution, width)
        self.text = TextEncoder(vocab_size, dim, hidden)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(N, 3, R, R)`` float in [0, 1] -> unnormalised ``(N, D)``."""
        return self.image((pixels - 0.5) / 0.25)

    def encode_text(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.text(ids, lengths)


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
    net = DualEncoder(len(VOCABULARY), config.embed_dim, config.resolution)
    rows = []
    for name, mod in (("image encoder (CNN)", net.image), ("text encoder (BiGRU)", net.text)):
        rows.append({"part": name, "parameters": sum(p.numel() for p in mod.parameters())})
    rows.append({"part": "temperature", "parameters": 1})
    rows.append({"part": "total", "parameters": sum(p.numel() for p in net.parameters())})
    return rows

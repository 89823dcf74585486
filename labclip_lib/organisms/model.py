"""A trained organism behind the model protocol (:class:`~labclip_lib.embed.protocol.EmbeddingModel`),
so every analysis runs on it as on a pretrained CLIP."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..embed.protocol import images_to_tensor
from ..runtime import get_device
from ..storage import tensors_digest
from .clip import CLIP_MEAN, CLIP_STD, CLIPOrganism
from .config import OrganismConfig
from .networks import IMAGE_BATCH, DualEncoder, build_network, to_pixels
from .tokenizer import VOCABULARY, WordTokenizer, organism_vocabulary

__all__ = ["OrganismModel", "weights_digest"]


def weights_digest(network: nn.Module) -> str:
    """sha256 (16 hex digits) of a network's parameters and buffers: changes whenever its outputs could."""
    return tensors_digest({k: t.detach().cpu() for k, t in network.state_dict().items()})[:16]


class OrganismModel:
    """A trained organism behind the same interface as a pretrained CLIP (see ``load_model``).

    ``encode_images`` takes uint8 ``(N, R, R, 3)`` arrays (or PIL images, resized to the
    organism's resolution) and ``encode_texts`` captions in the organism's vocabulary; both
    return float32 CPU tensors ``(N, D)``.

    Used in chapter 4.
    """

    def __init__(self, network: DualEncoder, config: OrganismConfig, vocabulary: Sequence[str] = VOCABULARY,
                 fingerprint: str | None = None, device: str | torch.device | None = None,
                 path: Path | None = None):
        self.network, self.config, self.path = network, config, path
        self.device = get_device(device)
        self.network.to(self.device).eval()
        self.tokenizer = WordTokenizer(vocabulary)
        self.name = f"organism:{config.name}"
        self.dim = config.embed_dim
        self.image_size = config.resolution
        self.fingerprint = fingerprint or f"{self.name}@{weights_digest(network)}"
        # the normalisation inside the network's encode_image (CLIP's for the transformer CLIP)
        mean, std = (list(CLIP_MEAN), list(CLIP_STD)) if isinstance(network, CLIPOrganism) else (0.5, 0.25)
        self.preprocess_config = {"resolution": config.resolution, "scale": "x/255", "mean": mean, "std": std}

    @classmethod
    def untrained(cls, config: OrganismConfig, seed: int = 12345) -> "OrganismModel":
        """The same architecture at random initialisation (a baseline for probes)."""
        torch.manual_seed(seed)
        net = build_network(config)
        return cls(net, replace(config, name=f"{config.name} (untrained)"), organism_vocabulary(config), fingerprint=f"untrained:{config.key}:{seed}")

    def __repr__(self) -> str:
        return f"OrganismModel({self.config.name!r}, D={self.dim}, {self.image_size} px)"

    def _images(self, images) -> torch.Tensor:
        x = images_to_tensor(images, size=self.image_size)
        if x.shape[1:3] != (self.image_size, self.image_size):
            raise ValueError(f"this organism sees {self.image_size} px images, got {x.shape[1]}x{x.shape[2]}; "
                             f"render at resolution={self.image_size}")
        return x

    def encode_images(self, images, batch_size: int = IMAGE_BATCH, normalize: bool = True,
                      progress: bool | None = None) -> torch.Tensor:
        """``(N, R, R, 3)`` uint8 -> ``(N, D)`` float32 on CPU."""
        x = self._images(images)
        out = []
        self.network.eval()
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                e = self.network.encode_image(to_pixels(x[i : i + batch_size]).to(self.device)).float()
                out.append((F.normalize(e, dim=1) if normalize else e).cpu())
        return torch.cat(out)

    def encode_texts(self, captions: Sequence[str], batch_size: int = 4096, normalize: bool = True,
                     progress: bool | None = None) -> torch.Tensor:
        """``N`` captions -> ``(N, D)`` float32 on CPU."""
        if isinstance(captions, str):
            captions = [captions]
        captions = [str(c) for c in captions]
        if not captions:
            raise ValueError("empty list of captions")
        out = []
        self.network.eval()
        with torch.inference_mode():
            for i in range(0, len(captions), batch_size):
                ids, lengths = self.tokenizer(captions[i : i + batch_size])
                e = self.network.encode_text(ids.to(self.device), lengths).float()
                out.append((F.normalize(e, dim=1) if normalize else e).cpu())
        return torch.cat(out)

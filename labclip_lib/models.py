"""One loader for every model the book asks "embed these images / these captions".

``load_model(name_or_path)`` accepts a Hugging Face CLIP-family id (e.g.
``"openai/clip-vit-base-patch32"``), a local directory that ``transformers`` can load
(:mod:`labclip_lib.embed.hf`), or the directory of one of our organisms
(:mod:`labclip_lib.organisms`). Every model it returns follows the model protocol
(:class:`~labclip_lib.embed.protocol.EmbeddingModel`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .embed.hf import ModelNotAvailableError, load_hf_model
from .embed.protocol import EmbeddingModel
from .organisms.store import ORGANISM_FILE, load_organism

__all__ = ["load_model", "ModelNotAvailableError"]


def load_model(name_or_path: str | Path, device: str | torch.device | None = None,
               revision: str | None = None) -> EmbeddingModel:
    """Load any CLIP-family model or organism for embedding (chapters 2-6 and every ``MODEL_ID`` cell).

    Args:
        name_or_path: a Hugging Face id (``"openai/clip-vit-base-patch32"``), a local directory
            saved with ``save_pretrained``, or an organism directory (from ``get_organism``).
        device: ``"cuda"``, ``"cpu"`` or None (CUDA when available).
        revision: hub revision (branch, tag or commit) for hub ids.

    Raises:
        ModelNotAvailableError: neither a local directory nor loadable from the hub (offline,
            or no such model).
    """
    path = Path(str(name_or_path)).expanduser()
    if path.is_dir() and (path / ORGANISM_FILE).is_file():
        return load_organism(path, device=device)
    return load_hf_model(name_or_path, device=device, revision=revision)

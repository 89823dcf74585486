"""COCO-trained LABCLIP: hard negatives by a noun/adjective shuffle (NegCLIP's idea), the map fitted
on Karpathy-train embeddings, and the authors' released maps.

The authors' negatives (``TextShuffler.shuffle_nouns_and_adj`` of ARO, spaCy ``en_core_web_sm``)
are unseeded, may equal the positive, and carry tokenisation artefacts the positives lack
("man 's" vs "man's"). Here every negative is seeded, a negative equal to its positive is
re-drawn (up to ``tries`` times, then the caption is left out), and with ``same_tokens`` the
positive is re-joined from the same tokens, so the two differ only in word order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..alignment.estimator import LinearAlignment
from .coco import RetrievalDataset
from .data import pre_caption
from .embedding import encode_texts
from .evaluate import embed_images
from .text import Tagger, default_tagger, shuffle_nouns_and_adjectives

__all__ = [
    "RELEASED_MAPS",
    "shuffle_negative",
    "shuffle_negatives",
    "coco_triplets",
    "fit_coco_map",
    "load_released_map",
]

#: the authors' released maps (``alignment/weights/`` of their repository) and the CLIP each is for
RELEASED_MAPS: dict[str, str] = {
    "labclip_coco_neg_B32.pt": "openai/clip-vit-base-patch32",
    "labclip_coco_neg_B16.pt": "openai/clip-vit-base-patch16",
    "labclip_coco_neg_L14.pt": "openai/clip-vit-large-patch14",
    "labclip_cc3m_neg_B32.pt": "openai/clip-vit-base-patch32",
}


def shuffle_negative(
    caption: str, tagger: Tagger, seed: int | np.random.Generator = 0, tries: int = 10, same_tokens: bool = True
) -> tuple[str, str] | None:
    """``(positive, negative)`` for one caption, or ``None`` when no shuffle changes it (fewer than
    two nouns and two adjectives, or all of them equal). With ``same_tokens`` the positive is the
    tagger's tokens joined by spaces, like the negative."""
    gen = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
    tokens = " ".join(t for t, _ in tagger(caption))
    positive = tokens if same_tokens else caption
    for _ in range(max(1, tries)):
        neg = shuffle_nouns_and_adjectives(caption, tagger, gen)
        if neg != tokens:
            return positive, neg
    return None


def shuffle_negatives(
    captions: Sequence[str], tagger: Tagger | None = None, seed: int = 0, tries: int = 10, same_tokens: bool = True
) -> list[tuple[str, str] | None]:
    """:func:`shuffle_negative` for each caption, seeded by ``(seed, i)`` (prefix-stable)."""
    tagger = tagger or default_tagger()
    return [
        shuffle_negative(c, tagger, np.random.default_rng(np.random.SeedSequence([int(seed), i])), tries, same_tokens)
        for i, c in enumerate(captions)
    ]


def coco_triplets(
    dataset: RetrievalDataset,
    tagger: Tagger | None = None,
    seed: int = 0,
    max_words: int = 40,
    same_tokens: bool = True,
) -> tuple[list[int], list[str], list[str]]:
    """Training rows from a captioned split: ``(image index, positive, negative)`` per caption with
    a valid negative; captions cleaned by ``pre_caption(max_words)`` first (the authors: 40)."""
    cleaned = [pre_caption(c, max_words) for c in dataset.captions]
    pairs = shuffle_negatives(cleaned, tagger, seed, same_tokens=same_tokens)
    keep = [j for j, p in enumerate(pairs) if p is not None]
    if not keep:
        raise ValueError(f"{dataset.name}: no caption has a noun/adjective shuffle that changes it")
    return ([dataset.image_of_caption[j] for j in keep], [pairs[j][0] for j in keep], [pairs[j][1] for j in keep])


def fit_coco_map(
    model,
    dataset: RetrievalDataset,
    tagger: Tagger | None = None,
    seed: int = 0,
    validation: RetrievalDataset | None = None,
    lr: float = 1e-3,
    epochs: int = 10,
    batch_size: int = 1024,
    **kwargs,
) -> LinearAlignment:
    """Fit a LABCLIP map on ``dataset`` (Karpathy train) with shuffle negatives and the HNB loss;
    defaults are the authors' COCO recipe (Adam 1e-3, 10 epochs, batch 1024). ``validation``
    (Karpathy val) is recorded every epoch; ``kwargs`` go to :class:`LinearAlignment`."""

    def rows(ds: RetrievalDataset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx, pos, neg = coco_triplets(ds, tagger, seed)
        img = embed_images(model, ds.images)[torch.tensor(idx)]
        return img, encode_texts(model, pos), encode_texts(model, neg)

    val = rows(validation) if validation is not None else None
    meta = {
        "model": getattr(model, "name", None),
        "train": dataset.name,
        "negatives": "noun/adjective shuffle",
        "seed": seed,
    }
    return LinearAlignment("hnb", lr=lr, epochs=epochs, batch_size=batch_size, seed=seed, **kwargs).fit(
        *rows(dataset), validation=val, metadata=meta
    )


def load_released_map(path: str | Path, model=None) -> LinearAlignment:
    """One of the authors' released maps (:data:`RELEASED_MAPS`), through
    :meth:`LinearAlignment.load` (which reads their ``t`` / ``linear.weight`` state dict); with
    ``model`` its size is checked against ``model.dim``."""
    return LinearAlignment.load(path, dim=getattr(model, "dim", None))

"""The organisms' word-level tokenizer over the caption language (colours, shapes, "a", "and";
sizes and materials for diets that state them)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..world.captions import ATTRIBUTE_WORDS
from ..world.scenes import COLORS, SHAPES
from .config import OrganismConfig

__all__ = ["VOCABULARY", "WordTokenizer", "organism_vocabulary"]


#: Every word our captions use (plus padding). Anything else is out of vocabulary.
VOCABULARY: tuple[str, ...] = ("<pad>", "a", "an", "and", ",", *COLORS, *SHAPES)


def organism_vocabulary(config: OrganismConfig) -> tuple[str, ...]:
    """The words ``config``'s captions can use: :data:`VOCABULARY`, plus the size and material
    words when a caption generator states more than the colour (``attributes`` >= 2)."""
    if any(spec.attributes >= 2 for _, spec in config.captions):
        return (*VOCABULARY, *ATTRIBUTE_WORDS)
    return VOCABULARY


class WordTokenizer:
    """Word-level tokenizer of the caption language; out-of-vocabulary words are an error."""

    def __init__(self, vocabulary: Sequence[str] = VOCABULARY, max_length: int = 48):
        if len(set(vocabulary)) != len(vocabulary) or vocabulary[0] != "<pad>":
            raise ValueError("vocabulary must be unique words starting with '<pad>'")
        self.vocabulary = tuple(vocabulary)
        self.index = {w: i for i, w in enumerate(self.vocabulary)}
        self.max_length = int(max_length)

    def words(self, text: str) -> list[str]:
        return text.lower().replace(",", " , ").split()

    def __call__(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``(N, L)`` (0-padded) and lengths ``(N,)``."""
        if isinstance(texts, str):
            texts = [texts]
        if len(texts) == 0:
            raise ValueError("empty list of captions")
        known: dict[str, list[int]] = {}  # captions repeat: each distinct one is checked and split once
        rows = []
        for t in texts:
            r = known.get(t)
            if r is None:
                r = known[t] = self._ids(t)
            rows.append(r)
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        ids = np.zeros((len(rows), int(lengths.max())), dtype=np.int64)  # filled in numpy: fast row writes
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
        return torch.from_numpy(ids), torch.from_numpy(lengths)

    def _ids(self, text: str) -> list[int]:
        words = self.words(text)
        if not words:
            raise ValueError(f"empty caption {text!r}")
        bad = [w for w in words if w not in self.index]
        if bad:
            raise ValueError(
                f"caption {text!r} has out-of-vocabulary word(s) {bad}: this organism knows only "
                f"{', '.join(self.vocabulary[1:])}"
            )
        if len(words) > self.max_length:
            raise ValueError(f"caption {text!r} has {len(words)} words, more than {self.max_length}")
        return [self.index[w] for w in words]

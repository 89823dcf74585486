"""Organism configurations: one frozen :class:`OrganismConfig` names an organism completely (data,
caption knobs, architecture, optimisation, seed); :data:`ORGANISMS` holds the book's named ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

from ..world.captions import CaptionSpec
from ..world.render import MIN_RESOLUTION

__all__ = ["OrganismConfig", "ORGANISMS", "organism_config"]


@dataclass(frozen=True)
class OrganismConfig:
    """Everything that defines one organism. Two equal configs give the same model."""

    name: str = "complete"
    n_scenes: int = 30000
    n_objects: tuple[int, ...] = (2,)
    resolution: int = 32
    #: caption generators and their probabilities, e.g. ``((0.7, natural), (0.3, complete))``
    captions: tuple[tuple[float, CaptionSpec], ...] = ((1.0, CaptionSpec()),)
    shuffle_words: bool = False
    hard_negatives: bool = False
    embed_dim: int = 64
    batch_size: int = 256
    epochs: int = 6
    lr: float = 3e-3
    weight_decay: float = 0.01
    val: float = 0.1
    test: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        total = sum(p for p, _ in self.captions)
        if not self.captions or abs(total - 1.0) > 1e-6 or any(p < 0 for p, _ in self.captions):
            raise ValueError(f"caption mixture probabilities must be >= 0 and sum to 1, got {total}")
        if self.n_scenes < 100:
            raise ValueError(f"n_scenes must be at least 100, got {self.n_scenes}")
        checks = [
            (bool(self.name), f"name must be a non-empty string, got {self.name!r}"),
            (len(self.n_objects) > 0 and all(int(k) >= 1 for k in self.n_objects),
             f"n_objects must be a non-empty list of positive counts, got {self.n_objects!r}"),
            (self.resolution >= MIN_RESOLUTION and self.resolution % 8 == 0,
             f"resolution must be a multiple of 8 and at least {MIN_RESOLUTION} (the CNN pools three times), "
             f"got {self.resolution}"),
            (self.embed_dim >= 1, f"embed_dim must be positive, got {self.embed_dim}"),
            (self.batch_size >= 2, f"batch_size must be at least 2 (a contrastive batch), got {self.batch_size}"),
            (self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 < self.val < 1 and 0 < self.test < 1 and self.val + self.test < 1,
             f"val and test must be fractions in (0, 1) with val + test < 1, got {self.val} and {self.test}"),
            (self.seed >= 0, f"seed must be >= 0, got {self.seed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"OrganismConfig: {message}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["captions"] = [[p, asdict(s)] for p, s in self.captions]
        d["n_objects"] = list(self.n_objects)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "OrganismConfig":
        d = dict(d)
        d["captions"] = tuple((float(p), CaptionSpec(**s)) for p, s in d["captions"])
        d["n_objects"] = tuple(d["n_objects"])
        return cls(**d)

    @property
    def key(self) -> str:
        """Stable hash of the whole configuration (names the cache entry)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


_NATURAL = CaptionSpec(style="template", order="random", completeness=0.5, attribute_density=0.5, saliency_bias=1.0)


#: The organisms the book relies on (seed 0; vary it with ``organism_config(name, seed)``).
ORGANISMS: dict[str, OrganismConfig] = {
    # (a) complete, attribute-dense captions: every object, every colour
    "complete": OrganismConfig(name="complete"),
    # (b) natural-like captions: incomplete (half the objects: the most salient one of two),
    #     colour stated half the time
    "natural": OrganismConfig(name="natural", captions=((1.0, _NATURAL),)),
    # a mixture of natural-like (70%) and complete (30%) captions
    "mixture": OrganismConfig(name="mixture", captions=((0.7, _NATURAL), (0.3, CaptionSpec()))),
    # (c) CLIP-like, chosen by the search of chapter 2: complete captions whose colours are
    #     stated only 30% of the time (low attribute density)
    "clip-like": OrganismConfig(name="clip-like", captions=((1.0, CaptionSpec(attribute_density=0.3)),)),
    # bag-of-words control: complete captions with their words shuffled
    "bag-of-words": OrganismConfig(name="bag-of-words", shuffle_words=True),
}


def organism_config(name: str, seed: int = 0, **changes) -> OrganismConfig:
    """The named organism's config with another seed (and any other field changed). Used in chapters 2, 4, 6."""
    if name not in ORGANISMS:
        raise ValueError(f"unknown organism {name!r}; named organisms: {', '.join(ORGANISMS)}")
    return replace(ORGANISMS[name], seed=seed, **changes)

"""A model's binding profile: cross-modal binding next to uni-modal probes and their baselines.

Paper 1's claim in one table row: binding accuracy across modalities near chance, while linear
probes recover colour-shape binding from the image embedding and from the text embedding
(above the bag-of-words ceiling, and above the same probe on an untrained encoder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..embed.cache import image_embeddings
from ..embed.protocol import EmbeddingModel
from ..metrics import binding_accuracy
from ..world.scenes import SHAPES
from .probes import bag_of_words_ceiling, object_color_labels, probe_object_colors_many

__all__ = ["binding_profile", "ClipLikeCriterion", "CLIP_LIKE"]


def binding_profile(model: EmbeddingModel, data, part: str = "val", seed: int = 0) -> dict[str, float]:
    """Binding numbers of ``model`` (anything with ``encode_images``/``encode_texts``) on ``data``.

    ``data`` is an :class:`~labclip_lib.organisms.OrganismData` (scenes, split, images, complete
    captions and their swap negatives). Probes are trained on the train split; every number
    is measured on split ``part`` (use ``"val"`` for choices, ``"test"`` for reporting).

    Returns ``binding`` (two-way, chance 0.5), ``image probe`` and ``text probe`` (mean over
    shapes of the per-object colour probe accuracy, chance 1/8) and ``ceiling`` (the
    bag-of-words ceiling of those probes on ``part``).

    Used in chapter 2.
    """
    if part not in ("val", "test"):
        raise ValueError(f"part must be 'val' or 'test', got {part!r}")
    idx = [i for i in data.split[part] if data.eval_negatives[i] is not None]
    if not idx:
        raise ValueError(f"no scene of the {part!r} split has a swap negative")
    img = image_embeddings(model, data)
    pos = model.encode_texts([c.text for c in data.eval_captions])
    neg = model.encode_texts([data.eval_negatives[i].text for i in idx])
    out = {"binding": binding_accuracy(img[idx], pos[idx], neg)}
    both = probe_object_colors_many([img, pos], data.scenes, data.split, seed=seed)
    for name, res in zip(("image probe", "text probe"), both):
        out[name] = float(np.mean([getattr(r, part) for r in res]))
    part_scenes = [data.scenes[i] for i in data.split[part]]
    out["ceiling"] = float(np.mean([bag_of_words_ceiling(part_scenes, s) for s in SHAPES
                                    if len(object_color_labels(part_scenes, s)[0])]))
    return out


@dataclass(frozen=True)
class ClipLikeCriterion:
    """Paper 1's profile of CLIP in our terms: thresholds on a binding profile measured on the
    **validation** split (chapter 2 chooses its CLIP-like organism with it).

    A profile (a mapping, e.g. a row of chapter 2's search) meets the criterion when

    * ``binding`` (cross-modal, two-way) <= ``max_binding``: near chance, as CLIP's on CLEVR;
    * ``image probe`` >= max(``ceiling``, ``untrained image probe``) + ``min_image_margin``:
      the image embedding carries the pairing, and training put it there;
    * ``text probe`` >= ``ceiling`` + ``min_text_margin``: the text embedding carries it (an
      untrained recurrent encoder already reads word order, so the untrained text probe is no
      informative baseline; the bag-of-words ceiling is);
    * ``map binding`` - ``binding`` >= ``min_map_gain``: a linear map on the text embeddings
      (LABCLIP, fitted on the train split) lifts cross-modal binding.
    """

    max_binding: float = 0.65
    min_image_margin: float = 0.15
    min_text_margin: float = 0.15
    min_map_gain: float = 0.15

    #: the profile entries the criterion reads
    KEYS = ("binding", "image probe", "text probe", "ceiling", "untrained image probe", "map binding")

    def clauses(self, profile: Mapping[str, float]) -> dict[str, bool]:
        """Each clause's verdict, named for a table column."""
        missing = [k for k in self.KEYS if k not in profile]
        if missing:
            raise ValueError(f"the profile lacks {', '.join(missing)} (needs {', '.join(self.KEYS)})")
        v = {k: float(profile[k]) for k in self.KEYS}
        bad = [k for k, x in v.items() if math.isnan(x)]
        if bad:
            raise ValueError(f"the profile has NaN for {', '.join(bad)}")
        image_floor = max(v["ceiling"], v["untrained image probe"])
        return {
            f"binding <= {self.max_binding:g}": v["binding"] <= self.max_binding,
            f"image probe >= floor + {self.min_image_margin:g}": v["image probe"] >= image_floor + self.min_image_margin,
            f"text probe >= ceiling + {self.min_text_margin:g}": v["text probe"] >= v["ceiling"] + self.min_text_margin,
            f"map gain >= {self.min_map_gain:g}": v["map binding"] - v["binding"] >= self.min_map_gain,
        }

    def __call__(self, profile: Mapping[str, float]) -> bool:
        """Whether ``profile`` meets every clause."""
        return all(self.clauses(profile).values())

    def misses(self, profile: Mapping[str, float]) -> list[str]:
        """The clauses ``profile`` misses (empty when it meets the criterion)."""
        return [name for name, ok in self.clauses(profile).items() if not ok]


#: The book's criterion for a CLIP-like organism (chapter 2).
CLIP_LIKE = ClipLikeCriterion()

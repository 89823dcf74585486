"""A model's binding profile: cross-modal binding next to uni-modal probes and their baselines.

Paper 1's claim in one table row: binding accuracy across modalities near chance, while linear
probes recover colour-shape binding from the image embedding and from the text embedding
(above the bag-of-words ceiling, and above the same probe on an untrained encoder).
"""

from __future__ import annotations

import numpy as np

from ..embed.cache import image_embeddings
from ..embed.protocol import EmbeddingModel
from ..metrics import binding_accuracy
from ..world.scenes import SHAPES
from .probes import bag_of_words_ceiling, object_color_labels, probe_object_colors_many

__all__ = ["binding_profile"]


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

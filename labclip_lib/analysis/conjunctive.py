"""Conjunctive search (paper 1, chapter 4): find the one object that breaks the pattern.

A scene holds distractors of two kinds, e.g. red cubes and green spheres, and one *odd* object
that combines a colour of one kind with the shape of the other: a red sphere or a green cube.
Colours and shapes alone do not say which of the two it is: both candidates use the same
colours and shapes. (Their counts do: with a red sphere there is one more red object than
cubes. A bag of words that counts exactly could solve the task; one that only knows which
words occur cannot, and scores 0.5.)

* **Probe**: a linear probe on the image embedding predicts the odd object's (colour, shape),
  24 classes, trained on the train split, scored on held-out scenes.
* **Zero-shot**: is the image closer to the caption of the odd object ("red sphere") than to
  the caption of the other candidate ("green cube")? Two-way, chance 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..embed.protocol import EmbeddingModel
from ..metrics import binding_accuracy
from ..world.render import render
from ..world.scenes import COLORS, SHAPES, SIZES, Scene, make_scene
from ..world.splits import Split, split_by_combination
from .probes import LinearProbe
from .unimodal import sizes_that_fit

__all__ = ["ConjunctiveData", "conjunctive_data", "conjunctive_search"]

@dataclass
class ConjunctiveData:
    """Scenes with one odd object each, their labels and images."""

    scenes: list[Scene]
    odd: list[tuple[str, str]]  # (colour, shape) of the odd object
    other: list[tuple[str, str]]  # the other candidate conjunction (absent from the scene)
    split: Split
    images: torch.Tensor  # (N, R, R, 3) uint8

    @property
    def labels(self) -> np.ndarray:
        """Odd object's class: ``colour index * len(SHAPES) + shape index`` (24 classes)."""
        return np.array([COLORS.index(c) * len(SHAPES) + SHAPES.index(s) for c, s in self.odd])


def conjunctive_data(n_objects: int, n_scenes: int, resolution: int, seed: int = 0,
                     sizes: Sequence[str] = SIZES) -> ConjunctiveData:
    """``n_scenes`` scenes of ``n_objects`` objects (at least 3): ``n_objects - 1`` distractors of
    two kinds (colour a, shape s) and (colour b, shape t), at least one of each, plus one odd
    object (a, t) or (b, s). Scene ``i`` comes from the seed ``(seed, i)``; the split holds out
    whole bags of words (:func:`~labclip_lib.world.splits.split_by_combination`). Object sizes
    are drawn from :func:`~labclip_lib.analysis.unimodal.sizes_that_fit` (``sizes``, or small ones
    in crowded scenes)."""
    if n_objects < 3:
        raise ValueError(f"conjunctive search needs at least 3 objects (two distractors and the odd one), got {n_objects}")
    if n_scenes < 20:
        raise ValueError(f"need at least 20 scenes to split, got {n_scenes}")
    sizes = sizes_that_fit(n_objects, sizes)
    scenes, odd, other = [], [], []
    for i in range(n_scenes):
        gen = np.random.default_rng(np.random.SeedSequence([seed, i]))
        a, b = (COLORS[j] for j in gen.choice(len(COLORS), 2, replace=False))
        s, t = (SHAPES[j] for j in gen.choice(len(SHAPES), 2, replace=False))
        kinds = [(a, s), (b, t)] + [[(a, s), (b, t)][int(k)] for k in gen.integers(0, 2, n_objects - 3)]
        pick = int(gen.integers(0, 2))
        odd_obj, other_obj = [((a, t), (b, s)), ((b, s), (a, t))][pick]
        objects = [dict(color=c, shape=sh, size=sizes[int(gen.integers(len(sizes)))]) for c, sh in kinds + [odd_obj]]
        order = gen.permutation(len(objects))
        scenes.append(make_scene([objects[j] for j in order], gen))
        odd.append(odd_obj)
        other.append(other_obj)
    split = split_by_combination(scenes, seed=seed)
    return ConjunctiveData(scenes, odd, other, split, torch.from_numpy(render(scenes, resolution)))


def conjunctive_search(model: EmbeddingModel, counts: Sequence[int] = (3, 4, 6, 8, 10), n_scenes: int = 2000,
                       seed: int = 0, sizes: Sequence[str] = SIZES) -> list[dict]:
    """Probe and zero-shot accuracy at finding the odd object, per number of objects.

    Returns rows ``{"objects", "probe", "zero-shot", "n test"}``: the probe's 24-way accuracy on
    the test split (regularisation chosen on val) and the zero-shot two-way accuracy on the
    same test scenes (ties count half). A bag of words that ignores counts scores 0.5 on both.

    Used in chapter 4.
    """
    if len(counts) == 0:
        raise ValueError("empty list of object counts")
    rows = []
    for n in counts:
        d = conjunctive_data(n, n_scenes, model.image_size,
                             seed=int(np.random.SeedSequence([seed, n, 11]).generate_state(1)[0]), sizes=sizes)
        img = model.encode_images(d.images)
        y = d.labels
        tr, va, te = (d.split[k] for k in ("train", "val", "test"))
        probe = LinearProbe(seed=seed).fit(img[tr], y[tr], img[va], y[va])
        odd_txt = model.encode_texts([f"{c} {s}" for c, s in (d.odd[i] for i in te)])
        other_txt = model.encode_texts([f"{c} {s}" for c, s in (d.other[i] for i in te)])
        rows.append({"objects": n, "probe": probe.score(img[te], y[te]),
                     "zero-shot": binding_accuracy(img[te], odd_txt, other_txt), "n test": len(te)})
    return rows

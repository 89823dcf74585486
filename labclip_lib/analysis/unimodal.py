"""Uni-modal evidence (paper 1, chapter 4): colour probes on frozen image and text embeddings.

Each function embeds scenes with a model (anything with ``encode_images``/``encode_texts`` and
``image_size``), fits one colour probe per shape (:func:`~labclip_lib.analysis.probes.probe_object_colors`)
on the train combinations, chooses its regularisation on the validation combinations and
scores it on the test combinations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..embed.cache import image_embeddings
from ..embed.protocol import EmbeddingModel
from ..world.captions import CaptionSpec, describe_all
from ..world.scenes import COLORS, SIZES, Scene
from ..world.scenesets import rendered_scenes
from ..world.splits import Split, split_by_combination
from .probes import ProbeResult, probe_object_colors_many

__all__ = ["MODALITIES", "ProbeData", "probe_data", "modality_probes", "probe_rows", "probes_by_object_count",
           "other_object_error_share", "probe_report", "other_object_errors", "MAX_MIXED_SIZE_OBJECTS",
           "sizes_that_fit"]

MODALITIES = ("image", "text")
#: Above this many objects per scene, fresh scene sets use small objects only (ten large ones
#: do not fit on the ground plane): :func:`probes_by_object_count`, conjunctive search.
MAX_MIXED_SIZE_OBJECTS = 6


def sizes_that_fit(n_objects: int, sizes: Sequence[str] = SIZES) -> tuple[str, ...]:
    """``sizes`` for scenes of up to :data:`MAX_MIXED_SIZE_OBJECTS` objects, small ones above."""
    return tuple(sizes) if n_objects <= MAX_MIXED_SIZE_OBJECTS else ("small",)


@dataclass
class ProbeData:
    """Scenes with a combination split, images and one complete caption per scene."""

    scenes: list[Scene]
    split: Split
    images: torch.Tensor  # (N, R, R, 3) uint8
    captions: list[str]


def probe_data(n_objects: int | Sequence[int], n_scenes: int, resolution: int, seed: int = 0,
               sizes: Sequence[str] = SIZES) -> ProbeData:
    """``n_scenes`` fresh scenes (``n_objects`` per scene, object sizes drawn from ``sizes``),
    split by combination, rendered at ``resolution``, each with its complete template caption
    (objects in random order)."""
    scenes, images = rendered_scenes(n_scenes, n_objects, seed, resolution, sizes=sizes)
    split = split_by_combination(scenes, seed=seed)
    caps = describe_all(scenes, CaptionSpec(), seed=seed)
    return ProbeData(scenes, split, images, [c.text for c in caps])


def _as_probe_data(data) -> ProbeData:
    if isinstance(data, ProbeData):
        return data
    # an OrganismData: probe its complete evaluation captions, not its training diet
    return ProbeData(list(data.scenes), data.split, data.images, [c.text for c in data.eval_captions])


def modality_probes(model: EmbeddingModel, data, seed: int = 0, multi: bool = False) -> dict[str, list[ProbeResult]]:
    """Per-shape colour probes on the image and on the text embeddings of ``data``.

    ``data``: a :class:`ProbeData` or an :class:`~labclip_lib.organisms.OrganismData`.
    Returns ``{"image": [ProbeResult per shape], "text": [...]}``.

    Used in chapter 4.
    """
    d = _as_probe_data(data)
    emb = {"image": image_embeddings(model, data), "text": model.encode_texts(d.captions)}
    res = probe_object_colors_many([emb[m] for m in MODALITIES], d.scenes, d.split, seed=seed, multi=multi)
    return dict(zip(MODALITIES, res))


def probe_rows(results: dict[str, list[ProbeResult]], **labels) -> list[dict]:
    """Flatten :func:`modality_probes` output into table rows (one per modality and shape),
    each carrying ``labels`` (e.g. ``model="complete", seed=0``).

    Used in chapter 4.
    """
    rows = []
    for modality, per_shape in results.items():
        for r in per_shape:
            rows.append({**labels, "modality": modality, "shape": r.shape, "train": r.train, "val": r.val,
                         "test": r.test, "ceiling": r.ceiling, "n test": r.n_test, "C": r.probe.C_})
    return rows


def probes_by_object_count(model: EmbeddingModel, counts: Sequence[int] = (2, 3, 4, 6, 8, 10), n_scenes: int = 2000,
                           seed: int = 0, sizes: Sequence[str] = SIZES) -> list[dict]:
    """Set-valued colour probes (exact-set match) on scenes with each number of objects.

    For each count, fresh scenes (seeded by ``(seed, count)``) rendered at the model's
    resolution, object sizes drawn from :func:`sizes_that_fit` (``sizes`` up to
    :data:`MAX_MIXED_SIZE_OBJECTS` objects, small ones above).
    Returns rows ``{"objects", "sizes", "modality", "test", "ceiling"}`` averaged over shapes.

    Used in chapter 4.
    """
    if len(counts) == 0:
        raise ValueError("empty list of object counts")
    rows = []
    for n in counts:
        s = int(np.random.SeedSequence([seed, n]).generate_state(1)[0])
        use = sizes_that_fit(n, sizes)
        res = modality_probes(model, probe_data(n, n_scenes, model.image_size, seed=s, sizes=use), seed=seed,
                              multi=True)
        for modality, per_shape in res.items():
            rows.append({"objects": n, "sizes": "/".join(use), "modality": modality, "test": float(np.mean([r.test for r in per_shape])),
                         "ceiling": float(np.mean([r.ceiling for r in per_shape]))})
    return rows


def other_object_error_share(result: ProbeResult, scenes: Sequence[Scene]) -> float:
    """Share of a single-label probe's wrong test answers that name the colour of another object
    of the scene (the bag-of-words error); NaN when the probe made no error.

    Used in chapter 4.
    """
    if len(result.test_true) and isinstance(result.test_true[0], tuple):
        raise ValueError("other_object_error_share needs a single-label probe (multi=False)")
    wrong = [(int(i), p) for i, t, p in zip(result.test_index, result.test_true, result.test_pred) if t != p]
    if not wrong:
        return float("nan")
    hits = [any(o.shape != result.shape and o.color == COLORS[p] for o in scenes[i].objects) for i, p in wrong]
    return float(np.mean(hits))


def probe_report(model: EmbeddingModel, data, seed: int = 0) -> list[dict]:
    """Rows of :func:`modality_probes` on ``data`` (one per modality and shape: validation and
    test accuracy, bag-of-words ceiling): chapter 4's report, for an organism or a pretrained
    model alike."""
    return probe_rows(modality_probes(model, data, seed=seed))


def other_object_errors(results: dict, data: dict) -> list[dict]:
    """:func:`other_object_error_share` of every probe in ``results`` ``{(name, seed): {modality:
    [ProbeResult]}}`` on ``data[seed]``'s scenes: rows ``{"organism", "modality", "seed",
    "errors naming the other object's colour"}``. Used in chapter 4."""
    return [{"organism": name, "modality": modality, "seed": seed,
             "errors naming the other object's colour": other_object_error_share(r, data[seed].scenes)}
            for (name, seed), res in results.items() for modality in res for r in res[modality]]

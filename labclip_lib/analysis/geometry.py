"""Why cosine similarity loses binding (paper 1, chapter 5): the geometry of the two embeddings.

* how close a caption and its attribute-swapped caption are (``cos(caption, swap)``) and the
  margin the image gives the right one (``cos(image, caption) - cos(image, swap)``);
* whether the probes of the two modalities agree: the cosine between the image probe's weight
  vector and the text probe's weight vector for the same (shape, colour);
* the modality gap: image and text embeddings occupy different regions of the sphere.

All inputs are ``(N, D)`` embeddings (normalised inside where a cosine is meant).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..embed.cache import image_embeddings
from ..embed.protocol import EmbeddingModel
from ..metrics import binding_accuracy, check_embeddings, pair_scores
from ..world.scenes import COLORS
from .probes import ProbeResult
from .unimodal import modality_probes

__all__ = ["pair_embeddings", "swap_geometry", "probe_weight_cosines", "probe_weight_agreement", "modality_gap", "remove_modality_gap", "binding_without_gap",
           "pca_2d", "geometry_report", "pair_embeddings_by_model"]


def pair_embeddings(model: EmbeddingModel, data, part: str = "test") -> dict:
    """Embeddings of split ``part`` of ``data`` (an :class:`~labclip_lib.organisms.OrganismData`):
    ``image``, ``caption`` (complete caption) and ``swap`` (its swapped caption), each ``(N, D)``,
    for the scenes with a valid swap, and their scene indices ``index``.

    Used in chapters 5, 6.
    """
    if part not in ("train", "val", "test"):
        raise ValueError(f"unknown split part {part!r}; expected train, val or test")
    idx = [int(i) for i in data.split[part] if data.eval_negatives[i] is not None]
    if not idx:
        raise ValueError(f"no scene of the {part!r} split has a swap negative")
    return {"image": image_embeddings(model, data)[idx],
            "caption": model.encode_texts([data.eval_captions[i].text for i in idx]),
            "swap": model.encode_texts([data.eval_negatives[i].text for i in idx]), "index": idx}


def swap_geometry(image: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-row ``caption vs swap`` cosine and the image's margin for the true caption.

    ``image, positive, negative``: ``(N, D)``. Returns ``{"cos(caption, swap)": (N,),
    "margin": (N,)}`` with ``margin = cos(image, caption) - cos(image, swap)``.

    Used in chapter 5.
    """
    return {"cos(caption, swap)": pair_scores(positive, negative).numpy(),
            "margin": (pair_scores(image, positive) - pair_scores(image, negative)).numpy()}


def probe_weight_cosines(image_probes: Sequence[ProbeResult], text_probes: Sequence[ProbeResult]) -> list[dict]:
    """Cosine between the image and the text probe's weight vectors, per (shape, colour).

    Both probes live in the same D-dimensional joint space; a colour-of-the-cube direction
    that the two modalities share would give a cosine near 1. Weights are taken in the raw
    embedding space (:attr:`~labclip_lib.analysis.probes.LinearProbe.coef_`), centred over classes (a
    softmax is invariant to a shared shift). Returns rows ``{"shape", "colour", "cosine"}``.
    """
    text_by_shape = {r.shape: r for r in text_probes}
    rows = []
    for ri in image_probes:
        rt = text_by_shape.get(ri.shape)
        if rt is None:
            raise ValueError(f"no text probe for the shape {ri.shape!r}")
        wi, wt = ri.probe.coef_, rt.probe.coef_
        if wi.shape[1] != wt.shape[1]:
            raise ValueError(f"image and text probes have different input sizes ({wi.shape[1]} vs {wt.shape[1]})")
        wi, wt = wi - wi.mean(0), wt - wt.mean(0)
        ci, ct = list(ri.probe.classes_), list(rt.probe.classes_)
        for c in sorted(set(ci) & set(ct)):
            a, b = wi[ci.index(c)], wt[ct.index(c)]
            cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
            rows.append({"shape": ri.shape, "colour": COLORS[int(c)], "cosine": cos})
    return rows


def probe_weight_agreement(model: EmbeddingModel, data, seed: int = 0) -> float:
    """Mean image-vs-text probe-weight cosine of ``model`` on ``data`` (chapter 4's per-shape
    colour probes on both modalities, then :func:`probe_weight_cosines` averaged over every
    (shape, colour)). Paper 1 reports 0.20 for CLIP on CLEVR, 0.75 after its linear map."""
    probes = modality_probes(model, data, seed=seed)
    return float(np.mean([r["cosine"] for r in probe_weight_cosines(probes["image"], probes["text"])]))


def modality_gap(image: torch.Tensor, text: torch.Tensor) -> dict[str, float]:
    """The modality gap between normalised image ``(N, D)`` and text ``(M, D)`` embeddings.

    Returns ``gap`` (distance between the two centroids), ``variance along gap`` (share of
    the total variance of the pooled embeddings along the gap direction), ``mean cos within
    images``, ``mean cos within texts`` and ``mean cos image-text`` (all pairs).
    """
    i = torch.nn.functional.normalize(check_embeddings("image embeddings", image), dim=1)
    t = torch.nn.functional.normalize(check_embeddings("text embeddings", text, i.shape[1]), dim=1)
    gap = i.mean(0) - t.mean(0)
    pooled = torch.cat([i, t]) - torch.cat([i, t]).mean(0)
    direction = gap / gap.norm().clamp_min(1e-12)
    along = float(((pooled @ direction) ** 2).sum() / (pooled ** 2).sum())
    return {"gap": float(gap.norm()), "variance along gap": along,
            "mean cos within images": float((i.mean(0) @ i.mean(0) * len(i) - 1) / (len(i) - 1)) if len(i) > 1 else 1.0,
            "mean cos within texts": float((t.mean(0) @ t.mean(0) * len(t) - 1) / (len(t) - 1)) if len(t) > 1 else 1.0,
            "mean cos image-text": float(i.mean(0) @ t.mean(0))}


def remove_modality_gap(image: torch.Tensor, text: torch.Tensor, image_mean: torch.Tensor | None = None,
                        text_mean: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre each modality on its own mean (of the normalised embeddings) and renormalise.

    Pass ``image_mean``/``text_mean`` (``(D,)``, e.g. from the train split) to centre held-out
    data with training statistics. Returns the two centred, normalised matrices.
    """
    i = torch.nn.functional.normalize(check_embeddings("image embeddings", image), dim=1)
    t = torch.nn.functional.normalize(check_embeddings("text embeddings", text, i.shape[1]), dim=1)
    mi = i.mean(0) if image_mean is None else image_mean
    mt = t.mean(0) if text_mean is None else text_mean
    return torch.nn.functional.normalize(i - mi, dim=1), torch.nn.functional.normalize(t - mt, dim=1)


def pca_2d(*blocks: torch.Tensor) -> list[np.ndarray]:
    """Project several ``(N_k, D)`` blocks onto the top two principal components of all of them
    (normalised, pooled); returns one ``(N_k, 2)`` array per block.

    Used in chapter 5.
    """
    if not blocks:
        raise ValueError("no embeddings to project")
    dim = check_embeddings("block 0", blocks[0]).shape[1]
    normed = [torch.nn.functional.normalize(check_embeddings(f"block {k}", b, dim), dim=1) for k, b in enumerate(blocks)]
    pooled = torch.cat(normed).double()
    mean = pooled.mean(0)
    _, _, v = torch.linalg.svd(pooled - mean, full_matrices=False)
    basis = v[:2].T
    return [((b.double() - mean) @ basis).numpy() for b in normed]


def binding_without_gap(image_train: torch.Tensor, text_train: torch.Tensor, image: torch.Tensor,
                        positive: torch.Tensor, negative: torch.Tensor) -> float:
    """Binding accuracy after removing the modality gap with the train split's centroids."""
    i = torch.nn.functional.normalize(check_embeddings("train image embeddings", image_train), dim=1).mean(0)
    t = torch.nn.functional.normalize(check_embeddings("train text embeddings", text_train), dim=1).mean(0)
    img, pos = remove_modality_gap(image, positive, i, t)
    _, neg = remove_modality_gap(image, negative, i, t)
    return binding_accuracy(img, pos, neg)



def geometry_report(model: EmbeddingModel, data, seed: int = 0) -> dict[str, float]:
    """Chapter 5's measurements of one model on ``data`` (test split): mean ``cos(caption, swap)``,
    mean margin, mean probe-weight cosine (image vs text probes), the modality gap, binding
    accuracy and binding with the gap removed (means fitted on the train split)."""
    tr, te = pair_embeddings(model, data, "train"), pair_embeddings(model, data, "test")
    geo = swap_geometry(te["image"], te["caption"], te["swap"])
    return {"cos(caption, swap)": float(geo["cos(caption, swap)"].mean()), "margin": float(geo["margin"].mean()),
            "probe-weight cosine": probe_weight_agreement(model, data, seed=seed),
            **modality_gap(te["image"], te["caption"]),
            "binding": binding_accuracy(te["image"], te["caption"], te["swap"]),
            "binding without gap": binding_without_gap(tr["image"], tr["caption"], te["image"], te["caption"],
                                                       te["swap"])}


def pair_embeddings_by_model(models: dict, data: dict, parts: Sequence[str] = ("train", "val", "test")) -> dict:
    """:func:`pair_embeddings` of every model on its seed's data: ``{(name, seed): {part: ...}}``
    for ``models`` ``{(name, seed): model}`` and ``data`` ``{seed: data}``. Used in chapters 5, 6."""
    return {(name, seed): {part: pair_embeddings(model, data[seed], part) for part in parts}
            for (name, seed), model in models.items()}

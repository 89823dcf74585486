"""Chapter 6's comparisons: binding under each method (before, LABCLIP, SB, fine-tuned), a model
before and after its map, and what a map changes in the geometry."""

from __future__ import annotations

from pathlib import Path

import torch

from ..analysis.geometry import modality_gap, pair_embeddings, swap_geometry
from ..embed.protocol import EmbeddingModel
from ..metrics import binding_accuracy
from .aligned import AlignedModel
from .estimator import LinearAlignment, fit_alignment, triplet

__all__ = ["METHODS", "binding_by_method", "before_after", "alignment_effects", "alignment_report"]

#: The methods compared in chapter 6, in table order.
METHODS = ("before (cosine)", "LABCLIP (HNB)", "SB ablation", "fine-tuned (FT)")


def binding_by_method(emb: dict, maps: dict, finetuned: dict | None = None, data: dict | None = None,
                      part: str = "test") -> list[dict]:
    """Binding accuracy on split ``part`` of every organism and seed under each of :data:`METHODS`.

    ``emb``: ``{(name, seed): {part: pair embeddings}}`` (:func:`~labclip_lib.geometry.pair_embeddings`);
    ``maps``: ``{(name, seed, "hnb" | "sb"): LinearAlignment}`` (missing ones are skipped);
    ``finetuned``: ``{(name, seed): FinetuneResult}`` with ``data``: ``{seed: OrganismData}``
    (its scenes are re-embedded by the fine-tuned model). Returns rows
    ``{"organism", "seed", "method", "binding"}``.

    Used in chapter 6.
    """
    if finetuned and data is None:
        raise ValueError("scoring fine-tuned models needs data={seed: OrganismData}")
    rows = []
    for (name, seed), e in emb.items():
        if part not in e:
            raise ValueError(f"embeddings of {name!r} seed {seed} have no {part!r} part")
        scores = {METHODS[0]: binding_accuracy(*triplet(e[part]))}
        for loss, method in (("hnb", METHODS[1]), ("sb", METHODS[2])):
            if (name, seed, loss) in maps:
                scores[method] = maps[name, seed, loss].score(*triplet(e[part]))
        rows += [{"organism": name, "seed": seed, "method": m, "binding": b} for m, b in scores.items()]
    for (name, seed), ft in (finetuned or {}).items():
        b = binding_accuracy(*triplet(pair_embeddings(ft.model, data[seed], part)))
        rows.append({"organism": name, "seed": seed, "method": METHODS[3], "binding": b})
    return rows


def before_after(model: EmbeddingModel, alignment: LinearAlignment) -> dict:
    """``{"before (cosine)": model, "LABCLIP (HNB)": AlignedModel(model, alignment)}``: the two
    versions of a model that chapter 6's generalisation tests compare."""
    return {METHODS[0]: model, METHODS[1]: AlignedModel(model, alignment)}


def alignment_effects(alignment: LinearAlignment, image: torch.Tensor, caption: torch.Tensor,
                      swap: torch.Tensor) -> dict[str, float]:
    """What the map changes on matched rows ``(N, D)``: binding accuracy, mean
    ``cos(caption, swap)``, mean margin ``cos(image, caption) - cos(image, swap)`` and the
    modality gap (distance between the unit image and caption centroids), before and after.

    Used in chapter 6.
    """
    out = {}
    for when, (c, s) in (("before", (caption, swap)), ("after", (alignment.transform(caption), alignment.transform(swap)))):
        geo = swap_geometry(image, c, s)
        out[f"binding {when}"] = binding_accuracy(image, c, s)
        out[f"cos(caption, swap) {when}"] = float(geo["cos(caption, swap)"].mean())
        out[f"margin {when}"] = float(geo["margin"].mean())
        out[f"gap {when}"] = modality_gap(image, c)["gap"]
    return out


def alignment_report(model: EmbeddingModel, data, *, lr: float = 0.01, epochs: int = 50, batch_size: int = 128,
                     seed: int = 0, released: str | Path | None = None) -> dict[str, float]:
    """Chapter 6 on one model: binding on ``data``'s test split before the map, with a LABCLIP
    (HNB) map and an SB map fitted on its train split (validation recorded), and, with
    ``released``, with one of the authors' released maps (same embedding size)."""
    emb = {part: pair_embeddings(model, data, part) for part in ("train", "val", "test")}
    test = triplet(emb["test"])
    out = {METHODS[0]: binding_accuracy(*test)}
    for loss, method in (("hnb", METHODS[1]), ("sb", METHODS[2])):
        out[method] = fit_alignment(emb, loss, lr=lr, epochs=epochs, batch_size=batch_size, seed=seed).score(*test)
    if released:
        out["authors' released map"] = LinearAlignment.load(released, dim=model.dim).score(*test)
    return out

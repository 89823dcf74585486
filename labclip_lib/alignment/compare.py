"""Chapter 6's comparisons: binding under each method (before, LABCLIP, SB, fine-tuned), a model
before and after its map, and what a map changes in the geometry."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from ..analysis.geometry import modality_gap, pair_embeddings, probe_weight_agreement, swap_geometry
from ..embed.protocol import EmbeddingModel
from ..metrics import binding_accuracy, mean_interval, report_rows
from ..runtime import one_core, parallel_map
from .aligned import AlignedModel
from .estimator import LinearAlignment, MapSettings, fit_alignment, triplet

__all__ = ["METHODS", "binding_by_method", "before_after", "alignment_effects", "alignment_report", "fit_maps",
           "effects_by_model", "agreement_before_after", "before_after_report", "map_against_bound"]

#: The methods compared in chapter 6, in table order.
METHODS = ("before (cosine)", "LABCLIP (HNB)", "SB ablation", "fine-tuned (FT)")


def binding_by_method(emb: dict, maps: dict, finetuned: dict | None = None, data: dict | None = None,
                      part: str = "test") -> list[dict]:
    """Binding accuracy on split ``part`` of every organism and seed under each of :data:`METHODS`.

    ``emb``: ``{(name, seed): {part: pair embeddings}}`` (:func:`~labclip_lib.analysis.geometry.pair_embeddings`);
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


def alignment_report(model: EmbeddingModel, data, *, map_settings: MapSettings = MapSettings(), seed: int = 0,
                     released: str | Path | None = None) -> dict[str, float]:
    """Chapter 6 on one model: binding on ``data``'s test split before the map, with a LABCLIP
    (HNB) map and an SB map fitted on its train split as ``map_settings`` says (validation
    split recorded, or used for early stopping), and, with ``released``, with one of the authors' released maps
    (same embedding size)."""
    emb = {(model.name, seed): {part: pair_embeddings(model, data, part) for part in ("train", "val", "test")}}
    maps = fit_maps(emb, ("hnb", "sb"), **map_settings.estimator_kwargs())
    out = {row["method"]: row["binding"] for row in binding_by_method(emb, maps)}
    if released:
        test = triplet(emb[model.name, seed]["test"])
        out["authors' released map"] = LinearAlignment.load(released, dim=model.dim).score(*test)
    return out


def _fit_task(emb: dict, loss: str, seed: int, kwargs: dict, metadata: dict | None) -> LinearAlignment:
    with one_core():
        return fit_alignment(emb, loss, seed=seed, metadata=metadata, **kwargs)


def fit_maps(emb: dict, losses: Sequence[str] = ("hnb", "sb"), models: dict | None = None, jobs: int | None = None,
             **kwargs) -> dict[tuple[str, int, str], LinearAlignment]:
    """One map per organism, seed and loss: ``{(name, seed, loss): LinearAlignment}``, each fitted
    on ``emb[name, seed]["train"]`` with its validation part recorded and the seed as the map's
    seed (:func:`fit_alignment`; ``kwargs`` such as ``lr``, ``epochs``, ``batch_size`` go to
    :class:`LinearAlignment`), in up to ``jobs`` worker processes of one thread each (a map of
    small products is fitted on one thread anyway: the same maps as one by one). With ``models``
    the fingerprint of each base model is stored in the map's metadata. Used in chapter 6."""
    keys = [(name, seed, loss) for (name, seed) in emb for loss in losses]
    tasks = [({p: emb[name, seed][p] for p in ("train", "val") if p in emb[name, seed]}, loss, seed, kwargs,
              {"model": models[name, seed].fingerprint, "data": f"seed {seed} train"} if models else None)
             for name, seed, loss in keys]
    return dict(zip(keys, parallel_map(_fit_task, tasks, n_jobs=jobs)))


def effects_by_model(maps: dict, emb: dict, loss: str = "hnb", part: str = "test") -> list[dict]:
    """:func:`alignment_effects` of every organism's ``loss`` map on its ``part`` embeddings: rows
    ``{"organism", "seed", ...}``. Used in chapter 6."""
    return [{"organism": name, "seed": seed, **alignment_effects(maps[name, seed, loss], *triplet(e[part]))}
            for (name, seed), e in emb.items()]


def agreement_before_after(models: dict, maps: dict, data, seed: int, loss: str = "hnb") -> list[dict]:
    """The probe-weight cosine (:func:`~labclip_lib.analysis.geometry.probe_weight_agreement`) of
    every organism of ``seed`` on ``data``, before and after its ``loss`` map (the text probes are
    fitted on the mapped captions; the image probes are unchanged). Used in chapter 6."""
    return [{"organism": name,
             "probe-weight cosine before": probe_weight_agreement(model, data),
             "probe-weight cosine after": probe_weight_agreement(AlignedModel(model, maps[name, s, loss]), data)}
            for (name, s), model in models.items() if s == seed]


def before_after_report(models: dict, maps: dict, report: Callable, loss: str = "hnb", **kwargs) -> list[dict]:
    """Run ``report(model, seed=seed, **kwargs)`` (a dict or a list of rows) on every organism
    before and after its ``loss`` map (:func:`before_after`): rows ``{"organism", "seed",
    "method", ...}``. Used in chapter 6's generalisation tests."""
    rows = []
    for (name, seed), model in models.items():
        for method, variant in before_after(model, maps[name, seed, loss]).items():
            rows += [{"organism": name, "seed": seed, "method": method, **r}
                     for r in report_rows(report(variant, seed=seed, **kwargs))]
    return rows


def map_against_bound(results: pd.DataFrame, bounds: pd.DataFrame, method: str = METHODS[1],
                      level: float = 0.95) -> pd.DataFrame:
    """Map binding beside the image-side bound, per organism: the mean of ``method``'s binding
    (rows of :func:`binding_by_method`) and of the pairing bound (rows of
    :func:`~labclip_lib.analysis.pairing.pairing_bounds`), and the gap bound - map, paired by
    seed, with its ``level`` Student-t interval. ``"map short of the bound"`` when the whole
    interval is above zero, ``"map above the bound"`` when it is below zero, ``"inconclusive"``
    when it holds zero (the seeds cannot tell), ``"one seed: no interval"`` with one seed. Used
    in chapter 6."""
    mapped = results[results["method"] == method][["organism", "seed", "binding"]]
    if mapped.empty:
        raise ValueError(f"no rows of method {method!r} in the results")
    both = mapped.merge(bounds, on=["organism", "seed"], how="inner")
    if both.empty:
        raise ValueError("no organism and seed is both in the results and in the bounds")
    rows = []
    for name, g in both.groupby("organism", sort=False):
        gap, low, high = mean_interval(g["pairing bound"] - g["binding"], level)
        reading = ("one seed: no interval" if np.isnan(low) else "map short of the bound" if low > 0
                   else "map above the bound" if high < 0 else "inconclusive")
        rows.append({"organism": name, "seeds": len(g), "map binding": g["binding"].mean(),
                     "pairing bound": g["pairing bound"].mean(), "gap (bound - map)": gap,
                     f"gap {level:.0%} low": low, f"gap {level:.0%} high": high, "reading": reading})
    return pd.DataFrame(rows).set_index("organism")

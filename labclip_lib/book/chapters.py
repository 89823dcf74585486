"""Chapter helpers: what every chapter asks for in one sentence.

* :func:`chapter_organisms`: the chapter's organisms, ``{(name, seed): model}``, trained once and
  read from the cache afterwards;
* :func:`held_out_data`: the held-out scenes of each seed (the *complete* diet's data: every
  organism of a seed is evaluated on the same scenes, split by colour-shape combination);
* :func:`pretrained_report`: the chapter's own report function run on a pretrained model
  (``MODEL_ID``) on scenes rendered at its resolution; the same function gives the organisms'
  rows, so the pretrained row is comparable by construction.

``changes`` (the chapters' ``ORGANISM_CHANGES`` parameter) changes every organism's config, e.g.
``{"n_scenes": 400, "epochs": 1}`` for a quick run; the book runs with none.
"""

from __future__ import annotations

import time
from dataclasses import replace
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..alignment.estimator import triplet
from ..analysis.geometry import pair_embeddings
from ..analysis.profiles import CLIP_LIKE, ClipLikeCriterion, binding_profile
from ..analysis.unimodal import modality_probes, probe_rows
from ..embed.protocol import EmbeddingModel
from ..alignment.estimator import MapSettings
from ..experiments.rescue import fit_map
from ..experiments.sweeps import run_points
from ..metrics import report_rows
from ..models import load_model
from ..organisms import (OrganismConfig, OrganismData, OrganismModel, build_data, get_organism, get_organisms,
                         organism_config, organism_history, organism_summary)
from ..runtime import get_device, one_core, parallel_map
from ..world.captions import CaptionSpec

__all__ = ["chapter_organisms", "held_out_data", "report_by_model", "clip_like_profile", "profile_search", "choose_clip_like",
           "trained_organisms", "recipe_comparison", "probe_search", "probe_summary", "architecture_profiles",
           "pretrained_report", "pretrained_scenes",
           "estimate_cpu_seconds"]

#: Every organism of a seed is evaluated on the scenes of this diet's data (chapters 3-6).
EVALUATION_DIET = "complete"


def chapter_organisms(names: Sequence[str], seeds: Sequence[int], changes: dict | None = None
                      ) -> dict[tuple[str, int], EmbeddingModel]:
    """``{(name, seed): model}`` for every named organism and seed (trained on first use, the
    missing ones side by side in worker processes, then from the cache). Used by chapters 2-6."""
    if not names or not seeds:
        raise ValueError("chapter_organisms needs at least one organism name and one seed")
    keys = [(name, seed) for name in names for seed in seeds]
    paths = get_organisms([organism_config(name, seed, **(changes or {})) for name, seed in keys])
    return {key: load_model(path) for key, path in zip(keys, paths)}


def trained_organisms(name: str, seeds: Sequence[int], recipe: str = "second", changes: dict | None = None,
                      jobs: int | None = None) -> tuple[pd.DataFrame, dict[int, dict]]:
    """Organism ``name`` trained with ``recipe`` for every seed (from the cache after the first
    time; missing ones trained in up to ``jobs`` worker processes): one
    :func:`~labclip_lib.organisms.organism_summary` row per seed and the training curves by
    seed. Used in chapter 2's positive control."""
    if not seeds:
        raise ValueError("trained_organisms needs at least one seed")
    configs = [organism_config(name, seed, recipe=recipe, **(changes or {})) for seed in seeds]
    paths = dict(zip(seeds, get_organisms(configs, jobs)))
    rows = pd.DataFrame([{"recipe": recipe, **organism_summary(p)} for p in paths.values()])
    return rows, {seed: organism_history(p) for seed, p in paths.items()}


def recipe_comparison(names: str | Sequence[str], recipes: Sequence[str], seed: int = 0,
                      changes: dict | None = None, jobs: int | None = None) -> pd.DataFrame:
    """Each named organism (seed ``seed``) trained with each of ``recipes``: epochs trained and
    kept, training seconds and **validation** binding (what to choose on), one row per organism
    and recipe, indexed by (organism, recipe). Missing organisms are trained in up to ``jobs``
    worker processes. Used in chapter 2."""
    names = [names] if isinstance(names, str) else list(names)
    if not recipes or not names:
        raise ValueError("recipe_comparison needs at least one organism name and one recipe")
    pairs = [(name, r) for name in names for r in recipes]
    paths = get_organisms([organism_config(name, seed, recipe=r, **(changes or {})) for name, r in pairs], jobs)
    rows = pd.DataFrame([{"recipe": r, **organism_summary(p)} for (_, r), p in zip(pairs, paths)])
    return rows.set_index(["organism", "recipe"])[["epochs", "kept epoch", "training seconds", "val binding"]]


#: the measures :func:`architecture_profiles` shows, in order
PROFILE_MEASURES = ("binding", "map binding", "image probe", "text probe", "ceiling", "pairing bound")


def architecture_profiles(names: Sequence[str], architectures: dict[str, tuple[str, dict]], seeds: Sequence[int],
                          changes: dict | None = None, map_settings: MapSettings = MapSettings(),
                          jobs: int | None = None) -> pd.DataFrame:
    """Each named diet trained with each architecture's recipe for every seed, and measured on
    its own test combinations as Part III measures every organism
    (:func:`~labclip_lib.experiments.rescue.measure_organism`: binding, the probes and their
    bag-of-words ceiling, binding after a LABCLIP map, the pairing bound). ``architectures``:
    ``{label: (recipe, config changes)}``, e.g. ``{"CNN + GRU": ("converged", {})}``;
    ``changes`` apply to every organism. One row per architecture, diet and seed with
    :data:`PROFILE_MEASURES`, ``epochs`` and ``training seconds``; missing organisms are trained
    and measured in up to ``jobs`` worker processes. Used in chapter 2."""
    if not names or not architectures or not seeds:
        raise ValueError("architecture_profiles needs at least one diet, one architecture and one seed")
    points = [({"architecture": label, "diet": name, "seed": seed},
               organism_config(name, seed, recipe=recipe, **{**(changes or {}), **extra}))
              for label, (recipe, extra) in architectures.items() for name in names for seed in seeds]
    table = run_points(points, map_settings=map_settings, jobs=jobs)
    return table[["architecture", "diet", "seed", *PROFILE_MEASURES, "epochs", "training seconds"]]


def probe_search(name: str, candidates: dict[str, dict], seeds: Sequence[int], recipe: str = "converged",
                 changes: dict | None = None, jobs: int | None = None) -> pd.DataFrame:
    """Chapter 4's probes on organism ``name`` trained with ``recipe`` and each candidate's
    config changes (``{label: changes}``), for every seed: one row per candidate, seed,
    modality and shape with the probe's validation and test accuracy, the bag-of-words ceiling,
    the epochs trained and the training seconds. ``changes`` (the chapter's
    ``ORGANISM_CHANGES``) apply to every candidate. Missing organisms are trained first, in up to
    ``jobs`` worker processes. Used in chapter 4 (binding in the image at convergence)."""
    if not candidates or not seeds:
        raise ValueError("probe_search needs at least one candidate and one seed")
    pairs = [(label, seed) for label in candidates for seed in seeds]
    configs = [organism_config(name, seed, recipe=recipe, **{**(changes or {}), **candidates[label]})
               for label, seed in pairs]
    rows = []
    for (label, seed), config, path in zip(pairs, configs, get_organisms(configs, jobs)):
        summary = organism_summary(path)
        res = modality_probes(load_model(path), build_data(config), seed=seed)
        rows += probe_rows(res, candidate=label, seed=seed, epochs=summary["epochs"],
                           **{"training seconds": summary["training seconds"]})
    return pd.DataFrame(rows)


def probe_summary(table: pd.DataFrame, modality: str = "image", by: str = "candidate") -> pd.DataFrame:
    """A :func:`probe_search` table in one row per ``by`` (``"candidate"`` or ``"seed"``): epochs
    trained, training seconds, the probe's validation and test accuracy and the bag-of-words
    ceiling (means over shapes and seeds) and the test accuracy per shape, for ``modality``."""
    sub = table[table["modality"] == modality]
    if sub.empty:
        raise ValueError(f"no {modality!r} probes in the table; modalities: {sorted(table['modality'].unique())}")
    group = sub.groupby(by, sort=False)
    out = group[["epochs", "training seconds", "val", "test", "ceiling"]].mean()
    per_shape = sub.pivot_table(index=by, columns="shape", values="test", sort=False)
    return out.join(per_shape.add_suffix(" test"))


def held_out_data(seeds: Sequence[int], changes: dict | None = None) -> dict[int, OrganismData]:
    """``{seed: data}``: the scenes, split and captions every organism of that seed is evaluated
    on (its held-out test combinations are ``data.split.test``). Used by chapters 3-6."""
    if not seeds:
        raise ValueError("held_out_data needs at least one seed")
    return {seed: build_data(organism_config(EVALUATION_DIET, seed, **(changes or {}))) for seed in seeds}


def report_by_model(models: dict[tuple[str, int], EmbeddingModel], report: Callable[..., Any],
                    data: dict[int, OrganismData] | None = None, pass_seed: bool = False, **kwargs) -> pd.DataFrame:
    """One table of ``report`` over the chapter's organisms: ``report(model, data[seed], **kwargs)``
    (or ``report(model, **kwargs)`` without ``data``; with ``pass_seed`` also ``seed=seed``) for
    every ``(name, seed)``, as rows ``{"organism", "seed", ...}`` (a report returning a list of
    rows gives several). The same report function gives a pretrained model's row through
    :func:`pretrained_report`. Used in chapters 3 and 5."""
    rows = []
    for (name, seed), model in models.items():
        args = (data[seed],) if data is not None else ()
        out = report(model, *args, **({"seed": seed} if pass_seed else {}), **kwargs)
        rows += [{"organism": name, "seed": seed, **r} for r in report_rows(out)]
    return pd.DataFrame(rows)


def clip_like_profile(model: EmbeddingModel, data: OrganismData, part: str = "val",
                      untrained: EmbeddingModel | dict | None = None, seed: int = 0,
                      map_settings: MapSettings = MapSettings()) -> dict[str, float]:
    """What the CLIP-like criterion reads, on split ``part`` of ``data``: the binding profile
    (:func:`~labclip_lib.analysis.profiles.binding_profile`), with ``untrained`` (the same
    architecture at initialisation, or its binding profile on the same split) its probes too,
    and ``map binding``: binding after a LABCLIP map (the book's recipe, ``map_settings``, seeded
    by ``seed``) fitted on the train split (validation split recorded). The same
    function serves organisms and pretrained models. Used in chapter 2."""
    row = binding_profile(model, data, part)
    if untrained is not None:
        base = untrained if isinstance(untrained, dict) else binding_profile(untrained, data, part)
        row |= {"untrained image probe": base["image probe"], "untrained text probe": base["text probe"]}
    emb = {p: pair_embeddings(model, data, p) for p in dict.fromkeys(("train", "val", part))}
    alignment = fit_map(model, data, map_settings, seed, emb)
    row["map binding"] = alignment.score(*triplet(emb[part]))
    return row


def _search_task(config_dict: dict, part: str, untrained: dict, map_kwargs: dict) -> dict[str, float]:
    config = OrganismConfig.from_dict(config_dict)
    with one_core():
        return clip_like_profile(load_model(get_organism(config, progress=False)), build_data(config), part, untrained,
                                 seed=config.seed, **map_kwargs)


def profile_search(names: Sequence[str], seed: int = 0, part: str = "val", changes: dict | None = None,
                   criterion: ClipLikeCriterion = CLIP_LIKE, jobs: int | None = None, **map_kwargs) -> pd.DataFrame:
    """Chapter 2's search for a CLIP-like organism: :func:`clip_like_profile` of each named diet
    (seed ``seed``, with its untrained network) on its own data's split ``part``, each clause of
    ``criterion`` and whether all hold (column ``"CLIP-like"``). One row per diet, indexed by
    diet; ``map_kwargs`` (``map_settings``) go to :func:`clip_like_profile`. Diets differ
    only in their training captions, so the untrained network's profile is computed once per
    distinct architecture and scene set; the diets are trained (:func:`get_organisms`) and
    profiled in up to ``jobs`` worker processes."""
    configs = [organism_config(name, seed, **(changes or {})) for name in names]
    get_organisms(configs, jobs)
    untrained, tasks = {}, []
    for config in configs:
        # the untrained network and the evaluation data do not depend on the diet
        base = replace(config, name=EVALUATION_DIET, captions=((1.0, CaptionSpec()),), shuffle_words=False,
                       hard_negatives=False)
        if base.key not in untrained:
            untrained[base.key] = binding_profile(OrganismModel.untrained(base), build_data(config), part)
        tasks.append((config.to_dict(), part, untrained[base.key], map_kwargs))
    rows = []
    for name, row in zip(names, parallel_map(_search_task, tasks, n_jobs=jobs)):
        clauses = criterion.clauses(row)
        rows.append({"diet": name, **row, **clauses, "CLIP-like": all(clauses.values())})
    return pd.DataFrame(rows).set_index("diet")


def choose_clip_like(search: pd.DataFrame) -> str | None:
    """The diet chapter 2 calls CLIP-like: among the rows of :func:`profile_search` that meet the
    criterion, the one whose map lifts binding most; ``None`` when no diet meets it."""
    meets = search[search["CLIP-like"]]
    if meets.empty:
        return None
    return str((meets["map binding"] - meets["binding"]).idxmax())


def pretrained_scenes(model: EmbeddingModel, n_scenes: int, seed: int = 0) -> OrganismData:
    """``n_scenes`` fresh two-object scenes rendered at ``model``'s input resolution, split and
    captioned as the organisms' held-out data (same seed, same scenes)."""
    if not getattr(model, "image_size", None):
        raise ValueError(f"{model!r} has no image_size: cannot render scenes for it")
    return build_data(organism_config(EVALUATION_DIET, seed, n_scenes=n_scenes, resolution=int(model.image_size)))


@lru_cache(maxsize=4)
def _load(model_id: str) -> EmbeddingModel:
    return load_model(model_id)


def estimate_cpu_seconds(model: EmbeddingModel, n_images: int, probe: int = 8) -> float:
    """Seconds ``model`` would take to embed ``n_images`` scene images on this machine (timed on
    ``probe`` images at its resolution; captions are far cheaper and ignored)."""
    side = int(model.image_size)
    images = np.zeros((probe, side, side, 3), dtype=np.uint8)
    model.encode_images(images[:1])  # warm-up
    t0 = time.perf_counter()
    model.encode_images(images)
    return (time.perf_counter() - t0) / probe * n_images


def _as_table(result: Any, model_id: str) -> Any:
    if isinstance(result, dict):
        return pd.DataFrame([{"model": model_id, **result}]).set_index("model")
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        return pd.DataFrame([{"model": model_id, **r} for r in result])
    return result


def pretrained_report(model_id: str | None, report: Callable[..., Any], *args, scenes: int | None = None,
                      scene_seed: int = 0, cpu_budget_minutes: float = 20.0, **kwargs) -> Any:
    """Run a chapter's ``report`` on the pretrained model ``model_id`` (a Hugging Face id or a
    local directory): ``report(model, data, *args, **kwargs)`` on ``scenes`` fresh scenes rendered
    at the model's resolution (seed ``scene_seed``), or ``report(model, *args, **kwargs)`` when
    ``scenes`` is None (reports that draw their own scenes). Used by every chapter's ``MODEL_ID``
    cell (chapters 2-6).

    Returns the result as a table (a dict becomes one row indexed by the model id, a list of
    dicts a table with a ``model`` column), or None, with a printed reason, when ``model_id`` is
    None or when the model would take more than ``cpu_budget_minutes`` on this machine's CPU
    (the message says how long; run on a GPU or lower the scene count).
    """
    if not model_id:
        print("MODEL_ID is None: no pretrained model measured (set it in the parameters cell)")
        return None
    model = _load(str(model_id))
    if get_device(getattr(model, "device", None)).type == "cpu":
        n_images = scenes if scenes is not None else 1000
        seconds = estimate_cpu_seconds(model, n_images)
        if seconds > 60 * cpu_budget_minutes:
            print(f"{model_id} on this CPU: about {seconds / 60:.0f} min to embed {n_images:,} images "
                  f"(budget {cpu_budget_minutes:g} min): skipped. Run the chapter on a GPU (e.g. Colab) "
                  "or lower the scene counts in the parameters cell.")
            return None
    if scenes is not None:
        return _as_table(report(model, pretrained_scenes(model, scenes, scene_seed), *args, **kwargs), str(model_id))
    return _as_table(report(model, *args, **kwargs), str(model_id))

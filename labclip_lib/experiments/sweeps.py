"""Paper 2's experiments as sweeps: one organism per grid point, trained (or read from the cache)
and measured the same way, returned as a tidy table.

A *knob* changes one property of an organism's config (:data:`KNOBS`): a caption knob of every
caption generator of its diet (``attribute_density``, ``attributes``, ``completeness``,
``saliency_bias``), the scenes (``n_objects``; ``n_objects (equal mentions)``: more objects in
the image, as many mentioned; ``sizes``; ``resolution`` with the image network's ``stem_stride``), or the training (``batch_size`` at equal epochs,
``batch_size (equal steps)``, ``epochs``, ``hard_negatives``). :func:`sweep` varies one knob,
:func:`sweep_grid` two; both return one row per (point, seed) with what :func:`measure_organism`
measures on the organism's own held-out test combinations: binding, image and text probes, the
bag-of-words ceiling, binding after a LABCLIP map, the training seconds and the epochs trained.

Organisms are trained in worker processes (one PyTorch thread each) and every measurement is
cached under ``cache_dir("measures")``, keyed by the organism's weights, the measurement's
arguments and the code that computes it: a second call reads the table back in a second.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..organisms import (OrganismConfig, get_organism, organism_summary, prepare_scene_sets, trained_organism,
                         training_cost)
from ..runtime import one_core, parallel_map
from .rescue import MapSettings, measure_finetuned, measure_items, measure_organism

__all__ = ["KNOBS", "vary", "sweep_configs", "run_points", "sweep", "sweep_grid", "grid_cost"]


def _captions(field: str) -> Callable[[OrganismConfig, Any], OrganismConfig]:
    def change(config: OrganismConfig, value: Any) -> OrganismConfig:
        specs = tuple((p, replace(spec, **{field: value})) for p, spec in config.captions)
        return replace(config, captions=specs)
    return change


def _equal_steps(config: OrganismConfig, value: Any) -> OrganismConfig:
    batch = int(value)
    epochs = config.epochs * batch / config.batch_size
    if batch < 2 or epochs != int(epochs) or epochs < 1:
        raise ValueError(f"batch size {value!r} at equal steps needs {config.epochs} x {value} / {config.batch_size} "
                         f"= {epochs:g} epochs, which must be a whole number >= 1 (batch size >= 2)")
    return replace(config, batch_size=batch, epochs=int(epochs))


def _whole(field: str) -> Callable[[OrganismConfig, Any], OrganismConfig]:
    def change(config: OrganismConfig, value: Any) -> OrganismConfig:
        if isinstance(value, bool) or float(value) != int(value):
            raise ValueError(f"{field} must be a whole number, got {value!r}")
        return replace(config, **{field: int(value)})
    return change


def _objects(config: OrganismConfig, value: Any) -> OrganismConfig:
    if isinstance(value, bool) or float(value) != int(value) or int(value) < 1:
        raise ValueError(f"n_objects must be a positive whole number, got {value!r}")
    return replace(config, n_objects=(int(value),))


def _equal_mentions(config: OrganismConfig, value: Any) -> OrganismConfig:
    if len(config.n_objects) != 1:
        raise ValueError(f"needs scenes with one object count, got n_objects={config.n_objects}")
    mentions = config.n_objects[0] * config.captions[0][1].completeness
    if any(spec.completeness * config.n_objects[0] != mentions for _, spec in config.captions):
        raise ValueError("needs every caption generator to mention the same number of objects")
    new = _objects(config, value)
    if mentions > new.n_objects[0]:
        raise ValueError(f"captions mention {mentions:g} objects, more than {value} in the scene")
    return _captions("completeness")(new, mentions / new.n_objects[0])


def _sizes(config: OrganismConfig, value: Any) -> OrganismConfig:
    return replace(config, sizes=(value,) if isinstance(value, str) else tuple(value))


def _flag(config: OrganismConfig, value: Any) -> OrganismConfig:
    if not isinstance(value, bool):
        raise ValueError(f"hard_negatives must be True or False, got {value!r}")
    return replace(config, hard_negatives=value)


#: knob name -> how it changes a config (``vary(config, knob, value)``)
KNOBS: dict[str, Callable[[OrganismConfig, Any], OrganismConfig]] = {
    "attribute_density": _captions("attribute_density"),
    "attributes": _captions("attributes"),
    "completeness": _captions("completeness"),
    "saliency_bias": _captions("saliency_bias"),
    "n_objects": _objects,
    "n_objects (equal mentions)": _equal_mentions,
    "sizes": _sizes,
    "batch_size": _whole("batch_size"),
    "epochs": _whole("epochs"),
    "resolution": _whole("resolution"),
    "stem_stride": _whole("stem_stride"),
    "batch_size (equal steps)": _equal_steps,
    "hard_negatives": _flag,
}


def vary(config: OrganismConfig, knob: str, value: Any) -> OrganismConfig:
    """``config`` with ``knob`` set to ``value``. Bad values raise ``ValueError`` naming the knob."""
    if knob not in KNOBS:
        raise ValueError(f"unknown knob {knob!r}; knobs: {', '.join(KNOBS)}")
    try:
        return KNOBS[knob](config, value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"knob {knob!r} = {value!r}: {err}") from None


def sweep_configs(base: OrganismConfig, knobs: dict[str, Sequence[Any]], seeds: Sequence[int] = (0,)
                  ) -> list[tuple[dict, OrganismConfig]]:
    """Every point of the grid ``knobs`` (``{knob: values}``, all combinations) for every seed:
    ``[({knob: value, ..., "seed": s}, config), ...]``. Checks every value before anything trains."""
    if not knobs:
        raise ValueError("a sweep needs at least one knob")
    if not seeds:
        raise ValueError("a sweep needs at least one seed")
    for knob, values in knobs.items():
        if len(values) == 0:
            raise ValueError(f"knob {knob!r} has an empty list of values")
    out = []
    names = list(knobs)
    for point in itertools.product(*(knobs[k] for k in names)):
        for seed in seeds:
            config = replace(base, seed=int(seed))
            for knob, value in zip(names, point):
                config = vary(config, knob, value)
            out.append(({**dict(zip(names, point)), "seed": int(seed)}, config))
    return out


def _measure_task(config_dict: dict, part: str, map_settings: MapSettings, finetune_epochs: int,
                  profile: bool = True) -> dict:
    t0 = time.perf_counter()
    config = OrganismConfig.from_dict(config_dict)
    with one_core():  # the workers share the cores
        if profile:
            row = measure_organism(config, part, map_settings)
        else:  # binding alone, from the item scores a verdict reads (cached for it)
            row = {"binding": float(np.mean(measure_items(config, part)["hits"]))}
        summary = organism_summary(get_organism(config))  # trained already: read back
        row |= {"epochs": summary["epochs"], "training seconds": summary["training seconds"]}
        if finetune_epochs:
            row |= measure_finetuned(config, part, finetune_epochs)
    return {**row, "seconds": time.perf_counter() - t0}


def run_points(points: Sequence[tuple[dict, OrganismConfig]], part: str = "test",
               map_settings: MapSettings = MapSettings(), finetune_epochs: int = 0, jobs: int | None = None,
               profile: bool = True) -> pd.DataFrame:
    """Train and measure the organism of every ``(labels, config)`` point (see
    :func:`sweep_configs`); one row per point: its labels, ``organism`` (the config's key),
    :func:`~.rescue.measure_organism`'s numbers (without ``profile``: ``binding`` alone, from
    :func:`~.rescue.measure_items`), ``training seconds``, ``epochs`` (trained; with
    ``finetune_epochs`` > 0 also :func:`~.rescue.measure_finetuned`'s) and ``seconds`` (this
    call's wall time for the point: near zero when cached).
    Organisms train in up to ``jobs`` worker processes (default ``$LABCLIP_JOBS`` or the
    cores); the scene sets are rendered (or read from the cache) and captioned for evaluation
    once beforehand, in the same workers."""
    if not points:
        raise ValueError("no points to run")
    # each scene set rendered and captioned for evaluation once, before the organisms need it
    prepare_scene_sets([c for _, c in points], jobs)
    unique = {c.key: c for _, c in points}  # a config in several grids is trained and measured once
    # the costliest organisms first, so that no worker is left alone with a long one at the end
    # (one already trained costs a measurement only: last)
    order = sorted(unique, key=lambda k: 0.0 if trained_organism(unique[k]) else -training_cost(unique[k]))
    tasks = [(unique[k].to_dict(), part, map_settings, finetune_epochs, profile) for k in order]
    rows = dict(zip(order, parallel_map(_measure_task, tasks, n_jobs=jobs)))
    return pd.DataFrame([{**labels, "organism": c.key, **rows[c.key]} for labels, c in points])


def sweep_grid(base: OrganismConfig, knobs: dict[str, Sequence[Any]], seeds: Sequence[int] = (0,),
               **kwargs) -> pd.DataFrame:
    """:func:`run_points` over every combination of ``knobs`` (``{knob: values}``) and seed: one
    row per (point, seed) with the knobs' values and ``seed``; ``kwargs`` go to
    :func:`run_points`. Used in chapter 9."""
    return run_points(sweep_configs(base, knobs, seeds), **kwargs)


def sweep(base: OrganismConfig, knob: str, values: Sequence[Any], seeds: Sequence[int] = (0,), **kwargs
          ) -> pd.DataFrame:
    """:func:`sweep_grid` over one knob: one row per (value, seed), the value in column ``knob``.
    Used in tests and benchmarks (the chapters run named grids: :mod:`.grids`)."""
    return sweep_grid(base, {knob: values}, seeds, **kwargs)


def grid_cost(table: pd.DataFrame) -> dict[str, float]:
    """What a table of :func:`run_points` cost: distinct ``organisms``, their mean and total
    ``training seconds`` (as recorded when each was trained) and this call's wall ``seconds``
    summed over points (near zero for organisms read from the cache)."""
    if len(table) == 0:
        raise ValueError("empty table")
    once = table.drop_duplicates("organism")
    return {"organisms": len(once), "training seconds per organism": float(once["training seconds"].mean()),
            "training seconds, total": float(once["training seconds"].sum()),
            "seconds in this run": float(once["seconds"].sum())}

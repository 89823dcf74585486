"""Random scene sets: scenes drawn from explicit seeds, re-drawn when an object is hidden.

Sampling sits above both the scene data model (:mod:`.scenes`) and the renderer
(:mod:`.render`): the renderer measures each object's visible area (its *salience*), and a
scene in which some object is hidden behind another is re-drawn, as CLEVR does. Scene ``i`` of
a set comes from its own seed ``(seed, i)``, so sets are the same in every process and the
first ``m`` scenes of a larger set equal a smaller one.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..runtime import rng as _rng
from .render import with_salience
from .scenes import (
    ARENA_HALF_WIDTH,
    COLORS,
    MATERIALS,
    SHAPES,
    SIZES,
    PlacementError,
    Scene,
    _check,
    make_scene,
)

__all__ = ["sample_scene", "sample_scenes", "all_pair_combinations", "scenes_from_combinations"]


def sample_scene(
    n_objects: int,
    seed: int | np.random.Generator,
    *,
    colors: Sequence[str] = COLORS,
    shapes: Sequence[str] = SHAPES,
    sizes: Sequence[str] = SIZES,
    materials: Sequence[str] = MATERIALS,
    arena: float = ARENA_HALF_WIDTH,
) -> Scene:
    """One random scene with ``n_objects`` objects (attributes drawn uniformly, independently)."""
    gen = _rng(seed)
    if not isinstance(n_objects, (int, np.integer)) or n_objects < 1:
        raise ValueError(f"n_objects must be a positive integer, got {n_objects!r}")
    for values, allowed, what in ((colors, COLORS, "colour"), (shapes, SHAPES, "shape"),
                                  (sizes, SIZES, "size"), (materials, MATERIALS, "material")):
        if len(values) == 0:
            raise ValueError(f"empty list of allowed {what}s")
        for v in values:
            _check(v, allowed, what)
    specs = [
        {
            "color": colors[int(gen.integers(len(colors)))],
            "shape": shapes[int(gen.integers(len(shapes)))],
            "size": sizes[int(gen.integers(len(sizes)))],
            "material": materials[int(gen.integers(len(materials)))],
        }
        for _ in range(int(n_objects))
    ]
    return make_scene(specs, gen, arena=arena)


def sample_scenes(
    n: int,
    n_objects: int | Sequence[int],
    seed: int,
    *,
    salience: bool = True,
    min_visible: float = 0.002,
    **kwargs,
) -> list[Scene]:
    """``n`` random scenes; ``n_objects`` is a count or a list of counts drawn uniformly.

    Scene ``i`` is generated from its own seed ``(seed, i)``, so the first ``m`` scenes of
    ``sample_scenes(n, k, seed)`` are the same for every ``n >= m`` and in every process.
    With ``salience`` (the default) each object's visible area is measured by the renderer
    (see :func:`labclip_lib.world.render.with_salience`), and a scene in which some object covers
    less than ``min_visible`` of the image (hidden behind another) is re-drawn from the seed
    ``(seed, i, attempt)``, as CLEVR re-draws scenes with occluded objects.
    Remaining keyword arguments go to :func:`sample_scene`.

    Used in chapter 1.
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    counts = [n_objects] if isinstance(n_objects, (int, np.integer)) else list(n_objects)
    if not counts:
        raise ValueError("empty list of object counts")
    seed = _seed_int(seed)

    def draw(i: int, attempt: int) -> Scene:
        key = [seed, i] if attempt == 0 else [seed, i, attempt]
        gen = np.random.default_rng(np.random.SeedSequence(key))
        k = counts[int(gen.integers(len(counts)))] if len(counts) > 1 else counts[0]
        return sample_scene(int(k), gen, **kwargs)

    return _draw_visible(int(n), draw, salience, min_visible)


def _draw_visible(n: int, draw, salience: bool, min_visible: float) -> list[Scene]:
    """Draw scenes ``draw(i, 0)``; re-draw (attempt 1, 2, ...) those with a hidden object."""
    scenes = [draw(i, 0) for i in range(n)]
    if not salience or not scenes:
        return scenes
    scenes = with_salience(scenes)
    todo = [i for i, s in enumerate(scenes) if min(o.salience for o in s.objects) < min_visible]
    for attempt in range(1, 100):
        if not todo:
            break
        redrawn = with_salience([draw(i, attempt) for i in todo])
        still = []
        for i, s in zip(todo, redrawn):
            scenes[i] = s
            if min(o.salience for o in s.objects) < min_visible:
                still.append(i)
        todo = still
    if todo:
        raise PlacementError(
            f"{len(todo)} scenes still have an object covering less than {min_visible} of the image "
            "after 100 re-draws; lower min_visible or use fewer objects"
        )
    return scenes


def _seed_int(seed: int) -> int:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def all_pair_combinations(
    colors: Sequence[str] = COLORS, shapes: Sequence[str] = SHAPES
) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Every unordered pair of distinct (colour, shape) objects: 276 for 8 colours x 3 shapes."""
    objs = [(c, s) for s in shapes for c in colors]
    return [(objs[i], objs[j]) for i in range(len(objs)) for j in range(i + 1, len(objs))]


def scenes_from_combinations(
    combinations: Sequence[Sequence[tuple[str, str]]],
    per_combination: int,
    seed: int,
    *,
    salience: bool = True,
    min_visible: float = 0.002,
    **kwargs,
) -> list[Scene]:
    """``per_combination`` randomly placed scenes for each combination of (colour, shape) pairs.

    Sizes and materials are random unless fixed through ``kwargs`` (see :func:`make_scene`).
    Scene ``j`` of combination ``i`` comes from the seed ``(seed, i, j)``; salience and
    visibility are handled as in :func:`sample_scenes`.
    """
    if not isinstance(per_combination, (int, np.integer)) or per_combination < 1:
        raise ValueError(f"per_combination must be a positive integer, got {per_combination!r}")
    if len(combinations) == 0:
        raise ValueError("empty list of combinations")
    seed = _seed_int(seed)
    per = int(per_combination)

    def draw(k: int, attempt: int) -> Scene:
        i, j = divmod(k, per)
        key = [seed, i, j] if attempt == 0 else [seed, i, j, attempt]
        return make_scene(list(combinations[i]), np.random.default_rng(np.random.SeedSequence(key)), **kwargs)

    return _draw_visible(len(combinations) * per, draw, salience, min_visible)

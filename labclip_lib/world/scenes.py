"""The scene world: CLEVR-like scenes as plain data.

A :class:`Scene` is a tuple of :class:`SceneObject` records (shape, colour, size, material,
position on the ground plane, rotation and, once measured by the renderer, its visible pixel
area as *salience*). Scenes are sampled with an explicit seed and never touch global random
state, so the same seed gives the same scenes in every process.

Vocabulary and colours follow CLEVR (``properties.json`` of clevr-dataset-gen): 3 shapes,
8 colours with CLEVR's RGB values, 2 sizes, 2 materials.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np

from ..runtime import rng as _rng

__all__ = [
    "SHAPES",
    "COLORS",
    "COLOR_RGB",
    "SIZES",
    "SIZE_RADIUS",
    "MATERIALS",
    "ARENA_HALF_WIDTH",
    "SceneObject",
    "Scene",
    "PlacementError",
    "make_scene",
]

SHAPES: tuple[str, ...] = ("cube", "sphere", "cylinder")
COLORS: tuple[str, ...] = ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow")
#: CLEVR's colour values (0-255 sRGB).
COLOR_RGB: dict[str, tuple[int, int, int]] = {
    "gray": (87, 87, 87),
    "red": (173, 35, 35),
    "blue": (42, 75, 215),
    "green": (29, 105, 20),
    "brown": (129, 74, 25),
    "purple": (129, 38, 192),
    "cyan": (41, 208, 208),
    "yellow": (255, 238, 51),
}
SIZES: tuple[str, ...] = ("small", "large")
#: CLEVR's object scale: a large sphere has radius 0.7, a small one 0.35 (scene units).
SIZE_RADIUS: dict[str, float] = {"small": 0.35, "large": 0.7}
MATERIALS: tuple[str, ...] = ("rubber", "metal")
#: Objects are placed in the square [-ARENA, ARENA]^2 of the ground plane (scene units).
ARENA_HALF_WIDTH: float = 3.0
#: Minimum gap between the footprints of two objects (scene units).
MIN_GAP: float = 0.15


def _check(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


def footprint_radius(shape: str, size: str) -> float:
    """Radius of the circle that contains the object's footprint on the ground.

    As in CLEVR, a cube of scale ``r`` has half-side ``r / sqrt(2)``, so every shape's
    footprint fits in a circle of radius ``r``.
    """
    _check(shape, SHAPES, "shape")
    return SIZE_RADIUS[_check(size, SIZES, "size")]


@dataclass(frozen=True)
class SceneObject:
    """One object of a scene.

    ``x, y`` is the centre of its footprint on the ground plane (scene units, camera looks
    along +y), ``rotation`` its rotation about the vertical axis in radians (only visible on
    cubes) and ``salience`` its visible area in pixels at the salience resolution (None until
    measured, see :func:`labclip_lib.world.render.with_salience`).
    """

    shape: str
    color: str
    size: str = "large"
    material: str = "rubber"
    x: float = 0.0
    y: float = 0.0
    rotation: float = 0.0
    salience: float | None = None

    def __post_init__(self) -> None:
        _check(self.shape, SHAPES, "shape")
        _check(self.color, COLORS, "colour")
        _check(self.size, SIZES, "size")
        _check(self.material, MATERIALS, "material")
        for name in ("x", "y", "rotation"):
            v = getattr(self, name)
            if not np.isfinite(v):
                raise ValueError(f"object {name} must be finite, got {v!r}")

    @property
    def radius(self) -> float:
        """Half the object's height (CLEVR's scale parameter)."""
        return SIZE_RADIUS[self.size]

    @property
    def footprint(self) -> float:
        return footprint_radius(self.shape, self.size)

    @property
    def noun_phrase(self) -> str:
        """``"red cube"``: colour and shape, the attributes captions talk about."""
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A scene: a non-empty tuple of objects that do not overlap on the ground plane."""

    objects: tuple[SceneObject, ...]

    def __post_init__(self) -> None:
        if len(self.objects) == 0:
            raise ValueError("a scene needs at least one object (got zero)")
        object.__setattr__(self, "objects", tuple(self.objects))
        for i, a in enumerate(self.objects):
            for b in self.objects[i + 1 :]:
                d = float(np.hypot(a.x - b.x, a.y - b.y))
                if d < a.footprint + b.footprint - 1e-9:
                    raise PlacementError(
                        f"objects {a.noun_phrase} at ({a.x:.2f}, {a.y:.2f}) and {b.noun_phrase} at "
                        f"({b.x:.2f}, {b.y:.2f}) overlap"
                    )

    def __len__(self) -> int:
        return len(self.objects)

    @property
    def combination(self) -> tuple[tuple[str, str], ...]:
        """The unordered multiset of (colour, shape) pairs, as a sorted tuple."""
        return tuple(sorted((o.color, o.shape) for o in self.objects))

    @property
    def bag_of_words(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What a bag-of-words model sees: the multiset of colours and of shapes, unbound."""
        return (
            tuple(sorted(o.color for o in self.objects)),
            tuple(sorted(o.shape for o in self.objects)),
        )

    @property
    def has_salience(self) -> bool:
        return all(o.salience is not None for o in self.objects)

    def to_dict(self) -> dict:
        """Plain-data description (JSON-serialisable)."""
        return {"objects": [o.__dict__.copy() for o in self.objects]}

    @classmethod
    def from_dict(cls, d: dict) -> "Scene":
        return cls(tuple(SceneObject(**o) for o in d["objects"]))

    def with_saliences(self, saliences: Iterable[float]) -> "Scene":
        sal = list(saliences)
        if len(sal) != len(self.objects):
            raise ValueError(f"got {len(sal)} saliences for {len(self.objects)} objects")
        return Scene(tuple(replace(o, salience=float(s)) for o, s in zip(self.objects, sal)))


class PlacementError(ValueError):
    """The requested objects cannot be placed on the ground plane without overlap."""


def _place(
    footprints: np.ndarray, gen: np.random.Generator, arena: float, max_tries: int
) -> np.ndarray:
    """Rejection-sample non-overlapping centres for the given footprint radii.

    Places objects largest first; restarts the whole scene when one object cannot be placed.
    Returns ``(K, 2)`` positions in the original order.
    """
    k = len(footprints)
    area_needed = float(np.sum(np.pi * (footprints + MIN_GAP / 2) ** 2))
    # Random sequential packing of discs saturates near 55% coverage: refuse early and clearly.
    if area_needed > 0.5 * (2 * arena) ** 2:
        raise PlacementError(
            f"cannot place {k} objects: their footprints need {area_needed:.1f} square units, "
            f"more than half of the {2 * arena:.0f}x{2 * arena:.0f} ground plane; "
            "use fewer or smaller objects or a larger arena"
        )
    order = np.argsort(-footprints, kind="stable")
    for _restart in range(50):
        pos = np.zeros((k, 2))
        ok = True
        for n, i in enumerate(order):
            lim = arena - footprints[i]
            cand = gen.uniform(-lim, lim, size=(max_tries, 2))
            if n:
                placed = order[:n]
                d = np.linalg.norm(cand[:, None, :] - pos[placed][None], axis=-1)
                free = np.all(d >= footprints[placed][None] + footprints[i] + MIN_GAP, axis=1)
                hits = np.flatnonzero(free)
                if hits.size == 0:
                    ok = False
                    break
                pos[i] = cand[hits[0]]
            else:
                pos[i] = cand[0]
        if ok:
            return pos
    raise PlacementError(
        f"could not place {k} objects without overlap after 50 restarts; "
        "use fewer or smaller objects or a larger arena"
    )


def make_scene(
    objects: Sequence[tuple[str, str] | dict | SceneObject],
    seed: int | np.random.Generator = 0,
    *,
    size: str | None = None,
    material: str | None = None,
    arena: float = ARENA_HALF_WIDTH,
) -> Scene:
    """Compose a scene from object specs and place them at random (seeded) positions.

    ``objects`` items are ``(colour, shape)`` pairs, dicts with any of
    ``shape, color, size, material`` or :class:`SceneObject` (whose position is replaced).
    Missing sizes/materials are drawn at random unless ``size``/``material`` fix them.

    >>> make_scene([("red", "cube"), ("blue", "sphere")], seed=1).combination
    (('blue', 'sphere'), ('red', 'cube'))

    Used in chapters 1, 2.
    """
    if len(objects) == 0:
        raise ValueError("a scene needs at least one object (got an empty list)")
    gen = _rng(seed)
    specs = []
    for item in objects:
        if isinstance(item, SceneObject):
            d = {"shape": item.shape, "color": item.color, "size": item.size, "material": item.material}
        elif isinstance(item, dict):
            d = dict(item)
        else:
            if len(item) != 2:
                raise ValueError(f"object spec {item!r} must be a (colour, shape) pair")
            d = {"color": item[0], "shape": item[1]}
        unknown = set(d) - {"shape", "color", "size", "material"}
        if unknown:
            raise ValueError(f"unknown object field(s) {sorted(unknown)}")
        if "shape" not in d or "color" not in d:
            raise ValueError(f"object spec {item!r} needs a shape and a colour")
        _check(d["shape"], SHAPES, "shape")
        _check(d["color"], COLORS, "colour")
        d.setdefault("size", size if size is not None else SIZES[int(gen.integers(len(SIZES)))])
        d.setdefault(
            "material", material if material is not None else MATERIALS[int(gen.integers(len(MATERIALS)))]
        )
        _check(d["size"], SIZES, "size")
        _check(d["material"], MATERIALS, "material")
        specs.append(d)
    fp = np.array([footprint_radius(d["shape"], d["size"]) for d in specs])
    pos = _place(fp, gen, arena, max_tries=200)
    rot = gen.uniform(0, np.pi / 2, size=len(specs))
    return Scene(
        tuple(
            SceneObject(x=float(p[0]), y=float(p[1]), rotation=float(r), **d)
            for d, p, r in zip(specs, pos, rot)
        )
    )

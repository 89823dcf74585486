"""A fast, deterministic CPU renderer for CLEVR-like scenes.

Analytic ray casting from a fixed perspective camera over a ground plane, vectorised over
every pixel of every object of a whole batch of scenes with torch (no Python loop over
pixels, objects or scenes). Shapes are spheres, vertical cylinders and cubes rotated about
the vertical axis. Shading: ambient + Lambert diffuse + Blinn-Phong specular; metal objects
get a darker diffuse term, a sharp white highlight and a sky/ground environment reflection,
rubber a soft broad highlight. Ground shadows are soft (each object casts the shadow of its
bounding sphere, with a penumbra that widens with distance).

The output is deterministic: the same scenes give the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

from .scenes import COLOR_RGB, COLORS, SHAPES, SIZE_RADIUS, Scene

__all__ = [
    "Camera",
    "DEFAULT_CAMERA",
    "MIN_RESOLUTION",
    "render",
    "object_id_map",
    "with_salience",
    "project",
]

MIN_RESOLUTION = 32

_SHAPE_CODE = {s: i for i, s in enumerate(SHAPES)}  # cube 0, sphere 1, cylinder 2
_COLOR_TABLE = torch.tensor([COLOR_RGB[c] for c in COLORS], dtype=torch.float32) / 255.0
_GROUND_RGB = torch.tensor([0.50, 0.50, 0.49])
_SKY_RGB = torch.tensor([0.72, 0.74, 0.78])


@dataclass(frozen=True)
class Camera:
    """A pinhole camera looking at ``target`` from ``position`` (scene units, z up)."""

    position: tuple[float, float, float] = (0.0, -8.5, 8.0)
    target: tuple[float, float, float] = (0.0, 0.0, 0.3)
    fov_degrees: float = 37.0
    light_direction: tuple[float, float, float] = (-0.45, -0.55, 0.70)  # towards the light


DEFAULT_CAMERA = Camera()


def _normalize(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


@lru_cache(maxsize=16)
def _rays(resolution: int, camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
    """Origin ``(3,)`` and unit ray directions ``(P, 3)``, P = resolution**2, row-major."""
    eye = torch.tensor(camera.position, dtype=torch.float32)
    fwd = _normalize(torch.tensor(camera.target, dtype=torch.float32) - eye)
    right = _normalize(torch.linalg.cross(fwd, torch.tensor([0.0, 0.0, 1.0])))
    up = torch.linalg.cross(right, fwd)
    half = math.tan(math.radians(camera.fov_degrees) / 2)
    c = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution * 2 - 1
    v, u = torch.meshgrid(c, c, indexing="ij")  # v: rows (down), u: columns (right)
    d = fwd + u.reshape(-1, 1) * half * right - v.reshape(-1, 1) * half * up
    return eye, _normalize(d)


@dataclass
class _Batch:
    """Objects of a batch of scenes flattened to one row per object (M rows)."""

    scene: torch.Tensor  # (M,) long: index of the scene
    slot: torch.Tensor  # (M,) long: index of the object within its scene
    shape: torch.Tensor  # (M,) long
    center: torch.Tensor  # (M, 3) centre of the bounding sphere / shape
    size: torch.Tensor  # (M,) CLEVR scale r
    cos: torch.Tensor  # (M,) rotation
    sin: torch.Tensor
    albedo: torch.Tensor  # (M, 3)
    metal: torch.Tensor  # (M,) bool
    n_scenes: int
    max_objects: int


def _flatten(scenes: Sequence[Scene]) -> _Batch:
    rows = [(i, j, o) for i, s in enumerate(scenes) for j, o in enumerate(s.objects)]
    shape = torch.tensor([_SHAPE_CODE[o.shape] for _, _, o in rows])
    r = torch.tensor([SIZE_RADIUS[o.size] for _, _, o in rows], dtype=torch.float32)
    z = torch.where(shape == _SHAPE_CODE["cube"], r / math.sqrt(2), r)
    xy = torch.tensor([(o.x, o.y) for _, _, o in rows], dtype=torch.float32)
    rot = torch.tensor([o.rotation for _, _, o in rows], dtype=torch.float32)
    return _Batch(
        scene=torch.tensor([i for i, _, _ in rows]),
        slot=torch.tensor([j for _, j, _ in rows]),
        shape=shape,
        center=torch.cat([xy, z[:, None]], dim=1),
        size=r,
        cos=torch.cos(rot),
        sin=torch.sin(rot),
        albedo=_COLOR_TABLE[torch.tensor([COLORS.index(o.color) for _, _, o in rows])],
        metal=torch.tensor([o.material == "metal" for _, _, o in rows]),
        n_scenes=len(scenes),
        max_objects=max(len(s) for s in scenes),
    )


def _hit_distances(eye: torch.Tensor, d: torch.Tensor, b: _Batch) -> torch.Tensor:
    """Ray parameter of the first hit of every ray with every object: ``(M, P)``, inf if none."""
    inf = torch.tensor(float("inf"))
    m, p = b.shape.numel(), d.shape[0]
    t = torch.full((m, p), float("inf"))
    oc = eye[None, :] - b.center  # (M, 3)

    idx = torch.nonzero(b.shape == _SHAPE_CODE["sphere"]).flatten()
    if idx.numel():
        r = b.size[idx]
        bb = oc[idx] @ d.T  # (m, P)
        c = (oc[idx] ** 2).sum(1) - r**2
        disc = bb**2 - c[:, None]
        ts = -bb - disc.clamp_min(0).sqrt()
        t[idx] = torch.where((disc >= 0) & (ts > 0), ts, inf)

    idx = torch.nonzero(b.shape == _SHAPE_CODE["cylinder"]).flatten()
    if idx.numel():
        r = b.size[idx][:, None]
        o = oc[idx]
        a = (d[:, :2] ** 2).sum(1)[None]  # (1, P)
        bb = o[:, :2] @ d[:, :2].T
        c = (o[:, :2] ** 2).sum(1)[:, None] - r**2
        disc = bb**2 - a * c
        ts = (-bb - disc.clamp_min(0).sqrt()) / a
        zs = o[:, 2:3] + ts * d[None, :, 2]  # height relative to the centre (centre at z = r)
        side = torch.where((disc >= 0) & (ts > 0) & (zs.abs() <= r), ts, inf)
        ttop = (r - o[:, 2:3]) / d[None, :, 2]  # top cap at relative height +r
        px = o[:, 0:1] + ttop * d[None, :, 0]
        py = o[:, 1:2] + ttop * d[None, :, 1]
        top = torch.where((ttop > 0) & (px**2 + py**2 <= r**2), ttop, inf)
        t[idx] = torch.minimum(side, top)

    idx = torch.nonzero(b.shape == _SHAPE_CODE["cube"]).flatten()
    if idx.numel():
        h = (b.size[idx] / math.sqrt(2))[:, None]
        cs, sn = b.cos[idx][:, None], b.sin[idx][:, None]
        o = oc[idx]
        # rotate rays into the cube's frame
        dx = cs * d[None, :, 0] + sn * d[None, :, 1]
        dy = -sn * d[None, :, 0] + cs * d[None, :, 1]
        ox = cs * o[:, 0:1] + sn * o[:, 1:2]
        oy = -sn * o[:, 0:1] + cs * o[:, 1:2]
        oz = o[:, 2:3]
        dz = d[None, :, 2].expand_as(dx)
        tn = torch.full_like(dx, -float("inf"))
        tf = torch.full_like(dx, float("inf"))
        for oo, dd in ((ox, dx), (oy, dy), (oz, dz)):
            inv = 1.0 / dd
            t1 = (-h - oo) * inv
            t2 = (h - oo) * inv
            tn = torch.maximum(tn, torch.minimum(t1, t2))
            tf = torch.minimum(tf, torch.maximum(t1, t2))
        t[idx] = torch.where((tn <= tf) & (tn > 0), tn, inf)
    return t


def _scatter(values: torch.Tensor, b: _Batch, fill: float) -> torch.Tensor:
    """``(M, P)`` per-object values to ``(N, K, P)`` with ``fill`` for missing objects."""
    out = torch.full((b.n_scenes, b.max_objects, values.shape[1]), fill, dtype=values.dtype)
    out[b.scene, b.slot] = values
    return out


def _normals(hit: torch.Tensor, obj: torch.Tensor, b: _Batch) -> torch.Tensor:
    """Surface normals ``(Q, 3)`` at hit points ``(Q, 3)`` on objects ``obj`` ``(Q,)`` (flat rows)."""
    rel = hit - b.center[obj]
    r = b.size[obj]
    shape = b.shape[obj]
    n = torch.zeros_like(rel)
    # sphere
    sph = _normalize(rel)
    # cylinder: top cap or side
    top = rel[:, 2] >= r - 1e-3 * r
    cyl = torch.where(top[:, None], torch.tensor([0.0, 0.0, 1.0]),
                      _normalize(torch.cat([rel[:, :2], torch.zeros_like(rel[:, :1])], 1)))
    # cube: the face whose local coordinate is largest relative to the half side
    cs, sn = b.cos[obj], b.sin[obj]
    lx = cs * rel[:, 0] + sn * rel[:, 1]
    ly = -sn * rel[:, 0] + cs * rel[:, 1]
    loc = torch.stack([lx, ly, rel[:, 2]], 1)
    face = loc.abs().argmax(1)
    sign = torch.sign(loc.gather(1, face[:, None])).squeeze(1)
    nl = torch.zeros_like(loc)
    nl[torch.arange(len(face)), face] = sign
    cube = torch.stack([cs * nl[:, 0] - sn * nl[:, 1], sn * nl[:, 0] + cs * nl[:, 1], nl[:, 2]], 1)
    n = torch.where((shape == _SHAPE_CODE["sphere"])[:, None], sph, n)
    n = torch.where((shape == _SHAPE_CODE["cylinder"])[:, None], cyl, n)
    n = torch.where((shape == _SHAPE_CODE["cube"])[:, None], cube, n)
    return n


def _ground_shadow(ground: torch.Tensor, light: torch.Tensor, b: _Batch) -> torch.Tensor:
    """Soft shadow factor in [0, 1] (1 = fully lit) for ground points ``(P, 3)``: ``(N, P)``."""
    v = b.center[:, None, :] - ground[None]  # (M, P, 3)
    s = v @ light  # distance along the light ray
    perp2 = (v**2).sum(-1) - s**2
    r = b.size[:, None] * torch.where(b.shape == _SHAPE_CODE["cube"], 0.95, 1.0)[:, None]
    pen = 0.25 * r + 0.06 * s.clamp_min(0)  # penumbra half-width
    dist = perp2.clamp_min(0).sqrt()
    x = ((r + pen - dist) / (2 * pen)).clamp(0, 1)
    occl = torch.where(s > 0, x * x * (3 - 2 * x), torch.zeros_like(x))  # smoothstep
    lit = _scatter(1 - 0.62 * occl, b, 1.0)  # (N, K, P)
    return lit.prod(1)


def _check_resolution(resolution: int) -> int:
    if not isinstance(resolution, (int, np.integer)) or resolution < MIN_RESOLUTION:
        raise ValueError(f"resolution must be an integer >= {MIN_RESOLUTION} px, got {resolution!r}")
    return int(resolution)


def _check_scenes(scenes: Sequence[Scene]) -> list[Scene]:
    if isinstance(scenes, Scene):
        scenes = [scenes]
    scenes = list(scenes)
    if not scenes:
        raise ValueError("empty list of scenes")
    for s in scenes:
        if not isinstance(s, Scene):
            raise TypeError(f"expected Scene objects, got {type(s).__name__}")
    return scenes


def _chunks(scenes: list[Scene], resolution: int, budget: int) -> list[list[Scene]]:
    per = max(1, budget // (resolution * resolution * max(len(s) for s in scenes)))
    return [scenes[i : i + per] for i in range(0, len(scenes), per)]


def _render_chunk(scenes: list[Scene], resolution: int, camera: Camera, shadows: bool,
                  ids_only: bool) -> torch.Tensor:
    eye, d = _rays(resolution, camera)
    b = _flatten(scenes)
    t = _scatter(_hit_distances(eye, d, b), b, float("inf"))  # (N, K, P)
    tmin, slot = t.min(1)  # (N, P)
    hit = torch.isfinite(tmin)
    if ids_only:
        return torch.where(hit, slot, torch.full_like(slot, -1))

    light = _normalize(torch.tensor(camera.light_direction, dtype=torch.float32))
    n_sc, p = tmin.shape
    # ground plane z = 0 (rays going up see the sky)
    tg = -eye[2] / d[:, 2]
    ground_pts = eye + tg.clamp_min(0)[:, None] * d  # (P, 3)
    dist = ground_pts[:, :2].norm(dim=1)
    ground = _GROUND_RGB[None] * (1.02 - 0.035 * dist)[:, None]  # gentle falloff
    ground = torch.where((d[:, 2] < 0)[:, None], ground, _SKY_RGB[None])
    img = ground[None].expand(n_sc, p, 3).clone()
    if shadows:
        img = img * _ground_shadow(ground_pts, light, b)[..., None]

    # shade the object pixels
    sc, px = torch.nonzero(hit, as_tuple=True)
    if sc.numel():
        lookup = torch.full((n_sc, b.max_objects), -1, dtype=torch.long)
        lookup[b.scene, b.slot] = torch.arange(b.scene.numel())
        obj = lookup[sc, slot[sc, px]]
        ray = d[px]
        pts = eye + tmin[sc, px][:, None] * ray
        nrm = _normals(pts, obj, b)
        view = -ray
        ndl = (nrm * light).sum(1).clamp_min(0)
        half_v = _normalize(light + view)
        ndh = (nrm * half_v).sum(1).clamp_min(0)
        alb = b.albedo[obj]
        metal = b.metal[obj][:, None]
        refl = ray - 2 * (ray * nrm).sum(1, keepdim=True) * nrm
        env = torch.where(refl[:, 2:3] > 0, _SKY_RGB[None] * (0.6 + 0.4 * refl[:, 2:3]), _GROUND_RGB[None] * 0.6)
        rubber = alb * (0.38 + 0.72 * ndl[:, None]) + 0.10 * ndh[:, None] ** 12
        shiny = (alb * (0.22 + 0.42 * ndl[:, None]) + 0.30 * alb * env + 0.10 * env
                 + 0.95 * ndh[:, None] ** 80 + 0.25 * alb * ndh[:, None] ** 10)
        img[sc, px] = torch.where(metal, shiny, rubber)
    return img


def render(
    scenes: Scene | Sequence[Scene],
    resolution: int = 64,
    *,
    shadows: bool = True,
    supersample: int = 1,
    camera: Camera = DEFAULT_CAMERA,
    batch_budget: int = 1_000_000,
) -> np.ndarray:
    """Render scenes to images.

    Args:
        scenes: one :class:`Scene` or a sequence of them.
        resolution: image side in pixels (square images), at least ``MIN_RESOLUTION`` (32).
        shadows: soft ground shadows.
        supersample: render at ``supersample`` times the resolution and average down
            (anti-aliasing; costs ``supersample**2`` times more).
        camera: the camera and light.
        batch_budget: work per chunk (pixels x objects), bounding memory.

    Returns:
        ``uint8`` array of shape ``(N, resolution, resolution, 3)``.

    Used in chapters 1, 3.
    """
    resolution = _check_resolution(resolution)
    if not isinstance(supersample, (int, np.integer)) or supersample < 1:
        raise ValueError(f"supersample must be a positive integer, got {supersample!r}")
    scenes = _check_scenes(scenes)
    res = resolution * int(supersample)
    out = np.empty((len(scenes), resolution, resolution, 3), dtype=np.uint8)
    start = 0
    with torch.inference_mode():
        for chunk in _chunks(scenes, res, batch_budget):
            img = _render_chunk(chunk, res, camera, shadows, ids_only=False).reshape(len(chunk), res, res, 3)
            if supersample > 1:
                img = torch.nn.functional.avg_pool2d(img.permute(0, 3, 1, 2), supersample).permute(0, 2, 3, 1)
            out[start : start + len(chunk)] = (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
            start += len(chunk)
    return out


def object_id_map(
    scenes: Scene | Sequence[Scene], resolution: int = 64, *, camera: Camera = DEFAULT_CAMERA
) -> np.ndarray:
    """Which object each pixel shows: ``int16`` array ``(N, res, res)``, -1 for the ground."""
    resolution = _check_resolution(resolution)
    scenes = _check_scenes(scenes)
    outs = []
    with torch.inference_mode():
        for chunk in _chunks(scenes, resolution, 1_000_000):
            ids = _render_chunk(chunk, resolution, camera, False, ids_only=True)
            outs.append(ids.reshape(len(chunk), resolution, resolution).to(torch.int16).numpy())
    return np.concatenate(outs)


def with_salience(
    scenes: Sequence[Scene], resolution: int = 64, *, camera: Camera = DEFAULT_CAMERA
) -> list[Scene]:
    """Return copies of ``scenes`` whose objects carry their salience.

    Salience = the object's visible (unoccluded) area as a fraction of the image, measured
    at ``resolution``.
    """
    scenes = _check_scenes(scenes)
    ids = object_id_map(scenes, resolution, camera=camera)
    out = []
    for s, m in zip(scenes, ids):
        counts = np.bincount(m.ravel() + 1, minlength=len(s) + 1)[1:]
        out.append(s.with_saliences(counts / m.size))
    return out


def project(scene: Scene, camera: Camera = DEFAULT_CAMERA) -> np.ndarray:
    """Image coordinates in [-1, 1] of each object's centre: ``(K, 2)`` as (column, row)."""
    eye = np.array(camera.position, dtype=np.float64)
    fwd = np.array(camera.target, dtype=np.float64) - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    half = math.tan(math.radians(camera.fov_degrees) / 2)
    out = []
    for o in scene.objects:
        z = SIZE_RADIUS[o.size] / (math.sqrt(2) if o.shape == "cube" else 1.0)
        v = np.array([o.x, o.y, z]) - eye
        depth = v @ fwd
        out.append(((v @ right) / depth / half, -(v @ up) / depth / half))
    return np.array(out)

"""Captions for scenes, paper 2's caption knobs, and attribute-swap hard negatives.

A :class:`Caption` keeps its structure (the mentioned objects, each with its colour or
``None`` when the colour is not stated) beside its text, so negatives and analyses never
parse strings.

Two styles:

* ``"template"`` — the LABCLIP authors' CLEVR template: ``"red cube and blue sphere"``
  (``"red cube and blue sphere and green cylinder"`` for more objects);
* ``"natural"`` — ``"a red cube and a blue sphere"``, ``"a red cube, a blue sphere and a
  cylinder"``.

Four knobs for paper 2's data properties, three of them numbers in [0, 1]:

* ``completeness`` — expected share of the scene's objects that the caption mentions. The
  number mentioned is ``completeness * n`` rounded stochastically (so its mean is exact),
  but never fewer than one object: a caption always says something.
* ``attribute_density`` — each mentioned object has its colour stated independently with
  this probability.
* ``saliency_bias`` — probability that an incomplete caption mentions the *most salient*
  objects (largest visible area), listed most salient first, instead of a random subset in
  the order given by ``order``.

* ``attributes`` — how many attributes each mentioned object has stated, 0 to 3: 0 none
  (``"cube and sphere"``), 1 its colour (today's captions, subject to ``attribute_density``),
  2 its colour and its size *or* material (one of the two at random), 3 all three, in CLEVR's
  order (``"large red metal cube"``). Size and material are never swapped in negatives: hard
  negatives and the evaluation stay on colour binding.

``order`` is ``"random"``, ``"left_to_right"`` (by image column) or ``"salience"``.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..runtime import rng as _rng
from .render import project, with_salience
from .scenes import COLORS, MATERIALS, SIZES, Scene

__all__ = [
    "STYLES",
    "ORDERS",
    "MAX_ATTRIBUTES",
    "ATTRIBUTE_WORDS",
    "Mention",
    "Caption",
    "CaptionSpec",
    "caption_text",
    "describe",
    "describe_all",
    "swap_negative",
    "swap_negatives",
    "single_object_pairs",
    "caption_statistics",
]

STYLES = ("template", "natural")
ORDERS = ("random", "left_to_right", "salience")
#: the most attributes a caption can state per object (colour, size, material)
MAX_ATTRIBUTES = 3
#: the words of the attributes besides colour (size and material), in caption order
ATTRIBUTE_WORDS: tuple[str, ...] = (*SIZES, *MATERIALS)

#: ``(colour or None, shape)``
Mention = tuple[str | None, str]


@dataclass(frozen=True)
class Caption:
    """A caption: its text, the objects it mentions (in order), its style and, per mention,
    the size and material words it states besides the colour (``extras``; empty when none)."""

    text: str
    mentions: tuple[Mention, ...]
    style: str = "template"
    extras: tuple[tuple[str, ...], ...] = ()

    def __str__(self) -> str:
        return self.text

    @property
    def bound_pairs(self) -> tuple[tuple[str, str], ...]:
        """The (colour, shape) pairs the caption states, sorted (its binding content)."""
        return tuple(sorted((c, s) for c, s in self.mentions if c is not None))

    @property
    def n_colored(self) -> int:
        return sum(c is not None for c, _ in self.mentions)

    @property
    def n_attributes(self) -> int:
        """Attributes stated over all mentions (colours plus size and material words)."""
        return self.n_colored + sum(len(e) for e in self.extras)


@dataclass(frozen=True)
class CaptionSpec:
    """One setting of the caption generator (defaults: the authors' complete template). Used in chapter 1."""

    style: str = "template"
    order: str = "random"
    completeness: float = 1.0
    attribute_density: float = 1.0
    saliency_bias: float = 0.0
    attributes: int = 1

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown caption style {self.style!r}; expected one of {', '.join(STYLES)}")
        if self.order not in ORDERS:
            raise ValueError(f"unknown caption order {self.order!r}; expected one of {', '.join(ORDERS)}")
        for name in ("completeness", "attribute_density", "saliency_bias"):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.floating)) or not (0.0 <= float(v) <= 1.0):
                raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
        a = self.attributes
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not 0 <= a <= MAX_ATTRIBUTES:
            raise ValueError(f"attributes (per object) must be an integer from 0 to {MAX_ATTRIBUTES}, got {a!r}")


def _phrase(color: str | None, shape: str, style: str, extras: Sequence[str] = ()) -> str:
    size = [w for w in extras if w in SIZES]
    rest = [w for w in extras if w not in SIZES]
    words = " ".join([*size, *([color] if color else []), *rest, shape])
    if style == "natural":
        return ("an " if words[0] in "aeiou" else "a ") + words
    return words


def caption_text(mentions: Sequence[Mention], style: str = "template",
                 extras: Sequence[Sequence[str]] = ()) -> str:
    """Text for a list of mentions, e.g. ``[("red", "cube"), (None, "sphere")]``; ``extras``
    (optional, one tuple per mention) adds size and material words: ``"large red metal cube"``."""
    if len(mentions) == 0:
        raise ValueError("a caption needs at least one mentioned object (empty list)")
    if style not in STYLES:
        raise ValueError(f"unknown caption style {style!r}; expected one of {', '.join(STYLES)}")
    if extras and len(extras) != len(mentions):
        raise ValueError(f"got {len(extras)} attribute lists for {len(mentions)} mentions")
    bad = [w for e in extras for w in e if w not in ATTRIBUTE_WORDS]
    if bad:
        raise ValueError(f"unknown attribute word(s) {bad}; expected sizes or materials: {', '.join(ATTRIBUTE_WORDS)}")
    parts = [_phrase(c, s, style, extras[i] if extras else ()) for i, (c, s) in enumerate(mentions)]
    if style == "template" or len(parts) <= 2:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _salience(scene: Scene) -> np.ndarray:
    if not scene.has_salience:
        scene = with_salience([scene])[0]
    return np.array([o.salience for o in scene.objects], dtype=float)


def describe(scene: Scene, spec: CaptionSpec | None = None, seed: int | np.random.Generator = 0,
             **knobs) -> Caption:
    """Caption one scene under ``spec`` (or keyword knobs, see :class:`CaptionSpec`). Used in chapter 1."""
    if spec is None:
        spec = CaptionSpec(**knobs)
    elif knobs:
        raise TypeError("pass either a CaptionSpec or keyword knobs, not both")
    gen = _rng(seed)
    n = len(scene)
    k = int(np.floor(spec.completeness * n + gen.random()))
    k = min(max(k, 1), n)
    if k < n and gen.random() < spec.saliency_bias:
        sal = _salience(scene)
        chosen = list(np.argsort(-sal, kind="stable")[:k])
    else:
        chosen = sorted(gen.choice(n, size=k, replace=False).tolist()) if k < n else list(range(n))
        if spec.order == "random":
            chosen = [chosen[i] for i in gen.permutation(k)]
        elif spec.order == "left_to_right":
            cols = project(scene)[:, 0]
            chosen = sorted(chosen, key=lambda i: (cols[i], i))
        else:
            sal = _salience(scene)
            chosen = sorted(chosen, key=lambda i: (-sal[i], i))
    colored = (gen.random(k) < spec.attribute_density) & (spec.attributes > 0)
    mentions = tuple(
        (scene.objects[i].color if c else None, scene.objects[i].shape) for i, c in zip(chosen, colored)
    )
    extras: tuple[tuple[str, ...], ...] = ()
    if spec.attributes >= 2:
        # size and/or material besides the colour; at 2 one of the two, drawn per object
        both = spec.attributes == MAX_ATTRIBUTES
        pick = np.ones(k, bool) if both else gen.random(k) < 0.5  # True: size
        extras = tuple(
            ((o.size, o.material) if both else (o.size,) if p else (o.material,))
            for o, p in zip((scene.objects[i] for i in chosen), pick)
        )
    return Caption(caption_text(mentions, spec.style, extras), mentions, spec.style, extras)


def describe_all(scenes: Sequence[Scene], spec: CaptionSpec | None = None, seed: int = 0,
                 **knobs) -> list[Caption]:
    """Caption every scene; caption ``i`` uses its own seed ``(seed, i)`` (prefix-stable). Used in chapter 1."""
    if spec is None:
        spec = CaptionSpec(**knobs)
    elif knobs:
        raise TypeError("pass either a CaptionSpec or keyword knobs, not both")
    if len(scenes) == 0:
        raise ValueError("empty list of scenes")
    if isinstance(seed, np.random.Generator) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if spec.saliency_bias > 0 or spec.order == "salience":
        missing = [i for i, s in enumerate(scenes) if not s.has_salience]
        if missing:
            scenes = list(scenes)
            for i, s in zip(missing, with_salience([scenes[i] for i in missing])):
                scenes[i] = s
    return [
        describe(s, spec, np.random.default_rng(np.random.SeedSequence([int(seed), i])))
        for i, s in enumerate(scenes)
    ]


def _valid(new: list[Mention], caption: Caption, scene: Scene | None) -> bool:
    bound = Counter((c, s) for c, s in new if c is not None)
    if bound == Counter(caption.bound_pairs):
        return False  # same objects, only reordered: not a negative
    if scene is not None:
        have = Counter(scene.combination)
        if all(have[p] >= m for p, m in bound.items()):
            return False  # the "negative" is also true of the scene
    return True


@functools.lru_cache(maxsize=8)
def _derangements(m: int) -> tuple[tuple[int, ...], ...]:
    return tuple(p for p in itertools.permutations(range(m)) if all(p[i] != i for i in range(m)))


def swap_negative(caption: Caption, seed: int | np.random.Generator = 0,
                  scene: Scene | None = None) -> Caption | None:
    """The attribute-swap hard negative of ``caption``, or ``None`` if there is none.

    The colours stated in the caption are permuted among the coloured mentions by a
    derangement (for two objects: ``"red cube and blue sphere"`` -> ``"blue cube and red
    sphere"``); shapes and word order stay. A permutation is accepted only if the resulting
    multiset of (colour, shape) pairs differs from the caption's — so ``"red cube and red
    sphere"`` (same colour) and ``"red cube and blue cube"`` (same shape) have **no** negative
    and ``None`` is returned; such items are excluded from binding metrics. With ``scene``,
    a permutation whose pairs all occur in the scene (possible for incomplete captions) is
    rejected too, so the negative is false of the scene.

    Up to 5 coloured mentions every derangement is enumerated and a valid one is chosen
    uniformly; beyond that derangements are sampled (up to 500 tries).

    Used in chapter 1.
    """
    gen = _rng(seed)
    idx = [i for i, (c, _) in enumerate(caption.mentions) if c is not None]
    m = len(idx)
    if m < 2:
        return None
    colors = [caption.mentions[i][0] for i in idx]

    def build(perm: Sequence[int]) -> list[Mention]:
        new = list(caption.mentions)
        for dst, src in zip(idx, perm):
            new[dst] = (colors[src], caption.mentions[dst][1])
        return new

    if m <= 5:
        # every derangement, tried in a random order: the first valid one is uniform among them
        options = _derangements(m)
        for k in gen.permutation(len(options)):
            if _valid(build(options[k]), caption, scene):
                perm = options[k]
                break
        else:
            return None
    else:
        for _ in range(500):
            p = gen.permutation(m)
            if np.all(p != np.arange(m)) and _valid(build(p), caption, scene):
                perm = p
                break
        else:
            return None
    new = tuple(build(perm))
    return Caption(caption_text(new, caption.style, caption.extras), new, caption.style, caption.extras)


def swap_negatives(captions: Sequence[Caption], seed: int = 0,
                   scenes: Sequence[Scene] | None = None) -> list[Caption | None]:
    """:func:`swap_negative` for each caption (seed ``(seed, i)``; ``None`` where impossible). Used in chapter 1."""
    if scenes is not None and len(scenes) != len(captions):
        raise ValueError(f"got {len(captions)} captions but {len(scenes)} scenes")
    return [
        swap_negative(c, np.random.default_rng(np.random.SeedSequence([int(seed), i])),
                      None if scenes is None else scenes[i])
        for i, c in enumerate(captions)
    ]


#: the colours a :func:`single_object_pairs` negative takes: another object's (``"present"``, a
#: binding test) or one the scene lacks (``"absent"``, a test of colour recognition)
SINGLE_OBJECT_NEGATIVES = ("present", "absent")


def single_object_pairs(scenes: Sequence[Scene], negative: str = "present", style: str = "template",
                        seed: int = 0) -> list[tuple[int, Caption, Caption]]:
    """One-object captions of every object of ``scenes`` and a negative with another colour:
    ``(scene index, "red cube", "blue cube")`` triples. With ``negative="present"`` the colour
    is another object's of the same scene (drawn with seed ``(seed, i)``), so both captions'
    words are in the image and only binding tells them apart; with ``"absent"`` it is a colour
    no object of the scene has (colour recognition). An object gets no pair when no colour
    qualifies or when the negative is true of the scene (another object of that colour and
    shape)."""
    if negative not in SINGLE_OBJECT_NEGATIVES:
        raise ValueError(f"unknown negative {negative!r}; expected one of {', '.join(SINGLE_OBJECT_NEGATIVES)}")
    if style not in STYLES:
        raise ValueError(f"unknown caption style {style!r}; expected one of {', '.join(STYLES)}")
    if len(scenes) == 0:
        raise ValueError("empty list of scenes")
    out = []
    for i, scene in enumerate(scenes):
        gen = np.random.default_rng(np.random.SeedSequence([int(seed), i]))
        pairs = set(scene.combination)
        present = sorted({o.color for o in scene.objects})
        for o in scene.objects:
            pool = [c for c in present if c != o.color] if negative == "present" else [
                c for c in COLORS if c not in present]
            pool = [c for c in pool if (c, o.shape) not in pairs]
            if not pool:
                continue
            wrong = pool[int(gen.integers(len(pool)))]
            out.append((i, *(Caption(caption_text([(c, o.shape)], style), ((c, o.shape),), style)
                             for c in (o.color, wrong))))
    return out


def caption_statistics(captions: Sequence[Caption], scenes: Sequence[Scene]) -> dict[str, float]:
    """Measured knob values of a captioned data set.

    Returns ``completeness`` (mean share of each scene's objects mentioned),
    ``attribute_density`` (share of mentions with a colour), ``attributes_per_object`` (mean
    number of attributes stated per mention: colour, size, material), ``most_salient_share`` (among
    incomplete captions, the share naming exactly the most salient objects, most salient
    first), ``no_negative`` (share of captions without a valid swap negative, given the
    scene) and ``incomplete`` (share of captions that leave an object out).

    Used in chapter 1.
    """
    if len(captions) == 0:
        raise ValueError("empty list of captions")
    if len(captions) != len(scenes):
        raise ValueError(f"got {len(captions)} captions but {len(scenes)} scenes")
    mentioned = [len(c.mentions) / len(s) for c, s in zip(captions, scenes)]
    n_mentions = sum(len(c.mentions) for c in captions)
    incomplete = [(c, s) for c, s in zip(captions, scenes) if len(c.mentions) < len(s)]
    top = 0
    for c, s in incomplete:
        sal = _salience(s)
        order = np.argsort(-sal, kind="stable")[: len(c.mentions)]
        top += [m[1] for m in c.mentions] == [s.objects[i].shape for i in order]
    negs = swap_negatives(captions, seed=0, scenes=scenes)
    return {
        "completeness": float(np.mean(mentioned)),
        "attribute_density": sum(c.n_colored for c in captions) / n_mentions,
        "attributes_per_object": sum(c.n_attributes for c in captions) / n_mentions,
        "most_salient_share": top / len(incomplete) if incomplete else float("nan"),
        "incomplete": len(incomplete) / len(captions),
        "no_negative": sum(n is None for n in negs) / len(captions),
    }

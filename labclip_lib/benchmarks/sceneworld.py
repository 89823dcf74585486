"""Scene-world versions of the real benchmarks, on CPU: the same dataset types and the same metric
code (:mod:`.evaluate`, :mod:`.metrics`), built from our scenes and structured captions.

* :func:`sugarcrepe_style` — SugarCrepe's hard negatives from a :class:`~labclip_lib.world.Caption`'s
  mentions: ``replace_att`` (one stated colour replaced), ``replace_obj`` (one shape replaced),
  ``swap_att`` (the stated colours permuted: :func:`~labclip_lib.world.swap_negative`),
  ``add_att`` (a colour added to a mention without one), ``add_obj`` (an absent object added).
  Every negative is checked to be false of its scene (no stated colour-shape pair of the
  negative that the caption does not state is in the scene).
* :func:`order_style` — ARO's order perturbations of our captions (nouns = shapes, adjectives =
  colours, by a :class:`~labclip_lib.benchmarks.text.LexiconTagger`).
* :func:`retrieval_set` — image<->text retrieval over scenes, one caption per image.
* :func:`single_object_classes` — zero-shot classification of one-object scenes by colour,
  shape, or colour-shape.

Pass held-out scenes (e.g. the test split of the organisms' data) to measure held-out scenes.
SugarCrepe's pattern for a bag-of-words model: replace and add are easy (the negative has a word
the image lacks), swap is at chance (the same words).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..world.captions import Caption, CaptionSpec, caption_text, describe_all, swap_negative
from ..world.scenes import COLORS, MATERIALS, SHAPES, SIZES, Scene
from ..world.scenesets import rendered_scenes
from .aro import ChoiceDataset, order_dataset
from .coco import RetrievalDataset
from .evaluate import evaluate_choice, evaluate_retrieval, evaluate_sugarcrepe, evaluate_zeroshot
from .text import LexiconTagger
from .zeroshot import ClassificationDataset

__all__ = [
    "SCENE_NEGATIVES",
    "SCENE_CATEGORIES",
    "SceneBenchmarks",
    "scene_tagger",
    "sugarcrepe_style",
    "order_style",
    "retrieval_set",
    "single_object_classes",
    "scene_benchmarks",
    "evaluate_scene_benchmarks",
]

SCENE_NEGATIVES = ("replace_att", "replace_obj", "swap_att", "add_att", "add_obj")
#: SugarCrepe's categories over the scene-world kinds (no relations, no object swap: our captions
#: have neither); a category is scored over the kinds a suite has
SCENE_CATEGORIES = {"REPLACE": ("replace_obj", "replace_att"), "SWAP": ("swap_att",), "ADD": ("add_obj", "add_att")}
#: prompts for the single-object classes (our captions' language has no "photo")
SCENE_TEMPLATES = ("{}", "a {}")


def scene_tagger() -> LexiconTagger:
    """Shapes are nouns; colours, sizes and materials adjectives."""
    return LexiconTagger(SHAPES, (*COLORS, *SIZES, *MATERIALS))


def _false_of(mentions: Sequence[tuple[str | None, str]], caption: Caption, scene: Scene) -> bool:
    """Is the caption ``mentions`` false of ``scene``? Some stated pair it adds is absent, or some
    shape is mentioned more often than the scene has it."""
    have = Counter(scene.combination)
    new = Counter((c, s) for c, s in mentions if c is not None) - Counter(caption.bound_pairs)
    if any(have[p] < m for p, m in new.items()):
        return True
    shapes = Counter(s for _, s in mentions)
    scene_shapes = Counter(o.shape for o in scene.objects)
    return any(scene_shapes[s] < m for s, m in shapes.items())


def _negative(kind: str, caption: Caption, scene: Scene, gen: np.random.Generator) -> Caption | None:
    ments = list(caption.mentions)
    options: list[list[tuple[str | None, str]]] = []
    if kind == "swap_att":
        return swap_negative(caption, gen, scene)
    for k, (c, s) in enumerate(ments):
        if kind == "replace_att" and c is not None:
            options += [ments[:k] + [(c2, s)] + ments[k + 1 :] for c2 in COLORS if c2 != c]
        elif kind == "replace_obj":
            options += [ments[:k] + [(c, s2)] + ments[k + 1 :] for s2 in SHAPES if s2 != s]
        elif kind == "add_att" and c is None:
            options += [ments[:k] + [(c2, s)] + ments[k + 1 :] for c2 in COLORS]
    if kind == "add_obj":
        options = [ments + [(c2, s2)] for c2 in COLORS for s2 in SHAPES]
    valid = [m for m in options if _false_of(m, caption, scene)]
    if not valid:
        return None
    new = tuple(valid[int(gen.integers(len(valid)))])
    extras = tuple(getattr(caption, "extras", ()))  # size / material words, kept on their mentions
    if not extras:
        return Caption(caption_text(new, caption.style), new, caption.style)
    extras += ((),) * (len(new) - len(extras))  # an added object states none
    return Caption(caption_text(new, caption.style, extras), new, caption.style, extras)


def sugarcrepe_style(
    images, scenes: Sequence[Scene], captions: Sequence[Caption], seed: int = 0, kinds: Sequence[str] = SCENE_NEGATIVES
) -> dict[str, ChoiceDataset]:
    """``{kind: ChoiceDataset}`` with options ``[caption, negative]`` for every scene that has a
    negative of that kind (seed ``(seed, kind index, scene)``). ``images``: uint8 ``(N, H, W, 3)``."""
    if not (len(images) == len(scenes) == len(captions)) or len(scenes) == 0:
        raise ValueError(
            f"need as many (>0) images, scenes and captions; got {len(images)}, {len(scenes)}, {len(captions)}"
        )
    bad = [k for k in kinds if k not in SCENE_NEGATIVES]
    if bad:
        raise ValueError(f"unknown negative kinds {bad}; expected some of {SCENE_NEGATIVES}")
    out = {}
    for ki, kind in enumerate(kinds):
        keep, opts = [], []
        for i, (cap, sc) in enumerate(zip(captions, scenes)):
            neg = _negative(kind, cap, sc, np.random.default_rng(np.random.SeedSequence([int(seed), ki, i])))
            if neg is not None:
                keep.append(i)
                opts.append([cap.text, neg.text])
        if keep:
            out[kind] = ChoiceDataset(
                f"scene {kind}",
                images[torch.as_tensor(keep)] if isinstance(images, torch.Tensor) else [images[i] for i in keep],
                opts,
                [0] * len(keep),
                info={"scenes": keep},
            )
    return out


def order_style(images, captions: Sequence[Caption], seed: int = 0) -> ChoiceDataset:
    """ARO-style order items of our captions: ``[caption, 4 perturbations]``, true index 0, all
    written as tokens joined by spaces (``"a red cube , a blue sphere"``), so only the order differs."""
    texts = [c.text for c in captions]
    return order_dataset(
        "scene order", images, texts, list(range(len(texts))), scene_tagger(), seed, max_words=None, same_tokens=True
    )


def retrieval_set(images, captions: Sequence[Caption], name: str = "scene retrieval") -> RetrievalDataset:
    """Image<->text retrieval over scenes with one caption each."""
    return RetrievalDataset(name, images, [c.text for c in captions], list(range(len(captions))))


def single_object_classes(
    images, scenes: Sequence[Scene], kind: str = "colour-shape", templates: Sequence[str] = SCENE_TEMPLATES
) -> ClassificationDataset:
    """Zero-shot classes of one-object scenes: ``"colour"`` (8), ``"shape"`` (3) or
    ``"colour-shape"`` (24 classes ``"<colour> <shape>"``)."""
    if any(len(s) != 1 for s in scenes):
        raise ValueError("single-object classification needs scenes with exactly one object")
    objs = [s.objects[0] for s in scenes]
    if kind == "colour":
        names, labels = list(COLORS), [COLORS.index(o.color) for o in objs]
    elif kind == "shape":
        names, labels = list(SHAPES), [SHAPES.index(o.shape) for o in objs]
    elif kind == "colour-shape":
        names = [f"{c} {s}" for c in COLORS for s in SHAPES]
        labels = [names.index(f"{o.color} {o.shape}") for o in objs]
    else:
        raise ValueError(f"unknown kind {kind!r}; expected 'colour', 'shape' or 'colour-shape'")
    return ClassificationDataset(f"scene {kind}", images, labels, names, tuple(templates))


def _one_per_combination(images, scenes: Sequence[Scene], captions: Sequence[Caption], distinct: bool):
    if not distinct:
        return images, captions
    first: dict = {}
    for i, sc in enumerate(scenes):
        first.setdefault(sc.combination, i)
    keep = sorted(first.values())
    picked = images[torch.as_tensor(keep)] if isinstance(images, torch.Tensor) else [images[i] for i in keep]
    return picked, [captions[i] for i in keep]


@dataclass
class SceneBenchmarks:
    """Every scene-world benchmark on one set of scenes."""

    sugarcrepe: dict[str, ChoiceDataset]
    order: ChoiceDataset
    retrieval: RetrievalDataset
    classes: dict[str, ClassificationDataset]


def scene_benchmarks(
    resolution: int,
    n_scenes: int = 300,
    n_objects: int | Sequence[int] = 2,
    seed: int = 0,
    spec: CaptionSpec | None = None,
    single_object_scenes: int = 240,
    scenes: Sequence[Scene] | None = None,
    images=None,
    sizes: Sequence[str] = SIZES,
    retrieval_per_combination: bool = False,
) -> SceneBenchmarks:
    """Build every scene-world benchmark: fresh scenes (``n_scenes`` with ``n_objects``, seeded,
    rendered at ``resolution`` through the scene cache) unless ``scenes`` and ``images`` (e.g. a
    held-out test split) are given; captions by ``spec`` (default: complete natural captions);
    plus ``single_object_scenes`` one-object scenes for classification. ``sizes``: the object
    sizes of the scenes drawn here (the organisms see only ``("large",)``: pass their
    ``OrganismConfig.sizes``). ``retrieval_per_combination``: retrieve among one scene per
    colour-shape combination (the first), so that no two images share their caption's content
    (held-out splits repeat each combination many times, which makes R@1 about 1 / repeats)."""
    if (scenes is None) != (images is None):
        raise ValueError("pass both scenes and images, or neither")
    if scenes is None:
        scenes, images = rendered_scenes(n_scenes, n_objects, seed, resolution, sizes=tuple(sizes))
    spec = spec or CaptionSpec(style="natural")
    caps = describe_all(scenes, spec, seed=seed)
    singles, single_images = rendered_scenes(single_object_scenes, 1, seed + 1, resolution, sizes=tuple(sizes))
    return SceneBenchmarks(
        sugarcrepe_style(images, scenes, caps, seed),
        order_style(images, caps, seed),
        retrieval_set(*_one_per_combination(images, scenes, caps, retrieval_per_combination)),
        {k: single_object_classes(single_images, singles, k) for k in ("colour", "shape", "colour-shape")},
    )


def evaluate_scene_benchmarks(model, suite: SceneBenchmarks) -> list[dict]:
    """Rows of named numbers, one per benchmark (``"benchmark"`` names it), by the real
    benchmarks' evaluate functions (SugarCrepe's categories over the kinds present,
    :data:`SCENE_CATEGORIES`)."""
    categories = {c: tuple(k for k in kinds if k in suite.sugarcrepe) for c, kinds in SCENE_CATEGORIES.items()}
    categories = {c: kinds for c, kinds in categories.items() if kinds}
    rows = [
        evaluate_sugarcrepe(model, suite.sugarcrepe, categories) | {"benchmark": "scene SugarCrepe-style"},
        evaluate_choice(model, suite.order),
        evaluate_retrieval(model, suite.retrieval),
    ]
    rows += [evaluate_zeroshot(model, ds) for ds in suite.classes.values()]
    return rows

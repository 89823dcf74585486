"""Cross-modal evidence (paper 1, chapter 3): binding accuracy, retrieval over a caption set.

The protocol follows the LABCLIP authors' CLEVR evaluation, without its defects:

* **Caption set**: every two-object caption ``"<c1> <s1> and <c2> <s2>"`` with distinct shapes,
  in one fixed order per scene (shapes in :data:`~labclip_lib.world.scenes.SHAPES` order), colours
  free (same colour allowed): 3 shape pairs x 8 x 8 colours = 192 captions. Its order is
  fixed by our vocabulary, not by Python's set iteration order (which made the authors'
  caption texts change between runs).
* **Scores** are cosines of L2-normalised embeddings on both sides (the authors used
  un-normalised text embeddings before alignment).
* **Binding accuracy**: a tie counts as half (the authors counted it as a hit, which gives a
  bag-of-words model 1.0 instead of 0.5); same-colour scenes, whose swap is the identity, are
  left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..embed.cache import image_embeddings
from ..embed.protocol import EmbeddingModel
from ..metrics import binding_accuracy, check_embeddings, pair_scores
from ..world.captions import CaptionSpec, describe_all, swap_negatives
from ..world.scenes import COLORS, SHAPES, SIZES, Scene
from ..world.scenesets import rendered_scenes

__all__ = [
    "single_object_report",
    "PairCaptionSet",
    "pair_caption_set",
    "similarity",
    "retrieval_metrics",
    "crossmodal_report",
    "scored_pairs",
    "object_count_data",
    "binding_by_object_count",
]


@dataclass(frozen=True)
class PairCaptionSet:
    """The 192 two-object captions and the lookup from a scene to its caption and its swap."""

    texts: tuple[str, ...]
    index: dict

    def __len__(self) -> int:
        return len(self.texts)

    def covers(self, scene: Scene) -> bool:
        """True for two-object scenes with two different shapes (the scenes the set describes)."""
        return len(scene) == 2 and scene.objects[0].shape != scene.objects[1].shape

    def _key(self, scene: Scene, swap: bool) -> tuple:
        if not self.covers(scene):
            raise ValueError(f"the pair caption set describes two objects of different shapes, got "
                             f"{[o.noun_phrase for o in scene.objects]}")
        a, b = sorted(scene.objects, key=lambda o: SHAPES.index(o.shape))
        ca, cb = (b.color, a.color) if swap else (a.color, b.color)
        return (ca, a.shape, cb, b.shape)

    def caption_of(self, scene: Scene) -> int:
        """Index of the scene's caption in :attr:`texts`."""
        return self.index[self._key(scene, swap=False)]

    def swap_of(self, scene: Scene) -> int | None:
        """Index of the colour-swapped caption, or None when both objects share a colour."""
        if scene.objects[0].color == scene.objects[1].color:
            return None
        return self.index[self._key(scene, swap=True)]


def pair_caption_set(colors: Sequence[str] = COLORS, shapes: Sequence[str] = SHAPES) -> PairCaptionSet:
    """All two-object captions with distinct shapes: ``len(shapes) choose 2 x len(colors)**2``. Used in chapter 3."""
    if len(colors) == 0 or len(shapes) < 2:
        raise ValueError("need at least one colour and two shapes")
    texts, index = [], {}
    for i, s1 in enumerate(shapes):
        for s2 in shapes[i + 1:]:
            for c1 in colors:
                for c2 in colors:
                    index[(c1, s1, c2, s2)] = len(texts)
                    texts.append(f"{c1} {s1} and {c2} {s2}")
    return PairCaptionSet(tuple(texts), index)


def similarity(image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Cosine similarity matrix: ``(N, D), (M, D) -> (N, M)``."""
    image = check_embeddings("image embeddings", image)
    text = check_embeddings("text embeddings", text, image.shape[1])
    return torch.nn.functional.normalize(image, dim=1) @ torch.nn.functional.normalize(text, dim=1).T


def retrieval_metrics(image: torch.Tensor, captions: torch.Tensor, true_index: Sequence[int],
                      swap_index: Sequence[int | None], ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Retrieval of ``N`` images against a caption set of ``M`` captions, both directions.

    ``image``: ``(N, D)``; ``captions``: ``(M, D)``; ``true_index[i]`` is image ``i``'s caption,
    ``swap_index[i]`` its colour-swapped caption (None for same-colour scenes).

    Returns ``image->text R@k`` (the true caption among the top ``k`` of all ``M``),
    ``reverse R@1`` (among images with a swap: the top caption is exactly the swapped one; a
    bag-of-words model puts the two captions level, so this approaches the share of ties it
    breaks the wrong way) and ``text->image R@k`` (for each caption that describes at least
    one of the images, is such an image among its top ``k`` images?).
    """
    sims = similarity(image, captions)
    n, m = sims.shape
    true = torch.as_tensor(list(true_index), dtype=torch.long)
    if true.numel() != n:
        raise ValueError(f"got {true.numel()} true indices for {n} images")
    if len(swap_index) != n:
        raise ValueError(f"got {len(swap_index)} swap indices for {n} images")
    if true.min() < 0 or true.max() >= m:
        raise ValueError(f"true caption indices must lie in [0, {m})")
    out: dict[str, float] = {}
    k_max = min(max(ks), m)
    top = sims.topk(k_max, dim=1).indices  # (N, k)
    hit = top == true[:, None]
    for k in ks:
        out[f"image->text R@{k}"] = float(hit[:, :k].any(1).float().mean())
    has_swap = torch.tensor([s is not None for s in swap_index])
    if has_swap.any():
        swap = torch.tensor([s if s is not None else -1 for s in swap_index])
        out["reverse R@1"] = float((top[has_swap, 0] == swap[has_swap]).float().mean())
    else:
        out["reverse R@1"] = float("nan")
    present = torch.unique(true)  # captions that describe some image
    k_img = min(max(ks), n)
    top_img = sims[:, present].T.topk(k_img, dim=1).indices  # (P, k) image indices
    hit_img = true[top_img] == present[:, None]
    for k in ks:
        out[f"text->image R@{k}"] = float(hit_img[:, :k].any(1).float().mean())
    return out


def crossmodal_report(model: EmbeddingModel, data, part: str = "test", caption_set: PairCaptionSet | None = None) -> dict[str, float]:
    """Binding accuracy and caption-set retrieval of ``model`` on split ``part`` of ``data``.

    ``data`` is an :class:`~labclip_lib.organisms.OrganismData` (any resolution matching the
    model). Binding uses every scene of the split with a valid swap (complete caption vs its
    swap); retrieval uses the scenes the two-object caption set describes (distinct shapes).
    Returns ``binding`` and the keys of :func:`retrieval_metrics`.

    Used in chapter 3.
    """
    if part not in ("train", "val", "test"):
        raise ValueError(f"unknown split part {part!r}; expected train, val or test")
    cs = caption_set or pair_caption_set()
    idx = [int(i) for i in data.split[part]]
    if not idx:
        raise ValueError(f"the {part!r} split is empty")
    img = image_embeddings(model, data)[idx]
    pairs = [k for k, i in enumerate(idx) if data.eval_negatives[i] is not None]
    pos = model.encode_texts([data.eval_captions[idx[k]].text for k in pairs])
    neg = model.encode_texts([data.eval_negatives[idx[k]].text for k in pairs])
    out = {"binding": binding_accuracy(img[pairs], pos, neg)}
    covered = [k for k, i in enumerate(idx) if cs.covers(data.scenes[i])]
    if covered:
        scenes = [data.scenes[idx[k]] for k in covered]
        out.update(retrieval_metrics(img[covered], model.encode_texts(list(cs.texts)),
                                     [cs.caption_of(s) for s in scenes], [cs.swap_of(s) for s in scenes]))
    return out


def scored_pairs(model: EmbeddingModel, images, captions: Sequence[str], negatives: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine of each image with its caption and with its negative: two ``(N,)`` tensors. Used in chapter 3."""
    if not (len(images) == len(captions) == len(negatives)) or len(captions) == 0:
        raise ValueError(f"need equally many (>0) images, captions and negatives, got "
                         f"{len(images)}, {len(captions)}, {len(negatives)}")
    img = model.encode_images(images)
    return pair_scores(img, model.encode_texts(list(captions))), pair_scores(img, model.encode_texts(list(negatives)))


@dataclass
class ObjectCountData:
    """Held-out scenes with ``n`` objects: images, complete captions and derangement negatives."""

    n_objects: int
    scenes: list[Scene]
    images: torch.Tensor  # (N, R, R, 3) uint8
    captions: list[str]
    negatives: list[str]


def object_count_data(n_objects: int, n_scenes: int, resolution: int, seed: int = 0,
                      sizes: Sequence[str] = SIZES) -> ObjectCountData:
    """``n_scenes`` random scenes with ``n_objects`` objects (sizes drawn from ``sizes``), rendered
    at ``resolution``, with their complete template captions and colour-derangement negatives
    (scenes whose every derangement describes the same scene again are dropped)."""
    scenes, images = rendered_scenes(n_scenes, n_objects, seed, resolution, sizes=sizes)
    caps = describe_all(scenes, CaptionSpec(), seed=seed)
    negs = swap_negatives(caps, seed=seed, scenes=scenes)
    keep = [i for i, neg in enumerate(negs) if neg is not None]
    if not keep:
        raise ValueError(f"none of the {n_scenes} scenes with {n_objects} objects has a valid negative")
    scenes = [scenes[i] for i in keep]
    return ObjectCountData(n_objects, scenes, images[keep],
                           [caps[i].text for i in keep], [negs[i].text for i in keep])


def binding_by_object_count(model: EmbeddingModel, counts: Sequence[int] = (2, 3, 4), n_scenes: int = 600, seed: int = 0,
                            resolution: int | None = None, sizes: Sequence[str] = SIZES) -> list[dict]:
    """Two-way binding accuracy (true caption vs colour-derangement negative) per object count.

    Scenes are drawn fresh for each count (seeded by ``(seed, count)``, object sizes from
    ``sizes``) and rendered at the model's ``image_size`` unless ``resolution`` is given.
    Returns one row per count:
    ``{"objects", "scenes", "binding"}``.

    Used in chapters 3, 6.
    """
    if len(counts) == 0:
        raise ValueError("empty list of object counts")
    res = resolution or model.image_size
    rows = []
    for n in counts:
        d = object_count_data(n, n_scenes, res, seed=int(np.random.SeedSequence([seed, n]).generate_state(1)[0]),
                              sizes=sizes)
        img = model.encode_images(d.images)
        acc = binding_accuracy(img, model.encode_texts(d.captions), model.encode_texts(d.negatives))
        rows.append({"objects": n, "scenes": len(d.scenes), "binding": acc})
    return rows


def single_object_report(model: EmbeddingModel, n_scenes: int = 600, seed: int = 0, resolution: int | None = None,
                         sizes: Sequence[str] = SIZES) -> dict[str, float]:
    """Plain one-object queries ("red cube"): does a model still recognise single objects?

    Fresh scenes with one object (seeded, its size drawn from ``sizes``), rendered at the
    model's ``image_size`` unless ``resolution`` is given, each scored against the 24 captions ``"<colour> <shape>"``.
    Returns the image -> caption top-1 accuracy (colour and shape right; chance 1/24), the
    colour and the shape accuracy of that top caption, and the text -> image R@1 (the top image
    of each of the 24 captions shows that object; captions without such an image are skipped).

    Used in chapter 6.
    """
    scenes, images = rendered_scenes(n_scenes, 1, seed, resolution or model.image_size, sizes=sizes)
    texts = [f"{c} {s}" for c in COLORS for s in SHAPES]
    truth = np.array([texts.index(f"{sc.objects[0].color} {sc.objects[0].shape}") for sc in scenes])
    sim = similarity(model.encode_images(images), model.encode_texts(texts))  # (N, 24)
    top = sim.argmax(1).numpy()
    colour = np.array([t.split()[0] for t in texts])
    shape = np.array([t.split()[1] for t in texts])
    present = np.unique(truth)
    best_image = sim[:, present].argmax(0).numpy()
    return {"single-object accuracy": float((top == truth).mean()),
            "colour accuracy": float((colour[top] == colour[truth]).mean()),
            "shape accuracy": float((shape[top] == shape[truth]).mean()),
            "text->image R@1": float((truth[best_image] == present).mean()),
            "scenes": len(scenes)}

"""Run any model of the protocol on the benchmarks: one shape for all of them.

``evaluate_*(model, dataset, ...) -> dict`` of named numbers, for any object with
``encode_images`` / ``encode_texts`` returning L2-normalised ``(N, D)`` float tensors (a pretrained
CLIP from :func:`labclip_lib.models.load_model`, an organism, an
:class:`~labclip_lib.alignment.AlignedModel`). Images and captions are embedded through the
keyed cache (:mod:`.embedding`); the numbers come from :mod:`.metrics`, the same code for the
real benchmarks and their scene-world versions (:mod:`.sceneworld`).
:func:`records_frame` turns rows (from these dicts or :func:`choice_records`) into a DataFrame.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from ..alignment.aligned import AlignedModel
from ..alignment.estimator import LinearAlignment
from .aro import ChoiceDataset
from .coco import RetrievalDataset
from .embedding import encode_image_files, encode_texts
from .metrics import category_scores, macro_accuracy, option_hits, retrieval_recall
from .zeroshot import ClassificationDataset

__all__ = [
    "embed_images",
    "evaluate_retrieval",
    "choice_scores",
    "evaluate_choice",
    "choice_records",
    "evaluate_sugarcrepe",
    "zeroshot_classifier",
    "evaluate_zeroshot",
    "with_and_without_map",
    "records_frame",
]


def _image_key(im):
    return ("id", id(im)) if isinstance(im, Image.Image) else im


def embed_images(
    model, images: Sequence, *, cache: bool = True, num_workers: int | None = None, batch_size: int = 64, directory=None
) -> torch.Tensor:
    """``(N, D)`` embeddings of ``images`` (``ImageRef``, paths, PIL images, or a uint8 ``(N, H, W, 3)``
    array of images at the model's size), each distinct image embedded once."""
    if isinstance(images, torch.Tensor) or hasattr(images, "shape"):
        return F.normalize(model.encode_images(images).float(), dim=1)
    images = list(images)
    if images and (isinstance(images[0], torch.Tensor) or hasattr(images[0], "shape")):  # arrays of one size
        return F.normalize(model.encode_images(torch.stack([torch.as_tensor(x) for x in images])).float(), dim=1)
    keys = [_image_key(im) for im in images]
    first = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    unique = [images[i] for i in first.values()]
    emb = encode_image_files(
        model, unique, cache=cache, num_workers=num_workers, batch_size=batch_size, directory=directory
    )
    pos = {k: j for j, k in enumerate(first)}
    return emb[torch.tensor([pos[k] for k in keys])]


def evaluate_retrieval(model, dataset: RetrievalDataset, ks: Sequence[int] = (1, 5, 10), **embed) -> dict:
    """Image<->text retrieval: ``text->image R@k`` and ``image->text R@k`` (see
    :func:`~labclip_lib.benchmarks.metrics.retrieval_recall`), plus ``images`` and ``captions``."""
    img = embed_images(model, dataset.images, **embed)
    txt = encode_texts(model, dataset.captions, cache=embed.get("cache", True))
    out = {"benchmark": dataset.name, "images": len(dataset.images), "captions": len(dataset.captions)}
    out.update(retrieval_recall(img @ txt.T, dataset.image_of_caption, ks))
    return out


def choice_scores(model, dataset: ChoiceDataset, **embed) -> torch.Tensor:
    """Cosine of each item's image with each of its options: ``(N, K)``."""
    img = embed_images(model, dataset.images, **embed)  # (N, D)
    n, k = len(dataset.options), len(dataset.options[0])
    txt = encode_texts(model, [o for opts in dataset.options for o in opts], cache=embed.get("cache", True))
    return torch.einsum("nd,nkd->nk", img, txt.view(n, k, -1))


def evaluate_choice(model, dataset: ChoiceDataset, **embed) -> dict:
    """A multiple-choice benchmark (ARO, SugarCrepe subsets, PUG pairs): ``accuracy`` over all
    items (ties count ``1 / tied``) and, for grouped datasets, ``macro accuracy`` over the groups
    with >= ``dataset.min_group`` items without ``dataset.exclude_groups`` (the official ARO
    number), ``macro accuracy (all groups)`` when some are excluded, and ``groups``."""
    hits = option_hits(choice_scores(model, dataset, **embed), dataset.true_index)
    out = {
        "benchmark": dataset.name,
        "items": len(dataset),
        "options": len(dataset.options[0]),
        "accuracy": float(hits.mean()),
    }
    if dataset.groups is not None:
        m = macro_accuracy(hits, dataset.groups, dataset.min_group, dataset.exclude_groups)
        out.update({"macro accuracy": m["macro accuracy"], "groups": m["groups"], "items in groups": m["items"]})
        if dataset.exclude_groups:
            out["macro accuracy (all groups)"] = macro_accuracy(hits, dataset.groups, dataset.min_group)[
                "macro accuracy"
            ]
    return out


def choice_records(model, dataset: ChoiceDataset, **embed) -> list[dict]:
    """One row per item: ``item``, ``group``, ``true``, ``best`` (the top option's text),
    ``margin`` (true score minus best other score) and ``hit``."""
    s = choice_scores(model, dataset, **embed)
    hits = option_hits(s, dataset.true_index)
    rows = []
    for i, (opts, t) in enumerate(zip(dataset.options, dataset.true_index)):
        other = torch.cat([s[i, :t], s[i, t + 1 :]])
        rows.append(
            {
                "benchmark": dataset.name,
                "item": i,
                "group": dataset.groups[i] if dataset.groups else None,
                "true": opts[t],
                "best": opts[int(s[i].argmax())],
                "margin": float(s[i, t] - other.max()),
                "hit": float(hits[i]),
            }
        )
    return rows


def evaluate_sugarcrepe(
    model, subsets: Mapping[str, ChoiceDataset], categories: Mapping[str, Sequence[str]] | None = None, **embed
) -> dict:
    """Every subset's accuracy (keyed by subset name) and the category scores, sample-weighted and
    unweighted (``"REPLACE (weighted)"``, ``"REPLACE (unweighted)"``, ...); ``categories``:
    category -> subsets (default SugarCrepe's, :data:`~.metrics.SUGARCREPE_CATEGORIES`)."""
    if not subsets:
        raise ValueError("no SugarCrepe subsets")
    acc = {name: evaluate_choice(model, ds, **embed)["accuracy"] for name, ds in subsets.items()}
    out: dict = {"benchmark": "SugarCrepe", "items": sum(len(d) for d in subsets.values())}
    out.update(acc)
    counts = {name: len(ds) for name, ds in subsets.items()}
    out.update(category_scores(acc, counts) if categories is None else category_scores(acc, counts, categories))
    return out


def zeroshot_classifier(model, classnames: Sequence[str], templates: Sequence[str], cache: bool = True) -> torch.Tensor:
    """CLIP's prompt ensemble: each class's templates embedded, averaged and re-normalised: ``(C, D)``."""
    if not classnames or not templates:
        raise ValueError("need at least one class name and one template")
    if not all("{}" in t for t in templates):
        raise ValueError("every template needs a '{}' for the class name")
    texts = [t.format(c) for c in classnames for t in templates]
    emb = encode_texts(model, texts, cache=cache).view(len(classnames), len(templates), -1)
    return F.normalize(F.normalize(emb, dim=-1).mean(1), dim=-1)


def _zeroshot(model, img: torch.Tensor, dataset: ClassificationDataset, ks: Sequence[int], cache: bool) -> dict:
    w = zeroshot_classifier(model, dataset.classnames, dataset.templates, cache)
    logits = img @ w.T  # (N, C)
    labels = torch.as_tensor(dataset.labels)
    out = {}
    for k in ks:
        top = logits.topk(min(k, logits.shape[1]), dim=1).indices
        out[f"top-{k}"] = float((top == labels[:, None]).any(1).float().mean())
    pred = logits.argmax(1)
    present = labels.unique()
    out["mean per-class recall"] = float(torch.stack([(pred[labels == c] == c).float().mean() for c in present]).mean())
    return out


def evaluate_zeroshot(
    model, dataset: ClassificationDataset, alignment: LinearAlignment | None = None, ks: Sequence[int] = (1, 5), **embed
) -> dict:
    """Zero-shot classification with the prompt ensemble: ``top-1``, ``top-5`` and ``mean per-class
    recall``; with ``alignment`` also ``... (after map)``: the same with every prompt's text
    embedding passed through the map (``LinearAlignment.transform``) before averaging."""
    img = embed_images(model, dataset.images, **embed)
    cache = embed.get("cache", True)
    out = {
        "benchmark": dataset.name,
        "items": len(dataset.labels),
        "classes": len(dataset.classnames),
        "templates": len(dataset.templates),
    }
    out.update(_zeroshot(model, img, dataset, ks, cache))
    if alignment is not None:
        after = _zeroshot(AlignedModel(model, alignment), img, dataset, ks, cache)
        out.update({f"{k} (after map)": v for k, v in after.items()})
    return out


def with_and_without_map(
    evaluate: Callable[..., dict], model, alignment: LinearAlignment, *args, **kwargs
) -> list[dict]:
    """``evaluate`` on ``model`` and on ``AlignedModel(model, alignment)``: two rows labelled
    ``"map": "before"`` / ``"after"`` (images are embedded once: the map leaves them alone)."""
    return [
        {"map": "before", **evaluate(model, *args, **kwargs)},
        {"map": "after", **evaluate(AlignedModel(model, alignment), *args, **kwargs)},
    ]


def records_frame(records: Sequence[dict] | dict) -> pd.DataFrame:
    """Rows (dicts of named numbers, or one dict) -> a DataFrame, one row each."""
    rows = [records] if isinstance(records, dict) else list(records)
    if not rows:
        raise ValueError("no records")
    return pd.DataFrame(rows)

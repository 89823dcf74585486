"""An organism's data: scenes, their split by held-out combination, rendered images and the
training captions its diet produces (plus the complete captions and swapped negatives every
organism is evaluated on). Everything derives from the config, deterministically."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..runtime import cache_dir, parallel_map, torch_threads
from ..storage import code_fingerprint, compute_or_load_json, json_entry, key_hash
from ..world.captions import Caption, CaptionSpec, describe_all, swap_negatives
from ..world.scenes import Scene
from ..world.scenesets import rendered_scenes, scene_set_cached
from ..world.splits import Split, split_by_combination
from .config import OrganismConfig

__all__ = ["OrganismData", "build_data", "evaluation_captions", "own_format_captions", "scene_set_ready", "prepare_scene_set",
           "prepare_scene_sets", "example_captions"]


@dataclass
class OrganismData:
    """The data an organism is trained and evaluated on (all derived from its config)."""

    scenes: list[Scene]
    split: Split
    images: torch.Tensor  # (N, R, R, 3) uint8
    train_texts: list[str]  # the training caption of every scene (knobs, optional word shuffle)
    train_negatives: list[str | None]  # its swap negative (for NegCLIP-style hard negatives)
    eval_captions: list[Caption]  # complete template caption of every scene
    eval_negatives: list[Caption | None]  # and its attribute-swapped negative
    key: str = ""  # names this data (hash of its config fields and of the code that makes it); keys embedding caches


def _mixture_captions(scenes: Sequence[Scene], config: OrganismConfig) -> list[Caption]:
    gen = np.random.default_rng(np.random.SeedSequence([config.seed, 101]))
    probs = np.array([p for p, _ in config.captions])
    which = gen.choice(len(probs), size=len(scenes), p=probs / probs.sum())
    out: list[Caption | None] = [None] * len(scenes)
    for k, (_, spec) in enumerate(config.captions):
        idx = np.flatnonzero(which == k)
        if len(idx):
            caps = describe_all([scenes[i] for i in idx], spec, seed=config.seed * 1000 + k)
            for i, c in zip(idx, caps):
                out[i] = c
    return out  # type: ignore[return-value]


def _shuffle_words(text: str, gen: np.random.Generator) -> str:
    words = text.replace(",", " ,").split()
    return " ".join(words[i] for i in gen.permutation(len(words)))


def _packed_captions(captions: Sequence[Caption | None]) -> dict[str, list]:
    """Captions as four JSON columns of strings (``None`` where a caption is missing or has no
    extras): texts, mentions (``"red:cube;blue:sphere"``, an empty colour for a colourless
    mention), styles and extras (``"large,metal|small"``: each mention's words). Flat strings
    read back several times faster than nested JSON lists (:func:`_unpacked_captions`)."""
    text, mentions, style, extras = [], [], [], []
    for c in captions:
        text.append(None if c is None else c.text)
        mentions.append(None if c is None else ";".join(f"{col or ''}:{shape}" for col, shape in c.mentions))
        style.append(None if c is None else c.style)
        extras.append(None if c is None or not c.extras else "|".join(",".join(e) for e in c.extras))
    packed = {"text": text, "mentions": mentions, "style": style, "extras": extras}
    try:  # a word holding a separator would not come back
        same = _unpacked_captions(packed) == list(captions)
    except ValueError:
        same = False
    if not same:
        raise ValueError("captions cannot be packed: a colour, shape or extra word holds one of the separators ':;,|'")
    return packed


def _unpacked_captions(columns: dict[str, list]) -> list[Caption | None]:
    """Inverse of :func:`_packed_captions`."""
    def mention(m: str) -> tuple[str | None, str]:
        col, shape = m.split(":")
        return (col or None, shape)

    out: list[Caption | None] = []
    for text, ms, style, ex in zip(columns["text"], columns["mentions"], columns["style"], columns["extras"]):
        if text is None:
            out.append(None)
            continue
        extras = () if ex is None else tuple(tuple(e.split(",")) if e else () for e in ex.split("|"))
        out.append(Caption(text, tuple(mention(m) for m in ms.split(";")) if ms else (), style, extras))
    return out


def _training_records(config: OrganismConfig, scenes: Sequence[Scene]) -> dict:
    """The training captions of ``build_data`` (texts and their swaps) as JSON-ready records."""
    caps = _mixture_captions(scenes, config)
    negs = swap_negatives(caps, seed=config.seed, scenes=scenes)
    texts = [c.text for c in caps]
    neg_texts = [n.text if n is not None else None for n in negs]
    if config.shuffle_words:
        gen = np.random.default_rng(np.random.SeedSequence([config.seed, 202]))
        texts = [_shuffle_words(t, gen) for t in texts]
        neg_texts = [_shuffle_words(t, gen) if t is not None else None for t in neg_texts]
    return {"texts": texts, "negatives": neg_texts}


def _evaluation_records(config: OrganismConfig, scenes: Sequence[Scene]) -> dict:
    """The complete evaluation captions and their swaps as JSON-ready records: they depend on
    the scene set and the seed only, so every diet on the same scenes shares them."""
    eval_caps = describe_all(scenes, CaptionSpec(), seed=config.seed + 1)
    eval_negs = swap_negatives(eval_caps, seed=config.seed + 1, scenes=scenes)
    return {"eval": _packed_captions(eval_caps), "eval_negatives": _packed_captions(eval_negs)}


def own_format_captions(config: OrganismConfig, scenes: Sequence[Scene]) -> tuple[list[Caption], list[Caption | None]]:
    """Complete captions of ``scenes`` in the organism's *own* format, and their swaps: every
    object and colour stated (as in :func:`evaluation_captions`) with the style, word order and
    attributes per object (size and material words) of ``config``'s diet; the swap exchanges
    colours only and keeps the other words with their objects. Drawn with the evaluation
    captions' seed, so for a colour-only diet they are the evaluation captions. Raises
    ``ValueError`` for a diet without colour words or whose caption generators differ in format."""
    formats = {(spec.style, spec.order, spec.attributes) for _, spec in config.captions}
    if len(formats) != 1:
        raise ValueError(f"the diet of {config.name!r} mixes caption formats {sorted(formats)}: no single own format")
    style, order, attributes = formats.pop()
    if attributes < 1:
        raise ValueError(f"the diet of {config.name!r} states no colours (attributes = 0): no binding test in its format")
    if len(scenes) == 0:
        raise ValueError("empty list of scenes")
    caps = describe_all(scenes, CaptionSpec(style=style, order=order, attributes=attributes), seed=config.seed + 1)
    return caps, swap_negatives(caps, seed=config.seed + 1, scenes=scenes)


_SCENE_FIELDS = ("n_scenes", "n_objects", "sizes", "resolution", "seed")


def _caption_keys(config: OrganismConfig) -> tuple[dict, dict]:
    """Cache keys of an organism's training captions and of its scene set's evaluation captions
    (the fields that change them and the code that makes them)."""
    code = code_fingerprint("world.scenes", "world.sampling", "world.render", "world.captions", "world.splits",
                            "organisms.data")
    d = config.to_dict()
    evaluation = {"what": "evaluation captions", "code": code, **{k: d[k] for k in _SCENE_FIELDS}}
    training = {"what": "organism captions", "code": code,
                **{k: d[k] for k in (*_SCENE_FIELDS, "captions", "shuffle_words", "val", "test")}}
    return training, evaluation


def _scene_set_name(config: OrganismConfig) -> str:
    return f"scenes-{max(config.n_objects)}-objects"


def evaluation_captions(config: OrganismConfig, scenes: Sequence[Scene] | None = None, cache: bool = True
                        ) -> tuple[list[Caption], list[Caption | None]]:
    """The complete template caption of every scene of ``config``'s scene set and its
    attribute-swapped negative (``None`` where a scene has none): what every organism on those
    scenes is evaluated on, whatever its diet. With ``cache`` kept once per scene set and seed
    under ``cache_dir("captions")``. ``scenes``: the scene set, when already loaded."""
    if scenes is None:
        scenes, _ = rendered_scenes(config.n_scenes, list(config.n_objects), config.seed, config.resolution,
                                    sizes=config.sizes, cache=cache)
    if cache:
        _, key = _caption_keys(config)
        rec = compute_or_load_json(key, lambda: _evaluation_records(config, scenes), directory=cache_dir("captions"),
                                   name=_scene_set_name(config))
    else:
        rec = _evaluation_records(config, scenes)
    return _unpacked_captions(rec["eval"]), _unpacked_captions(rec["eval_negatives"])


def scene_set_ready(config: OrganismConfig) -> bool:
    """Whether ``config``'s scene set and its evaluation captions are in the cache (checked by
    presence: reading them back verifies them)."""
    _, key = _caption_keys(config)
    return (scene_set_cached(config.n_scenes, list(config.n_objects), config.seed, config.resolution,
                             sizes=config.sizes)
            and json_entry(key, directory=cache_dir("captions"), name=_scene_set_name(config)).exists())


def prepare_scene_set(config: OrganismConfig) -> None:
    """Render ``config``'s scene set and caption it for evaluation into the cache (what every
    organism on those scenes shares), unless :func:`scene_set_ready`. Sweeps call it once per
    scene set before training the organisms on it."""
    if not scene_set_ready(config):
        evaluation_captions(config)


def _scene_set_task(config_dict: dict) -> None:
    with torch_threads(1):
        prepare_scene_set(OrganismConfig.from_dict(config_dict))


def prepare_scene_sets(configs: Sequence[OrganismConfig], jobs: int | None = None) -> int:
    """:func:`prepare_scene_set` for the distinct scene sets of ``configs`` not in the cache yet,
    in up to ``jobs`` worker processes (the most crowded first), so that organisms trained
    side by side never render the same set twice. Returns how many sets were prepared."""
    sets = {(c.n_scenes, c.n_objects, c.seed, c.resolution, c.sizes): c for c in configs}
    missing = sorted((c for c in sets.values() if not scene_set_ready(c)), key=lambda c: (-max(c.n_objects), c.key))
    if missing:
        parallel_map(_scene_set_task, [(c.to_dict(),) for c in missing], n_jobs=jobs)
    return len(missing)


def build_data(config: OrganismConfig, cache: bool = True) -> OrganismData:
    """Scenes, split, rendered images and captions for ``config`` (deterministic).

    With ``cache`` the rendered scenes (:func:`labclip_lib.world.scenesets.rendered_scenes`) and the
    captions are kept under the cache directory, so the chapters that need the same data again
    read it in a second or two instead of re-rendering it; the result is the same either way.

    Used in chapters 2, 6.
    """
    scenes, images = rendered_scenes(config.n_scenes, list(config.n_objects), config.seed, config.resolution,
                                     sizes=config.sizes, cache=cache)
    split = split_by_combination(scenes, val=config.val, test=config.test, seed=config.seed)
    key, _ = _caption_keys(config)
    if cache:
        rec = compute_or_load_json(key, lambda: _training_records(config, scenes), directory=cache_dir("captions"),
                                   name=config.name)
    else:
        rec = _training_records(config, scenes)
    eval_caps, eval_negs = evaluation_captions(config, scenes, cache=cache)
    return OrganismData(scenes, split, images, rec["texts"], rec["negatives"], eval_caps, eval_negs,
                        key=f"{config.name}-{key_hash(key)[:24]}")


def example_captions(config: OrganismConfig, scene: Scene, n: int = 4) -> list[str]:
    """``n`` training captions the organism ``config`` could see for ``scene`` (same machinery). Used in chapter 2."""
    texts = [c.text for c in _mixture_captions([scene] * n, config)]
    if config.shuffle_words:
        gen = np.random.default_rng(np.random.SeedSequence([config.seed, 202]))
        texts = [_shuffle_words(t, gen) for t in texts]
    return texts

"""Measuring one organism: its binding profile with and without a LABCLIP map (and, on request,
after paper 1's CLIP-FT fine-tuning), cached per organism.

:func:`measure_organism` is what every point of chapter 7-9's sweeps records; the map is fitted
as in chapter 6 (HNB loss on frozen embeddings of the train split's complete captions and their
attribute swaps).
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

from ..alignment.estimator import LinearAlignment, MapSettings, fit_alignment, triplet
from ..alignment.finetune import finetune_organism
from ..analysis.geometry import pair_embeddings
from ..analysis.pairing import pairing_bound
from ..analysis.profiles import binding_profile
from ..embed.protocol import EmbeddingModel
from ..metrics import binding_accuracy, binding_hits
from ..models import load_model
from ..embed.cache import image_embeddings
from ..organisms import OrganismConfig, build_data, get_organism, organism_summary, own_format_captions, trained_organism
from ..organisms.store import ORGANISM_FILE
from ..runtime import cache_dir
from ..storage import code_fingerprint, compute_or_load_json, key_hash
from ..world.captions import single_object_pairs
from ..world.splits import swap_class

__all__ = ["MapSettings", "fit_map", "organism_with_map", "rescue_profile", "measure_organism", "measure_finetuned",
           "measure_items", "measure_own_format", "measure_single_object"]


def fit_map(model, data, map_settings: MapSettings = MapSettings(), seed: int = 0, embeddings: dict | None = None
            ) -> LinearAlignment:
    """The LABCLIP map of ``model`` on ``data``: HNB loss on the train split's complete captions
    and their swaps (validation split recorded, or used for early stopping), trained as ``map_settings`` says
    (:class:`~labclip_lib.alignment.MapSettings`, the book's one map recipe). ``embeddings``: the
    splits' :func:`~labclip_lib.analysis.geometry.pair_embeddings` when already computed."""
    emb = embeddings or {p: pair_embeddings(model, data, p) for p in ("train", "val")}
    return fit_alignment({"train": emb["train"], "val": emb["val"]}, "hnb", seed=seed,
                         **map_settings.estimator_kwargs())


def organism_with_map(config: OrganismConfig, map_settings: MapSettings = MapSettings()
                      ) -> tuple[EmbeddingModel, LinearAlignment]:
    """The trained organism ``config`` (from the cache, or trained) and its LABCLIP map: the map
    :func:`measure_organism` fitted and kept, or fitted now (and kept). Used in chapter 9."""
    path = get_organism(config, progress=False)
    model = load_model(path)
    entry = _map_entry(config, path, map_settings)
    if entry.exists():
        try:
            return model, LinearAlignment.load(entry)
        except ValueError as err:
            warnings.warn(f"re-fitting the map of {config.name!r}: {err}", stacklevel=2)
    alignment = fit_map(model, build_data(config), map_settings, seed=config.seed)
    alignment.save(entry)
    return model, alignment


def _profile_and_map(model, data, part: str, map_settings: MapSettings, seed: int
                     ) -> tuple[dict[str, float], LinearAlignment, dict]:
    row = binding_profile(model, data, part)
    emb = {p: pair_embeddings(model, data, p) for p in dict.fromkeys(("train", "val", part))}
    alignment = fit_map(model, data, map_settings, seed, emb)
    row["map binding"] = alignment.score(*triplet(emb[part]))
    row["image margin"] = row["image probe"] - row["ceiling"]
    row["map gain"] = row["map binding"] - row["binding"]
    row["pairing bound"] = pairing_bound(model, data, part, embeddings=emb)
    row["bound gap"] = row["pairing bound"] - row["map binding"]
    return row, alignment, emb


def rescue_profile(model, data, part: str = "test", map_settings: MapSettings = MapSettings(), seed: int = 0
                   ) -> dict[str, float]:
    """A model's binding profile on split ``part`` of ``data`` (see
    :func:`~labclip_lib.analysis.profiles.binding_profile`) with ``map binding``: binding after a
    LABCLIP map fitted on the train split (validation split recorded). ``image margin`` is the
    image probe's lead over the bag-of-words ceiling, ``map gain`` the map's lead over binding,
    ``pairing bound`` what a text-side map could reach at best
    (:func:`~labclip_lib.analysis.pairing.pairing_bound`) and ``bound gap`` how far the map stays
    below it. Serves organisms and pretrained models alike. Used in chapters 7-9."""
    return _profile_and_map(model, data, part, map_settings, seed)[0]


def _code() -> str:
    return code_fingerprint("analysis.profiles", "analysis.probes", "analysis.geometry", "analysis.pairing", "embed.cache",
                            "alignment.estimator", "alignment.loss", "alignment.finetune", "experiments.rescue",
                            "organisms.data", "world.captions")


def _weights(path) -> str:
    return json.loads((path / ORGANISM_FILE).read_text())["weights_sha256"]


def _map_entry(config: OrganismConfig, path, map_settings: MapSettings) -> Path:
    """Where the LABCLIP map of the trained organism at ``path`` is kept (keyed by its weights,
    the map's settings and the code)."""
    key = {"what": "labclip map", "organism": config.key, "weights": _weights(path),
           "map": map_settings.key(), "code": _code()}
    return cache_dir("measures") / "maps" / f"{config.name}-{key_hash(key)[:24]}"


def _key(config: OrganismConfig, path, what: str, arguments: dict) -> dict:
    return {"what": what, "organism": config.key, "weights": _weights(path), **arguments, "code": _code()}


def _cached(config: OrganismConfig, what: str, arguments: dict, compute) -> dict[str, float]:
    """``compute(path, data)`` for the trained organism ``config`` (trained first if needed;
    ``data()`` returns its data), cached under ``cache_dir("measures")`` keyed by its weights,
    ``arguments`` and the code."""
    data = functools.cache(lambda: build_data(config))  # built once, on first use (training or measuring)
    path = trained_organism(config) or get_organism(config, progress=False, data=data())
    return compute_or_load_json(_key(config, path, what, arguments), lambda: compute(path, data),
                                directory=cache_dir("measures"), name=config.name)


def _item_scores(hits, scenes, index) -> dict[str, list]:
    """Item scores for verdicts with intervals: ``hits`` (one per item) and each item's held-out
    swap class, the item of ``scenes[index[j]]``."""
    return {"hits": hits.tolist(), "clusters": [repr(swap_class(scenes[i])) for i in index]}


def _items(e: dict, scenes) -> dict[str, list]:
    """Item scores of :func:`measure_items` from a split's :func:`pair_embeddings` ``e``."""
    return _item_scores(binding_hits(e["image"], e["caption"], e["swap"]), scenes, e["index"])


def measure_organism(config: OrganismConfig, part: str = "test", map_settings: MapSettings = MapSettings()
                     ) -> dict[str, float]:
    """Train (or fetch) the organism ``config`` and measure its :func:`rescue_profile` on its own
    data's split ``part``, plus ``training seconds``. Cached."""
    def compute(path, data) -> dict[str, float]:
        row, alignment, emb = _profile_and_map(load_model(path), data(), part, map_settings, config.seed)
        alignment.save(_map_entry(config, path, map_settings))  # the map chapter 9's explorer shows
        # the verdicts' item scores (measure_items) from the same embeddings, kept for it now
        compute_or_load_json(_key(config, path, "binding items", {"part": part}), lambda: _items(emb[part], data().scenes),
                             directory=cache_dir("measures"), name=config.name)
        return {**row, "training seconds": organism_summary(path)["training seconds"]}

    return _cached(config, "organism measures", {"part": part, "map": map_settings.key()}, compute)


def measure_finetuned(config: OrganismConfig, part: str = "test", epochs: int = 1) -> dict[str, float]:
    """``finetuned binding``: the organism ``config``'s binding on split ``part`` after paper 1's
    CLIP-FT baseline (both encoders and a map trained with the LABCLIP loss for ``epochs``,
    seeded by the organism's seed; chapter 6). Cached."""
    if epochs < 1:
        raise ValueError(f"fine-tuning needs at least one epoch, got {epochs}")

    def compute(path, data) -> dict[str, float]:
        tuned = finetune_organism(load_model(path), data(), epochs=epochs, seed=config.seed, progress=False).model
        e = pair_embeddings(tuned, data(), part)
        return {"finetuned binding": binding_accuracy(e["image"], e["caption"], e["swap"])}

    return _cached(config, "finetuned binding", {"part": part, "epochs": epochs}, compute)


def measure_items(config: OrganismConfig, part: str = "test") -> dict[str, list]:
    """The organism ``config``'s two-way binding test item by item on its data's split ``part``:
    ``hits`` (1, 0 or 0.5 for a tie; their mean is its ``binding``) and ``clusters``, each item's
    held-out swap class (the colours and shapes of its scene, which the split holds out
    together), for verdicts with intervals (:mod:`.bootstrap`). Cached."""
    def compute(path, data) -> dict[str, list]:
        return _items(pair_embeddings(load_model(path), data(), part), data().scenes)

    return _cached(config, "binding items", {"part": part}, compute)


def measure_own_format(config: OrganismConfig, part: str = "test") -> dict:
    """The organism ``config``'s two-way binding on split ``part`` tested in its own caption
    format (:func:`~labclip_lib.organisms.own_format_captions`: its diet's attribute words kept,
    colours swapped): ``own-format binding`` and, item by item as :func:`measure_items`,
    ``hits`` and ``clusters``. Scenes whose caption has no swap are left out. Cached."""
    def compute(path, data) -> dict:
        d, model = data(), load_model(path)
        caps, negs = own_format_captions(config, d.scenes)  # the whole scene set: caption i has seed (seed, i)
        keep = [int(i) for i in d.split[part] if negs[i] is not None]
        if not keep:
            raise ValueError(f"no scene of the {part!r} split has a swap negative in the own format")
        hits = binding_hits(image_embeddings(model, d)[keep], model.encode_texts([caps[i].text for i in keep]),
                            model.encode_texts([negs[i].text for i in keep]))
        return {"own-format binding": float(hits.mean()), **_item_scores(hits, d.scenes, keep)}

    return _cached(config, "own-format binding", {"part": part}, compute)


def measure_single_object(config: OrganismConfig, part: str = "test") -> dict:
    """The organism ``config`` tested on one object at a time on split ``part``
    (:func:`~labclip_lib.world.single_object_pairs`, in its diet's caption style): ``single-object
    binding``, the image against "red cube" and "blue cube" where blue is another object's colour
    (both captions' words are in the image), and ``colour recognition``, against a colour no object
    has; and, item by item as :func:`measure_items`, the binding test's ``hits`` and ``clusters``.
    Cached."""
    styles = {spec.style for _, spec in config.captions}
    if len(styles) != 1:
        raise ValueError(f"the diet of {config.name!r} mixes caption styles {sorted(styles)}: no single own style")
    style = styles.pop()

    def compute(path, data) -> dict:
        d, model = data(), load_model(path)
        index = [int(i) for i in d.split[part]]
        images = image_embeddings(model, d)
        out = {}
        for negative, name in (("present", "single-object binding"), ("absent", "colour recognition")):
            triples = single_object_pairs([d.scenes[i] for i in index], negative, style, seed=config.seed + 1)
            if not triples:
                raise ValueError(f"no object of the {part!r} split has a {negative} negative colour")
            rows = [index[j] for j, _, _ in triples]
            hits = binding_hits(images[rows], model.encode_texts([p.text for _, p, _ in triples]),
                                model.encode_texts([n.text for _, _, n in triples]))
            out[name] = float(hits.mean())
            if negative == "present":
                out |= _item_scores(hits, d.scenes, rows)
        return out

    return _cached(config, "single-object binding", {"part": part}, compute)

"""Trained organisms on disk: :func:`get_organism` returns an organism from the cache
(``cache_dir("organisms")``, one checksummed directory per config hash) or trains and stores it;
:func:`load_organism` opens one as a model. Weights are safetensors, never unpickled."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from ..runtime import cache_dir, parallel_map, torch_threads
from ..storage import read_directory, save_directory
from .clip import CLIPOrganism
from .config import ORGANISMS, OrganismConfig
from .data import OrganismData, build_data, prepare_scene_sets
from .model import OrganismModel
from .networks import DualEncoder, build_network
from .tokenizer import WordTokenizer, organism_vocabulary
from .training import TrainingHistory, binding_accuracy_2way, train_organism

__all__ = ["ORGANISM_FILE", "WEIGHTS_FILE", "TRAIN_METRIC_SCENES", "get_organism", "get_organisms", "training_cost", "trained_organism", "cached_config", "read_organism", "load_organism", "organism_summary",
           "organism_history"]


ORGANISM_FILE = "labclip_organism.json"
WEIGHTS_FILE = "model.safetensors"
#: the stored train-split binding is measured on the split's first scenes (a check of fit, not a result)
TRAIN_METRIC_SCENES = 5000


def _save(model: DualEncoder, config: OrganismConfig, hist: TrainingHistory, metrics: dict, path: Path) -> None:
    meta = {"format": "labclip-organism/1", "config": config.to_dict(), "vocabulary": list(organism_vocabulary(config)),
            "history": hist.to_dict(), "metrics": metrics}
    save_directory(path, ORGANISM_FILE, WEIGHTS_FILE, model.state_dict(), meta, indent=1)


def read_organism(path: str | Path) -> tuple[DualEncoder | CLIPOrganism, dict]:
    """Load an organism's network (of its config's architecture) and metadata from its directory (safetensors, no pickle).

    Raises ``ValueError`` if the files are missing, corrupt or do not match their checksum.
    """
    meta, tensors = read_directory(path, ORGANISM_FILE, WEIGHTS_FILE, "an organism")
    config = OrganismConfig.from_dict(meta["config"])
    model = build_network(config, len(meta["vocabulary"]))
    model.load_state_dict(tensors)
    model.eval()
    return model, meta


def _entry(config: OrganismConfig, directory: str | Path | None) -> Path:
    root = Path(directory) if directory is not None else cache_dir("organisms")
    return root / f"{config.name}-{config.key}"


def trained_organism(config: OrganismConfig, directory: str | Path | None = None) -> Path | None:
    """Directory of the trained organism ``config`` if a valid copy is in the cache, else ``None``
    (a corrupt copy warns and counts as missing)."""
    path = _entry(config, directory)
    if path.exists():
        try:
            read_organism(path)
            return path
        except ValueError as err:
            warnings.warn(f"re-training organism {config.name!r}: {err}", stacklevel=2)
    return None


def get_organism(config: OrganismConfig | str, directory: str | Path | None = None,
                 progress: bool | None = None, data: OrganismData | None = None) -> Path:
    """Directory of the trained organism ``config`` (a config or a name in :data:`ORGANISMS`).

    Trains it (with a progress bar) and stores it under ``cache_dir("organisms")`` unless a
    valid copy is already there; the entry's name includes a hash of the whole config.
    ``data``: the config's :func:`~.data.build_data`, when the caller has it already.
    Open the result with :func:`labclip_lib.models.load_model` like any other model.

    Used in chapter 2.
    """
    if isinstance(config, str):
        if config not in ORGANISMS:
            raise ValueError(f"unknown organism {config!r}; named organisms: {', '.join(ORGANISMS)}")
        config = ORGANISMS[config]
    found = trained_organism(config, directory)
    if found is not None:
        return found
    path = _entry(config, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = data if data is not None else build_data(config)
    model, hist = train_organism(config, data, progress)
    tok = WordTokenizer(organism_vocabulary(config))
    metrics = {part: binding_accuracy_2way(model, tok, data, part, TRAIN_METRIC_SCENES if part == "train" else None)
               for part in ("train", "val", "test")}
    _save(model, config, hist, metrics, path)
    return path


def _train_task(config_dict: dict) -> str:
    # one PyTorch thread per worker: the workers share the cores
    with torch_threads(1):
        return str(get_organism(OrganismConfig.from_dict(config_dict), progress=False))


def training_cost(config: OrganismConfig) -> float:
    """A rough relative cost of training ``config`` (scenes x epochs, or the cap of a recipe that
    stops early, x objects per scene x pixels per stem output; a transformer CLIP organism costs
    about 1.7 times a CNN epoch over 8-pixel patches, four times that over 4-pixel ones): which
    organisms to start first so that no worker is left alone with a long one at the end."""
    cost = config.n_scenes * config.epochs * max(config.n_objects) * (config.resolution / 32) ** 2 / config.stem_stride
    return cost * (1.7 * (8 / config.patch_size) ** 2 if config.architecture == "clip" else 1.0)


def get_organisms(configs: list[OrganismConfig], jobs: int | None = None) -> list[Path]:
    """:func:`get_organism` of every config, in order; the ones not in the cache are trained
    first in up to ``jobs`` worker processes with one PyTorch thread each (default
    ``$LABCLIP_JOBS`` or the number of cores; see :func:`~labclip_lib.runtime.parallel_map`),
    their scene sets rendered beforehand (each once) and the costliest started first
    (:func:`training_cost`). A chapter that trains many organisms passes them all in one call,
    so that two workers stay busy. Used in chapters 2 and 4."""
    if not configs:
        raise ValueError("get_organisms needs at least one config")
    missing = list({c.key: c for c in configs if trained_organism(c) is None}.values())
    if len(missing) > 1:
        prepare_scene_sets(missing, jobs)
        missing.sort(key=training_cost, reverse=True)
        parallel_map(_train_task, [(c.to_dict(),) for c in missing], n_jobs=jobs)
    return [get_organism(c) for c in configs]


def cached_config(key: str, directory: str | Path | None = None) -> OrganismConfig:
    """The config of the trained organism in the cache whose :attr:`OrganismConfig.key` is
    ``key`` (a table of grid results names organisms by key). Raises ``ValueError`` when no
    trained organism has that key."""
    root = Path(directory) if directory is not None else cache_dir("organisms")
    for path in sorted(root.glob(f"*-{key}")):
        if (path / ORGANISM_FILE).is_file():
            config = OrganismConfig.from_dict(json.loads((path / ORGANISM_FILE).read_text())["config"])
            if config.key == key:
                return config
    raise ValueError(f"no trained organism with key {key!r} in {root}: train it first (get_organism)")


def load_organism(path: str | Path, device: str | torch.device | None = None) -> OrganismModel:
    """Open a trained organism directory (what ``load_model`` calls for organisms)."""
    network, meta = read_organism(path)
    return OrganismModel(network, OrganismConfig.from_dict(meta["config"]), meta["vocabulary"],
                         f"organism:{meta['config']['name']}@{meta['weights_sha256']}", device, Path(path))


def organism_summary(path: str | Path) -> dict:
    """One row about a trained organism: name, seed, binding per split, training time, epochs
    trained and the epoch whose weights were kept (the last one, except for a recipe that stops
    on the validation loss). Used in chapter 2."""
    meta = json.loads((Path(path) / ORGANISM_FILE).read_text())
    cfg, hist = meta["config"], meta["history"]
    return {
        "organism": cfg["name"],
        "seed": cfg["seed"],
        **{f"{k} binding": v for k, v in meta["metrics"].items()},
        "training seconds": hist["seconds"],
        "epochs": len(hist["epoch"]),
        "kept epoch": hist.get("kept_epoch") or len(hist["epoch"]),
    }


def organism_history(path: str | Path) -> dict[str, list]:
    """Per-epoch training curves stored with the organism. Used in chapter 2."""
    return json.loads((Path(path) / ORGANISM_FILE).read_text())["history"]

"""Organisms: small CLIPs trained from scratch on the scene world (paper 2's setting).

An organism is a dual encoder — a small CNN over 32-64 px scenes and a bidirectional GRU
over a word-level vocabulary of the caption language — trained with the symmetric InfoNCE
loss and a learnable temperature. A frozen :class:`OrganismConfig` names one organism
completely (data, caption knobs, architecture, optimisation, seed); :func:`get_organism`
returns it from the cache or trains it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cache import read_directory, save_directory, tensors_digest
from .captions import Caption, CaptionSpec, describe_all, swap_negatives
from .runtime import cache_dir, get_device, progress_bar
from .scenes import COLORS, SHAPES, Scene
from .splits import Split, split_by_combination

__all__ = [
    "VOCABULARY",
    "WordTokenizer",
    "DualEncoder",
    "OrganismConfig",
    "TrainingHistory",
    "ORGANISMS",
    "train_organism",
    "get_organism",
    "organism_config",
    "read_organism",
    "load_organism",
    "OrganismModel",
    "build_data",
    "binding_accuracy_2way",
    "organism_summary",
    "organism_history",
    "architecture_table",
    "example_captions",
    "weights_digest",
]

ORGANISM_FILE = "labclip_organism.json"
WEIGHTS_FILE = "model.safetensors"

#: Every word our captions use (plus padding). Anything else is out of vocabulary.
VOCABULARY: tuple[str, ...] = ("<pad>", "a", "an", "and", ",", *COLORS, *SHAPES)


class WordTokenizer:
    """Word-level tokenizer of the caption language; out-of-vocabulary words are an error."""

    def __init__(self, vocabulary: Sequence[str] = VOCABULARY, max_length: int = 48):
        if len(set(vocabulary)) != len(vocabulary) or vocabulary[0] != "<pad>":
            raise ValueError("vocabulary must be unique words starting with '<pad>'")
        self.vocabulary = tuple(vocabulary)
        self.index = {w: i for i, w in enumerate(self.vocabulary)}
        self.max_length = int(max_length)

    def words(self, text: str) -> list[str]:
        return text.lower().replace(",", " , ").split()

    def __call__(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``(N, L)`` (0-padded) and lengths ``(N,)``."""
        if isinstance(texts, str):
            texts = [texts]
        if len(texts) == 0:
            raise ValueError("empty list of captions")
        rows = []
        for t in texts:
            words = self.words(t)
            if not words:
                raise ValueError(f"empty caption {t!r}")
            bad = [w for w in words if w not in self.index]
            if bad:
                raise ValueError(
                    f"caption {t!r} has out-of-vocabulary word(s) {bad}: this organism knows only "
                    f"{', '.join(self.vocabulary[1:])}"
                )
            if len(words) > self.max_length:
                raise ValueError(f"caption {t!r} has {len(words)} words, more than {self.max_length}")
            rows.append([self.index[w] for w in words])
        lengths = torch.tensor([len(r) for r in rows])
        ids = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        return ids, lengths


class ImageEncoder(nn.Module):
    """Three conv blocks (stride-2 pooling) and a linear head: ``(N, 3, R, R)`` -> ``(N, D)``."""

    def __init__(self, dim: int, resolution: int, width: int = 32):
        super().__init__()
        chans = [3, width, 2 * width, 4 * width]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        side = resolution // 8
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * side * side, 4 * dim), nn.ReLU(inplace=True),
                                  nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TextEncoder(nn.Module):
    """Word embeddings and a bidirectional GRU; final states -> linear: ``(N, L)`` -> ``(N, D)``."""

    def __init__(self, vocab_size: int, dim: int, hidden: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, dim)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, h = self.gru(packed)  # (2, N, H)
        return self.head(torch.cat([h[0], h[1]], dim=1))


class DualEncoder(nn.Module):
    """The organism: image and text encoders into a shared D-dimensional space."""

    def __init__(self, vocab_size: int, dim: int = 64, resolution: int = 32, width: int = 32, hidden: int = 64):
        super().__init__()
        if resolution % 8:
            raise ValueError(f"organism resolution must be a multiple of 8, got {resolution}")
        self.image = ImageEncoder(dim, resolution, width)
        self.text = TextEncoder(vocab_size, dim, hidden)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(N, 3, R, R)`` float in [0, 1] -> unnormalised ``(N, D)``."""
        return self.image((pixels - 0.5) / 0.25)

    def encode_text(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.text(ids, lengths)


def _to_pixels(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` -> float ``(N, 3, H, W)`` in [0, 1]."""
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        raise ValueError(f"images must be uint8, got {x.dtype}")
    return x.permute(0, 3, 1, 2).float() / 255.0


@dataclass(frozen=True)
class OrganismConfig:
    """Everything that defines one organism. Two equal configs give the same model."""

    name: str = "complete"
    n_scenes: int = 30000
    n_objects: tuple[int, ...] = (2,)
    resolution: int = 32
    #: caption generators and their probabilities, e.g. ``((0.7, natural), (0.3, complete))``
    captions: tuple[tuple[float, CaptionSpec], ...] = ((1.0, CaptionSpec()),)
    shuffle_words: bool = False
    hard_negatives: bool = False
    embed_dim: int = 64
    batch_size: int = 256
    epochs: int = 6
    lr: float = 3e-3
    weight_decay: float = 0.01
    val: float = 0.1
    test: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        total = sum(p for p, _ in self.captions)
        if not self.captions or abs(total - 1.0) > 1e-6 or any(p < 0 for p, _ in self.captions):
            raise ValueError(f"caption mixture probabilities must be >= 0 and sum to 1, got {total}")
        if self.n_scenes < 100:
            raise ValueError(f"n_scenes must be at least 100, got {self.n_scenes}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["captions"] = [[p, asdict(s)] for p, s in self.captions]
        d["n_objects"] = list(self.n_objects)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "OrganismConfig":
        d = dict(d)
        d["captions"] = tuple((float(p), CaptionSpec(**s)) for p, s in d["captions"])
        d["n_objects"] = tuple(d["n_objects"])
        return cls(**d)

    @property
    def key(self) -> str:
        """Stable hash of the whole configuration (names the cache entry)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrainingHistory:
    """Per-epoch curves: loss, in-batch image->text accuracy, held-out (val) binding accuracy."""

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    batch_accuracy: list[float] = field(default_factory=list)
    val_binding: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


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


def _caption_records(config: OrganismConfig, scenes: Sequence[Scene]) -> dict:
    """The captions of ``build_data`` as JSON-ready records (training texts, their swaps, the
    complete evaluation captions and their swaps)."""
    caps = _mixture_captions(scenes, config)
    negs = swap_negatives(caps, seed=config.seed, scenes=scenes)
    texts = [c.text for c in caps]
    neg_texts = [n.text if n is not None else None for n in negs]
    if config.shuffle_words:
        gen = np.random.default_rng(np.random.SeedSequence([config.seed, 202]))
        texts = [_shuffle_words(t, gen) for t in texts]
        neg_texts = [_shuffle_words(t, gen) if t is not None else None for t in neg_texts]
    eval_caps = describe_all(scenes, CaptionSpec(), seed=config.seed + 1)
    eval_negs = swap_negatives(eval_caps, seed=config.seed + 1, scenes=scenes)

    def record(c: Caption | None):
        return None if c is None else [c.text, [list(m) for m in c.mentions], c.style]

    return {"texts": texts, "negatives": neg_texts, "eval": [record(c) for c in eval_caps],
            "eval_negatives": [record(c) for c in eval_negs]}


def _caption(record) -> Caption | None:
    return None if record is None else Caption(record[0], tuple(tuple(m) for m in record[1]), record[2])


def build_data(config: OrganismConfig, cache: bool = True) -> OrganismData:
    """Scenes, split, rendered images and captions for ``config`` (deterministic).

    With ``cache`` the rendered scenes (:func:`labclip_lib.scenesets.rendered_scenes`) and the
    captions are kept under the cache directory, so the chapters that need the same data again
    read it in a second or two instead of re-rendering it; the result is the same either way.
    """
    from .cache import compute_or_load_json, key_hash
    from .scenesets import code_fingerprint, rendered_scenes

    scenes, images = rendered_scenes(config.n_scenes, list(config.n_objects), config.seed, config.resolution,
                                     cache=cache)
    split = split_by_combination(scenes, val=config.val, test=config.test, seed=config.seed)
    d = config.to_dict()
    key = {"what": "organism captions", "code": code_fingerprint("scenes", "render", "captions", "organisms", "splits"),
           **{k: d[k] for k in ("n_scenes", "n_objects", "resolution", "captions", "shuffle_words", "val", "test",
                                "seed")}}
    if cache:
        rec = compute_or_load_json(key, lambda: _caption_records(config, scenes), directory=cache_dir("captions"),
                                   name=config.name)
    else:
        rec = _caption_records(config, scenes)
    return OrganismData(scenes, split, images, rec["texts"], rec["negatives"],
                        [_caption(r) for r in rec["eval"]], [_caption(r) for r in rec["eval_negatives"]],
                        key=f"{config.name}-{key_hash(key)[:24]}")


def _embed(model: DualEncoder, tok: WordTokenizer, images: torch.Tensor | None, texts: Sequence[str] | None,
           batch_size: int = 1024) -> torch.Tensor:
    model.eval()
    out = []
    with torch.inference_mode():
        if images is not None:
            for i in range(0, len(images), batch_size):
                out.append(F.normalize(model.encode_image(_to_pixels(images[i : i + batch_size])), dim=1))
        else:
            for i in range(0, len(texts), batch_size):
                ids, lengths = tok(texts[i : i + batch_size])
                out.append(F.normalize(model.encode_text(ids, lengths), dim=1))
    return torch.cat(out)


def binding_accuracy_2way(model: DualEncoder, tok: WordTokenizer, data: OrganismData, part: str) -> float:
    """Held-out two-way binding accuracy of ``model`` on split ``part`` (complete captions).

    Scenes whose caption has no valid swap negative (same colour or same shape) are left out.
    """
    from .metrics import binding_accuracy

    idx = [i for i in data.split[part] if data.eval_negatives[i] is not None]
    if not idx:
        raise ValueError(f"no scene of the {part!r} split has a swap negative")
    img = _embed(model, tok, data.images[idx], None)
    pos = _embed(model, tok, None, [data.eval_captions[i].text for i in idx])
    neg = _embed(model, tok, None, [data.eval_negatives[i].text for i in idx])
    return binding_accuracy(img, pos, neg)


def train_organism(config: OrganismConfig, data: OrganismData | None = None, progress: bool | None = None,
                   ) -> tuple[DualEncoder, TrainingHistory]:
    """Train an organism on CPU (or CUDA when present) and return it with its curves."""
    data = data if data is not None else build_data(config)
    tok = WordTokenizer()
    torch.manual_seed(config.seed)
    model = DualEncoder(len(tok.vocabulary), config.embed_dim, config.resolution)
    train = torch.as_tensor(data.split.train)
    ids, lengths = tok([data.train_texts[i] for i in train.tolist()])
    has_neg = torch.tensor([data.train_negatives[i] is not None for i in train.tolist()])
    neg_ids = neg_len = None
    if config.hard_negatives:
        fill = [data.train_negatives[i] or data.train_texts[i] for i in train.tolist()]
        neg_ids, neg_len = tok(fill)
    steps_per_epoch = max(1, len(train) // config.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps_per_epoch * config.epochs,
                                                pct_start=0.2)
    gen = torch.Generator().manual_seed(config.seed)
    hist = TrainingHistory()
    t0 = time.perf_counter()
    bar = progress_bar(steps_per_epoch * config.epochs, f"training organism {config.name!r}", show=progress is not False)
    for epoch in range(config.epochs):
        model.train()
        perm = torch.randperm(len(train), generator=gen)
        losses, accs = [], []
        for s in range(steps_per_epoch):
            b = perm[s * config.batch_size : (s + 1) * config.batch_size]
            img = F.normalize(model.encode_image(_to_pixels(data.images[train[b]])), dim=1)
            lb = lengths[b]
            txt = F.normalize(model.encode_text(ids[b, : int(lb.max())], lb), dim=1)
            scale = model.logit_scale.exp().clamp(max=100)
            logits = scale * img @ txt.T
            target = torch.arange(len(b))
            i2t = logits
            if neg_ids is not None:
                nl = neg_len[b]
                neg = F.normalize(model.encode_text(neg_ids[b, : int(nl.max())], nl), dim=1)
                neg_logits = (scale * img @ neg.T).masked_fill(~has_neg[b][None, :], float("-inf"))
                i2t = torch.cat([logits, neg_logits], dim=1)
            loss = (F.cross_entropy(i2t, target) + F.cross_entropy(logits.T, target)) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            accs.append((logits.argmax(1) == target).float().mean().item())
            bar.update()
        hist.epoch.append(epoch + 1)
        hist.loss.append(float(np.mean(losses)))
        hist.batch_accuracy.append(float(np.mean(accs)))
        hist.val_binding.append(binding_accuracy_2way(model, tok, data, "val"))
    bar.close()
    hist.seconds = time.perf_counter() - t0
    model.eval()
    return model, hist


_NATURAL = CaptionSpec(style="template", order="random", completeness=0.5, attribute_density=0.5, saliency_bias=1.0)

#: The organisms the book relies on (seed 0; vary it with ``organism_config(name, seed)``).
ORGANISMS: dict[str, OrganismConfig] = {
    # (a) complete, attribute-dense captions: every object, every colour
    "complete": OrganismConfig(name="complete"),
    # (b) natural-like captions: incomplete (half the objects: the most salient one of two),
    #     colour stated half the time
    "natural": OrganismConfig(name="natural", captions=((1.0, _NATURAL),)),
    # a mixture of natural-like (70%) and complete (30%) captions
    "mixture": OrganismConfig(name="mixture", captions=((0.7, _NATURAL), (0.3, CaptionSpec()))),
    # (c) CLIP-like, chosen by the search of chapter 2: complete captions whose colours are
    #     stated only 30% of the time (low attribute density)
    "clip-like": OrganismConfig(name="clip-like", captions=((1.0, CaptionSpec(attribute_density=0.3)),)),
    # bag-of-words control: complete captions with their words shuffled
    "bag-of-words": OrganismConfig(name="bag-of-words", shuffle_words=True),
}


def organism_config(name: str, seed: int = 0, **changes) -> OrganismConfig:
    """The named organism's config with another seed (and any other field changed)."""
    if name not in ORGANISMS:
        raise ValueError(f"unknown organism {name!r}; named organisms: {', '.join(ORGANISMS)}")
    return replace(ORGANISMS[name], seed=seed, **changes)


def _save(model: DualEncoder, config: OrganismConfig, hist: TrainingHistory, metrics: dict, path: Path) -> None:
    meta = {"format": "labclip-organism/1", "config": config.to_dict(), "vocabulary": list(VOCABULARY),
            "history": hist.to_dict(), "metrics": metrics}
    save_directory(path, ORGANISM_FILE, WEIGHTS_FILE, model.state_dict(), meta, indent=1)


def read_organism(path: str | Path) -> tuple[DualEncoder, dict]:
    """Load an organism's network and metadata from its directory (safetensors, no pickle).

    Raises ``ValueError`` if the files are missing, corrupt or do not match their checksum.
    """
    meta, tensors = read_directory(path, ORGANISM_FILE, WEIGHTS_FILE, "an organism")
    config = OrganismConfig.from_dict(meta["config"])
    model = DualEncoder(len(meta["vocabulary"]), config.embed_dim, config.resolution)
    model.load_state_dict(tensors)
    model.eval()
    return model, meta


def get_organism(config: OrganismConfig | str, directory: str | Path | None = None,
                 progress: bool | None = None) -> Path:
    """Directory of the trained organism ``config`` (a config or a name in :data:`ORGANISMS`).

    Trains it (with a progress bar) and stores it under ``cache_dir("organisms")`` unless a
    valid copy is already there; the entry's name includes a hash of the whole config.
    Open the result with :func:`labclip_lib.models.load_model` like any other model.
    """
    if isinstance(config, str):
        if config not in ORGANISMS:
            raise ValueError(f"unknown organism {config!r}; named organisms: {', '.join(ORGANISMS)}")
        config = ORGANISMS[config]
    root = Path(directory) if directory is not None else cache_dir("organisms")
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{config.name}-{config.key}"
    if path.exists():
        try:
            read_organism(path)
            return path
        except ValueError as err:
            import warnings

            warnings.warn(f"re-training organism {config.name!r}: {err}", stacklevel=2)
    data = build_data(config)
    model, hist = train_organism(config, data, progress)
    tok = WordTokenizer()
    metrics = {part: binding_accuracy_2way(model, tok, data, part) for part in ("train", "val", "test")}
    _save(model, config, hist, metrics, path)
    return path


def weights_digest(network: nn.Module) -> str:
    """sha256 (16 hex digits) of a network's parameters and buffers: changes whenever its outputs could."""
    return tensors_digest({k: t.detach().cpu() for k, t in network.state_dict().items()})[:16]


class OrganismModel:
    """A trained organism behind the same interface as a pretrained CLIP (see ``load_model``).

    ``encode_images`` takes uint8 ``(N, R, R, 3)`` arrays (or PIL images, resized to the
    organism's resolution) and ``encode_texts`` captions in the organism's vocabulary; both
    return float32 CPU tensors ``(N, D)``.
    """

    def __init__(self, network: DualEncoder, config: OrganismConfig, vocabulary: Sequence[str] = VOCABULARY,
                 fingerprint: str | None = None, device: str | torch.device | None = None,
                 path: Path | None = None):
        self.network, self.config, self.path = network, config, path
        self.device = get_device(device)
        self.network.to(self.device).eval()
        self.tokenizer = WordTokenizer(vocabulary)
        self.name = f"organism:{config.name}"
        self.dim = config.embed_dim
        self.image_size = config.resolution
        self.fingerprint = fingerprint or f"{self.name}@{weights_digest(network)}"
        self.preprocess_config = {"resolution": config.resolution, "scale": "x/255", "mean": 0.5, "std": 0.25}

    @classmethod
    def from_directory(cls, path: str | Path, device: str | torch.device | None = None) -> "OrganismModel":
        network, meta = read_organism(path)
        return cls(network, OrganismConfig.from_dict(meta["config"]), meta["vocabulary"],
                   f"organism:{meta['config']['name']}@{meta['weights_sha256']}", device, Path(path))

    @classmethod
    def untrained(cls, config: OrganismConfig, seed: int = 12345) -> "OrganismModel":
        """The same architecture at random initialisation (a baseline for probes)."""
        torch.manual_seed(seed)
        net = DualEncoder(len(VOCABULARY), config.embed_dim, config.resolution)
        return cls(net, replace(config, name=f"{config.name} (untrained)"), fingerprint=f"untrained:{config.key}:{seed}")

    def __repr__(self) -> str:
        return f"OrganismModel({self.config.name!r}, D={self.dim}, {self.image_size} px)"

    def _images(self, images) -> torch.Tensor:
        if isinstance(images, (list, tuple)):
            if len(images) == 0:
                raise ValueError("empty list of images")
            if hasattr(images[0], "convert"):  # PIL
                images = np.stack([np.asarray(im.convert("RGB").resize((self.image_size, self.image_size)))
                                   for im in images])
            else:
                images = np.stack([np.asarray(im) for im in images])
        x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
        if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {x.dtype} {tuple(x.shape)}")
        if len(x) == 0:
            raise ValueError("empty list of images")
        if x.shape[1:3] != (self.image_size, self.image_size):
            raise ValueError(f"this organism sees {self.image_size} px images, got {x.shape[1]}x{x.shape[2]}; "
                             f"render at resolution={self.image_size}")
        return x

    def encode_images(self, images, batch_size: int = 1024, normalize: bool = True,
                      progress: bool | None = None) -> torch.Tensor:
        """``(N, R, R, 3)`` uint8 -> ``(N, D)`` float32 on CPU."""
        x = self._images(images)
        out = []
        self.network.eval()
        with torch.inference_mode():
            for i in range(0, len(x), batch_size):
                e = self.network.encode_image(_to_pixels(x[i : i + batch_size]).to(self.device)).float()
                out.append((F.normalize(e, dim=1) if normalize else e).cpu())
        return torch.cat(out)

    def encode_texts(self, captions: Sequence[str], batch_size: int = 4096, normalize: bool = True,
                     progress: bool | None = None) -> torch.Tensor:
        """``N`` captions -> ``(N, D)`` float32 on CPU."""
        if isinstance(captions, str):
            captions = [captions]
        captions = [str(c) for c in captions]
        if not captions:
            raise ValueError("empty list of captions")
        out = []
        self.network.eval()
        with torch.inference_mode():
            for i in range(0, len(captions), batch_size):
                ids, lengths = self.tokenizer(captions[i : i + batch_size])
                e = self.network.encode_text(ids.to(self.device), lengths).float()
                out.append((F.normalize(e, dim=1) if normalize else e).cpu())
        return torch.cat(out)


def load_organism(path: str | Path, device: str | torch.device | None = None) -> OrganismModel:
    """Open a trained organism directory (what ``load_model`` calls for organisms)."""
    return OrganismModel.from_directory(path, device)


def organism_summary(path: str | Path) -> dict:
    """One row about a trained organism: name, seed, binding per split, training time."""
    meta = json.loads((Path(path) / ORGANISM_FILE).read_text())
    cfg = meta["config"]
    return {
        "organism": cfg["name"],
        "seed": cfg["seed"],
        **{f"{k} binding": v for k, v in meta["metrics"].items()},
        "training seconds": meta["history"]["seconds"],
        "epochs": cfg["epochs"],
    }


def organism_history(path: str | Path) -> dict[str, list]:
    """Per-epoch training curves stored with the organism."""
    return json.loads((Path(path) / ORGANISM_FILE).read_text())["history"]


def architecture_table(config: OrganismConfig) -> list[dict]:
    """Parameters per part of the organism's network (rows for a table)."""
    net = DualEncoder(len(VOCABULARY), config.embed_dim, config.resolution)
    rows = []
    for name, mod in (("image encoder (CNN)", net.image), ("text encoder (BiGRU)", net.text)):
        rows.append({"part": name, "parameters": sum(p.numel() for p in mod.parameters())})
    rows.append({"part": "temperature", "parameters": 1})
    rows.append({"part": "total", "parameters": sum(p.numel() for p in net.parameters())})
    return rows


def example_captions(config: OrganismConfig, scene: Scene, n: int = 4) -> list[str]:
    """``n`` training captions the organism ``config`` could see for ``scene`` (same machinery)."""
    texts = [c.text for c in _mixture_captions([scene] * n, config)]
    if config.shuffle_words:
        gen = np.random.default_rng(np.random.SeedSequence([config.seed, 202]))
        texts = [_shuffle_words(t, gen) for t in texts]
    return texts

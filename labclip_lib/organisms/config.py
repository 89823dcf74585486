"""Organism configurations: one frozen :class:`OrganismConfig` names an organism completely (data,
caption knobs, architecture, optimisation, seed); :data:`ORGANISMS` holds the book's named ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import Sequence

from ..world.captions import CaptionSpec
from ..world.render import MIN_RESOLUTION
from ..world.scenes import SIZES

__all__ = ["OrganismConfig", "ORGANISMS", "RECIPES", "organism_config", "organism_configs", "recipe_name", "recipe_changes", "describe_changes",
           "recipe_rows", "TEXT_ENCODER_NAMES",
           "IMAGE_POOLINGS", "STOPPING_RULES", "PRECISIONS", "ARCHITECTURES"]

#: the text encoders an organism can have (see :mod:`labclip_lib.organisms.networks`)
TEXT_ENCODER_NAMES = ("bigru", "gru")
#: how the CNN's last feature map becomes the embedding (see :class:`~labclip_lib.organisms.networks.ImageEncoder`)
IMAGE_POOLINGS = ("flatten", "mean", "mean-linear")
#: how an organism's training ends (see :func:`labclip_lib.organisms.training.train_organism`)
STOPPING_RULES = ("fixed", "val-loss")
#: the arithmetic of the image encoder's training steps (see :func:`labclip_lib.organisms.training.train_organism`)
PRECISIONS = ("fp32", "bf16")
#: "cnn-gru": the organisms' CNN and GRU (:mod:`~labclip_lib.organisms.networks`); "clip": a small
#: ``transformers.CLIPModel``, a vision transformer and a causal text transformer
#: (:mod:`~labclip_lib.organisms.clip`)
ARCHITECTURES = ("cnn-gru", "clip")
#: the fields that shape the "clip" architecture, and those that shape "cnn-gru"
#: (patch 4 / 2 vision layers chosen on validation binding over patch 8 / 4 layers, speed/bench_organisms.py)
CLIP_FIELDS = {"patch_size": 4, "vision_layers": 2, "text_layers": 2, "transformer_width": 64}
CNN_FIELDS = ("image_width", "batch_norm", "channels_last", "image_pooling", "stem_stride", "pool_first",
              "text_encoder", "text_hidden")
#: fields added after organisms were first cached: left out of :meth:`OrganismConfig.to_dict` at
#: their default, so the keys (and cached organisms) of every earlier config stay as they were
_KEYED_WHEN_SET = {"stopping": "fixed", "patience": 3, "precision": "fp32", "architecture": "cnn-gru",
                   **CLIP_FIELDS}


@dataclass(frozen=True)
class OrganismConfig:
    """Everything that defines one organism. Two equal configs give the same model."""

    name: str = "complete"
    #: "cnn-gru" (the fields below from ``image_width`` to ``text_hidden``) or "clip" (a small
    #: ``transformers.CLIPModel``: ``patch_size``, ``vision_layers``, ``text_layers``,
    #: ``transformer_width``, both towers that wide)
    architecture: str = "cnn-gru"
    n_scenes: int = 30000
    n_objects: tuple[int, ...] = (2,)
    #: object sizes drawn for the scenes (CLEVR's "small" and "large")
    sizes: tuple[str, ...] = ("large",)
    resolution: int = 32
    #: caption generators and their probabilities, e.g. ``((0.7, natural), (0.3, complete))``
    captions: tuple[tuple[float, CaptionSpec], ...] = ((1.0, CaptionSpec()),)
    shuffle_words: bool = False
    hard_negatives: bool = False
    embed_dim: int = 64
    #: channels of the CNN's first block (doubling per block), batch norm after every conv,
    #: NHWC memory layout (same function, faster on CPU)
    image_width: int = 16
    batch_norm: bool = True
    channels_last: bool = True
    #: "flatten" (an MLP head sees every location), "mean" (global average pooling, MLP head) or
    #: "mean-linear" (global average pooling, linear head: the embedding adds up over objects)
    image_pooling: str = "mean-linear"
    #: 2: the CNN's first conv (5x5) has stride 2, so a 64 px image costs about what 32 px did
    stem_stride: int = 1
    #: conv -> max-pool -> batch norm -> ReLU (instead of conv -> norm -> ReLU -> pool): the same
    #: function class up to the norm's sign, a quarter of the elementwise work
    pool_first: bool = True
    #: "bigru" (bidirectional, packed sequences) or "gru" (one direction, padded batch)
    text_encoder: str = "gru"
    text_hidden: int = 64
    #: the "clip" architecture: ViT patch size (pixels), transformer layers per tower, their width
    patch_size: int = CLIP_FIELDS["patch_size"]
    vision_layers: int = CLIP_FIELDS["vision_layers"]
    text_layers: int = CLIP_FIELDS["text_layers"]
    transformer_width: int = CLIP_FIELDS["transformer_width"]
    batch_size: int = 128
    #: with ``stopping="val-loss"`` the cap on the number of epochs
    epochs: int = 2
    #: "fixed": ``epochs`` epochs on a one-cycle schedule; "val-loss": one epoch of warm-up, then a
    #: constant rate halved after every epoch whose validation contrastive loss does not improve;
    #: training stops after ``patience`` such epochs in a row (or at the cap, ``epochs``) and keeps
    #: the weights of the epoch with the lowest validation loss
    stopping: str = "fixed"
    patience: int = 3
    #: "fp32", or "bf16": the image encoder's forward passes in training run under bfloat16
    #: autocast (mixed precision: weights, optimiser, loss and text encoder stay fp32; the
    #: validation and every measurement embed in fp32). Fast where the CPU has bf16 arithmetic
    #: (AVX512-BF16 or AMX); elsewhere bf16 is emulated: slower, the same numbers
    precision: str = "fp32"
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
        checks = [
            (bool(self.name), f"name must be a non-empty string, got {self.name!r}"),
            (len(self.n_objects) > 0 and all(int(k) >= 1 for k in self.n_objects),
             f"n_objects must be a non-empty list of positive counts, got {self.n_objects!r}"),
            (self.resolution >= MIN_RESOLUTION and self.resolution % 8 == 0,
             f"resolution must be a multiple of 8 and at least {MIN_RESOLUTION} (the CNN pools three times), "
             f"got {self.resolution}"),
            (len(self.sizes) > 0 and all(z in SIZES for z in self.sizes),
             f"sizes must be a non-empty list of {', '.join(SIZES)}, got {self.sizes!r}"),
            (self.embed_dim >= 1, f"embed_dim must be positive, got {self.embed_dim}"),
            (self.image_width >= 1, f"image_width must be positive, got {self.image_width}"),
            (self.text_hidden >= 1, f"text_hidden must be positive, got {self.text_hidden}"),
            (self.stem_stride in (1, 2), f"stem_stride must be 1 or 2, got {self.stem_stride}"),
            (self.resolution % (8 * self.stem_stride) == 0,
             f"with stem_stride 2 the resolution must be a multiple of 16, got {self.resolution}"),
            (self.image_pooling in IMAGE_POOLINGS,
             f"image_pooling must be one of {', '.join(IMAGE_POOLINGS)}, got {self.image_pooling!r}"),
            (self.text_encoder in TEXT_ENCODER_NAMES,
             f"text_encoder must be one of {', '.join(TEXT_ENCODER_NAMES)}, got {self.text_encoder!r}"),
            (self.batch_size >= 2, f"batch_size must be at least 2 (a contrastive batch), got {self.batch_size}"),
            (self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.stopping in STOPPING_RULES,
             f"stopping must be one of {', '.join(STOPPING_RULES)}, got {self.stopping!r}"),
            (self.patience >= 1, f"patience must be at least 1 epoch, got {self.patience}"),
            (self.architecture in ARCHITECTURES,
             f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}"),
            (self.architecture == "clip" or all(getattr(self, k) == v for k, v in CLIP_FIELDS.items()),
             f"{', '.join(CLIP_FIELDS)} shape the 'clip' architecture only; this config's is {self.architecture!r}"),
            (min(self.patch_size, self.vision_layers, self.text_layers, self.transformer_width) >= 1,
             "patch_size, vision_layers, text_layers and transformer_width must be positive"),
            (self.patch_size >= 1 and self.resolution % self.patch_size == 0,
             f"the resolution ({self.resolution}) must be a multiple of patch_size ({self.patch_size})"),
            (self.transformer_width % (heads := max(1, self.transformer_width // 32)) == 0,
             f"transformer_width {self.transformer_width} must split into {heads} heads"),
            (self.precision in PRECISIONS,
             f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 < self.val < 1 and 0 < self.test < 1 and self.val + self.test < 1,
             f"val and test must be fractions in (0, 1) with val + test < 1, got {self.val} and {self.test}"),
            (self.seed >= 0, f"seed must be >= 0, got {self.seed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"OrganismConfig: {message}")

    def to_dict(self) -> dict:
        d = asdict(self)
        # a caption generator's ``attributes`` is written only when it is not the default (colour
        # only), so configs from before the knob keep their keys (and their cached organisms)
        d["captions"] = [[p, {k: v for k, v in asdict(s).items() if k != "attributes" or v != 1}]
                         for p, s in self.captions]
        d["n_objects"] = list(self.n_objects)
        d["sizes"] = list(self.sizes)
        for k, default in _KEYED_WHEN_SET.items():
            if d[k] == default:
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "OrganismConfig":
        d = dict(d)
        d["captions"] = tuple((float(p), CaptionSpec(**s)) for p, s in d["captions"])
        d["n_objects"] = tuple(d["n_objects"])
        # organisms saved before the second generation have no recipe fields: they were trained
        # with the first recipe
        for k, v in RECIPES["first"].items():
            d.setdefault(k, v)
        d["sizes"] = tuple(d["sizes"])
        return cls(**d)

    @property
    def key(self) -> str:
        """Stable hash of the whole configuration (names the cache entry)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


_NATURAL = CaptionSpec(style="template", order="random", completeness=0.5, attribute_density=0.5, saliency_bias=1.0)
#: one object of two per caption, chosen at random, its colour always stated
_ONE_RANDOM = CaptionSpec(completeness=0.5, saliency_bias=0.0)
#: one object of two per caption, always the most salient one, its colour always stated
_ONE_SALIENT = CaptionSpec(completeness=0.5, saliency_bias=1.0)


#: Training recipes by name: the fields that set an organism's cost. ``"second"`` is the
#: default (:class:`OrganismConfig`'s defaults); ``"first"`` is the recipe the book used until
#: the second generation (speed/bench_organisms.py trains both side by side).
RECIPES: dict[str, dict] = {
    "first": dict(sizes=SIZES, resolution=32, image_width=32, batch_norm=True, channels_last=False,
                  image_pooling="flatten", stem_stride=1, pool_first=False, text_encoder="bigru", batch_size=256,
                  epochs=6, stopping="fixed", patience=3, precision="fp32", architecture="cnn-gru", lr=3e-3),
}
RECIPES["second"] = {k: OrganismConfig.__dataclass_fields__[k].default for k in RECIPES["first"]}
#: ``"converged"``: the second recipe trained until its validation contrastive loss stops
#: improving (``epochs`` is the cap), so an organism's binding is what its data teach, not what
#: two epochs reach
RECIPES["converged"] = {**RECIPES["second"], "stopping": "val-loss", "patience": 3, "epochs": 30}
#: ``"converged-bf16"``: the converged recipe with the image encoder's training passes in
#: bfloat16 mixed precision (speed/bench_organisms.py compares it with ``"converged"``)
RECIPES["converged-bf16"] = {**RECIPES["converged"], "precision": "bf16"}
#: ``"clip"``: CLIP's own architecture (a small ``transformers.CLIPModel``) trained by the
#: converged recipe at a lower learning rate (transformers train less stably at the CNN's)
RECIPES["clip"] = {**RECIPES["converged"], "architecture": "clip", "lr": 1e-3, **CLIP_FIELDS}


def _diet(name: str, captions=((1.0, CaptionSpec()),), **fields) -> OrganismConfig:
    return OrganismConfig(name=name, captions=captions, **fields)


#: The organisms the book relies on (seed 0; vary it with ``organism_config(name, seed)``).
ORGANISMS: dict[str, OrganismConfig] = {
    # (a) complete, attribute-dense captions: every object, every colour
    "complete": _diet("complete"),
    # (b) natural-like captions (paper 2's): incomplete (half the objects: the most salient one
    #     of two), colour stated half the time
    "natural": _diet("natural", ((1.0, _NATURAL),)),
    # bag-of-words control: complete captions with their words shuffled
    "bag-of-words": _diet("bag-of-words", shuffle_words=True),
    # (c) CLIP-like: the diet chapter 2's search chooses by the criterion
    #     (labclip_lib.analysis.profiles.CLIP_LIKE): one object per caption, always the most
    #     salient one, its colour always stated
    "clip-like": _diet("clip-like", ((1.0, _ONE_SALIENT),)),
    # the other diets of chapter 2's search (one-salient: the clip-like diet under its own name)
    "sparse-colour": _diet("sparse-colour", ((1.0, CaptionSpec(attribute_density=0.3)),)),
    "mixture": _diet("mixture", ((0.7, _NATURAL), (0.3, CaptionSpec()))),
    "one-random": _diet("one-random", ((1.0, _ONE_RANDOM),)),
    "one-salient": _diet("one-salient", ((1.0, _ONE_SALIENT),)),
    "salient+random": _diet("salient+random", ((0.7, _ONE_SALIENT), (0.3, _ONE_RANDOM))),
    "one-random+complete": _diet("one-random+complete", ((0.7, _ONE_RANDOM), (0.3, CaptionSpec()))),
}


def organism_config(name: str, seed: int = 0, recipe: str = "second", **changes) -> OrganismConfig:
    """The named organism's config with another seed, trained by ``recipe`` (a name in
    :data:`RECIPES`), with any other field changed. Used in chapters 2, 4, 6."""
    if name not in ORGANISMS:
        raise ValueError(f"unknown organism {name!r}; named organisms: {', '.join(ORGANISMS)}")
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; recipes: {', '.join(RECIPES)}")
    return replace(ORGANISMS[name], seed=seed, **{**RECIPES[recipe], **changes})


def organism_configs(names: Sequence[str], seeds: Sequence[int], recipes: Sequence[str] = ("second",),
                     changes: dict | None = None) -> list[OrganismConfig]:
    """:func:`organism_config` of every named organism, seed and recipe (in that nesting), each
    with ``changes``: the list to hand :func:`~labclip_lib.organisms.get_organisms` at once.
    Used in chapter 2."""
    if not names or not seeds or not recipes:
        raise ValueError("organism_configs needs at least one name, one seed and one recipe")
    return [organism_config(name, seed, recipe, **(changes or {})) for name in names for seed in seeds
            for recipe in recipes]


def recipe_rows() -> list[dict]:
    """One row per field that :data:`RECIPES` set, with each recipe's value, blank where the
    field does not shape the recipe's architecture (a table for chapter 2)."""
    fields = dict.fromkeys(k for r in RECIPES.values() for k in r)

    def value(recipe: dict, k: str):
        clip = recipe.get("architecture") == "clip"
        v = "" if (k in CNN_FIELDS and clip) or (k in CLIP_FIELDS and not clip) else recipe.get(k, "")
        return ", ".join(v) if isinstance(v, tuple) else v

    return [{"field": k, **{name: value(r, k) for name, r in RECIPES.items()}} for k in fields]


def recipe_changes(config: OrganismConfig) -> tuple[str, dict]:
    """The recipe of :data:`RECIPES` closest to ``config`` (fewest fields changed) and the
    fields ``config`` changes from it (``{}`` when it is that recipe)."""
    differences = {name: {k: getattr(config, k) for k, v in fields.items() if getattr(config, k) != v}
                   for name, fields in RECIPES.items()}
    return min(differences.items(), key=lambda item: len(item[1]))


def describe_changes(name: str, changed: dict) -> str:
    """``"second"`` or ``"second with resolution 64, sizes small+large"`` (a value ``None``: varied)."""
    if not changed:
        return name
    shown = {k: "varied" if v is None else "+".join(map(str, v)) if isinstance(v, tuple) else str(v)
             for k, v in changed.items()}
    return f"{name} with " + ", ".join(f"{k} {v}" for k, v in shown.items())


def recipe_name(config: OrganismConfig, describe: bool = False) -> str:
    """The name of the recipe in :data:`RECIPES` whose fields ``config`` has, or ``"custom"``;
    with ``describe``, a custom config is named by the closest recipe and the fields it changes
    (``"second with resolution 64, stem_stride 2"``)."""
    name, changed = recipe_changes(config)
    if not changed:
        return name
    return describe_changes(name, changed) if describe else "custom"

"""Held-out-combination splits: every test caption and every test hard negative is unseen.

The unit of splitting is the *swap class* of a scene: its multiset of colours together with
its multiset of shapes (what a bag-of-words model sees). All combinations in a class are
colour permutations of each other — for two objects, a combination and its attribute-swapped
partner ("red cube + blue sphere" with "blue cube + red sphere") — so holding out a class
holds out every combination in it and every hard negative of those combinations.

Classes are sorted by their (string) keys and shuffled with a NumPy generator seeded
explicitly, so a split depends only on the seed and the scenes, never on ``PYTHONHASHSEED``
or on the order of the scenes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..runtime import rng as _rng
from .scenes import Scene

__all__ = ["Split", "swap_class", "split_by_combination", "split_summary"]

SwapClass = tuple[tuple[str, ...], tuple[str, ...]]


def swap_class(scene: Scene) -> SwapClass:
    """``(sorted colours, sorted shapes)`` of a scene: its class under attribute swaps."""
    return scene.bag_of_words


@dataclass(frozen=True)
class Split:
    """Index arrays into the scene list (sorted, disjoint) and the held-out classes."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    val_classes: frozenset
    test_classes: frozenset

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in ("train", "val", "test"):
            raise KeyError(f"unknown split {name!r}; expected train, val or test")
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        return {k: int(len(self[k])) for k in ("train", "val", "test")}


def split_by_combination(scenes: Sequence[Scene], val: float = 0.1, test: float = 0.1,
                         seed: int = 0) -> Split:
    """Split scenes so that val and test combinations (and their swaps) never occur in train.

    Args:
        scenes: the scenes to split.
        val, test: share of swap classes held out for validation and test (each class keeps
            all its scenes together). At least one class goes to each non-zero share.
        seed: the split's seed.

    Returns:
        a :class:`Split` of indices into ``scenes``.

    Used in chapter 1.
    """
    if len(scenes) == 0:
        raise ValueError("cannot split an empty list of scenes")
    for name, v in (("val", val), ("test", test)):
        if not (0.0 <= float(v) < 1.0):
            raise ValueError(f"{name} share must be in [0, 1), got {v!r}")
    if val + test >= 1.0:
        raise ValueError(f"val + test shares must leave something to train on (got {val} + {test})")
    keys = [swap_class(s) for s in scenes]
    classes = sorted(set(keys))
    n_cls = len(classes)
    n_test = max(1, int(round(test * n_cls))) if test > 0 else 0
    n_val = max(1, int(round(val * n_cls))) if val > 0 else 0
    if n_test + n_val >= n_cls:
        raise ValueError(
            f"only {n_cls} distinct swap classes: too few to hold out {n_val} for val and "
            f"{n_test} for test and still train; use more varied scenes"
        )
    order = _rng(seed).permutation(n_cls)
    test_cls = frozenset(classes[i] for i in order[:n_test])
    val_cls = frozenset(classes[i] for i in order[n_test : n_test + n_val])
    where = np.array([2 if k in test_cls else 1 if k in val_cls else 0 for k in keys])
    return Split(
        train=np.flatnonzero(where == 0),
        val=np.flatnonzero(where == 1),
        test=np.flatnonzero(where == 2),
        val_classes=val_cls,
        test_classes=test_cls,
    )


def split_summary(scenes: Sequence[Scene], split: Split) -> list[dict]:
    """One row per split: scenes, distinct combinations, swap classes, objects per scene.

    Also counts the combinations of each held-out split that appear in train (always 0).

    Used in chapter 1.
    """
    combos = {k: Counter(scenes[i].combination for i in split[k]) for k in ("train", "val", "test")}
    rows = []
    for k in ("train", "val", "test"):
        idx = split[k]
        rows.append(
            {
                "split": k,
                "scenes": int(len(idx)),
                "combinations": len(combos[k]),
                "swap classes": len({swap_class(scenes[i]) for i in idx}),
                "mean objects": float(np.mean([len(scenes[i]) for i in idx])) if len(idx) else float("nan"),
                "combinations also in train": 0 if k == "train" else len(set(combos[k]) & set(combos["train"])),
            }
        )
    return rows

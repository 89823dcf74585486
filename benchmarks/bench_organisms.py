"""Organism training: the first recipe against the second, side by side in one run.

Trains the ``complete`` organism (or ``--diet``) with each recipe of
:data:`labclip_lib.organisms.RECIPES` for the same seeds on this machine, one after the other
(never two at once), and prints per organism: training seconds, held-out (test) binding on its
own scenes and on the other recipe's scenes (the same held-out combinations: splits depend on
the seed and the combinations, not on object sizes), and the image and text probes of chapter 4
(test combinations). Then the speed ratio and the mean of every column per recipe. The scenes
are built (rendered, or read from the cache) before any timing: training seconds only.

``--ablation`` adds one organism per step from the first recipe to the second (seed 0), each
step changing one more field, to show where the time and the binding come from.

Run: ``python benchmarks/bench_organisms.py`` (``--quick``: 1,200 scenes, one epoch, one seed;
``--seeds 0 1 2``).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from labclip_lib.analysis import modality_probes
from labclip_lib.organisms import (
    RECIPES,
    OrganismModel,
    WordTokenizer,
    binding_accuracy_2way,
    build_data,
    organism_config,
    train_organism,
)

#: cumulative steps from the first recipe to the second (``--ablation``)
ABLATION_STEPS = [
    ("first recipe", {}),
    ("+ channels_last", {"channels_last": True}),
    ("+ one-direction GRU, no packing", {"text_encoder": "gru"}),
    ("+ CNN width 16", {"image_width": 16}),
    ("+ pool before norm", {"pool_first": True}),
    ("+ mean pooling, linear head", {"image_pooling": "mean-linear"}),
    ("+ batch 128, 2 epochs", {"batch_size": 128, "epochs": 2}),
    ("+ large objects only (= second recipe)", {"sizes": ("large",)}),
]


def measure(config, data, other_data=None, other_label: str = "other recipe's", probes: bool = True) -> dict:
    """Train ``config`` on ``data`` and measure it (see the module docstring); binding on
    ``other_data`` too when its held-out combinations are this data's (always so for full-size
    data of one seed)."""
    network, history = train_organism(config, data, progress=False)
    tok = WordTokenizer()
    row = {"train s": history.seconds, "test binding": binding_accuracy_2way(network, tok, data, "test")}
    if other_data is not None and other_data.split.test_classes == data.split.test_classes:
        row[f"test binding, {other_label} scenes"] = binding_accuracy_2way(network, tok, other_data, "test")
    if probes:
        res = modality_probes(OrganismModel(network, config), data, seed=config.seed)
        for modality in ("image", "text"):
            row[f"{modality} probe (test)"] = float(np.mean([r.test for r in res[modality]]))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--diet", default="complete")
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--quick", action="store_true", help="1,200 scenes, one epoch, seed 0 (a smoke test)")
    ap.add_argument("--no-probes", action="store_true", help="skip the image and text probes")
    ap.add_argument("--ablation", action="store_true", help="also train one organism per step between recipes")
    args = ap.parse_args()
    changes = {"n_scenes": 1200, "epochs": 1} if args.quick else {}
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    pd.set_option("display.width", 160)

    rows = []
    for seed in seeds:
        configs = {r: organism_config(args.diet, seed, recipe=r, **changes) for r in RECIPES}
        datas = {r: build_data(c) for r, c in configs.items()}
        for recipe, config in configs.items():
            other = next(r for r in RECIPES if r != recipe)
            row = measure(config, datas[recipe], datas[other], probes=not args.no_probes)
            rows.append({"recipe": recipe, "seed": seed, **row})
            print(f"  {recipe:>6} seed {seed}: {row['train s']:.1f} s, test binding {row['test binding']:.3f}",
                  flush=True)
    table = pd.DataFrame(rows)
    print(f"\n{args.diet} organisms, one at a time on this machine:\n")
    print(table.round(3).to_string(index=False))
    mean = table.groupby("recipe", sort=False).mean(numeric_only=True).drop(columns="seed")
    print("\nmean over seeds:\n")
    print(mean.round(3).to_string())
    first, second = mean.loc["first", "train s"], mean.loc["second", "train s"]
    print(f"\nspeed ratio (first / second recipe, training seconds per organism): {first / second:.1f}x")

    if args.ablation:
        steps, fields = [], {}
        base = build_data(organism_config(args.diet, seeds[0], recipe="first", **changes))
        for label, change in ABLATION_STEPS:
            fields |= change
            config = organism_config(args.diet, seeds[0], recipe="first", **{**fields, **changes})
            row = measure(config, build_data(config), base, "first recipe's", probes=not args.no_probes)
            steps.append({"step": label, **row})
            print(f"  {label}: {steps[-1]['train s']:.1f} s", flush=True)
        print(f"\nfrom the first recipe to the second, one change at a time ({args.diet}, seed {seeds[0]}):\n")
        print(pd.DataFrame(steps).round(3).to_string(index=False))


if __name__ == "__main__":
    main()

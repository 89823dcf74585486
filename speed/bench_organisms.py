"""Organism training: the recipes side by side in one run.

Trains the ``complete`` organism (or ``--diet``; ``--changes`` for e.g. four objects) with each
recipe of :data:`labclip_lib.organisms.RECIPES` (``--recipes`` to pick) for the same seeds on
this machine, one after the other (never two at once), and prints per organism: epochs trained
(and the epoch kept, for a recipe that stops on the validation loss), training seconds,
organism-epochs per minute, **validation** binding (what recipes are compared and chosen on),
test binding (reported, never chosen on), the first recipe's binding on the second's scenes and
back (the same held-out combinations), and the image and text probes of chapter 4 (test
combinations). Then, per recipe, the mean of every column, one training step's FLOPs (counted
by ``torch.utils.flop_counter``), its rate, and the share of this machine's fp32 GEMM rate it
reaches (a 1024 x 1024 matrix product timed in the same run), the same for two organisms'
steps run at once in two worker processes of one thread each (how ``get_organisms`` trains the
book's organisms), and the recipe with the best validation binding. Whether this CPU has native
bfloat16 arithmetic is printed too (the *converged-bf16* recipe is emulated, and slower, without it).
``--recipes converged clip`` sets the CNN+GRU beside CLIP's own architecture. The scenes are
built (rendered, or read from the cache) before any timing.

``--ablation`` adds one organism per step from the first recipe to the second (seed 0), each
step changing one more field, to show where the time and the binding come from.

Run: ``python speed/bench_organisms.py`` (``--quick``: 1,200 scenes, one epoch, one seed;
``--seeds 0 1 2``; ``--changes '{"n_objects": [4]}'``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from labclip_lib.analysis import modality_probes
from labclip_lib.runtime import parallel_map
from labclip_lib.organisms import (
    RECIPES,
    build_network,
    OrganismConfig,
    OrganismModel,
    WordTokenizer,
    binding_accuracy_2way,
    build_data,
    image_autocast,
    organism_config,
    to_pixels,
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
    row = {"epochs": len(history.epoch), "kept epoch": history.kept_epoch, "train s": history.seconds,
           "epochs/min": len(history.epoch) / history.seconds * 60,
           "val binding": binding_accuracy_2way(network, tok, data, "val"),
           "test binding": binding_accuracy_2way(network, tok, data, "test")}
    if other_data is not None and other_data.split.test_classes == data.split.test_classes:
        row[f"test binding, {other_label} scenes"] = binding_accuracy_2way(network, tok, other_data, "test")
    if probes:
        res = modality_probes(OrganismModel(network, config), data, seed=config.seed)
        for modality in ("image", "text"):
            row[f"{modality} probe (test)"] = float(np.mean([r.test for r in res[modality]]))
    return row


def step_rate(config, data, steps: int = 5) -> dict:
    """One training step of ``config`` (forward, backward, optimiser) on a batch of its data:
    GFLOP per step (``FlopCounterMode``), seconds per step (median of ``steps``), GFLOP/s."""
    tok = WordTokenizer()
    torch.manual_seed(0)
    model = build_network(config, len(tok.vocabulary)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr)
    idx = data.split.train[: config.batch_size]
    pixels = to_pixels(data.images[idx])
    ids, lengths = tok([data.train_texts[i] for i in idx])

    autocast = image_autocast(config)

    def step():
        with autocast:
            img = F.normalize(model.encode_image(pixels).float(), dim=1)
        txt = F.normalize(model.encode_text(ids, lengths), dim=1)
        logits = model.logit_scale.exp() * img @ txt.T
        target = torch.arange(len(idx))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    gflop, seconds = counter.get_total_flops() / 1e9, float(np.median(times))
    return {"GFLOP/step": gflop, "s/step": seconds, "GFLOP/s": gflop / seconds}


def _worker_step_rate(config_dict: dict, steps: int) -> dict:
    """:func:`step_rate` in a worker process on one thread (as ``get_organisms`` trains)."""
    torch.set_num_threads(1)
    config = OrganismConfig.from_dict(config_dict)
    return step_rate(config, build_data(config), steps=steps)


def workers_rate(config, workers: int = 2, steps: int = 15) -> dict:
    """Training steps of ``config`` in ``workers`` worker processes at once, one thread each (the
    way the book trains missing organisms: ``get_organisms``): their summed GFLOP/s."""
    rates = parallel_map(_worker_step_rate, [(config.to_dict(), steps)] * workers, n_jobs=workers)
    return {"workers": workers, "GFLOP/s": sum(r["GFLOP/s"] for r in rates),
            "s/step": float(np.mean([r["s/step"] for r in rates]))}


def gemm_rate(n: int = 1024, repeats: int = 20) -> float:
    """This machine's fp32 matrix-product rate (GFLOP/s), n x n by n x n, best of ``repeats``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--diet", default="complete")
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--changes", default="{}", help="JSON of config fields to change, e.g. {\"n_objects\": [4]}")
    ap.add_argument("--quick", action="store_true", help="1,200 scenes, one epoch, seed 0 (a smoke test)")
    ap.add_argument("--no-probes", action="store_true", help="skip the image and text probes")
    ap.add_argument("--ablation", action="store_true", help="also train one organism per step between recipes")
    args = ap.parse_args()
    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(args.changes).items()}
    changes |= {"n_scenes": 1200, "epochs": 1} if args.quick else {}
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    pd.set_option("display.width", 200)

    rows, rates = [], {}
    for seed in seeds:
        configs = {r: organism_config(args.diet, seed, recipe=r, **changes) for r in args.recipes}
        datas = {r: build_data(c) for r, c in configs.items()}
        for recipe, config in configs.items():
            other = {"first": "second", "second": "first"}.get(recipe)
            row = measure(config, datas[recipe], datas.get(other), f"{other} recipe's", probes=not args.no_probes)
            rows.append({"recipe": recipe, "seed": seed, **row})
            print(f"  {recipe:>9} seed {seed}: {row['epochs']} epochs, {row['train s']:.1f} s, "
                  f"val binding {row['val binding']:.3f}", flush=True)
            if recipe not in rates:
                # a smoke test (--quick) times a few steps; the figures to read come without it
                rates[recipe] = step_rate(config, datas[recipe], steps=2 if args.quick else 5)
                book = workers_rate(config, steps=2 if args.quick else 15)
                rates[recipe] |= {"2 workers GFLOP/s": book["GFLOP/s"], "2 workers s/step": book["s/step"]}
    gemm = gemm_rate(repeats=5 if args.quick else 20)
    bf16 = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    print(f"\nthis CPU {'has' if bf16 else 'has no'} native bfloat16 arithmetic for oneDNN "
          f"({'bf16 recipes run fast' if bf16 else 'bf16 recipes run emulated, slower'})")
    table = pd.DataFrame(rows)
    print(f"\n{args.diet} organisms {changes or ''}, one at a time on this machine:\n")
    print(table.round(3).to_string(index=False))
    mean = table.groupby("recipe", sort=False).mean(numeric_only=True).drop(columns="seed")
    speed = pd.DataFrame(rates).T
    speed["share of GEMM"] = speed["GFLOP/s"] / gemm
    speed["2 workers share"] = speed["2 workers GFLOP/s"] / gemm
    print(f"\nmean over seeds, and one training step (fp32 GEMM 1024^3 on this machine: {gemm:.0f} GFLOP/s; "
          f"'2 workers': two organisms' steps at once, one thread each, as get_organisms trains them):\n")
    print(mean.join(speed).round(3).to_string())
    if {"first", "second"} <= set(mean.index):
        first, second = mean.loc["first", "train s"], mean.loc["second", "train s"]
        print(f"\nspeed ratio (first / second recipe, training seconds per organism): {first / second:.1f}x")
    print(f"\nchosen on validation binding: {mean['val binding'].idxmax()} "
          f"({mean['val binding'].max():.3f}; test is reported above, not used to choose)")

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

"""What one organism of Part III's sweeps costs, phase by phase, against the work it used to repeat.

Runs the task a sweep worker runs for one grid point (default: chapter 7's four-object scenes with
the two most salient objects mentioned) in a fresh temporary cache, on one PyTorch thread as in
the workers, and times each phase: the scene set (rendered and captioned for evaluation once per
set, shared by every diet on it), the organism's training captions, training, the binding stored
with the organism, and the measurement (binding profile, pair embeddings, LABCLIP map).

Then it times, in the same run, the work the task did before it was trimmed (numbers unchanged):
the data built a second time for the measurement, the evaluation captions made again for every
organism, the stored train-split binding on the whole split instead of its first
``TRAIN_METRIC_SCENES`` scenes. The ratio of measuring to training is the figure to watch: the
sweeps' cost is organisms x (training + measuring).

Run: ``python speed/bench_sweep.py`` (``--grid completeness --value 0.25``; ``--map-epochs``;
``--quick``: 1,200 scenes, one epoch, two map epochs).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", default="saliency bias")
    ap.add_argument("--value", type=float, default=1.0, help="the grid knob's value (first point with it)")
    ap.add_argument("--map-epochs", type=int, default=50, help="as in chapters 6-9")
    ap.add_argument("--quick", action="store_true", help="1,200 scenes, one epoch, two map epochs")
    args = ap.parse_args()
    changes = {"n_scenes": 1200, "epochs": 1} if args.quick else None
    map_epochs = 2 if args.quick else args.map_epochs

    with tempfile.TemporaryDirectory() as cache:
        os.environ["LABCLIP_CACHE"] = cache  # before anything reads it: a cold cache
        os.environ["LABCLIP_JOBS"] = "1"  # as in a sweep worker
        rows = run(args.grid, args.value, map_epochs, changes)
    table = pd.DataFrame(rows, columns=["phase", "seconds", "now"]).set_index("phase")
    print(table.round(1).to_string())
    now = table[table["now"]]["seconds"]
    before = table["seconds"]
    training = table.loc["training", "seconds"]
    print(f"\nper organism (scene set excluded): now {now.drop('scene set (once per set)').sum():.1f} s, "
          f"before {before.drop('scene set (once per set)').sum():.1f} s; "
          f"measuring / training now {(now.drop(['scene set (once per set)', 'training']).sum()) / training:.2f}, "
          f"before {(before.drop(['scene set (once per set)', 'training']).sum()) / training:.2f}")


def run(grid: str, value: float, map_epochs: int, changes: dict | None = None) -> list[tuple[str, float, bool]]:
    import torch

    from labclip_lib.experiments import MapSettings, grid_points
    from labclip_lib.experiments.rescue import rescue_profile
    from labclip_lib.models import load_model
    from labclip_lib.organisms import (
        TRAIN_METRIC_SCENES,
        WordTokenizer,
        binding_accuracy_2way,
        build_data,
        organism_vocabulary,
        prepare_scene_set,
        train_organism,
    )
    from labclip_lib.organisms.data import _evaluation_records
    from labclip_lib.organisms.store import _save

    torch.set_num_threads(1)
    points = [c for labels, c in grid_points(grid, seeds=[0], verdict_seeds=[], changes=changes) if value in labels.values()]
    if not points:
        raise SystemExit(f"grid {grid!r} has no point with value {value}")
    config = points[0]
    print(f"{config.name}: {max(config.n_objects)} objects, {config.n_scenes} scenes, {config.epochs} epochs\n")
    rows = []

    def timed(phase: str, fn, now: bool = True):
        t = time.perf_counter()
        out = fn()
        rows.append((phase, time.perf_counter() - t, now))
        return out

    timed("scene set (once per set)", lambda: prepare_scene_set(config))
    data = timed("training captions", lambda: build_data(config))
    model, hist = timed("training", lambda: train_organism(config, data, progress=False))
    tok = WordTokenizer(organism_vocabulary(config))
    metrics = timed("stored binding", lambda: {
        part: binding_accuracy_2way(model, tok, data, part, TRAIN_METRIC_SCENES if part == "train" else None)
        for part in ("train", "val", "test")})
    path = Path(os.environ["LABCLIP_CACHE"]) / "bench-organism"
    _save(model, config, hist, metrics, path)
    timed("measuring", lambda: rescue_profile(load_model(path), data, "test", MapSettings(epochs=map_epochs),
                                              config.seed))
    # what the task did before (same numbers, repeated work)
    timed("before: data built again", lambda: build_data(config), now=False)
    timed("before: evaluation captions again", lambda: _evaluation_records(config, data.scenes), now=False)
    t = time.perf_counter()
    binding_accuracy_2way(model, tok, data, "train", TRAIN_METRIC_SCENES)
    limited = time.perf_counter() - t
    t = time.perf_counter()
    binding_accuracy_2way(model, tok, data, "train")
    rows.append(("before: the rest of the train split stored", time.perf_counter() - t - limited, False))
    return rows


if __name__ == "__main__":
    main()

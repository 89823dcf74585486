"""Renderer speed: scenes per second at 64 px and 224 px on this machine.

Targets (2 CPU cores): >= 2,000 two-object scenes/s at 64 px and >= 100/s at 224 px.
Run: ``python speed/bench_render.py`` (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import time

import torch

from labclip_lib.world import render, sample_scenes

TARGETS = {64: 2000.0, 224: 100.0}


def best_rate(scenes, resolution: int, repeats: int, **kw) -> float:
    render(scenes[:4], resolution, **kw)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        render(scenes, resolution, **kw)
        best = min(best, time.perf_counter() - t0)
    return len(scenes) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer scenes and repeats")
    args = ap.parse_args()
    n64, n224, reps = (1024, 128, 2) if args.quick else (4096, 512, 3)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    t0 = time.perf_counter()
    scenes = sample_scenes(n64, 2, seed=0, salience=False)
    print(f"scene sampling (no salience): {n64 / (time.perf_counter() - t0):,.0f} scenes/s")
    t0 = time.perf_counter()
    sample_scenes(n224, 2, seed=1)
    print(f"scene sampling (with salience + visibility check): {n224 / (time.perf_counter() - t0):,.0f} scenes/s")
    ok = True
    for res, n in ((64, n64), (224, n224)):
        rate = best_rate(scenes[:n], res, reps)
        status = "PASS" if rate >= TARGETS[res] else "FAIL"
        ok &= status == "PASS"
        print(f"render 2 objects @ {res:>3} px: {rate:8,.0f} scenes/s  (target >= {TARGETS[res]:,.0f}) {status}")
    for res, n in ((64, n64 // 4), (224, n224 // 4)):
        print(f"render 10 objects @ {res:>3} px: {best_rate(sample_scenes(n, 10, seed=2, salience=False), res, reps):8,.0f} scenes/s")
    print(f"render 2 objects @  64 px, no shadows: {best_rate(scenes, 64, reps, shadows=False):8,.0f} scenes/s")
    print(f"render 2 objects @  64 px, supersample 2: {best_rate(scenes[: n64 // 4], 64, reps, supersample=2):8,.0f} scenes/s")
    print("all targets met" if ok else "some targets missed")


if __name__ == "__main__":
    main()

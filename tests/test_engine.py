"""The embedding engine on CPU and its GPU settings: files -> pixels -> embeddings in one path, the
same embeddings with and without loader workers, no autocast on CPU (results equal to the plain
float32 forward, as before the GPU settings), the worker default, and bench_embed's JPEG mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from labclip_lib.alignment.aligned import AlignedModel
from labclip_lib.alignment.estimator import LinearAlignment
from labclip_lib.benchmarks.embedding import encode_image_files, image_encoder, load_pixels, pixel_loader
from labclip_lib.embed import feature_tensor
from labclip_lib.models import load_model
from labclip_lib.runtime import autocast, loader_workers
from labclip_lib.testing import make_tiny_clip


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model(make_tiny_clip(tmp_path_factory.mktemp("tiny-clip")), device="cpu")


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory) -> list[Path]:
    """Eleven JPEG files of different sizes and aspect ratios."""
    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(11):
        w, h = 30 + 7 * i, 60 - 3 * i
        path = root / f"im{i:02d}.jpg"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def _plain_forward(model, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The engine before the GPU settings: preprocess, float32 forward, normalise, batch by batch."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            px = model.preprocess(x[i : i + batch_size])
            e = feature_tensor(model.model.get_image_features(pixel_values=px)).float()
            out.append(F.normalize(e, dim=-1))
    return torch.cat(out)


def test_cpu_in_memory_path_is_the_plain_forward(model):
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.integers(0, 256, (9, 40, 48, 3), dtype=np.uint8))  # resized and cropped
    for bs in (4, 64):
        assert torch.equal(model.encode_images(x, batch_size=bs), _plain_forward(model, x, bs))
    raw = model.encode_images(x, batch_size=4, normalize=False)
    assert raw.dtype == torch.float32 and raw.shape == (9, model.dim)
    assert torch.equal(F.normalize(raw, dim=-1), model.encode_images(x, batch_size=4))


def test_autocast_is_a_no_op_on_cpu():
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    with autocast(torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")
        assert not torch.is_autocast_enabled("cuda")
        c = a @ b
    with autocast(torch.device("cpu"), torch.float16):
        assert not torch.is_autocast_enabled("cpu")
    assert c.dtype == torch.float32 and torch.equal(c, a @ b)


def test_files_give_the_same_embeddings_with_and_without_workers(model, jpegs):
    e0 = encode_image_files(model, jpegs, batch_size=4, num_workers=0, cache=False)
    e2 = encode_image_files(model, jpegs, batch_size=4, num_workers=2, cache=False)
    assert e0.shape == (len(jpegs), model.dim) and e0.dtype == torch.float32
    assert torch.equal(e0, e2)
    # one path: the files' pixels through encode_images give the same numbers
    resize, crop = model.preprocess_config["resize_shortest_edge"], tuple(model.preprocess_config["crop"])
    pixels = torch.stack([torch.from_numpy(load_pixels(p, resize, crop)) for p in jpegs])
    assert torch.equal(e0, model.encode_images(pixels, batch_size=4))
    # a LABCLIP map leaves images alone: the base model embeds them
    aligned = AlignedModel(model, LinearAlignment.identity(model.dim))
    assert image_encoder(aligned) is model
    assert torch.equal(encode_image_files(aligned, jpegs, batch_size=4, num_workers=0, cache=False), e0)


def test_pixel_loader_settings_on_cpu(model, jpegs):
    loader = pixel_loader(model, jpegs, batch_size=4, num_workers=2)
    assert loader.num_workers == 2 and not loader.pin_memory
    assert pixel_loader(model, jpegs[:3], batch_size=4, num_workers=2).num_workers == 1  # no idle workers
    batch = next(iter(pixel_loader(model, jpegs, batch_size=4)))
    assert batch.dtype == torch.uint8 and batch.shape == (4, model.image_size, model.image_size, 3)


def test_loader_workers_default(monkeypatch):
    monkeypatch.delenv("LABCLIP_WORKERS", raising=False)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert loader_workers(torch.device("cpu")) == 0
    assert loader_workers(torch.device("cuda")) == min(8, cores)
    assert loader_workers(torch.device("cuda"), 3) == 3
    assert loader_workers(torch.device("cpu"), 0) == 0
    monkeypatch.setenv("LABCLIP_WORKERS", "5")
    assert loader_workers(torch.device("cpu")) == 5
    assert loader_workers(torch.device("cuda"), 1) == 1  # an argument beats the environment
    monkeypatch.setenv("LABCLIP_WORKERS", "many")
    with pytest.raises(ValueError, match="LABCLIP_WORKERS"):
        loader_workers(torch.device("cpu"))
    with pytest.raises(ValueError, match="num_workers"):
        loader_workers(torch.device("cpu"), -1)


def test_bench_embed_jpeg_quick_runs(tmp_path):
    script = Path(__file__).resolve().parents[1] / "speed" / "bench_embed.py"
    env = {**os.environ, "LABCLIP_CACHE": str(tmp_path), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    out = subprocess.run(
        [sys.executable, str(script), "--jpeg", "--quick"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "loader's share" in out.stdout
    assert "same embeddings with 0 and 2 workers: yes" in out.stdout


def test_autocast_dtype_on_cuda_without_a_gpu(monkeypatch):
    """fp16 on a T4 (capability 7.5: bf16 only emulated), bf16 on Ampere, or as asked."""
    seen = []

    class FakeAutocast:
        def __init__(self, device_type, dtype):
            seen.append((device_type, dtype))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(torch, "autocast", FakeAutocast)
    cuda = torch.device("cuda")
    for capability, expected in (((7, 5), torch.float16), ((8, 0), torch.bfloat16)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        with autocast(cuda):
            pass
        with autocast(cuda, torch.float16):
            pass
        assert seen[-2:] == [("cuda", expected), ("cuda", torch.float16)]

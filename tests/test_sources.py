"""The command line's other inputs and its evaluate grid on files in their real layouts: an
image-text folder (img2dataset's ``x.jpg`` + ``x.txt``), a parquet table (image paths, encoded
bytes, or the hub's ``{"bytes", "path"}`` struct), and ``evaluate`` over benchmark fixtures.
Embeddings and scores must equal what the library computes directly from the same files."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from labclip_lib.__main__ import main as cli
from labclip_lib.benchmarks.aro import load_vg_attribution
from labclip_lib.benchmarks.coco import load_coco_karpathy
from labclip_lib.benchmarks.evaluate import evaluate_choice, evaluate_retrieval
from labclip_lib.embed.shards import ShardReader
from labclip_lib.embed.sources import FolderSource, ParquetSource, load_rgb
from labclip_lib.models import load_model
from labclip_lib.testing import make_tiny_clip, write_benchmark_fixtures, write_jpeg

COLOURS = [(200, 30, 30), (30, 30, 200), (30, 160, 30), (200, 200, 40), (120, 40, 160)]
CAPTIONS = ["a red cube", "a blue sphere", "a green cylinder", "a yellow cube", "a purple sphere"]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return make_tiny_clip(tmp_path_factory.mktemp("clip") / "clip")


def _folder(root, nested=True):
    """An img2dataset-like folder: shards 00000/ and 00001/, each image with its caption file."""
    for i, (colour, caption) in enumerate(zip(COLOURS, CAPTIONS)):
        stem = root / (f"{i // 3:05d}" if nested else "") / f"{i:09d}"
        write_jpeg(stem.with_suffix(".jpg"), colour, (40 + 4 * i, 30))
        stem.with_suffix(".txt").write_text(caption + "\n")
    return root


def _jpeg_bytes(path) -> bytes:
    buf = io.BytesIO()
    Image.open(path).save(buf, "JPEG")
    return buf.getvalue()


def test_folder_source_reads_img2dataset_layout(tmp_path):
    src = FolderSource(_folder(tmp_path / "data"))
    assert len(src) == 5 and src.has_captions and not src.has_negatives
    assert src.keys(0, 5) == [f"{i // 3:05d}/{i:09d}" for i in range(5)]  # relative, no suffix, sorted
    assert src.captions(1, 4) == CAPTIONS[1:4]  # stripped of the newline
    images = src.images(0, 5, size=32)
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images[2], load_rgb(tmp_path / "data" / "00000" / "000000002.jpg", 32))
    assert src.images(0, 1).shape == (1, 30, 40, 3)  # no size: the file's own
    with pytest.raises(ValueError, match="no negative captions"):
        src.negatives(0, 1)
    with pytest.raises(IndexError, match="outside"):
        src.keys(3, 9)


def test_folder_source_names_what_is_missing(tmp_path):
    root = _folder(tmp_path / "data", nested=False)
    (root / "000000003.txt").unlink()
    with pytest.raises(ValueError, match="1 images have no caption file, e.g. .*000000003.txt"):
        FolderSource(root)
    assert len(FolderSource(root, captions=False)) == 5  # images alone need no captions
    with pytest.raises(FileNotFoundError, match="no image-text folder"):
        FolderSource(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image files"):
        FolderSource(tmp_path / "empty")


def test_parquet_source_reads_paths_bytes_and_hub_structs(tmp_path):
    root = _folder(tmp_path / "data", nested=False)
    files = sorted(root.glob("*.jpg"))
    want = np.stack([load_rgb(f, 32) for f in files])
    cells = {"paths": [f.name for f in files],  # relative to the parquet file's folder
             "bytes": [_jpeg_bytes(f) for f in files],
             "hub": [{"bytes": _jpeg_bytes(f), "path": None} for f in files]}
    for kind, column in cells.items():
        path = root / f"{kind}.parquet"
        pd.DataFrame({"key": [f"k{i}" for i in range(5)], "image": column, "caption": CAPTIONS,
                      "neg": [c.replace("a ", "no ") for c in CAPTIONS]}).to_parquet(path)
        src = ParquetSource(path, negative_column="neg")
        assert src.keys(0, 5) == [f"k{i}" for i in range(5)] and src.captions(0, 2) == CAPTIONS[:2]
        assert src.has_negatives and src.negatives(4, 5) == ["no purple sphere"]
        got = src.images(0, 5, 32)
        if kind == "paths":
            assert np.array_equal(got, want)
        else:  # re-encoded JPEGs: the same picture up to compression
            assert np.abs(got.astype(int) - want.astype(int)).mean() < 6
    # no key column: keys are the row numbers; a caption-only table has no images
    pd.DataFrame({"caption": CAPTIONS}).to_parquet(root / "text.parquet")
    text = ParquetSource(root / "text.parquet", key_column=None, image_column=None)
    assert text.keys(2, 4) == ["2", "3"] and not text.has_images


def test_parquet_source_refuses_bad_tables_by_name(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"key": ["a", "a"], "caption": ["x", "y"]}).to_parquet(path)
    with pytest.raises(ValueError, match="duplicate keys"):
        ParquetSource(path, image_column=None)
    with pytest.raises(ValueError, match=r"has no column\(s\) \['image'\]"):
        ParquetSource(path)
    with pytest.raises(FileNotFoundError, match="no parquet file"):
        ParquetSource(tmp_path / "missing.parquet")


@pytest.mark.parametrize("kind", ["folder", "parquet"])
def test_command_line_embeds_a_folder_and_a_parquet_table_as_the_model_does(tiny_clip, tmp_path, kind):
    root = _folder(tmp_path / "data", nested=False)
    if kind == "parquet":
        files = sorted(root.glob("*.jpg"))
        pd.DataFrame({"key": [f.stem for f in files], "image": [f.name for f in files],
                      "caption": CAPTIONS}).to_parquet(root / "pairs.parquet")
        source, args = ParquetSource(root / "pairs.parquet"), ["--parquet", str(root / "pairs.parquet")]
    else:
        source, args = FolderSource(root), ["--folder", str(root)]
    cli(["embed", "--model", str(tiny_clip), *args, "--shard-size", "2", "--out", str(tmp_path / "emb"),
         "--dtype", "fp32"])
    r = ShardReader(tmp_path / "emb")
    assert len(r) == 5 and r.n_shards == 3 and r.modalities == ["image", "text"]  # no negatives in either source
    assert r.metadata()["key"].tolist() == source.keys(0, 5)
    model = load_model(str(tiny_clip))
    with torch.inference_mode():
        img = model.encode_images(source.images(0, 5, model.image_size)).float().numpy()
        txt = model.encode_texts(source.captions(0, 5)).float().numpy()
    assert np.allclose(r.rows(0, 5, "image"), img, atol=1e-5)
    assert np.allclose(r.rows(0, 5, "text"), txt, atol=1e-5)


def test_evaluate_grid_on_benchmark_files_equals_the_library(tiny_clip, tmp_path):
    data = write_benchmark_fixtures(tmp_path / "bench")
    benches = [f"coco={data['coco']}", f"vg-attribution={data['aro']}", f"cifar10={data['cifar']}"]
    out = tmp_path / "grid"
    cli(["evaluate", "--models", str(tiny_clip), "--benchmarks", *benches, "--out", str(out)])
    table = pd.read_csv(out / "results.csv")
    assert table["grid benchmark"].tolist() == benches and set(table["model"]) == {str(tiny_clip)}
    model = load_model(str(tiny_clip))
    coco = evaluate_retrieval(model, load_coco_karpathy(data["coco"]))
    attribution = evaluate_choice(model, load_vg_attribution(data["aro"]))
    rows = table.set_index("grid benchmark")
    assert rows.loc[benches[0], "text->image R@1"] == pytest.approx(coco["text->image R@1"])
    assert rows.loc[benches[1], "accuracy"] == pytest.approx(attribution["accuracy"])
    assert 0 <= rows.loc[benches[2], "top-1"] <= 1
    # a rerun finds every run finished and computes nothing
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    cli(["evaluate", "--models", str(tiny_clip), "--benchmarks", *benches, "--out", str(out)])
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")} == before
    with pytest.raises(SystemExit, match="unknown benchmark"):
        cli(["evaluate", "--models", str(tiny_clip), "--benchmarks", "imagenet=/x", "--out", str(tmp_path / "g2")])

"""Offline stand-ins for pretrained CLIPs and for the real benchmarks' data.

* :func:`make_tiny_clip`: a randomly initialised ``CLIPModel`` of any size, saved with a real
  ``CLIPTokenizer`` (a small BPE vocabulary of our caption language) and a real
  ``CLIPImageProcessor``, so tests and benchmarks load it through ``load_model`` exactly as a
  hub model;
* :func:`write_benchmark_fixtures`: tiny copies of the real benchmarks' datasets in their original
  formats (Karpathy JSON + JPEGs, ARO JSON + images, SugarCrepe JSON + COCO val2017, CIFAR
  binaries, a PUG:SPARE CSV + worlds), captioned in the same language, so the loaders and a
  chapter's ``MODEL_ID`` path run offline; :func:`write_cifar_python` writes CIFAR's python
  version (the pickles) in the tarballs' layout.

Nothing is downloaded.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from .organisms import export_pretrained, get_organism, organism_config, read_organism
from .organisms.clip import write_caption_tokenizer
from .world.scenes import COLORS, SHAPES

__all__ = ["CAPTION_WORDS", "BENCHMARK_CAPTIONS", "write_clip_tokenizer", "make_tiny_clip", "TRAINED_CLIP",
           "trained_clip_config", "make_trained_clip", "write_jpeg",
           "write_cifar_binary", "write_cifar_python", "write_benchmark_fixtures"]

CAPTION_WORDS = ("a", "an", "and", ",", *COLORS, *SHAPES)


def write_clip_tokenizer(directory: str | Path, words=CAPTION_WORDS):
    """Write vocab.json + merges.txt for a byte-level BPE covering ``words``; return the tokenizer."""
    return write_caption_tokenizer(directory, words)


def make_tiny_clip(directory: str | Path, *, hidden: int = 32, layers: int = 2, heads: int = 2,
                   image_size: int = 32, patch: int = 8, projection_dim: int = 16, vit_b32: bool = False,
                   seed: int = 0) -> Path:
    """Save a randomly initialised CLIP (tiny, or ViT-B/32-sized with ``vit_b32``) to ``directory``."""
    # transformers only here: it is heavy and optional for the rest of the library
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    directory = Path(directory)
    tok = write_clip_tokenizer(directory / "_tok")
    special = dict(vocab_size=len(tok), eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
                   pad_token_id=tok.pad_token_id)
    if vit_b32:
        config = CLIPConfig(text_config=special, vision_config={}, projection_dim=512)
        image_size = config.vision_config.image_size
    else:
        config = CLIPConfig(
            text_config=dict(**special, hidden_size=hidden, intermediate_size=2 * hidden,
                             num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=32),
            vision_config=dict(image_size=image_size, patch_size=patch, hidden_size=hidden,
                               intermediate_size=2 * hidden, num_hidden_layers=layers, num_attention_heads=heads),
            projection_dim=projection_dim,
        )
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessor(size={"shortest_edge": image_size},
                                         crop_size={"height": image_size, "width": image_size})
    model.save_pretrained(directory)
    CLIPProcessor(image_processor=image_processor, tokenizer=tok).save_pretrained(directory)
    return directory


#: the learned test CLIP (:func:`make_trained_clip`): CLIP's architecture (the "clip" recipe, smaller
#: and trained for a fixed few epochs) on complete captions of two-object scenes, D = 16
TRAINED_CLIP = dict(n_scenes=12000, epochs=10, stopping="fixed", patch_size=8, vision_layers=2, text_layers=1,
                    embed_dim=16)


def trained_clip_config(seed: int = 0, **changes):
    """The organism config of :func:`make_trained_clip` (``changes`` override :data:`TRAINED_CLIP`)."""
    return organism_config("complete", seed, recipe="clip", **{**TRAINED_CLIP, **changes})


def make_trained_clip(directory: str | Path, seed: int = 0, **changes) -> Path:
    """A small ``transformers.CLIPModel`` that has learned the scene world, saved to ``directory``
    as a Hugging Face model (``load_model(directory)`` opens it): trained once per cache
    (``LABCLIP_CACHE``) by ``get_organism`` and exported with ``export_pretrained``. The tests'
    ``MODEL_ID``: unlike :func:`make_tiny_clip` its numbers are not chance, so a bug in the
    pretrained path shows."""
    config = trained_clip_config(seed, **changes)
    network, _ = read_organism(get_organism(config))
    return export_pretrained(network, config, directory)


#: the fixtures' captions: our caption language only, so the tiny CLIP's tokenizer reads every word
BENCHMARK_CAPTIONS = (
    "a red cube and a blue sphere",
    "a blue cube and a red sphere",
    "a green cylinder",
    "a cube",
    "a yellow sphere and a gray cube",
    "a purple cylinder, a cyan cube and a brown sphere",
)
_FIXTURE_COLORS = ((220, 20, 20), (20, 20, 220), (20, 200, 20), (200, 200, 20))
_SUGARCREPE = ("replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att")


def write_jpeg(path: str | Path, color=(200, 30, 30), size: tuple[int, int] = (40, 30)) -> Path:
    """A JPEG of ``size = (width, height)``: ``color`` with seeded noise (seeded by colour and width)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sum(color) + size[0])
    arr = (rng.integers(0, 60, (size[1], size[0], 3)) + np.array(color) * 0.7).clip(0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, "JPEG")
    return path


def _karpathy(root: Path, name: str, folder: str, prefix: str) -> None:
    images = []
    for i, col in enumerate(_FIXTURE_COLORS):  # images of different sizes, as in COCO
        fname = f"{prefix}{i:012d}.jpg"
        write_jpeg(root / folder / fname, col, (48 + 16 * i, 40))
        images.append({"filepath": folder, "filename": fname, "split": "test" if i < 3 else "train",
                       "sentences": [{"raw": BENCHMARK_CAPTIONS[(i + k) % len(BENCHMARK_CAPTIONS)]}
                                     for k in range(5)]})
    (root / f"dataset_{name}.json").write_text(json.dumps({"images": images, "dataset": name}))


def _cifar_pixels(n: int) -> np.ndarray:
    """``(n, 3, 32, 32)`` uint8, channel-planar: image ``i`` has red ``10 * i`` everywhere and blue
    255 at row 0, column 1."""
    pix = np.zeros((n, 3, 32, 32), np.uint8)
    pix[:, 0] = (10 * np.arange(n, dtype=np.uint8))[:, None, None]  # red plane
    pix[:, 2, 0, 1] = 255  # blue at row 0, column 1
    return pix


def write_cifar_binary(path: str | Path, labels, label_bytes: int) -> Path:
    """CIFAR's binary format: per image ``label_bytes`` label bytes (CIFAR-100: coarse, fine) and
    3,072 channel-planar pixels (:func:`_cifar_pixels`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pix = _cifar_pixels(len(labels)).reshape(len(labels), -1)
    head = np.array([[lab] if label_bytes == 1 else [0, lab] for lab in labels], np.uint8)
    np.concatenate([head, pix], axis=1).tofile(path)
    return path


def _py2_pickle(obj, path: Path) -> None:
    """Pickle ``obj`` with protocol 2 naming numpy's array rebuilder ``numpy.core.multiarray`` (as
    the 2009 Python 2 files do; numpy >= 2 writes ``numpy._core``)."""
    data = pickle.dumps(obj, protocol=2).replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    path.write_bytes(data)


def write_cifar_python(root: str | Path, which: str, labels, class_names) -> Path:
    """CIFAR's python version in ``root``, as the tarballs unpack: CIFAR-10
    ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` (``b"data"``,
    ``b"labels"``; meta ``b"label_names"``), CIFAR-100 ``cifar-100-python/{train, test, meta}``
    (``b"fine_labels"``, ``b"coarse_labels"``; meta ``b"fine_label_names"``,
    ``b"coarse_label_names"``). The test file holds ``labels`` with :func:`_cifar_pixels`; the
    training files one image each; ``class_names`` (the real files spell them with ``_`` for
    spaces) go to the meta file. Returns the folder."""
    ten = which == "cifar10"
    folder = Path(root) / ("cifar-10-batches-py" if ten else "cifar-100-python")
    folder.mkdir(parents=True, exist_ok=True)
    names = list(class_names)

    def batch(labs, label: bytes) -> dict:
        n = len(labs)
        out = {b"batch_label": label, b"data": _cifar_pixels(n).reshape(n, -1),
               b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
        if ten:
            out[b"labels"] = list(labs)
        else:
            out[b"fine_labels"], out[b"coarse_labels"] = list(labs), [0] * n
        return out

    if ten:
        for k in range(1, 6):
            _py2_pickle(batch([k], f"training batch {k} of 5".encode()), folder / f"data_batch_{k}")
        _py2_pickle(batch(labels, b"testing batch 1 of 1"), folder / "test_batch")
        _py2_pickle({b"label_names": [n.encode() for n in names], b"num_cases_per_batch": 10000, b"num_vis": 3072},
                    folder / "batches.meta")
    else:
        _py2_pickle(batch([1], b"training"), folder / "train")
        _py2_pickle(batch(labels, b"testing"), folder / "test")
        _py2_pickle({b"fine_label_names": [n.encode() for n in names],
                     b"coarse_label_names": [f"superclass_{i}".encode() for i in range(20)]}, folder / "meta")
    return folder


def write_benchmark_fixtures(root: str | Path) -> dict[str, Path]:
    """Write tiny benchmark datasets in the real formats under ``root``; returns their directories:

    * ``"coco"``: ``dataset_coco.json`` (Karpathy format; 3 test images with 5 captions each, 1
      train image) and ``val2014/COCO_val2014_*.jpg`` of different sizes;
    * ``"flickr30k"``: the same in Flickr30k's layout (``dataset_flickr30k.json``, ``flickr30k-images/``);
    * ``"aro"``: ``visual_genome_relation.json`` (4 items; relations on, on, in, next to),
      ``visual_genome_attribution.json`` (30 items: 25 of pair red_blue, 5 of green_gray) and
      ``images/``;
    * ``"sugarcrepe"``: the 7 subsets' JSON (3 items per replace subset, 2 per other) and
      ``"coco_val2017"`` (its ``val2017/`` images);
    * ``"cifar"``: ``cifar-10-batches-bin/test_batch.bin`` (labels 3, 9, 0) and
      ``cifar-100-binary/test.bin`` (labels 99, 1);
    * ``"pug_spare"``: ``PUG_SPARE.csv`` and ``<world>/<file>.jpg``: 2 worlds x 3 animal pairs
      (our shapes) x 3 texture pairs (our colours, capitalised), all with two different textures;
    * ``"pug_spar"``: the same rows and images in PUG:SPAR's layout (``labels.csv``);
    * ``"folder"``: an image folder with classes ``red`` and ``blue`` (3 images each).

    Every caption is in our caption language (:data:`BENCHMARK_CAPTIONS`). Same call, same files.
    """
    root = Path(root)
    caps = BENCHMARK_CAPTIONS
    out = {"coco": root / "coco", "flickr30k": root / "flickr30k", "aro": root / "aro",
           "sugarcrepe": root / "sugar", "coco_val2017": root / "sugar" / "val2017", "cifar": root / "cifar",
           "pug_spare": root / "pug_spare", "pug_spar": root / "pug_spar", "folder": root / "folder"}
    _karpathy(out["coco"], "coco", "val2014", "COCO_val2014_")
    _karpathy(out["flickr30k"], "flickr30k", "flickr30k-images", "")
    for i, col in enumerate(_FIXTURE_COLORS[:2]):
        write_jpeg(out["aro"] / "images" / f"{i}.jpg", col, (64, 48))
        write_jpeg(out["coco_val2017"] / f"{i:012d}.jpg", col, (50, 60))
    relations = [{"image_path": f"{i % 2}.jpg", "bbox_x": 4, "bbox_y": 4, "bbox_w": 40, "bbox_h": 30,
                  "true_caption": caps[i % 3], "false_caption": caps[(i + 1) % 3], "relation_name": rel}
                 for i, rel in enumerate(["on", "on", "in", "next to"])]
    (out["aro"] / "visual_genome_relation.json").write_text(json.dumps(relations))
    attributes = [{"image_path": f"{i % 2}.jpg", "bbox_x": 0, "bbox_y": 0, "bbox_w": 64, "bbox_h": 48,
                   "true_caption": caps[i % 2], "false_caption": caps[1 - i % 2],
                   "attributes": ["red", "blue"] if i < 25 else ["green", "gray"]} for i in range(30)]
    (out["aro"] / "visual_genome_attribution.json").write_text(json.dumps(attributes))
    for sub in _SUGARCREPE:
        n = 3 if sub.startswith("replace") else 2
        items = {str(k): {"filename": f"{k % 2:012d}.jpg", "caption": caps[k], "negative_caption": caps[k + 1]}
                 for k in range(n)}
        (out["sugarcrepe"] / f"{sub}.json").write_text(json.dumps(items))
    write_cifar_binary(out["cifar"] / "cifar-10-batches-bin" / "test_batch.bin", [3, 9, 0], 1)
    write_cifar_binary(out["cifar"] / "cifar-100-binary" / "test.bin", [99, 1], 2)
    rows = []
    for w, col in (("Desert", (200, 150, 50)), ("Island", (30, 120, 200))):
        for a1, a2 in (("cube", "sphere"), ("sphere", "cylinder"), ("cylinder", "cube")):
            for t1, t2 in (("Red", "Blue"), ("Blue", "Red"), ("Green", "Gray")):
                fname = f"{a1}_{a2}_{t1}_{t2}.jpg"
                for which in ("pug_spare", "pug_spar"):
                    write_jpeg(out[which] / w / fname, col, (36, 30))
                rows.append({"filename": fname, "world_name": w, "character_name": a1, "character2_name": a2,
                             "character_texture": t1, "character2_texture": t2})
    pd.DataFrame(rows).to_csv(out["pug_spare"] / "PUG_SPARE.csv", index=False)
    pd.DataFrame(rows).to_csv(out["pug_spar"] / "labels.csv", index=False)
    for c, col in zip(("red", "blue"), _FIXTURE_COLORS[:2]):
        for j in range(3):
            write_jpeg(out["folder"] / c / f"{j}.jpg", col, (40 + j, 40))
    return out

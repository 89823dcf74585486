"""Every chapter notebook, executed top to bottom on a tiny configuration with its pretrained-model
path switched on (``MODEL_ID`` = a small ``CLIPModel`` trained on the scene world and saved with
a real tokenizer and image processor, ``RELEASED_CHECKPOINT`` = a map in the authors' format), as a
Colab reader would run it.

Parameters are injected after the ``parameters`` cell, as papermill does. Cells tagged
``pretrained`` (the ``MODEL_ID`` cells) must show a table. Deselect locally with
``-m "not notebooks"`` (a few minutes on two cores).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from labclip_lib.book.tools import PARAMETERS_TAG, toc_notebooks
from labclip_lib.testing import write_benchmark_fixtures

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
TINY_ORGANISMS = {"n_scenes": 400, "epochs": 1}
#: per chapter (file stem): parameters overriding the book's, small enough for a test
TINY = {
    "01_scene_world": {"N_SPLIT_SCENES": 600, "N_KNOB_SCENES": 200},
    "02_organisms": {"SEEDS": [0, 1], "SEARCH_CANDIDATES": ["natural", "one-random", "one-salient"],
                     "MAP_EPOCHS": 2},
    "03_bag_of_words": {"SEEDS": [0], "COUNT_SCENES": 60},
    "04_binding_within": {"SEEDS": [0], "COUNT_SCENES": 150, "OBJECT_COUNTS": [2, 3], "SEARCH_COUNTS": [3, 4]},
    "05_why_cosine": {"SEEDS": [0]},
    "06_linear_fix": {"SEEDS": [0], "EPOCHS": 2, "PROBE_SCENES": 400, "GENERALISATION_SCENES": 60,
                      "OBJECT_COUNTS": [2, 3]},
    "07_which_captions": {"VERDICT_SEEDS": [0, 1], "RULE_SEEDS": [0, 1, 2], "MAP_EPOCHS": 2, "GRID_VALUES": {
        "attribute density": {"attribute_density": [0.25, 1.0]}, "attributes per object": {"attributes": [1, 3]},
        "completeness": {"completeness": [0.25, 1.0]}, "objects in image": {"completeness": [0.5, 1.0]},
        "saliency bias": {"saliency_bias": [0.0, 1.0]}, "right properties": {"n_objects": [4]}}},
    "08_batches_and_negatives": {"VERDICT_SEEDS": [0, 1], "RULE_SEEDS": [0, 1], "MAP_EPOCHS": 2,
                                 "HARD_NEGATIVE_CANDIDATES": ["hard negatives: salient"],
                                 "GRID_VALUES": {"batch size (converged)": {"batch_size": [64, 256]},
                                                 "batch size (2 epochs)": {"batch_size": [64]},
                                                 "batch size (equal steps)": {"batch_size (equal steps)": [128, 256]},
                                                 "batch size: natural": {"batch_size": [64, 256]}}},
    "09_rescue_map": {"GRID_NAMES": ["completeness", "saliency bias", "completeness x saliency"],
                      "HARD_NEGATIVE_CANDIDATES": ["hard negatives: salient"],
                      "VERDICT_SEEDS": [0], "FINETUNE_VALUES": {"completeness": [0.25], "saliency_bias": [1.0]},
                      "EXPLORER_GRIDS": ["saliency bias"],
                      "MAP_EPOCHS": 2, "GRID_VALUES": {
                          "completeness": {"completeness": [0.25, 1.0]}, "saliency bias": {"saliency_bias": [0.0, 1.0]},
                          "completeness x saliency": {"completeness": [0.25, 0.5], "saliency_bias": [0.0, 1.0]}}},
    "10_real_benchmarks": {"EPOCHS": 2, "SINGLE_OBJECT_SCENES": 48},
    "11_beyond_one_gpu": {"SCENES": 400, "SHARD_SIZE": 100, "FIT_EPOCHS": 1},
}
PRETRAINED = {"PRETRAINED_SCENES": 300}
#: a chapter's data-path parameter -> the fixture dataset (labclip_lib.testing.write_benchmark_fixtures) it gets
DATA_PATHS = {"COCO_DIR": "coco", "FLICKR30K_DIR": "flickr30k", "ARO_DIR": "aro", "SUGARCREPE_DIR": "sugarcrepe",
              "COCO_VAL2017_DIR": "coco_val2017", "CIFAR_DIR": "cifar", "PUG_SPARE_DIR": "pug_spare",
              "PUG_SPAR_DIR": "pug_spar", "IMAGENET_DIR": "folder"}


@pytest.fixture(scope="module")
def tiny_clip(trained_clip) -> Path:
    """A small CLIPModel trained on the scene world (32 px, D = 16; tests/test_learned_clip.py
    checks what it has learned), saved as a Hugging Face model (conftest's ``trained_clip``)."""
    return trained_clip


@pytest.fixture(scope="module")
def released_map(tmp_path_factory) -> Path:
    """A map in the authors' format (a state dict with ``t`` and ``linear.weight``), D = 16."""
    path = tmp_path_factory.mktemp("released") / "labclip_tiny.pt"
    torch.save({"t": torch.tensor(4.0), "linear.weight": torch.eye(16) + 0.01 * torch.randn(16, 16)}, path)
    return path


@pytest.fixture(scope="module")
def benchmark_data(tmp_path_factory) -> dict[str, Path]:
    """Tiny benchmark datasets in the real formats, captioned in the tiny CLIP's vocabulary."""
    return write_benchmark_fixtures(tmp_path_factory.mktemp("benchmark-data"))


def _inject(nb, params: dict) -> None:
    idx = next((i for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.metadata.get("tags", [])), None)
    assert idx is not None, "the notebook has no cell tagged 'parameters'"
    source = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(idx + 1, cell)


def _has_table(cell) -> bool:
    return any("<table" in out.get("data", {}).get("text/html", "") for out in cell.get("outputs", []))


@pytest.mark.parametrize("notebook", [p.stem for p in toc_notebooks(ROOT)])
def test_chapter_runs_with_a_pretrained_model(notebook, tiny_clip, released_map, benchmark_data):
    path = ROOT / "notebooks" / f"{notebook}.ipynb"
    nb = nbformat.read(path, as_version=4)
    declared = "".join(c.source for c in nb.cells if PARAMETERS_TAG in c.metadata.get("tags", []))
    params = dict(TINY.get(notebook, {}))
    if "ORGANISM_CHANGES" in declared:
        params["ORGANISM_CHANGES"] = TINY_ORGANISMS
    if "MODEL_ID" in declared:
        params.update(MODEL_ID=str(tiny_clip), **{k: v for k, v in PRETRAINED.items() if k in declared})
    if "RELEASED_CHECKPOINT" in declared:
        params["RELEASED_CHECKPOINT"] = str(released_map)
    params.update({name: str(benchmark_data[key]) for name, key in DATA_PATHS.items() if name in declared})
    unknown = [k for k in params if k not in declared]
    assert not unknown, f"{notebook} has no parameter(s) {unknown}"
    _inject(nb, params)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError naming the failing cell
    pretrained = [c for c in nb.cells if "pretrained" in c.metadata.get("tags", [])]
    if "MODEL_ID" in declared:
        assert pretrained, f"{notebook}: no cell tagged 'pretrained' (the MODEL_ID cell)"
        for cell in pretrained:
            assert _has_table(cell), f"{notebook}: a MODEL_ID cell produced no table:\n{cell.source[:300]}"

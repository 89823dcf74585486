"""Chapter 10's plumbing: the real benchmarks and their scene-world versions, so that its cells
read like sentences.

* Scene world (runs on CPU in the book): :func:`scene_suites` builds the benchmarks from each
  seed's held-out scenes, :func:`organism_maps` fits chapter 6's LABCLIP map per organism
  (:func:`labclip_lib.experiments.fit_map`), :func:`scene_benchmark_table` evaluates every
  organism before and after its map (long rows), :func:`scene_benchmark_summary` makes the wide
  table; :func:`scene_map_report` does the same for one model (the ``MODEL_ID`` row).
* Published numbers: :func:`published_benchmark_table` and :func:`published_sugarcrepe_subsets`,
  every row with its provenance label (:mod:`labclip_lib.published`).
* Real benchmarks (``MODEL_ID`` and data paths, a GPU): :func:`pretrained_setup` loads the model
  and its maps (the authors' released file, a map fitted on COCO Karpathy-train);
  :func:`real_benchmark` runs one benchmark family before and after every map, or prints one
  line naming the parameter to set; :func:`real_benchmarks` runs them all.
* Cost: :func:`colab_time_estimate` converts each model's FLOPs per image and caption (from its
  architecture) and the measured JPEG decoding rate of this machine into minutes on a Colab T4.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from ..alignment.aligned import AlignedModel
from ..alignment.estimator import LinearAlignment, fit_alignment
from ..benchmarks import (
    DatasetNotFoundError,
    SpacyTagger,
    embed_images,
    encode_texts,
    evaluate_choice,
    evaluate_retrieval,
    evaluate_scene_benchmarks,
    evaluate_sugarcrepe,
    evaluate_zeroshot,
    fit_coco_map,
    leak_free_split,
    load_cifar,
    load_coco_karpathy,
    load_coco_order,
    load_flickr30k_order,
    load_image_folder,
    load_pug,
    load_released_map,
    load_sugarcrepe,
    load_vg_attribution,
    load_vg_relation,
    pug_pairs,
    scene_benchmarks,
)
from ..benchmarks.data import ImageRef
from ..benchmarks.embedding import load_pixels
from ..benchmarks.sceneworld import SceneBenchmarks, scene_tagger
from ..benchmarks.sugarcrepe import SUGARCREPE_SIZES
from ..embed.protocol import EmbeddingModel
from ..experiments import MapSettings, fit_map
from ..models import load_model
from ..organisms import OrganismData
from ..published import quote
from ..world.captions import CaptionSpec
from .glue import glue_name, glue_values
from .plotting import plot_grouped_bars
from .tables import show_table

__all__ = [
    "SCENE_SUMMARY",
    "SCENE_VERSUS_REAL",
    "scene_suites",
    "scene_examples",
    "organism_maps",
    "scene_rows",
    "scene_benchmark_table",
    "scene_benchmark_summary",
    "scene_map_report",
    "suite_sizes",
    "glue_scene_summary",
    "plot_scene_benchmarks",
    "published_benchmark_table",
    "published_sugarcrepe_subsets",
    "PATH_PARAMETERS",
    "PretrainedSetup",
    "pretrained_setup",
    "maps_table",
    "real_benchmark",
    "real_benchmarks",
    "ClipArchitecture",
    "OPENAI_CLIPS",
    "architecture_of",
    "REAL_BENCHMARK_SIZES",
    "jpeg_decode_rate",
    "colab_time_estimate",
]

# ---------------------------------------------------------------------------------------------- scene world

#: the summary's columns: (benchmark row, measure) -> column name
SCENE_SUMMARY: dict[tuple[str, str], str] = {
    ("scene SugarCrepe-style", "replace_att"): "replace_att",
    ("scene SugarCrepe-style", "replace_obj"): "replace_obj",
    ("scene SugarCrepe-style", "swap_att"): "swap_att",
    ("scene SugarCrepe-style", "add_att"): "add_att",
    ("scene SugarCrepe-style", "add_obj"): "add_obj",
    ("scene order", "accuracy"): "order",
    ("scene retrieval", "text->image R@1"): "text->image R@1",
    ("scene retrieval", "image->text R@1"): "image->text R@1",
    ("scene colour", "top-1"): "zero-shot colour",
    ("scene shape", "top-1"): "zero-shot shape",
    ("scene colour-shape", "top-1"): "zero-shot colour-shape",
}
#: the scene-world numbers that correspond to paper 1's real-data columns (categories
#: sample-weighted, as in the SugarCrepe paper; over the kinds our captions allow)
SCENE_VERSUS_REAL: dict[tuple[str, str], str] = {
    ("scene SugarCrepe-style", "REPLACE (weighted)"): "SugarCrepe REPLACE",
    ("scene SugarCrepe-style", "SWAP (weighted)"): "SugarCrepe SWAP",
    ("scene SugarCrepe-style", "ADD (weighted)"): "SugarCrepe ADD",
    ("scene retrieval", "text->image R@1"): "COCO text->image R@1",
}
_COUNTS = ("items", "options", "images", "captions", "classes", "templates", "groups", "items in groups")


def scene_suites(
    data: Mapping[int, OrganismData],
    part: str = "test",
    spec: CaptionSpec | None = None,
    sizes: Sequence[str] = ("large",),
    single_object_scenes: int = 240,
    seed: int = 0,
) -> dict[int, SceneBenchmarks]:
    """``{seed: SceneBenchmarks}`` on split ``part`` of each seed's held-out data, captioned by
    ``spec`` (default: the complete template captions the organisms were evaluated with), plus
    ``single_object_scenes`` fresh one-object scenes of ``sizes`` (the organisms': large) for
    zero-shot classification. Retrieval is among one scene per colour-shape combination."""
    out = {}
    for s, d in data.items():
        idx = [int(i) for i in d.split[part]]
        out[s] = scene_benchmarks(
            int(d.images.shape[1]),
            spec=spec or CaptionSpec(),
            single_object_scenes=single_object_scenes,
            scenes=[d.scenes[i] for i in idx],
            images=d.images[idx],
            sizes=sizes,
            seed=seed,
            retrieval_per_combination=True,
        )
    return out


def scene_examples(suite: SceneBenchmarks, kind: str = "swap_att") -> pd.DataFrame:
    """One scene's items in every scene-world choice benchmark: its caption and each other option.
    The scene is the first with a ``kind`` negative (default: one with two different colours), or
    the first scene when no item has that kind."""
    ds = suite.sugarcrepe.get(kind)
    scene = ds.info["scenes"][0] if ds is not None else 0
    rows = []
    for name, d in suite.sugarcrepe.items():
        if scene in d.info["scenes"]:
            opts = d.options[d.info["scenes"].index(scene)]
            rows.append({"benchmark": name, "true caption": opts[0], "other option": opts[1]})
    rows += [
        {"benchmark": "order", "true caption": suite.order.options[scene][0], "other option": o}
        for o in suite.order.options[scene][1:]
    ]
    return pd.DataFrame(rows).set_index("benchmark")


def organism_maps(
    models: Mapping[tuple[str, int], EmbeddingModel],
    data: Mapping[int, OrganismData],
    map_settings: MapSettings = MapSettings(),
) -> dict[tuple[str, int], LinearAlignment]:
    """Chapter 6's LABCLIP map of every organism (:func:`labclip_lib.experiments.fit_map`: HNB on
    the frozen embeddings of its seed's train split, validation recorded, seeded by the seed)."""
    return {(name, seed): fit_map(m, data[seed], map_settings, seed=seed) for (name, seed), m in models.items()}


def scene_rows(model: EmbeddingModel, suite: SceneBenchmarks, alignment: LinearAlignment | None = None) -> list[dict]:
    """Long rows ``{map, benchmark, measure, value}`` of every scene-world benchmark on ``model``
    (``map`` "before") and, with ``alignment``, on the model with the map ("after")."""
    variants = {"before": model}
    if alignment is not None:
        variants["after"] = AlignedModel(model, alignment)
    rows = []
    for label, m in variants.items():
        for r in evaluate_scene_benchmarks(m, suite):
            rows += [
                {"map": label, "benchmark": r["benchmark"], "measure": k, "value": float(v)}
                for k, v in r.items()
                if k not in ("benchmark", *_COUNTS) and isinstance(v, (int, float))
            ]
    return rows


def scene_benchmark_table(
    models: Mapping[tuple[str, int], EmbeddingModel],
    maps: Mapping[tuple[str, int], LinearAlignment],
    suites: Mapping[int, SceneBenchmarks],
) -> pd.DataFrame:
    """Every organism's scene-world benchmarks before and after its map: long rows
    ``{organism, seed, map, benchmark, measure, value}``."""
    rows = []
    for (name, seed), model in models.items():
        rows += [{"organism": name, "seed": seed, **r} for r in scene_rows(model, suites[seed], maps.get((name, seed)))]
    return pd.DataFrame(rows)


def scene_benchmark_summary(
    table: pd.DataFrame, columns: Mapping[tuple[str, str], str] = SCENE_SUMMARY, by: Sequence[str] = ("organism", "map")
) -> pd.DataFrame:
    """The wide table: one row per ``by`` (mean over seeds), one column per entry of ``columns``."""
    keyed = table.assign(column=[columns.get((b, m)) for b, m in zip(table["benchmark"], table["measure"])])
    keyed = keyed.dropna(subset=["column"])
    wide = keyed.groupby([*by, "column"], sort=False)["value"].mean().unstack("column")
    return wide[[c for c in columns.values() if c in wide.columns]]


def suite_sizes(suite: SceneBenchmarks) -> pd.DataFrame:
    """Items per scene-world benchmark of ``suite`` (one column, ``items``)."""
    sizes = {f"SugarCrepe-style {kind}": len(ds) for kind, ds in suite.sugarcrepe.items()}
    sizes |= {"order (5 options)": len(suite.order), "retrieval images": len(suite.retrieval.images)}
    sizes |= {f"zero-shot {name}": len(ds.labels) for name, ds in suite.classes.items()}
    return pd.DataFrame({"items": sizes})


def glue_scene_summary(summary: pd.DataFrame, prefix: str = "sw-") -> None:
    """Glue every number of :func:`scene_benchmark_summary` as ``<prefix><organism>-<column>-<map>``
    (e.g. ``sw-natural-swap-att-before``) for the chapter's prose."""
    glue_values(**{glue_name(f"{organism} {column} {when}", prefix): value
                   for (organism, when), row in summary.iterrows() for column, value in row.items()})


def plot_scene_benchmarks(summary: pd.DataFrame, organisms: Sequence[str],
                          kinds: Sequence[str] = ("replace_att", "replace_obj", "add_obj", "swap_att", "order")):
    """One panel per organism: each scene-world benchmark's accuracy before and after the map
    (``summary``: :func:`scene_benchmark_summary`), chance for two and five options. Returns the figure."""
    kinds = [k for k in kinds if k in summary.columns]
    if not kinds or not organisms:
        raise ValueError("nothing to plot: no benchmark columns or no organisms")
    bars = summary[kinds].stack().rename("accuracy").reset_index()
    fig, axes = plt.subplots(1, len(organisms), figsize=(4.2 * len(organisms), 3.6), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], organisms):
        plot_grouped_bars(bars[bars["organism"] == name], "accuracy", "column", "map",
                          {"chance, 2 options": 1 / 2, "chance, order (5 options)": 1 / 5}, ax=ax, order=kinds,
                          hue_order=["before", "after"])
        ax.set_title(name)
        ax.tick_params(axis="x", labelrotation=30)
    return fig


def scene_map_report(
    model: EmbeddingModel,
    data: OrganismData,
    map_settings: MapSettings = MapSettings(),
    seed: int = 0,
    single_object_scenes: int = 240,
    sizes: Sequence[str] = ("large",),
) -> list[dict]:
    """One model's scene-world benchmarks on the test split of ``data`` before and after a LABCLIP
    map fitted on its train split (as for the organisms): rows ``{map, <summary columns>}``."""
    alignment = fit_map(model, data, map_settings, seed=seed)
    suite = scene_suites({seed: data}, sizes=sizes, single_object_scenes=single_object_scenes, seed=seed)[seed]
    long = pd.DataFrame(scene_rows(model, suite, alignment)).assign(organism="model")
    wide = scene_benchmark_summary(long).droplevel("organism")
    return [{"map": m, **row} for m, row in wide.to_dict("index").items()]


# ---------------------------------------------------------------------------------------------- published

#: paper 1's real-data table: row label -> quote keys per column
_PAPER1_ROWS = {
    "CLIP": "clip",
    "NegCLIP": "negclip",
    "LABCLIP": "labclip",
}
_PAPER1_COLUMNS = {
    "VG-Attribution": "vg-a {}",
    "VG-Relation": "vg-r {}",
    "SugarCrepe REPLACE": "sugarcrepe replace {}",
    "SugarCrepe SWAP": "sugarcrepe swap {}",
    "COCO text->image R@1": "coco t2i r@1 {}",
}
_PEER_ROWS = {
    "SugarCrepe paper: OpenAI CLIP ViT-B/32, weighted": ("vit-b-32", "weighted"),
    "SugarCrepe paper: OpenAI CLIP ViT-B/32, unweighted": ("vit-b-32", "unweighted"),
    "SugarCrepe paper: NegCLIP ViT-B/32, weighted": ("negclip", "weighted"),
}


def published_benchmark_table() -> pd.DataFrame:
    """Paper 1's real-data table (ViT-B/32; CLIP, NegCLIP, LABCLIP) and the SugarCrepe paper's
    category scores (weighted and unweighted), one row each, labelled with the provenance of its
    numbers and where they were found; notes (e.g. a suspicious value) in ``note``."""
    rows = []
    for label, who in _PAPER1_ROWS.items():
        qs = {col: quote(key.format(who)) for col, key in _PAPER1_COLUMNS.items()}
        first = next(iter(qs.values()))
        rows.append(
            {
                "row": f"paper 1: {label} ViT-B/32 {first.provenance}",
                **{c: q.value for c, q in qs.items()},
                "where": first.where,
                "note": "; ".join(f"{c}: {q.note}" for c, q in qs.items() if q.note),
            }
        )
    for label, (who, how) in _PEER_ROWS.items():
        qs = {f"SugarCrepe {cat.upper()}": quote(f"sugarcrepe {cat} {how} {who}") for cat in ("replace", "swap", "add")}
        provenance = " ".join(sorted({q.provenance for q in qs.values()}))
        first = next(iter(qs.values()))
        rows.append(
            {"row": f"{label} {provenance}", **{c: q.value for c, q in qs.items()}, "where": first.where, "note": ""}
        )
    table = pd.DataFrame(rows).set_index("row")
    cols = [*_PAPER1_COLUMNS, "SugarCrepe ADD", "where", "note"]
    return table[cols]


def published_sugarcrepe_subsets(models: Sequence[str] = ("vit-b-32", "vit-l-14")) -> pd.DataFrame:
    """The official SugarCrepe per-subset accuracies of OpenAI CLIPs, one row per model, labelled."""
    rows = {}
    for m in models:
        qs = {s: quote(f"sugarcrepe {s} {m}") for s in SUGARCREPE_SIZES}
        first = next(iter(qs.values()))
        rows[f"{first.source}: {first.what.split(', ', 1)[1]} {first.provenance}"] = {
            s: q.value for s, q in qs.items()
        }
    order = ["replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att"]
    return pd.DataFrame(rows).T[order]


# ---------------------------------------------------------------------------------------------- real benchmarks

#: the chapter's data-path parameters: name -> (what it holds, where to get it)
PATH_PARAMETERS: dict[str, str] = {
    "COCO_DIR": "COCO 2014 images (val2014/, train2014/) and Karpathy's dataset_coco.json",
    "FLICKR30K_DIR": "Flickr30k images (flickr30k-images/) and dataset_flickr30k.json",
    "ARO_DIR": "ARO's visual_genome_relation.json, visual_genome_attribution.json and images/",
    "SUGARCREPE_DIR": "SugarCrepe's 7 JSON files (RAIVNLab/sugar-crepe data/)",
    "COCO_VAL2017_DIR": "COCO val2017 images (SugarCrepe's images; default SUGARCREPE_DIR/val2017)",
    "CIFAR_DIR": "CIFAR-10 and/or CIFAR-100, python or binary version (cifar-10-batches-py/ or cifar-10-batches-bin/, "
                 "cifar-100-python/ or cifar-100-binary/)",
    "PUG_SPARE_DIR": "PUG:SPARE's PUG_SPARE.csv and <world_name>/ image folders",
    "PUG_SPAR_DIR": "PUG:SPAR's labels.csv and images (or the hub's parquet files, with pyarrow)",
    "IMAGENET_DIR": "ImageNet val (or any image folder): one folder of images per class; optionally "
                    "IMAGENET_CLASSNAMES, a text file with one readable class name per line in sorted folder order",
}


@dataclass
class PretrainedSetup:
    """A pretrained model and its maps (label -> map), the tagger for word-order perturbations and
    the numeric results of every benchmark run so far (name -> DataFrame)."""

    model_id: str
    model: EmbeddingModel
    maps: dict[str, LinearAlignment]
    tagger: Callable
    tagger_name: str
    results: dict[str, pd.DataFrame] = field(default_factory=dict)

    def variants(self) -> dict[str, EmbeddingModel]:
        """``{"none": model, <map label>: AlignedModel(model, map), ...}``."""
        return {"none": self.model, **{k: AlignedModel(self.model, m) for k, m in self.maps.items()}}


def _tagger() -> tuple[Callable, str]:
    """spaCy's tagger when spaCy and ``en_core_web_sm`` are installed (as the authors), else our
    scene-world lexicon (shapes nouns, colours adjectives), which only knows our caption words."""
    try:
        tagger = SpacyTagger()
        tagger("a red cube")
        return tagger, "spaCy en_core_web_sm"
    except ImportError:
        return scene_tagger(), "scene-world lexicon (spaCy not installed: pip install spacy)"


def pretrained_setup(
    model_id: str | None,
    released: str | Path | None = None,
    coco_dir: str | Path | None = None,
    map_epochs: int = 10,
    map_lr: float = 1e-3,
    map_batch_size: int = 1024,
    seed: int = 0,
) -> PretrainedSetup | None:
    """Load ``model_id`` and its maps: the authors' ``released`` file (their format, size checked)
    and, with ``coco_dir`` (Karpathy train + val), a map fitted on COCO with noun/adjective-shuffle
    negatives (:func:`~labclip_lib.benchmarks.fit_coco_map`, the authors' COCO recipe by default).
    ``None`` with one printed line when ``model_id`` is None."""
    if not model_id:
        print("MODEL_ID is None: no pretrained model (set MODEL_ID and the data paths in the parameters cell)")
        return None
    model = load_model(str(model_id))
    tagger, tagger_name = _tagger()
    maps = {}
    if released:
        maps[f"released map ({Path(released).name})"] = load_released_map(released, model)
    if coco_dir:
        train = load_coco_karpathy(coco_dir, "train", max_words=40)
        try:
            val = load_coco_karpathy(coco_dir, "val", max_words=40)
        except (DatasetNotFoundError, ValueError):
            val = None
        maps["COCO map (ours)"] = fit_coco_map(
            model, train, tagger, seed, validation=val, lr=map_lr, epochs=map_epochs, batch_size=map_batch_size
        )
    return PretrainedSetup(str(model_id), model, maps, tagger, tagger_name)


def maps_table(setup: PretrainedSetup | None) -> pd.DataFrame | None:
    """One row per map of ``setup``: its size, where it comes from, how far from the identity."""
    if setup is None:
        return None
    rows = [{"map": "none", "D": setup.model.dim, "source": f"{setup.model_id} as released"}]
    for label, m in setup.maps.items():
        w = m.weight_.numpy()
        rows.append(
            {
                "map": label,
                "D": w.shape[0],
                "source": m.metadata_.get("source") or m.metadata_.get("train") or "",
                "||A - I||_F": float(np.linalg.norm(w - np.eye(w.shape[0]))),
            }
        )
    return show_table(pd.DataFrame(rows).set_index("map"))


def _rows(setup: PretrainedSetup, evaluate: Callable[[EmbeddingModel], dict]) -> list[dict]:
    return [{"map": label, **evaluate(m)} for label, m in setup.variants().items()]


def _retrieval(setup, paths, **_):
    ds = load_coco_karpathy(paths["COCO_DIR"], "test", max_words=40)
    return _rows(setup, lambda m: evaluate_retrieval(m, ds))


def _vg(setup, paths, **_):
    vgr, vga = load_vg_relation(paths["ARO_DIR"]), load_vg_attribution(paths["ARO_DIR"])

    def ev(m):
        r, a = evaluate_choice(m, vgr), evaluate_choice(m, vga)
        return {
            "VG-Relation (official: no symmetric relations)": r["macro accuracy"],
            "VG-Relation (all relations)": r["macro accuracy (all groups)"],
            "VG-Attribution (macro, pairs >= 25 items)": a["macro accuracy"],
            "relations (official)": r["groups"],
            "attribute pairs": a["groups"],
        }

    return _rows(setup, ev)


def _order(setup, paths, seed=0, **_):
    sets = {}
    if paths.get("COCO_DIR"):
        sets["COCO-Order"] = load_coco_order(paths["COCO_DIR"], setup.tagger, seed)
    if paths.get("FLICKR30K_DIR"):
        sets["Flickr30k-Order"] = load_flickr30k_order(paths["FLICKR30K_DIR"], setup.tagger, seed)
    return _rows(setup, lambda m: {name: evaluate_choice(m, ds)["accuracy"] for name, ds in sets.items()})


def _sugarcrepe(setup, paths, **_):
    subsets = load_sugarcrepe(paths["SUGARCREPE_DIR"], images_dir=paths.get("COCO_VAL2017_DIR"))
    return _rows(setup, lambda m: evaluate_sugarcrepe(m, subsets))


def _zeroshot(setup, paths, **_):
    sets = {}
    for which in ("cifar10", "cifar100"):
        try:
            sets[which] = load_cifar(paths["CIFAR_DIR"], which)
        except DatasetNotFoundError:
            print(f"{which}: not in CIFAR_DIR (skipped)")
    if not sets:
        raise DatasetNotFoundError("CIFAR", [paths["CIFAR_DIR"]], "see load_cifar", "neither CIFAR-10 nor CIFAR-100")
    return _zeroshot_rows(setup, sets.values())


def _zeroshot_rows(setup, sets) -> list[dict]:
    def ev(m):
        out = {}
        for ds in sets:
            r = evaluate_zeroshot(m, ds)
            out |= {f"{ds.name} {k}": r[k] for k in ("top-1", "top-5", "mean per-class recall")}
        return out

    return _rows(setup, ev)


def _image_folder(setup, paths, **_):
    names_file = paths.get("IMAGENET_CLASSNAMES")
    names = None
    if names_file:
        names = [line.strip() for line in Path(names_file).read_text().splitlines() if line.strip()]
    return _zeroshot_rows(setup, [load_image_folder(paths["IMAGENET_DIR"], names, name="image folder (ImageNet)")])


def _pug(setup, paths, seed=0, val=0.1, test=0.1, map_settings=MapSettings(batch_size=512), which="spare", **_):
    name = f"PUG:{which.upper()}"
    records = load_pug(paths[f"PUG_{which.upper()}_DIR"], which)
    split = leak_free_split(records, val, test, seed)
    test_set = pug_pairs(records, split["test"], name=f"{name} test (leak-free)")
    rows = _rows(setup, lambda m: evaluate_choice(m, test_set))
    if len(split["train"]):
        # the authors' protocol: a map fitted on the (here leak-free) train part, HNB, their PUG recipe

        def pairs(part):
            ds = pug_pairs(records, split[part])
            txt = encode_texts(setup.model, [t for o in ds.options for t in o]).view(len(ds), 2, -1)
            return {"image": embed_images(setup.model, ds.images), "caption": txt[:, 0], "swap": txt[:, 1]}

        emb = {"train": pairs("train")}
        if len(split["val"]):
            emb["val"] = pairs("val")
        pug_map = fit_alignment(
            emb, "hnb", seed=seed, epochs=map_settings.epochs, lr=map_settings.lr, batch_size=map_settings.batch_size
        )
        after = evaluate_choice(AlignedModel(setup.model, pug_map), test_set)
        rows.append({"map": f"{name} map (leak-free train)", **after})
    return rows


#: benchmark family -> (the path parameters it needs (any one of them suffices for "ARO order"), runner)
_RUNNERS: dict[str, tuple[tuple[str, ...], Callable]] = {
    "COCO retrieval": (("COCO_DIR",), _retrieval),
    "ARO VG-Relation / VG-Attribution": (("ARO_DIR",), _vg),
    "ARO order": (("COCO_DIR", "FLICKR30K_DIR"), _order),
    "SugarCrepe": (("SUGARCREPE_DIR",), _sugarcrepe),
    "zero-shot CIFAR": (("CIFAR_DIR",), _zeroshot),
    "zero-shot image folder": (("IMAGENET_DIR",), _image_folder),
    "PUG:SPARE": (("PUG_SPARE_DIR",), _pug),
    "PUG:SPAR": (("PUG_SPAR_DIR",), partial(_pug, which="spar")),
}


def real_benchmark(setup: PretrainedSetup | None, name: str, paths: Mapping[str, str | Path | None], **options):
    """Run benchmark family ``name`` (one of ``"COCO retrieval"``, ``"ARO VG-Relation /
    VG-Attribution"``, ``"ARO order"``, ``"SugarCrepe"``, ``"zero-shot CIFAR"``, ``"zero-shot image
    folder"`` (ImageNet), ``"PUG:SPARE"``, ``"PUG:SPAR"``) on
    the setup's model before and after each of its maps: a formatted table, one row per map (the
    numbers stay in ``setup.results[name]``). Prints one line and returns None when ``setup`` is
    None (no ``MODEL_ID``) or the data path is not set. ``options``: ``seed`` (perturbations,
    splits), ``val`` / ``test`` (PUG split shares)."""
    if name not in _RUNNERS:
        raise KeyError(f"unknown benchmark {name!r}; expected one of {list(_RUNNERS)}")
    needs, run = _RUNNERS[name]
    if setup is None:
        print(f"{name}: not run (set MODEL_ID and {' or '.join(needs)})")
        return None
    if not any(paths.get(p) for p in needs):
        print(f"{name}: not run: set {' or '.join(needs)} ({'; '.join(PATH_PARAMETERS[p] for p in needs)})")
        return None
    frame = pd.DataFrame(run(setup, dict(paths), **options)).set_index("map")
    setup.results[name] = frame
    return show_table(frame)


def real_benchmarks(
    model_id: str | None, paths: Mapping[str, str | Path | None], alignment: str | Path | None = None, **options
) -> pd.DataFrame | None:
    """Every benchmark family whose data path is set, on ``model_id`` before and after the released
    map ``alignment`` (and a COCO map when ``paths["COCO_DIR"]`` holds Karpathy train): one long
    table ``{benchmark, map, measure, value}``."""
    setup = pretrained_setup(model_id, alignment, paths.get("COCO_DIR") if options.pop("map_on_coco", True) else None)
    if setup is None:
        return None
    for name in _RUNNERS:
        real_benchmark(setup, name, paths, **options)
    rows = [
        {"benchmark": name, "map": m, "measure": k, "value": v}
        for name, frame in setup.results.items()
        for m, row in frame.iterrows()
        for k, v in row.items()
        if isinstance(v, (int, float, np.floating)) and not pd.isna(v)
    ]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- cost


@dataclass(frozen=True)
class ClipArchitecture:
    """What a CLIP's forward cost depends on: the ViT image tower and the text transformer."""

    image_size: int
    patch: int
    vision_width: int
    vision_layers: int
    vision_mlp: int
    text_width: int
    text_layers: int
    text_mlp: int
    context: int = 77

    @staticmethod
    def _tower(tokens: int, width: int, layers: int, mlp: int) -> float:
        # per layer: q, k, v, output projections (4 d^2) and the MLP (2 d m) per token, plus the
        # attention products (2 n^2 d); 2 FLOPs per multiply-add
        return layers * (2 * tokens * (4 * width**2 + 2 * width * mlp) + 4 * tokens**2 * width)

    @property
    def image_gflops(self) -> float:
        """Forward FLOPs per image (patch embedding + the tower), in GFLOPs."""
        patches = (self.image_size // self.patch) ** 2
        embed = 2 * patches * 3 * self.patch**2 * self.vision_width
        return (embed + self._tower(patches + 1, self.vision_width, self.vision_layers, self.vision_mlp)) / 1e9

    @property
    def text_gflops(self) -> float:
        """Forward FLOPs per caption padded to ``context`` tokens, in GFLOPs."""
        return self._tower(self.context, self.text_width, self.text_layers, self.text_mlp) / 1e9


#: the OpenAI CLIPs of the authors' released maps, from their Hugging Face config.json files
OPENAI_CLIPS: dict[str, ClipArchitecture] = {
    "openai/clip-vit-base-patch32": ClipArchitecture(224, 32, 768, 12, 3072, 512, 12, 2048),
    "openai/clip-vit-base-patch16": ClipArchitecture(224, 16, 768, 12, 3072, 512, 12, 2048),
    "openai/clip-vit-large-patch14": ClipArchitecture(224, 14, 1024, 24, 4096, 768, 12, 3072),
}


def architecture_of(model: EmbeddingModel) -> ClipArchitecture:
    """The architecture of a loaded Hugging Face CLIP (``model.model.config``)."""
    cfg = getattr(getattr(model, "model", None), "config", None)
    if cfg is None or not hasattr(cfg, "vision_config"):
        raise ValueError(f"{getattr(model, 'name', model)!r} is not a Hugging Face CLIP: no vision/text config")
    v, t = cfg.vision_config, cfg.text_config
    return ClipArchitecture(
        int(v.image_size),
        int(v.patch_size),
        int(v.hidden_size),
        int(v.num_hidden_layers),
        int(v.intermediate_size),
        int(t.hidden_size),
        int(t.num_hidden_layers),
        int(t.intermediate_size),
        int(t.max_position_embeddings),
    )


#: (images, captions) each benchmark embeds, from the datasets' published sizes (papers.md §D):
#: Karpathy test 5k images / 25k captions (all captions for the order sets: COCO-Order 25,010
#: items x 5 options), Flickr30k test 1k images / 5k captions, ARO's VG sets (one crop and two
#: captions per item), SugarCrepe's 7,511 items (COCO val2017), CIFAR's 10k test images (10 / 100
#: classes x 18 prompts), Karpathy train 113,287 images / ~5 captions each with one shuffled
#: negative per caption; PUG:SPARE's image count is not published (left out). The third entry:
#: are the captions encoded once per model variant (an evaluation) or once (the map's training rows)?
REAL_BENCHMARK_SIZES: dict[str, tuple[int, int, bool]] = {
    "COCO retrieval": (5_000, 25_000, True),
    "COCO-Order": (5_000, 25_010 * 5, True),
    "Flickr30k-Order": (1_000, 5_000 * 5, True),
    "VG-Relation": (23_937, 2 * 23_937, True),
    "VG-Attribution": (28_748, 2 * 28_748, True),
    "SugarCrepe": (sum(SUGARCREPE_SIZES.values()), 2 * sum(SUGARCREPE_SIZES.values()), True),
    "CIFAR-10": (10_000, 10 * 18, True),
    "CIFAR-100": (10_000, 100 * 18, True),
    "COCO map fit (Karpathy train)": (113_287, 2 * 5 * 113_287, False),
}


def jpeg_decode_rate(n: int = 24, size: tuple[int, int] = (640, 480), crop: int = 224) -> float:
    """Images per second one core of this machine decodes and preprocesses (JPEG of ``size``, COCO's
    typical 640 x 480, resized and centre-cropped to ``crop`` by the engine's loader code)."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        y, x = np.mgrid[: size[1], : size[0]]
        base = np.stack([x * 255 / size[0], y * 255 / size[1], (x + y) % 256], -1)
        for i in range(n):
            # smooth gradients plus noise: compresses like a photograph, not like a flat colour
            img = base + rng.normal(0, 20, base.shape)
            p = Path(tmp) / f"{i}.jpg"
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(p, "JPEG", quality=90)
            paths.append(ImageRef(str(p)))
        load_pixels(paths[0], crop, (crop, crop))  # warm-up
        t0 = time.perf_counter()
        for p in paths:
            load_pixels(p, crop, (crop, crop))
        return n / (time.perf_counter() - t0)


def colab_time_estimate(
    architectures: Mapping[str, ClipArchitecture],
    t4_tflops: float,
    loader_cpus: int,
    decode_per_second: float,
    variants: int = 2,
    sizes: Mapping[str, tuple[int, int, bool]] = REAL_BENCHMARK_SIZES,
    text_tokens: int | None = None,
) -> pd.DataFrame:
    """Minutes per (model, benchmark) on a Colab T4: images cost ``image_gflops / t4_tflops`` on the
    GPU or ``1 / (decode_per_second * loader_cpus)`` in the loader, whichever is slower (the two
    overlap); captions cost ``text_gflops / t4_tflops`` (padded to ``text_tokens``, default the
    model's context of 77: an upper bound) once per model variant in an evaluation (``variants``:
    the model alone and with each map, since a mapped caption is re-encoded), once for a map's
    training rows. Rows ``{model, benchmark, images, captions, GPU image s, loader s, text s,
    minutes}``."""
    if t4_tflops <= 0 or loader_cpus < 1 or decode_per_second <= 0:
        raise ValueError("need t4_tflops > 0, loader_cpus >= 1 and decode_per_second > 0")
    rows = []
    for model, arch in architectures.items():
        if text_tokens is not None:
            arch = replace(arch, context=int(text_tokens))
        for bench, (n_img, n_txt, per_variant) in sizes.items():
            gpu = n_img * arch.image_gflops / (t4_tflops * 1e3)
            loader = n_img / (decode_per_second * loader_cpus)
            text = n_txt * (variants if per_variant else 1) * arch.text_gflops / (t4_tflops * 1e3)
            rows.append(
                {
                    "model": model,
                    "benchmark": bench,
                    "images": n_img,
                    "captions": n_txt,
                    "GPU image s": gpu,
                    "loader s": loader,
                    "text s": text,
                    "minutes": (max(gpu, loader) + text) / 60,
                }
            )
    return pd.DataFrame(rows)

"""Real benchmarks (paper 1's Part IV) and their scene-world versions, for any model of the protocol.

The pipeline inside: :mod:`.data` (dataset errors, image references, caption cleaning) ->
:mod:`.metrics` (recall@k both ways, multiple choice with ties as ``1 / tied``, macro accuracy,
SugarCrepe categories weighted and unweighted) -> :mod:`.text` (pluggable POS tagger, ARO's order
perturbations) -> loaders, one per family (:mod:`.coco`, :mod:`.aro`, :mod:`.sugarcrepe`,
:mod:`.zeroshot` with :mod:`.cifar_files`, :mod:`.pug`; the hub through :mod:`.hub` only; image bytes
kept as files by :mod:`.image_files`) -> :mod:`.embedding` (image files
and captions through the keyed cache) -> :mod:`.evaluate` (``evaluate_*(model, dataset) -> dict``)
-> :mod:`.negatives` (COCO-trained LABCLIP, the released maps) -> :mod:`.sceneworld` (the same
benchmarks on our scenes); :mod:`.grid` runs models x benchmarks grids split over ranks.
"""

from .aro import (
    ARO_HOW_TO_GET,
    VG_HUB_IDS,
    VG_SYMMETRIC_RELATIONS,
    ChoiceDataset,
    load_coco_order,
    load_flickr30k_order,
    load_vg_attribution,
    load_vg_hub,
    load_vg_relation,
    order_dataset,
)
from .coco import RetrievalDataset, load_coco_karpathy, load_coco_karpathy_hub, load_karpathy
from .data import DatasetFormatError, DatasetNotFoundError, DatasetSizeWarning, ImageRef, pre_caption
from .embedding import encode_image_files, encode_texts
from .evaluate import (
    choice_records,
    choice_scores,
    embed_images,
    evaluate_choice,
    evaluate_retrieval,
    evaluate_sugarcrepe,
    evaluate_zeroshot,
    records_frame,
    with_and_without_map,
    zeroshot_classifier,
)
from .grid import GridRun, RetrievalSource, grid_runs, merge_grid, run_grid
from .metrics import category_scores, macro_accuracy, option_accuracy, option_hits, retrieval_recall
from .negatives import RELEASED_MAPS, coco_triplets, fit_coco_map, load_released_map, shuffle_negatives
from .pug import PugRecord, leak_free_split, load_pug, load_pug_spar_hub, pug_pairs
from .sceneworld import (
    SceneBenchmarks,
    evaluate_scene_benchmarks,
    order_style,
    retrieval_set,
    scene_benchmarks,
    single_object_classes,
    sugarcrepe_style,
)
from .sugarcrepe import SUGARCREPE_SUBSETS, load_sugarcrepe, load_sugarcrepe_hub
from .text import LexiconTagger, SpacyTagger, order_options, shuffle_nouns_and_adjectives
from .zeroshot import ClassificationDataset, load_cifar, load_cifar_hub, load_image_folder
from .zeroshot_data import CIFAR10_CLASSES, CIFAR100_CLASSES, CIFAR_TEMPLATES

__all__ = [
    "GridRun",
    "RetrievalSource",
    "grid_runs",
    "merge_grid",
    "run_grid",
    "ARO_HOW_TO_GET",
    "VG_HUB_IDS",
    "VG_SYMMETRIC_RELATIONS",
    "ChoiceDataset",
    "load_coco_order",
    "load_flickr30k_order",
    "load_vg_attribution",
    "load_vg_relation",
    "load_vg_hub",
    "load_pug_spar_hub",
    "order_dataset",
    "RetrievalDataset",
    "load_coco_karpathy",
    "load_coco_karpathy_hub",
    "load_karpathy",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DatasetSizeWarning",
    "ImageRef",
    "pre_caption",
    "encode_image_files",
    "encode_texts",
    "choice_records",
    "choice_scores",
    "embed_images",
    "evaluate_choice",
    "evaluate_retrieval",
    "evaluate_sugarcrepe",
    "evaluate_zeroshot",
    "records_frame",
    "with_and_without_map",
    "zeroshot_classifier",
    "category_scores",
    "macro_accuracy",
    "option_accuracy",
    "option_hits",
    "retrieval_recall",
    "RELEASED_MAPS",
    "coco_triplets",
    "fit_coco_map",
    "load_released_map",
    "shuffle_negatives",
    "PugRecord",
    "leak_free_split",
    "load_pug",
    "pug_pairs",
    "SceneBenchmarks",
    "evaluate_scene_benchmarks",
    "order_style",
    "retrieval_set",
    "scene_benchmarks",
    "single_object_classes",
    "sugarcrepe_style",
    "SUGARCREPE_SUBSETS",
    "load_sugarcrepe",
    "load_sugarcrepe_hub",
    "LexiconTagger",
    "SpacyTagger",
    "order_options",
    "shuffle_nouns_and_adjectives",
    "ClassificationDataset",
    "load_cifar",
    "load_cifar_hub",
    "load_image_folder",
    "CIFAR10_CLASSES",
    "CIFAR100_CLASSES",
    "CIFAR_TEMPLATES",
]

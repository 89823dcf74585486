"""Organisms: small CLIPs trained from scratch on the scene world (paper 2's setting).

An organism is a dual encoder, a small CNN over 32-64 px scenes and a GRU over a word-level
vocabulary of the caption language, trained with the symmetric InfoNCE loss and a learnable
temperature; :data:`RECIPES` names the training recipes (the second, the default, is several
times cheaper than the first; ``"clip"`` trains CLIP's own architecture instead, a small
``transformers.CLIPModel`` that :func:`export_pretrained` saves for ``load_model``). The pipeline
inside: :mod:`.config` (what an organism is) ->
:mod:`.tokenizer`, :mod:`.networks` (and :mod:`.clip`) -> :mod:`.data` (scenes, split, captions of its diet) ->
:mod:`.training` -> :mod:`.model` (behind the model protocol) -> :mod:`.store` (trained once,
cached on disk).
"""

from .config import (ORGANISMS, RECIPES, OrganismConfig, describe_changes, organism_config, organism_configs, recipe_changes,
                     recipe_name, recipe_rows)
from .data import (OrganismData, build_data, evaluation_captions, example_captions, own_format_captions, prepare_scene_set,
                   prepare_scene_sets, scene_set_ready)
from .model import OrganismModel, weights_digest
from .clip import CLIPOrganism, export_pretrained
from .networks import IMAGE_BATCH, DualEncoder, architecture_table, build_network, to_pixels
from .store import (
                    ORGANISM_FILE,
                    TRAIN_METRIC_SCENES,
                    cached_config,
                    WEIGHTS_FILE,
                    get_organism,
                    get_organisms,
                    load_organism,
                    organism_history,
                    organism_summary,
                    read_organism,
                    trained_organism,
                    training_cost,
)
from .tokenizer import VOCABULARY, WordTokenizer, organism_vocabulary
from .training import (MIN_IMPROVEMENT, PlateauStopping, TrainingHistory, binding_accuracy_2way, image_autocast,
                       train_organism, validation_loss)

__all__ = ["ORGANISMS", "RECIPES", "OrganismConfig", "organism_config", "organism_configs", "recipe_name", "recipe_changes", "describe_changes", "recipe_rows", "OrganismData", "build_data", "evaluation_captions", "own_format_captions", "example_captions", "prepare_scene_set", "prepare_scene_sets", "scene_set_ready",
           "OrganismModel", "weights_digest", "DualEncoder", "CLIPOrganism", "build_network", "export_pretrained",
           "architecture_table", "to_pixels", "IMAGE_BATCH", "ORGANISM_FILE", "TRAIN_METRIC_SCENES", "WEIGHTS_FILE", "cached_config",
           "get_organism", "get_organisms", "load_organism", "organism_history", "organism_summary", "read_organism", "trained_organism", "training_cost", "VOCABULARY",
           "WordTokenizer", "organism_vocabulary", "TrainingHistory", "PlateauStopping", "binding_accuracy_2way", "image_autocast",
           "train_organism",
           "validation_loss", "MIN_IMPROVEMENT"]

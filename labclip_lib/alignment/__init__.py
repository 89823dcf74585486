"""LABCLIP, paper 1's fix: a linear map on frozen text embeddings that restores binding.

The pipeline inside: :mod:`.loss` (HNB and SB, written out) -> :mod:`.estimator`
(:class:`LinearAlignment`: ``fit`` / ``transform`` / ``score`` / ``save`` / ``load``, the authors'
checkpoints too) -> :mod:`.aligned` (:class:`AlignedModel`: any model with a map on its text side)
-> :mod:`.finetune` (the "CLIP-FT" baseline on organisms) -> :mod:`.compare` (chapter 6's tables); :mod:`.streaming` fits a map from a shard folder
(memory-mapped, resumable, across torch.distributed ranks).
"""

from .aligned import AlignedModel
from .compare import (
                      METHODS,
                      agreement_before_after,
                      alignment_effects,
                      alignment_report,
                      before_after,
                      before_after_report,
                      binding_by_method,
                      effects_by_model,
                      fit_maps,
                      map_against_bound,
)
from .estimator import (ALIGNMENT_FORMAT, AlignmentHistory, LinearAlignment, MapSettings, fit_alignment, map_statistics,
                        triplet)
from .finetune import FinetuneResult, finetune_organism
from .loss import LOSSES, duplicate_ids, hnb_loss, sb_loss
from .streaming import ArrayRows, StreamSettings, fit_from_shards, fit_streaming

__all__ = ["AlignedModel", "METHODS", "alignment_effects", "alignment_report", "before_after", "fit_maps", "effects_by_model",
           "agreement_before_after", "before_after_report", "binding_by_method", "map_against_bound",
           "ALIGNMENT_FORMAT",
           "AlignmentHistory", "LinearAlignment", "MapSettings", "fit_alignment", "map_statistics", "triplet", "FinetuneResult",
           "finetune_organism", "LOSSES", "duplicate_ids", "hnb_loss", "sb_loss",
           "ArrayRows", "StreamSettings", "fit_from_shards", "fit_streaming"]

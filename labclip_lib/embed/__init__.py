"""Models and their embeddings: the model protocol every model follows (:mod:`.protocol`), the
Hugging Face adapter for pretrained CLIPs (:mod:`.hf`) and model-aware embedding caches
(:mod:`.cache`), row sources (:mod:`.sources`) and sharded, resumable embedding with its reader
(:mod:`.shards`)."""

from .cache import cached_encode_images, cached_encode_texts, image_embeddings
from .hf import HFClipModel, ModelNotAvailableError, feature_tensor, load_hf_model
from .protocol import EmbeddingModel, images_to_tensor
from .shards import ShardReader, embed_shards, open_shards
from .sources import ArraySource, FolderSource, ParquetSource, RowSource, scene_source

__all__ = ["EmbeddingModel", "images_to_tensor", "HFClipModel", "ModelNotAvailableError", "feature_tensor",
           "load_hf_model", "cached_encode_images", "cached_encode_texts", "image_embeddings",
           "ShardReader", "embed_shards", "open_shards", "RowSource", "ArraySource", "FolderSource", "ParquetSource",
           "scene_source"]

"""Offline stand-ins for pretrained CLIPs: a randomly initialised ``CLIPModel`` of any size,
saved with a real ``CLIPTokenizer`` (a small BPE vocabulary of our caption language) and a real
``CLIPImageProcessor``, so tests and benchmarks load it through ``load_model`` exactly as a hub
model. Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .world.scenes import COLORS, SHAPES

__all__ = ["CAPTION_WORDS", "write_clip_tokenizer", "make_tiny_clip"]

CAPTION_WORDS = ("a", "an", "and", ",", *COLORS, *SHAPES)


def write_clip_tokenizer(directory: str | Path, words=CAPTION_WORDS):
    """Write vocab.json + merges.txt for a byte-level BPE covering ``words``; return the tokenizer."""
    # transformers only here: it is heavy and optional for the rest of the library
    from transformers import CLIPTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}

    def add(tok: str) -> None:
        vocab.setdefault(tok, len(vocab))

    for ch in sorted({c for w in words for c in w}):
        add(ch)
        add(ch + "</w>")
    merges = []
    for w in words:
        parts = list(w[:-1]) + [w[-1] + "</w>"]
        while len(parts) > 1:  # merge left to right: "r e", "re d</w>"
            merges.append(f"{parts[0]} {parts[1]}")
            parts = [parts[0] + parts[1]] + parts[2:]
            add(parts[0])
    add("<|startoftext|>")
    add("<|endoftext|>")
    (directory / "vocab.json").write_text(json.dumps(vocab))
    unique = list(dict.fromkeys(merges))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(unique) + "\n")
    return CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))


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

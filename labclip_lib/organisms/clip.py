"""CLIP's own architecture as an organism: a small ``transformers.CLIPModel`` (a vision
transformer and a causal text transformer) behind the organisms' network interface, so
:func:`~labclip_lib.organisms.train_organism` trains it like the CNN+GRU, and exported with
``save_pretrained`` so :func:`labclip_lib.embed.load_model` opens it as it opens a hub CLIP.

The caption language gets a real byte-level BPE tokenizer (``CLIPTokenizer``) in which every
word of the organism's vocabulary is one token; training feeds the model exactly the ids that
tokenizer produces (``<|startoftext|>``, the words, ``<|endoftext|>``), so the exported model reads
captions through the standard Hugging Face path as it did in training. ``transformers`` is
imported only when such an organism is built.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..embed.hf import feature_tensor
from .config import OrganismConfig
from .tokenizer import organism_vocabulary

__all__ = ["CLIPOrganism", "bpe_vocabulary", "write_caption_tokenizer", "export_pretrained", "CLIP_MEAN", "CLIP_STD",
           "START_TOKEN", "END_TOKEN"]

#: the image normalisation of OpenAI's CLIP (and of the exported ``CLIPImageProcessor``)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
START_TOKEN, END_TOKEN = "<|startoftext|>", "<|endoftext|>"


def bpe_vocabulary(words: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """A byte-level BPE vocabulary and merge list in which each of ``words`` (lower-case ASCII)
    is one token ``word</w>``: every character with and without the end-of-word mark, then the
    merges that join each word left to right, longer words' merges first (so a short word's
    merge, e.g. "an", never splits a longer one, "cyan"), then the start and end tokens.
    Checked: BPE with these merges reads each word as one token."""
    if not words:
        raise ValueError("bpe_vocabulary needs at least one word")
    bad = [w for w in words if not w or not w.isascii() or w != w.lower() or " " in w]
    if bad:
        raise ValueError(f"words must be non-empty lower-case ASCII without spaces, got {bad}")
    vocab: dict[str, int] = {}
    for ch in sorted({c for w in words for c in w}):
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    merges: list[str] = []
    for w in sorted(dict.fromkeys(words), key=len, reverse=True):
        parts = list(w[:-1]) + [w[-1] + "</w>"]
        while len(parts) > 1:  # "c y" -> "cy", "cy a" -> "cya", "cya n</w>" -> "cyan</w>"
            merges.append(f"{parts[0]} {parts[1]}")
            parts = [parts[0] + parts[1]] + parts[2:]
            vocab.setdefault(parts[0], len(vocab))
    merges = list(dict.fromkeys(merges))
    ranks = {tuple(m.split()): r for r, m in enumerate(merges)}
    split = [w for w in words if _bpe_pieces(w, ranks) != [w + "</w>"]]
    if split:
        raise ValueError(f"these words do not become one BPE token: {split}")
    vocab.setdefault(START_TOKEN, len(vocab))
    vocab.setdefault(END_TOKEN, len(vocab))
    return vocab, merges


def _bpe_pieces(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair encoding of one word: merge the adjacent pair of lowest rank until none is left."""
    parts = list(word[:-1]) + [word[-1] + "</w>"]
    while len(parts) > 1:
        pairs = [(ranks.get((a, b), len(ranks)), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        rank, i = min(pairs)
        if rank == len(ranks):
            break
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    return parts


def write_caption_tokenizer(directory: str | Path, words: Sequence[str]):
    """Write ``vocab.json`` and ``merges.txt`` of :func:`bpe_vocabulary` to ``directory`` and
    return the ``CLIPTokenizer`` that reads them."""
    from transformers import CLIPTokenizer  # transformers only here: heavy, optional for the rest

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = bpe_vocabulary(words)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))


class CLIPOrganism(nn.Module):
    """A ``transformers.CLIPModel`` with the organisms' network interface.

    ``encode_image``: ``(N, 3, R, R)`` floats in [0, 1] -> unnormalised ``(N, D)`` (normalised
    with CLIP's mean and std inside, as the exported image processor does); ``encode_text``: the
    organism tokenizer's ids ``(N, L)`` (0-padded) and lengths ``(N,)`` -> ``(N, D)``, read as
    the BPE ids ``[start, words..., end]`` (padded with the end token, as ``CLIPTokenizer``
    pads), pooled at the end token. Both towers are ``width`` wide with ``width // 32`` heads
    (at least one) and an MLP of 4 x ``width``, as in CLIP.
    """

    def __init__(self, vocabulary: Sequence[str], dim: int = 64, resolution: int = 32, width: int = 64,
                 patch_size: int = 8, vision_layers: int = 4, text_layers: int = 2, max_words: int = 48):
        super().__init__()
        from transformers import CLIPConfig, CLIPModel  # transformers only here: heavy, optional for the rest

        if vocabulary[0] != "<pad>":
            raise ValueError("the organism vocabulary must start with '<pad>'")
        self.vocabulary = tuple(vocabulary)
        self.bpe, self.merges = bpe_vocabulary(self.vocabulary[1:])
        self.start_id, self.end_id = self.bpe[START_TOKEN], self.bpe[END_TOKEN]
        # organism id -> BPE id; the organism's padding (id 0) becomes the end token, CLIP's padding
        token_map = [self.end_id] + [self.bpe[w + "</w>"] for w in self.vocabulary[1:]]
        self.register_buffer("token_map", torch.tensor(token_map), persistent=False)
        heads = max(1, width // 32)
        tower = dict(hidden_size=width, intermediate_size=4 * width, num_attention_heads=heads)
        config = CLIPConfig(
            text_config=dict(**tower, vocab_size=len(self.bpe), num_hidden_layers=text_layers,
                             max_position_embeddings=max_words + 2, bos_token_id=self.start_id,
                             eos_token_id=self.end_id, pad_token_id=self.end_id),
            vision_config=dict(**tower, image_size=resolution, patch_size=patch_size, num_hidden_layers=vision_layers),
            projection_dim=dim,
        )
        self.clip = CLIPModel(config)
        self.resolution = resolution
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_config(cls, config: OrganismConfig, vocab_size: int | None = None) -> "CLIPOrganism":
        """The (randomly initialised) transformer CLIP that ``config`` describes."""
        vocabulary = organism_vocabulary(config)
        if vocab_size is not None and vocab_size != len(vocabulary):
            raise ValueError(f"a vocabulary of {vocab_size} words does not match this config's ({len(vocabulary)})")
        return cls(vocabulary, config.embed_dim, config.resolution, config.transformer_width, config.patch_size,
                   config.vision_layers, config.text_layers)

    @property
    def logit_scale(self) -> nn.Parameter:
        return self.clip.logit_scale

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(N, 3, R, R)`` float in [0, 1] -> unnormalised ``(N, D)``."""
        if pixels.shape[-2:] != (self.resolution, self.resolution):
            raise ValueError(f"this organism sees {self.resolution} px images, got {tuple(pixels.shape[-2:])}")
        return feature_tensor(self.clip.get_image_features(pixel_values=(pixels - self.mean) / self.std))

    def clip_input_ids(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Organism ids ``(N, L)`` and lengths -> the BPE ids ``(N, L + 2)`` a ``CLIPTokenizer``
        gives for the same captions, and their attention mask."""
        n, length = ids.shape
        lengths = lengths.to(ids.device)
        out = torch.full((n, length + 2), self.end_id, dtype=torch.long, device=ids.device)
        out[:, 0] = self.start_id
        out[:, 1 : length + 1] = self.token_map[ids]
        mask = (torch.arange(length + 2, device=ids.device)[None, :] < (lengths[:, None] + 2)).long()
        return out, mask

    def encode_text(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Organism ids ``(N, L)`` and lengths ``(N,)`` -> unnormalised ``(N, D)``."""
        input_ids, mask = self.clip_input_ids(ids, lengths)
        return feature_tensor(self.clip.get_text_features(input_ids=input_ids, attention_mask=mask))


def export_pretrained(network: CLIPOrganism, config: OrganismConfig, directory: str | Path,
                      card: str = "") -> Path:
    """Save a trained :class:`CLIPOrganism` as a Hugging Face CLIP: ``model.safetensors`` and its
    config (``save_pretrained``), a ``CLIPProcessor`` (the caption tokenizer and a
    ``CLIPImageProcessor`` at the organism's resolution, CLIP's mean and std), the organism's
    config (``organism.json``) and a model card (``README.md``: what it is, plus ``card``).
    Returns ``directory``; ``load_model(directory)`` opens it."""
    from transformers import CLIPImageProcessor, CLIPProcessor  # transformers only here: heavy, optional

    if not isinstance(network, CLIPOrganism):
        raise TypeError(f"only a CLIPOrganism exports as a Hugging Face CLIP, got {type(network).__name__}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    network.clip.save_pretrained(directory, safe_serialization=True)
    size = network.resolution
    processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                   image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))
    with tempfile.TemporaryDirectory() as files:  # the processor writes the tokenizer's own copy
        tokenizer = write_caption_tokenizer(files, network.vocabulary[1:])
        CLIPProcessor(image_processor=processor, tokenizer=tokenizer).save_pretrained(directory)
    (directory / "organism.json").write_text(json.dumps(config.to_dict(), indent=1, sort_keys=True))
    (directory / "README.md").write_text(
        f"# labclip organism {config.name!r} (CLIP architecture)\n\n"
        f"A `transformers.CLIPModel` trained from scratch by labclip on its synthetic scene world "
        f"({config.resolution} px scenes of {', '.join(map(str, config.n_objects))} objects, diet "
        f"{config.name!r}, seed {config.seed}); not a pretrained CLIP. Vision transformer: patch "
        f"{config.patch_size}, {config.vision_layers} layers; text transformer: {config.text_layers} layers; "
        f"width {config.transformer_width}; {config.embed_dim}-dimensional shared space. Its tokenizer reads "
        f"only the caption language ({', '.join(network.vocabulary[1:])}). The full config is in "
        f"`organism.json`.\n\n{card}".rstrip() + "\n")
    return directory

"""Word-level text tools of the benchmarks: a pluggable part-of-speech tagger and ARO's four
word-order perturbations, seeded.

A tagger is any callable ``text -> [(token, tag), ...]`` with Penn Treebank tags (``NN``,
``NNS``, ``JJ``, ...; only "is it a noun / an adjective" matters here).
:class:`SpacyTagger` wraps spaCy (imported when first used; ``en_core_web_sm`` as in ARO and the
LABCLIP authors' code); :class:`LexiconTagger` tags from two word lists (tests, the scene world,
or a machine without spaCy).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

import numpy as np

from ..runtime import rng as _rng

__all__ = [
    "NOUN_TAGS",
    "ADJ_TAGS",
    "Tagger",
    "tokenize",
    "LexiconTagger",
    "SpacyTagger",
    "default_tagger",
    "shuffle_nouns_and_adjectives",
    "shuffle_all_but_nouns_and_adjectives",
    "shuffle_within_trigrams",
    "shuffle_trigrams",
    "ORDER_PERTURBATIONS",
    "order_options",
]

NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
ADJ_TAGS = frozenset({"JJ", "JJR", "JJS"})

Tagger = Callable[[str], list[tuple[str, str]]]

_TOKEN = re.compile(r"\w+|'\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Words, clitics (``'s``) and punctuation marks: ``"a man's dog."`` -> ``a man 's dog .``."""
    return _TOKEN.findall(str(text))


class LexiconTagger:
    """Tags ``NN`` for words in ``nouns``, ``JJ`` for words in ``adjectives`` (case-insensitive),
    ``X`` for everything else; tokens by :func:`tokenize`."""

    def __init__(self, nouns: Iterable[str], adjectives: Iterable[str]):
        self.nouns = frozenset(w.lower() for w in nouns)
        self.adjectives = frozenset(w.lower() for w in adjectives)
        if self.nouns & self.adjectives:
            raise ValueError(f"words listed both as noun and adjective: {sorted(self.nouns & self.adjectives)[:5]}")

    def __call__(self, text: str) -> list[tuple[str, str]]:
        out = []
        for tok in tokenize(text):
            low = tok.lower()
            out.append((tok, "NN" if low in self.nouns else "JJ" if low in self.adjectives else "X"))
        return out


class SpacyTagger:
    """spaCy's fine-grained tags (``token.tag_``) from pipeline ``model`` (loaded on first use).

    Raises ``ImportError`` naming the fix when spaCy or the model is not installed
    (``pip install spacy && python -m spacy download en_core_web_sm``).
    """

    def __init__(self, model: str = "en_core_web_sm"):
        self.model = model
        self._nlp = None

    def _load(self):
        if self._nlp is None:
            try:
                # spaCy is optional and heavy: imported only when a spaCy tagger is used
                import spacy
            except ImportError:
                raise ImportError(
                    "SpacyTagger needs spaCy: pip install spacy && python -m spacy download "
                    f"{self.model} (or pass a LexiconTagger)"
                ) from None
            try:
                self._nlp = spacy.load(self.model, disable=["parser", "ner", "lemmatizer"])
            except OSError:
                raise ImportError(
                    f"spaCy model {self.model!r} is not installed: python -m spacy download {self.model}"
                ) from None
        return self._nlp

    def __call__(self, text: str) -> list[tuple[str, str]]:
        return [(t.text, t.tag_) for t in self._load()(str(text))]


def default_tagger() -> Tagger:
    """A :class:`SpacyTagger` (spaCy must be installed when it is first called)."""
    return SpacyTagger()


def _shuffle_positions(tokens: list[str], positions: Sequence[int], gen: np.random.Generator) -> list[str]:
    out = list(tokens)
    if len(positions) > 1:
        perm = gen.permutation(len(positions))
        for dst, src in zip(positions, perm):
            out[dst] = tokens[positions[src]]
    return out


def shuffle_nouns_and_adjectives(text: str, tagger: Tagger, seed: int | np.random.Generator = 0) -> str:
    """NegCLIP/ARO's hard negative: nouns permuted among themselves, adjectives among themselves;
    tokens joined by single spaces. May return the caption's tokens unchanged (one noun, or the
    identity permutation drawn)."""
    gen = _rng(seed)
    tagged = tagger(text)
    tokens = [t for t, _ in tagged]
    nouns = [i for i, (_, tag) in enumerate(tagged) if tag in NOUN_TAGS]
    adjs = [i for i, (_, tag) in enumerate(tagged) if tag in ADJ_TAGS]
    tokens = _shuffle_positions(tokens, nouns, gen)
    return " ".join(_shuffle_positions(tokens, adjs, gen))


def shuffle_all_but_nouns_and_adjectives(text: str, tagger: Tagger, seed: int | np.random.Generator = 0) -> str:
    """Every token that is neither a noun nor an adjective permuted among those tokens."""
    gen = _rng(seed)
    tagged = tagger(text)
    other = [i for i, (_, tag) in enumerate(tagged) if tag not in NOUN_TAGS | ADJ_TAGS]
    return " ".join(_shuffle_positions([t for t, _ in tagged], other, gen))


def _trigrams(tokens: list[str]) -> list[list[str]]:
    return [tokens[i : i + 3] for i in range(0, len(tokens), 3)]


def shuffle_within_trigrams(text: str, seed: int | np.random.Generator = 0) -> str:
    """Tokens cut into consecutive trigrams (the last may be shorter), each trigram shuffled inside."""
    gen = _rng(seed)
    return " ".join(" ".join(tri[j] for j in gen.permutation(len(tri))) for tri in _trigrams(tokenize(text)))


def shuffle_trigrams(text: str, seed: int | np.random.Generator = 0) -> str:
    """Tokens cut into consecutive trigrams, the trigrams' order shuffled."""
    gen = _rng(seed)
    tris = _trigrams(tokenize(text))
    return " ".join(" ".join(tris[j]) for j in gen.permutation(len(tris)))


#: ARO's order perturbations, in ARO's option order (options 1-4; option 0 is the caption)
ORDER_PERTURBATIONS = (
    "shuffle nouns and adjectives",
    "shuffle all but nouns and adjectives",
    "shuffle within trigrams",
    "shuffle trigrams",
)


def order_options(caption: str, tagger: Tagger, seed: int | np.random.Generator = 0) -> list[str]:
    """ARO's COCO-Order / Flickr30k-Order item: ``[caption, 4 perturbations]`` (raw text; clean
    them with :func:`~labclip_lib.benchmarks.data.pre_caption`). The same seed gives the same
    options. Tokens come from the tagger for the first two and from :func:`tokenize` for the
    trigram shuffles (ARO uses NLTK's tokenizer there)."""
    gen = _rng(seed)
    return [
        caption,
        shuffle_nouns_and_adjectives(caption, tagger, gen),
        shuffle_all_but_nouns_and_adjectives(caption, tagger, gen),
        shuffle_within_trigrams(caption, gen),
        shuffle_trigrams(caption, gen),
    ]

"""Every number the book quotes from the papers or their peers, in one place, with its provenance.

Labels as in the team's research notes (``shared/research/papers.md`` §0):

* ``[P]`` read from a primary source (abstract page, official code, weights, dataset card);
* ``[R]`` read from the public OpenReview reviews of paper 1 (reviewers quoting the paper);
* ``[N]`` read from AI-generated paper notes or a blog: secondary, treat as approximate;
* ``[C]`` computed by us from the authors' released code or weights.

Neither paper's full text was available to us, so most of paper 1's numbers are ``[N]``. Chapters
import them (``quote("clevr binding").value``) and never type them into a cell; the label goes
into every table and figure legend that shows one (``quote(...).label``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Quoted", "QUOTES", "quote", "quotes_table", "PAPER1_CLEVR_BINDING"]

PROVENANCE = {"[P]": "primary source", "[R]": "OpenReview reviews", "[N]": "secondary notes or blog",
              "[C]": "computed from the released weights"}


@dataclass(frozen=True)
class Quoted:
    """One quoted number: ``value``, what it measures, who reports it, its provenance label and
    where in the research notes it was found."""

    key: str
    value: float
    what: str
    source: str
    provenance: str
    where: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.provenance not in PROVENANCE:
            raise ValueError(f"unknown provenance label {self.provenance!r}; expected one of {list(PROVENANCE)}")

    def __float__(self) -> float:
        return float(self.value)

    @property
    def label(self) -> str:
        """``"paper 1, CLIP on CLEVR (0.58) [N]"``: for legends and table rows."""
        return f"{self.source}, {self.what} ({self.value:g}) {self.provenance}"


_P1 = "paper 1"
_A5A, _A5B, _A5C, _A1 = "papers.md §A.5(a)", "papers.md §A.5(b)", "papers.md §A.5(c)", "papers.md §A.1"
_ALL = [
    # cross-modal binding accuracy, paper 1's main table (backbone not stated; code default ViT-L/14)
    Quoted("clevr binding", 0.58, "CLIP on CLEVR", _P1, "[N]", _A5B),
    Quoted("pug:spar binding", 0.53, "CLIP on PUG:SPAR", _P1, "[N]", _A5B, "a blog gives 0.51"),
    Quoted("pug:spar binding (blog)", 0.51, "CLIP on PUG:SPAR, blog", _P1, "[N]", _A5B),
    Quoted("pug:spare binding", 0.50, "CLIP on PUG:SPARE", _P1, "[N]", _A5B),
    Quoted("clevr binding labclip", 0.95, "LABCLIP on CLEVR", _P1, "[N]", _A5B),
    Quoted("pug:spar binding labclip", 0.97, "LABCLIP on PUG:SPAR", _P1, "[N]", _A5B),
    Quoted("pug:spare binding labclip", 0.94, "LABCLIP on PUG:SPARE", _P1, "[N]", _A5B),
    Quoted("clevr binding ft", 1.00, "CLIP-FT on CLEVR", _P1, "[N]", _A5B),
    Quoted("pug:spar binding ft", 0.98, "CLIP-FT on PUG:SPAR", _P1, "[R]", _A5B, "the notes' 1.00 is likely a typo"),
    Quoted("pug:spare binding ft", 1.00, "CLIP-FT on PUG:SPARE", _P1, "[N]", _A5B),
    # uni-modal probes
    Quoted("clevr image probe", 0.96, "CLIP image probe on CLEVR", _P1, "[N]", _A5A),
    Quoted("clevr text probe", 1.00, "CLIP text probe on CLEVR", _P1, "[N]", _A5A),
    Quoted("probe random baseline", 0.12, "probe chance level", _P1, "[N]", _A5A),
    Quoted("bag-of-words clip probe (a)", 0.66, "CLIP trained as a bag of words, one modality", _P1, "[N]", _A5A,
           "which modality is which is not stated"),
    Quoted("bag-of-words clip probe (b)", 0.85, "CLIP trained as a bag of words, other modality", _P1, "[N]", _A5A,
           "which modality is which is not stated"),
    Quoted("multi-object image probe, 2 objects", 0.9, "CLIP image probe, few objects", _P1, "[N]", _A5A,
           "in words: 'drops from 0.9 to 0.6'"),
    Quoted("multi-object image probe, many objects", 0.6, "CLIP image probe, many objects", _P1, "[N]", _A5A,
           "in words: 'drops from 0.9 to 0.6'"),
    Quoted("multi-object text probe floor", 0.8, "CLIP text probe stays above", _P1, "[N]", _A5A,
           "in words: 'remains stable above 0.8'"),
    Quoted("conjunctive search probe floor", 0.80, "CLIP conjunctive-search probe, up to 35 objects, above", _P1,
           "[N]", _A5A),
    Quoted("conjunctive search max objects", 35, "objects in the largest conjunctive-search scenes", _P1, "[N]", _A5A),
    # probe-weight cosine, before -> after the map
    Quoted("clevr probe-weight cosine before", 0.20, "probe-weight cosine on CLEVR, before", _P1, "[N]", _A5C),
    Quoted("clevr probe-weight cosine after", 0.75, "probe-weight cosine on CLEVR, after", _P1, "[N]", _A5C),
    Quoted("pug:spar probe-weight cosine before", 0.18, "probe-weight cosine on PUG:SPAR, before", _P1, "[N]", _A5C),
    Quoted("pug:spar probe-weight cosine after", 0.78, "probe-weight cosine on PUG:SPAR, after", _P1, "[N]", _A5C),
    Quoted("pug:spare probe-weight cosine before", 0.09, "probe-weight cosine on PUG:SPARE, before", _P1, "[N]", _A5C),
    Quoted("pug:spare probe-weight cosine after", 0.65, "probe-weight cosine on PUG:SPARE, after", _P1, "[N]", _A5C),
    # the authors' released ViT-B/32 COCO map, read by us
    Quoted("released map D", 512, "released ViT-B/32 COCO map, D", _P1, "[C]", _A1),
    Quoted("released map scale", 71.2, "released ViT-B/32 COCO map, exp(t)", _P1, "[C]", _A1),
    Quoted("released map ||A - I||_F", 49.5, "released ViT-B/32 COCO map, ||A - I||_F", _P1, "[C]", _A1),
    Quoted("released map mean diagonal", 1.33, "released ViT-B/32 COCO map, mean diagonal", _P1, "[C]", _A1),
    Quoted("released map rms off-diagonal", 0.095, "released ViT-B/32 COCO map, rms off-diagonal", _P1, "[C]", _A1),
]
QUOTES: dict[str, Quoted] = {q.key: q for q in _ALL}


def quote(key: str) -> Quoted:
    """The quoted number named ``key`` (see :data:`QUOTES`); a clear error for an unknown key.

    Used in chapters 3, 4, 5, 6.
    """
    if key not in QUOTES:
        raise KeyError(f"no quoted number {key!r}; known: {', '.join(QUOTES)}")
    return QUOTES[key]


def quotes_table(keys: list[str] | None = None) -> list[dict]:
    """Rows (value, what, source, provenance, where, note) for ``keys`` (default: all)."""
    return [{"key": q.key, "value": q.value, "what": q.what, "source": q.source, "provenance": q.provenance,
             "where": q.where, "note": q.note} for q in (quote(k) for k in (keys or list(QUOTES)))]


#: Paper 1's CLEVR binding accuracy per method, keyed by chapter 6's method names
#: (:data:`labclip_lib.alignment.METHODS`).
PAPER1_CLEVR_BINDING: dict[str, Quoted] = {"before (cosine)": QUOTES["clevr binding"],
                                           "LABCLIP (HNB)": QUOTES["clevr binding labclip"],
                                           "fine-tuned (FT)": QUOTES["clevr binding ft"]}

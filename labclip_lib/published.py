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
    ``where`` in the public sources it comes from (shown in the book, so it names the paper, table
    or repository, never the team's notes; the notes' section is in the comment beside each)."""

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
# where each number comes from, as the book shows it (the team's notes, shared/research/papers.md, in the comment)
_A5A = "paper 1, probing results"  # papers.md §A.5(a)
_A5B = "paper 1, binding table"  # papers.md §A.5(b)
_A5C = "paper 1, probe-weight cosine"  # papers.md §A.5(c)
_A1 = "paper 1's released weights"  # papers.md §A.1
_A5D = "paper 1, real-benchmark table"  # papers.md §A.5(d)
_C1 = "SugarCrepe paper, evaluation figures"  # papers.md §C.1
_C1W = "SugarCrepe paper, evaluation figures (weighted categories)"  # papers.md §C.1, §C.6
_C1U = "our arithmetic on the SugarCrepe paper's subsets"  # papers.md §C.1, §C.6
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
    # ---- real benchmarks (Part IV, labclip_lib.benchmarks); accuracies as fractions ----
    # paper 1's real-data table, ViT-B/32, the COCO-trained map; its SugarCrepe weighting is not stated
    Quoted("vg-a clip", 0.63, "ARO VG-Attribution, CLIP ViT-B/32", _P1, "[N]", _A5D),
    Quoted("vg-r clip", 0.63, "ARO VG-Relation, CLIP ViT-B/32", _P1, "[N]", _A5D,
           "looks suspicious: an independent re-evaluation (vl_compo, Oh et al. 2024) gives 0.599"),
    Quoted("sugarcrepe replace clip", 0.8, "SugarCrepe REPLACE, CLIP ViT-B/32", _P1, "[N]", _A5D),
    Quoted("sugarcrepe swap clip", 0.62, "SugarCrepe SWAP, CLIP ViT-B/32", _P1, "[N]", _A5D),
    Quoted("coco t2i r@1 clip", 0.3, "COCO 5k text->image R@1, CLIP ViT-B/32", _P1, "[N]", _A5D),
    Quoted("vg-a negclip", 0.71, "ARO VG-Attribution, NegCLIP ViT-B/32", _P1, "[N]", _A5D),
    Quoted("vg-r negclip", 0.81, "ARO VG-Relation, NegCLIP ViT-B/32", _P1, "[N]", _A5D),
    Quoted("sugarcrepe replace negclip", 0.85, "SugarCrepe REPLACE, NegCLIP ViT-B/32", _P1, "[N]",
           _A5D),
    Quoted("sugarcrepe swap negclip", 0.75, "SugarCrepe SWAP, NegCLIP ViT-B/32", _P1, "[N]", _A5D),
    Quoted("coco t2i r@1 negclip", 0.41, "COCO 5k text->image R@1, NegCLIP ViT-B/32", _P1, "[N]", _A5D),
    Quoted("vg-a labclip", 0.69, "ARO VG-Attribution, LABCLIP ViT-B/32", _P1, "[N]", _A5D),
    Quoted("vg-r labclip", 0.82, "ARO VG-Relation, LABCLIP ViT-B/32", _P1, "[N]", _A5D),
    Quoted("sugarcrepe replace labclip", 0.82, "SugarCrepe REPLACE, LABCLIP ViT-B/32", _P1, "[N]",
           _A5D),
    Quoted("sugarcrepe swap labclip", 0.74, "SugarCrepe SWAP, LABCLIP ViT-B/32", _P1, "[N]", _A5D),
    Quoted("coco t2i r@1 labclip", 0.41, "COCO 5k text->image R@1, LABCLIP ViT-B/32", _P1, "[N]", _A5D),
    # the official SugarCrepe evaluation (Hsieh et al. 2023), OpenAI CLIP, per subset
    Quoted("sugarcrepe replace_obj vit-b-32", 0.9092, "SugarCrepe replace_obj, OpenAI CLIP ViT-B/32", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe replace_att vit-b-32", 0.8008, "SugarCrepe replace_att, OpenAI CLIP ViT-B/32", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe replace_rel vit-b-32", 0.6920, "SugarCrepe replace_rel, OpenAI CLIP ViT-B/32", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe swap_obj vit-b-32", 0.6138, "SugarCrepe swap_obj, OpenAI CLIP ViT-B/32", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe swap_att vit-b-32", 0.6396, "SugarCrepe swap_att, OpenAI CLIP ViT-B/32", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe add_obj vit-b-32", 0.7721, "SugarCrepe add_obj, OpenAI CLIP ViT-B/32", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe add_att vit-b-32", 0.6879, "SugarCrepe add_att, OpenAI CLIP ViT-B/32", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe replace_obj vit-l-14", 0.9407, "SugarCrepe replace_obj, OpenAI CLIP ViT-L/14", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe replace_att vit-l-14", 0.7919, "SugarCrepe replace_att, OpenAI CLIP ViT-L/14", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe replace_rel vit-l-14", 0.6515, "SugarCrepe replace_rel, OpenAI CLIP ViT-L/14", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe swap_obj vit-l-14", 0.6016, "SugarCrepe swap_obj, OpenAI CLIP ViT-L/14", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe swap_att vit-l-14", 0.6231, "SugarCrepe swap_att, OpenAI CLIP ViT-L/14", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe add_obj vit-l-14", 0.7832, "SugarCrepe add_obj, OpenAI CLIP ViT-L/14", 
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe add_att vit-l-14", 0.7153, "SugarCrepe add_att, OpenAI CLIP ViT-L/14", 
           "SugarCrepe paper", "[P]", _C1),
    # SugarCrepe categories of OpenAI ViT-B/32: sample-weighted (the SugarCrepe paper) and unweighted (the
    # LABCLIP notebook's; computed by us from the subsets)
    Quoted("sugarcrepe replace weighted vit-b-32", 0.8076, "SugarCrepe REPLACE (weighted), OpenAI CLIP ViT-B/32",
           "SugarCrepe paper", "[P]", _C1W),
    Quoted("sugarcrepe swap weighted vit-b-32", 0.6327, "SugarCrepe SWAP (weighted), OpenAI CLIP ViT-B/32",
           "SugarCrepe paper", "[P]", _C1W),
    Quoted("sugarcrepe add weighted vit-b-32", 0.7509, "SugarCrepe ADD (weighted), OpenAI CLIP ViT-B/32",
           "SugarCrepe paper", "[P]", _C1W),
    Quoted("sugarcrepe replace unweighted vit-b-32", 0.8007, "SugarCrepe REPLACE (unweighted), OpenAI CLIP ViT-B/32",
           "SugarCrepe paper", "[C]", _C1U),
    Quoted("sugarcrepe swap unweighted vit-b-32", 0.6267, "SugarCrepe SWAP (unweighted), OpenAI CLIP ViT-B/32",
           "SugarCrepe paper", "[C]", _C1U),
    Quoted("sugarcrepe add unweighted vit-b-32", 0.7300, "SugarCrepe ADD (unweighted), OpenAI CLIP ViT-B/32",
           "SugarCrepe paper", "[C]", _C1U),
    # NegCLIP as released by Yuksekgonul et al., re-evaluated by the SugarCrepe paper (weighted categories)
    Quoted("sugarcrepe replace weighted negclip", 0.8536, "SugarCrepe REPLACE (weighted), NegCLIP ViT-B/32",
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe swap weighted negclip", 0.7533, "SugarCrepe SWAP (weighted), NegCLIP ViT-B/32",
           "SugarCrepe paper", "[P]", _C1),
    Quoted("sugarcrepe add weighted negclip", 0.8729, "SugarCrepe ADD (weighted), NegCLIP ViT-B/32",
           "SugarCrepe paper", "[P]", _C1),
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

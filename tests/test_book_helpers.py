"""Chapter helpers, the table helper, quoted numbers and the model protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from labclip_lib.alignment import AlignedModel, LinearAlignment, MapSettings
from labclip_lib.analysis import crossmodal_report
from labclip_lib.book import (architecture_profiles, glue_profiles, pretrained_report, report_by_model, show_table,
                              summarize)
from labclip_lib.book.chapters import PROFILE_MEASURES
from labclip_lib.embed import EmbeddingModel, images_to_tensor
from labclip_lib.experiments import measure_organism
from labclip_lib.models import load_model
from labclip_lib.organisms import OrganismModel, organism_config
from labclip_lib.published import PROVENANCE, QUOTES, quote, quotes_table
from labclip_lib.testing import make_tiny_clip


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return make_tiny_clip(tmp_path_factory.mktemp("clip") / "clip", image_size=32, projection_dim=16)


def test_show_table_reads_as_mean_plus_minus_std_with_integer_seeds():
    rows = pd.DataFrame({"organism": ["a", "a", "a", "b"], "seed": [0, 1, 2, 0],
                         "binding": [0.9, 0.95, 1.0, 0.5], "r1": [0.1, 0.2, 0.3, 0.4]})
    table = summarize(rows, "organism")
    assert list(table.columns) == [(v, s) for v in ("binding", "r1") for s in ("mean", "std", "count")]
    shown = show_table(table)
    assert list(shown.columns) == ["binding", "r1", "seeds"]
    assert shown.loc["a", "binding"] == "0.950 ± 0.050" and shown.loc["a", "seeds"] == "3"
    assert shown.loc["b", "binding"] == "0.500" and shown.loc["b", "seeds"] == "1"  # one seed: no "± nan"
    assert not shown.apply(lambda c: c.str.contains("nan", case=False)).any().any()


def test_show_table_counts_per_value_when_they_differ_and_blank_missing_cells():
    rows = pd.DataFrame({"m": ["x", "x", "y"], "seed": [0, 1, 0], "a": [0.1, 0.3, np.nan], "b": [1.0, 2.0, 3.0]})
    shown = show_table(summarize(rows, "m"))
    assert list(shown.columns) == ["a", "b", "seeds"]
    assert shown.loc["y", "a"] == "" and shown.loc["y", "b"] == "3.000" and shown.loc["y", "seeds"] == "1"
    assert shown.loc["x", "b"] == "1.500 ± 0.707" and shown.loc["x", "seeds"] == "2"
    methods = pd.DataFrame({"o": ["p", "p", "p"], "seed": [0, 1, 0], "m": ["map", "map", "ft"], "v": [0.9, 0.8, 0.7]})
    wide = summarize(methods, ["o", "m"], ["v"])["v"].unstack("m").swaplevel(axis=1)
    shown = show_table(wide)
    assert shown.loc["p", "ft"] == "0.700 (1 seed)" and shown.loc["p", "map"] == "0.850 ± 0.071"
    assert shown.loc["p", "seeds"] == "2"
    assert show_table(pd.DataFrame({"x": [-0.0001]}))["x"].tolist() == ["0.000"]
    per_column = show_table(summarize(rows, "m"), digits={"b": 0})
    assert per_column.loc["x", "b"] == "2 ± 1" and per_column.loc["y", "b"] == "3"
    flat = show_table(pd.DataFrame({"x": [0.12345, np.nan], "n": [3, 4]}))
    assert flat["x"].tolist() == ["0.123", ""] and flat["n"].tolist() == ["3", "4"]


def test_set_style_shows_long_cells_whole_so_verdict_tables_keep_their_claims():
    import matplotlib as mpl

    from labclip_lib.book import set_style
    from labclip_lib.experiments import CLAIMS, below_verdict, verdict_table

    claim = CLAIMS["4"]
    table = verdict_table([below_verdict(claim, [0.6, 0.62173913], "batches")]).reset_index()
    with pd.option_context("display.max_colwidth", 50), mpl.rc_context():
        assert claim not in table._repr_html_()  # pandas' default cuts it to "..."
        set_style()
        html = table._repr_html_()
    assert claim in html and "0.278" in html and "0.278261" not in html


def test_summarize_names_a_missing_column_and_an_empty_table():
    with pytest.raises(KeyError, match="organism"):
        summarize(pd.DataFrame({"x": [1.0]}), "organism")
    with pytest.raises(ValueError, match="empty"):
        summarize(pd.DataFrame({"organism": [], "x": []}), "organism")


def test_every_quote_has_a_known_provenance_and_unknown_keys_fail_clearly():
    assert QUOTES and all(q.provenance in PROVENANCE for q in QUOTES.values())
    assert quote("clevr binding").value == pytest.approx(0.58) and "[N]" in quote("clevr binding").label
    assert len(quotes_table()) == len(QUOTES)
    with pytest.raises(KeyError, match="no quoted number 'clevr bindng'"):
        quote("clevr bindng")


def test_every_model_follows_the_protocol(tiny_clip):
    hf = load_model(tiny_clip)
    organism = OrganismModel.untrained(organism_config("complete", n_scenes=200))
    alignment = LinearAlignment()
    alignment._set(torch.eye(organism.dim), 0.0)
    aligned = AlignedModel(organism, alignment)
    for model in (hf, organism, aligned):
        assert isinstance(model, EmbeddingModel), type(model).__name__
    with pytest.raises(ValueError, match="uint8"):
        images_to_tensor(np.zeros((1, 8, 8, 3), np.float32))


def test_pretrained_report_runs_the_chapter_report_at_the_model_resolution(tiny_clip, capsys):
    assert pretrained_report(None, crossmodal_report) is None
    assert "MODEL_ID is None" in capsys.readouterr().out
    table = pretrained_report(str(tiny_clip), crossmodal_report, scenes=200, scene_seed=0)
    assert list(table.index) == [str(tiny_clip)] and 0 <= table.loc[str(tiny_clip), "binding"] <= 1
    rows = pretrained_report(str(tiny_clip), lambda model, n: [{"n": n, "size": model.image_size}], 3)
    assert rows.to_dict("records") == [{"model": str(tiny_clip), "n": 3, "size": 32}]
    assert pretrained_report(str(tiny_clip), crossmodal_report, scenes=10**9, cpu_budget_minutes=1e-6) is None
    assert "min to embed" in capsys.readouterr().out


def test_report_by_model_labels_rows_and_passes_data_and_seed():
    models = {("a", 0): "m0", ("a", 1): "m1", ("b", 0): "m2"}
    data = {0: "d0", 1: "d1"}
    table = report_by_model(models, lambda m, d, k: {"x": f"{m}/{d}/{k}"}, data, k=5)
    assert table.to_dict("records") == [{"organism": "a", "seed": 0, "x": "m0/d0/5"},
                                        {"organism": "a", "seed": 1, "x": "m1/d1/5"},
                                        {"organism": "b", "seed": 0, "x": "m2/d0/5"}]
    rows = report_by_model(models, lambda m, seed: [{"i": i, "s": seed} for i in range(2)], pass_seed=True)
    assert len(rows) == 6 and rows["s"].tolist() == [0, 0, 1, 1, 0, 0]


def test_clip_like_criterion_clauses():
    from labclip_lib.analysis import CLIP_LIKE, ClipLikeCriterion

    good = {"binding": 0.58, "image probe": 0.85, "text probe": 0.95, "ceiling": 0.56,
            "untrained image probe": 0.40, "map binding": 0.93}
    assert CLIP_LIKE(good) and CLIP_LIKE.misses(good) == []
    misses = {  # one clause missed at a time
        "binding": (0.70, "binding <= 0.65"),
        "image probe": (0.65, "image probe >= floor + 0.15"),
        "text probe": (0.60, "text probe >= ceiling + 0.15"),
        "map binding": (0.62, "map gain >= 0.15"),
    }
    for key, (value, clause) in misses.items():
        assert CLIP_LIKE.misses({**good, key: value}) == [clause], key
    # the image floor is the higher of the ceiling and the untrained probe
    assert CLIP_LIKE.misses({**good, "untrained image probe": 0.75}) == ["image probe >= floor + 0.15"]
    assert ClipLikeCriterion(max_binding=0.5).misses(good) == ["binding <= 0.5"]
    with pytest.raises(ValueError, match="lacks map binding"):
        CLIP_LIKE({k: v for k, v in good.items() if k != "map binding"})
    with pytest.raises(ValueError, match="NaN for text probe"):
        CLIP_LIKE({**good, "text probe": float("nan")})


def test_choose_clip_like_picks_the_largest_map_gain_among_those_that_meet():
    import pandas as pd

    from labclip_lib.book import choose_clip_like

    search = pd.DataFrame({"binding": [0.6, 0.55, 0.9], "map binding": [0.8, 0.9, 0.99],
                           "CLIP-like": [True, True, False]}, index=["a", "b", "c"])
    assert choose_clip_like(search) == "b"
    assert choose_clip_like(search.assign(**{"CLIP-like": False})) is None


def test_probe_summary_means_over_shapes_and_keeps_each_shape():
    from labclip_lib.book import probe_summary

    rows = []
    for cand, base in (("a", 0.9), ("b", 0.6)):
        for seed in (0, 1):
            for k, shape in enumerate(("cube", "sphere")):
                for modality in ("image", "text"):
                    rows.append({"candidate": cand, "seed": seed, "epochs": 5 + seed, "training seconds": 10.0,
                                 "modality": modality, "shape": shape, "val": base - 0.1, "test": base + 0.05 * k,
                                 "ceiling": 0.56})
    table = pd.DataFrame(rows)
    out = probe_summary(table)
    assert list(out.index) == ["a", "b"]
    assert out.loc["a", "test"] == pytest.approx(0.925) and out.loc["b", "val"] == pytest.approx(0.5)
    assert out.loc["a", "cube test"] == pytest.approx(0.9) and out.loc["a", "sphere test"] == pytest.approx(0.95)
    assert out.loc["a", "epochs"] == pytest.approx(5.5)
    assert list(probe_summary(table, by="seed").index) == [0, 1]
    with pytest.raises(ValueError, match="no 'pixels' probes"):
        probe_summary(table, modality="pixels")


def test_architecture_profiles_measure_each_architecture_on_each_diet_and_glue_them():
    tiny = {"n_scenes": 400, "epochs": 1}
    archs = {"CNN+GRU": ("converged", {}), "CLIP": ("clip", {"patch_size": 8})}
    table = architecture_profiles(["complete", "natural"], archs, [0], tiny, MapSettings(epochs=1), jobs=1)
    assert list(table.columns) == ["architecture", "diet", "seed", *PROFILE_MEASURES, "epochs", "training seconds"]
    assert list(zip(table["architecture"], table["diet"])) == [
        ("CNN+GRU", "complete"), ("CNN+GRU", "natural"), ("CLIP", "complete"), ("CLIP", "natural")]
    assert table[list(PROFILE_MEASURES)].apply(lambda c: c.between(0, 1)).all().all()
    # each row is the organism its architecture's recipe trains: the CLIP rows are transformers
    clip = organism_config("complete", 0, recipe="clip", patch_size=8, **tiny)
    assert clip.architecture == "clip" and clip.patch_size == 8
    assert table.loc[2, "binding"] == measure_organism(clip, map_settings=MapSettings(epochs=1))["binding"]
    assert table.loc[0, "binding"] != table.loc[2, "binding"]
    names = glue_profiles(table, "arch")
    assert "arch-clip-natural-map-binding" in names and "arch-cnn-gru-complete-binding" in names
    with pytest.raises(ValueError, match="at least one"):
        architecture_profiles([], archs, [0])

"""Plotting helpers and widgets of chapters 3-5: what they draw, and their error messages."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from labclip_lib.book import (  # noqa: E402
    plot_architecture_profiles,
    plot_caption_ranking,
    plot_confusion,
    plot_swap_pairs_2d,
    show_scored_pairs,
)
from labclip_lib.organisms import OrganismModel, organism_config  # noqa: E402
from labclip_lib.world import COLORS  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_caption_ranking_colours_true_and_swap_and_appends_them_when_outside_the_top():
    scores = np.linspace(1, 0, 20)
    ax = plot_caption_ranking(scores, [f"c{i}" for i in range(20)], true=0, swap=15, top=5)
    colors = [tuple(np.round(p.get_facecolor()[:3], 3)) for p in ax.patches]
    assert len(ax.patches) == 6  # top 5 + the swap appended
    assert colors[0] == tuple(np.round(matplotlib.colors.to_rgb("C2"), 3))
    assert colors[-1] == tuple(np.round(matplotlib.colors.to_rgb("C3"), 3))
    assert ax.get_yticklabels()[-1].get_text().startswith("#16")
    with pytest.raises(ValueError, match="one score per caption"):
        plot_caption_ranking(scores[:3], ["a", "b"])


def test_confusion_rows_are_normalised():
    ax = plot_confusion([0, 0, 1, 1], [0, 1, 1, 1], COLORS)
    m = ax.images[0].get_array()
    assert m[0, 0] == 0.5 and m[0, 1] == 0.5 and m[1, 1] == 1.0 and m[2].sum() == 0
    with pytest.raises(ValueError, match="equally many"):
        plot_confusion([0], [], COLORS)


def test_scored_pairs_titles_carry_the_verdict():
    img = np.zeros((2, 8, 8, 3), np.uint8)
    fig = show_scored_pairs(img, ["a", "b"], ["x", "y"], [0.5, 0.1], [0.2, 0.3])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("\u2713") and titles[1].startswith("\u2717")
    with pytest.raises(ValueError, match="same length"):
        show_scored_pairs(img, ["a"], ["x", "y"], [0.5], [0.2])


def test_swap_pairs_2d_checks_shapes():
    xy = np.zeros((3, 2))
    ax = plot_swap_pairs_2d(xy, xy + 1, xy + 2, labels=["a", "b", "c"], highlight=1)
    assert len(ax.texts) == 1  # only the highlighted pair is labelled
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot_swap_pairs_2d(xy, xy[:2], xy)


def test_widgets_build_and_their_views_draw():
    import ipywidgets as W

    from labclip_lib.book import caption_ranker, caption_ranking, swap_pair_explorer

    model = OrganismModel.untrained(organism_config("complete", 0))
    fig = caption_ranking(model, [("red", "cube"), ("blue", "sphere")])
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert any("red cube and blue sphere" in t for t in labels) and any("blue cube and red sphere" in t for t in labels)
    with pytest.raises(ValueError, match="different shapes"):
        caption_ranking(model, [("red", "cube"), ("blue", "cube")])
    assert isinstance(caption_ranker({"untrained": model}), W.VBox)
    with pytest.raises(ValueError, match="empty"):
        caption_ranker({})
    xy = np.zeros((2, 2))
    assert isinstance(swap_pair_explorer(xy, xy, xy, ["a", "b"], ["x", "y"], [0.1, -0.1]), W.VBox)


def _grid_table(grid: str, knob: str, values, binding, seeds=(0,)):
    import pandas as pd

    rows = [{"grid": grid, knob: v, "seed": s, "organism": f"{grid}-{v}-{s}", "binding": b, "map binding": b + 0.05,
             "image probe": 0.8, "ceiling": 0.6, "image margin": 0.2, "map gain": 0.05, "training seconds": 9.0,
             "seconds": 0.1}
            for v, b in zip(values, binding) for s in seeds]
    return pd.DataFrame(rows)


def test_claim_figures_carry_the_claim_and_the_computed_verdict():
    from labclip_lib.book import plot_claim, plot_sweep
    from labclip_lib.experiments import CLAIMS

    table = _grid_table("attribute density", "attribute_density", [0.0, 0.25, 1.0], [0.5, 0.7, 0.98], seeds=(0, 1))
    fig = plot_claim(table, "1a")
    title = fig.texts[0].get_text() if fig.texts else fig._suptitle.get_text()
    assert CLAIMS["1a"][:30] in title.replace("\n", " ") and "verdict: reproduced (margin +0.28)" in title
    lines = fig.axes[0].get_lines()
    assert any(np.allclose(line.get_ydata(), [0.5, 0.7, 0.98]) for line in lines)  # the mean binding per value
    negatives = _grid_table("hard negatives: density 0.5", "hard_negatives", [False, True], [0.6, 0.62])
    fig = plot_claim(negatives, "5")
    assert "verdict: reproduced" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="no rows of a grid"):
        plot_claim(table, "3")
    with pytest.raises(ValueError, match="no column"):
        plot_sweep(table, "completeness")


def test_rescue_heatmap_and_scatter_show_the_numbers():
    import pandas as pd

    from labclip_lib.book import plot_rescue_heatmap, plot_rescue_scatter

    rows = [{"grid": "completeness x saliency", "completeness": c, "saliency_bias": s, "binding": 0.5 + c / 2,
             "map binding": 0.9, "image margin": 0.3 - s / 10} for c in (0.25, 0.5) for s in (0.0, 1.0)]
    axes = plot_rescue_heatmap(pd.DataFrame(rows), "completeness", "saliency_bias")
    annotations = sorted(t.get_text() for t in axes[0].texts)
    assert annotations == ["0.62", "0.62", "0.75", "0.75"]
    table = pd.DataFrame({"image margin": [0.1, 0.2, 0.3], "map gain": [0.0, 0.1, 0.2], "grid": ["a", "a", "b"]})
    ax = plot_rescue_scatter(table)
    assert "Pearson r = 1.00" in ax.get_title() and "3 organisms" in ax.get_title()
    with pytest.raises(ValueError, match="at least two"):
        plot_rescue_scatter(table.head(1))


def test_rescue_view_ranks_before_and_after_the_map():
    import ipywidgets as W
    import torch

    from labclip_lib.alignment import LinearAlignment
    from labclip_lib.book import rescue_explorer, rescue_view

    model = OrganismModel.untrained(organism_config("complete", 0))
    identity = LinearAlignment.identity(model.dim)
    fig = rescue_view(model, identity, [("red", "cube"), ("blue", "sphere")])
    before, after = ([t.get_text() for t in ax.get_yticklabels()] for ax in fig.axes[1:3])
    assert before == after  # the identity map changes no ranking
    flip = LinearAlignment.identity(model.dim)
    flip._set(-torch.eye(model.dim), 0.0)
    fig = rescue_view(model, flip, [("red", "cube"), ("blue", "sphere")])
    before, after = ([t.get_text() for t in ax.get_yticklabels()] for ax in fig.axes[1:3])
    assert before != after
    assert isinstance(rescue_explorer({"untrained": (model, identity)}), W.VBox)
    with pytest.raises(ValueError, match="empty"):
        rescue_explorer({})


def test_architecture_profiles_plot_one_panel_per_measure_with_its_reference():
    import pandas as pd

    rows = [{"architecture": a, "diet": d, "seed": 0, "binding": b, "map binding": b + 0.1, "image probe": 0.7,
             "text probe": 0.8, "ceiling": 0.6} for a, b in (("CNN+GRU", 0.7), ("CLIP", 0.5)) for d in ("x", "y")]
    axes = plot_architecture_profiles(pd.DataFrame(rows))
    assert [ax.get_title() for ax in axes] == ["binding", "map binding", "image probe", "text probe"]
    heights = sorted(round(b.get_height(), 3) for b in axes[0].patches)
    assert heights == [0.5, 0.5, 0.7, 0.7]  # a bar per diet and architecture
    lines = [ln.get_ydata()[0] for ax in axes for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert lines == [0.5, 0.5, 0.6, 0.6]  # chance under binding, the mean ceiling under the probes
    assert [t.get_text() for t in axes[0].figure.legends[0].get_texts()] == ["CNN+GRU", "CLIP"]
    with pytest.raises(ValueError, match="empty"):
        plot_architecture_profiles(pd.DataFrame(rows[:0]))

"""Plotting helpers and widgets of chapters 3-5: what they draw, and their error messages."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from labclip_lib.book import (  # noqa: E402
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

"""The kernel versions of the book's explorers, tested by use: each control is set from Python
and the view the explorer draws must be the view function's output for the new value (the
view functions are wrapped, not replaced, so what they draw is checked too)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from types import SimpleNamespace  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from labclip_lib.book import widgets  # noqa: E402
from labclip_lib.organisms import OrganismModel, organism_config  # noqa: E402
from labclip_lib.world import COLORS, SHAPES  # noqa: E402

W = pytest.importorskip("ipywidgets")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def model():
    return OrganismModel.untrained(organism_config("complete", 0))


def _spy(monkeypatch, name: str, replace=None) -> list:
    """Wrap ``widgets.<name>``: every call's arguments and result are appended to the list returned."""
    real = replace or getattr(widgets, name)
    calls = []

    def wrapper(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(SimpleNamespace(args=args, kwargs=kwargs, out=out))
        return out

    monkeypatch.setattr(widgets, name, wrapper)
    return calls


def _controls(box, kind, **attributes) -> list:
    """Every widget of type ``kind`` in ``box`` (depth first) whose ``attributes`` match."""
    found, stack = [], [box]
    while stack:
        w = stack.pop(0)
        if isinstance(w, kind) and all(getattr(w, k) == v for k, v in attributes.items()):
            found.append(w)
        stack[:0] = list(getattr(w, "children", ()))
    return found


def test_scene_explorer_redraws_the_composed_scene(monkeypatch):
    calls = _spy(monkeypatch, "explore_scene")
    box = widgets.scene_explorer()
    assert len(calls) == 1  # drawn once when built
    (objects,) = calls[-1].args
    assert [o[:2] for o in objects] == [("red", "cube"), ("blue", "sphere")]  # two slots ticked
    colour = _controls(box, W.Dropdown, options=COLORS)[0]
    colour.value = "green"
    (objects,) = calls[-1].args
    assert objects[0][0] == "green" and "green cube" in calls[-1].out.get_title(loc="left")
    _controls(box, W.Checkbox, description="object 3")[0].value = True
    assert len(calls[-1].args[0]) == 3
    _controls(box, W.IntSlider, description="layout seed")[0].value = 7
    assert calls[-1].kwargs["seed"] == 7
    _controls(box, W.ToggleButtons)[0].value = "natural"
    assert calls[-1].kwargs["style"] == "natural" and "a green cube" in calls[-1].out.get_title(loc="left")
    for box_ in _controls(box, W.Checkbox):
        box_.value = False
    drawn = len(calls)
    _controls(box, W.IntSlider, description="layout seed")[0].value = 8
    assert len(calls) == drawn  # nothing ticked: a message, no scene


def test_caption_ranker_ranks_the_new_scene(monkeypatch, model):
    calls = _spy(monkeypatch, "caption_ranking")
    box = widgets.caption_ranker({"untrained": model, "same": model})
    colour = _controls(box, W.Dropdown, options=COLORS)[0]
    colour.value = "green"
    assert calls[-1].args[1] == [("green", "cube"), ("blue", "sphere")]
    labels = [t.get_text() for t in calls[-1].out.axes[1].get_yticklabels()]
    assert any("green cube and blue sphere" in t for t in labels)
    assert any("blue cube and green sphere" in t for t in labels)
    _controls(box, W.Dropdown, description="model")[0].value = "same"
    assert calls[-1].args[0] is model and len(calls) == 3
    drawn = len(calls)
    _controls(box, W.Dropdown, options=SHAPES)[1].value = "cube"  # two cubes: the caption set cannot say it
    assert len(calls) == drawn


def test_rescue_explorer_shows_the_chosen_organisms_map(monkeypatch, model):
    from labclip_lib.alignment import LinearAlignment

    identity = LinearAlignment.identity(model.dim)
    flip = LinearAlignment.identity(model.dim)
    flip._set(-torch.eye(model.dim), 0.0)
    calls = _spy(monkeypatch, "rescue_view")
    box = widgets.rescue_explorer({"identity": (model, identity), "flipped": (model, flip)})
    assert calls[-1].args[1] is identity
    _controls(box, W.Dropdown, description="organism")[0].value = "flipped"
    assert calls[-1].args[1] is flip and calls[-1].kwargs["title"] == "flipped"
    before, after = ([t.get_text() for t in ax.get_yticklabels()] for ax in calls[-1].out.axes[1:3])
    assert before != after  # the flipped map reverses the ranking
    _controls(box, W.Dropdown, options=COLORS)[1].value = "yellow"
    assert calls[-1].args[2] == [("red", "cube"), ("yellow", "sphere")]


def test_probe_explorer_shows_the_chosen_model_modality_and_shape(monkeypatch):
    results = {m: {mod: [SimpleNamespace(shape=s, name=f"{m}-{mod}-{s}") for s in SHAPES] for mod in ("image", "text")}
               for m in ("a", "b")}
    data = {"a": "data a", "b": "data b"}
    calls = _spy(monkeypatch, "probe_view", replace=lambda result, data, modality, title="": result.name)
    box = widgets.probe_explorer(results, data)
    assert calls[-1].out == f"a-image-{SHAPES[0]}"
    _controls(box, W.ToggleButtons, options=tuple(SHAPES))[0].value = "sphere"
    assert calls[-1].out == "a-image-sphere"
    _controls(box, W.ToggleButtons, options=("image", "text"))[0].value = "text"
    assert calls[-1].out == "a-text-sphere" and calls[-1].args[2] == "text"
    _controls(box, W.Dropdown, description="model")[0].value = "b"
    assert calls[-1].out == "b-text-sphere" and calls[-1].args[1] == "data b"


def test_swap_pair_explorer_highlights_the_chosen_pair(monkeypatch):
    calls = _spy(monkeypatch, "plot_swap_pairs_2d")
    xy = np.arange(6, dtype=float).reshape(3, 2)
    box = widgets.swap_pair_explorer(xy, xy + 1, xy + 2, ["red cube", "blue cube", "green cube"],
                                     ["blue cube", "red cube", "red cube"], [0.1, -0.2, 0.3])
    assert calls[-1].kwargs["highlight"] == 0
    _controls(box, W.IntSlider, description="pair")[0].value = 2
    assert calls[-1].kwargs["highlight"] == 2
    title = calls[-1].out.get_title()
    assert "caption: green cube" in title and "= +0.300" in title


def test_alignment_refitter_refits_with_the_chosen_settings(monkeypatch):
    gen = torch.Generator().manual_seed(0)

    def part(n):
        return {k: torch.randn(n, 8, generator=gen) for k in ("image", "caption", "swap")}

    emb = {"train": part(60), "val": part(20), "test": part(20)}
    combinations = [("c", i % 6) for i in range(60)]
    calls = _spy(monkeypatch, "refit_alignment")
    box = widgets.alignment_refitter({"m": emb}, {"m": combinations}, epochs=1)
    assert len(calls) == 1 and calls[-1].out["combinations"] == 6  # fitted once when built, on all of them
    _controls(box, W.IntSlider, description="combinations")[0].value = 3
    _controls(box, W.IntSlider, description="epochs")[0].value = 2
    _controls(box, W.ToggleButtons)[0].value = "sb"
    assert len(calls) == 1  # a slider alone does not refit: the button does
    _controls(box, W.Button, description="fit")[0].click()
    call = calls[-1]
    assert call.args[2:6] == (3, pytest.approx(0.01), 2, "sb")
    assert call.out["combinations"] == 3 and call.out["rows"] == 30
    assert call.out["test before"] == pytest.approx(widgets.binding_accuracy(
        emb["test"]["image"], emb["test"]["caption"], emb["test"]["swap"]))

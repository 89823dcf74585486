"""The kernel-free explorers: each setting's view is computed at build time by the same function
the kernel explorer draws with, stored once per page, and looked up by the controls' values
(tests/test_browser.py checks the page's script does the lookup in a browser)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from labclip_lib.alignment import LinearAlignment  # noqa: E402
from labclip_lib.analysis.crossmodal import pair_caption_set  # noqa: E402
from labclip_lib.book import kernel_free as K  # noqa: E402
from labclip_lib.organisms import OrganismModel, organism_config  # noqa: E402
from labclip_lib.world import COLORS, SHAPES, make_scene, render  # noqa: E402
from labclip_lib.world.captions import CaptionSpec, describe  # noqa: E402


def page_data(view: K.KernelFreeView) -> dict:
    """The JSON the page's script reads."""
    blob = re.search(r'<script type="application/json" class="lx-data">(.*?)</script>', view.html, re.S).group(1)
    return json.loads(blob)


@pytest.fixture(scope="module")
def model():
    return OrganismModel.untrained(organism_config("complete", 0, n_scenes=200))


def test_controls_and_views_are_checked():
    with pytest.raises(ValueError, match="no values"):
        K.Control("c", ())
    with pytest.raises(ValueError, match="labels"):
        K.Control("c", (1, 2), ("one",))
    with pytest.raises(ValueError, match="kind"):
        K.Control("c", (1,), kind="knob")
    c = K.Control("x", (1, 2, 3))
    with pytest.raises(ValueError, match="assets that were not given"):
        K.KernelFreeView("v", [c], lambda x: '<img data-lx-asset="nope">')
    with pytest.raises(ValueError, match="more than"):
        K.KernelFreeView("v", [c], lambda x: "x" * 600, max_bytes=1000)
    with pytest.raises(ValueError, match="not a value"):
        K.KernelFreeView("v", [c], str).key(4)
    with pytest.raises(ValueError, match="initial"):
        K.KernelFreeView("v", [c], str, keys=[(1,)], initial=(2,))


def test_every_setting_is_computed_once_and_looked_up_by_the_controls_indices():
    calls = []

    def view(a, b):
        calls.append((a, b))
        return f"<b>{a}-{b}</b>"

    v = K.KernelFreeView("grid", [K.Control("a", ("p", "q")), K.Control("b", (0.5, 2.0), kind="range")], view)
    assert sorted(calls) == [("p", 0.5), ("p", 2.0), ("q", 0.5), ("q", 2.0)]
    assert v.key("q", 2.0) == "1,1" and v.fragment("q", 2.0) == "<b>q-2.0</b>"
    data = page_data(v)
    assert data["views"] == {"0,0": "<b>p-0.5</b>", "0,1": "<b>p-2.0</b>", "1,0": "<b>q-0.5</b>", "1,1": "<b>q-2.0</b>"}
    assert data["labels"] == [["p", "q"], ["0.5", "2.0"]]
    # the first setting is in the page as is (a page whose scripts do not run still shows it)
    assert 'data-lx-key="0,0"><b>p-0.5</b></div>' in v.html
    assert v.html.count('data-lx-control="') == 2 and 'type="range"' in v.html and "<select" in v.html
    assert v._repr_html_() == v.html and v.nbytes == len(v.html.encode())


def test_a_subset_says_where_the_rest_is_and_text_cannot_close_the_script():
    views = {1: "<i>one</i>", 2: "</script><!-- two"}
    v = K.KernelFreeView("sub", [K.Control("a", (1, 2, 3))], views.get, keys=[(1,), (2,)])
    assert v.fragment(2) == "</script><!-- two" and v.fragment(3) is None
    assert v.html.count("</script>") == 2  # the data's and the code's: the stored view's is escaped
    assert page_data(v)["views"] == {"0": "<i>one</i>", "1": "</script><!-- two"}
    assert "Colab or Jupyter" in page_data(v)["missing"]


def test_assets_are_stored_once_and_filled_in_the_first_view():
    pixels = np.zeros((4, 4, 3), np.uint8)
    uri = K.image_uri(pixels)
    assert uri.startswith("data:image/png;base64,") and K.image_uri(pixels, "jpeg").startswith("data:image/jpeg")
    with pytest.raises(ValueError, match="uint8"):
        K.image_uri(pixels.astype(float))
    v = K.KernelFreeView("a", [K.Control("k", (0, 1, 2))], lambda k: '<img data-lx-asset="shared">',
                         assets={"shared": uri})
    assert v.html.count(uri) == 2  # once in the data, once in the first view shown as is
    assert page_data(v)["assets"] == {"shared": uri}


def test_scene_view_shows_each_scene_with_its_caption():
    v = K.scene_view(colors=("red", "blue"), shapes=("cube", "sphere"), resolution=32)
    assert len(v.views) == 16 and v.nbytes < K.MAX_BYTES
    scene = make_scene([dict(color="blue", shape="sphere", size="large", material="rubber"),
                        dict(color="red", shape="cube", size="large", material="metal")], seed=0)
    caption = describe(scene, CaptionSpec(order="left_to_right"), seed=0)
    assert caption.text in v.fragment("blue", "sphere", "red", "cube")
    asset = re.search(r'data-lx-asset="(\w+)"', v.fragment("blue", "sphere", "red", "cube")).group(1)
    assert v.assets[asset] == K.image_uri(render(scene, 32, supersample=2)[0], "jpeg")


def test_caption_ranker_view_lists_the_models_own_ranking(model):
    v = K.caption_ranker_view({"untrained": model}, colors=("red", "blue"), top=5)
    # every colour pair with two different shapes, for the one model
    assert len(v.views) == 2 * 3 * 2 * 2
    cs = pair_caption_set()
    scene = make_scene([("red", "cube"), ("blue", "sphere")], seed=0)
    scores = (model.encode_images(render(scene, model.image_size)) @ model.encode_texts(list(cs.texts)).T)[0]
    top = [cs.texts[j] for j in torch.argsort(-scores, stable=True)[:5]]
    shown = re.findall(r"<li[^>]*>(.*?) <small>", v.fragment("untrained", "red", "cube", "blue", "sphere"))
    assert shown[:5] == top
    fragment = v.fragment("untrained", "red", "cube", "blue", "sphere")
    assert f'class="lx-true">{cs.texts[cs.caption_of(scene)]}' in fragment
    assert f'class="lx-swap">{cs.texts[cs.swap_of(scene)]}' in fragment
    assert v.fragment("untrained", "red", "cube", "blue", "cube") is None  # one shape twice: not a pair caption


def test_rescue_view_ranks_before_and_after_the_map(model):
    flip = LinearAlignment.identity(model.dim)
    flip._set(-torch.eye(model.dim), 0.0)  # reverses every cosine: the ranking turns upside down
    v = K.rescue_explorer_view({"o": (model, flip)}, colors=("red",), top=3)
    fragment = v.fragment("o", "red", "cube", "red", "sphere")
    before, after = fragment.split("after the map")
    first = lambda part: re.search(r"<li[^>]*>(.*?) <small>", part).group(1)  # noqa: E731
    cs = pair_caption_set()
    scene = make_scene([("red", "cube"), ("red", "sphere")], seed=0)
    scores = (model.encode_images(render(scene, model.image_size)) @ model.encode_texts(list(cs.texts)).T)[0]
    assert first(before) == cs.texts[int(scores.argmax())] and first(after) == cs.texts[int(scores.argmin())]


def test_probe_grid_draws_every_model_modality_and_shape(monkeypatch):
    drawn = []
    real = K.probe_view

    def spy(result, data, modality, **kw):
        drawn.append((result.shape, modality, kw.get("title")))
        return real(result, data, modality, **kw)

    monkeypatch.setattr(K, "probe_view", spy)
    scenes = [make_scene([("red", "cube"), ("blue", "sphere"), ("green", "cylinder")], seed=i) for i in range(4)]
    data = SimpleNamespace(scenes=scenes, captions=["c"] * 4)

    def result(shape):
        return SimpleNamespace(shape=shape, test_true=np.array([0, 1, 2]), test_pred=np.array([0, 2, 2]),
                               test_index=np.array([0, 1, 2]), test=0.67)

    results = {"m": {mod: [result(s) for s in SHAPES] for mod in ("image", "text")}}
    v = K.probe_view_grid(results, {"m": data}, dpi=20)
    assert sorted(drawn) == sorted((s, mod, "m") for s in SHAPES for mod in ("image", "text"))
    assert len(v.views) == 6 and len(v.assets) == 6


def test_swap_pair_view_steps_through_the_first_pairs():
    xy = np.random.default_rng(0).normal(size=(30, 2))
    captions, swaps = [f"red cube and blue sphere {i}" for i in range(30)], [f"s{i}" for i in range(30)]
    v = K.swap_pair_view(xy, xy + 0.1, xy - 0.1, captions, swaps, np.linspace(-1, 1, 30), n_pairs=4, dpi=20)
    assert list(v.views) == ["0", "1", "2", "3"] and 'type="range"' in v.html and 'max="3"' in v.html
    with pytest.raises(ValueError, match="no pairs"):
        K.swap_pair_view(xy[:0], xy[:0], xy[:0], [], [], [])


def test_refit_view_reports_the_refitted_maps_numbers(monkeypatch):
    g = torch.Generator().manual_seed(0)
    part = lambda n: {k: torch.randn(n, 8, generator=g) for k in ("image", "caption", "swap")}  # noqa: E731
    emb = {"train": part(60), "val": part(20), "test": part(20)}
    combos = [i % 6 for i in range(60)]
    v = K.refit_view({"m": emb}, {"m": combos}, fractions=(1.0, 0.5), losses=("hnb",), epochs=2)
    expected = K.refit_alignment(emb, combos, 3, 0.01, 2, "hnb", seed=0)
    fragment = v.fragment("m", "hnb", 0.5)
    assert "3 of 6 combinations" in fragment and f"{expected['test after']:.3f}" in fragment
    assert f"{expected['val before']:.3f}" in fragment

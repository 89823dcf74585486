"""Scene world: scenes, renderer, captions, negatives and splits (offline, fast)."""

from __future__ import annotations

import colorsys
import os
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest

from labclip_lib.world import (
    COLOR_RGB,
    COLORS,
    CaptionSpec,
    PlacementError,
    Scene,
    SceneObject,
    all_pair_combinations,
    caption_statistics,
    describe,
    describe_all,
    make_scene,
    object_id_map,
    project,
    render,
    sample_scenes,
    scenes_from_combinations,
    split_by_combination,
    split_summary,
    swap_class,
    swap_negative,
    swap_negatives,
)


@pytest.fixture(scope="module")
def scenes2():
    return sample_scenes(600, 2, seed=7)


# ---------------------------------------------------------------- scenes
def test_scene_vocabulary_is_clevr():
    assert len(COLORS) == 8 and COLOR_RGB["red"] == (173, 35, 35) and COLOR_RGB["yellow"] == (255, 238, 51)
    assert len(all_pair_combinations()) == 24 * 23 // 2


def test_sample_scenes_prefix_stable_and_seeded():
    a = sample_scenes(20, [2, 3, 6, 10], seed=3)
    b = sample_scenes(5, [2, 3, 6, 10], seed=3)
    c = sample_scenes(20, [2, 3, 6, 10], seed=4)
    assert a[:5] == b
    assert a != c
    assert {len(s) for s in a} <= {2, 3, 6, 10}


def test_objects_do_not_overlap_and_are_visible():
    for s in sample_scenes(50, 10, seed=1):
        xy = np.array([(o.x, o.y) for o in s.objects])
        r = np.array([o.footprint for o in s.objects])
        d = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(s)) * 99
        assert np.all(d >= r[:, None] + r[None])
        assert min(o.salience for o in s.objects) >= 0.002


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda: make_scene([("pink", "cube")]), "unknown colour 'pink'"),
        (lambda: make_scene([("red", "cone")]), "unknown shape 'cone'"),
        (lambda: make_scene([]), "at least one object"),
        (lambda: sample_scenes(3, 0, seed=0), "positive integer"),
        (lambda: make_scene([("red", "cube")] * 60, size="large"), "cannot place 60 objects"),
        (lambda: render(sample_scenes(1, 2, seed=0), 16), ">= 32"),
        (lambda: SceneObject("cube", "red", x=float("nan")), "finite"),
        (lambda: Scene((SceneObject("cube", "red"), SceneObject("sphere", "blue"))), "overlap"),
        (lambda: render([], 64), "empty list of scenes"),
    ],
)
def test_clear_errors(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bad()


def test_placement_error_is_a_value_error():
    with pytest.raises(PlacementError):
        make_scene([("red", "sphere")] * 40, size="large")


def test_scene_round_trips_as_plain_data():
    s = sample_scenes(1, 3, seed=0)[0]
    assert Scene.from_dict(s.to_dict()) == s


# ---------------------------------------------------------------- renderer
def test_render_shape_dtype_and_determinism():
    sc = sample_scenes(4, [2, 5], seed=2)
    for res in (32, 64, 100, 224):
        im = render(sc, res)
        assert im.shape == (4, res, res, 3) and im.dtype == np.uint8
    assert np.array_equal(render(sc, 64), render(sc, 64))
    assert not np.array_equal(render(sc[:1], 64), render(sc[1:2], 64))


def test_centre_pixel_has_the_object_hue():
    # one rubber object of each chromatic colour, alone in the scene, checked at its centre
    for color in COLORS:
        if color == "gray":
            continue
        s = make_scene([(color, "sphere")], seed=0, size="large", material="rubber")
        res = 96
        im = render(s, res, shadows=False)[0].astype(float) / 255
        u, v = project(s)[0]
        col, row = int((u + 1) / 2 * res), int((v + 1) / 2 * res)
        h_pix = colorsys.rgb_to_hsv(*im[row, col])[0]
        h_ref = colorsys.rgb_to_hsv(*(np.array(COLOR_RGB[color]) / 255))[0]
        assert min(abs(h_pix - h_ref), 1 - abs(h_pix - h_ref)) < 0.04, color


def test_metal_differs_from_rubber_and_shadows_darken():
    rub = make_scene([("red", "sphere")], seed=0, size="large", material="rubber")
    met = Scene((SceneObject("sphere", "red", "large", "metal", rub.objects[0].x, rub.objects[0].y),))
    a, b = render([rub, met], 64, shadows=False)
    assert np.abs(a.astype(int) - b).max() > 60  # the specular highlight
    lit, shadowed = render(rub, 64, shadows=False)[0], render(rub, 64, shadows=True)[0]
    assert shadowed.sum() < lit.sum()


def test_every_object_is_visible_in_the_id_map():
    sc = sample_scenes(30, [2, 6, 10], seed=5)
    ids = object_id_map(sc, 64)
    for s, m in zip(sc, ids):
        assert set(np.unique(m)) == set(range(-1, len(s)))


def test_supersampling_keeps_the_picture():
    s = sample_scenes(1, 3, seed=0)
    a = render(s, 64).astype(float)
    b = render(s, 64, supersample=2).astype(float)
    assert np.abs(a - b).mean() < 6


# ---------------------------------------------------------------- captions
def test_caption_styles():
    s = make_scene([("red", "cube"), ("blue", "sphere")], seed=0)
    t = describe(s, CaptionSpec(order="left_to_right"), seed=0)
    assert t.text in ("red cube and blue sphere", "blue sphere and red cube")
    n = describe(s, CaptionSpec(style="natural", order="left_to_right"), seed=0)
    assert n.text == "a " + t.text.replace(" and ", " and a ")
    s3 = make_scene([("red", "cube"), ("blue", "sphere"), ("green", "cylinder")], seed=0)
    assert describe(s3, style="natural", seed=0).text.count(",") == 1


def test_left_to_right_order_follows_the_image():
    for s in sample_scenes(20, 4, seed=3):
        c = describe(s, order="left_to_right", seed=0)
        cols = project(s)[:, 0]
        expected = [(s.objects[i].color, s.objects[i].shape) for i in np.argsort(cols)]
        assert list(c.mentions) == expected


@pytest.fixture(scope="module")
def knob_scenes():
    return sample_scenes(1000, [4, 5, 6], seed=11)


@pytest.mark.parametrize("completeness, density, bias", [(0.5, 0.3, 0.8), (0.8, 0.7, 0.0), (1.0, 0.5, 1.0)])
def test_caption_knobs_give_requested_statistics(completeness, density, bias, knob_scenes):
    scenes = knob_scenes
    caps = describe_all(scenes, CaptionSpec(completeness=completeness, attribute_density=density,
                                            saliency_bias=bias), seed=2)
    stats = caption_statistics(caps, scenes)
    # independent count of the two shares
    mentioned = np.mean([len(c.mentions) / len(s) for c, s in zip(caps, scenes)])
    colored = np.mean([m[0] is not None for cap in caps for m in cap.mentions])
    assert stats["completeness"] == pytest.approx(mentioned) and stats["attribute_density"] == pytest.approx(colored)
    assert abs(mentioned - completeness) < 0.025  # > 3 standard errors at 1000 scenes
    assert abs(colored - density) < 0.025
    if completeness < 1:
        # biased captions name the most salient objects in salience order; random subsets
        # coincide with them only by chance (well under half the time here)
        assert stats["most_salient_share"] >= bias - 0.05
        if bias == 0.0:
            assert stats["most_salient_share"] < 0.3
    else:
        assert stats["incomplete"] == 0.0


def test_knob_outside_unit_interval_is_refused():
    for name in ("completeness", "attribute_density", "saliency_bias"):
        with pytest.raises(ValueError, match=name):
            CaptionSpec(**{name: 1.5})
    with pytest.raises(ValueError, match="unknown caption style"):
        CaptionSpec(style="poetic")


def test_swap_negative_two_objects():
    s = make_scene([("red", "cube"), ("blue", "sphere")], seed=0)
    c = describe(s, order="left_to_right", seed=0)
    n = swap_negative(c)
    assert n is not None and n.text != c.text
    assert sorted(n.bound_pairs) == [("blue", "cube"), ("red", "sphere")]
    # same colour or same shape: the swap is the identity on the scene, so no negative
    for pair in ([("red", "cube"), ("red", "sphere")], [("red", "cube"), ("blue", "cube")]):
        assert swap_negative(describe(make_scene(pair, seed=0), seed=0)) is None


def test_negatives_never_equal_positives_and_are_false_of_the_scene():
    scenes = sample_scenes(400, [2, 3, 4, 6, 10], seed=9)
    caps = describe_all(scenes, seed=1)
    negs = swap_negatives(caps, seed=1, scenes=scenes)
    assert sum(n is not None for n in negs) > 300
    for c, n, s in zip(caps, negs, scenes):
        if n is None:
            continue
        assert n.text != c.text and Counter(n.bound_pairs) != Counter(c.bound_pairs)
        assert Counter(n.bound_pairs) != Counter(s.combination)
        assert sorted(x for x, _ in n.mentions) == sorted(x for x, _ in c.mentions)  # same colours
        assert [y for _, y in n.mentions] == [y for _, y in c.mentions]  # same shapes, same order
    # N distinct colours: a derangement, every object changes colour
    s = make_scene([("red", "cube"), ("blue", "sphere"), ("green", "cylinder"), ("cyan", "cube")], seed=0)
    c = describe(s, seed=0)
    n = swap_negative(c, seed=3)
    assert all(a[0] != b[0] for a, b in zip(c.mentions, n.mentions))


# ---------------------------------------------------------------- splits
def test_split_invariants(scenes2):
    sp = split_by_combination(scenes2, seed=0)
    sets = [set(sp.train), set(sp.val), set(sp.test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sum(map(len, sets)) == len(scenes2)
    train_combos = {scenes2[i].combination for i in sp.train}
    caps = describe_all(scenes2, seed=0)
    negs = swap_negatives(caps, seed=0)
    train_caps = {caps[i].bound_pairs for i in sp.train}
    for part in ("val", "test"):
        assert len(sp[part]) > 0
        for i in sp[part]:
            assert scenes2[i].combination not in train_combos
            assert caps[i].bound_pairs not in train_caps
            if negs[i] is not None:  # the swapped partner is held out too
                assert negs[i].bound_pairs not in train_caps
    rows = split_summary(scenes2, sp)
    assert [r["combinations also in train"] for r in rows] == [0, 0, 0]


def test_split_ignores_scene_order(scenes2):
    sp = split_by_combination(scenes2, seed=0)
    perm = np.random.default_rng(0).permutation(len(scenes2))
    sp2 = split_by_combination([scenes2[i] for i in perm], seed=0)
    assert sp.test_classes == sp2.test_classes
    assert split_by_combination(scenes2, seed=1).test_classes != sp.test_classes


def test_split_errors():
    with pytest.raises(ValueError, match="empty"):
        split_by_combination([])
    one = [make_scene([("red", "cube"), ("blue", "sphere")], seed=i) for i in range(3)]
    with pytest.raises(ValueError, match="too few"):
        split_by_combination(one)
    with pytest.raises(ValueError, match="share"):
        split_by_combination(one, test=1.5)


def test_swap_class_groups_swapped_combinations():
    a = make_scene([("red", "cube"), ("blue", "sphere")], seed=0)
    b = make_scene([("blue", "cube"), ("red", "sphere")], seed=1)
    assert swap_class(a) == swap_class(b) and a.combination != b.combination


def test_scenes_from_combinations():
    combos = all_pair_combinations()[:5]
    sc = scenes_from_combinations(combos, 3, seed=0)
    assert len(sc) == 15 and sc[0].combination == tuple(sorted(combos[0]))
    assert sc == scenes_from_combinations(combos, 3, seed=0)


# ---------------------------------------------------------------- determinism across processes
_FINGERPRINT = textwrap.dedent(
    """
    import hashlib
    from labclip_lib.world import sample_scenes
    from labclip_lib.world import render
    from labclip_lib.world import describe_all, swap_negatives, CaptionSpec
    from labclip_lib.world import split_by_combination
    sc = sample_scenes(300, [2, 3], seed=5)
    caps = describe_all(sc, CaptionSpec(completeness=0.7, attribute_density=0.6, saliency_bias=0.5), seed=5)
    negs = swap_negatives(caps, seed=5, scenes=sc)
    sp = split_by_combination(sc, seed=5)
    h = hashlib.sha256(render(sc[:50], 64).tobytes())
    h.update(repr([c.text for c in caps]).encode())
    h.update(repr([n and n.text for n in negs]).encode())
    h.update(sp.test.tobytes() + sp.val.tobytes())
    print(h.hexdigest())
    """
)


def test_same_seed_same_everything_across_processes():
    outs = []
    for hashseed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        r = subprocess.run([sys.executable, "-c", _FINGERPRINT], env=env, capture_output=True, text=True,
                           check=True)
        outs.append(r.stdout.strip())
    assert outs[0] == outs[1] and len(outs[0]) == 64


def test_probe_ceiling_and_planted_label():
    from labclip_lib.analysis import LinearProbe, bag_of_words_ceiling

    # two objects, 8 colours, independent: 1/8 + 7/8 * 1/2
    scenes = sample_scenes(3000, 2, seed=4, salience=False)
    assert bag_of_words_ceiling(scenes, "cube") == pytest.approx(0.5625, abs=0.03)
    same = [make_scene([("red", "cube"), ("red", "sphere")], seed=0)]
    assert bag_of_words_ceiling(same, "cube") == 1.0
    gen = np.random.default_rng(0)
    x = gen.normal(size=(600, 16))
    y = (x[:, 3] > 0).astype(int) + 2 * (x[:, 7] > 0)
    probe = LinearProbe().fit(x[:400], y[:400], x[400:500], y[400:500])
    assert probe.score(x[500:], y[500:]) > 0.9
    with pytest.raises(ValueError, match="single class"):
        LinearProbe().fit(x[:10], np.zeros(10, dtype=int))

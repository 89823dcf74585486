"""Disk caches of rendered scene sets, organism data and JSON values: a hit equals a fresh
computation exactly, a damaged entry is recomputed, different arguments never share an entry."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest
import torch

import labclip_lib.organisms.data as D
import labclip_lib.world.scenesets as S
from labclip_lib.organisms import OrganismConfig, build_data
from labclip_lib.storage import compute_or_load_json
from labclip_lib.world import sample_scenes
from labclip_lib.world.captions import Caption, CaptionSpec, describe_all, swap_negatives
from labclip_lib.world.scenes import Scene


def test_records_round_trip_exactly():
    scenes = sample_scenes(40, [2, 3], seed=7)
    back = S.scenes_from_records(json.loads(json.dumps(S.scenes_to_records(scenes))))
    assert back == scenes  # every float (positions, rotations, salience) survives JSON
    with pytest.raises(ValueError, match="colour"):
        S.scenes_from_records([[["cube", "pink", "large", "rubber", 0.0, 0.0, 0.0, None]]])


def test_columns_round_trip_exactly_and_bad_columns_are_refused():
    scenes = sample_scenes(50, [1, 3], seed=3)  # small and large, rubber and metal, measured saliences
    unmeasured = [Scene(tuple(replace(o, salience=None) for o in s.objects)) for s in scenes[:5]]
    for group in (scenes, unmeasured):
        back = S.scenes_from_columns(S.scenes_to_columns(group))
        assert back == group
        assert [o.__dict__ for s in back for o in s.objects] == [o.__dict__ for s in group for o in s.objects]
    assert {o.size for s in scenes for o in s.objects} == {"small", "large"}
    assert all(o.salience is None for s in S.scenes_from_columns(S.scenes_to_columns(unmeasured)) for o in s.objects)
    # codes refer to the vocabularies they were written with, and are checked against today's
    cols = S.scenes_to_columns(scenes)
    colours = list(S._VOCABULARY["color"])
    swapped = {**S._VOCABULARY, "color": colours[::-1]}
    assert [o.color for s in S.scenes_from_columns(cols, swapped) for o in s.objects] == [
        colours[::-1][colours.index(o.color)] for s in scenes for o in s.objects]
    bad = [({**cols, "codes": cols["codes"].clone().index_fill_(1, torch.tensor([1]), 200)}, "outside its vocabulary"),
           ({**cols, "floats": cols["floats"].clone().fill_(float("nan"))}, "not finite"),
           ({**cols, "objects": cols["objects"][:-1]}, "do not fit together"),
           (cols, "not a subset")]
    for columns, message in bad:
        vocab = {**S._VOCABULARY, "color": ["pink"]} if message == "not a subset" else None
        with pytest.raises(ValueError, match=message):
            S.scenes_from_columns(columns, vocab)


def test_evaluation_captions_pack_into_columns_and_back():
    scenes = sample_scenes(40, [2, 3], seed=4)
    specs = [CaptionSpec(), CaptionSpec(attributes=3), CaptionSpec(completeness=0.5, attribute_density=0.5)]
    for spec in specs:
        caps = describe_all(scenes, spec, seed=1)
        negs = swap_negatives(caps, seed=1, scenes=scenes)
        for group in (caps, negs):
            packed = D._packed_captions(group)
            assert json.loads(json.dumps(packed)) == packed and D._unpacked_captions(packed) == list(group)
    assert any(c.extras for c in describe_all(scenes, specs[1], seed=1))  # size and material words kept
    assert any(col is None for c in describe_all(scenes, specs[2], seed=1) for col, _ in c.mentions)
    with pytest.raises(ValueError, match="separators"):
        D._packed_captions([Caption("a red cube", (("red", "cu:be"),))])


def test_rendered_scenes_hit_equals_fresh_and_damage_is_recomputed(tmp_path, monkeypatch):
    fresh = S.rendered_scenes(60, 2, seed=1, resolution=32, cache=False)
    first = S.rendered_scenes(60, 2, seed=1, resolution=32, directory=tmp_path)
    (entry,) = list(tmp_path.iterdir())
    monkeypatch.setattr("labclip_lib.world.scenesets.sample_scenes", lambda *a, **k: pytest.fail("cache hit expected"))
    hit = S.rendered_scenes(60, 2, seed=1, resolution=32, directory=tmp_path)
    for got in (first, hit):
        assert got[0] == fresh[0] and torch.equal(got[1], fresh[1])
        assert got[1].dtype == torch.uint8 and got[1].shape == (60, 32, 32, 3)
    monkeypatch.undo()
    # another resolution or seed is another entry
    S.rendered_scenes(60, 2, seed=1, resolution=40, directory=tmp_path)
    S.rendered_scenes(60, 2, seed=2, resolution=32, directory=tmp_path)
    assert len(list(tmp_path.iterdir())) == 3
    # a damaged image file fails its checksum: warned, re-rendered, same values
    images = entry / "images.safetensors"
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.warns(UserWarning, match="re-rendering"):
        again = S.rendered_scenes(60, 2, seed=1, resolution=32, directory=tmp_path)
    assert torch.equal(again[1], fresh[1])


def test_json_cache(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"a": (1, 2), "b": [None, "x"]}

    key = {"what": "test", "n": 1}
    first = compute_or_load_json(key, compute, directory=tmp_path)
    assert first == {"a": [1, 2], "b": [None, "x"]}  # the same shape a hit returns
    assert compute_or_load_json(key, compute, directory=tmp_path) == first and len(calls) == 1
    assert compute_or_load_json({"what": "test", "n": 2}, compute, directory=tmp_path) == first and len(calls) == 2
    (path,) = [p for p in tmp_path.iterdir() if json.loads(p.read_text())["key"] == json.dumps(key, sort_keys=True)]
    stored = json.loads(path.read_text())
    stored["value"]["a"] = [1, 3]  # tampered: the checksum no longer matches
    path.write_text(json.dumps(stored))
    with pytest.warns(UserWarning, match="corrupt"):
        assert compute_or_load_json(key, compute, directory=tmp_path) == first
    assert len(calls) == 3


def test_build_data_from_cache_equals_fresh():
    config = OrganismConfig(name="cache-test", n_scenes=300, seed=4, shuffle_words=True)
    fresh, first, hit = build_data(config, cache=False), build_data(config), build_data(config)
    for got in (first, hit):
        assert got.scenes == fresh.scenes and torch.equal(got.images, fresh.images)
        assert got.train_texts == fresh.train_texts and got.train_negatives == fresh.train_negatives
        assert got.eval_captions == fresh.eval_captions and got.eval_negatives == fresh.eval_negatives
        assert all((getattr(got.split, p) == getattr(fresh.split, p)).all() for p in ("train", "val", "test"))
    other = build_data(OrganismConfig(name="cache-test", n_scenes=300, seed=4))  # no word shuffle
    assert other.train_texts != fresh.train_texts and other.scenes == fresh.scenes


def test_image_embeddings_cached_per_model_and_data(tmp_path):
    import copy

    from labclip_lib.alignment import AlignedModel, LinearAlignment
    from labclip_lib.embed import image_embeddings
    from labclip_lib.organisms import OrganismModel

    config = OrganismConfig(name="emb-test", n_scenes=200, seed=5, embed_dim=16)
    data = build_data(config)
    assert data.key.startswith("emb-test-") and data.key == build_data(config).key
    assert build_data(OrganismConfig(name="emb-test", n_scenes=200, seed=6, embed_dim=16)).key != data.key
    model = OrganismModel.untrained(config, seed=1)
    direct = model.encode_images(data.images)
    first = image_embeddings(model, data, directory=tmp_path)
    assert torch.allclose(first, direct, atol=1e-6) and len(list(tmp_path.iterdir())) == 1
    assert torch.equal(image_embeddings(model, data, directory=tmp_path), first)  # a hit
    # another model (same config, other weights) never gets these embeddings
    net = copy.deepcopy(model.network)
    with torch.no_grad():
        net.image.head[-1].bias.add_(1.0)
    other = OrganismModel(net, config)
    assert other.fingerprint != OrganismModel(copy.deepcopy(model.network), config).fingerprint
    assert not torch.allclose(image_embeddings(other, data, directory=tmp_path), first)
    # an aligned model's images are its base model's: same entry, no new file
    n_files = len(list(tmp_path.iterdir()))
    aligned = AlignedModel(model, LinearAlignment.identity(16))
    assert torch.equal(image_embeddings(aligned, data, directory=tmp_path), first)
    assert len(list(tmp_path.iterdir())) == n_files
    # data without a key (or a model without a fingerprint) is embedded directly, never cached
    data.key = ""
    assert torch.allclose(image_embeddings(model, data, directory=tmp_path), direct, atol=1e-6)
    assert len(list(tmp_path.iterdir())) == n_files


def test_evaluation_captions_are_made_once_per_scene_set(monkeypatch):
    import labclip_lib.organisms.data as D

    complete = OrganismConfig(name="eval-share", n_scenes=300, seed=6)
    natural = OrganismConfig(name="eval-share-natural", n_scenes=300, seed=6, shuffle_words=True,
                             captions=((1.0, D.CaptionSpec(completeness=0.5, attribute_density=0.5)),))
    first = build_data(complete)

    def no_captioning(*args, **kwargs):
        raise AssertionError("evaluation captions made again for a scene set that has them")

    monkeypatch.setattr(D, "_evaluation_records", no_captioning)
    other = build_data(natural)  # another diet on the same scenes reads them
    assert other.train_texts != first.train_texts
    assert other.eval_captions == first.eval_captions and other.eval_negatives == first.eval_negatives
    monkeypatch.undo()
    assert build_data(natural, cache=False).eval_captions == first.eval_captions
    reseeded = build_data(OrganismConfig(name="eval-share", n_scenes=300, seed=7))
    assert reseeded.eval_captions != first.eval_captions  # another seed: other scenes and captions


def test_a_scene_set_read_twice_in_a_process_is_parsed_once_and_handed_out_as_copies(tmp_path, monkeypatch):
    S.rendered_scenes(40, 2, seed=5, resolution=32, directory=tmp_path)  # computed and written
    first = S.rendered_scenes(40, 2, seed=5, resolution=32, directory=tmp_path)  # read from disk
    monkeypatch.setattr(S, "scenes_from_columns", lambda *a: pytest.fail("parsed again"))
    second = S.rendered_scenes(40, 2, seed=5, resolution=32, directory=tmp_path)
    assert second[0] == first[0] and torch.equal(second[1], first[1])
    second[1].zero_()  # a caller writing to its images does not reach the next caller's
    assert torch.equal(S.rendered_scenes(40, 2, seed=5, resolution=32, directory=tmp_path)[1], first[1])
    monkeypatch.undo()
    # a rewritten entry is read again (its files' stamps changed)
    (entry,) = list(tmp_path.iterdir())
    meta = entry / "scenes.json"
    meta.write_bytes(meta.read_bytes())
    os.utime(meta, ns=(meta.stat().st_atime_ns, meta.stat().st_mtime_ns + 10**9))
    calls = []
    real = S.scenes_from_columns
    monkeypatch.setattr(S, "scenes_from_columns", lambda *a: calls.append(1) or real(*a))
    third = S.rendered_scenes(40, 2, seed=5, resolution=32, directory=tmp_path)
    assert calls == [1] and third[0] == first[0]
    # the process keeps the last few sets only
    for seed in (6, 7, 8):
        S.rendered_scenes(20, 2, seed=seed, resolution=32, directory=tmp_path)
        S.rendered_scenes(20, 2, seed=seed, resolution=32, directory=tmp_path)
    assert len(S._READ) == S._READ_KEEP

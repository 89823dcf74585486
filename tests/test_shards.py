"""Sharded embedding on torch.distributed: equal to one process, resumable after a kill, and
refusing to mix foreign or broken shards; the evaluation grid split over ranks; the command line.

Two-process runs go through ``torchrun`` (gloo, one thread per process, GLOO_SOCKET_IFNAME=lo)
on a deterministic stub model (``tests/shardtools.py``) and a few hundred rows.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from labclip_lib.__main__ import main as cli
from labclip_lib.__main__ import parser
from labclip_lib.alignment import LinearAlignment
from labclip_lib.embed.shards import FAULT_ENV, ShardReader, embed_shards
from labclip_lib.runtime import torch_threads
from labclip_lib.testing import make_tiny_clip
from shardtools import StubModel, launch, rank_reports, stub_source

N, SHARD = 300, 64  # 5 shards, the last one of 44 rows


def _embed(out, n=N, shard=SHARD, model=None):
    with torch_threads(1):
        return embed_shards(model or StubModel(), stub_source(n), out, shard_size=shard, dtype="fp32", batch_size=32)


def _files(d):
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file() and p.suffix != ".json")


def _assert_same(a, b):
    ra, rb = ShardReader(a), ShardReader(b)
    assert _files(a) == _files(b)
    assert ra.metadata()["key"].tolist() == rb.metadata()["key"].tolist() == [f"row-{i:05d}" for i in range(N)]
    for m in ("image", "text", "negative"):
        assert np.array_equal(ra.rows(0, N, m), rb.rows(0, N, m)), m  # bitwise


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "emb"
    _embed(out)
    return out


def test_two_processes_write_the_one_process_shards(reference, tmp_path):
    res = launch(["embed", str(tmp_path / "two"), str(N), str(SHARD)])
    assert res.returncode == 0, res.stderr[-3000:]
    ranks = rank_reports(res.stdout)
    assert sorted(i for r in ranks for i in r["computed"]) == [0, 1, 2, 3, 4]  # each shard once, no padding
    assert {r["rank"]: r["computed"] for r in ranks} == {0: [0, 2, 4], 1: [1, 3]}
    _assert_same(reference, tmp_path / "two")


def test_a_killed_run_resumes_without_recomputing_finished_shards(reference, tmp_path):
    out = tmp_path / "emb"
    res = launch(["embed", str(out), str(N), str(SHARD)], env={FAULT_ENV: "1"})  # each worker dies in its 2nd shard
    assert res.returncode != 0
    done = {p.name: p.stat().st_mtime_ns for p in (out / "stats").glob("stats_*.json")}
    assert 1 <= len(done) <= 2
    res = launch(["embed", str(out), str(N), str(SHARD)])
    assert res.returncode == 0, res.stderr[-3000:]
    ranks = rank_reports(res.stdout)
    recomputed = sorted(i for r in ranks for i in r["computed"])
    assert len(recomputed) == 5 - len(done) and sorted(i for r in ranks for i in r["skipped"]) == sorted(
        int(n[6:-5]) for n in done)
    assert all((out / "stats" / n).stat().st_mtime_ns == t for n, t in done.items())  # markers untouched
    assert not [p for p in out.rglob("*.tmp")]
    _assert_same(reference, out)


def test_a_shard_without_marker_or_truncated_is_recomputed(reference, tmp_path):
    out = tmp_path / "emb"
    shutil.copytree(reference, out)
    (out / "stats" / "stats_1.json").unlink()
    data = (out / "text_emb" / "text_emb_3.npy").read_bytes()
    (out / "text_emb" / "text_emb_3.npy").write_bytes(data[: len(data) // 2])
    assert _embed(out)["computed"] == [1, 3]
    _assert_same(reference, out)


def test_foreign_or_broken_shards_are_refused_by_name(reference, tmp_path):
    out = tmp_path / "emb"
    shutil.copytree(reference, out)
    with pytest.raises(ValueError, match="embedding_info.json.*|another run"):
        _embed(out, model=StubModel(dim=32))  # another model: other D
    with pytest.raises(ValueError, match="shard_size"):
        _embed(out, shard=50)
    # a shard of another model dropped into the folder
    bad = out / "img_emb" / "img_emb_2.npy"
    np.save(bad, np.zeros((SHARD, 32), np.float32))
    with pytest.raises(ValueError, match="img_emb_2.npy"):
        ShardReader(out)
    # a corrupt .npy
    bad.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match="img_emb_2.npy.*not a readable"):
        ShardReader(out)
    shutil.copy(reference / "img_emb" / "img_emb_2.npy", bad)
    # a shard of another shard size
    info = json.loads((out / "embedding_info.json").read_text())
    (out / "embedding_info.json").write_text(json.dumps({**info, "shard_size": 50, "n_shards": 6}))
    with pytest.raises(ValueError, match="no stats marker|shard size"):
        ShardReader(out)
    shutil.copy(reference / "embedding_info.json", out / "embedding_info.json")
    # metadata whose keys are not the embeddings' keys
    meta = out / "metadata" / "metadata_1.parquet"
    frame = pd.read_parquet(meta)
    frame["key"] = frame["key"][::-1].to_numpy()
    frame.to_parquet(meta, index=False)
    with pytest.raises(ValueError, match="metadata_1.parquet.*keys"):
        ShardReader(out).metadata()
    frame.iloc[:10].to_parquet(meta, index=False)
    with pytest.raises(ValueError, match="metadata_1.parquet has 10 rows"):
        ShardReader(out)


def test_reader_reads_clip_retrieval_folders_by_range_and_batch(tmp_path):
    g = np.random.default_rng(0)
    parts = [g.normal(size=(n, 8)).astype(np.float16) for n in (5, 7, 3)]
    for i, p in enumerate(parts):  # clip-retrieval's names: no stats, no info file
        (tmp_path / "img_emb").mkdir(exist_ok=True)
        np.save(tmp_path / "img_emb" / f"img_emb_{i}.npy", p)
    r = ShardReader(tmp_path)
    whole = np.concatenate(parts).astype(np.float32)
    assert len(r) == 15 and r.dim == 8 and r.modalities == ["image"]
    assert np.array_equal(r.rows(3, 13), whole[3:13])
    assert np.array_equal(r.take(np.array([14, 0, 6]), "image"), whole[[14, 0, 6]])
    assert np.array_equal(np.concatenate([b["image"] for b in r.batches(4)]), whole)


def test_grid_over_two_ranks_is_complete_disjoint_and_resumable(tmp_path):
    models, benches = "m1,m2,m3", "b1,b2,b3"
    res = launch(["grid", str(tmp_path), models, benches])
    assert res.returncode == 0, res.stderr[-3000:]
    ranks = rank_reports(res.stdout)
    runs = [tuple(r) for rank in ranks for r in rank["executed"]]
    assert len(runs) == len(set(runs)) == 9  # complete, no overlap
    assert {rank["rank"]: len(rank["executed"]) for rank in ranks} == {0: 5, 1: 4}
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == 9 and set(table["rank"]) == {0, 1}
    assert table["score"].tolist() == [len(m) * 100 + len(b) for m in models.split(",") for b in benches.split(",")]
    res = launch(["grid", str(tmp_path), models, benches])
    ranks = rank_reports(res.stdout)
    assert [r["executed"] for r in ranks] == [[], []] and sum(r["skipped"] for r in ranks) == 9


def test_command_line_embeds_and_fits_with_a_tiny_clip(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["fit-map", "--help"])
    assert exit_.value.code == 0 and "--checkpoint-every" in capsys.readouterr().out
    model = make_tiny_clip(tmp_path / "clip")
    cli(["embed", "--model", str(model), "--scenes", "48", "--shard-size", "20", "--out", str(tmp_path / "emb"),
         "--dtype", "fp32", "--resolution", "32"])
    r = ShardReader(tmp_path / "emb")
    assert len(r) == 48 and r.n_shards == 3 and r.modalities == ["image", "text", "negative"]
    assert r.metadata()["key"].iloc[0] == "scene-0-00000000"
    cli(["fit-map", "--shards", str(tmp_path / "emb"), "--out", str(tmp_path / "map"), "--epochs", "2",
         "--batch-size", "16"])
    est = LinearAlignment.load(tmp_path / "map", dim=r.dim)
    assert len(est.history_.loss) == 3 and torch.isfinite(est.weight_).all()

"""The two-way pairing probe (analysis.pairing): the bound on what a text-side map can reach."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labclip_lib.analysis import CONJUNCTIONS, PairingProbe, conjunction_difference, pairing_bound
from labclip_lib.world.captions import Caption


def _scenes(n: int, bound: bool, seed: int, noise: float = 0.1, dim: int = 24):
    """Two-object scenes whose embedding is the sum of conjunction vectors (``bound``) or of
    every colour-shape combination of its bag (bag of words: the swap has the same embedding)."""
    rng = np.random.default_rng(seed)
    vectors = torch.tensor(np.random.default_rng(99).normal(size=(len(CONJUNCTIONS), dim)))
    x, e = [], []
    while len(x) < n:
        a, b = rng.choice(len(CONJUNCTIONS), 2, replace=False)
        (ca, sa), (cb, sb) = divmod(a, 3), divmod(b, 3)
        if ca == cb or sa == sb:
            continue
        swap = (ca * 3 + sb, cb * 3 + sa)
        diff = torch.zeros(len(CONJUNCTIONS), dtype=torch.float64)
        diff[[a, b]] += 1
        diff[list(swap)] -= 1
        emb = vectors[a] + vectors[b] + (0 if bound else vectors[swap[0]] + vectors[swap[1]])
        x.append(emb + noise * torch.tensor(rng.normal(size=dim)))
        e.append(diff)
    return torch.stack(x), torch.stack(e)


def test_the_probe_reads_binding_where_it_is_and_not_where_it_is_not():
    train, val, test = (_scenes(n, True, s) for n, s in ((1500, 0), (300, 1), (300, 2)))
    probe = PairingProbe().fit(*train, *val)
    assert probe.score(*test) > 0.97 and probe.penalty_ in probe.penalties
    # the swapped caption gets exactly the opposite score
    assert torch.allclose(probe.decision_function(test[0], -test[1]), -probe.decision_function(*test))
    bag = [(_scenes(n, False, s)) for n, s in ((1500, 0), (300, 1), (800, 2))]
    assert abs(PairingProbe().fit(*bag[0], *bag[1]).score(*bag[2]) - 0.5) < 0.07
    # deterministic: the same inputs give the same probe
    again = PairingProbe().fit(*train, *val)
    assert torch.equal(again.weight_, probe.weight_)


def test_noise_lowers_the_bound_between_chance_and_one():
    train, val, test = (_scenes(n, True, s, noise=8.0) for n, s in ((1500, 0), (300, 1), (300, 2)))
    acc = PairingProbe().fit(*train, *val).score(*test)
    assert 0.6 < acc < 0.97


def test_conjunction_difference_and_bad_inputs():
    cap = Caption("red cube and blue sphere", (("red", "cube"), ("blue", "sphere")))
    swap = Caption("blue cube and red sphere", (("blue", "cube"), ("red", "sphere")))
    e = conjunction_difference([cap], [swap])
    k = {cs: i for i, cs in enumerate(CONJUNCTIONS)}
    assert e[0, k["red", "cube"]] == 1 and e[0, k["blue", "cube"]] == -1 and e.abs().sum() == 4
    with pytest.raises(ValueError, match="no captions"):
        conjunction_difference([], [])
    with pytest.raises(ValueError, match="has no swap"):
        conjunction_difference([cap], [None])
    with pytest.raises(ValueError, match="colour 'pink'"):
        conjunction_difference([Caption("pink cube", (("pink", "cube"),))], [swap])
    with pytest.raises(ValueError, match="same conjunctions"):
        conjunction_difference([cap], [cap])
    probe = PairingProbe()
    with pytest.raises(ValueError, match="not fitted"):
        probe.score(torch.ones(1, 4), e)
    x, d = _scenes(200, True, 0)
    probe.fit(x, d)
    with pytest.raises(ValueError, match="fitted on 24-dim embeddings"):
        probe.score(torch.ones(1, 5), e)
    with pytest.raises(ValueError, match="fitted on codes of 24 entries"):
        probe.score(x[:1], torch.ones(1, 3))
    with pytest.raises(ValueError, match="NaN|finite"):
        probe.fit(torch.full((3, 4), float("nan")), torch.ones(3, len(CONJUNCTIONS)))


def test_pairing_bound_on_an_organism():
    import labclip_lib.organisms as O
    from labclip_lib.analysis import pair_embeddings

    config = O.OrganismConfig(name="tiny-pairing", n_scenes=900, epochs=1, batch_size=64, embed_dim=16, seed=1)
    data = O.build_data(config, cache=False)
    model = O.OrganismModel(O.train_organism(config, data, progress=False)[0], config)
    acc = pairing_bound(model, data, "test")
    assert 0.0 <= acc <= 1.0
    assert pairing_bound(model, data, "test", text=False) != acc  # another code, another probe
    # the same number from embeddings the caller has already
    embeddings = {part: pair_embeddings(model, data, part) for part in ("train", "val", "test")}
    assert pairing_bound(model, data, "test", embeddings=embeddings) == acc
    with pytest.raises(ValueError, match="part must be"):
        pairing_bound(model, data, "train")


def test_map_against_bound_pairs_by_seed():
    import pandas as pd

    from labclip_lib.alignment import METHODS, map_against_bound

    results = pd.DataFrame([{"organism": o, "seed": s, "method": m, "binding": b}
                            for o, base in (("short", 0.7), ("at", 0.9)) for s in range(3)
                            for m, b in ((METHODS[0], 0.5), (METHODS[1], base + 0.01 * s))])
    bounds = pd.DataFrame([{"organism": o, "seed": s, "pairing bound": b}
                           for o, b0 in (("short", 0.95), ("at", 0.9)) for s in range(3)
                           for b in [b0 + 0.01 * s + (0.004 * (s - 1) if o == "at" else 0)]])
    table = map_against_bound(results, bounds)
    assert table.loc["short", "gap (bound - map)"] == pytest.approx(0.25)
    assert table.loc["short", "reading"] == "map short of the bound"
    assert table.loc["at", "reading"] == "inconclusive" and table.loc["at", "seeds"] == 3
    one = map_against_bound(results[results.seed == 0], bounds)
    assert set(one["reading"]) == {"one seed: no interval"}
    with pytest.raises(ValueError, match="no rows of method"):
        map_against_bound(results, bounds, method="nonsense")

"""Chapter 5's geometry: swap cosines, probe-weight agreement, the modality gap, PCA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labclip_lib.analysis import (
    binding_without_gap,
    modality_gap,
    pca_2d,
    probe_object_colors,
    probe_weight_cosines,
    remove_modality_gap,
    swap_geometry,
)
from labclip_lib.world import COLORS, SHAPES, sample_scenes, split_by_combination


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_swap_geometry_and_gap_removal():
    x = torch.randn(20, 8, generator=gen(0))
    geo = swap_geometry(x, x, x)
    assert np.allclose(geo["cos(caption, swap)"], 1) and np.allclose(geo["margin"], 0)
    img = torch.randn(50, 8, generator=gen(1))
    txt = img + 3.0  # the same content, shifted: a pure modality gap
    g = modality_gap(img, txt)
    assert g["gap"] > 0.5 and g["variance along gap"] > 0.3
    ci, ct = remove_modality_gap(img, txt)
    assert torch.allclose(ci.norm(dim=1), torch.ones(50)) and abs(float(ci.mean(0) @ ct.mean(0))) < 1
    same = modality_gap(img, img)
    assert same["gap"] == 0 and same["mean cos image-text"] == pytest.approx(float(
        torch.nn.functional.normalize(img, dim=1).mean(0).norm() ** 2), rel=1e-5)


def test_binding_without_gap_recovers_a_binding_hidden_by_an_offset():
    # images = true caption + a big shared offset: removing the gap leaves exact matches
    pos, neg = torch.randn(40, 16, generator=gen(2)), torch.randn(40, 16, generator=gen(3))
    offset = 20 * torch.randn(16, generator=gen(4))
    img = pos + offset
    acc = binding_without_gap(img, torch.cat([pos, neg]), img, pos, neg)
    assert acc > 0.95


def test_probe_weight_cosines_high_for_a_shared_code_and_low_for_separate_codes():
    scenes = sample_scenes(3000, 2, seed=0, salience=False)
    split = split_by_combination(scenes, seed=0)
    d = len(SHAPES) * len(COLORS)
    code = torch.zeros(len(scenes), d)
    for i, s in enumerate(scenes):
        for o in s.objects:
            code[i, SHAPES.index(o.shape) * len(COLORS) + COLORS.index(o.color)] = 1
    noisy = lambda x, k: x + 0.05 * torch.randn(x.shape, generator=gen(k))  # noqa: E731
    perm = torch.randperm(d, generator=gen(9))
    shared = probe_weight_cosines(probe_object_colors(noisy(code, 1), scenes, split),
                                  probe_object_colors(noisy(code, 2), scenes, split))
    separate = probe_weight_cosines(probe_object_colors(noisy(code, 1), scenes, split),
                                    probe_object_colors(noisy(code[:, perm], 2), scenes, split))
    assert len(shared) == 3 * 8 and {r["shape"] for r in shared} == set(SHAPES)
    assert np.mean([r["cosine"] for r in shared]) > 0.8
    assert abs(np.mean([r["cosine"] for r in separate])) < 0.3


def test_pca_2d_shapes_and_errors():
    a, b = torch.randn(10, 5, generator=gen(0)), torch.randn(7, 5, generator=gen(1))
    pa, pb = pca_2d(a, b)
    assert pa.shape == (10, 2) and pb.shape == (7, 2)
    with pytest.raises(ValueError, match="no embeddings"):
        pca_2d()
    with pytest.raises(ValueError, match="embedding size"):
        pca_2d(a, torch.randn(3, 4))

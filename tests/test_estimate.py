"""The embedding-cost estimate of the appendix: FLOPs counted on weightless CLIPs, hours from rates."""

import pytest

from labclip_lib.embed.estimate import CLIP_ARCHITECTURES, clip_flops, embedding_time_estimate


def test_clip_flops_match_the_architectures_arithmetic():
    b32, l14 = clip_flops("ViT-B/32"), clip_flops("ViT-L/14")
    # a transformer layer costs about 24 * tokens * width^2 FLOPs (QKV, output, a 4x MLP); ViT-B/32
    # has 50 tokens of width 768 in 12 layers, ViT-L/14 257 tokens of width 1024 in 24 layers
    assert b32["image"] == pytest.approx(24 * 50 * 768**2 * 12, rel=0.1)
    assert l14["image"] == pytest.approx(24 * 257 * 1024**2 * 24, rel=0.1)
    assert l14["text"] > b32["text"] > 0
    with pytest.raises(ValueError, match="unknown architecture"):
        clip_flops("ViT-H/14")
    assert set(CLIP_ARCHITECTURES) >= {"ViT-B/32", "ViT-L/14"}


def test_embedding_time_estimate_is_flops_over_rate():
    hours = embedding_time_estimate(3600, 1e12, devices=1, device_tflops=1.0, utilisation=0.5)
    assert hours == pytest.approx(2.0)  # 3600 TFLOP at 0.5 TFLOP/s = 7200 s
    assert embedding_time_estimate(3600, 1e12, 4, 1.0, 0.5) == pytest.approx(0.5)
    assert embedding_time_estimate(3600, 1e12, 4, 1.0, 0.5, scaling_efficiency=0.5) == pytest.approx(1.0)
    assert embedding_time_estimate(3600, 1e12, 1, 1.0, 0.5, scaling_efficiency=0.5) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="utilisation"):
        embedding_time_estimate(1, 1e9, 1, 1.0, 1.5)
    with pytest.raises(ValueError, match="devices >= 1"):
        embedding_time_estimate(1, 1e9, 0, 1.0, 0.5)

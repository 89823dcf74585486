"""What embedding a large corpus costs: a CLIP architecture's FLOPs per image and per caption,
counted by ``torch.utils.flop_counter`` on a model built on the meta device (no weights, no
memory), and an estimate of the wall time on N accelerators from an assumed rate.

The architectures are those of OpenAI's released checkpoints (their ``config.json`` on the hub).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["CLIP_ARCHITECTURES", "ClipArchitecture", "clip_flops", "embedding_time_estimate"]


@dataclass(frozen=True)
class ClipArchitecture:
    """A CLIP's towers: the vision transformer (width, layers, heads, patch, image size) and the
    text transformer (width, layers, heads, context length), and the shared projection size."""

    vision_width: int
    vision_layers: int
    vision_heads: int
    patch: int
    image_size: int
    text_width: int
    text_layers: int
    text_heads: int
    context: int = 77
    projection: int = 512


#: OpenAI's CLIPs (openai/clip-vit-base-patch32 and openai/clip-vit-large-patch14, config.json)
CLIP_ARCHITECTURES = {
    "ViT-B/32": ClipArchitecture(768, 12, 12, 32, 224, 512, 12, 8, projection=512),
    "ViT-L/14": ClipArchitecture(1024, 24, 16, 14, 224, 768, 12, 12, projection=768),
}


def clip_flops(architecture: str | ClipArchitecture) -> dict[str, float]:
    """FLOPs of one forward pass per image (``"image"``) and per caption of full context length
    (``"text"``), counted on a ``transformers.CLIPModel`` of that architecture built on the meta
    device."""
    from transformers import CLIPConfig, CLIPModel  # heavy: only the estimate needs it

    if isinstance(architecture, str):
        if architecture not in CLIP_ARCHITECTURES:
            raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(CLIP_ARCHITECTURES)}")
        architecture = CLIP_ARCHITECTURES[architecture]
    a = architecture
    config = CLIPConfig(
        vision_config=dict(hidden_size=a.vision_width, intermediate_size=4 * a.vision_width,
                           num_hidden_layers=a.vision_layers, num_attention_heads=a.vision_heads,
                           patch_size=a.patch, image_size=a.image_size),
        text_config=dict(hidden_size=a.text_width, intermediate_size=4 * a.text_width,
                         num_hidden_layers=a.text_layers, num_attention_heads=a.text_heads,
                         max_position_embeddings=a.context),
        projection_dim=a.projection)
    with torch.device("meta"):
        model = CLIPModel(config)
        pixels = torch.zeros(1, 3, a.image_size, a.image_size)
        ids = torch.zeros(1, a.context, dtype=torch.long)
    out = {}
    for name, run in (("image", lambda: model.get_image_features(pixel_values=pixels)),
                      ("text", lambda: model.get_text_features(input_ids=ids))):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            run()
        out[name] = float(counter.get_total_flops())
    return out


def embedding_time_estimate(pairs: int, flops_per_pair: float, devices: int, device_tflops: float,
                            utilisation: float, scaling_efficiency: float = 1.0) -> float:
    """Estimated hours to embed ``pairs`` image-caption pairs at ``flops_per_pair`` on
    ``devices`` accelerators of peak ``device_tflops`` (TFLOP/s) running at ``utilisation`` of
    it, with ``scaling_efficiency`` (rate on N devices / N times the rate on one) beyond one
    device. An estimate from assumed rates, not a measurement."""
    if pairs < 0 or flops_per_pair <= 0 or devices < 1 or device_tflops <= 0:
        raise ValueError("pairs >= 0, flops_per_pair > 0, devices >= 1 and device_tflops > 0 are needed")
    if not 0 < utilisation <= 1 or not 0 < scaling_efficiency <= 1:
        raise ValueError(f"utilisation and scaling_efficiency must be in (0, 1], got {utilisation}, {scaling_efficiency}")
    rate = devices * device_tflops * 1e12 * utilisation * (scaling_efficiency if devices > 1 else 1.0)
    return pairs * flops_per_pair / rate / 3600

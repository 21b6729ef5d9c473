"""Real-ESRGAN's SRVGGNetCompact: a plain conv stack with PReLU and a pixel-shuffle tail.

The network predicts the residual over the nearest-upsampled input. Module names (`body.N`) match Real-ESRGAN's.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from upres.errors import ModelFileError

SUPPORTED_SCALES = (1, 2, 3, 4)


class SRVGGNetCompact(nn.Module):
    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        scale: int = 4,
    ) -> None:
        super().__init__()
        if scale not in SUPPORTED_SCALES:
            raise ModelFileError(f"compact scale {scale} is not supported; use one of {SUPPORTED_SCALES}")
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        if self.scale == 1:
            return out + x
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def is_compact(state: dict[str, torch.Tensor]) -> bool:
    return "body.0.weight" in state and "body.1.weight" in state and state["body.1.weight"].ndim == 1


def compact_hyperparameters(state: dict[str, torch.Tensor]) -> dict:
    indices = [int(m.group(1)) for k in state if (m := re.fullmatch(r"body\.(\d+)\.weight", k))]
    last = max(indices)
    num_feat, in_ch = state["body.0.weight"].shape[:2]
    tail = state[f"body.{last}.weight"].shape[0]
    # The tail has out_ch * scale^2 channels; out_ch is usually in_ch (RGB -> RGB, gray -> gray).
    for out_ch in (in_ch, 3, 1, 4):
        scale = math.isqrt(tail // out_ch) if tail % out_ch == 0 else 0
        if scale * scale * out_ch == tail and scale in SUPPORTED_SCALES:
            break
    else:
        raise ModelFileError(
            f"compact tail conv has {tail} channels: not out_channels x scale^2 for scales 1-4"
        )
    return {
        "num_in_ch": in_ch,
        "num_out_ch": out_ch,
        "num_feat": num_feat,
        "num_conv": (last - 2) // 2,
        "scale": scale,
    }


def compact_tags(params: dict) -> list[str]:
    return [f"{params['num_feat']}nf", f"{params['num_conv']}nc"]

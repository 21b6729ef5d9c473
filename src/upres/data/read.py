"""Image files -> float32 RGB tensors in [0, 1] for training and evaluation.

Gray is replicated to RGB; alpha is composited on white/black or dropped; 16-bit files keep their precision
(float32 holds every 16-bit level exactly). Decoding is `upres.io.images.read_image`, so EXIF orientation applies.
The whole file is decoded: PNG and JPEG (the formats datasets use) cannot be decoded one region at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from upres.io.images import DEFAULT_MAX_PIXELS, read_image

AlphaMode = Literal["white", "black", "drop"]
ColorMode = Literal["rgb", "y"]

# MATLAB rgb2ycbcr luma on [0, 1] values, scaled back to [0, 1] (the Y that the metrics and `color: y` use).
_Y = torch.tensor([65.481, 128.553, 24.966]).view(3, 1, 1) / 255.0


def array_to_rgb(arr: np.ndarray, alpha: AlphaMode = "white") -> torch.Tensor:
    """H x W x C uint8/uint16 array (C in 1..4) -> (3, H, W) float32 in [0, 1]."""
    peak = 65535.0 if arr.dtype == np.uint16 else 255.0
    t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div_(peak)
    c = t.shape[0]
    if c in (2, 4):
        color, a = t[:-1], t[-1:]
        if alpha != "drop":
            bg = 1.0 if alpha == "white" else 0.0
            color = color * a + bg * (1.0 - a)
        t = color
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    return t.contiguous()


def rgb_to_y(t: torch.Tensor) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] -> (1, H, W) BT.601 luma in [16/255, 235/255]."""
    return (t * _Y.to(t.device, t.dtype)).sum(0, keepdim=True) + 16.0 / 255.0


def read_rgb(
    path: str | Path,
    alpha: AlphaMode = "white",
    color: ColorMode = "rgb",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> torch.Tensor:
    """Read an image file as a (3, H, W) float32 tensor in [0, 1] ((1, H, W) luma with color="y").

    Raises `upres.io.images.ImageReadError` for unreadable or corrupt files.
    """
    t = array_to_rgb(read_image(path, max_pixels), alpha)
    return rgb_to_y(t) if color == "y" else t


def bit_depth(path: str | Path) -> int:
    """8 or 16: the precision LR images made from this file are quantised to."""
    return 16 if read_image(path).dtype == np.uint16 else 8

"""High-quality resampling of uint8/uint16 HxWxC arrays (for --outscale and --alpha resize): Pillow's Lanczos; and
of video frames on the model's device.

Channels are resampled independently: Pillow would premultiply RGBA/LA by alpha, but the model's colour is not
premultiplied, and independent planes keep gray gray and 16-bit 16-bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def output_size(width: int, height: int, outscale: float) -> tuple[int, int]:
    return max(1, round(width * outscale)), max(1, round(height * outscale))


def resize_array(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    if arr.shape[1] == width and arr.shape[0] == height:
        return arr
    out = np.empty((height, width, arr.shape[2]), arr.dtype)
    if arr.dtype == np.uint8 and arr.shape[2] >= 3:
        rgb = Image.fromarray(np.ascontiguousarray(arr[..., :3]), "RGB")
        out[..., :3] = np.asarray(rgb.resize((width, height), Image.Resampling.LANCZOS))
        start = 3
    else:
        start = 0
    for ch in range(start, arr.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(arr[..., ch]))  # mode L or I;16
        out[..., ch] = np.asarray(plane.resize((width, height), Image.Resampling.LANCZOS))
    return out


def resize_frames(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) model outputs to `size` on their device (`upres video --outscale`): bicubic, antialiased when it
    shrinks, in float32. Pillow's Lanczos, as images get, would take the frames to the host at the model's size."""
    return torch.nn.functional.interpolate(
        x.float(), size=size, mode="bicubic", antialias=True, align_corners=False
    )


# The largest side each format stores: past it the encoder fails, after the model ran, so it is checked before.
SIDE_LIMITS = {".webp": ("WebP", 16383), ".jpg": ("JPEG", 65500), ".jpeg": ("JPEG", 65500)}


def over_side_limit(target: Path, width: int, height: int, scale: int, outscale: float | None) -> str:
    """Why `target`'s format cannot hold the result of a width x height input ('' when it can)."""
    name, limit = SIDE_LIMITS.get(target.suffix.lower(), ("", 0))
    width, height = output_size(width, height, outscale) if outscale else (width * scale, height * scale)
    if not limit or max(width, height) <= limit:
        return ""
    return (
        f"the output would be {width}x{height}, over the {limit} pixels a side {name} can store; write PNG or "
        "TIFF (--format png, or -o NAME.png for one image) or use a smaller --outscale"
    )

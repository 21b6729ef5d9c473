"""1:1 comparison crops for the report: the most detailed region of each validation image, in four versions.

Whole validation strips shrunk to fit a page hide exactly what a 2x or 4x model changes; a small crop of the region
with the most gradient energy (edges, texture) shown pixel for pixel does not.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch

CROP = 128  # GT pixels a side: four of these side by side fit a laptop screen at 1:1


@dataclass
class Crops:
    """uint8 HxWx3 arrays of one region: the LR input (1/scale the size), bicubic, the model, the ground truth."""

    y: int
    x: int
    size: int
    lq: np.ndarray
    bicubic: np.ndarray
    sr: np.ndarray
    gt: np.ndarray


def detail_box(gt: torch.Tensor, scale: int, size: int = CROP) -> tuple[int, int, int]:
    """(y, x, size) in GT pixels of the square with the most gradient energy, aligned to the scale so that it
    covers whole LR pixels. `gt` is (3, H, W) or (1, 3, H, W) in [0, 1]."""
    img = gt.reshape(-1, *gt.shape[-2:]).float().mean(0).cpu().numpy().astype(np.float64)
    h, w = img.shape
    size = min(size, h - h % scale, w - w % scale)
    size -= size % scale
    if size <= 0:
        return 0, 0, 0
    energy = np.zeros_like(img)
    energy[:, 1:] += np.diff(img, axis=1) ** 2
    energy[1:, :] += np.diff(img, axis=0) ** 2
    integral = np.zeros((h + 1, w + 1))
    integral[1:, 1:] = energy.cumsum(0).cumsum(1)
    ys = np.arange(0, h - size + 1, scale)
    xs = np.arange(0, w - size + 1, scale)
    sums = (
        integral[ys[:, None] + size, xs[None, :] + size]
        - integral[ys[:, None], xs[None, :] + size]
        - integral[ys[:, None] + size, xs[None, :]]
        + integral[ys[:, None], xs[None, :]]
    )
    iy, ix = np.unravel_index(int(np.argmax(sums)), sums.shape)  # the first maximum: deterministic
    return int(ys[iy]), int(xs[ix]), size


def _u8(t: torch.Tensor) -> np.ndarray:
    t = t.reshape(-1, *t.shape[-2:])
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    return t[:3].float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def cut(
    box: tuple[int, int, int],
    scale: int,
    lq: torch.Tensor,
    bicubic: torch.Tensor,
    sr: torch.Tensor,
    gt: torch.Tensor,
) -> Crops:
    y, x, size = box
    ly, lx, ls = y // scale, x // scale, size // scale
    return Crops(
        y,
        x,
        size,
        _u8(lq[..., ly : ly + ls, lx : lx + ls]),
        _u8(bicubic[..., y : y + size, x : x + size]),
        _u8(sr[..., y : y + size, x : x + size]),
        _u8(gt[..., y : y + size, x : x + size]),
    )


def png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", optimize=True)
    return buf.getvalue()

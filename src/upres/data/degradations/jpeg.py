"""JPEG compression through the real libjpeg (Pillow), so the artifacts are those of files users have.

Real-ESRGAN approximates JPEG with a differentiable re-implementation (DiffJPEG); a real encoder is both exact and,
on CPU, faster. GPU batches take a round trip through host memory.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from upres.host_to_device import levels_to_unit

SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(C,H,W) float [0, 1] -> HxWxC uint8, rounding as 8-bit files do."""
    return img.detach().clamp(0, 1).mul(255).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def from_uint8(arr: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    t = torch.from_numpy(np.array(arr, copy=True))
    if t.dim() == 2:
        t = t.unsqueeze(-1)
    return levels_to_unit(t.permute(2, 0, 1).to(like.device), like.dtype)


def jpeg_bytes(arr: np.ndarray, quality: int, subsampling: str = "4:2:0") -> bytes:
    img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(quality), subsampling=SUBSAMPLING[subsampling])
    return buf.getvalue()


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        arr = np.asarray(im)
    return arr[..., None] if arr.ndim == 2 else arr


def jpeg_compress(
    img: torch.Tensor,
    quality: int | Sequence[int],
    subsampling: str | Sequence[str] = "4:2:0",
) -> torch.Tensor:
    """Encode and decode (C,H,W) or (N,C,H,W) at integer `quality` (1-100), one value or one per sample."""
    squeeze = img.dim() == 3
    x = img.unsqueeze(0) if squeeze else img
    n = x.shape[0]
    qs = [int(quality)] * n if np.ndim(quality) == 0 else [int(q) for q in quality]
    ss = [subsampling] * n if isinstance(subsampling, str) else list(subsampling)
    out = torch.stack([from_uint8(_decode(jpeg_bytes(to_uint8(x[i]), qs[i], ss[i])), x) for i in range(n)])
    return out[0] if squeeze else out

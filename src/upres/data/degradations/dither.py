"""Color quantization with dithering: what palette images (GIF, 8-bit PNG, old games, low bit depth) look like.

Palettes: `uniform` (2**bits levels per channel) or `adaptive` (N colors picked for the image by median cut).
Methods: `none` (nearest palette color), `ordered` (8x8 Bayer threshold), `floyd_steinberg` (error diffusion,
run by Pillow's C code because it is inherently sequential).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from upres.data.degradations.jpeg import from_uint8, to_uint8


def bayer_matrix(n: int = 8) -> np.ndarray:
    """Bayer threshold matrix with values (i + 0.5) / n^2 - 0.5 in (-0.5, 0.5)."""
    m = np.zeros((1, 1), dtype=np.int64)
    while m.shape[0] < n:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return (m + 0.5) / m.size - 0.5


def _bayer_like(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    b = torch.as_tensor(bayer_matrix(8), dtype=x.dtype, device=x.device)
    return b.repeat((h + 7) // 8, (w + 7) // 8)[:h, :w]


def quantize_uniform(img: torch.Tensor, bits: int, method: str = "none") -> torch.Tensor:
    """(C,H,W) in [0, 1] to 2**bits levels per channel."""
    levels = 2**bits - 1
    if method == "floyd_steinberg":
        return _floyd_uniform(img, levels)
    x = img.clamp(0, 1) * levels
    if method == "ordered":
        x = x + _bayer_like(x)
    elif method != "none":
        raise ValueError(f"unknown dither method {method!r}")
    return x.round().clamp(0, levels) / levels


def _floyd_uniform(img: torch.Tensor, levels: int) -> torch.Tensor:
    # Pillow diffuses error against any palette; one gray palette per channel gives per-channel bit depth.
    values = np.round(np.arange(levels + 1) * 255 / levels).astype(np.uint8)
    pal = Image.new("P", (1, 1))
    pal.putpalette(np.repeat(values, 3).tolist())
    arr = to_uint8(img)
    out = np.empty_like(arr)
    for c in range(arr.shape[2]):
        ch = Image.fromarray(arr[..., c]).convert("RGB")
        idx = np.asarray(ch.quantize(palette=pal, dither=Image.Dither.FLOYDSTEINBERG))
        out[..., c] = values[idx]
    return from_uint8(out, img)


def quantize_adaptive(img: torch.Tensor, colors: int, method: str = "none") -> torch.Tensor:
    """(3,H,W) in [0, 1] to at most `colors` colors picked by median cut."""
    arr = to_uint8(img)
    pil = Image.fromarray(arr)
    palette_img = pil.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    n_used = len(palette_img.getcolors(256))
    palette = np.asarray(palette_img.getpalette()[: 3 * n_used], dtype=np.uint8).reshape(-1, 3)
    if method == "floyd_steinberg":
        out = np.asarray(pil.quantize(palette=palette_img, dither=Image.Dither.FLOYDSTEINBERG).convert("RGB"))
        return from_uint8(out, img)
    if method not in ("none", "ordered"):
        raise ValueError(f"unknown dither method {method!r}")
    x = img.clamp(0, 1).permute(1, 2, 0).reshape(-1, 3) * 255
    pal = torch.as_tensor(palette, dtype=img.dtype, device=img.device)
    if method == "ordered":
        # Threshold spread ~ the typical gap between palette colors, so flat areas alternate neighbours.
        spread = 255.0 / max(1.0, round(len(palette) ** (1 / 3)))
        x = x + _bayer_like(img).reshape(-1, 1) * spread
    nearest = torch.cdist(x, pal).argmin(1)
    out = pal[nearest].reshape(img.shape[1], img.shape[2], 3).permute(2, 0, 1) / 255.0
    return out.contiguous()


def dither(
    img: torch.Tensor,
    palette: str | Sequence[str],
    amount: int | Sequence[int],
    method: str | Sequence[str] = "floyd_steinberg",
) -> torch.Tensor:
    """Quantize (C,H,W) or (N,C,H,W): `palette` "uniform" with `amount` bits or "adaptive" with `amount` colors."""
    squeeze = img.dim() == 3
    x = img.unsqueeze(0) if squeeze else img
    n = x.shape[0]
    pals = [palette] * n if isinstance(palette, str) else list(palette)
    amounts = [int(amount)] * n if np.ndim(amount) == 0 else [int(a) for a in amount]
    methods = [method] * n if isinstance(method, str) else list(method)
    outs = []
    for i in range(n):
        if pals[i] == "uniform":
            outs.append(quantize_uniform(x[i], amounts[i], methods[i]))
        elif pals[i] == "adaptive":
            outs.append(quantize_adaptive(x[i], amounts[i], methods[i]))
        else:
            raise ValueError(f"unknown palette {pals[i]!r}; choose uniform or adaptive")
    out = torch.stack(outs)
    return out[0] if squeeze else out

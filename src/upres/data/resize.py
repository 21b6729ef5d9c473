"""MATLAB's `imresize(..., 'bicubic')`: the resize the SR literature makes its LR images and bicubic baselines with.

Keys cubic with a = -0.5; when downscaling the kernel is stretched by 1/scale (antialiasing); image borders are
mirrored symmetrically (edge pixel repeated); the dimension with the smaller scale is resized first. Torch tensors
(C, H, W) / (N, C, H, W) and numpy arrays (H, W) / (H, W, C) are accepted; integer numpy arrays come back rounded
and clipped to their dtype as MATLAB returns them.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

KERNEL_WIDTH = 4.0


def cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


def contributions(
    in_length: int, out_length: int, scale: float, antialias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(weights, 0-based source indices), both (out_length, taps): MATLAB's `contributions` line by line."""
    width = KERNEL_WIDTH
    if scale < 1 and antialias:

        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * cubic(scale * x)

        width = width / scale
    else:
        kernel = cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(1, keepdims=True)
    # Symmetric padding: index -1 maps to 0, in_length maps to in_length - 1, and so on.
    aux = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = aux[np.mod(indices.astype(np.int64) - 1, aux.size)]
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def _output_size(shape: tuple[int, int], scale: float | None, size: tuple[int, int] | None):
    if size is not None:
        h, w = int(size[0]), int(size[1])
        return (h, w), (h / shape[0], w / shape[1])
    if scale is None:
        raise ValueError("imresize needs scale or size")
    return (math.ceil(shape[0] * scale), math.ceil(shape[1] * scale)), (float(scale), float(scale))


@functools.lru_cache(maxsize=64)
def _taps(
    in_len: int,
    out_len: int,
    scale: float,
    antialias: bool,
    ndim: int,
    dim: int,
    dtype: torch.dtype,
    device: torch.device,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(source indices, weights shaped to broadcast along `dim`) per tap. A training sample resizes crops of one
    size every time: working these out on each call took almost half of the resize."""
    w, idx = contributions(in_len, out_len, scale, antialias)
    weights = torch.from_numpy(w).to(device, dtype)
    index = torch.from_numpy(idx).to(device)
    shape = [1] * ndim
    shape[dim] = out_len
    return [(index[:, t].contiguous(), weights[:, t].reshape(shape)) for t in range(w.shape[1])]


def _resize_axis_torch(
    x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool
) -> torch.Tensor:
    taps = _taps(x.shape[dim], out_len, scale, antialias, x.ndim, dim, x.dtype, x.device)
    # One pass per tap keeps memory at one output's size (a gather of all taps at once is taps times larger).
    out = x.index_select(dim, taps[0][0]) * taps[0][1]
    for index, weights in taps[1:]:
        out.add_(x.index_select(dim, index) * weights)
    return out


def _resize_axis_numpy(x: np.ndarray, axis: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
    w, idx = contributions(x.shape[axis], out_len, scale, antialias)
    w = w.astype(x.dtype, copy=False)
    shape = [1] * x.ndim
    shape[axis] = out_len
    out = np.take(x, idx[:, 0], axis=axis) * w[:, 0].reshape(shape)
    for t in range(1, w.shape[1]):
        out += np.take(x, idx[:, t], axis=axis) * w[:, t].reshape(shape)
    return out


def imresize(
    x: torch.Tensor | np.ndarray,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> torch.Tensor | np.ndarray:
    """Resize like MATLAB's bicubic imresize; `size` is (height, width) and wins over `scale`."""
    if isinstance(x, torch.Tensor):
        if x.ndim not in (3, 4) or not x.is_floating_point():
            raise ValueError("imresize expects a float tensor shaped (C, H, W) or (N, C, H, W)")
        (oh, ow), (sh, sw) = _output_size(tuple(x.shape[-2:]), scale, size)
        hdim, wdim = x.ndim - 2, x.ndim - 1
        steps = [(hdim, oh, sh), (wdim, ow, sw)]
        if sw < sh:
            steps.reverse()
        out = x
        for dim, n, s in steps:
            out = _resize_axis_torch(out, dim, n, s, antialias)
        return out
    arr = np.asarray(x)
    if arr.ndim not in (2, 3):
        raise ValueError("imresize expects a numpy array shaped (H, W) or (H, W, C)")
    (oh, ow), (sh, sw) = _output_size(arr.shape[:2], scale, size)
    work = arr.astype(np.float64) if not np.issubdtype(arr.dtype, np.floating) else arr
    steps = [(0, oh, sh), (1, ow, sw)]
    if sw < sh:
        steps.reverse()
    for axis, n, s in steps:
        work = _resize_axis_numpy(work, axis, n, s, antialias)
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        return np.clip(np.round(work), info.min, info.max).astype(arr.dtype)
    return work

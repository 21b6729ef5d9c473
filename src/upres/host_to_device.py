"""Host-to-device copies that do not stall a training step.

A tensor made from host data and moved to a GPU is a pageable copy, which PyTorch waits for, so the GPU's queue
drains: inside every training step that stops the host from running ahead of the device, and an eager step (bound
by its host work) pays for it in full. Small constants (filter kernels, colour matrices, loss weights) are therefore
made once per device and dtype; data made on the host each step (a shuffle order) goes up through pinned memory.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import torch

_CACHE: dict[tuple, torch.Tensor] = {}
_LIMIT = 256  # a few kinds of kernel per run; the bound only keeps a long-lived process from growing


def constant(
    key: Hashable,
    make: Callable[[], torch.Tensor],
    device: torch.device | str,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """`make()` on `device` (cast to `dtype`), made and copied the first time `key` is asked for there.
    Shared between callers: never modify it."""
    full = (key, torch.device(device), dtype)
    tensor = _CACHE.get(full)
    if tensor is None:
        tensor = make().to(full[1], dtype)
        while len(_CACHE) >= _LIMIT:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[full] = tensor
    return tensor


def upload(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on `device` without waiting: queued from pinned memory on CUDA, as is on the CPU. The caller
    must not modify `tensor` afterwards (the copy may still be reading it)."""
    if device.type == "cpu":
        return tensor
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def levels_to_unit(levels: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """8-bit levels (0..255, any dtype) as the floats an 8-bit file gives, level / 255 as the CPU divides it, on any
    device: CUDA takes `tensor / 255.0` as a product with the reciprocal, one ulp off for 126 of the 256 levels, but
    divides exactly by a divisor on the device (a cached constant: no copy waits)."""
    dtype = dtype or (levels.dtype if levels.is_floating_point() else torch.float32)
    return levels.to(dtype).div_(constant("level_divisor", lambda: torch.tensor(255.0), levels.device, dtype))

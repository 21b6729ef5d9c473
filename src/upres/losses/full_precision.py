"""Losses that AMP must not run in half precision.

Under autocast, convolutions and matrix products run in bf16/fp16 whatever their inputs' dtype: a `.float()` inside a
loss is undone. SSIM's variances (E[x^2] - E[x]^2) then cancel catastrophically (1 - MS-SSIM came out 21x too large,
and below 0), and HSLuv's colour-space matrices lose ~2%. These losses run with autocast off, on float32 inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

F = TypeVar("F", bound=Callable[..., torch.Tensor])


def full_precision(forward: F) -> F:
    """Run a loss module's `forward(self, *tensors)` with autocast off and floating tensors in (at least) float32."""

    @functools.wraps(forward)
    def run(self, *args, **kwargs):
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        device = tensors[0].device.type if tensors else "cpu"

        def widen(a):
            if isinstance(a, torch.Tensor) and a.is_floating_point():
                return a.to(torch.promote_types(a.dtype, torch.float32))
            return a

        with torch.autocast(device, enabled=False):
            return forward(self, *map(widen, args), **{k: widen(v) for k, v in kwargs.items()})

    return run  # type: ignore[return-value]

"""A loss that must compute in float32 under autocast: the value and the gradient equal the float32 ones."""

from __future__ import annotations

import torch


def assert_float32_under_autocast(loss_fn, start: torch.Tensor, gt: torch.Tensor) -> None:
    """CPU bf16 autocast here; CUDA's fp16/bf16 autocast is switched off the same way in the losses."""
    plain, amp = start.clone().requires_grad_(True), start.clone().requires_grad_(True)
    expected = loss_fn(plain, gt)
    expected.backward()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss_fn(amp, gt)
    got.backward()
    assert got.dtype == torch.float32 and got.item() == expected.item()
    assert torch.equal(amp.grad, plain.grad)

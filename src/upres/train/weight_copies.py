"""The generator's convolution weights in the autocast dtype, made once an iteration instead of once a use.

Under autocast every convolution casts its float32 weight and bias to bf16/fp16 in each forward, and autograd casts
each of their gradients back: for RRDBNet 64/23, about 1400 cast operations and 700 autograd nodes an iteration, each
a kernel launch plus Python and autograd work on the host. An eager GPU step is bound by its host, and in the H200
profile these casts took about a sixth of its host time. Here the float32 parameters stay the model's (the
optimizer, the EMA and the checkpoints see nothing else): one multi-tensor copy makes their low-precision copies, the
convolutions run on those, and the copies' gradients go back to float32 gradient buffers in one multi-tensor copy (an
add for the later micro-batches of gradient accumulation). The numbers are autocast's: each weight rounded the same
way, each gradient cast the same way, accumulated in float32 (tested bit for bit against autocast's casts).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils import parametrize

# Modules whose forward is one call that autocast runs in the low-precision dtype, weight and bias as given.
_AUTOCAST_LOW = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)


def _copied(module: nn.Module) -> bool:
    # Exact types only: a subclass may use its weight in other ways; hooks and parametrizations may read or change it.
    return (
        type(module) in _AUTOCAST_LOW
        and not module._forward_pre_hooks
        and not module._forward_hooks
        and not parametrize.is_parametrized(module)
    )


class LowPrecisionWeights:
    """Low-precision copies of the trainable float32 weights and biases of `net`'s convolutions and linear layers."""

    def __init__(self, net: nn.Module, dtype: torch.dtype) -> None:
        self.slots = [
            (m, name)
            for m in net.modules()
            if _copied(m)
            for name in ("weight", "bias")
            if isinstance(p := m._parameters.get(name), nn.Parameter)
            and p.requires_grad
            and p.dtype == torch.float32
        ]
        self.masters = [m._parameters[name] for m, name in self.slots]
        self.copies = [torch.empty_like(p, dtype=dtype).requires_grad_() for p in self.masters]
        self.grad_buffers = [torch.empty_like(p) for p in self.masters]
        copied = {id(p) for p in self.masters}
        # A module reached twice (shared) would be swapped once: its parameter is listed once.
        self.others = [p for p in net.parameters() if p.requires_grad and id(p) not in copied]

    @property
    def inputs(self) -> list[torch.Tensor]:
        """The leaves G's backward fills: the copies, and the parameters that are not copied (PReLU's...)."""
        return self.copies + self.others

    def refresh(self) -> None:
        """The copies from the current float32 values (after an optimizer step, a resume or a roll-back)."""
        with torch.no_grad():
            torch._foreach_copy_(self.copies, self.masters)

    @contextlib.contextmanager
    def in_use(self) -> Iterator[None]:
        """The modules hold the copies for the forward and the losses inside; their parameters again after."""
        try:
            for (m, name), copy in zip(self.slots, self.copies, strict=True):
                m._parameters[name] = copy
            yield
        finally:
            for (m, name), master in zip(self.slots, self.masters, strict=True):
                m._parameters[name] = master

    def gather_grads(self) -> None:
        """The copies' gradients of one backward into the float32 parameters' gradients: assigned as autograd assigns
        a first gradient, added as it accumulates later ones."""
        fresh, fresh_bufs, acc, acc_grads = [], [], [], []
        for master, copy, buf in zip(self.masters, self.copies, self.grad_buffers, strict=True):
            if copy.grad is None:
                continue
            if master.grad is None:
                fresh.append(copy.grad)
                fresh_bufs.append(buf)
                master.grad = buf
            else:
                acc.append(master.grad)
                acc_grads.append(copy.grad)
            copy.grad = None
        if fresh:
            torch._foreach_copy_(fresh_bufs, fresh)
        if acc:
            torch._foreach_add_(acc, acc_grads)

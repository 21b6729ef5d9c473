"""Hooks that let a runner watch a model it does not own: a stop request checked between blocks, and whether an
output was not finite, kept on the device and read once per image or batch (no host sync per tile)."""

from __future__ import annotations

import threading

import torch
from torch.utils.hooks import RemovableHandle

from upres.infer.tiling import Upscaler


class Cancelled(Exception):
    """Raised inside a model call once `stop` is set, so a worker thread leaves its image between blocks."""


def stop_between_blocks(up: Upscaler, stop: threading.Event) -> list[RemovableHandle]:
    """Check `stop` before each model call and, on the CPU, before each of its top blocks and their children
    (RRDB's 23 blocks), so Ctrl+C does not wait for a whole image there. A GPU call takes milliseconds, so there
    the per-call check is enough and no per-block Python hook is added to the model's forward."""
    depth = 1 if up.device.type == "cpu" else -1

    def check(_module: torch.nn.Module, _args: object) -> None:
        if stop.is_set():
            raise Cancelled

    handles = []
    for module in {id(m): m for m in (up.module, _fp32_module(up), _runner(up))}.values():
        for name, sub in module.named_modules():
            if (name.count(".") if name else -1) <= depth:
                handles.append(sub.register_forward_pre_hook(check))
    return handles


class FiniteWatch:
    """Whether any full-precision output of the model since `reset()` held NaN or infinity.

    Only the fp32 module is watched: a half-precision output that is not finite is redone in fp32 by the
    Upscaler, and only when that one fails too is the result lost."""

    def __init__(self, up: Upscaler) -> None:
        self._flags: list[torch.Tensor] = []
        watched = [_fp32_module(up)]
        if up.dtype == torch.float32:  # fp32 tiles go through the compiled runner under --compile
            watched.append(_runner(up))
        self._handles = [m.register_forward_hook(self._record) for m in {id(m): m for m in watched}.values()]

    def _record(self, _module: torch.nn.Module, _args: object, out: torch.Tensor) -> None:
        self._flags.append(~torch.isfinite(out).all())

    def reset(self) -> None:
        self._flags.clear()

    def tripped(self) -> bool:
        return bool(self._flags) and bool(torch.stack(self._flags).any())

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def _fp32_module(up: Upscaler) -> torch.nn.Module:
    return getattr(up, "_fp32_module", up.module)


def _runner(up: Upscaler) -> torch.nn.Module:
    return getattr(up, "runner", up.module)

"""Spies for work that makes the host wait for a GPU, usable on the CPU: reads of a tensor's value by the host, and
host-to-device copies that are not queued from pinned memory; and for divisions CUDA computes otherwise than the
CPU."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

# Tensor methods that read a value back to the host (each waits for the GPU's queue to drain).
READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")


@contextlib.contextmanager
def host_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the READS methods called inside the block, in call order."""
    reads: list[str] = []
    for name in READS:
        real = getattr(torch.Tensor, name)

        def spy(self, *a, _name=name, _real=real, **k):
            reads.append(_name)
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, spy)
    try:
        yield reads
    finally:
        monkeypatch.undo()


class HostCopies(TorchFunctionMode):
    """What would be a host-to-device copy that waits for the GPU: a tensor made from host data for a device, or a
    CPU tensor moved to a device without `non_blocking`. On the CPU both are no-ops, so the call itself is judged."""

    def __init__(self) -> None:
        super().__init__()
        self.copies: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.tensor, torch.as_tensor) and kwargs.get("device") is not None:
            self._record(func.__name__)
        elif func is torch.Tensor.to and args[0].device.type == "cpu" and not kwargs.get("non_blocking"):
            names_device = "device" in kwargs or any(
                isinstance(a, (str, torch.device, torch.Tensor)) for a in args[1:]
            )
            if names_device and True not in args[1:]:
                self._record("Tensor.to")
        return func(*args, **kwargs)

    def _record(self, what: str) -> None:
        here = [f for f in traceback.extract_stack() if "/src/upres/" in f.filename]
        self.copies.append(
            f"{what} at {here[-1].filename.split('/src/')[-1]}:{here[-1].lineno}" if here else what
        )


class HostDivisors(TorchDispatchMode):
    """Divisions of a tensor by a Python number inside the block (`found`). CUDA computes them as a product with
    the number's reciprocal, one ulp off the CPU's quotient for some values (level / 255 for 126 of the 256 levels);
    a divisor on the tensor's own device is divided exactly everywhere. On the CPU the call itself is judged."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in (torch.ops.aten.div, torch.ops.aten.div_) and not isinstance(
            args[1], torch.Tensor
        ):
            self.found.append(f"{func} by {args[1]!r}")
        return func(*args, **(kwargs or {}))

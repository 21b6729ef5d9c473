"""`use_compile` on this machine: what torch.compile's default backend (inductor) needs, checked before a run writes
anything, and the one line a compile failure during a run ends with.

Inductor writes code at the first step: Triton kernels on a GPU, C++ on the CPU. Without Triton (PyTorch on Windows
comes without it; GPUs older than compute capability 7.0 are not supported by it) or without a working C++ compiler,
torch.compile fails there with a long traceback, after the run has started.
"""

from __future__ import annotations

import importlib.util

import torch


def missing_toolchain(device: torch.device) -> str | None:
    """Why inductor cannot generate code for `device` here, or None when it can (as far as can be told up front)."""
    if device.type == "cuda":
        if importlib.util.find_spec("triton") is None:
            return (
                "on a GPU it needs the triton package, which this PyTorch install lacks "
                "(pip install triton; on Windows, triton-windows)"
            )
        major, minor = torch.cuda.get_device_capability(device)
        if major < 7:
            return (
                f"its GPU code generator (Triton) needs a GPU of compute capability 7.0 or newer, and "
                f"{torch.cuda.get_device_name(device)} is {major}.{minor}"
            )
        return None
    if device.type == "cpu":
        try:
            from torch._inductor.cpp_builder import get_cpp_compiler
        except ImportError:  # a PyTorch that moved it: torch.compile itself will tell
            return None
        try:
            get_cpp_compiler()
        except Exception:  # noqa: BLE001 - InvalidCxxCompiler, or the search failing in its own way
            return "on the CPU it needs a working C++ compiler (g++ or clang++; MSVC on Windows), and none was found"
    return None


def toolchain_error(device: torch.device) -> str | None:
    """The one-line error for a run that asks for `use_compile` where it cannot work, or None."""
    why = missing_toolchain(device)
    if why is None:
        return None
    return f"use_compile: torch.compile cannot run on {device} here: {why}; install it, or set use_compile: false"


def is_compile_failure(exc: BaseException) -> bool:
    """torch.compile's backend failed (inductor could not compile a graph), as opposed to the model failing."""
    return isinstance(exc, torch._dynamo.exc.BackendCompilerFailed)


def compile_failure_text(exc: BaseException, iteration: int, newest_state: str) -> str:
    return (
        f"use_compile: torch.compile failed in iteration {iteration} ({_reason(exc)}); set use_compile: false to "
        f"train without it; {newest_state}"
    )


def _reason(exc: BaseException) -> str:
    """The line of the compiler's message that says what went wrong (it starts with "backend='inductor' raised:" and
    ends with advice about TORCHDYNAMO_VERBOSE)."""
    for line in str(exc).splitlines():
        line = line.strip()
        if line and not line.startswith(("backend=", "Set TORCHDYNAMO", "While executing")):
            return line if len(line) <= 200 else line[:197] + "..."
    return type(exc).__name__

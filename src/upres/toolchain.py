"""What torch.compile's default backend (inductor) needs on this machine to generate code for a device: Triton on a
GPU (PyTorch on Windows comes without it; GPUs older than compute capability 7.0 are not supported by it), a working
C++ compiler on the CPU. Without it torch.compile fails at the first call, with a long traceback."""

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

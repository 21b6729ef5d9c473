"""`use_compile` on this machine: what torch.compile needs, checked before a run writes anything (see
`upres.toolchain`), and the one line a compile failure during a run ends with."""

from __future__ import annotations

import torch

from upres.toolchain import missing_toolchain


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

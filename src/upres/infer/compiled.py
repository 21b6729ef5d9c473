"""`--compile`: the generator through torch.compile, one graph per input shape, with eager as the fallback.

- Shapes: compiled with `dynamic=False`, so each input shape gets its own specialised graph (and on CUDA its own
  CUDA graph). The tiler feeds every tile at one shape (see `Upscaler.bands`), so a batch of same-size images or
  a video compiles once or twice (whole tiles, plus the image itself when it is smaller than a tile). At most
  MAX_SHAPES shapes are compiled per model; further shapes (a folder of many different small images with
  `--tile 0`, a tile halved again and again after out-of-memory) run eager, with one note.
- Cost: each new shape is announced on stderr with its compile time (seconds on CPU, up to a minute or more on a
  GPU); the on-disk inductor cache makes later runs faster.
- Failure: without what the compiler needs (`upres.toolchain`: Triton on a GPU, a C++ compiler on the CPU) the
  model runs eager from the start, with a note. Anything the compiler raises (an op inductor cannot lower) switches
  this model to eager for the rest of the run, with a one-line note, and the call is redone eagerly. Out-of-memory
  is passed on untouched so `--tile auto` can halve the tile.
- Modes: on CUDA "reduce-overhead" (inductor kernels replayed as CUDA graphs: same-size tiles skip the per-kernel
  launch cost, which dominates small-tile inference); elsewhere torch.compile's default mode.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from upres.infer.autotile import is_out_of_memory
from upres.toolchain import missing_toolchain

MAX_SHAPES = 4


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def compile_mode(device: torch.device) -> str:
    return "reduce-overhead" if device.type == "cuda" else "default"


def _room_for_shapes() -> None:
    """Dynamo counts graphs per code object over every instance (one model copy per GPU, one per run in a
    long-lived process) and runs eager past its limit without a word: leave room for MAX_SHAPES per instance."""
    import torch._dynamo.config as cfg

    CompiledModel.made += 1
    name = "recompile_limit" if hasattr(cfg, "recompile_limit") else "cache_size_limit"
    setattr(cfg, name, max(getattr(cfg, name), MAX_SHAPES * CompiledModel.made))


class CompiledModel(nn.Module):
    """Calls a compiled copy of `module`, or `module` itself for shapes past MAX_SHAPES or after a failure.

    The eager module and the compiled function are kept out of this module's children on purpose: hooks that a
    runner adds to this wrapper (the stop check, the finite watch) run around the compiled call instead of being
    traced into it, and the compiled graph is built from a private copy that later hooks cannot reach."""

    made = 0

    def __init__(
        self, module: nn.Module, device: torch.device, notify: Callable[[str], None] = _stderr
    ) -> None:
        super().__init__()
        self.__dict__["eager"] = module
        self.cuda_graphs = device.type == "cuda"
        self.notify = notify
        self.shapes: set[tuple[int, ...]] = set()
        self._told_limit = False
        why = missing_toolchain(device)
        self.failed = why is not None
        if why is not None:  # said once, up front, instead of a failed compile at the first image
            notify(
                f"note: --compile: torch.compile cannot run on {device} here: {why}; running the model eager"
            )
            return
        _room_for_shapes()
        self.__dict__["_fn"] = torch.compile(copy.deepcopy(module), mode=compile_mode(device), dynamic=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.failed:
            return self.eager(x)
        shape = tuple(x.shape)
        new = shape not in self.shapes
        label = "x".join(str(d) for d in shape[1:])
        if new:
            if len(self.shapes) >= MAX_SHAPES:
                if not self._told_limit:
                    self._told_limit = True
                    self.notify(
                        f"note: --compile: {MAX_SHAPES} input shapes compiled already; other shapes run eager"
                    )
                return self.eager(x)
            self.notify(
                f"compiling the model for {label} inputs (once per input shape; this can take a minute)..."
            )
        started = time.perf_counter()
        try:
            out = self._call(x)
        except Exception as exc:
            # A compiled call that fails (also a later one: a CUDA graph re-recorded) is redone eagerly; if the model
            # itself is at fault, the eager call raises the real error.
            if is_out_of_memory(exc):
                raise
            self.failed = True
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            self.notify(f"note: --compile failed ({type(exc).__name__}: {first}); running the model eager")
            return self.eager(x)
        if new:
            self.shapes.add(shape)
            self.notify(f"compiled for {label} in {time.perf_counter() - started:.1f} s")
        return out

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        if not self.cuda_graphs:
            return self._fn(x)
        # A CUDA graph writes every replay's output into the same memory: the caller keeps several tiles' outputs
        # (a half-precision row is checked at once), so each is copied out before the next replay.
        torch.compiler.cudagraph_mark_step_begin()
        return self._fn(x).clone()

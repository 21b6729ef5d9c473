"""Ctrl+C during training: the iteration under way finishes first, so the state saved on the way out is that of a
whole number of optimizer steps and `--resume auto` continues bit-exactly.

A KeyboardInterrupt raised at an arbitrary bytecode of a step (after the optimizer step, before the scheduler's)
would save weights of N steps under iteration N+1 with a schedule one step behind. Holding the signal until the
iteration ends costs nothing per step (no syscall: the handler is installed once per run).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StepAbandoned(KeyboardInterrupt):
    """A second Ctrl+C inside an iteration: stop at once; the half-done iteration must not be saved."""


class HeldInterrupts:
    """`install()` (or `with HeldInterrupts() as held:`) sets the handler for the run; `with held.iteration():` marks
    the code that must finish once begun. Outside an iteration (validation, checkpoints) Ctrl+C interrupts at once, as
    before."""

    def __init__(self) -> None:
        self.requested = False
        self._inside = False
        self._previous = None
        self._installed = False

    def install(self) -> HeldInterrupts:
        # signal handlers can only be set from the main thread; elsewhere Ctrl+C never reaches this run anyway.
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def uninstall(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def __enter__(self) -> HeldInterrupts:
        return self.install()

    def __exit__(self, *exc) -> None:
        self.uninstall()

    def _handle(self, signum, frame) -> None:
        if not self._inside:
            raise KeyboardInterrupt
        if self.requested:
            raise StepAbandoned
        self.requested = True
        print(
            "\nCtrl+C: finishing this iteration, then saving the training state (Ctrl+C again stops at once, "
            "without saving it)",
            file=sys.stderr,
            flush=True,
        )

    @contextmanager
    def iteration(self) -> Iterator[None]:
        self._inside = True
        try:
            yield
        finally:
            self._inside = False
        if self.requested:
            raise KeyboardInterrupt

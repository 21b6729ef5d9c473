"""Ctrl+C during training: the iteration under way finishes first, so the state saved on the way out is that of a
whole number of optimizer steps and `--resume auto` continues bit-exactly.

A KeyboardInterrupt raised at an arbitrary bytecode of a step (after the optimizer step, before the scheduler's)
would save weights of N steps under iteration N+1 with a schedule one step behind. Holding the signal until the
iteration ends costs nothing per step (no syscall: the handler is installed once per run).

Under torchrun every rank must stop after the same iteration, since the save gathers from all of them: the ranks
share their Ctrl+C flags through one asynchronous CPU all-reduce per iteration (StopAgreement), never a GPU sync.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist

from upres.errors import Terminated


class StepAbandoned(KeyboardInterrupt):
    """A second Ctrl+C inside an iteration: stop at once; the half-done iteration must not be saved."""


class HeldInterrupts:
    """`install()` (or `with HeldInterrupts() as held:`) sets the handler for the run; `with held.iteration():` marks
    the code that must finish once begun. Outside an iteration (validation, checkpoints) Ctrl+C interrupts at once, as
    before."""

    def __init__(self, deferred: bool = False) -> None:
        # deferred (several processes): the first Ctrl+C only sets `requested`, wherever it lands; the ranks agree
        # on when to stop (StopAgreement), since one rank raising alone would leave the others in a collective.
        self.deferred = deferred
        self.requested = False
        self.signum: int | None = None  # the first stop signal: SIGTERM stops as Ctrl+C does, with exit 143
        self._inside = False
        self._previous: dict[int, object] = {}

    def install(self) -> HeldInterrupts:
        # signal handlers can only be set from the main thread; elsewhere Ctrl+C never reaches this run anyway.
        # SIGTERM (docker stop, a scheduler's preemption, torchrun passing either on) ended the run at once, losing
        # every iteration since the last checkpoint.
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def ignore_sigterm(self) -> None:
        """From now on, and after `uninstall`: SIGTERM is ignored (StopAgreement.leave_together)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if signal.SIGTERM in self._previous:
                self._previous[signal.SIGTERM] = signal.SIG_IGN

    def stop(self) -> KeyboardInterrupt:
        """What the stop raises: Terminated after SIGTERM (exit 143), else KeyboardInterrupt (130)."""
        return Terminated() if self.signum == signal.SIGTERM else KeyboardInterrupt()

    def __enter__(self) -> HeldInterrupts:
        return self.install()

    def __exit__(self, *exc) -> None:
        self.uninstall()

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
        if not self._inside and not self.deferred:
            raise self.stop()
        if self.requested:
            raise StepAbandoned
        self.requested = True
        what = "all processes finish the same iteration" if self.deferred else "finishing this iteration"
        name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl+C"
        print(
            f"\n{name}: {what}, then saving the training state (Ctrl+C again stops at once, without saving it)",
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
        if self.requested and not self.deferred:
            raise self.stop()


class HeldChildSignals:
    """SIGCHLD held for the training loop. PyTorch's handler (set with the loader's first workers) raises a dead
    worker's error wherever the main thread is, in the middle of a step too, where the iteration can be neither
    finished nor replayed; held, the error is raised by `check()` between iterations, where the loader can start
    again (feed.BatchFeed.recover)."""

    def __init__(self) -> None:
        self._previous = None
        self._fired = False
        self._installed = False

    def install(self) -> HeldChildSignals:
        if hasattr(signal, "SIGCHLD") and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGCHLD, self._record)
            self._installed = True
        return self

    def _record(self, signum, frame) -> None:
        self._fired = True

    def check(self) -> None:
        """Run the held signal's handler now, if one came: it raises when a loader worker died."""
        if self._fired:
            self._fired = False
            if callable(self._previous):
                self._previous(signal.SIGCHLD, None)

    def uninstall(self) -> None:
        if self._installed:
            signal.signal(signal.SIGCHLD, self._previous)
            self._installed = False


class StopAgreement:
    """Under several processes: every rank's Ctrl+C flag, MAX-reduced over a CPU (gloo) group one iteration behind,
    so all ranks read the same answer at the same iteration and stop after it, together, without a GPU sync and
    without blocking a step. A rank that got no SIGINT (another node) stops too."""

    def __init__(self, held: HeldInterrupts, group: object) -> None:
        self._held, self._group = held, group
        # One tensor for the whole run: gloo's threads never free a tensor Python made (see distributed.teardown).
        self._flag = torch.zeros(1, dtype=torch.int32)
        self._work = None

    def poll(self) -> bool:
        """Once per iteration on every rank: True when some rank asked to stop an iteration ago."""
        if self._work is not None:
            self._work.wait()
            self._work = None
            if int(self._flag[0]):  # a CPU tensor: no device sync
                return True
        self._flag[0] = int(self._held.requested)
        self._work = dist.all_reduce(self._flag, op=dist.ReduceOp.MAX, group=self._group, async_op=True)
        return False

    def leave_together(self) -> None:
        """After the interrupted run's save, on every rank: torchrun ends the other ranks (SIGTERM) as soon as one
        exits, so a rank done early would cut rank 0's log short and turn its exit 130 into a kill. Past this
        barrier every rank has finished its work and only leaves; SIGTERM can wait those moments."""
        dist.barrier(group=self._group)
        self._held.ignore_sigterm()

    def close(self) -> None:
        """At the end of the loop on every rank: the last reduction must complete before the group goes."""
        if self._work is not None:
            self._work.wait()
            self._work = None

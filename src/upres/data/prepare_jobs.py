"""Running `upres prepare`'s jobs, in this process or in worker processes, and stopping them on Ctrl+C or SIGTERM.

A stop drops the queued sources at once (the pool used to run every one of them first), ends the workers' jobs in
progress (each removes the temporary file of its write, so no half-written file is visible or left behind) and raises
`PrepareInterrupted` with what was finished, for the caller to report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext

from upres.errors import Terminated

# A worker in a long C call (decoding a huge image) sees SIGTERM only after it: then SIGKILL.
STOP_WORKERS_S = 5.0


@dataclass
class PrepareResult:
    done: int = 0
    skipped: int = 0
    small: int = 0  # sources too small for a tile (chunk) or for the scale (lr): nothing to write
    too_small: list[tuple[str, str]] = field(default_factory=list)  # (source, why): named in the summary
    notes: list[tuple[str, str]] = field(default_factory=list)  # (source, what to know), for sources done
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    total: int = 0


class PrepareInterrupted(KeyboardInterrupt):
    """Ctrl+C or SIGTERM during a run; `result` holds what was finished before it."""

    def __init__(self, result: PrepareResult, signum: int) -> None:
        super().__init__()
        self.result, self.signum = result, signum


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises `Terminated` meanwhile: it ended the process at once, with no message, leaving the temporary
    file of the write in progress. Only the main thread can set signal handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_jobs(
    fn: Callable[..., tuple],
    jobs: list[tuple],
    workers: int,
    progress: Callable[[int, int, str, str], None] | None = None,
    mp_context: BaseContext | None = None,
) -> PrepareResult:
    """`fn(*job)` for every job; it returns (status, files written[, why it is small, or a note on one done]) or
    raises for a failure."""
    result = PrepareResult(total=len(jobs))

    def account(job: tuple, outcome: tuple | BaseException) -> None:
        if isinstance(outcome, BaseException):
            result.failed.append((job[0], str(outcome)))
            status = "failed"
        else:
            status, n, *why = outcome
            result.written += n
            if status == "skipped":
                result.skipped += 1
            elif status == "small":
                result.small += 1
                result.too_small.append((job[0], why[0] if why else "too small"))
            else:
                result.done += 1
                result.notes += [(job[0], note) for note in why]
        if progress:
            progress(
                result.done + result.skipped + result.small + len(result.failed), len(jobs), job[0], status
            )

    try:
        if workers <= 1:
            for job in jobs:
                try:
                    out: tuple | BaseException = fn(*job)
                except Exception as exc:
                    out = exc
                account(job, out)
        else:
            _run_in_pool(fn, jobs, workers, account, mp_context)
    except KeyboardInterrupt as stop:
        raise PrepareInterrupted(result, getattr(stop, "signum", signal.SIGINT)) from None
    return result


def _run_in_pool(fn, jobs, workers, account, mp_context) -> None:
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=mp_context, initializer=_worker_setup, initargs=(os.getpid(),)
    )
    futures = {pool.submit(_work, fn, job): job for job in jobs}
    accounted: set[Future] = set()
    try:
        for fut in as_completed(futures):
            accounted.add(fut)
            exc = fut.exception()
            account(futures[fut], exc if exc is not None else fut.result())
    except KeyboardInterrupt:
        _stop(pool)
        for fut, job in futures.items():  # finished before the stop, not yet counted: their files are written
            if fut not in accounted and fut.done() and not fut.cancelled() and fut.exception() is None:
                account(job, fut.result())
        raise
    pool.shutdown()


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers (SIGTERM, then SIGKILL): the pool then fails the queued jobs, which are dropped. Cancelling
    them instead made Python 3.11's pool thread fail with InvalidStateError once the workers were gone, and
    shutdown(cancel_futures=True) still runs the jobs already handed to the workers' queue."""
    # The executor's own list: Python 3.14 has terminate_workers() for this.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        p.terminate()
    deadline = time.monotonic() + STOP_WORKERS_S
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in processes:
        if p.is_alive():
            p.kill()
            p.join()
    pool.shutdown(wait=True)


_in_job = False


class _Stopped(BaseException):
    """Raised in a worker by SIGTERM while it runs a job: unwinds the job, so its write removes its temporary file."""


def _worker_setup(parent: int) -> None:
    die_with_parent(parent)
    # Ctrl+C reaches the whole process group: the parent stops the pool, a worker alone would fail its job and
    # take the next one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: object) -> None:
    if _in_job:
        raise _Stopped
    os._exit(128 + signum)


def _work(fn: Callable[..., tuple], job: tuple) -> tuple:
    global _in_job
    _in_job = True
    try:
        return fn(*job)
    except _Stopped:
        os._exit(128 + signal.SIGTERM)  # not back to the pool's loop, which would take the next job
    finally:
        _in_job = False


def die_with_parent(parent: int) -> None:
    """Pool worker set-up: end with the parent process. After a `kill -9` of upres, its workers went on writing the
    jobs they held, then waited for more for ever (they hold the job pipe's other end too, so it never closes)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before that took effect
        os._exit(1)

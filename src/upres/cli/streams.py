"""What every command gets at the CLI entry: output to a reader that went away (`upres info M | head -1`) is
dropped instead of raising BrokenPipeError, and Ctrl+C ends with exit 130 once upres's own threads have stopped."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

THREAD_PREFIX = "upres-"  # every thread upres starts is named so
SETTLE_S = 5.0


class PipeSafe:
    """A text stream whose writes stop quietly once its reader closed the pipe: the file descriptor is pointed at
    the null device (Python's documented remedy), so the work goes on and the exit flush does not raise either.
    A file name the stream's encoding cannot show (a Windows console, an undecodable name) is written escaped."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            try:
                return self._stream.write(text)
            except UnicodeEncodeError:
                encoding = getattr(self._stream, "encoding", None) or "utf-8"
                self._stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
                return len(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


class _Discard(io.TextIOBase):
    """The stream of a process that has none (a windowed app: pythonw or a frozen GUI build sets sys.stdout and
    sys.stderr to None): output is dropped, as print() drops it, instead of failing the command."""

    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def pipe_safe_stdio() -> Iterator[None]:
    """sys.stdout and sys.stderr wrapped for the command, then put back. Calls overlapping in threads (an app's
    workers) wrapped each other's wrappers and put them back out of order, leaving the process's streams replaced
    after the last call ended: an outer call's wrapping serves the inner ones, and only the call that wrapped a
    stream puts it back, if it is still there."""
    saved = sys.stdout, sys.stderr
    ours = tuple(s if isinstance(s, PipeSafe) else PipeSafe(s or _Discard()) for s in saved)
    sys.stdout, sys.stderr = ours  # type: ignore[assignment]
    try:
        yield
    finally:
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            sys.stdout.flush()
        if sys.stdout is ours[0] and ours[0] is not saved[0]:
            sys.stdout = saved[0]
        if sys.stderr is ours[1] and ours[1] is not saved[1]:
            sys.stderr = saved[1]


def describe_os_error(exc: OSError) -> str:
    """`PATH: reason` (`A -> B: reason` for a rename) from an OSError, without Python's `[Errno N]`."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    return f"{where}: {reason}" if where else reason


def settle_threads(exit_code: int, leaving: bool = True) -> None:
    """After Ctrl+C: give upres's worker threads a moment to stop (each stops at its next check); one still running
    (a second Ctrl+C cut the orderly stop short) would be torn down inside torch or FFmpeg when the interpreter
    exits, which aborts the process ("terminate called without an active exception"), so leave at once instead.
    `leaving` False (main(argv) called from a notebook or an app): the process goes on, so it is not ended."""
    deadline = time.monotonic() + SETTLE_S
    for t in threading.enumerate():
        if t is threading.current_thread() or not t.name.startswith(THREAD_PREFIX):
            continue
        with contextlib.suppress(KeyboardInterrupt):
            t.join(max(0.0, deadline - time.monotonic()))
    if leaving and any(t.is_alive() and t.name.startswith(THREAD_PREFIX) for t in threading.enumerate()):
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(exit_code)

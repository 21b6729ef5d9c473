"""Progress for batch commands: a rich bar (files, input MP/s, ETA) on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from upres.console import say
from upres.errors import one_line
from upres.infer.batch import FileResult


class BatchProgress:
    """Pass `start` as on_start and the object itself as on_result to run_batch; use as a context manager."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, fancy: bool | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.fancy = (
            (not quiet and sys.stderr is not None and sys.stderr.isatty()) if fancy is None else fancy
        )
        self._bar = None
        self._task = None
        self._megapixels = 0.0
        self._started = time.perf_counter()

    def __enter__(self) -> BatchProgress:
        if self.fancy:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("upscale"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("files  {task.fields[mps]:.2f} input MP/s"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("upscale", total=None, mps=0.0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def start(self, total: int) -> None:
        self._started = time.perf_counter()
        if self._bar is not None:
            self._bar.update(self._task, total=total)

    def __call__(self, result: FileResult, finished: int, total: int) -> None:
        self._megapixels += result.input_megapixels
        mps = self._megapixels / max(1e-9, time.perf_counter() - self._started)
        line = one_line(self._describe(result, finished, total))
        if self._bar is not None:
            self._bar.update(self._task, completed=finished, total=total, mps=mps)
            if result.status == "failed" or result.notes or result.fp32_fallbacks:
                self._bar.console.print(line, markup=False, highlight=False)
        elif result.status == "failed" or (self.quiet and (result.notes or result.fp32_fallbacks)):
            # quiet silences progress, not what a user must know of a result (only a GIF's first frame upscaled)
            say(line, sys.stderr)
        elif not self.quiet:
            say(line, self.stream)

    @staticmethod
    def _describe(result: FileResult, finished: int, total: int) -> str:
        head = f"[{finished}/{total}]"
        if result.status == "failed":
            return f"{head} failed: {result.source}: {result.reason}"
        if result.status == "skipped":
            return f"{head} skipped: {result.source}: {result.reason}"
        size = f" ({result.size[0]}x{result.size[1]})" if result.size else ""
        extra = [f"{result.fp32_fallbacks} tile(s) redone in fp32"] if result.fp32_fallbacks else []
        extra += result.notes
        return f"{head} {result.source} -> {result.target}{size}" + (f"; {'; '.join(extra)}" if extra else "")

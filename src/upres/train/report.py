"""What a run shows: console lines, log.txt, TensorBoard scalars, and a self-contained report.html."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import threading
from pathlib import Path

from upres.console import say
from upres.io.atomic import atomic_write
from upres.train.report_html import Page, render_page

TB_CLOSE_SECONDS = 5.0
# Points a curve keeps for the report (its charts show ~400): print_freq 1 over a week-long run logged millions per
# loss, held in memory and rewritten to report_history.json at every checkpoint. Past twice this, a curve keeps only
# iterations that are multiples of a doubled stride (evenly spread, old and new alike), plus the latest point.
CURVE_POINTS = 10_000


class RunLog:
    def __init__(self, exp_dir: Path | None, use_tb: bool, enabled: bool = True) -> None:
        """`enabled`: this process speaks (under torchrun, process 0 only; a dry run, without a folder, too)."""
        self.console = enabled
        self.enabled = enabled and exp_dir is not None
        self.exp_dir = exp_dir
        self.history: dict[str, list[tuple[int, float]]] = {}
        self._strides: dict[str, int] = {}
        self.notes: list[str] = []
        self.tb = None  # opened by `open_tensorboard`, once the run knows the iteration it starts from
        self._tb_class = None
        self._log = None
        self._log_failed = False
        # Lines also come from the thread that forwards the loader workers' warnings (log_records).
        self._lock = threading.Lock()
        # The queue loader workers send their warnings to, while log_records holds it.
        self.worker_records = None
        if not self.enabled:
            return
        # backslashreplace: a file name that is not UTF-8 (extracted from a Windows zip) is written escaped, as the
        # console shows it; strict, its line ended the run with UnicodeEncodeError.
        self._log = open(exp_dir / "log.txt", "a", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        if use_tb:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb_class = SummaryWriter
            except ImportError:
                self.info("TensorBoard logging is off: install it with pip install 'upres[tb]'")

    def open_tensorboard(self, start_iter: int) -> None:
        """The TensorBoard writer of a run going on after `start_iter`: an earlier session's points after it (a crash
        after its last state) are hidden (torch's purge_step), else TensorBoard drew two values at each iteration
        that session logged and this one trains again."""
        if self._tb_class is not None and self.exp_dir is not None:
            self.tb = self._tb_class(
                str(self.exp_dir / "tb_logger"), purge_step=start_iter + 1 if start_iter else None
            )

    def rewind(self, iteration: int) -> None:
        """Training goes on from `iteration` again (the NaN guard's roll-back): the curves' later points, which it
        trains again, are dropped, in the report and in TensorBoard."""
        for points in self.history.values():
            points[:] = [p for p in points if p[0] <= iteration]
        if self.tb is not None:
            self.tb.close()
            self.tb = None
            self.open_tensorboard(iteration)

    def info(self, message: str) -> None:
        if not self.console:
            return
        with self._lock:
            self._write(message)

    def _write(self, message: str) -> None:
        stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        line = f"{stamp} {message}"
        say(line, sys.stdout)
        if self._log:
            try:
                self._log.write(line + "\n")
                self._log.flush()
                self._log_failed = False
            except OSError as exc:  # a full disk must not stop the run over a log line; the console has it
                if not self._log_failed:
                    say(
                        f"note: cannot write {self.exp_dir / 'log.txt'} ({exc.strerror or exc}); lines go to the "
                        "console only until it can",
                        sys.stderr,
                    )
                self._log_failed = True

    def note(self, message: str) -> None:
        self.notes.append(message)
        self.info(message)

    def scalars(self, iteration: int, values: dict[str, float], prefix: str = "") -> None:
        for k, v in values.items():
            points = self.history.setdefault(prefix + k, [])
            if points and points[-1][0] == iteration:  # a validation redone after a resume replaces its point
                points.pop()
            stride = self._strides.get(prefix + k, 1)
            if points and points[-1][0] % stride:  # only the latest point, not one the curve keeps
                points.pop()
            points.append((iteration, float(v)))
            while len(points) > 2 * CURVE_POINTS + 1:
                stride *= 2
                points[:] = [*(p for p in points[:-1] if p[0] % stride == 0), points[-1]]
                self._strides[prefix + k] = stride
            if self.tb:
                self.tb.add_scalar(prefix + k, v, iteration)

    def image(self, tag: str, image_chw, iteration: int) -> None:
        if self.tb:
            self.tb.add_image(tag, image_chw, iteration)

    def close(self) -> None:
        """Close log.txt and the TensorBoard writer. The writer's close joins its thread, which a Ctrl+C landing
        inside one of its calls can leave waiting forever; it gets TB_CLOSE_SECONDS, then the process goes on."""
        if self._log:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
        tb, self.tb = self.tb, None
        if tb is not None:
            closer = threading.Thread(target=tb.close, name="upres-tb-close", daemon=True)
            closer.start()
            closer.join(TB_CLOSE_SECONDS)
            if closer.is_alive():
                print(
                    f"note: TensorBoard's writer did not finish within {TB_CLOSE_SECONDS:g} s; its last events may "
                    "be missing (log.txt and the training state are complete)",
                    file=sys.stderr,
                    flush=True,
                )

    def warn(self, message: str) -> None:
        """A note the user must see even when stdout goes to a file: also on stderr."""
        self.note(message)
        # On a terminal the note above is already on screen; printed again on stderr it showed twice.
        if self.console and not _is_terminal(sys.stdout):
            say(f"note: {message}", sys.stderr)

    def write_report(self, page: Page) -> None:
        if not self.enabled:
            return
        page.history, page.notes = self.history, self.notes
        html = render_page(page)
        # A picture's name that is not UTF-8 escaped, as in log.txt.
        atomic_write(
            self.exp_dir / "report.html",
            lambda p: p.write_text(html, encoding="utf-8", errors="backslashreplace"),
        )


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False

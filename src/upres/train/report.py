"""What a run shows: console lines, log.txt, TensorBoard scalars, and a self-contained report.html."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from upres.io.atomic import atomic_write
from upres.train.report_html import Page, render_page


class RunLog:
    def __init__(self, exp_dir: Path | None, use_tb: bool, enabled: bool = True) -> None:
        self.enabled = enabled and exp_dir is not None
        self.exp_dir = exp_dir
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.notes: list[str] = []
        self.tb = None
        self._log = None
        if not self.enabled:
            return
        self._log = open(exp_dir / "log.txt", "a", encoding="utf-8")  # noqa: SIM115 - open for the run
        if use_tb:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(exp_dir / "tb_logger"))
            except ImportError:
                self.info("TensorBoard logging is off: install it with pip install 'upres[tb]'")

    def info(self, message: str) -> None:
        if not self.enabled and self.exp_dir is not None:
            return
        stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        line = f"{stamp} {message}"
        print(line, file=sys.stdout, flush=True)
        if self._log:
            self._log.write(line + "\n")
            self._log.flush()

    def note(self, message: str) -> None:
        self.notes.append(message)
        self.info(message)

    def scalars(self, iteration: int, values: dict[str, float], prefix: str = "") -> None:
        for k, v in values.items():
            self.history.setdefault(prefix + k, []).append((iteration, float(v)))
            if self.tb:
                self.tb.add_scalar(prefix + k, v, iteration)

    def image(self, tag: str, image_chw, iteration: int) -> None:
        if self.tb:
            self.tb.add_image(tag, image_chw, iteration)

    def close(self) -> None:
        if self._log:
            self._log.close()
        if self.tb:
            self.tb.close()

    def write_report(self, page: Page) -> None:
        if not self.enabled:
            return
        page.history, page.notes = self.history, self.notes
        html = render_page(page)
        atomic_write(self.exp_dir / "report.html", lambda p: p.write_text(html, encoding="utf-8"))

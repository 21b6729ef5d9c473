"""What a run shows: console lines, log.txt, TensorBoard scalars, and a self-contained report.html."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
import json
import sys
import threading
from pathlib import Path

from upres.io.atomic import atomic_write

TB_CLOSE_SECONDS = 5.0


class RunLog:
    def __init__(self, exp_dir: Path | None, use_tb: bool, enabled: bool = True) -> None:
        self.enabled = enabled and exp_dir is not None
        self.exp_dir = exp_dir
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.notes: list[str] = []
        self.tb = None
        self._log = None
        self._log_failed = False
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
            try:
                self._log.write(line + "\n")
                self._log.flush()
                self._log_failed = False
            except OSError as exc:  # a full disk must not stop the run over a log line; the console has it
                if not self._log_failed:
                    print(
                        f"note: cannot write {self.exp_dir / 'log.txt'} ({exc.strerror or exc}); lines go to the "
                        "console only until it can",
                        file=sys.stderr,
                        flush=True,
                    )
                self._log_failed = True

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
        if self.enabled or self.exp_dir is None:
            print(f"note: {message}", file=sys.stderr, flush=True)

    def write_report(self, options_text: str, best: dict, images: list[Path]) -> None:
        if not self.enabled:
            return
        atomic_write(
            self.exp_dir / "report.html",
            lambda p: p.write_text(render_report(self, options_text, best, images)),
        )


def _svg_plot(series: list[tuple[int, float]], title: str, width: int = 420, height: int = 160) -> str:
    if not series:
        return ""
    xs, ys = [s[0] for s in series], [s[1] for s in series]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    finite = [y for y in ys if y == y and abs(y) != float("inf")]
    if not finite:
        return ""
    y0, y1 = min(finite), max(finite) if max(finite) > min(finite) else min(finite) + 1e-9
    pad = 30
    pts = " ".join(
        f"{pad + (x - x0) / (x1 - x0) * (width - 2 * pad):.1f},{height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad):.1f}"
        for x, y in series
        if y in finite
    )
    return (
        f'<figure><figcaption>{html.escape(title)}</figcaption><svg width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><rect width="100%" height="100%" fill="#fafafa"/>'
        f'<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="{pts}"/>'
        f'<text x="{pad}" y="14" font-size="11">{y1:.4g}</text><text x="{pad}" y="{height - 8}" font-size="11">'
        f"{y0:.4g} (iter {x0}..{x1})</text></svg></figure>"
    )


def render_report(log: RunLog, options_text: str, best: dict, images: list[Path]) -> str:
    import base64

    plots = "".join(_svg_plot(v, k) for k, v in sorted(log.history.items()))
    imgs = "".join(
        f"<figure><figcaption>{html.escape(p.name)} (bicubic | output | ground truth)</figcaption>"
        f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"/></figure>'
        for p in images
        if p.is_file()
    )
    buf = io.StringIO()
    buf.write("<!doctype html><meta charset='utf-8'><title>upres report</title>")
    buf.write("<style>body{font-family:sans-serif;max-width:1200px;margin:auto}figure{display:inline-block}")
    buf.write("img{max-width:100%;image-rendering:pixelated}pre{background:#f4f4f4;padding:8px}</style>")
    buf.write(f"<h1>upres training report</h1><p>updated {dt.datetime.now():%Y-%m-%d %H:%M:%S}</p>")
    buf.write(f"<h2>Best</h2><pre>{html.escape(json.dumps(best, indent=2))}</pre>")
    buf.write(f"<h2>Curves</h2>{plots}<h2>Validation images</h2>{imgs}")
    if log.notes:
        buf.write("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in log.notes) + "</ul>")
    buf.write(f"<h2>Options</h2><pre>{html.escape(options_text)}</pre>")
    return buf.getvalue()

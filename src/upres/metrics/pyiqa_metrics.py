"""DISTS and TOPIQ through pyiqa, when it is installed and its weights are already on disk.

upres never downloads weights: pyiqa is asked to build the metric at start-up with downloads refused, and any failure
(package missing, a weights file not in the torch hub cache) becomes one note in the log, naming the file and where
it goes, instead of a crash mid-training.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator

import torch

# option-file metric type -> pyiqa metric name
PYIQA_NAMES = {
    "calculate_dists": "dists",
    "dists": "dists",
    "calculate_topiq": "topiq_fr",
    "topiq": "topiq_fr",
}


class WeightsNotOnDisk(Exception):
    def __init__(self, url: str, path: str) -> None:
        super().__init__(f"{url} -> {path}")
        self.url, self.path = url, path


@contextlib.contextmanager
def _no_downloads() -> Iterator[None]:
    """pyiqa and torchvision fetch missing weights from the internet; here a missing file is an error naming the
    path it belongs at (and pyiqa's "Downloading:" line, printed before it tries, is swallowed)."""
    import importlib

    import torch.hub

    def refuse(url: str, dst: str, *args: object, **kwargs: object) -> None:
        raise WeightsNotOnDisk(url, dst)

    modules = [torch.hub]
    with contextlib.suppress(ImportError):  # pyiqa imports torch.hub's function under its own name
        modules.append(importlib.import_module("pyiqa.utils.download_util"))
    saved = [m.download_url_to_file for m in modules]
    for m in modules:
        m.download_url_to_file = refuse
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for m, fn in zip(modules, saved, strict=True):
            m.download_url_to_file = fn


def build_pyiqa_metric(kind: str, device: torch.device) -> tuple[Callable[..., torch.Tensor], bool]:
    """(fn(sr, gt, crop_border, y_channel) -> per-image values, higher_is_better); raises RuntimeError with the reason."""
    try:
        import pyiqa
    except ImportError:
        raise RuntimeError(f"{kind} needs pyiqa and its weights: pip install pyiqa") from None
    name = PYIQA_NAMES[kind]
    try:
        with _no_downloads():
            metric = pyiqa.create_metric(name, device=device, as_loss=False)
    except WeightsNotOnDisk as exc:
        raise RuntimeError(f"{name} needs {exc.path}: download {exc.url} to that path") from None
    except Exception as exc:  # noqa: BLE001 - pyiqa raises many kinds; each means "not usable here"
        raise RuntimeError(f"pyiqa could not load {name} ({str(exc).splitlines()[0][:120]})") from None
    higher = not bool(getattr(metric, "lower_better", name == "dists"))

    def fn(sr: torch.Tensor, gt: torch.Tensor, crop_border: int = 0, y_channel: bool = False) -> torch.Tensor:
        if crop_border:
            sr = sr[..., crop_border:-crop_border, crop_border:-crop_border]
            gt = gt[..., crop_border:-crop_border, crop_border:-crop_border]
        with torch.no_grad():
            return metric(sr.clamp(0, 1), gt).reshape(sr.shape[0]).float()

    return fn, higher

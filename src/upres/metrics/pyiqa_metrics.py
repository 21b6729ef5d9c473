"""DISTS and TOPIQ through pyiqa, when it is installed and its weights are already on disk.

upres never downloads weights during training: pyiqa is asked to build the metric at start-up, and any failure
(package missing, weights not cached, no network) becomes one note in the log instead of a crash mid-training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# option-file metric type -> pyiqa metric name
PYIQA_NAMES = {
    "calculate_dists": "dists",
    "dists": "dists",
    "calculate_topiq": "topiq_fr",
    "topiq": "topiq_fr",
}


def build_pyiqa_metric(kind: str, device: torch.device) -> tuple[Callable[..., torch.Tensor], bool]:
    """(fn(sr, gt, crop_border, y_channel) -> per-image values, higher_is_better); raises RuntimeError with the reason."""
    try:
        import pyiqa
    except ImportError:
        raise RuntimeError(f"{kind} needs pyiqa and its weights: pip install pyiqa") from None
    name = PYIQA_NAMES[kind]
    try:
        metric = pyiqa.create_metric(name, device=device, as_loss=False)
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

"""Full-reference metrics by the names option files (`val.metrics.*.type`) and `upres eval --metrics` use.

Every metric is `fn(sr, gt, crop_border, y_channel) -> one value per image` on (N, 3, H, W) tensors in [0, 1], with
whether higher is better. Perceptual metrics need weights already on disk; when they cannot run here, `build_metric`
raises `MetricUnavailable` with the reason, and callers decide between a note (training) and an error (eval).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from upres.metrics.lpips import lpips_batch
from upres.metrics.pyiqa_metrics import PYIQA_NAMES, build_pyiqa_metric
from upres.metrics.torch_metrics import psnr_batch, ssim_batch

MetricFn = Callable[..., torch.Tensor]

BUILTIN: dict[str, tuple[MetricFn, bool]] = {
    "calculate_psnr": (psnr_batch, True),
    "psnr": (psnr_batch, True),
    "calculate_ssim": (ssim_batch, True),
    "ssim": (ssim_batch, True),
    "calculate_lpips": (lpips_batch, False),
    "lpips": (lpips_batch, False),
}
METRIC_NAMES = (*BUILTIN, *PYIQA_NAMES)


class MetricUnavailable(RuntimeError):
    """The metric exists but cannot run here (package or weights missing)."""


def build_metric(kind: str, device: torch.device | str = "cpu") -> tuple[MetricFn, bool]:
    """(fn, higher_is_better) for a metric name; KeyError for unknown names, MetricUnavailable with the reason."""
    kind = kind.lower()
    if kind in PYIQA_NAMES:
        try:
            return build_pyiqa_metric(kind, torch.device(device))
        except RuntimeError as exc:
            raise MetricUnavailable(str(exc)) from None
    if kind in ("lpips", "calculate_lpips"):
        from upres.metrics.lpips import unavailable_reason

        reason = unavailable_reason()
        if reason:
            raise MetricUnavailable(reason)
    if kind not in BUILTIN:
        raise KeyError(kind)
    return BUILTIN[kind]

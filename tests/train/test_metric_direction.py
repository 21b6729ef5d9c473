"""`val.metrics.<m>.better` (traiNNer-redux's key) may restate a metric's direction, never reverse it."""

from __future__ import annotations

import pytest

from upres.errors import ConfigError
from upres.train.config import ValOptions
from upres.train.validate import build_metrics


def test_better_that_agrees_with_the_metric_is_accepted():
    val = ValOptions(
        metrics={"psnr": {"type": "calculate_psnr", "better": "higher"}, "ssim": {"type": "calculate_ssim"}}
    )
    assert [(m.name, m.higher_is_better) for m in build_metrics(val)] == [("psnr", True), ("ssim", True)]


def test_better_that_reverses_the_metric_is_refused():
    # Obeyed, net_g_best was the worst-PSNR model and early stopping stopped on improvement.
    val = ValOptions(metrics={"psnr": {"type": "calculate_psnr", "better": "lower"}})
    with pytest.raises(ConfigError) as err:
        build_metrics(val)
    assert str(err.value) == (
        "val.metrics.psnr.better: 'lower', but calculate_psnr is higher-is-better; remove the key (upres knows each "
        "metric's direction)"
    )

"""Validation scores bicubic with the same metrics, keeps per-image scores and 1:1 crops of the most detailed part."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from upres.data import build_dataset
from upres.data.options import parse_dataset_options
from upres.data.resize import imresize
from upres.io.images import write_image
from upres.metrics.evaluate import bicubic_upscaler, evaluate_folder
from upres.train.config import ValOptions
from upres.train.crops import detail_box
from upres.train.validate import build_metrics, run_validation

METRICS = {
    "psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": True},
    "ssim": {"type": "calculate_ssim", "crop_border": 2, "test_y_channel": True},
}


class Nearest:
    """A stand-in model: nearest-neighbour 2x (worse than bicubic on smooth images)."""

    def __call__(self, lq: torch.Tensor, tile: int = 0, overlap: int = 16) -> torch.Tensor:
        return lq.repeat_interleave(2, -2).repeat_interleave(2, -1)


class Bicubic:
    def __call__(self, lq: torch.Tensor, tile: int = 0, overlap: int = 16) -> torch.Tensor:
        return imresize(lq, 2).clamp(0, 1)


@pytest.fixture
def val_folder(tmp_path):
    import skimage.data

    folder = tmp_path / "val"
    write_image(folder / "astronaut.png", skimage.data.astronaut()[100:196, 150:262])
    write_image(folder / "coffee.png", skimage.data.coffee()[50:130, 200:296])
    return folder


def _set(folder):
    return build_dataset(parse_dataset_options({"type": "pairedimagedataset", "dataroot_gt": str(folder)}), 2)


def test_bicubic_baseline_equals_upres_eval_bicubic(val_folder):
    val = ValOptions(metrics=METRICS)
    results = run_validation(Nearest(), {"val": _set(val_folder)}, build_metrics(val), val, 2, None, 1, True)
    reference = evaluate_folder(bicubic_upscaler(2), val_folder, 2)
    baseline = results["val"].bicubic
    assert baseline["psnr"] == pytest.approx(reference.psnr, abs=1e-9)
    assert baseline["ssim"] == pytest.approx(reference.ssim, abs=1e-9)
    per_image = {r.name: r.bicubic["psnr"] for r in results["val"].images}
    assert per_image == pytest.approx(
        {s.name.removesuffix(".png"): s.psnr for s in reference.per_image}, abs=1e-9
    )
    assert results["val"].means["psnr"] < baseline["psnr"]  # nearest loses to bicubic on photos


def test_a_bicubic_model_scores_exactly_the_baseline_and_means_are_of_the_images(val_folder):
    val = ValOptions(metrics=METRICS)
    results = run_validation(Bicubic(), {"val": _set(val_folder)}, build_metrics(val), val, 2, None, 1, True)
    r = results["val"]
    assert r.means == r.bicubic
    for name in METRICS:
        assert r.means[name] == pytest.approx(np.mean([i.values[name] for i in r.images]), abs=1e-12)
    assert [i.name for i in r.images] == ["astronaut", "coffee"]


def test_baseline_only_when_asked_and_progress_after_each_image(val_folder):
    val = ValOptions(metrics=METRICS)
    seen = []
    results = run_validation(
        Nearest(),
        {"a": _set(val_folder)},
        build_metrics(val),
        val,
        2,
        None,
        1,
        progress=lambda *a: seen.append(a),
    )
    assert results["a"].bicubic is None and all(i.bicubic is None for i in results["a"].images)
    assert seen == [("a", 1, 2), ("a", 2, 2)]


def test_detail_box_finds_the_textured_region_aligned_to_the_scale():
    gt = torch.full((3, 300, 400), 0.5)
    gt[:, 151:231, 221:301] = torch.rand(3, 80, 80, generator=torch.Generator().manual_seed(0))
    y, x, size = detail_box(gt, 4, 64)
    assert size == 64 and y % 4 == 0 and x % 4 == 0
    assert y > 151 - 4 and y + 64 <= 231 + 4 and x > 221 - 4 and x + 64 <= 301 + 4
    assert (
        detail_box(torch.rand(3, 50, 70), 4)[2] == 48
    )  # smaller than the crop: the largest square that fits
    assert detail_box(torch.zeros(3, 10, 6), 4) == (0, 0, 4)  # no detail anywhere: the first position


def test_crops_are_the_same_region_of_lr_bicubic_output_and_gt(val_folder):
    val = ValOptions(metrics=METRICS)
    ds = _set(val_folder)
    r = run_validation(Nearest(), {"val": ds}, build_metrics(val), val, 2, None, 1, with_crops=True)["val"]
    item = ds[0]
    crops = r.images[0].crops
    assert crops.gt.shape == crops.sr.shape == crops.bicubic.shape == (crops.size, crops.size, 3)
    assert crops.lq.shape == (crops.size // 2, crops.size // 2, 3)
    # the model is nearest 2x: its crop is the LR crop with every pixel doubled
    assert np.array_equal(crops.sr, crops.lq.repeat(2, 0).repeat(2, 1))
    expected = item["gt"][:, crops.y : crops.y + crops.size, crops.x : crops.x + crops.size]
    assert np.array_equal(crops.gt, expected.mul(255).round().byte().permute(1, 2, 0).numpy())


def test_validation_without_metrics_still_yields_images_and_a_page(val_folder):
    from upres.train.report_html import Page, render_page
    from upres.train.run_record import RunRecord

    val = ValOptions(metrics_enabled=False)
    results = run_validation(Nearest(), {"val": _set(val_folder)}, [], val, 2, None, 1, True, True)
    assert results["val"].means == {} and results["val"].bicubic == {}
    record = RunRecord("run")
    record.record(1, results, improved=False)
    text = render_page(Page(record, {}))
    assert text.count("data:image/png;base64,") == 8 and "<td>astronaut</td>" in text


def test_a_nan_score_is_never_the_best_and_does_not_block_later_ones():
    """A blown-up (finite) model scored NaN at the first validation: nothing compares greater than NaN, so it stayed
    the best for good, net_g_best was written from it, and every later validation counted as stale."""
    from upres.train.config import MetricOptions
    from upres.train.validate import BestTracker, Metric

    psnr = Metric("psnr", lambda *a: None, True, MetricOptions(type="calculate_psnr"))
    tracker = BestTracker(best={})
    assert tracker.update({"psnr": float("nan")}, [psnr], 5, "psnr") is False
    assert "psnr" not in tracker.best and tracker.stale == 1
    assert tracker.update({"psnr": 21.5}, [psnr], 10, "psnr") is True
    assert tracker.best["psnr"] == (21.5, 10) and tracker.stale == 0
    assert tracker.update({"psnr": float("nan")}, [psnr], 15, "psnr") is False
    assert tracker.best["psnr"] == (21.5, 10)

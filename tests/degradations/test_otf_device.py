"""`degrade_on: device`: the workers crop, the training device degrades, with the workers' random draws."""

from __future__ import annotations

import pytest
import torch
from PIL import Image, features
from torch.utils.data import default_collate

from devices import DEVICES
from host_waits import HostCopies, host_reads
from upres.data.otf_dataset import build_realesrgan_dataset
from upres.data.otf_device import degrade_batch

# Every kind of draw the pipeline makes (both JPEG passes in each chroma subsampling included).
BUSY = {
    "blur_prob": 1.0, "sinc_prob": 0.3, "kernel_range": [3, 11], "blur_prob2": 0.8, "sinc_prob2": 0.3,
    "kernel_range2": [3, 9], "resize_range": [0.3, 1.5], "resize_range2": [0.4, 1.2],
    "resize_mode_list": ["area", "bilinear", "bicubic", "lanczos"], "resize_mode_prob": [0.25, 0.25, 0.25, 0.25],
    "noise_prob": 1.0, "gaussian_noise_prob": 0.5, "noise_range": [1, 20], "gray_noise_prob": 0.4,
    "noise_prob2": 1.0, "gaussian_noise_prob2": 0.5, "final_sinc_prob": 0.8, "thicklines_prob": 0.5,
    "jpeg_prob": 0.9, "jpeg_prob2": 0.9, "jpeg_range": [20, 95], "jpeg_range2": [20, 95],
    "jpeg_subsampling_list": ["4:4:4", "4:2:2", "4:2:0"], "jpeg_subsampling_prob": [0.3, 0.3, 0.4],
}  # fmt: skip
# The device's JPEG is libjpeg-turbo's arithmetic in torch ops: equal to Pillow's only where Pillow uses that library.
libjpeg_turbo = pytest.mark.skipif(
    not features.check_feature("libjpeg_turbo"), reason="Pillow is not built on libjpeg-turbo"
)


@pytest.fixture
def hr_folder(tmp_path):
    from skimage import data

    root = tmp_path / "hr"
    root.mkdir()
    Image.fromarray(data.astronaut()[:150, :170]).save(root / "a.png")
    Image.fromarray(data.camera()[:90, :100]).save(root / "gray.png")
    Image.fromarray(data.coffee()[100:220, 200:330]).save(root / "c.png")
    return root


def _pairs(hr_folder, deferred: bool, degradations=None, **extra):
    ds = build_realesrgan_dataset(
        {"dataroot_gt": str(hr_folder), "lq_size": 24, **extra}, 4, 7, degradations or BUSY
    )
    ds.deferred = deferred
    indices = [(e, i) for e in (0, 1, 2) for i in range(len(ds))]
    items = [ds[k] for k in indices]
    return ds, default_collate(items)


@libjpeg_turbo
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"color": "y"},
        {"degradations": {**BUSY, "gt_usm": True}},
        {"degradations": {**BUSY, "lq_usm": True}},
    ],
    ids=["rgb", "y", "gt_usm", "lq_usm"],
)
def test_the_device_makes_the_pairs_the_workers_make(hr_folder, extra):
    """gt_usm sharpens the whole batch at once (nothing drawn), lq_usm each sample with its drawn radius."""
    _, workers = _pairs(hr_folder, deferred=False, **extra)
    ds, deferred = _pairs(hr_folder, deferred=True, **extra)
    assert "lq" not in deferred and deferred["gt_big"].shape[-1] == 96 + 32  # the crop and its margin
    lq, gt = degrade_batch(ds, deferred, torch.device("cpu"))
    # On the CPU the noise generator is the workers' too and the JPEG codec computes what libjpeg does, so every
    # pixel is equal, not just every draw.
    assert torch.equal(gt, workers["gt"])
    assert torch.equal(lq, workers["lq"])
    assert lq.shape == workers["lq"].shape and len({float(x.std()) for x in lq}) == len(lq)


def test_the_jpeg_passes_code_samples_of_similar_sizes_together(hr_folder, monkeypatch):
    """The samples' sizes differ between the resizes, yet a JPEG pass costs the device a batch of operations per
    group of similar sizes, not one per sample (the pixels are those of each sample alone: test above)."""
    import upres.data.otf_device as otf_device

    ds, batch = _pairs(hr_folder, deferred=True)
    calls = []
    real = otf_device.jpeg_compress_torch

    def spy(x, quality, subsampling, sizes=None):
        calls.append((tuple(x.shape[-2:]), sizes))
        return real(x, quality, subsampling, sizes=sizes)

    monkeypatch.setattr(otf_device, "jpeg_compress_torch", spy)
    degrade_batch(ds, batch, torch.device("cpu"))
    pictures = sum(len(sizes) for _, sizes in calls)
    assert pictures >= 12 and len(calls) <= pictures / 2  # both passes at probability 0.9 for 9 samples
    for (height, width), sizes in calls:
        assert (height, width) == (max(h for h, _ in sizes), max(w for _, w in sizes))
        assert len(sizes) * height * width <= otf_device.WASTE * sum(h * w for h, w in sizes)


def test_similar_sizes_share_a_canvas_and_far_ones_do_not():
    from upres.data.otf_device import _similar_sizes

    sizes = [(80, 80), (300, 300), (81, 79), (80, 80), (290, 310), (20, 20)]
    for waste, count in ((1.0, 5), (1.5, 2), (100, 1)):
        groups = _similar_sizes(sizes, waste)
        assert sorted(i for g in groups for i in g) == list(range(len(sizes)))
        assert len(groups) == count
        for g in groups:
            canvas = len(g) * max(sizes[i][0] for i in g) * max(sizes[i][1] for i in g)
            assert canvas <= waste * sum(sizes[i][0] * sizes[i][1] for i in g)
    assert [0, 3] in _similar_sizes(sizes, 1.0)  # equal sizes waste nothing
    assert _similar_sizes([], waste=1.5) == []


def test_a_deferred_item_holds_no_degraded_pixels_and_a_plain_one_is_unchanged(hr_folder):
    ds, _ = _pairs(hr_folder, deferred=False)
    plain = ds[(0, 0)]
    ds.deferred = True
    item = ds[(0, 0)]
    assert set(item) == {"gt_big", "draws", "gt_path"}
    ds.deferred = False
    again = ds[(0, 0)]
    assert torch.equal(plain["lq"], again["lq"]) and torch.equal(plain["gt"], again["gt"])


@pytest.mark.parametrize("device", DEVICES)
def test_degrading_on_the_device_never_waits_for_it(hr_folder, device, monkeypatch):
    """The draws are host numbers and the kernels, noise levels and gray choices go up pinned: a batch degraded on a
    GPU queues its work without waiting for the training step before it (on CUDA the driver's sync check stands
    behind the spies; on the CPU the calls themselves are judged)."""
    ds, batch = _pairs(hr_folder, deferred=True)
    degrade_batch(ds, batch, torch.device(device))  # the cached constants (USM and luma) are made once
    spy_copies = HostCopies()
    sync_check = torch.cuda.set_sync_debug_mode if device == "cuda" else lambda mode: None
    sync_check("error")
    try:
        with host_reads(monkeypatch) as reads, spy_copies:
            lq, _ = degrade_batch(ds, batch, torch.device(device))
    finally:
        sync_check("default")
    assert reads == [], f"host reads while degrading: {sorted(set(reads))}"
    assert spy_copies.copies == [], f"waiting copies while degrading: {sorted(set(spy_copies.copies))}"
    assert lq.device.type == device
    levels = lq.cpu()
    # The floats of 8-bit levels, as the CPU divides them.
    assert torch.equal(levels, (levels * 255).round() / 255)


def test_degrading_on_the_device_runs_in_full_float32_and_puts_tf32_back(hr_folder, monkeypatch):
    """On Ampere and newer GPUs cuDNN takes float32 convolutions as TF32 unless told not to, and `fast_matmul` lets
    products do the same: a quarter of an 8-bit level off the workers' LR. Judged on the flags, which the CPU has too."""
    import upres.data.otf_device as otf_device

    ds, batch = _pairs(hr_folder, deferred=True)
    seen = []

    def spied(stage):
        def spy(*a, **k):
            seen.append(
                (stage.__name__, torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())
            )
            return stage(*a, **k)

        return spy

    # The stages that blur, sharpen and resize (convolutions and matrix products), and the JPEG's DCT.
    for name in ("first_pass", "second_pass", "final_resize", "jpeg_compress_torch"):
        monkeypatch.setattr(otf_device, name, spied(getattr(otf_device, name)))
    before = (torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")  # what fast_matmul sets
    try:
        degrade_batch(ds, batch, torch.device("cpu"))
        after = (torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())
    finally:
        torch.backends.cudnn.allow_tf32, _ = before
        torch.set_float32_matmul_precision(before[1])
    assert {stage for stage, *_ in seen} == {
        "first_pass",
        "second_pass",
        "final_resize",
        "jpeg_compress_torch",
    }
    assert {(tf32, precision) for _, tf32, precision in seen} == {(False, "highest")}
    assert after == (True, "high")

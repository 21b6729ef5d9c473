from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from upres.data.otf_dataset import build_realesrgan_dataset
from upres.errors import ConfigError, UpresError


@pytest.fixture
def hr_folder(tmp_path: Path) -> Path:
    from skimage import data

    root = tmp_path / "hr"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(data.astronaut()[:150, :170]).save(root / "a.png")
    Image.fromarray(data.camera()[:90, :100]).save(
        root / "sub" / "gray.png"
    )  # gray and smaller than the crop
    rgba = np.dstack([data.coffee()[:120, :120], np.full((120, 120), 200, np.uint8)])
    Image.fromarray(rgba).save(root / "c.png")
    return root


def test_items_have_aligned_sizes_and_paths(hr_folder):
    ds = build_realesrgan_dataset({"dataroot_gt": str(hr_folder), "lq_size": 24}, scale=4, seed=1)
    assert len(ds) == 3
    for i in range(len(ds)):
        item = ds[i]
        assert item["gt"].shape == (3, 96, 96) and item["lq"].shape == (3, 24, 24)
        assert item["gt"].dtype == item["lq"].dtype == torch.float32
        assert Path(item["gt_path"]).is_file() and item["lq_path"] == item["gt_path"]


def test_reproducible_per_seed_and_index(hr_folder):
    opts = {"dataroot_gt": [str(hr_folder)], "gt_size": 64}
    a = build_realesrgan_dataset(opts, scale=2, seed=3)
    b = build_realesrgan_dataset(opts, scale=2, seed=3)
    for i in (2, 0, 1):  # access order does not matter
        assert torch.equal(a[i]["lq"], b[i]["lq"]) and torch.equal(a[i]["gt"], b[i]["gt"])
    assert not torch.equal(a[0]["lq"], build_realesrgan_dataset(opts, scale=2, seed=4)[0]["lq"])
    b.set_epoch(1)
    assert not torch.equal(a[0]["gt"], b[0]["gt"]) or not torch.equal(a[0]["lq"], b[0]["lq"])


def test_dataset_pickles_for_spawned_workers(hr_folder):
    # Windows and macOS start DataLoader workers with spawn: the dataset travels pickled.
    ds = build_realesrgan_dataset({"dataroot_gt": str(hr_folder), "lq_size": 16}, scale=2, seed=9)
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[1]["lq"], ds[1]["lq"])


def test_lq_is_a_degraded_version_of_gt(hr_folder):
    ds = build_realesrgan_dataset({"dataroot_gt": str(hr_folder), "lq_size": 32}, scale=2, seed=0)
    item = ds[0]
    down = torch.nn.functional.interpolate(item["gt"][None], scale_factor=0.5, mode="area")[0]
    err = float((item["lq"] - down).abs().mean())
    assert 0.005 < err < 0.25  # changed, but still the same picture
    assert float(torch.corrcoef(torch.stack([item["lq"].flatten(), down.flatten()]))[0, 1]) > 0.5


def test_meta_info_and_dataset_block_degradation_keys(hr_folder, tmp_path):
    meta = tmp_path / "meta.txt"
    meta.write_text("a.png (150,170,3)\nsub/gray.png (90,100,1)\n")
    opts = {"dataroot_gt": str(hr_folder), "meta_info": str(meta), "lq_size": 16, "name": "x", "type": "realesrgandataset",
            "kernel_list": ["iso"], "kernel_prob": [1.0], "blur_sigma": [0.2, 2.0]}  # fmt: skip
    ds = build_realesrgan_dataset(opts, scale=4, degradations={"jpeg_range": [60, 90]})
    assert [p.name for p in ds.paths] == ["a.png", "gray.png"]
    assert ds.degradations.kernel_list == ["iso"] and ds.degradations.jpeg_range == (60, 90)


@pytest.mark.parametrize(
    ("opts", "degr", "message"),
    [
        ({"lq_size": 16}, None, "datasets.train: dataroot_gt: Field required"),
        ({"dataroot_gt": "HR"}, None, "datasets.train: lq_size: set the LR crop size (or gt_size = lq_size x scale)"),
        ({"dataroot_gt": "HR", "lq_size": 8, "sinc_prob": 2}, None, "options: sinc_prob: probability 2.0 is outside [0, 1]"),
        ({"dataroot_gt": "HR", "lq_size": 8, "sinc_prob": 0.2}, {"sinc_prob": 0.1},
         "options: `sinc_prob` is set both at the top level (0.1) and in the dataset (0.2)"),
        ({"dataroot_gt": "HR", "gt_size": 30}, None, "gt_size: 30 is not a multiple of scale 4"),
        ({"dataroot_gt": "/nonexistent/missing", "lq_size": 8}, None, "dataroot_gt: no such folder /nonexistent/missing"),
    ],
)  # fmt: skip
def test_bad_options_are_refused(hr_folder, monkeypatch, opts, degr, message):
    monkeypatch.chdir(hr_folder.parent)
    Path("HR").mkdir(exist_ok=True)
    Image.new("RGB", (40, 40)).save("HR/x.png")
    with pytest.raises(ConfigError) as exc:
        build_realesrgan_dataset(opts, scale=4, degradations=degr)
    assert str(exc.value) == message


def test_corrupt_images_are_skipped_until_more_than_one_percent(tmp_path):
    root = tmp_path / "hr"
    root.mkdir()
    for i in range(150):
        Image.new("RGB", (16, 16), (i, 0, 0)).save(root / f"{i:03d}.png")
    (root / "000.png").write_bytes(b"not a png")
    ds = build_realesrgan_dataset({"dataroot_gt": str(root), "lq_size": 4}, scale=2)
    item = ds[0]
    assert item["gt_path"] != str(root / "000.png") and set(ds.guard.bad) == {str(root / "000.png")}
    (root / "001.png").write_bytes(b"broken too")
    with pytest.raises(UpresError, match=r"2 of 150 samples are bad \(more than 1%\)[\s\S]*001.png"):
        ds[1]


def test_alpha_and_color_keys_apply_as_in_the_paired_dataset(tmp_path):
    from upres.data.read import rgb_to_y

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    base = {"dataroot_gt": str(tmp_path), "lq_size": 32, "use_hflip": False, "use_rot": False}
    color, a = rgba[..., :3] / 255.0, rgba[..., 3:] / 255.0
    expected = {"white": color * a + (1 - a), "black": color * a, "drop": color}
    for mode, want in expected.items():
        gt = build_realesrgan_dataset({**base, "alpha": mode}, scale=1, seed=0)[0]["gt"]
        assert gt.shape == (3, 32, 32)
        crop = torch.from_numpy(want.transpose(2, 0, 1)).float()
        # The crop position is random: exactly one 32 px window of the expected image must match it.
        hits = [
            (y, x)
            for y in range(33)
            for x in range(33)
            if torch.allclose(crop[:, y : y + 32, x : x + 32], gt, atol=1e-6)
        ]
        assert len(hits) == 1, mode
    rgb = build_realesrgan_dataset(base, scale=2, seed=4)[0]
    luma = build_realesrgan_dataset({**base, "color": "y"}, scale=2, seed=4)[0]
    assert luma["gt"].shape == (1, 64, 64) and luma["lq"].shape == (1, 32, 32)
    assert torch.allclose(luma["gt"], rgb_to_y(rgb["gt"])) and torch.allclose(luma["lq"], rgb_to_y(rgb["lq"]))


def test_the_pair_is_cut_from_a_larger_degraded_crop_and_stays_aligned(hr_folder):
    """traiNNer-redux degrades a crop 32 px larger and cuts the pair inside it (blur borders fall outside, the JPEG
    grid lands anywhere); upres degraded the crop itself. With every degradation off but an area final resize, the
    LR is the area downscale of the GT it is paired with: the two cuts line up."""
    off = {"blur_prob": 0, "blur_prob2": 0, "noise_prob": 0, "noise_prob2": 0, "jpeg_prob": 0, "jpeg_prob2": 0,
           "final_sinc_prob": 0, "resize_prob": [0, 0, 1], "resize_prob2": [0, 0, 1], "gt_usm": False,
           "resize_mode_list3": ["area"], "resize_mode_prob3": [1.0]}  # fmt: skip
    ds = build_realesrgan_dataset(
        {"dataroot_gt": str(hr_folder), "lq_size": 8}, scale=4, seed=2, degradations=off
    )
    offsets = set()
    for i in range(len(ds)):
        item = ds[i]
        assert item["gt"].shape[-2:] == (32, 32) and item["lq"].shape[-2:] == (8, 8)
        area = torch.nn.functional.avg_pool2d(item["gt"][None], 4)[0]
        assert torch.equal(item["lq"], (area * 255).round().clamp(0, 255) / 255)
        offsets.add(tuple(item["gt"][:, 0, 0].tolist()))
    assert len(offsets) > 1


def test_blur_near_the_crop_edges_sees_the_pixels_beyond_them(hr_folder):
    """The point of the margin: a blur at the crop's edge reads the photo around it, not a reflection of the crop."""
    from upres.data.degradations.options import DegradationOptions
    from upres.data.degradations.pipeline import degrade, make_generators

    blur_only = {"blur_prob": 1, "kernel_list": ["iso"], "kernel_prob": [1], "kernel_range": [21, 21],
                 "blur_sigma": [4, 4], "sinc_prob": 0, "blur_prob2": 0, "noise_prob": 0, "noise_prob2": 0,
                 "jpeg_prob": 0, "jpeg_prob2": 0, "final_sinc_prob": 0, "resize_prob": [0, 0, 1],
                 "resize_prob2": [0, 0, 1], "gt_usm": False, "resize_mode_list3": ["area"],
                 "resize_mode_prob3": [1.0]}  # fmt: skip
    ds = build_realesrgan_dataset(
        {"dataroot_gt": str(hr_folder), "lq_size": 8}, scale=4, seed=2, degradations=blur_only
    )
    item = ds[0]  # the astronaut: larger than the crop and its margin
    rng, gen = make_generators(0)
    on_the_crop_alone = degrade(item["gt"], DegradationOptions(**blur_only), 4, rng, gen)
    inner = (slice(None), slice(3, 5), slice(3, 5))  # LR pixels more than the kernel's reach from the edges
    assert torch.allclose(item["lq"][inner], on_the_crop_alone[inner], atol=1.5 / 255)
    assert (item["lq"] - on_the_crop_alone).abs().max() > 4 / 255

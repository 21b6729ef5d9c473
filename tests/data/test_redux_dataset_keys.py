"""traiNNer-redux dataset keys: dataroot_lq_prob (real LRs mixed into OTF), lq_resize_mode, prefetch_factor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from upres.errors import ConfigError
from upres.train.config import parse_options
from upres.train.setup import build_train_dataset


def _folders(tmp_path, n=8):
    hr, lr = tmp_path / "hr", tmp_path / "lr"
    hr.mkdir()
    lr.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(hr / f"{i}.png")
        # Real LRs are flat grey: an OTF LR of a noise image never is.
        Image.fromarray(np.full((16, 16, 3), 77, dtype=np.uint8)).save(lr / f"{i}.png")
    return hr, lr


def _options(hr, lr, prob):
    return parse_options(
        {
            "name": "m",
            "scale": 2,
            "high_order_degradation": True,
            "dataroot_lq_prob": prob,
            "datasets": {
                "train": {
                    "type": "realesrgandataset",
                    "dataroot_gt": str(hr),
                    "dataroot_lq": str(lr),
                    "lq_size": 8,
                }
            },
            "network_g": {"type": "compact"},
        }
    )


def _is_real(item) -> bool:
    return bool(torch.all(item["lq"] == 77 / 255))


def test_probability_one_always_takes_the_real_lr_aligned_with_its_gt(tmp_path):
    hr, lr = _folders(tmp_path)
    ds, _ = build_train_dataset(_options(hr, lr, 1.0), seed=3)
    for i in range(len(ds)):
        item = ds[(0, i)]
        assert (
            _is_real(item)
            and item["lq_path"].endswith(f"lr/{i}.png")
            and item["gt_path"].endswith(f"hr/{i}.png")
        )
        assert item["lq"].shape[-1] * 2 == item["gt"].shape[-1] == 16


def test_mixed_choice_is_per_item_reproducible_and_near_the_probability(tmp_path):
    hr, lr = _folders(tmp_path, n=4)
    ds, _ = build_train_dataset(_options(hr, lr, 0.3), seed=3)
    draws = [ds.uses_real_lr(epoch, i) for epoch in range(500) for i in range(4)]
    assert 0.27 < np.mean(draws) < 0.33
    for epoch, i in [(0, 0), (0, 1), (1, 2), (2, 3), (7, 1)]:
        assert _is_real(ds[(epoch, i)]) == ds.uses_real_lr(epoch, i)
    plain, _ = build_train_dataset(_options(hr, lr, 0.0), seed=3)
    assert not hasattr(plain, "uses_real_lr") and not _is_real(plain[(0, 0)])


def test_missing_lr_is_one_line(tmp_path):
    hr, lr = _folders(tmp_path, n=3)
    (lr / "2.png").unlink()
    with pytest.raises(ConfigError, match="2.png"):
        build_train_dataset(_options(hr, lr, 0.5), seed=0)
    opts = _options(hr, lr, 0.5)
    opts.datasets["train"].dataroot_lq = None
    with pytest.raises(ConfigError, match=r"dataroot_lq_prob 0.5 needs datasets.train.dataroot_lq"):
        build_train_dataset(opts, seed=0)


@pytest.mark.parametrize("mode", ["area", "bilinear", "nearest-exact"])
def test_lq_resize_mode_makes_the_lr_of_gt_only_pairs(tmp_path, mode):
    import torch.nn.functional as F

    from upres.data import build_dataset
    from upres.data.options import parse_dataset_options
    from upres.io.images import array_to_tensor, read_image

    hr, _ = _folders(tmp_path, n=1)
    block = {"type": "pairedimagedataset", "dataroot_gt": str(hr), "lq_resize_mode": mode}
    item = build_dataset(parse_dataset_options(block), 2)[0]
    gt = array_to_tensor(read_image(hr / "0.png"))[None]
    # traiNNer-redux's resize_pt: bilinear and bicubic antialiased, every resize clamped.
    kwargs = {"align_corners": False, "antialias": True} if mode == "bilinear" else {}
    want = F.interpolate(gt, size=(16, 16), mode=mode, **kwargs).clamp(0, 1).mul(255).round().div(255)[0]
    torch.testing.assert_close(item["lq"], want)
    bicubic = build_dataset(parse_dataset_options({**block, "lq_resize_mode": None}), 2)[0]
    assert not torch.equal(bicubic["lq"], item["lq"])


def test_prefetch_factor_reaches_the_loader(tmp_path, monkeypatch):
    from upres.train import feed
    from upres.train.distributed import DistContext
    from upres.train.setup import build_run

    hr, _ = _folders(tmp_path, n=4)
    opts = parse_options(
        {
            "name": "p",
            "scale": 2,
            "datasets": {
                "train": {
                    "type": "pairedimagedataset",
                    "dataroot_gt": str(hr),
                    "lq_size": 8,
                    "batch_size_per_gpu": 2,
                    "num_worker_per_gpu": 1,
                    "prefetch_factor": 3,
                }
            },
            "network_g": {"type": "compact", "num_feat": 4, "num_conv": 1},
        }
    )
    monkeypatch.setattr("upres.train.setup.loader_workers", lambda requested, notes: 1)
    run = build_run(opts, torch.device("cpu"), seed=0, world_size=1)
    loader = feed.make_loader(run, 0, DistContext(), 0)
    assert loader.prefetch_factor == 3

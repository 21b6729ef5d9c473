"""Real-ESRGAN's own option files: its paired fine-tune (RealESRGANPairedDataset with high_order_degradation: false)
trained on synthetic LR instead of the user's pairs, and `l1_gt_usm`/`percep_gt_usm`/`gan_gt_usm`/`use_shuffle` were
refused as unknown keys."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from train_helpers import base_options, merge

from upres.data.degradations.sharpen import usm_sharpen
from upres.errors import ConfigError
from upres.train.config import parse_options
from upres.train.feed import BatchFeed
from upres.train.loop import train

USM = {"l1_gt_usm": True, "percep_gt_usm": True, "gan_gt_usm": False}


def _pairs(tmp_path, hr_folder):
    lq = tmp_path / "lq"
    lq.mkdir(exist_ok=True)
    for gt in hr_folder.iterdir():
        with Image.open(gt) as img:
            img.resize((32, 32), Image.BICUBIC).save(lq / gt.name)
    return lq


def _paired_finetune(tmp_path, hr_folder, **top) -> dict:
    """The shape of Real-ESRGAN's finetune_realesrgan_x4plus_pairdata.yml, at test sizes."""
    opts = merge(
        base_options(hr_folder, tmp_path / "exp", total_iter=2), {"high_order_degradation": False, **top}
    )
    ds = opts["datasets"]["train"]
    ds.update(type="RealESRGANPairedDataset", dataroot_lq=str(_pairs(tmp_path, hr_folder)), use_shuffle=True)
    return opts


def test_the_paired_fine_tune_reads_the_users_pairs(tmp_path, hr_folder):
    opts = parse_options(_paired_finetune(tmp_path, hr_folder, **USM))
    assert opts.train_dataset.type == "pairedimagedataset"
    assert opts.degradation == {"gt_usm": True}
    assert (
        "datasets.train: realesrganpaireddataset with high_order_degradation: false (Real-ESRGAN's paired fine-tune) "
        "is read as pairedimagedataset: its dataroot_lq files are the LR, nothing is made on the fly"
    ) in opts.compat_notes
    assert (
        "l1_gt_usm: true, percep_gt_usm: true, gan_gt_usm: false (Real-ESRGAN's) read as gt_usm: true: the "
        "generator's losses compare with the unsharp-masked GT, the discriminator with the GT as it is"
    ) in opts.compat_notes
    assert not [n for n in opts.compat_notes if "no effect" in n]  # gt_usm is read by pairs too
    # redux's meaning stands where the LR is made on the fly.
    otf = _paired_finetune(tmp_path, hr_folder, high_order_degradation=True)
    assert parse_options(otf).train_dataset.type == "realesrgandataset"


@pytest.mark.parametrize("sharpen", [True, False])
def test_pairs_train_on_the_sharpened_gt_with_gt_usm(tmp_path, hr_folder, monkeypatch, sharpen):
    """The LR is the user's file; the generator's losses compare with the unsharp-masked GT, as Real-ESRGAN's
    paired model does (l1_gt_usm, percep_gt_usm), or with the GT itself."""
    usm = dict(USM, l1_gt_usm=sharpen, percep_gt_usm=sharpen)
    seen = []
    real = BatchFeed.__call__

    def feed(self, it, micro):
        batch = real(self, it, micro)
        seen.append(batch)
        return batch

    monkeypatch.setattr(BatchFeed, "__call__", feed)
    train(parse_options(_paired_finetune(tmp_path, hr_folder, **usm)), device="cpu")
    lq, gt, target = seen[0]
    assert lq.shape[-1] * 2 == gt.shape[-1]
    if sharpen:
        assert torch.equal(target, usm_sharpen(gt, 0.5, 50, 10.0)) and not torch.equal(target, gt)
    else:
        assert target is gt


def test_combinations_upres_cannot_train_are_refused(tmp_path, hr_folder):
    opts = _paired_finetune(tmp_path, hr_folder, l1_gt_usm=True, percep_gt_usm=False, gan_gt_usm=False)
    with pytest.raises(
        ConfigError,
        match=r"^<options>: l1_gt_usm: true, percep_gt_usm: false, gan_gt_usm: false: upres sharpens",
    ):
        parse_options(opts)
    opts = merge(opts, {"percep_gt_usm": True, "gt_usm": False})
    with pytest.raises(ConfigError, match=r"and gt_usm: false disagree; keep one of them$"):
        parse_options(opts)


def test_use_shuffle(tmp_path, hr_folder):
    opts = _paired_finetune(tmp_path, hr_folder)
    assert not [n for n in parse_options(opts).compat_notes if "use_shuffle" in n]
    opts["datasets"]["train"]["use_shuffle"] = False
    assert (
        "datasets.train.use_shuffle: false has no effect: upres draws the training samples in a new random order "
        "each epoch (which the seed fixes)"
    ) in parse_options(opts).compat_notes


def test_the_model_crop_of_real_esrgans_training_file(tmp_path, hr_folder):
    """train_realesrgan_x4plus.yml gives `gt_size` at the top level (its model's crop of the degraded pair) as well as
    in the dataset: "unknown key 'gt_size' here; it belongs in datasets.<name>"."""
    opts = merge(
        base_options(hr_folder, tmp_path / "exp"), {"high_order_degradation": True, "gt_size": 32, **USM}
    )
    opts["datasets"]["train"]["type"] = "RealESRGANDataset"  # lq_size 16 at scale 2: a crop of 32
    parsed = parse_options(opts)
    assert parsed.train_dataset.lq_size == 16 and parsed.degradation["gt_usm"] is True
    opts["gt_size"] = 64
    with pytest.raises(
        ConfigError, match=r"gt_size 64 \(Real-ESRGAN's second crop, of the degraded pair\) differs"
    ):
        parse_options(opts)

"""What a traiNNer-redux user's option file holds after the edits its templates invite, found refused or read
differently by a sweep over redux's ESRGAN/Compact templates (commit 68629319): each is accepted as redux reads it,
or refused with the equivalent named."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import base_options, merge, write

from upres.cli import main


def _dry_run(tmp_path: Path, options: dict, capsys) -> tuple[int, str]:
    code = main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--dry-run"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_validation_datasets_are_not_read_while_validation_is_off(tmp_path, hr_folder, capsys):
    """Every redux template ships `val_enabled: false` with placeholder val folders ("ignored if val_enabled is
    false"); upres refused all 20 for the missing folders."""
    placeholder = {"type": "pairedimagedataset", "dataroot_gt": ["datasets/val/dataset1/hr"]}
    options = merge(base_options(hr_folder, tmp_path / "exp"), {"datasets": {"val": placeholder}})
    code, out = _dry_run(tmp_path, merge(options, {"val": {"val_enabled": False, "val_freq": 5}}), capsys)
    assert code == 0, out
    assert "datasets.val: not read, validation is off (val.val_enabled: false)" in out
    code, out = _dry_run(tmp_path, merge(options, {"val": {"val_enabled": True, "val_freq": 5}}), capsys)
    assert code == 2
    assert "error: datasets.val.dataroot_gt: no such folder datasets/val/dataset1/hr" in out


@pytest.mark.parametrize("resize", ["bicubic", None])
def test_redux_s_single_gt_dataset_is_a_gt_only_paired_set(tmp_path, hr_folder, capsys, resize):
    from upres.data import build_dataset
    from upres.train.config import parse_options

    block = {"type": "SingleGtDataset", "dataroot_gt": [str(hr_folder)], "dataroot_lq": ["lr_unused"]}
    block |= {"lq_resize_mode": resize} if resize else {}
    options = base_options(hr_folder, tmp_path / "exp")
    options["datasets"]["train"] = {**options["datasets"]["train"], **block}
    code, out = _dry_run(tmp_path, options, capsys)
    assert code == 0, out
    how = resize or "MATLAB bicubic (no lq_resize_mode)"
    assert (
        f"datasets.train: singlegtdataset is read as pairedimagedataset without dataroot_lq, each LR its GT resized "
        f"by {how}; its dataroot_lq is not read (neither does traiNNer-redux's)"
    ) in out
    # the same samples as the GT-only paired set written as upres spells it
    ours = {**options["datasets"]["train"], "type": "pairedimagedataset"}
    ours.pop("dataroot_lq")
    a = build_dataset(parse_options(options).datasets["train"], 2, 3)[0]
    options["datasets"]["train"] = ours
    b = build_dataset(parse_options(options).datasets["train"], 2, 3)[0]
    assert a["lq"].equal(b["lq"]) and a["gt"].equal(b["gt"])


def test_a_param_key_the_pretrain_lacks_falls_back_to_its_weights_with_a_note(tmp_path, hr_folder, capsys):
    """`param_key_g: params_ema` (BasicSR-derived files) on a fidelity-stage file holding only `params`: redux loads
    the file's weights with an info line; upres refused the file."""
    import torch

    from upres.archs import build_network
    from upres.train.config import parse_options
    from upres.train.setup import build_generator

    net, _ = build_network("compact", scale=2, num_feat=8, num_conv=2)
    torch.save({"params": net.state_dict()}, tmp_path / "fidelity.pth")
    path = {"pretrain_network_g": str(tmp_path / "fidelity.pth"), "param_key_g": "params_ema"}
    options = merge(base_options(hr_folder, tmp_path / "exp"), {"path": path})
    code, out = _dry_run(tmp_path, options, capsys)
    assert code == 0, out
    assert (
        f"pretrain {tmp_path / 'fidelity.pth'}: no 'params_ema' entry (it has: params): its weights are "
        "loaded instead; "
    ) in out
    notes: list[str] = []
    g = build_generator(parse_options(options), torch.device("cpu"), notes)
    for key, value in net.state_dict().items():
        assert g.net.state_dict()[key].equal(value), key


def test_param_key_d_falls_back_the_same_way(tmp_path):
    import torch

    from upres.archs.discriminators import build_discriminator, load_discriminator

    saved = build_discriminator("patchgandiscriminatorsn", num_feat=8, num_layers=2)
    torch.save({"params": saved.state_dict()}, tmp_path / "d.pth")
    net_d = build_discriminator("patchgandiscriminatorsn", num_feat=8, num_layers=2)
    report = load_discriminator(net_d, tmp_path / "d.pth", "params_ema")
    assert report.startswith("no 'params_ema' entry (it has: params): its weights are loaded instead; ")
    for key, value in saved.state_dict().items():
        assert net_d.state_dict()[key].equal(value), key

"""Option files: traiNNer-redux keys accepted, mistakes refused up front with the key path."""

from __future__ import annotations

import pytest
from train_helpers import base_options, merge, write

from upres.cli import main
from upres.errors import ConfigError
from upres.train.config import load_options, parse_options


def test_traiNNer_redux_keys_parse(tmp_path, hr_folder):
    opts = parse_options(
        merge(
            base_options(hr_folder, tmp_path),
            {
                "use_amp": True,
                "amp_bf16": True,
                "use_channels_last": True,
                "fast_matmul": True,
                "num_gpu": "auto",
                "datasets": {"train": {"accum_iter": 2, "gt_size": 32, "use_hflip": True, "use_rot": False}},
                "path": {"pretrain_network_g": None, "strict_load_g": False, "param_key_g": "params_ema"},
                "train": {
                    "scheduler": {"type": "MultiStepLR", "milestones": [5, 8], "gamma": 0.5},
                    "warmup_iter": 2,
                    "grad_clip": True,
                    "losses": [{"type": "charbonnierloss", "loss_weight": 1}],
                },
                "val": {"val_freq": 5, "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2}}},
                "logger": {"save_checkpoint_format": "pth"},
            },
        )
    )
    assert opts.train.scheduler.milestones == [5, 8]
    assert opts.datasets["train"].crop_size(2) == 16


def test_unknown_key_names_path_and_suggestion(tmp_path, hr_folder):
    bad = merge(base_options(hr_folder, tmp_path), {"train": {"optim_g": {"lrr": 1e-4}}})
    with pytest.raises(ConfigError, match=r"unknown key 'train.optim_g.lrr' \(did you mean 'lr'\?\)"):
        parse_options(bad, "opt.yml")


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"lq_size": 32}, r"unknown key 'lq_size' here; it belongs in datasets\.<name>$"),
        (
            {"train": {"batch_size_per_gpu": 4}},
            r"unknown key 'train.batch_size_per_gpu' here; it belongs in datasets",
        ),
        (
            {"datasets": {"train": {"ema_decay": 0.9}}},
            r"unknown key 'datasets.train.ema_decay' here; it belongs in train$",
        ),
    ],
)
def test_a_key_from_another_block_says_where_it_belongs(tmp_path, hr_folder, patch, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_options(merge(base_options(hr_folder, tmp_path), patch), "opt.yml")


def test_wrong_type_names_path(tmp_path, hr_folder):
    bad = merge(base_options(hr_folder, tmp_path), {"train": {"total_iter": "many"}})
    with pytest.raises(
        ConfigError, match=r"opt.yml: train.total_iter: Input should be a valid integer.*'many'"
    ):
        parse_options(bad, "opt.yml")


def test_unknown_network_lists_available(tmp_path, hr_folder, capsys):
    path = write(
        tmp_path / "o.yml", merge(base_options(hr_folder, tmp_path), {"network_g": {"type": "swinir"}})
    )
    assert main(["train", "-c", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "network type 'swinir' is not implemented" in err and "esrgan" in err and "compact" in err


def test_unknown_loss_lists_available(tmp_path, hr_folder, capsys):
    path = write(
        tmp_path / "o.yml",
        merge(
            base_options(hr_folder, tmp_path), {"train": {"losses": [{"type": "l3loss", "loss_weight": 1}]}}
        ),
    )
    assert main(["train", "-c", str(path), "--dry-run"]) == 2
    assert "l3loss" in capsys.readouterr().err


def test_bad_yaml_and_missing_file(tmp_path, capsys):
    (tmp_path / "bad.yml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_options(tmp_path / "bad.yml")
    assert main(["train", "-c", str(tmp_path / "nope.yml")]) == 2
    assert "option file not found" in capsys.readouterr().err


def test_missing_and_empty_dataset_folders(tmp_path, hr_folder, capsys):
    opts = merge(
        base_options(hr_folder, tmp_path), {"datasets": {"train": {"dataroot_gt": str(tmp_path / "missing")}}}
    )
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 2
    assert "missing" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    opts = merge(
        base_options(hr_folder, tmp_path), {"datasets": {"train": {"dataroot_gt": str(tmp_path / "empty")}}}
    )
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 2
    assert "empty" in capsys.readouterr().err


def test_crop_larger_than_images_and_batch_larger_than_dataset(tmp_path, hr_folder, capsys):
    opts = merge(base_options(hr_folder, tmp_path), {"datasets": {"train": {"lq_size": 64}}})
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 2
    assert "smaller than" in capsys.readouterr().err
    opts = merge(base_options(hr_folder, tmp_path), {"datasets": {"train": {"batch_size_per_gpu": 16}}})
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 2
    assert "batch_size_per_gpu 16" in capsys.readouterr().err


def test_dry_run_reports_time_and_memory_and_writes_nothing(tmp_path, hr_folder, capsys):
    exp = tmp_path / "exp"
    path = write(tmp_path / "o.yml", base_options(hr_folder, exp))
    assert main(["train", "-c", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run OK: one iteration took" in out and "peak memory" in out
    assert not exp.exists()


@pytest.mark.parametrize(
    ("key", "value"), [("num_feat", 0), ("num_conv", -2), ("num_feat", "wide"), ("num_feat", True)]
)
def test_network_sizes_must_be_positive_integers(tmp_path, hr_folder, capsys, key, value):
    opts = merge(base_options(hr_folder, tmp_path), {"network_g": {key: value}})
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"error: network_g.{key}: must be a positive integer, got {value!r}"
    )


def test_a_warm_up_below_minus_one_is_refused(tmp_path, hr_folder):
    """-5 meant no warm-up without a word (only -1 and 0 mean off)."""
    bad = merge(base_options(hr_folder, tmp_path), {"train": {"warmup_iter": -5}})
    with pytest.raises(ConfigError, match=r"train.warmup_iter: Input should be greater than or equal to -1"):
        parse_options(bad, "opt.yml")
    for off in (-1, 0):
        parse_options(merge(bad, {"train": {"warmup_iter": off}}), "opt.yml")


def test_warm_up_longer_than_the_run_is_noted(tmp_path, hr_folder, capsys):
    opts = merge(base_options(hr_folder, tmp_path), {"train": {"warmup_iter": 50}})
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 0
    assert "train.warmup_iter 50 is longer than train.total_iter 10" in capsys.readouterr().out


def test_dataset_channels_must_match_the_networks(tmp_path, hr_folder, capsys):
    luma = merge(base_options(hr_folder, tmp_path), {"datasets": {"train": {"color": "y"}}})
    assert main(["train", "-c", str(write(tmp_path / "a.yml", luma)), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: datasets.train: color: y gives 1-channel (luma) images but network_g takes 3 and gives 3 channels; "
        "set network_g.num_in_ch and num_out_ch to 1"
    )
    gray_net = merge(luma, {"network_g": {"num_in_ch": 1, "num_out_ch": 1}})
    assert main(["train", "-c", str(write(tmp_path / "b.yml", gray_net)), "--dry-run"]) == 0
    capsys.readouterr()
    with_d = merge(gray_net, {"network_d": {"type": "patchgandiscriminatorsn", "num_feat": 8}})
    assert main(["train", "-c", str(write(tmp_path / "c.yml", with_d)), "--dry-run"]) == 2
    assert (
        "network_d.num_in_ch is 3 but the generator gives 1-channel images; set it to 1"
        in capsys.readouterr().err
    )


def test_an_hsluv_loss_on_luma_images_says_only_its_lightness_trains(tmp_path, hr_folder, capsys):
    """Gray has no hue or saturation: the loss trained its lightness term alone without a word."""
    losses = [{"type": "l1loss", "loss_weight": 1.0}, {"type": "hsluvloss", "loss_weight": 1.0}]
    gray = {"datasets": {"train": {"color": "y"}}, "network_g": {"num_in_ch": 1, "num_out_ch": 1}}
    opts = merge(base_options(hr_folder, tmp_path, losses=losses), gray)
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 0
    note = (
        "hsluvloss on 1-channel images (color: y): gray has no hue or saturation, only its lightness trains"
    )
    assert note in capsys.readouterr().out
    rgb = base_options(hr_folder, tmp_path, losses=losses)
    assert main(["train", "-c", str(write(tmp_path / "rgb.yml", rgb)), "--dry-run"]) == 0
    assert "only its lightness trains" not in capsys.readouterr().out


def test_a_pretrain_of_which_nothing_fits_is_refused_even_non_strict(tmp_path, hr_folder, capsys):
    import torch

    from upres.archs.discriminators import build_discriminator

    path = tmp_path / "net_d_1000.pth"
    torch.save({"params": build_discriminator("dunet", num_feat=8).state_dict()}, path)
    opts = merge(
        base_options(hr_folder, tmp_path), {"path": {"pretrain_network_g": str(path), "strict_load_g": False}}
    )
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: path.pretrain_network_g {path}: none of its tensors fit network_g: it is a discriminator (dunet, "
        "num_feat 8), not an upscaling model; it is used as path.pretrain_network_d when training a GAN (the "
        "generator is the net_g_* file beside it)"
    )


def test_high_order_degradation_makes_the_training_set_otf_for_every_reader(tmp_path, hr_folder):
    opts = parse_options(
        merge(base_options(hr_folder, tmp_path), {"high_order_degradation": True}), "opt.yml"
    )
    assert (
        opts.train_dataset.type == "realesrgandataset"
    )  # what training, `doctor -c` and the checks all read


def test_degradation_keys_without_otf_are_validated_and_noted(tmp_path, hr_folder):
    paired = merge(base_options(hr_folder, tmp_path), {"blur_prob": 0.5, "jpeg_range": [60, 90]})
    notes = parse_options(paired, "opt.yml").compat_notes
    assert any(
        n.startswith("blur_prob, jpeg_range: no effect, datasets.train is pairedimagedataset") for n in notes
    )
    with pytest.raises(ConfigError, match=r"opt.yml: jpeg_range: .*"):
        parse_options(merge(paired, {"jpeg_range": [90, 60]}), "opt.yml")


def test_a_wrong_degradation_value_of_an_otf_file_is_refused_in_the_files_name(tmp_path, hr_folder, capsys):
    """The keys sit at the top level of the file: the message named `datasets.train: options:` (no such key)."""
    opts = merge(base_options(hr_folder, tmp_path / "exp"), {"high_order_degradation": True, "blur_prob": 2})
    path = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(path), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {path}: blur_prob: probability 2.0 is outside [0, 1]"
    )


def test_an_lr_folder_beside_otf_is_noted_as_unread(tmp_path, hr_folder, capsys):
    opts = merge(base_options(hr_folder, tmp_path / "exp"), {"high_order_degradation": True})
    opts["datasets"]["train"]["dataroot_lq"] = str(hr_folder)
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert (
        "datasets.train.dataroot_lq is not read: realesrgandataset makes each LR"
        in captured.out + captured.err
    )


def test_redux_lq_usm_keys_reach_the_pipeline(tmp_path, hr_folder):
    from upres.train.setup import build_train_dataset

    patch = {"high_order_degradation": True, "lq_usm": True, "lq_usm_radius_range": [1, 9], "queue_size": 0}
    opts = parse_options(merge(base_options(hr_folder, tmp_path), patch), "opt.yml")
    dataset, _ = build_train_dataset(opts, seed=0)
    assert dataset.degradations.lq_usm and dataset.degradations.lq_usm_radius_range == (1, 9)


def test_high_order_degradation_accepts_kernel_keys_in_a_paired_block(tmp_path, hr_folder):
    opts = merge(base_options(hr_folder, tmp_path), {"high_order_degradation": True})
    opts["datasets"]["train"].update(kernel_range=[5, 17], blur_sigma=[0.2, 2])
    parsed = parse_options(opts, "opt.yml")
    assert parsed.train_dataset.type == "realesrgandataset"
    assert parsed.train_dataset.degradation == {"kernel_range": [5, 17], "blur_sigma": [0.2, 2]}

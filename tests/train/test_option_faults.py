"""Option files that used to crash `upres train --dry-run` with a traceback: each is one line and exit 2."""

from __future__ import annotations

import pytest
from train_helpers import base_options, merge, small_gan, write

from upres.cli import main

CASES = {
    "datasets_list": (
        {"datasets": [1, 2]},
        "datasets: expected a mapping of keys (datasets: {...}), got a list",
    ),
    "network_g_string": (
        {"network_g": "compact"},
        "network_g: expected a mapping of keys (network_g: {...}), got the str 'compact'",
    ),
    "metrics_list": (
        {"val": {"metrics": ["psnr"]}},
        "val.metrics: expected a mapping of keys, got a list",
    ),
    "losses_mapping": (
        {"train": {"losses": {"type": "l1loss"}}},
        "train.losses: expected a list of entries (- type: ...), got a mapping",
    ),
    # pydantic's "a valid dictionary or instance of LossOptions" named a class the file never mentions.
    "loss_entry_string": (
        {"train": {"losses": ["l1loss"]}},
        "train.losses.0: expected a mapping of keys (- type: ...), got the str 'l1loss'",
    ),
    "metric_null": (
        {"val": {"metrics": {"psnr": None}}},
        "val.metrics.psnr: expected a mapping of keys (psnr: {...}), got null; give its keys or remove it",
    ),
    "dataset_null": (
        {"datasets": {"val": None}},
        "datasets.val: expected a mapping of keys (val: {...}), got null; give its keys or remove it",
    ),
    "optimizer_string": (
        {"train": {"optim_g": "AdamW"}},
        "train.optim_g: expected a mapping of keys (optim_g: {...}), got the str 'AdamW'",
    ),
    "seed_too_big": (
        {"manual_seed": 2**70},
        f"manual_seed: Input should be less than 4294967296 (got {2**70})",
    ),
    "seed_negative": (
        {"manual_seed": -5},
        "manual_seed: Input should be greater than or equal to 0 (got -5)",
    ),
    "lr_infinite": (
        {"train": {"optim_g": {"lr": float("inf")}}},
        "train.optim_g.lr: Input should be a finite number (got inf)",
    ),
    "beta_of_one_or_more": (
        {"train": {"optim_g": {"betas": [1.5, 0.99]}}},
        "train.optim_g.betas.0: Input should be less than 1 (got 1.5)",
    ),
    # traiNNer-redux gives a negative weight a meaning of its own; a bare range error left the user guessing.
    "negative_loss_weight": (
        {"train": {"losses": [{"type": "l1loss", "loss_weight": -0.5}]}},
        "train.losses.0.loss_weight: -0.5: traiNNer-redux reads a negative weight as 'compare the output with a "
        "bicubic upscale of the LR at |weight|', which upres does not do; give a weight >= 0 (0 turns the loss off) "
        "(got -0.5)",
    ),
    "eps_nan": (
        {"train": {"optim_g": {"eps": float("nan")}}},
        "train.optim_g.eps: Input should be a finite number (got nan)",
    ),
    # A metric the validation never computes stopped the run at its first validation, without a best model.
    "early_stop_metric_not_computed": (
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": "HR"}},
            "val": {"val_freq": 2, "metrics": {"psnr": {"type": "calculate_psnr"}}},
            "train": {"early_stop_metric": "lpips", "early_stop_patience": 1},
        },
        "(top level): train.early_stop_metric 'lpips' is not a validation metric of this file (val.metrics has "
        "psnr); name one of val.metrics, or remove the key",
    ),
    "early_stop_metric_without_validation": (
        {"train": {"early_stop_metric": "psnr"}},
        "(top level): train.early_stop_metric 'psnr' is not a validation metric of this file (validation computes "
        "none); name one of val.metrics, or remove the key",
    ),
    # A stray brace passed the count of '{}' and failed, as a traceback, when the files were paired.
    "filename_tmpl_stray_brace": (
        {"datasets": {"train": {"filename_tmpl": "{}x2{"}}},
        "datasets.train.filename_tmpl: must contain exactly one '{}' (where the GT stem goes) and no other braces "
        "(write '{{' or '}}' for a literal one) (got '{}x2{')",
    ),
    "filename_tmpl_named_field": (
        {"datasets": {"train": {"filename_tmpl": "{}_{x}"}}},
        "datasets.train.filename_tmpl: must contain exactly one '{}' (where the GT stem goes) and no other braces "
        "(write '{{' or '}}' for a literal one) (got '{}_{x}')",
    ),
    "more_lr_folders_than_gt_folders": (
        {"datasets": {"train": {"dataroot_lq": ["a", "b"]}}},
        "datasets.train: dataroot_lq has 2 folder(s) but dataroot_gt has 1; give one LR folder per GT folder, in "
        "the same order",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_option_file_is_one_line(tmp_path, hr_folder, capsys, case):
    patch, message = CASES[case]
    opts = merge(base_options(hr_folder, tmp_path / "exp"), patch)
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    assert capsys.readouterr().err == f"error: {cfg}: {message}\n"
    assert not (tmp_path / "exp").exists()


def test_the_largest_seed_trains(tmp_path, hr_folder, capsys):
    opts = merge(base_options(hr_folder, tmp_path / "exp"), {"manual_seed": 2**32 - 1})
    opts["datasets"]["train"]["num_worker_per_gpu"] = 1  # the seed reaches a loader worker too
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 0, (
        capsys.readouterr().err
    )


def test_a_key_given_twice_is_one_line_naming_both_lines(tmp_path, capsys):
    """YAML loaders keep the last of two equal keys silently: `scale: 2` then `scale: 4` trained a 4x model."""
    cfg = tmp_path / "o.yml"
    cfg.write_text("name: t\nscale: 2\ntrain:\n  total_iter: 3\n  total_iter: 4\n")
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    assert capsys.readouterr().err == (
        f"error: {cfg}: not valid YAML at line 5, column 3: the key 'total_iter' is given twice in one block "
        "(lines 4 and 5); keep one\n"
    )


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    from upres.option_file import read_option_file

    cfg = tmp_path / "o.yml"
    cfg.write_text("base: &b {lr: 1, eps: 2}\nopt:\n  <<: *b\n  lr: 3\n")
    assert read_option_file(cfg)["opt"] == {"lr": 3, "eps": 2}


def test_a_validation_image_too_small_for_a_metric_is_refused_before_training(tmp_path, hr_folder, capsys):
    """SSIM slides an 11x11 window: an 18x18 image with crop_border 4 ended the run in a traceback at the first
    validation, after the training before it (and `upres doctor -c` said OK)."""
    import numpy as np

    from upres.io.images import write_image

    val = tmp_path / "val"
    val.mkdir()
    write_image(val / "tiny.png", np.zeros((18, 18, 3), np.uint8))
    opts = merge(
        base_options(hr_folder, tmp_path / "exp"),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(val)}},
            "val": {"val_freq": 5, "metrics": {"ssim": {"type": "calculate_ssim", "crop_border": 4}}},
        },
    )
    cfg = write(tmp_path / "o.yml", opts)
    problem = (
        f"{val / 'tiny.png'}: 18 pixels on its short side, 10 after val.metrics.ssim.crop_border 4, but "
        "calculate_ssim needs at least 11; lower crop_border or leave the image out"
    )
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    assert capsys.readouterr().err == f"error: datasets.val: {problem}\n"
    assert main(["doctor", "-c", str(cfg)]) == 1
    assert problem in capsys.readouterr().out
    opts["val"]["metrics"]["ssim"]["crop_border"] = 3  # 12 pixels left: enough
    write(cfg, opts)
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 0


@pytest.mark.parametrize("key", ["pretrain_network_g", "pretrain_network_d"])
def test_a_missing_pretrain_names_its_key(tmp_path, hr_folder, capsys, key):
    opts = merge(base_options(hr_folder, tmp_path / "exp"), {"path": {key: str(tmp_path / "nope.pth")}})
    if key == "pretrain_network_d":
        opts = merge(opts, small_gan())
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    assert capsys.readouterr().err == (
        f"error: path.{key} {tmp_path / 'nope.pth'}: no such file; correct the path or remove the key to start "
        "from scratch\n"
    )


def test_a_model_given_to_resume_says_to_use_it_as_a_pretrain(tmp_path, hr_folder, capsys):
    """upres's own models are .safetensors; given to --resume they got "not a file upres train writes"."""
    opts = base_options(hr_folder, tmp_path / "exp", total_iter=5)
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg), "--device", "cpu"]) == 0
    model = tmp_path / "exp" / "models" / "net_g_5.safetensors"
    capsys.readouterr()
    assert main(["train", "-c", str(cfg), "--device", "cpu", "--resume", str(model)]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            f"{model}: a model file, not a training state (the states are training_states/N.state); to start from "
            "its weights set path.pretrain_network_g to it and leave out --resume"
        )
    )


def test_a_validation_without_metrics_says_so(tmp_path, hr_folder, capsys):
    """redux's `metrics: ~` gave validation lines with nothing after the colon."""
    opts = merge(
        base_options(hr_folder, tmp_path / "exp", total_iter=4),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}},
            "val": {"val_freq": 4, "metrics": None},
        },
    )
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--device", "cpu"]) == 0
    log = (tmp_path / "exp" / "log.txt").read_text()
    assert "validation val @ 4: images only (no val.metrics, or metrics_enabled: false)" in log


def test_ldl_loss_without_ema_is_refused_before_training(tmp_path, hr_folder, capsys):
    """It raised a traceback at the iteration the loss started (its start_iter), after the training before it."""
    opts = base_options(hr_folder, tmp_path / "exp", ema_decay=0)
    opts["train"]["losses"] = [{"type": "l1loss"}, {"type": "ldlloss", "start_iter": 4}]
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 2
    assert capsys.readouterr().err.endswith(
        "train.losses has an ldlloss, which compares with the EMA model's output; set train.ema_decay (0.999 is "
        "usual)\n"
    )


def _compact_pretrain(tmp_path, name: str, nan: bool = False, **kw):
    import torch

    from upres.archs import build_network
    from upres.io.model_files import save_model

    torch.manual_seed(0)
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2, **kw)
    if nan:
        with torch.no_grad():
            net.body[0].weight[0, 0, 0, 0] = float("nan")
        path = tmp_path / name
        torch.save({"params": {k: v.clone() for k, v in net.state_dict().items()}}, path)
        return path
    return save_model(tmp_path / name, net, info)


def test_a_pretrain_with_nan_weights_is_one_line_before_training(tmp_path, hr_folder, capsys):
    """Every step of such a run is NaN and skipped: it ended 'training finished' with nothing saved."""
    pre = _compact_pretrain(tmp_path, "nan.pth", nan=True)
    opts = base_options(hr_folder, tmp_path / "exp")
    opts["path"].update(pretrain_network_g=str(pre), strict_load_g=True)
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: {pre}: 1 tensor(s) hold NaN or infinity (first: 'body.0.weight')"
    )


@pytest.mark.parametrize("strict", [True, False])
def test_a_pretrain_whose_header_says_another_computation(tmp_path, hr_folder, capsys, strict):
    """A Compact written without its residual has the tensors of one with it: strict loading refuses it by what the
    header says, loose loading says so in its note."""
    pre = _compact_pretrain(tmp_path, "nores.safetensors", learn_residual=False)
    opts = base_options(hr_folder, tmp_path / "exp")
    opts["path"].update(pretrain_network_g=str(pre), strict_load_g=strict)
    cfg = write(tmp_path / "o.yml", opts)
    code = main(["train", "-c", str(cfg), "--dry-run"])
    captured = capsys.readouterr()
    setting = "learn_residual=False (network_g has True)"
    if strict:
        assert code == 2
        assert captured.err == (
            f"error: path.pretrain_network_g {pre}: {setting}; set that in network_g (same tensors, another "
            "computation), or strict_load_g: false to load it anyway\n"
        )
    else:
        assert code == 0, captured.err
        assert f"the file was trained with {setting}" in captured.out + captured.err
    # the same network_g as the file: loads strictly
    opts["network_g"]["learn_residual"] = False
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run"]) == 0


@pytest.mark.slow  # four runs, ~9 s
def test_a_resume_needs_no_pretrain_file_unless_the_state_lacks_that_network(tmp_path, hr_folder, capsys):
    """The state's weights replace the pretrain's (traiNNer-redux ignores the keys on resume): pretrain files moved
    away since the run started do not stop its resume. D's is still needed when the state holds no D (a fidelity
    state resumed into the GAN stage)."""
    import torch

    from upres.archs import build_network_for
    from upres.archs.discriminators import build_discriminator
    from upres.io.model_files import save_model

    net, info = build_network_for("compact", {"num_feat": 8, "num_conv": 2}, 2)
    save_model(tmp_path / "g.safetensors", net, info)
    d_opts = dict(small_gan()["network_d"])
    torch.save({"params": build_discriminator(d_opts.pop("type"), **d_opts).state_dict()}, tmp_path / "d.pth")
    pretrains = {
        "pretrain_network_g": str(tmp_path / "g.safetensors"),
        "pretrain_network_d": str(tmp_path / "d.pth"),
    }
    opts = merge(base_options(hr_folder, tmp_path / "gan", total_iter=2), {**small_gan(), "path": pretrains})
    cfg = write(tmp_path / "gan.yml", opts)
    assert main(["train", "-c", str(cfg), "--device", "cpu"]) == 0
    (tmp_path / "g.safetensors").unlink()
    (tmp_path / "d.pth").unlink()
    opts["train"]["total_iter"] = 3
    write(cfg, opts)
    capsys.readouterr()
    assert main(["train", "-c", str(cfg), "--device", "cpu", "--resume", "auto"]) == 0
    out = capsys.readouterr().out
    for key in pretrains:
        assert (
            f"path.{key} {pretrains[key]}: no such file; not needed to resume (the training state holds"
            in out
        )
    assert (tmp_path / "gan" / "training_states" / "3.state").is_file()

    fidelity = merge(base_options(hr_folder, tmp_path / "fid", total_iter=2), {"path": {}})
    cfg = write(tmp_path / "fid.yml", fidelity)
    assert main(["train", "-c", str(cfg), "--device", "cpu"]) == 0
    write(cfg, merge(fidelity, {**small_gan(), "path": pretrains, "train": {"total_iter": 3}}))
    capsys.readouterr()
    assert main(["train", "-c", str(cfg), "--device", "cpu", "--resume", "auto"]) == 2
    state = tmp_path / "fid" / "training_states" / "2.state"
    assert capsys.readouterr().err == (
        f"error: path.pretrain_network_d {pretrains['pretrain_network_d']}: no such file, and the training state "
        f"{state} holds no discriminator to take its place; correct the path, or remove the key to start D from "
        "scratch\n"
    )

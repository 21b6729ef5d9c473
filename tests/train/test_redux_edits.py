"""What a traiNNer-redux user's option file holds after the edits its templates invite, found refused or read
differently by a sweep over redux's ESRGAN/Compact templates (commit 68629319): each is accepted as redux reads it,
or refused with the equivalent named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from train_helpers import base_options, merge, write

from upres.cli import main
from upres.errors import ConfigError


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


def test_an_lr_of_0_freezes_the_network_whatever_the_schedule(tmp_path, hr_folder):
    """torch and redux take lr 0 (a frozen G while D catches up; smoke runs); upres refused it. A cosine's absolute
    eta_min, or weight decay, would otherwise move a frozen network."""
    import torch

    from upres.archs import build_network
    from upres.io.model_files import read_tensors
    from upres.train.config import parse_options
    from upres.train.loop import train

    net, _ = build_network("compact", scale=2, num_feat=8, num_conv=2)
    torch.save({"params": net.state_dict()}, tmp_path / "start.pth")
    cosine = {"type": "CosineAnnealingLR", "eta_min": 1e-4}
    options = base_options(hr_folder, tmp_path / "exp", total_iter=3, scheduler=cosine, ema_decay=0)
    options["train"]["optim_g"] = {"type": "AdamW", "lr": 0, "weight_decay": 0.5}
    options["path"]["pretrain_network_g"] = str(tmp_path / "start.pth")
    options["logger"]["save_checkpoint_freq"] = 3
    train(parse_options(options))
    log = (tmp_path / "exp" / "log.txt").read_text()
    assert "train.optim_g.lr is 0: the generator's weights stay as they are (a frozen G)" in log
    after = read_tensors(tmp_path / "exp" / "models" / "net_g_3.safetensors")[0]
    for key, value in net.state_dict().items():
        assert after[key].equal(value), key


def test_one_cycle_with_an_lr_of_0_says_lr_is_not_read(tmp_path, hr_folder, capsys):
    options = base_options(hr_folder, tmp_path / "exp", scheduler={"type": "OneCycleLR", "max_lr": 1e-3})
    options["train"]["optim_g"]["lr"] = 0
    code, out = _dry_run(tmp_path, options, capsys)
    assert code == 2
    assert "OneCycleLR with an optimizer lr of 0: OneCycleLR's rates come from max_lr" in out


def test_a_gan_without_optim_d_says_what_trains_d(tmp_path, hr_folder, capsys):
    """redux stops on a network_d without optim_d; upres trained D with optim_g's settings without a word."""
    from train_helpers import small_gan

    options = merge(base_options(hr_folder, tmp_path / "exp"), small_gan())
    del options["train"]["optim_d"]
    code, out = _dry_run(tmp_path, options, capsys)
    assert code == 0, out
    assert (
        "train.optim_d not given: network_d is trained with train.optim_g's settings (AdamW, lr 0.001); add an "
        "optim_d block to choose its own"
    ) in out
    code, out = _dry_run(tmp_path, merge(base_options(hr_folder, tmp_path / "exp2"), small_gan()), capsys)
    assert code == 0 and "optim_d not given" not in out


def test_mssim_color_space_is_checked_only_where_it_is_read_and_named_by_its_entry():
    from upres.errors import ConfigError
    from upres.losses import build_losses

    l1 = {"type": "l1loss", "loss_weight": 1.0}
    mssim = {"type": "mssimloss", "loss_weight": 1.0, "color_space": "rgb"}
    entries, _ = build_losses([l1, {**mssim, "test_y_channel": False}])  # redux never reads it there
    assert [e.type for e in entries] == ["l1loss", "mssimloss"]
    with pytest.raises(ConfigError) as exc:
        build_losses([l1, mssim])  # on the luma it picks the conversion (redux took the R channel)
    assert str(exc.value) == "train.losses[1].color_space: 'rgb' is not one of yiq, ycbcr, lhm"


@pytest.mark.parametrize(
    ("scheduler", "said"),
    [
        ({"type": "CyclicLR", "base_lr": 1e-5, "max_lr": 1e-3}, "CyclicLR is not implemented in upres"),
        (
            {
                "type": "WarmupStableDecayLR",
                "num_warmup_steps": 1,
                "num_stable_steps": 0,
                "num_decay_steps": 1,
            },
            "WarmupStableDecayLR is traiNNer-redux's own and not implemented in upres",
        ),
    ],
)
def test_a_refused_scheduler_is_the_whole_message(tmp_path, hr_folder, capsys, scheduler, said):
    """Its parameters were each 'unknown key ... did you mean' another scheduler's (base_lr -> max_lr)."""
    code, out = _dry_run(tmp_path, base_options(hr_folder, tmp_path / "exp", scheduler=scheduler), capsys)
    assert code == 2
    (line,) = [x for x in out.splitlines() if x.startswith("error:")]
    assert said in line and "unknown key" not in line and "did you mean" not in line


def test_high_order_degradation_false_beside_an_otf_dataset_is_said(tmp_path, hr_folder, capsys):
    options = base_options(hr_folder, tmp_path / "exp")
    options["datasets"]["train"]["type"] = "realesrgandataset"
    options["high_order_degradation"] = False
    code, out = _dry_run(tmp_path, options, capsys)
    assert code == 0, out
    assert "high_order_degradation: false has no effect: datasets.train is realesrgandataset" in out
    del options["high_order_degradation"]  # left out: nothing to say
    code, out = _dry_run(tmp_path, options, capsys)
    assert code == 0 and "high_order_degradation" not in out


def test_val_freq_s_default_is_said_for_training_files_only(tmp_path, hr_folder):
    """redux's test templates have a val block without val_freq, which `upres test` never reads."""
    from upres.train.config import parse_options

    test_file = {
        "name": "t",
        "scale": 2,
        "datasets": {"test_1": {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}},
        "network_g": {"type": "compact", "num_feat": 8, "num_conv": 2},
        "val": {"val_enabled": True, "save_img": True},
    }
    said = "val.val_freq not given"
    assert not any(said in n for n in parse_options(test_file)._compat_notes)
    train_file = merge(base_options(hr_folder, tmp_path / "exp"), {"val": test_file["val"]})
    assert any(said in n for n in parse_options(train_file)._compat_notes)


def test_an_lr_only_validation_set_saves_its_pictures_while_a_paired_one_is_scored(tmp_path, hr_folder):
    """redux validates LR-only sets during training (their SR pictures, to watch real LR inputs); upres refused
    them. The scored set still picks net_g_best."""
    from PIL import Image

    from upres.io.images import read_image
    from upres.train.config import parse_options
    from upres.train.loop import train

    lr = tmp_path / "real_lr"
    lr.mkdir()
    for i, src in enumerate(sorted(hr_folder.iterdir())[:2]):
        Image.open(src).resize((20, 16)).save(lr / f"real{i}.png")
    options = base_options(hr_folder, tmp_path / "exp", total_iter=2)
    options["datasets"]["val_real"] = {"type": "singleimagedataset", "dataroot_lq": str(lr)}
    options["datasets"]["val"] = {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}
    options["val"] = {"val_freq": 2, "save_img": True, "metrics": {"psnr": {"type": "calculate_psnr"}}}
    options["logger"]["save_checkpoint_freq"] = 2
    train(parse_options(options))
    exp = tmp_path / "exp"
    log = (exp / "log.txt").read_text()
    assert (
        "datasets.val_real: LR images only (singleimagedataset): each validation saves their upscaled pictures"
        in log
    )
    assert (
        "validation val_real @ 2: images only (LR only: no ground truth to score)" in log
        and "validation val @ 2: psnr" in log
    )
    strip = read_image(exp / "visualization" / "val_real" / "2_real0.png")
    assert strip.shape[:2] == (32, 2 * 40)  # bicubic | model, no ground truth panel
    assert read_image(exp / "visualization" / "val" / "2_0.png").shape[:2] == (64, 3 * 64)
    assert next((exp / "models").glob("net_g_best.*"), None) is not None  # from the paired set's psnr
    # the summary's headline and the report follow the scored set too, not the LR-only one listed first
    assert re.search(r"best psnr +[\d.]+ at iteration 2  \([+-][\d.]+ dB over bicubic on val\)", log)


def test_a_queue_size_below_the_batch_says_the_pair_pool_is_off(tmp_path, hr_folder):
    """'queue_size 1 rounded down to 0' turned the pool off without saying so."""
    from upres.train.config import parse_options
    from upres.train.loop import train

    options = base_options(hr_folder, tmp_path / "exp", total_iter=1)
    options["datasets"]["train"]["type"] = "realesrgandataset"
    options["queue_size"] = 1
    options["logger"]["save_checkpoint_freq"] = 1
    train(parse_options(options))
    log = (tmp_path / "exp" / "log.txt").read_text()
    assert "queue_size 1 rounded down to 0, a multiple of the batch size; the pair pool is off" in log


def test_a_pair_pool_bigger_than_the_memory_is_refused_before_training(tmp_path, hr_folder):
    """queue_size 1e9 ran out of memory at iteration 1 with advice about batch_size and lq_size."""
    from upres.train.config import parse_options
    from upres.train.loop import train

    options = base_options(hr_folder, tmp_path / "exp", total_iter=1)
    options["datasets"]["train"]["type"] = "realesrgandataset"
    options["queue_size"] = 10**9
    with pytest.raises(
        ConfigError,
        match=r"^queue_size 1000000000: its pair pool would hold [\d.]+ GiB of crops on "
        r"(cpu|cuda:\d+), more than half its [\d.]+ GiB; Real-ESRGAN uses 180 \(0 turns the pool off\)$",
    ):
        train(parse_options(options))
    assert not (tmp_path / "exp").exists()


def test_restart_scheduler_says_its_milestones_count_from_the_resume_where_redux_s_count_from_0(
    tmp_path, hr_folder
):
    """redux's restart_scheduler rebuilds the file's schedule at the resumed iteration; upres's starts it again from
    its first step, so a milestone given as an iteration number moves: a redux user who set the key to move milestones
    saw nothing of that in the table (honoured, no note) or the log."""
    from upres.train.config import parse_options
    from upres.train.loop import train
    from upres.train.redux_keys import classify
    from upres.train.redux_table import table_text

    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {"train": {"total_iter": 3, "scheduler": {"type": "MultiStepLR", "milestones": [4]}},
         "logger": {"save_checkpoint_freq": 3}},
    )  # fmt: skip
    train(parse_options(opts))
    train(parse_options(merge(opts, {"train": {"total_iter": 5, "restart_scheduler": True}})), resume="auto")
    log = (exp / "log.txt").read_text()
    assert (
        "its warm-up and milestones count from iteration 3 (traiNNer-redux's key keeps counting from 0" in log
    )
    note = classify("train.restart_scheduler").note
    assert note.startswith("meaning differs: upres starts the schedule again from its first step")
    assert f"| (a) honoured | {note} |" in table_text()


def test_a_dataset_scale_other_than_the_top_level_one_says_to_remove_it(tmp_path, hr_folder, capsys):
    """redux and BasicSR overwrite a dataset's `scale` with the top-level one; upres refuses a different one, and the
    refusal said what differed but not what to do."""
    options = merge(
        base_options(hr_folder, tmp_path / "exp"), {"datasets": {"train": {"name": "Train", "scale": 4}}}
    )
    code, out = _dry_run(tmp_path, options, capsys)
    assert code == 2
    assert (
        "error: datasets.train: dataset 'Train': scale 4 differs from the top-level scale 2; remove the dataset's "
        "scale (the top-level scale sets it, as traiNNer-redux and BasicSR do)"
    ) in out
    assert not (tmp_path / "exp").exists()


def test_a_redux_training_state_says_to_start_from_its_model(tmp_path, hr_folder, capsys):
    """A redux user's path.resume_state (BasicSR's layout: iter, optimizers, schedulers; the models in separate
    files) was 'not a training state written by upres train ... resume from a file in
    experiments/<name>/training_states/', which is where the redux file was."""
    import torch

    net = torch.nn.Conv2d(3, 3, 3)
    optimizer = torch.optim.AdamW(net.parameters(), 1e-4)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, [100, 200], 0.5)
    state = tmp_path / "1000.state"
    torch.save(
        {
            "epoch": 3,
            "iter": 1000,
            "optimizers": [optimizer.state_dict()],
            "schedulers": [schedule.state_dict()],
        },
        state,
    )
    options = merge(base_options(hr_folder, tmp_path / "exp"), {"path": {"resume_state": str(state)}})
    code = main(["train", "-c", str(write(tmp_path / "o.yml", options))])
    assert code == 2
    assert capsys.readouterr().err == (
        f"error: {state}: a traiNNer-redux or BasicSR training state (iteration 1000), which upres cannot resume; "
        "start a new run from its models instead: path.pretrain_network_g: models/net_g_ema_1000 of that "
        "experiment (net_g_1000 without EMA) and, for a GAN run, path.pretrain_network_d: "
        "models/resume_models/net_d_1000; leave out path.resume_state and --resume\n"
    )
    assert not (tmp_path / "exp" / "models").exists() or not list((tmp_path / "exp" / "models").iterdir())


def test_redux_s_realesrgan_paired_dataset_is_the_otf_set_with_its_real_lrs_mixed_in(
    tmp_path, hr_folder, capsys
):
    """redux's dataroot_lq_prob needs `type: realesrganpaireddataset` (its mixing model reads that set's batches),
    which upres called an unknown dataset type; upres mixes real LRs into realesrgandataset."""
    from PIL import Image

    from upres.data.mixed_lq import MixedLQDataset
    from upres.train.config import parse_options
    from upres.train.setup import build_train_dataset

    lr = tmp_path / "lr"
    lr.mkdir()
    for p in hr_folder.iterdir():
        Image.open(p).resize((32, 32), Image.BICUBIC).save(lr / p.name)
    options = merge(
        base_options(hr_folder, tmp_path / "exp"),
        {"high_order_degradation": True, "dataroot_lq_prob": 0.5,
         "datasets": {"train": {"type": "RealESRGANPairedDataset", "dataroot_lq": str(lr)}}},
    )  # fmt: skip
    code, out = _dry_run(tmp_path, options, capsys)
    assert code == 0, out
    assert (
        "datasets.train: realesrganpaireddataset is read as realesrgandataset, its dataroot_lq mixed in at "
        "dataroot_lq_prob"
    ) in out
    train_set, ds_opts = build_train_dataset(parse_options(options), 0)
    assert isinstance(train_set, MixedLQDataset) and ds_opts.type == "realesrgandataset"

"""`degrade_on: device` in training: the same run as the workers', the pair pool and sharpened targets included."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
import torch
from PIL import Image, features
from train_helpers import base_options, merge

from upres.errors import ConfigError
from upres.io.model_files import read_tensors
from upres.train.config import parse_options
from upres.train.loop import train
from upres.train.setup import build_train_dataset

# Blur, resizes, Gaussian and Poisson noise, JPEG (redux's default quality), the final sinc, the pair pool and USM
OTF = {
    "high_order_degradation": True, "queue_size": 4, "gt_usm": True, "blur_prob": 1.0, "noise_prob": 1.0,
    "gaussian_noise_prob": 0.5, "noise_prob2": 1.0, "final_sinc_prob": 0.8,
}  # fmt: skip


def _weights(hr_folder, exp, **extra) -> dict[str, torch.Tensor]:
    opts = merge(base_options(hr_folder, exp), {**OTF, **extra})
    opts["datasets"]["train"]["type"] = "realesrgandataset"
    train(parse_options(opts), device="cpu")
    return read_tensors(exp / "models" / "net_g_10.safetensors")[0], (exp / "log.txt").read_text()


@pytest.mark.skipif(
    not features.check_feature("libjpeg_turbo"), reason="Pillow is not built on libjpeg-turbo"
)
def test_training_with_degradations_on_the_device_trains_what_the_workers_train(tmp_path, hr_folder):
    workers, workers_log = _weights(hr_folder, tmp_path / "workers")
    device, log = _weights(hr_folder, tmp_path / "device", degrade_on="device")
    assert workers.keys() == device.keys() and all(torch.equal(workers[k], device[k]) for k in workers)
    assert "degrade_on: device: the degradations run on cpu with the workers' random draws" in log
    assert "degrading" not in workers_log  # the workers' time shows as data wait only


def test_the_progress_line_and_the_summary_say_how_long_degrading_took(tmp_path, hr_folder, monkeypatch):
    """With degrade_on: device the loop's own degrading time is not `data wait`: it has its own share, and a note
    when it takes most of the time."""
    import upres.train.feed as feed

    real = feed.degrade_batch

    def slow(*args, **kwargs):
        time.sleep(0.1)  # a host that launches slowly: degrading is most of each iteration
        return real(*args, **kwargs)

    monkeypatch.setattr(feed, "degrade_batch", slow)
    _, log = _weights(hr_folder, tmp_path / "device", degrade_on="device")
    shares = [int(s) for s in re.findall(r" samples/s, data wait \d+%, degrading (\d+)% \| eta", log)]
    assert len(shares) == 2 and shares[-1] >= 30, log  # print_freq 5 of 10 iterations
    assert "degrading its batches on the device (degrade_on: device;" in log
    assert "where CPU cores are free, degrade_on: workers with more datasets.train.num_worker_per_gpu" in log
    summary = re.search(r"training finished: .*", log).group(0)
    assert re.search(r", (\d+)% degrading it on the device$", summary), summary


def test_device_degradations_refuse_real_lr_mixed_in(tmp_path):
    hr, lr = tmp_path / "hr", tmp_path / "lr"
    hr.mkdir()
    lr.mkdir()
    for i in range(4):
        Image.fromarray(np.full((32, 32, 3), 9 * i, np.uint8)).save(hr / f"{i}.png")
        Image.fromarray(np.full((16, 16, 3), 9 * i, np.uint8)).save(lr / f"{i}.png")
    opts = {
        "name": "m", "scale": 2, "high_order_degradation": True, "dataroot_lq_prob": 0.5, "degrade_on": "device",
        "datasets": {"train": {"type": "realesrgandataset", "dataroot_gt": str(hr), "dataroot_lq": str(lr),
                               "lq_size": 8}},
        "network_g": {"type": "compact"},
    }  # fmt: skip
    with pytest.raises(ConfigError, match=r"^degrade_on: device does not combine with dataroot_lq_prob .*"):
        build_train_dataset(parse_options(opts), seed=0)


@pytest.mark.parametrize(
    ("keys", "cpu_steps"),
    [
        ({}, None),
        ({"dither_prob": 0.5, "dither_method_list": ["ordered"], "dither_method_prob": [1.0],
          "dither_palette_list": ["uniform"], "dither_palette_prob": [1.0]}, None),
        ({"dither_prob": 0.5}, "error-diffusion and adaptive-palette dithering"),
        ({"video_prob": 0.1}, "video compression"),
    ],
)  # fmt: skip
def test_the_log_names_the_steps_that_go_through_the_cpu(tmp_path, hr_folder, keys, cpu_steps):
    from upres.data.otf_dataset import build_realesrgan_dataset
    from upres.data.otf_device import defer_degradations

    ds = build_realesrgan_dataset({"dataroot_gt": str(hr_folder), "lq_size": 8}, 2, 0, keys)
    notes: list[str] = []
    # A device object names a GPU without needing one: the note is all that is judged here.
    defer_degradations(ds, torch.device("cuda", 0), notes.append)
    defer_degradations(ds, torch.device("cpu"), notes.append)
    assert ds.deferred and len(notes) == 2
    assert notes[0].startswith(
        "degrade_on: device: the degradations run on cuda:0 with the workers' random draws"
    )
    assert notes[0].endswith(
        f"; {cpu_steps} go through the CPU (no device version)" if cpu_steps else "arithmetic)"
    )
    # where the training device is the CPU, the option only moves the workers' work into one process
    assert notes[1] == notes[0].replace("cuda:0", "cpu") + (
        "; on a CPU this only moves the workers' work into the training process (degrade_on: workers is faster)"
    )


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ({"degrade_on": "gpu"}, "degrade_on: Input should be 'workers' or 'device' (got 'gpu')"),
        (
            {"datasets": {"train": {"sinc_prob": 3}}},
            "datasets.train.sinc_prob: probability 3.0 is outside [0, 1]",
        ),
        (
            {"datasets": {"train": {"resize_range": [0.15, 0.5]}}},
            "datasets.train.resize_range [0.15, 0.5]: resize_prob gives 'up' a chance of 0.2, but 'up' draws a "
            "factor between 1 and the range's end; raise its second value to 1 or more, or set that chance to 0",
        ),
    ],
    ids=["top_level", "dataset_block", "dataset_block_range"],
)
def test_a_wrong_degradation_value_is_refused_with_the_file_and_its_place_by_train_and_doctor(
    tmp_path, hr_folder, capsys, where, said
):
    """`degrade_on: gpu` at the top level was reported as "datasets.train: options: degrade_on: ..." (a key of the
    dataset block, no file, no value), and `upres doctor -c` said OK to the file that training refused."""
    from train_helpers import write

    from upres.cli import main

    opts = merge(base_options(hr_folder, tmp_path / "exp"), {**OTF, **where})
    opts["datasets"]["train"]["type"] = "realesrgandataset"
    cfg = write(tmp_path / "o.yml", opts)
    for command in (["train", "-c", str(cfg), "--device", "cpu"], ["doctor", "-c", str(cfg)]):
        assert main(command) == 2
        assert capsys.readouterr().err == f"error: {cfg}: {said}\n", command
    assert not (tmp_path / "exp").exists()

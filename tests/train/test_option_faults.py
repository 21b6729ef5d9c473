"""Option files that used to crash `upres train --dry-run` with a traceback: each is one line and exit 2."""

from __future__ import annotations

import pytest
from train_helpers import base_options, merge, write

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
    "seed_too_big": (
        {"manual_seed": 2**70},
        f"manual_seed: Input should be less than 4294967296 (got {2**70})",
    ),
    "seed_negative": (
        {"manual_seed": -5},
        "manual_seed: Input should be greater than or equal to 0 (got -5)",
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

"""A bad training sample skipped during the run is said in log.txt, also when a loader worker process met it: the
warning reached the console only (Python's last-resort handler, in whichever process read the file), so a user
reading the log after a week never learnt which files were left out."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from train_helpers import base_options, write

from upres.cli import main


@pytest.mark.parametrize("workers", [0, 2])
def test_a_skipped_bad_sample_is_in_the_log(tmp_path, capsys, workers):
    hr = tmp_path / "hr"
    hr.mkdir()
    rng = np.random.default_rng(0)
    for i in range(101):  # one bad file in 102 is within the 1% that may be skipped
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(hr / f"{i:03d}.png")
    whole = (hr / "000.png").read_bytes()
    bad = hr / "bad.png"
    bad.write_bytes(whole[: len(whole) // 2])
    options = base_options(hr, tmp_path / "exp", total_iter=8)
    options["datasets"]["train"].update(batch_size_per_gpu=16, num_worker_per_gpu=workers)
    options["logger"]["save_checkpoint_freq"] = 100
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--device", "cpu"]) == 0
    said = f"skipping bad sample {bad}: cannot read image (image file is truncated)"
    log = (tmp_path / "exp" / "log.txt").read_text()
    # One line per process that met it (each worker skips the files it reads), every one of them in the log.
    assert 1 <= log.count(said) <= max(workers, 1)
    assert said in capsys.readouterr().err  # the console still has it

"""With dataset_enlarge_ratio the training set is told as images x ratio: six images at ratio 2 read "12 images" in
the start line and in the error for a batch larger than the epoch, where the folder holds 6."""

from __future__ import annotations

from train_helpers import base_options, write

from upres.cli import main


def test_the_batch_error_counts_images_and_samples_apart(tmp_path, hr_folder, capsys):
    options = base_options(hr_folder, tmp_path / "exp")
    options["datasets"]["train"].update(dataset_enlarge_ratio=2, batch_size_per_gpu=16)
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--dry-run", "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: datasets.train: 6 images x dataset_enlarge_ratio 2 = 12 samples but batch_size_per_gpu 16 x "
        "accum_iter 1 x 1 process(es) needs at least 16; lower the batch size or add images"
    )


def test_the_start_line_counts_images_and_samples_apart(tmp_path, hr_folder):
    exp = tmp_path / "exp"
    options = base_options(hr_folder, exp, total_iter=1)
    options["datasets"]["train"]["dataset_enlarge_ratio"] = 3
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--device", "cpu"]) == 0
    assert (
        ", 6 images x dataset_enlarge_ratio 3 = 18 samples, batch 2 x accum 1 "
        in (exp / "log.txt").read_text()
    )

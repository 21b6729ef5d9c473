"""Training on whole images (no lq_size) with a batch of several: they must share one size. Images of two sizes ended
in torch's "stack expects each tensor to be equal size" traceback at whichever iteration first drew two of them
together; the dataset check refuses them before training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from train_helpers import base_options, write

from upres.cli import main


def _folder(root: Path, sizes: list[tuple[int, int]]) -> Path:
    root.mkdir()
    rng = np.random.default_rng(0)
    for n, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"{n}.png")
    return root


def _dry_run(tmp_path: Path, hr: Path, batch: int | None) -> int:
    tmp_path.mkdir(exist_ok=True)
    options = base_options(hr, tmp_path / "exp")
    del options["datasets"]["train"]["lq_size"]
    options["datasets"]["train"]["batch_size_per_gpu"] = batch
    if batch is None:  # the default batch (4)
        del options["datasets"]["train"]["batch_size_per_gpu"]
    return main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--dry-run", "--device", "cpu"])


def test_whole_images_of_two_sizes_in_batches_are_refused_before_training(tmp_path, capsys):
    hr = _folder(tmp_path / "hr", [(32, 32), (32, 32), (24, 40), (32, 32)])
    assert _dry_run(tmp_path, hr, batch=2) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: datasets.train: the dataset check found 1 error(s), e.g. {hr / '2.png'}: images of different sizes "
        "(width 24 to 32, height 32 to 40) and no lq_size: a batch of 2 whole images needs one size; set lq_size "
        "(random crops) or batch_size_per_gpu 1; `upres doctor -c OPTIONS` lists them all"
    )


def test_one_size_or_a_batch_of_one_trains(tmp_path):
    same = _folder(tmp_path / "same", [(32, 32)] * 4)
    assert _dry_run(tmp_path / "a", same, batch=2) == 0
    mixed = _folder(tmp_path / "mixed", [(32, 32), (24, 40)])
    assert _dry_run(tmp_path / "b", mixed, batch=1) == 0


def test_the_default_batch_is_checked_too(tmp_path, capsys):
    """Without batch_size_per_gpu in the file the check did not run, and training took 4 whole images a batch."""
    hr = _folder(tmp_path / "hr", [(32, 32), (32, 32), (24, 40), (32, 32)])
    assert _dry_run(tmp_path, hr, batch=None) == 2
    assert "a batch of 4 whole images needs one size" in capsys.readouterr().err

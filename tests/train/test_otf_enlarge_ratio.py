"""`dataset_enlarge_ratio` in a `realesrgandataset` block: each image that many times an epoch, as in
`pairedimagedataset` (and BasicSR's EnlargedSampler, which applies it to every dataset). It was ignored there: six
images with batch 10 x ratio 5 stopped with "6 images but ... needs at least 10" where the paired set trained."""

from __future__ import annotations

from train_helpers import base_options, write

from upres.cli import main
from upres.data.doctor_block import check_dataset
from upres.data.options import parse_dataset_options
from upres.data.otf_dataset import build_realesrgan_dataset


def test_each_image_appears_ratio_times_an_epoch_with_its_own_draws(hr_folder):
    ds = build_realesrgan_dataset(
        {"dataroot_gt": str(hr_folder), "lq_size": 16, "dataset_enlarge_ratio": 3}, scale=2, seed=1
    )
    images = len(ds.paths)
    assert len(ds) == 3 * images
    first, copy = ds[1], ds[1 + images]
    assert copy["gt_path"] == first["gt_path"] == str(ds.paths[1])
    assert not (first["gt"] == copy["gt"]).all()  # another crop of the same image: seeded by its own index


def test_training_and_doctor_count_the_enlarged_epoch(tmp_path, hr_folder, capsys):
    options = base_options(hr_folder, tmp_path / "exp")
    train = options["datasets"]["train"]
    train.update(type="realesrgandataset", batch_size_per_gpu=10, dataset_enlarge_ratio=5, queue_size=0)
    report = check_dataset(parse_dataset_options(train), scale=2, name="train", use_cache=False)
    assert report.iterations_per_epoch == 6 * 5 // 10
    assert not [f for f in report.findings if f.severity == "error"]
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--dry-run", "--device", "cpu"]) == 0

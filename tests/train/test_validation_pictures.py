"""visualization/ keeps the pictures of the latest `val.keep_img` validations and of the best one: each validation
wrote a full-size strip per image and none was ever removed, so a run of 10^6 iterations (200 validations of a
DIV2K-sized set, a gigabyte or more each) filled the disk with them."""

from __future__ import annotations

import shutil

from PIL import Image
from train_helpers import base_options, merge, write

from upres.cli import main
from upres.train.checkpoint import list_states, load_training_state
from upres.train.pictures import prune_pictures, pruning_note


def _iterations(vis) -> dict[int, int]:
    """iteration -> pictures of it under `vis`."""
    found: dict[int, int] = {}
    for path in vis.rglob("*.png"):
        it = int(path.name.split("_", 1)[0])
        found[it] = found.get(it, 0) + 1
    return found


def test_a_run_keeps_the_pictures_of_the_latest_validations_and_the_best(tmp_path, hr_folder):
    val = tmp_path / "val"
    shutil.copytree(hr_folder, val / "sub")  # pictures in a sub-folder are counted as well
    exp = tmp_path / "exp"
    options = merge(
        base_options(hr_folder, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(val)}},
            "train": {"total_iter": 6},
            "val": {"val_freq": 1, "keep_img": 2, "metrics": {"psnr": {"type": "calculate_psnr"}}},
            "logger": {"print_freq": 3, "save_checkpoint_freq": 3},
        },
    )
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--device", "cpu"]) == 0
    best = int(load_training_state(list_states(exp / "training_states")[-1])["best"]["psnr"][1])
    kept = _iterations(exp / "visualization")
    assert set(kept) == {5, 6, best}
    assert set(kept.values()) == {6}  # every picture of a kept validation
    log = (exp / "log.txt").read_text()
    assert log.count(pruning_note(2)) == 1


def test_keep_img_0_keeps_every_validation(tmp_path, hr_folder):
    exp = tmp_path / "exp"
    options = merge(
        base_options(hr_folder, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}},
            "train": {"total_iter": 4},
            "val": {"val_freq": 1, "keep_img": 0, "metrics": {"psnr": {"type": "calculate_psnr"}}},
        },
    )
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--device", "cpu"]) == 0
    assert set(_iterations(exp / "visualization")) == {1, 2, 3, 4}


def test_pictures_past_the_current_iteration_and_other_files_stay(tmp_path):
    """A session resumed from an earlier state: the first session's later pictures are written again when this one
    gets there; files upres did not name `<iteration>_<image>.png` are never touched."""
    vis = tmp_path / "visualization"
    (vis / "val").mkdir(parents=True)
    for it in (10, 20, 30, 40, 50):
        Image.new("RGB", (4, 4)).save(vis / "val" / f"{it}_a.png")
    for name in ("notes.png", "x_10.png", "10_b.txt"):
        (vis / "val" / name).write_bytes(b"mine")
    assert prune_pictures(vis, 30, 1, 10) == 1  # 20: neither the latest at 30 nor the best
    assert sorted(p.name for p in (vis / "val").iterdir()) == [
        "10_a.png", "10_b.txt", "30_a.png", "40_a.png", "50_a.png", "notes.png", "x_10.png"
    ]  # fmt: skip


def test_a_rewind_sets_the_later_pictures_aside_with_the_later_states(tmp_path, hr_folder, capsys):
    """`--resume <run>/training_states/5.state` moved the later states and models aside but left the later pictures,
    which the rewound run wrote over (or, with keep_img, kept in place of its own latest ones)."""
    exp = tmp_path / "exp"
    options = merge(
        base_options(hr_folder, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}},
            "val": {"val_freq": 5, "metrics": {"psnr": {"type": "calculate_psnr"}}},
        },
    )
    cfg = write(tmp_path / "o.yml", options)
    assert main(["train", "-c", str(cfg), "--device", "cpu"]) == 0
    first = {p.name: p.read_bytes() for p in (exp / "visualization" / "val").glob("10_*.png")}
    assert len(first) == 6
    capsys.readouterr()
    state = exp / "training_states" / "5.state"
    assert main(["train", "-c", str(cfg), "--device", "cpu", "--resume", str(state)]) == 0
    aside = next(p for p in exp.iterdir() if p.name.startswith("rewound_"))
    assert "later model file(s) and 6 validation picture(s) to " in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in (aside / "visualization" / "val").iterdir()} == first

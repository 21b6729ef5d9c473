"""A full disk during training: periodic saves and validation pictures are notes and training goes on, the previous
state intact; a failed last save is one line; the run resumes once there is space."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from train_helpers import base_options, merge

from upres.train import checkpoint, persist, validate
from upres.train.checkpoint import list_states, load_training_state
from upres.train.config import parse_options
from upres.train.loop import TrainingError, train

ENOSPC = OSError(28, "No space left on device")
TORN_ZIP = "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"


def _options(hr: Path, exp: Path, **patch) -> dict:
    return merge(base_options(hr, exp), patch)


def test_a_model_or_state_write_failing_mid_run_is_a_note(tmp_path, hr_folder, monkeypatch):
    from safetensors import SafetensorError

    real_model, real_save = persist.save_model, checkpoint.torch.save

    def save_model(path, *a, **k):
        if Path(path).name == "net_g_ema_5.safetensors":
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        return real_model(path, *a, **k)

    def torch_save(obj, path, *a, **k):
        if isinstance(obj, dict) and obj.get("iteration") == 10:
            Path(path).write_bytes(b"PK\x03\x04 part")
            raise RuntimeError(TORN_ZIP)
        return real_save(obj, path, *a, **k)

    monkeypatch.setattr(persist, "save_model", save_model)
    monkeypatch.setattr(checkpoint.torch, "save", torch_save)
    exp = tmp_path / "exp"
    result = train(parse_options(_options(hr_folder, exp, train={"total_iter": 15})))
    assert result.iteration == 15
    log = (exp / "log.txt").read_text()
    models = exp / "models"
    assert (
        f"saving at iteration 5 failed (could not write the models in {models} (Error while serializing: I/O error: "
        "No space left on device (os error 28))); training goes on and no state is saved yet; free space before "
        "the next save at iteration 10" in log
    )
    assert (
        f"saving at iteration 10 failed (could not write training state {exp / 'training_states' / '10.state'} "
        "(the file could not be written in full, the disk is probably full: "
        + TORN_ZIP
        + ")); training goes on "
        "and no state is saved yet" in log
    )
    assert [p.name for p in list_states(exp / "training_states")] == ["15.state"]
    assert not [p for p in exp.rglob("*.part")]


def test_a_failed_last_save_is_one_line_and_keeps_the_previous_state(
    tmp_path, hr_folder, monkeypatch, capsys
):
    from train_helpers import write

    from upres.cli import main

    real = checkpoint.torch.save

    def torch_save(obj, path, *a, **k):
        if isinstance(obj, dict) and obj.get("iteration") == 10:
            raise RuntimeError(TORN_ZIP)
        return real(obj, path, *a, **k)

    monkeypatch.setattr(checkpoint.torch, "save", torch_save)
    exp = tmp_path / "exp"
    cfg = write(tmp_path / "o.yml", _options(hr_folder, exp))
    assert main(["train", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: saving at iteration 10 failed: could not write training state {exp / 'training_states' / '10.state'} "
        f"(the file could not be written in full, the disk is probably full: {TORN_ZIP}); the previous state "
        f"{exp / 'training_states' / '5.state'} is intact; free space, then --resume auto goes on from the newest "
        "state\n"
    )
    assert load_training_state(exp / "training_states" / "5.state")["iteration"] == 5


def test_validation_pictures_that_cannot_be_written_leave_the_scores_unchanged(
    tmp_path, hr_folder, monkeypatch, caplog
):
    opts = {
        "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}},
        "val": {"val_freq": 5, "metrics": {"psnr": {"type": "calculate_psnr"}}},
    }
    reference = train(parse_options(_options(hr_folder, tmp_path / "ref", **opts)))
    writes = []

    def full(path, arr, *a, **k):
        writes.append(path)
        raise ENOSPC

    monkeypatch.setattr(validate, "write_image", full)
    result = train(parse_options(_options(hr_folder, tmp_path / "exp", **opts)))
    assert result.iteration == 10 and result.best == reference.best
    assert len(writes) == 2  # one try per validation, then no more pictures that time
    assert (
        f"validation @ 5: could not write {writes[0]} (No space left on device); no more images"
        in caplog.text
    )


def test_resume_auto_says_which_states_it_passes_over(tmp_path, hr_folder, capsys):
    exp = tmp_path / "exp"
    opts = parse_options(_options(hr_folder, exp))
    train(opts)
    (exp / "training_states" / "10.state").write_bytes(b"PK\x03\x04 torn by a crash")
    capsys.readouterr()
    train(opts.model_copy(update={"train": opts.train.model_copy(update={"total_iter": 12})}), resume="auto")
    err = capsys.readouterr().err
    assert (
        f"note: --resume auto: skipping {exp / 'training_states' / '10.state'}: not a loadable training state"
        in err
    )
    log = (exp / "log.txt").read_text()
    assert f"--resume auto: skipping {exp / 'training_states' / '10.state'}" in log
    assert f"resumed from {exp / 'training_states' / '5.state'} at iteration 5" in log


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 3 MB filesystem (tmpfs); needs root and mount, else skipped."""
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a real full disk needs root and mount (Linux)")
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(filler: Path) -> None:
    """Take all the space that is left, as another program would."""
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass


def test_a_real_full_disk(tmp_path, hr_folder, tiny_disk, monkeypatch, capsys):
    """The experiment on a filesystem that fills up after the first checkpoint."""
    exp = tiny_disk / "exp"
    filler = tiny_disk / "filler"
    real = persist.save_training_state

    def fill_then_save(root, iteration, state, keep):
        if iteration == 10 and not filler.exists():
            _fill(filler)
        return real(root, iteration, state, keep)

    monkeypatch.setattr(persist, "save_training_state", fill_then_save)
    opts = parse_options(_options(hr_folder, exp, train={"total_iter": 15}))
    with pytest.raises(TrainingError, match="^saving at iteration 15 failed: could not write the models in"):
        train(opts)
    err = capsys.readouterr().out
    assert (
        "saving at iteration 10 failed (" in err
        and "training goes on and the newest saved state is 5.state" in err
    )
    assert [p.name for p in list_states(exp / "training_states")] == ["5.state"]
    assert not [p for p in exp.rglob("*.part")]
    assert load_training_state(exp / "training_states" / "5.state")["iteration"] == 5
    filler.unlink()  # space again: the run continues from the intact state
    monkeypatch.setattr(persist, "save_training_state", real)
    result = train(opts, resume="auto")
    assert result.iteration == 15
    assert torch.load(exp / "training_states" / "15.state", weights_only=True)["iteration"] == 15


def test_a_disk_full_before_the_run_starts_is_one_line(tmp_path, hr_folder, tiny_disk, capsys):
    from train_helpers import write

    from upres.cli import main

    _fill(tiny_disk / "filler")
    exp = tiny_disk / "exp"
    cfg = write(tmp_path / "o.yml", _options(hr_folder, exp))
    assert main(["train", "-c", str(cfg)]) == 2
    assert capsys.readouterr().err == (
        f"error: cannot write to the experiment folder {exp} (No space left on device); free space there or choose "
        "another path.experiments_root\n"
    )


@pytest.mark.parametrize(
    "code, remedy",
    [
        (13, "make the experiment folder writable again"),
        (
            30,
            "make the experiment folder's file system writable again (one remounted read-only after a disk error)",
        ),
    ],
)
def test_a_folder_that_stops_being_writable_is_not_told_to_free_space(
    tmp_path, hr_folder, monkeypatch, capsys, code, remedy
):
    """A folder whose permissions changed mid-run (EACCES), or a file system the kernel remounted read-only after a
    disk error (EROFS), was told 'free space before the next save', which changes nothing."""
    from train_helpers import write

    from upres.cli import main

    real = checkpoint.atomic_write

    def refuse(path, write_file):
        if path.suffix == ".state" and int(path.stem) > 5:
            raise OSError(code, os.strerror(code), str(path))
        return real(path, write_file)

    monkeypatch.setattr(checkpoint, "atomic_write", refuse)
    exp = tmp_path / "exp"
    cfg = write(tmp_path / "o.yml", _options(hr_folder, exp, train={"total_iter": 15}))
    assert main(["train", "-c", str(cfg)]) == 2
    out, err = capsys.readouterr()
    states = exp / "training_states"
    assert (
        f"saving at iteration 10 failed (could not write training state {states / '10.state'} ({os.strerror(code)}); "
        f"the previous state {states / '5.state'} is intact); training goes on and the newest saved state is "
        f"5.state; {remedy} before the next save at iteration 15\n" in out
    )
    assert err == (
        f"error: saving at iteration 15 failed: could not write training state {states / '15.state'} "
        f"({os.strerror(code)}); the previous state {states / '5.state'} is intact; {remedy}, then --resume auto "
        "goes on from the newest state\n"
    )

"""Checkpoints under faults: a full disk while saving, files that are not training states given to --resume."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import base_options, write

from upres.cli import main
from upres.train import checkpoint
from upres.train.checkpoint import CheckpointError, find_resume_state, list_states, load_training_state
from upres.train.config import parse_options
from upres.train.loop import train

# What torch.save's zip writer raises when the disk fills mid-file (seen on a full tmpfs, torch 2.x).
TORN_ZIP = "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"


@pytest.fixture
def states(tmp_path, hr_folder, capsys) -> Path:
    """The training_states folder of a finished 10-iteration run (states 5 and 10)."""
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "exp"))
    assert main(["train", "-c", str(cfg)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return tmp_path / "exp" / "training_states"


def _fill_then_fail(exc: BaseException):
    def write(obj, path, *a, **k):
        Path(path).write_bytes(b"PK\x03\x04 part of a zip")
        raise exc

    return write


@pytest.mark.parametrize(
    "exc, reason",
    [
        (
            RuntimeError(TORN_ZIP),
            "the file could not be written in full, the disk is probably full: " + TORN_ZIP,
        ),
        (OSError(28, "No space left on device"), "No space left on device"),
    ],
)
def test_a_full_disk_while_saving_a_state_is_a_checkpoint_error_and_keeps_the_previous(
    states, monkeypatch, exc, reason
):
    before = {p.name: p.read_bytes() for p in states.iterdir()}
    monkeypatch.setattr(checkpoint.torch, "save", _fill_then_fail(exc))
    with pytest.raises(CheckpointError) as info:
        checkpoint.save_training_state(states, 15, {"x": 1}, keep=3)
    assert str(info.value) == (
        f"could not write training state {states / '15.state'} ({reason}); the previous state "
        f"{states / '10.state'} is intact"
    )
    assert {p.name: p.read_bytes() for p in states.iterdir()} == before  # no part file, nothing pruned


def test_model_writes_turn_every_write_fault_into_one_checkpoint_error(tmp_path):
    from safetensors import SafetensorError

    target = tmp_path / "net_g_5.safetensors"
    target.write_bytes(b"the earlier file")
    faults = [
        SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"),
        RuntimeError(TORN_ZIP),
        OSError(28, "No space left on device"),
    ]
    for exc in faults:

        def fail(tmp, exc=exc):
            Path(tmp).write_bytes(b"half")
            raise exc

        with pytest.raises(CheckpointError, match=f"^could not write {target} \\("):
            checkpoint.write_checkpoint_file(target, fail)
        assert [p.name for p in tmp_path.iterdir()] == [target.name]
        assert target.read_bytes() == b"the earlier file"


def _model_file(path: Path) -> Path:
    torch.save({"params_ema": {"body.0.weight": torch.zeros(8, 3, 3, 3)}}, path)
    return path


@pytest.mark.parametrize("kind", ["model", "no_net_g", "list", "wrong_type", "empty"])
def test_resume_from_a_file_that_is_not_a_training_state_is_one_line(tmp_path, hr_folder, capsys, kind):
    bad = tmp_path / "x.state"
    if kind == "model":
        _model_file(bad)
    elif kind == "no_net_g":
        torch.save({"iteration": 5, "seed": 1, "optimizer_g": {}, "schedule_g": {}, "rng": {}}, bad)
    elif kind == "list":
        torch.save([torch.zeros(1)], bad)
    elif kind == "empty":
        bad.write_bytes(b"")
    else:
        torch.save(
            {"iteration": 5, "seed": 1, "net_g": [], "optimizer_g": {}, "schedule_g": {}, "rng": {}}, bad
        )
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "exp"))
    assert main(["train", "-c", str(cfg), "--resume", str(bad)]) == 2
    err = capsys.readouterr().err
    expected = {
        "model": f"error: {bad}: a model file, not a training state (it holds 'params_ema', not the optimizer and "
        "schedule a resume needs); to start from its weights set path.pretrain_network_g to it and leave out "
        "--resume\n",
        "no_net_g": f"error: {bad}: not a training state written by `upres train` (no net_g); resume from a file "
        "in experiments/<name>/training_states/\n",
        "list": f"error: {bad}: not a training state (it holds a list, not a dict)\n",
        "empty": f"error: {bad}: not a loadable training state (empty: a copy or save of it stopped before writing "
        "anything)\n",
        "wrong_type": f"error: {bad}: not a training state written by `upres train` (net_g is a list); resume "
        "from a file in experiments/<name>/training_states/\n",
    }[kind]
    assert err == expected
    assert not (tmp_path / "exp" / "models").exists() or not list((tmp_path / "exp" / "models").iterdir())


def test_resume_auto_passes_over_damaged_states_and_says_which(states):
    (states / "20.state").write_bytes(b"PK\x03\x04 torn")
    _model_file(states / "30.state")
    skipped: list[str] = []
    assert find_resume_state(states, skipped) == states / "10.state"
    assert len(skipped) == 2
    assert skipped[0].startswith(f"{states / '30.state'}: a model file, not a training state")
    assert skipped[1].startswith(f"{states / '20.state'}: not a loadable training state (")
    assert load_training_state(states / "10.state")["iteration"] == 10
    assert [p.name for p in list_states(states)] == ["5.state", "10.state", "20.state", "30.state"]


def test_training_sweeps_the_parts_of_its_killed_saves_and_nothing_else(tmp_path, hr_folder):
    """A run killed while saving leaves a hidden part file as big as a state (hundreds of MB for ESRGAN); the next
    run into the folder removes those whose writer is gone, and only those."""
    exp = tmp_path / "exp"
    opts = parse_options(base_options(hr_folder, exp))
    train(opts, device="cpu")
    dead = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        ).stdout
    )  # a process that has ended
    killed = [
        exp / "training_states" / f".15.state.{dead}.k3j_x9.part",
        exp / "models" / f".net_g_15.safetensors.{dead}.a81kd0.part",
        exp / f".report.html.{dead}.u1x9qq.part",
    ]
    kept = [
        exp / "training_states" / ".15.state.1.q8a2zz.part",  # process 1 always runs: a live writer
        exp / "models" / "notes.txt",
    ]
    for p in killed + kept:
        p.write_bytes(b"half a state")
    longer = opts.model_copy(update={"train": opts.train.model_copy(update={"total_iter": 12})})
    train(longer, resume="auto", device="cpu")
    assert [p.exists() for p in killed] == [False] * 3 and all(p.exists() for p in kept)
    assert (
        "removed 3 unfinished file(s) that an earlier run left while writing ("
        in (exp / "log.txt").read_text()
    )


@pytest.mark.parametrize("recorded", [True, False])  # False: a state written before the type was recorded
def test_resuming_with_another_optimizer_is_one_line_before_anything_changes(
    tmp_path, hr_folder, capsys, recorded
):
    """torch loads AdamW's moments into SGD without a word; SGD's first step then raised KeyError 'momentum'."""
    exp = tmp_path / "exp"
    opts = base_options(hr_folder, exp, total_iter=5)
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg), "--device", "cpu"]) == 0
    state_file = exp / "training_states" / "5.state"
    if not recorded:
        state = load_training_state(state_file)
        del state["optimizer_g_type"]
        torch.save(state, state_file)
    before = state_file.read_bytes()
    opts["train"]["optim_g"] = {"type": "SGD", "lr": 1e-3, "momentum": 0.9}
    opts["train"]["total_iter"] = 10
    write(cfg, opts)
    capsys.readouterr()
    assert main(["train", "-c", str(cfg), "--device", "cpu", "--resume", "auto"]) == 2
    theirs = "AdamW" if recorded else "another optimizer"
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            f"5.state: the state was trained with {theirs}, not train.optim_g.type SGD; resume with {theirs}, or "
            "start a new run from its model with path.pretrain_network_g"
        )
    )
    assert state_file.read_bytes() == before and not (exp / "training_states" / "10.state").exists()


def test_a_truncated_state_is_described_by_torch_s_first_sentence(tmp_path):
    """The note ended mid-sentence: '... This is an internal miniz error. If you are seeing this error, there is
    a high)'."""
    import torch

    from upres.train.checkpoint import CheckpointError, load_training_state

    path = tmp_path / "40.state"
    torch.save({"iteration": 40, "net_g": {"w": torch.zeros(4096)}}, path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError) as info:
        load_training_state(path)
    said = str(info.value)
    assert said.startswith(f"{path}: not a loadable training state (") and said.endswith(")")
    assert "internal miniz error" not in said and "there is a high" not in said


def test_an_old_checkpoint_that_cannot_be_removed_stays_and_the_save_counts(
    tmp_path, hr_folder, capsys, monkeypatch
):
    """On Windows a file another program has open (a checkpoint tried in chaiNNer) cannot be deleted: removing it
    beyond keep_checkpoints failed the save that had just been written ("saving at iteration 10 failed ... make the
    experiment folder writable again"), and at the last save the run ended with exit 2, everything saved."""
    import errno

    real_unlink = Path.unlink
    held = {"5.state", "net_g_5.safetensors"}

    def unlink(self, missing_ok=False):
        if self.name in held:
            raise PermissionError(errno.EACCES, "Access is denied", str(self))
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    exp = tmp_path / "exp"
    opts = base_options(hr_folder, exp)
    opts["logger"]["keep_checkpoints"] = 1
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts))]) == 0
    models, states = exp / "models", exp / "training_states"
    assert sorted(p.name for p in states.iterdir()) == ["10.state", "5.state"]
    assert sorted(p.name for p in models.iterdir()) == [
        "net_g_10.safetensors",
        "net_g_5.safetensors",
        "net_g_ema_10.safetensors",
    ]
    assert (
        f"iteration 10: saved; 2 older file(s) beyond logger.keep_checkpoints could not be removed and stay: "
        f"{states / '5.state'} (Access is denied), {models / 'net_g_5.safetensors'} (Access is denied); close the "
        "program that has them open (Windows deletes no open file), the next save tries again"
    ) in (exp / "log.txt").read_text()
    held.clear()  # the program closed them: the next run's save removes them
    opts["train"]["total_iter"] = 15
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--resume", "auto"]) == 0
    assert sorted(p.name for p in states.iterdir()) == ["15.state"]
    assert "net_g_5.safetensors" not in {p.name for p in models.iterdir()}

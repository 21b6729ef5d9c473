"""The experiment folder: a fresh start never writes over an earlier run; --archive-old moves it aside."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from train_helpers import base_options, write

from upres.cli import main


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def finished(tmp_path, hr_folder, capsys) -> tuple[Path, Path]:
    """An option file and the experiment folder of its finished 10-iteration run."""
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "exp"))
    assert main(["train", "-c", str(cfg)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return cfg, tmp_path / "exp"


def test_a_fresh_start_into_an_earlier_run_stops_and_changes_nothing(finished, capsys):
    cfg, exp = finished
    before = _tree(exp)
    assert main(["train", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {exp} holds an earlier run (2 training state(s) (newest: iteration 10) and 4 model file(s)); "
        "continue it with --resume auto, or give this run another path.experiments_root "
        "(or --archive-old to move the earlier one aside)\n"
    )
    assert _tree(exp) == before
    # A dry run writes nothing either, and says what the real run would do.
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"note: the real run would stop here: {exp} holds an earlier run" in out
    assert "dry run OK" in out
    assert main(["train", "-c", str(cfg), "--dry-run", "--archive-old"]) == 0
    assert f"note: the real run moves the earlier run in {exp} (" in capsys.readouterr().out
    assert _tree(exp) == before
    assert sorted(p.name for p in exp.parent.iterdir()) == ["exp", "hr", "o.yml"]


def test_the_error_names_a_new_name_when_the_folder_comes_from_the_name(
    tmp_path, hr_folder, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    opts = base_options(hr_folder, tmp_path)
    del opts["path"]
    opts["name"] = "my_x2"
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["train", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "error: experiments/my_x2 holds an earlier run (" in err
    assert "continue it with --resume auto, or give this run a new name (or --archive-old" in err
    assert len(err.splitlines()) == 1


def test_archive_old_moves_the_earlier_run_aside_intact(finished, capsys):
    cfg, exp = finished
    before = _tree(exp)
    assert main(["train", "-c", str(cfg), "--archive-old"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    archived = [p for p in exp.parent.iterdir() if p.name.startswith("exp_archived_")]
    assert len(archived) == 1 and re.fullmatch(r"exp_archived_\d{8}_\d{6}", archived[0].name)
    assert f"note: moved the earlier run in {exp} to {archived[0]} (--archive-old)" in out
    assert _tree(archived[0]) == before
    # The new run starts at iteration 0 in a folder of its own: one run's log, not two appended.
    assert (exp / "log.txt").read_text().count("training test:") == 1
    assert "iterations 0->10" in (exp / "log.txt").read_text()
    # Archiving twice within a second never merges two archives.
    assert main(["train", "-c", str(cfg), "--archive-old"]) == 0
    assert len([p for p in exp.parent.iterdir() if p.name.startswith("exp_archived_")]) == 2


def test_resume_auto_and_a_stateless_folder(finished, capsys):
    cfg, exp = finished
    assert main(["train", "-c", str(cfg), "--resume", "auto"]) == 0  # a finished run resumes as finished
    for state in (exp / "training_states").iterdir():
        state.unlink()
    # --resume auto without a state would start from 0 over the earlier models.
    assert main(["train", "-c", str(cfg), "--resume", "auto"]) == 2
    err = capsys.readouterr().err
    assert f"error: {exp} holds an earlier run (4 model file(s)) but no training state to resume;" in err


def test_archive_old_with_resume_auto_says_it_resumes(finished, capsys):
    """Both flags: the run went on in the folder and --archive-old was passed over without a word."""
    cfg, exp = finished
    assert main(["train", "-c", str(cfg), "--resume", "auto", "--archive-old"]) == 0
    assert (
        f"note: --archive-old has no effect with --resume auto: the run goes on in {exp}\n"
        in capsys.readouterr().out
    )
    assert not list(exp.parent.glob("exp_archived_*"))


def test_only_rank_0_decides_under_torchrun(finished, capsys, monkeypatch):
    import upres.train.loop

    cfg, exp = finished
    before = _tree(exp)
    calls = []
    monkeypatch.setattr(upres.train.loop, "train", lambda *a, **k: calls.append(k) or SimpleNamespace(rank=1))
    monkeypatch.setenv("RANK", "1")
    # Rank 1 goes straight on (to wait for rank 0 at the rendezvous) and neither checks nor moves anything.
    assert main(["train", "-c", str(cfg), "--archive-old"]) == 0
    assert len(calls) == 1
    assert _tree(exp) == before
    assert not [p for p in exp.parent.iterdir() if "archived" in p.name]


@pytest.mark.parametrize("what", ["file", "under_a_file"])
def test_an_experiment_folder_that_cannot_be_one_is_caught_by_the_dry_run(tmp_path, hr_folder, capsys, what):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    root = blocker if what == "file" else blocker / "exp"
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, root))
    assert main(["train", "-c", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err
    expected = (
        f"error: path.experiments_root: the experiment folder {root} is a file, not a folder; "
        "choose another path.experiments_root\n"
        if what == "file"
        else f"error: path.experiments_root: cannot create the experiment folder {root}: {blocker} is a file\n"
    )
    assert err == expected
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("name", ["../../escaped", "a/b", "a\\b", "..", ".", "", " ", "C:x"])
def test_name_is_one_folder_name(tmp_path, hr_folder, capsys, monkeypatch, name):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    opts = base_options(hr_folder, tmp_path)
    del opts["path"]
    opts["name"] = name
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {cfg}: name: must be one folder name (no '/', '\\', ':' or '..', not empty): "
        f"experiments/<name>/ holds the run; to write elsewhere set path.experiments_root (got {name!r})\n"
    )
    assert sorted(p.name for p in tmp_path.rglob("*") if "hr" not in p.parts) == ["a", "b", "o.yml"]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("run?", "Windows cannot make the folder experiments/<name>/ (holds '?'); choose another name"),
        (
            '4x "best" <v2>',
            "Windows cannot make the folder experiments/<name>/ (holds '\"<>'); choose another name",
        ),
        (
            "esrgan|gan*",
            "Windows cannot make the folder experiments/<name>/ (holds '*|'); choose another name",
        ),
        ("a\tb", "Windows cannot make the folder experiments/<name>/ (holds '\\t'); choose another name"),
        (
            "aux",
            "Windows cannot make the folder experiments/<name>/ (is a device name there); choose another name",
        ),
        (
            "NUL.v2",
            "Windows cannot make the folder experiments/<name>/ (is a device name there); choose another name",
        ),
        (
            "Com1",
            "Windows cannot make the folder experiments/<name>/ (is a device name there); choose another name",
        ),
        (
            "run.",
            "Windows drops a final '.' or space from a folder name (two names would be one folder); remove it",
        ),
        (
            "run ",
            "Windows drops a final '.' or space from a folder name (two names would be one folder); remove it",
        ),
    ],
)
def test_a_name_windows_cannot_make_a_folder_of_is_refused_everywhere(tmp_path, hr_folder, capsys, name, why):
    """An option file shared by a Linux user (`name: run?`, `name: aux`) failed on Windows only when the folder was
    made, with the system's words; `run.` and `run` were one folder there."""
    opts = base_options(hr_folder, tmp_path)
    del opts["path"]
    opts["name"] = name
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg)]) == 2
    assert capsys.readouterr().err == f"error: {cfg}: name: {why} (got {name!r})\n"


@pytest.mark.parametrize("name", ["console", "auxiliary", "COM10", "nul_run", "x4 [v2] (final)", "café"])
def test_names_windows_takes_are_taken(name):
    from upres.io.names import experiment_name_problem

    assert experiment_name_problem(name) is None


def test_a_name_with_dots_inside_is_one_folder_name(tmp_path, hr_folder):
    from upres.train.config import parse_options
    from upres.train.experiment import experiment_dir

    opts = base_options(hr_folder, tmp_path)
    del opts["path"]
    opts["name"] = "x2..v1.5"
    assert experiment_dir(parse_options(opts)) == Path("experiments") / "x2..v1.5"


def test_a_rewind_to_an_earlier_state_of_the_run_sets_its_later_files_aside(finished, capsys):
    """`--resume <run>/training_states/5.state`: the rewound run's saves and pruning deleted or replaced the later
    states and models (exit 0), and a later `--resume auto` could pick the old run's newest state."""
    cfg, exp = finished
    before = _tree(exp)
    ten = ("training_states/10", "models/net_g_10", "models/net_g_ema_10")
    later = {k: v for k, v in before.items() if k.startswith(ten)}
    assert len(later) == 3
    assert main(["train", "-c", str(cfg), "--resume", str(exp / "training_states" / "5.state")]) == 0
    out = capsys.readouterr().out
    aside = [p for p in exp.iterdir() if p.name.startswith("rewound_")]
    assert len(aside) == 1
    assert (
        f"note: resuming at iteration 5: moved this run's 1 later training state(s) and 2 later model file(s) to "
        f"{aside[0]}, so that nothing is written over" in out
    )
    assert _tree(aside[0]) == later  # the later files, byte for byte
    assert (exp / "training_states" / "5.state").read_bytes() == before["training_states/5.state"]
    assert sorted(p.name for p in (exp / "training_states").iterdir()) == ["10.state", "5.state"]
    # The same seed and data from the same state: the rewound run trains the same weights at iteration 10 again
    # (the files' headers differ: they record when they were written).
    from safetensors.torch import load, load_file

    again = load_file(exp / "models" / "net_g_10.safetensors")
    first = load(later["models/net_g_10.safetensors"])
    assert again.keys() == first.keys() and all(again[k].equal(first[k]) for k in first)


def test_resuming_another_folders_state_into_an_earlier_run_is_refused(finished, tmp_path, hr_folder, capsys):
    cfg, exp = finished
    other = write(tmp_path / "other.yml", base_options(hr_folder, tmp_path / "exp2", total_iter=5))
    assert main(["train", "-c", str(other)]) == 0
    capsys.readouterr()
    before = _tree(tmp_path / "exp2")
    assert main(["train", "-c", str(other), "--resume", str(exp / "training_states" / "5.state")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'exp2'} holds an earlier run (1 training state(s)")
    assert f"which resuming {exp / 'training_states' / '5.state'} here would write over" in err
    assert _tree(tmp_path / "exp2") == before


def test_resume_auto_with_no_state_that_loads_is_refused_and_changes_nothing(finished, capsys):
    """Every state damaged: the run started from iteration 0 over the earlier models, net_g_best included."""
    cfg, exp = finished
    for state in (exp / "training_states").iterdir():
        state.write_bytes(b"")
    before = _tree(exp)
    assert main(["train", "-c", str(cfg), "--resume", "auto"]) == 2
    err = capsys.readouterr().err
    assert f"error: --resume auto: none of the 2 training state(s) in {exp / 'training_states'} loads" in err
    assert {k: v for k, v in _tree(exp).items() if k != "log.txt"} == {
        k: v for k, v in before.items() if k != "log.txt"
    }


def test_a_refused_resume_keeps_the_recorded_options_and_a_resume_records_the_runs_seed(
    finished, tmp_path, hr_folder, capsys
):
    cfg, exp = finished
    recorded = (exp / "options.yml").read_text()
    wider = base_options(hr_folder, exp, total_iter=15)
    wider["network_g"]["num_feat"] = 16  # does not fit the states
    assert main(["train", "-c", str(write(tmp_path / "wide.yml", wider)), "--resume", "auto"]) == 2
    capsys.readouterr()
    assert (exp / "options.yml").read_text() == recorded
    # The dry run reads the state the real run would resume, and refuses the same way.
    assert main(["train", "-c", str(tmp_path / "wide.yml"), "--resume", "auto", "--dry-run"]) == 2
    assert "10.state: its generator does not fit this run's network_g" in capsys.readouterr().err
    # Without manual_seed, a resumed run goes on with its state's seed, and records that one.
    unseeded = base_options(hr_folder, tmp_path / "exp3", total_iter=5)
    del unseeded["manual_seed"]
    ucfg = write(tmp_path / "u.yml", unseeded)
    assert main(["train", "-c", str(ucfg)]) == 0
    import yaml

    first = yaml.safe_load((tmp_path / "exp3" / "options.yml").read_text())["manual_seed"]
    unseeded["train"]["total_iter"] = 10
    assert main(["train", "-c", str(write(ucfg, unseeded)), "--resume", "auto"]) == 0
    assert yaml.safe_load((tmp_path / "exp3" / "options.yml").read_text())["manual_seed"] == first


def test_a_second_run_into_a_folder_a_run_is_writing_to_is_refused_and_changes_nothing(finished, capsys):
    """Two runs into one folder (a --resume auto in a second terminal) mixed their models, states and options."""
    import subprocess
    import sys
    import time

    cfg, exp = finished
    before = _tree(exp)
    # A live process holds the folder as a run does (the lock is the OS's: it goes with the process).
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from upres.train.run_lock import hold\n"
         f"with hold(Path({str(exp)!r})):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        for extra in (
            ["--resume", "auto"],
            ["--archive-old"],
            ["--resume", str(exp / "training_states" / "5.state")],
        ):
            assert main(["train", "-c", str(cfg), *extra]) == 2
            err = capsys.readouterr().err
            assert err == (
                f"error: {exp}: another upres train (process {holder.pid}) is writing to this experiment folder; "
                "wait for it to end (Ctrl+C there saves and exits), or give this run another name\n"
            )
        # A dry run writes nothing: it may look at a folder a run is writing to.
        assert main(["train", "-c", str(cfg), "--resume", "auto", "--dry-run"]) == 0
        assert "dry run OK" in capsys.readouterr().out
        after = {k: v for k, v in _tree(exp).items() if k != ".upres-train.lock"}
        assert after == {k: v for k, v in before.items() if k != ".upres-train.lock"}
        # The library refuses too (a second train() while the first holds the folder).
        from upres.train.config import load_options
        from upres.train.loop import TrainingError, train

        with pytest.raises(TrainingError, match="another upres train"):
            train(load_options(cfg), resume="auto")
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    # The holder is gone (killed, not ended cleanly): its lock went with it.
    assert main(["train", "-c", str(cfg), "--resume", "auto"]) == 0


def test_an_experiment_folder_inside_a_dataset_folder_is_refused(tmp_path, hr_folder, capsys):
    """Its validation pictures became training images on the next (resumed) run: 'samples 6 -> 10', exit 0."""
    cfg = write(tmp_path / "in.yml", base_options(hr_folder, hr_folder / "run1"))
    before = sorted(p.name for p in hr_folder.iterdir())
    for extra in ([], ["--dry-run"]):
        assert main(["train", "-c", str(cfg), *extra]) == 2
        assert capsys.readouterr().err == (
            f"error: path.experiments_root: the experiment folder {hr_folder / 'run1'} lies inside "
            f"datasets.train.dataroot_gt {hr_folder}, which would read its pictures as data; choose a folder outside "
            "it\n"
        )
    assert sorted(p.name for p in hr_folder.iterdir()) == before


def test_a_total_iter_below_the_states_iteration_says_nothing_is_trained(
    finished, tmp_path, hr_folder, capsys
):
    cfg, exp = finished
    before = {k: v for k, v in _tree(exp).items() if k.startswith(("models/", "training_states/"))}
    shorter = write(tmp_path / "short.yml", base_options(hr_folder, exp, total_iter=5))
    assert main(["train", "-c", str(shorter), "--resume", "auto"]) == 0
    out = capsys.readouterr()
    assert (
        "train.total_iter 5 is below the state's iteration 10: nothing is trained; raise train.total_iter to go on"
        in out.out + out.err
    )
    assert {k: v for k, v in _tree(exp).items() if k.startswith(("models/", "training_states/"))} == before


def test_ema_switched_on_at_a_resume_starts_from_the_resumed_generator(tmp_path, hr_folder, capsys):
    """It started from the generator of iteration 0 (copied when the run was built, before the state loaded): with
    the usual decay the net_g_ema files stayed the untrained network for thousands of iterations."""
    from upres.io.model_files import read_tensors

    opts = base_options(hr_folder, tmp_path / "exp", total_iter=5, ema_decay=0)
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg)]) == 0
    resumed = read_tensors(tmp_path / "exp" / "models" / "net_g_5.safetensors")[0]
    opts["train"].update(total_iter=6, ema_decay=0.5)
    capsys.readouterr()
    assert main(["train", "-c", str(write(cfg, opts)), "--resume", "auto"]) == 0
    out = capsys.readouterr()
    assert (
        "the state has no EMA (ema_decay was 0): the EMA starts from the generator of iteration 5"
        in out.out + out.err
    )
    g6 = read_tensors(tmp_path / "exp" / "models" / "net_g_6.safetensors")[0]
    ema6 = read_tensors(tmp_path / "exp" / "models" / "net_g_ema_6.safetensors")[0]
    for k in resumed:  # one update at decay 0.5 from the resumed weights
        torch.testing.assert_close(ema6[k], 0.5 * resumed[k] + 0.5 * g6[k])


@pytest.mark.parametrize("best_after_state", [True, False])
def test_a_rewind_moves_a_best_model_written_after_its_state(tmp_path, best_after_state):
    """net_g_best from after the state stayed, as the rewound run's best, while the state tracks an earlier score:
    the summary named it as the best of iteration 5, and `upres eval` scored the later model."""
    import os

    from upres.train.experiment import set_later_aside

    exp = tmp_path / "exp"
    (exp / "training_states").mkdir(parents=True)
    (exp / "models").mkdir()
    for it in (5, 10):
        (exp / "training_states" / f"{it}.state").write_bytes(b"state")
        (exp / "models" / f"net_g_{it}.safetensors").write_bytes(b"model")
    best = exp / "models" / "net_g_best.safetensors"
    best.write_bytes(b"best")
    state = exp / "training_states" / "5.state"
    os.utime(state, (1000, 1000))
    os.utime(best, (2000, 2000) if best_after_state else (500, 500))
    note = set_later_aside(exp, state, dry_run=False)
    aside = next(p for p in exp.iterdir() if p.name.startswith("rewound_"))
    assert (aside / "models" / "net_g_best.safetensors").read_bytes() == b"best"
    assert best.exists() is not best_after_state
    assert ("net_g_best.safetensors, written after it" in note) is best_after_state


@pytest.mark.parametrize("from_file", [True, False])
def test_a_missing_state_is_named_where_it_was_given(tmp_path, hr_folder, capsys, from_file):
    """A missing path.resume_state was reported as '--resume missing.state', a flag the user never passed."""
    opts = base_options(hr_folder, tmp_path / "exp", total_iter=2)
    missing = tmp_path / "missing.state"
    if from_file:
        opts["path"]["resume_state"] = str(missing)
    cfg = write(tmp_path / "o.yml", opts)
    argv = ["train", "-c", str(cfg)] + ([] if from_file else ["--resume", str(missing)])
    assert main(argv) == 2
    named = "path.resume_state" if from_file else "--resume"
    assert capsys.readouterr().err.endswith(f"error: {named} {missing}: no such training state\n")


def test_a_dry_run_from_a_resumed_state_trains_its_one_iteration(finished, monkeypatch, capsys):
    """From a state it trained nothing, said "iterations 10->1" and "dry run OK" in 0.00 s."""
    from train_helpers import patch_forward

    cfg, exp = finished
    calls = []
    patch_forward(monkeypatch, lambda n, forward, x: calls.append(n) or forward(x))
    state = exp / "training_states" / "10.state"
    assert main(["train", "-c", str(cfg), "--resume", str(state), "--dry-run"]) == 0
    assert "iterations 10->11" in capsys.readouterr().out
    assert calls  # the generator ran


def test_a_run_refused_while_set_up_leaves_no_experiment_folder(tmp_path, hr_folder, capsys):
    """It left experiments/<name>/ with a log, a lock and empty folders, where the docs say the run stops before
    anything is written. A folder that existed before is left as it was."""
    from train_helpers import base_options, write

    from upres.cli import main

    options = base_options(hr_folder, tmp_path / "exp")
    options["datasets"]["train"]["batch_size_per_gpu"] = 8  # six images: refused when the run is built
    cfg = write(tmp_path / "o.yml", options)
    assert main(["train", "-c", str(cfg)]) == 2
    assert "needs at least 8" in capsys.readouterr().err
    assert not (tmp_path / "exp").exists()
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "notes.txt").write_text("the user's")
    assert main(["train", "-c", str(cfg)]) == 2
    assert (tmp_path / "exp" / "notes.txt").read_text() == "the user's"


@pytest.mark.skipif(sys.platform == "win32", reason="flock is the POSIX lock; Windows locks byte ranges")
def test_a_file_system_without_locks_trains_with_a_note(tmp_path, hr_folder, capsys, monkeypatch):
    """NFS without its lock service and FUSE mounts (cloud drives) answer flock with ENOLCK/EOPNOTSUPP: training
    there stopped with "cannot write to the experiment folder (No locks available)"."""
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    exp = tmp_path / "exp"
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, exp))
    assert main(["train", "-c", str(cfg)]) == 0, capsys.readouterr().err
    note = (
        f"{exp}: this file system keeps no file locks (a network or cloud-drive mount): a second upres train writing "
        "to this folder at the same time would not be stopped; run one at a time here"
    )
    assert note in (exp / "log.txt").read_text()
    assert (exp / "training_states" / "10.state").is_file()
    # and the resume that follows finds no run holding the folder
    assert main(["train", "-c", str(cfg), "--resume", "auto"]) == 0, capsys.readouterr().err


def test_a_lock_error_other_than_no_locks_is_still_an_error(tmp_path, hr_folder, capsys, monkeypatch):
    import errno
    import fcntl

    def broken(fd, op):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fcntl, "flock", broken)
    exp = tmp_path / "exp"
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, exp))
    assert main(["train", "-c", str(cfg)]) == 2
    assert "Input/output error" in capsys.readouterr().err
    assert not exp.exists()


def test_a_long_experiment_name_is_archived_under_a_name_that_fits(tmp_path, hr_folder, capsys):
    """A 240-byte experiment folder plus "_archived_<stamp>" passed the 255-byte limit: --archive-old failed with
    'File name too long'. The archive's name keeps the start of the name, a hash and the stamp."""
    exp = tmp_path / ("é" * 120)  # 240 bytes in UTF-8
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, exp, total_iter=2))
    assert main(["train", "-c", str(cfg)]) == 0, capsys.readouterr().err
    before = _tree(exp)
    assert main(["train", "-c", str(cfg), "--archive-old"]) == 0, capsys.readouterr().err
    (archived,) = [p for p in tmp_path.iterdir() if "_archived_" in p.name]
    assert len(archived.name.encode()) <= 255 and archived.name.startswith("é" * 10)
    assert re.search(r"~[0-9a-f]{12}_archived_\d{8}_\d{6}$", archived.name)
    assert _tree(archived) == before


def test_a_run_refused_while_set_up_leaves_no_experiments_folder_it_made(
    tmp_path, hr_folder, capsys, monkeypatch
):
    """The default experiments/<name>/ was removed, but the experiments/ made for it stayed behind, empty."""
    options = base_options(hr_folder, tmp_path / "unused")
    del options["path"]
    options["datasets"]["train"]["batch_size_per_gpu"] = 8  # six images: refused when the run is built
    cfg = write(tmp_path / "o.yml", options)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "-c", str(cfg)]) == 2
    assert "needs at least 8" in capsys.readouterr().err
    assert not (tmp_path / "experiments").exists()
    (tmp_path / "experiments" / "other").mkdir(parents=True)  # one that existed before is left as it was
    assert main(["train", "-c", str(cfg)]) == 2
    assert [p.name for p in (tmp_path / "experiments").iterdir()] == ["other"]

"""Under torchrun, an error met by process 0 in work the others wait for (the dataset check, the choice of the state
to resume from, the last checkpoint) is printed once, by it: the others stop quietly with its exit code, neither printing a traceback of
a collective whose peer left nor waiting for ever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import base_options, write

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}


def _torchrun(cfg: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "upres", "train", "-c", str(cfg), "--device", "cpu", *extra]  # fmt: skip
    return subprocess.run(cmd, env=ENV, cwd=cfg.parent, capture_output=True, text=True, timeout=120)


def _said_once(out: subprocess.CompletedProcess, line: str) -> None:
    assert out.returncode != 0
    assert out.stderr.count(line) == 1, out.stderr[-3000:]
    assert out.stderr.count("error: ") == 1, out.stderr[-3000:]
    assert f'File "{REPO / "src"}' not in out.stderr, out.stderr[-3000:]  # torchrun's own traceback only
    assert "Connection closed by peer" not in out.stderr


@pytest.mark.slow
def test_a_dataset_check_error_is_said_once_and_every_process_stops(tmp_path, hr_folder):
    (hr_folder / "3.png").write_bytes((hr_folder / "3.png").read_bytes()[:100])
    out = _torchrun(write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "exp")))
    _said_once(
        out,
        f"error: datasets.train: the dataset check found 1 error(s), e.g. {hr_folder / '3.png'}: cannot read image",
    )
    assert not (tmp_path / "exp").exists()


@pytest.mark.slow
def test_a_missing_resume_state_is_said_once_and_every_process_stops(tmp_path, hr_folder):
    out = _torchrun(
        write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "exp")), "--resume", "no.state"
    )
    _said_once(out, "error: --resume no.state: no such training state")


FULL_DISK_ON_PROCESS_0 = """
import errno, os
if os.environ.get("RANK") == "0":
    import upres.train.persist as persist

    def _full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    persist.save_model = _full
"""


@pytest.mark.slow
def test_a_failed_last_save_is_said_once_and_every_process_stops(tmp_path, hr_folder):
    """Process 0 alone writes the checkpoint; the others waited at a barrier that failed when it left."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(FULL_DISK_ON_PROCESS_0)
    opts = base_options(hr_folder, tmp_path / "exp")
    opts["logger"]["save_checkpoint_freq"] = 100
    cfg = write(tmp_path / "o.yml", opts)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "upres", "train", "-c", str(cfg), "--device", "cpu"]  # fmt: skip
    env = {**ENV, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ENV['PYTHONPATH']}"}
    out = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    _said_once(out, "error: saving at iteration 10 failed: could not write the models in")


def test_world_size_without_torchrun_is_one_line(tmp_path, hr_folder, capsys, monkeypatch):
    """WORLD_SIZE left in the shell (or set by a script starting `upres train` itself): torch's ValueError and its
    traceback ("environment variable MASTER_ADDR expected, but not set")."""
    from upres.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "exp"))
    assert main(["train", "-c", str(cfg), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == (
        "error: WORLD_SIZE is 2 but MASTER_ADDR, MASTER_PORT are not set: start several processes with torchrun "
        "(torchrun --nproc_per_node 2 -m upres train -c OPTIONS), or unset WORLD_SIZE to train in one process\n"
    )
    assert not (tmp_path / "exp").exists()


@pytest.mark.slow
def test_on_two_machines_the_other_machine_says_where_the_error_was_printed(tmp_path, hr_folder):
    """Each machine's terminal shows its own processes: machine 1's showed torchrun's ChildFailedError alone."""
    from train_helpers import free_port, launch_machine

    (hr_folder / "3.png").write_bytes((hr_folder / "3.png").read_bytes()[:100])
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "exp"))
    port = free_port()
    target = ["-m", "upres", "train", "-c", str(cfg), "--device", "cpu"]
    procs = {node: launch_machine(node, port, target, tmp_path, ENV) for node in (1, 0)}
    try:
        err = {node: p.communicate(timeout=90)[1] for node, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    assert "error: datasets.train: the dataset check found 1 error(s)" in err[0]
    assert err[1].count("error: ") == 1, err[1][-3000:]
    assert (
        "error: process 0 (on machine 0) stopped with the error it printed there; every process stops"
        in err[1]
    )
    assert f'File "{REPO / "src"}' not in err[1]


@pytest.mark.slow
def test_a_state_that_does_not_fit_the_options_is_said_once(tmp_path, hr_folder):
    """Every process loads process 0's state with the same options: each printed the same line."""
    from train_helpers import merge

    from upres.train.config import parse_options
    from upres.train.loop import train

    train(parse_options(base_options(hr_folder, tmp_path / "exp")), device="cpu")
    wider = merge(base_options(hr_folder, tmp_path / "exp"), {"network_g": {"num_feat": 12}})
    out = _torchrun(write(tmp_path / "o.yml", wider), "--resume", "auto")
    _said_once(
        out, "its generator does not fit this run's network_g (body.0.weight is [8, 3, 3, 3] in the state"
    )


OUT_OF_MEMORY_IN_VALIDATION = """
import os
if os.environ.get("RANK") == "0":
    import torch
    import upres.train.watch as watch

    def _oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    watch.run_validation = _oom
"""


@pytest.mark.slow
def test_an_out_of_memory_validation_is_said_once_and_every_process_stops(tmp_path, hr_folder):
    """Process 0 alone validates; the others waited in a broadcast that failed when it left."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(OUT_OF_MEMORY_IN_VALIDATION)
    from train_helpers import merge

    opts = merge(
        base_options(hr_folder, tmp_path / "exp"),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(hr_folder)}},
            "val": {"val_freq": 5, "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2}}},
        },
    )
    cfg = write(tmp_path / "o.yml", opts)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "upres", "train", "-c", str(cfg), "--device", "cpu"]  # fmt: skip
    env = {**ENV, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ENV['PYTHONPATH']}"}
    out = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    _said_once(out, "out of memory")

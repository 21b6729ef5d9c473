"""Training under `torchrun` (two CPU processes over gloo): what every process starts from, and what it prints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_helpers import base_options, free_port, launch_machine, merge, write

from upres.io.model_files import read_tensors
from upres.train.checkpoint import list_states
from upres.train.config import parse_options
from upres.train.loop import train

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}


def _torchrun(cfg: Path, *extra: str, nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "upres", "train", "-c", str(cfg), "--device", "cpu", *extra]  # fmt: skip
    return subprocess.run(cmd, env=ENV, cwd=cfg.parent, capture_output=True, text=True, timeout=300)


def _weights(exp: Path, name: str) -> dict[str, torch.Tensor]:
    return read_tensors(exp / "models" / name)[0]


@pytest.mark.slow
def test_ddp_with_an_ldl_loss_equals_one_process_with_double_batch(tmp_path, hr_folder):
    """The LDL loss compares with the EMA's output: every process's EMA must start from the generator DDP gave them
    all (process 1's started from its own random one, and the runs differed by 2e-3)."""
    ldl = {
        "train": {"losses": [{"type": "l1loss", "loss_weight": 1.0}, {"type": "ldlloss", "loss_weight": 1.0}]}
    }
    single = merge(
        merge(base_options(hr_folder, tmp_path / "single"), ldl),
        {"datasets": {"train": {"batch_size_per_gpu": 4}}},
    )
    train(parse_options(single), device="cpu")
    out = _torchrun(write(tmp_path / "ddp.yml", merge(base_options(hr_folder, tmp_path / "ddp"), ldl)))
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("net_g_10.safetensors", "net_g_ema_10.safetensors"):
        a, b = _weights(tmp_path / "single", name), _weights(tmp_path / "ddp", name)
        for k in a:
            torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=0, msg=f"{name} {k}")


def _two_machines(cfgs: tuple[Path, Path], cwds: tuple[Path, Path], *extra: str) -> list[tuple[int, str]]:
    """Two torchrun launchers of one process each, as on two machines (`--nnodes 2`), each with its own option
    file and working folder: (exit code, stderr) of each, or a failed test when they do not end in time."""
    port = free_port()
    procs = [
        launch_machine(node, port, ["-m", "upres", "train", "-c", str(cfgs[node]), "--device", "cpu", *extra],
                       cwds[node], ENV)
        for node in (1, 0)
    ]  # fmt: skip
    try:
        errs = [p.communicate(timeout=90)[1] for p in procs]
        return [(procs[1].returncode, errs[1]), (procs[0].returncode, errs[0])]  # machine 0's first
    except subprocess.TimeoutExpired:
        pytest.fail("the two machines' processes did not end: they wait for each other")
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _machines(tmp_path: Path, hr_folder: Path) -> tuple[tuple[Path, Path], tuple[Path, Path]]:
    """Two machines' working folders, each with its own experiment folder (no shared disk) and option file (15
    iterations); machine 0's holds states 5 and 10 of a run of 10."""
    roots = (tmp_path / "m0", tmp_path / "m1")
    for root in roots:
        root.mkdir()
    train(parse_options(base_options(hr_folder, roots[0] / "exp")), device="cpu")
    cfgs = tuple(
        write(root / "o.yml", merge(base_options(hr_folder, root / "exp"), {"train": {"total_iter": 15}}))
        for root in roots
    )
    return cfgs, roots


@pytest.mark.slow
def test_every_machine_resumes_from_the_state_process_0_chose(tmp_path, hr_folder):
    """Machine 1 saw no training state in its own experiment folder: it started from iteration 0 while machine 0
    resumed from 10, and both waited for each other for ever. Process 0's choice now holds for every process."""
    cfgs, roots = _machines(tmp_path, hr_folder)
    (code0, err0), (code1, err1) = _two_machines(cfgs, roots, "--resume", "auto")
    assert code0 == 0 and code1 == 0, err0[-2000:] + err1[-2000:]
    log = (roots[0] / "exp" / "log.txt").read_text()
    assert f"resumed from {roots[0] / 'exp' / 'training_states' / '10.state'} at iteration 10" in log
    assert "training finished: test, iteration 15 of 15" in log


@pytest.mark.slow
def test_a_process_that_cannot_read_the_chosen_state_stops_with_one_line(tmp_path, hr_folder):
    cfgs, roots = _machines(tmp_path, hr_folder)
    state = Path("exp/training_states/5.state")  # relative: only machine 0's working folder holds it
    (code0, _), (code1, err1) = _two_machines(cfgs, roots, "--resume", str(state))
    assert code1 != 0 and code0 != 0
    assert (
        f"error: process 1 cannot read the training state {state} that process 0 resumes from: under torchrun on "
        "several machines the experiment folder must be at the same path on every machine"
    ) in err1
    assert f'File "{REPO / "src"}' not in err1  # torchrun prints a traceback of its own; upres none


@pytest.mark.slow
def test_a_dry_run_under_torchrun_speaks_once(tmp_path, hr_folder):
    """A dry run has no experiment folder; its log lines were printed by every process."""
    cfg = write(
        tmp_path / "o.yml", merge(base_options(hr_folder, tmp_path / "exp"), {"train": {"warmup_iter": 50}})
    )
    out = _torchrun(cfg, "--dry-run")
    assert out.returncode == 0, out.stderr[-3000:]
    for said in (
        "train.warmup_iter 50 is longer than",
        "training test: compact",
        "software: upres",
        "iter 1/1 ",
    ):
        assert out.stdout.count(said) == 1, out.stdout
    assert out.stdout.count("dry run OK") == 1
    assert not (tmp_path / "exp").exists()


WAITS_FOR_MAIN = """
import datetime, sys, time
import torch.distributed as dist

# The default group's collective timeout made short (torch's is 10 min under NCCL, 30 under gloo).
_init = dist.init_process_group
dist.init_process_group = lambda *a, **k: _init(*a, **{**k, "timeout": datetime.timedelta(seconds=3)})
from upres.train.distributed import barrier, broadcast_object, setup_distributed, teardown

ctx = setup_distributed("cpu")
if ctx.is_main:
    time.sleep(6)  # the dataset check
barrier(ctx)
if ctx.is_main:
    time.sleep(6)  # a validation
got = broadcast_object(ctx, "stop" if ctx.is_main else None)
print(f"rank {ctx.rank}: {got}", flush=True)
teardown(ctx)
"""


@pytest.mark.slow
def test_the_other_processes_wait_for_process_0_past_the_collective_timeout(tmp_path):
    """Process 0 alone checks the dataset and validates: the others waited on the default group and the run died at
    its timeout (10 min under NCCL: a first check of a large dataset, a long validation)."""
    script = tmp_path / "waits.py"
    script.write_text(WAITS_FOR_MAIN)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
    ]
    out = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(out.stdout.split("\n")[:2]) == ["rank 0: stop", "rank 1: stop"], out.stdout


@pytest.mark.slow
def test_sigterm_to_torchrun_stops_every_process_after_one_iteration_and_saves(tmp_path, hr_folder):
    """What docker stop or a scheduler does: SIGTERM to torchrun, which passes it to every process. They died at
    once, losing every iteration since the last checkpoint; they now stop as on Ctrl+C."""
    opts = merge(base_options(hr_folder, tmp_path / "exp"), {"train": {"total_iter": 100000}})
    opts["logger"] = {"print_freq": 1, "save_checkpoint_freq": 100000, "use_tb_logger": False}
    cfg = write(tmp_path / "o.yml", opts)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "upres", "train", "-c", str(cfg), "--device", "cpu"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=ENV, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    log = tmp_path / "exp" / "log.txt"
    deadline = time.time() + 120
    while (
        time.time() < deadline and not (log.exists() and "iter 3/" in log.read_text()) and proc.poll() is None
    ):
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)  # torchrun only
    _, err = proc.communicate(timeout=60)
    assert (
        err.count("SIGTERM: all processes finish the same iteration, then saving the training state") == 2
    ), err
    assert len(re.findall(r"interrupted(?! after)", err)) == 2, err
    assert f'File "{REPO / "src"}' not in err
    stopped = int(list_states(tmp_path / "exp" / "training_states")[-1].stem)
    assert stopped >= 3
    assert (
        f"interrupted after iteration {stopped}: saving the training state before exiting" in log.read_text()
    )


@pytest.mark.slow
def test_an_error_every_process_meets_is_printed_once(tmp_path, hr_folder):
    """The NaN guard's verdict follows the gradients the processes share: each printed the same error line."""
    opts = merge(
        base_options(hr_folder, tmp_path / "exp"),
        {"train": {"total_iter": 10, "optim_g": {"lr": 1e8}, "nan_rollback_after": 2}},
    )
    out = _torchrun(write(tmp_path / "o.yml", opts))
    assert out.returncode != 0
    assert out.stderr.count("error: iteration 10: the model diverged") == 1, out.stderr

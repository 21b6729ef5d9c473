"""Ctrl+C under `torchrun`: the ranks agree on the iteration after which they stop, save together and exit within
seconds; `--resume auto` then ends on the same weights as a run never interrupted."""

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
from train_helpers import base_options, merge, write

from upres.io.model_files import read_tensors
from upres.train.checkpoint import list_states, load_training_state

REPO = Path(__file__).resolve().parents[2]
TOTAL = 100  # far more than pass before the signal lands: the run is stopped, not finished
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}


def _torchrun(cfg: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "upres", "train", "-c", str(cfg), "--device", "cpu", *extra]  # fmt: skip


def _options(hr: Path, exp: Path) -> dict:
    opts = merge(
        base_options(hr, exp),
        # A milestone among the iterations after the stop: a schedule one step late shows in the weights.
        {"train": {"total_iter": TOTAL, "scheduler": {"type": "MultiStepLR", "milestones": [TOTAL - 20]}}},
    )
    opts["logger"] = {"print_freq": 1, "save_checkpoint_freq": TOTAL, "use_tb_logger": False}
    return opts


def _rank_pid(torchrun: int, rank: int) -> int:
    children = Path(f"/proc/{torchrun}/task/{torchrun}/children").read_text().split()
    for pid in children:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in env:
            return int(pid)
    raise AssertionError(f"no rank {rank} among torchrun's children {children}")


def _interrupt(cfg: Path, exp: Path, target: str) -> int:
    """Run, send SIGINT once iteration 3 is logged; return the iteration of the state saved on the way out."""
    proc = subprocess.Popen(_torchrun(cfg), env=ENV, cwd=cfg.parent, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    log = exp / "log.txt"
    deadline = time.time() + 120
    while (
        time.time() < deadline and not (log.exists() and "iter 3/" in log.read_text()) and proc.poll() is None
    ):
        time.sleep(0.01)
    if target == "terminal":  # as a Ctrl+C in a terminal: torchrun gets it and forwards it to every rank
        os.killpg(proc.pid, signal.SIGINT)
    else:  # one rank only, as on another node: the rank that got nothing must stop too
        os.kill(_rank_pid(proc.pid, 1), signal.SIGINT)
    sent = time.time()
    _, err = proc.communicate(timeout=60)
    assert time.time() - sent < 20, "Ctrl+C took too long"
    assert proc.returncode != 0, err
    # torchrun prints its own traceback for the signal it forwarded; upres's ranks print none.
    assert f'File "{REPO / "src"}' not in err, err
    # Both ranks end through the CLI's "interrupted" (their lines may interleave), not a kill.
    assert len(re.findall(r"interrupted(?! after)", err)) == 2, err
    assert "terminate called" not in err and "Unable to shutdown process" not in err, (
        err
    )  # no abort, no SIGKILL
    assert set(re.findall(r"exitcode\s*:\s*(-?\d+)", err)) <= {"130"}, (
        err
    )  # torchrun's summary of failed ranks
    saved = list_states(exp / "training_states")
    assert saved, err
    stopped_at = int(saved[-1].stem)
    assert 3 <= stopped_at < TOTAL
    assert (
        f"interrupted after iteration {stopped_at}: saving the training state before exiting"
        in log.read_text()
    )
    return stopped_at


@pytest.mark.slow
def test_ddp_ctrl_c_stops_every_rank_together_and_resumes_exactly(tmp_path, hr_folder):
    straight = write(tmp_path / "straight.yml", _options(hr_folder, tmp_path / "straight"))
    cfg = write(tmp_path / "stopped.yml", _options(hr_folder, tmp_path / "stopped"))
    _interrupt(cfg, tmp_path / "stopped", "terminal")
    for run in (_torchrun(cfg, "--resume", "auto"), _torchrun(straight)):
        out = subprocess.run(run, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
    for kind in ("net_g", "net_g_ema"):
        a = read_tensors(tmp_path / "straight" / "models" / f"{kind}_{TOTAL}.safetensors")[0]
        b = read_tensors(tmp_path / "stopped" / "models" / f"{kind}_{TOTAL}.safetensors")[0]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), kind


@pytest.mark.slow
def test_ddp_ctrl_c_to_one_rank_stops_the_others_too(tmp_path, hr_folder):
    """As on another node: the rank that got no signal stops after the same iteration (the save's gathers and
    barriers would otherwise wait until torchrun kills both); what is saved is then a state like any other."""
    stopped_at = _interrupt(
        write(tmp_path / "o.yml", _options(hr_folder, tmp_path / "exp")), tmp_path / "exp", "one"
    )
    assert (
        load_training_state(tmp_path / "exp" / "training_states" / f"{stopped_at}.state")["iteration"]
        == stopped_at
    )


def test_under_several_processes_ctrl_c_is_held_until_the_ranks_agree(tmp_path):
    """The first Ctrl+C raises nowhere (a rank raising alone would strand the others in a collective); the agreement
    answers one iteration later, the same on every rank; a second Ctrl+C stops at once."""
    import torch.distributed as dist

    from upres.train.interrupt import HeldInterrupts, StepAbandoned, StopAgreement

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        with HeldInterrupts(deferred=True) as held:
            agreement = StopAgreement(held, dist.new_group(backend="gloo"))
            assert not agreement.poll()
            signal.raise_signal(signal.SIGINT)  # outside an iteration: held too
            with held.iteration():
                pass
            assert held.requested
            assert not agreement.poll()  # this poll reads the flags of the iteration before the Ctrl+C
            assert agreement.poll()
            with pytest.raises(StepAbandoned), held.iteration():
                signal.raise_signal(signal.SIGINT)
            agreement.close()
    finally:
        dist.destroy_process_group()

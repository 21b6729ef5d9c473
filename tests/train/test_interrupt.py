"""Ctrl+C: the state saved on the way out is that of whole steps, so --resume auto continues bit-exactly; the
process always ends within seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from train_helpers import base_options, merge, write

from upres.io.model_files import read_tensors
from upres.train import loop, persist
from upres.train.checkpoint import list_states, load_training_state
from upres.train.config import parse_options
from upres.train.feed import BatchFeed
from upres.train.report import RunLog
from upres.train.schedule import Schedule

REPO = Path(__file__).resolve().parents[2]
TOTAL = 8
AT = 4  # the iteration during which Ctrl+C comes


def _options(hr: Path, exp: Path) -> dict:
    return merge(
        base_options(hr, exp),
        {
            "datasets": {
                "train": {"accum_iter": 2},
                "val": {"type": "pairedimagedataset", "dataroot_gt": str(hr)},
            },
            # A milestone right after the interruption: a schedule one step late shows in the weights.
            "train": {"total_iter": TOTAL, "scheduler": {"type": "MultiStepLR", "milestones": [AT + 1]}},
            "val": {"val_freq": AT, "save_img": False, "metrics": {"psnr": {"type": "calculate_psnr"}}},
            "logger": {"print_freq": AT, "save_checkpoint_freq": 3},
        },
    )


def _weights(exp: Path) -> dict[str, torch.Tensor]:
    out = {}
    for kind in ("net_g", "net_g_ema"):
        for k, v in read_tensors(exp / "models" / f"{kind}_{TOTAL}.safetensors")[0].items():
            out[f"{kind}.{k}"] = v
    return out


def _validations(exp: Path) -> dict[str, list]:
    """The report's validation curves: every validation the run made, with its values."""
    history = json.loads((exp / "report_history.json").read_text())
    return {k: v for k, v in history.items() if k.startswith("val/")}


def _best(exp: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The best-metric record of the run's last state, and net_g_best's tensors."""
    state = load_training_state(list_states(exp / "training_states")[-1])
    return state["best"], read_tensors(exp / "models" / "net_g_best.safetensors")[0]


def _ctrl_c() -> None:
    signal.raise_signal(signal.SIGINT)


def _during_a_micro_batch(monkeypatch) -> None:
    real = BatchFeed.__call__

    def feed(self, it, micro):
        if it == AT and micro == 1:
            _ctrl_c()
        return real(self, it, micro)

    monkeypatch.setattr(BatchFeed, "__call__", feed)


def _between_optimizer_and_scheduler(monkeypatch) -> None:
    real, calls = Schedule.step, {"n": 0}

    def step(self):
        calls["n"] += 1
        if calls["n"] == AT:  # the optimizer has stepped, the scheduler not yet
            _ctrl_c()
        real(self)

    monkeypatch.setattr(Schedule, "step", step)


def _during_the_progress_line(monkeypatch) -> None:
    real = RunLog.info

    def info(self, message):
        if message.startswith(f"iter {AT}/"):
            _ctrl_c()
        real(self, message)

    monkeypatch.setattr(RunLog, "info", info)


def _during_validation(monkeypatch) -> None:
    from upres.train import watch

    real = watch.run_validation

    def validate(*a, **k):
        _ctrl_c()
        return real(*a, **k)

    monkeypatch.setattr(watch, "run_validation", validate)


def _during_a_checkpoint(monkeypatch) -> None:
    real, fired = persist.save_training_state, []

    def save(root, iteration, state, keep):
        if not fired:
            fired.append(iteration)
            _ctrl_c()
        return real(root, iteration, state, keep)

    monkeypatch.setattr(persist, "save_training_state", save)


POINTS = {
    "micro_batch": (_during_a_micro_batch, AT),
    "optimizer_then_scheduler": (_between_optimizer_and_scheduler, AT),
    "progress_line": (_during_the_progress_line, AT),
    "validation": (_during_validation, AT),
    "checkpoint": (_during_a_checkpoint, 3),
}
SLOW = {"progress_line", "validation", "checkpoint"}  # ~10 s each on a busy 2-core machine


@pytest.mark.parametrize(
    "point", [pytest.param(p, marks=[pytest.mark.slow] if p in SLOW else []) for p in POINTS]
)
def test_ctrl_c_then_resume_auto_is_bit_exact(tmp_path, hr_folder, monkeypatch, point):
    straight = _options(hr_folder, tmp_path / "straight")
    loop.train(parse_options(straight))
    opts = parse_options(_options(hr_folder, tmp_path / "stopped"))
    arm, expected_iteration = POINTS[point]
    with monkeypatch.context() as patch:
        arm(patch)
        with pytest.raises(KeyboardInterrupt):
            loop.train(opts)
    states = tmp_path / "stopped" / "training_states"
    newest = list_states(states)[-1]
    assert newest.name == f"{expected_iteration}.state"
    state = load_training_state(newest)
    assert state["iteration"] == expected_iteration
    assert state["schedule_g"]["scheduler"]["last_epoch"] == expected_iteration  # one scheduler step per step
    log = (tmp_path / "stopped" / "log.txt").read_text()
    assert (
        f"interrupted after iteration {expected_iteration}: saving the training state before exiting" in log
    )
    loop.train(opts, resume="auto")
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "stopped")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), point
    # Validation too: a Ctrl+C during the validation at AT saved the state before it, which the resume redoes.
    assert _validations(tmp_path / "straight") == _validations(tmp_path / "stopped")
    (best_a, model_a), (best_b, model_b) = _best(tmp_path / "straight"), _best(tmp_path / "stopped")
    assert best_a == best_b and all(torch.equal(model_a[k], model_b[k]) for k in model_a)


class _Crash(BaseException):
    """A process killed outright (SIGKILL, power loss): no handler of the loop runs."""


@pytest.mark.slow
@pytest.mark.parametrize("crash", ["in_validation", "next_iteration"])
def test_a_crash_after_a_save_keeps_the_best_model_and_every_validation(
    tmp_path, hr_folder, monkeypatch, crash
):
    """A state is saved before its iteration's validation. Resumed from it after a crash, the run redoes that
    validation: net_g_best is not replaced by a worse model, as it was when the resumed run's tracker had never seen
    the validation (the best model of iteration 6 gave way to a worse one at 9)."""
    from upres.train import watch

    def options(exp: Path) -> dict:
        return merge(
            _options(hr_folder, exp),
            {
                "train": {"total_iter": 9},
                "val": {"val_freq": 3},
                "logger": {"print_freq": 3, "save_checkpoint_freq": 3},
            },
        )

    loop.train(parse_options(options(tmp_path / "straight")))
    opts = parse_options(options(tmp_path / "crashed"))
    with monkeypatch.context() as patch:
        if crash == "in_validation":
            real, calls = watch.run_validation, []

            def validate(*a, **k):
                calls.append(1)
                if len(calls) == 2:  # iteration 6, its state saved
                    raise _Crash
                return real(*a, **k)

            patch.setattr(watch, "run_validation", validate)
        else:
            real_feed = BatchFeed.__call__

            def feed(self, it, micro):
                if it == 7:
                    raise _Crash
                return real_feed(self, it, micro)

            patch.setattr(BatchFeed, "__call__", feed)
        with pytest.raises(_Crash):
            loop.train(opts)
    assert list_states(tmp_path / "crashed" / "training_states")[-1].name == "6.state"
    loop.train(opts, resume="auto")
    (best_a, model_a), (best_b, model_b) = _best(tmp_path / "straight"), _best(tmp_path / "crashed")
    assert best_a == best_b and all(torch.equal(model_a[k], model_b[k]) for k in model_a)
    assert _validations(tmp_path / "straight") == _validations(tmp_path / "crashed")
    # Cut off, the validation runs again; finished (its scores are in the report's curves), they are replayed.
    log = (tmp_path / "crashed" / "log.txt").read_text()
    said = "the validation at iteration 6 did not finish before the run stopped: running it now" in log
    assert said is (crash == "in_validation")
    assert log.count("validation val @ 6:") == 1


@pytest.mark.slow
def test_extending_a_finished_run_does_not_validate_its_last_iteration_again(tmp_path, hr_folder):
    """The documented way to train longer (raise total_iter, --resume auto) repeated the last validation with a note
    saying it had not finished: its state is saved before it, but its scores are in the report's curves."""

    def options(exp: Path, total: int) -> dict:
        return merge(
            _options(hr_folder, exp),
            {
                "train": {"total_iter": total},
                "val": {"val_freq": 3},
                "logger": {"print_freq": 3, "save_checkpoint_freq": 3},
            },
        )

    loop.train(parse_options(options(tmp_path / "straight", 9)))
    loop.train(parse_options(options(tmp_path / "extended", 6)))
    loop.train(parse_options(options(tmp_path / "extended", 9)), resume="auto")
    log = (tmp_path / "extended" / "log.txt").read_text()
    assert "did not finish" not in log and log.count("validation val @ 6:") == 1
    (best_a, model_a), (best_b, model_b) = _best(tmp_path / "straight"), _best(tmp_path / "extended")
    assert best_a == best_b and all(torch.equal(model_a[k], model_b[k]) for k in model_a)
    assert _validations(tmp_path / "straight") == _validations(tmp_path / "extended")


@pytest.mark.slow  # ~10 s: three runs validating every iteration
def test_a_run_that_stopped_early_resumes_to_nothing_until_its_patience_is_raised(tmp_path, hr_folder):
    """An early-stopped run's last state is that of its stop: `--resume auto` trained val_freq more iterations, wrote
    their models over the oldest kept ones and stopped again, where an uninterrupted run had ended."""
    exp = tmp_path / "exp"

    def options(patience: int) -> dict:
        # A learning rate this small cannot move PSNR: no validation after the first improves on it.
        return merge(
            _options(hr_folder, exp),
            {
                "train": {"total_iter": 50, "optim_g": {"lr": 1e-12}, "early_stop_patience": patience},
                "datasets": {"train": {"accum_iter": 1}},
                "val": {"val_freq": 1},
                "logger": {"print_freq": 1, "save_checkpoint_freq": 1},
            },
        )

    def saved() -> list[str]:
        return sorted(p.name for d in ("models", "training_states") for p in (exp / d).iterdir())

    assert loop.train(parse_options(options(1))).iteration == 2  # best at 1, none better at 2
    before = saved()
    again = loop.train(parse_options(options(1)), resume="auto")
    assert again.iteration == 2 and saved() == before
    assert (
        "the training state's run stopped early at iteration 2 (no improvement for 1 validations): nothing is "
        "trained; raise train.early_stop_patience (or remove it) to go on" in (exp / "log.txt").read_text()
    )
    assert loop.train(parse_options(options(3)), resume="auto").iteration == 4  # 3 and 4 no better either


def test_a_second_ctrl_c_inside_an_iteration_stops_at_once_without_saving_it(
    tmp_path, hr_folder, monkeypatch
):
    real = BatchFeed.__call__

    def feed(self, it, micro):
        if it == AT:
            _ctrl_c()  # micro 0: held; micro 1: the second press
        return real(self, it, micro)

    monkeypatch.setattr(BatchFeed, "__call__", feed)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        loop.train(parse_options(_options(hr_folder, tmp_path / "exp")))
    assert [p.name for p in list_states(tmp_path / "exp" / "training_states")] == ["3.state"]
    log = (tmp_path / "exp" / "log.txt").read_text()
    assert (
        f"stopped during iteration {AT} by a second Ctrl+C, without saving it; the newest saved state is 3.state"
        in log
    )
    assert signal.getsignal(signal.SIGINT) is before  # the run's handler is gone, the caller's is back


class _StuckWriter:
    """A TensorBoard writer whose thread never finishes, as after a Ctrl+C inside one of its calls."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def close(self) -> None:
        self.release.wait()


def test_closing_the_log_never_waits_on_a_stuck_tensorboard_writer(tmp_path, monkeypatch, capsys):
    from upres.train import report

    monkeypatch.setattr(report, "TB_CLOSE_SECONDS", 0.2)
    log = RunLog(tmp_path, use_tb=False)
    log.tb = writer = _StuckWriter()
    start = time.perf_counter()
    log.close()
    assert time.perf_counter() - start < 2
    assert "TensorBoard's writer did not finish within 0.2 s" in capsys.readouterr().err
    writer.release.set()


@pytest.mark.slow
def test_a_terminal_ctrl_c_ends_within_seconds_and_resumes_exactly(tmp_path, hr_folder):
    """The whole process group gets SIGINT, as from a terminal: loader workers included."""
    total = 60
    opts = merge(
        _options(hr_folder, tmp_path / "stopped"),
        {"datasets": {"train": {"num_worker_per_gpu": 1}}, "train": {"total_iter": total}, "val": None},
    )
    opts["logger"] = {"print_freq": 1, "save_checkpoint_freq": total, "use_tb_logger": False}
    cfg = write(tmp_path / "o.yml", opts)
    straight = write(
        tmp_path / "s.yml", merge(opts, {"path": {"experiments_root": str(tmp_path / "straight")}})
    )
    # Both runs in the same kind of process (one thread each): in-process training would sum in another order.
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    # On the CPU: on a GPU this small model can run its other 57 iterations before the signal lands.
    cmd = [sys.executable, "-m", "upres", "train", "--device", "cpu", "-c"]
    proc = subprocess.Popen([*cmd, str(cfg)], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    log = tmp_path / "stopped" / "log.txt"
    deadline = time.time() + 120
    while (
        time.time() < deadline and not (log.exists() and "iter 3/" in log.read_text()) and proc.poll() is None
    ):
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)
    sent = time.time()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.time() - sent < 15, "Ctrl+C took too long"
    assert "Traceback" not in err
    stopped_at = int(list_states(tmp_path / "stopped" / "training_states")[-1].stem)
    assert 3 <= stopped_at < total
    for args in ([str(cfg), "--resume", "auto"], [str(straight)]):
        out = subprocess.run([*cmd, *args], env=env, cwd=tmp_path, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    for kind in ("net_g", "net_g_ema"):
        a = read_tensors(tmp_path / "straight" / "models" / f"{kind}_{total}.safetensors")[0]
        b = read_tensors(tmp_path / "stopped" / "models" / f"{kind}_{total}.safetensors")[0]
        assert all(torch.equal(a[k], b[k]) for k in a), kind


class _KilledBySigterm(Exception):
    """What SIGTERM's default action (the process gone at once) stands for in this test process."""


def _raise_killed(signum, frame):
    raise _KilledBySigterm


def test_sigterm_stops_as_ctrl_c_does_and_resume_auto_is_bit_exact(tmp_path, hr_folder, monkeypatch):
    """SIGTERM (docker stop, a scheduler's preemption, torchrun passing it on) ended the run at once: every iteration
    since the last checkpoint was lost. It now finishes the iteration, saves, and raises Terminated (exit 143)."""
    from upres.errors import Terminated

    straight = _options(hr_folder, tmp_path / "straight")
    loop.train(parse_options(straight))
    opts = parse_options(_options(hr_folder, tmp_path / "stopped"))
    real = BatchFeed.__call__

    def feed(self, it, micro):
        if it == AT and micro == 1:
            signal.raise_signal(signal.SIGTERM)
        return real(self, it, micro)

    previous = signal.signal(signal.SIGTERM, _raise_killed)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(BatchFeed, "__call__", feed)
            with pytest.raises(Terminated):
                loop.train(opts)
    finally:
        signal.signal(signal.SIGTERM, previous)
    newest = list_states(tmp_path / "stopped" / "training_states")[-1]
    assert newest.name == f"{AT}.state" and load_training_state(newest)["iteration"] == AT
    log = (tmp_path / "stopped" / "log.txt").read_text()
    assert f"interrupted after iteration {AT}: saving the training state before exiting" in log
    loop.train(opts, resume="auto")
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "stopped")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_upres_train_exits_143_after_sigterm_having_saved(tmp_path, hr_folder):
    opts = merge(_options(hr_folder, tmp_path / "exp"), {"train": {"total_iter": 100000}, "val": None})
    opts["logger"] = {"print_freq": 1, "save_checkpoint_freq": 100000, "use_tb_logger": False}
    cfg = write(tmp_path / "o.yml", opts)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "upres", "train", "--device", "cpu", "-c", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    log = tmp_path / "exp" / "log.txt"
    deadline = time.time() + 120
    while (
        time.time() < deadline and not (log.exists() and "iter 3/" in log.read_text()) and proc.poll() is None
    ):
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "SIGTERM: finishing this iteration, then saving the training state" in err
    assert err.rstrip().endswith("interrupted") and "Traceback" not in err
    stopped = int(list_states(tmp_path / "exp" / "training_states")[-1].stem)
    assert (
        f"interrupted after iteration {stopped}: saving the training state before exiting" in log.read_text()
    )

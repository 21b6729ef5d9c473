"""SIGTERM sent to every process of a job (Slurm's scancel and preemption, systemd, `kill -TERM -PGID`) ends the data
loader's workers too. Between two micro-batches the iteration under way cannot finish: the run ended with 'out of
memory in iteration N ... lower batch_size_per_gpu' and no state, losing every iteration since the last checkpoint.
It now saves the last whole iteration and exits as SIGTERM does; a loader that fails otherwise is named as such."""

from __future__ import annotations

import signal

import pytest
import torch
from test_interrupt import AT, _options, _weights
from train_helpers import train_stops_at_iteration_7

from upres.errors import Terminated
from upres.train import loop
from upres.train.checkpoint import list_states
from upres.train.config import parse_options
from upres.train.feed import _FIX, BatchFeed, LoaderFailed


def test_sigterm_that_ends_the_workers_mid_iteration_saves_the_iteration_before(
    tmp_path, hr_folder, monkeypatch
):
    straight = _options(hr_folder, tmp_path / "straight")  # accum_iter 2
    loop.train(parse_options(straight))
    opts = parse_options(_options(hr_folder, tmp_path / "stopped"))
    real = BatchFeed.__call__

    def feed(self, it, micro):
        if it == AT and micro == 1:
            signal.raise_signal(signal.SIGTERM)  # to the whole process group: the workers die of it
            raise LoaderFailed(
                f"DataLoader worker (pid(s) 4242) exited unexpectedly during iteration {it}: {_FIX}"
            )
        return real(self, it, micro)

    with monkeypatch.context() as patch:
        patch.setattr(BatchFeed, "__call__", feed)
        with pytest.raises(Terminated):
            loop.train(opts)
    assert [p.name for p in list_states(tmp_path / "stopped" / "training_states")][-1] == f"{AT - 1}.state"
    log = (tmp_path / "stopped" / "log.txt").read_text()
    assert (
        f"the stop signal also ended the data loader's workers during iteration {AT}: that iteration is left out\n"
        in log
    )
    assert f"interrupted after iteration {AT - 1}: saving the training state before exiting" in log
    loop.train(opts, resume="auto")
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "stopped")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_loader_that_fails_is_not_called_out_of_memory(tmp_path, hr_folder, monkeypatch, capsys):
    """Its advice mentions running out of memory, which made the loop report the step's out-of-memory advice."""
    real = BatchFeed.__call__
    message = f"DataLoader worker (pid 4242) is killed by signal: Killed during iteration 7: {_FIX}"

    def feed(self, it, micro):
        if it == 7:
            raise LoaderFailed(message)
        return real(self, it, micro)

    monkeypatch.setattr(BatchFeed, "__call__", feed)
    line, log = train_stops_at_iteration_7(hr_folder, tmp_path, capsys)
    assert line == f"error: {message}; the newest saved state is 5.state"

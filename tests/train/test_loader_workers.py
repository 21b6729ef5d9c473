"""A loader worker that dies during training (the system's out-of-memory killer, most often): the loader starts
again at the iteration under way and the run trains exactly what it would have; where that cannot be (a death
between micro-batches, or again at one iteration) it stops with one line, keeping the saved states."""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from types import SimpleNamespace

import pytest
import torch
from train_helpers import base_options, merge, small_gan, train_stops_at_iteration_7

from upres.io.model_files import read_tensors
from upres.train import feed as feed_module
from upres.train.config import parse_options
from upres.train.feed import MAX_LOADER_RESTARTS, BatchFeed, LoaderFailed
from upres.train.loop import train
from upres.train.step import TrainStep

DIED = RuntimeError("DataLoader worker (pid 4242) is killed by signal: Killed. ")


def _options(hr, exp, workers: int) -> dict:
    # A GAN stage with D input noise: restarting the loader must not draw from the stream the noise comes from.
    opts = merge(base_options(hr, exp), {"queue_size": 4, **small_gan(d_input_noise=0.05)})
    opts["datasets"]["train"].update(type="realesrgandataset", num_worker_per_gpu=workers)
    return opts


def _weights(exp) -> dict[str, torch.Tensor]:
    return read_tensors(exp / "models" / "net_g_10.safetensors")[0]


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.slow
@pytest.mark.skipif(
    not hasattr(signal, "SIGCHLD") or not os.path.isdir("/proc"), reason="needs Linux signals"
)
def test_a_killed_worker_restarts_the_loader_and_trains_exactly_what_it_would_have(
    tmp_path, hr_folder, monkeypatch
):
    reference = _options(hr_folder, tmp_path / "reference", workers=2)
    train(parse_options(reference), device="cpu")

    real_step = TrainStep.__call__
    killed = []

    def step(self, it, feed):
        if it == 4 and not killed:  # an on-the-fly run with a pair pool: what the pool holds must survive too
            pid = feed.data._workers[0].pid
            os.kill(pid, signal.SIGKILL)
            while not _dead(pid):
                time.sleep(0.01)
            killed.append(pid)
        return real_step(self, it, feed)

    monkeypatch.setattr(TrainStep, "__call__", step)
    opts = _options(hr_folder, tmp_path / "exp", workers=2)
    train(parse_options(opts), device="cpu")
    log = (tmp_path / "exp" / "log.txt").read_text()
    # Found by the held SIGCHLD between iterations ("... (pid N) is killed by signal: Killed") or by the loader while
    # it waits for the lost batch ("... (pid(s) N) exited unexpectedly"), whichever comes first.
    notes = [line for line in log.splitlines() if "the loader starts again at iteration" in line]
    assert len(notes) == 1 and "DataLoader worker (pid" in notes[0] and str(killed[0]) in notes[0]
    a, b = _weights(tmp_path / "reference"), _weights(tmp_path / "exp")
    assert all(torch.equal(a[k], b[k]) for k in a)


def _feed(data):
    notes = []
    feed = SimpleNamespace(
        data=data,
        restarts=0,
        deaths=deque(maxlen=MAX_LOADER_RESTARTS),
        restarted_at=None,
        log=SimpleNamespace(note=notes.append),
        restarted=[],
    )
    feed.restart = feed.restarted.append
    feed.close = lambda: None
    feed.death = lambda exc: BatchFeed.death(feed, exc)
    return feed, notes


def test_a_second_death_at_the_same_iteration_stops():
    feed, notes = _feed(None)
    BatchFeed.recover(feed, 3, DIED)
    assert feed.restarted == [3]
    assert notes == ["DataLoader worker (pid 4242) is killed by signal: Killed; the loader starts again at "
                     "iteration 4 (the run goes on unchanged)"]  # fmt: skip
    with pytest.raises(LoaderFailed, match=r"^DataLoader worker \(pid 4242\) is killed by signal: Killed, again at "
                       r"the same iteration: if the system ran out of memory"):  # fmt: skip
        BatchFeed.recover(feed, 3, DIED)


def test_deaths_spread_over_days_never_stop_the_run_but_a_burst_does(monkeypatch):
    """Any 21st death stopped the run ("21 times"), also of a week-long run that lost a worker every few hours and
    went on exactly each time; a burst within an hour is a crash loop and stops."""
    clock = [0.0]
    monkeypatch.setattr(feed_module.time, "monotonic", lambda: clock[0])
    feed, notes = _feed(None)
    for i in range(100):  # one death every 3 hours: 300 hours
        clock[0] += 3 * 3600
        BatchFeed.recover(feed, 1000 * i, DIED)
    assert len(feed.restarted) == len(notes) == 100
    clock[0] += 3 * 3600
    for i in range(MAX_LOADER_RESTARTS):  # then one a minute
        clock[0] += 60
        BatchFeed.recover(feed, 200_000 + i, DIED)
    clock[0] += 60
    with pytest.raises(LoaderFailed, match=r"^DataLoader worker \(pid 4242\) is killed by signal: Killed, 21 times "
                       r"within 0:20:00: if the system ran out of memory"):  # fmt: skip
        BatchFeed.recover(feed, 300_000, DIED)


def test_other_loader_errors_are_not_taken_for_a_dead_worker():
    feed, _ = _feed(None)
    other = RuntimeError("Caught ValueError in DataLoader worker process 0.")
    with pytest.raises(RuntimeError) as info:
        BatchFeed.recover(feed, 3, other)
    assert info.value is other and feed.restarted == []


def test_a_death_between_micro_batches_cannot_be_replayed():
    def dies():
        raise DIED
        yield

    feed, _ = _feed(dies())
    with pytest.raises(
        LoaderFailed, match=r"killed by signal: Killed during iteration 5: if the system ran out"
    ):
        BatchFeed.__call__(feed, 5, 1)
    assert feed.restarted == []


def test_a_loader_that_cannot_go_on_is_one_line_and_keeps_the_saved_states(
    tmp_path, hr_folder, monkeypatch, capsys
):
    real = BatchFeed.__call__

    def feed(self, it, micro):
        if it == 7:
            raise LoaderFailed(
                "DataLoader worker (pid 4242) is killed by signal: Killed during iteration 7: fix"
            )
        return real(self, it, micro)

    monkeypatch.setattr(BatchFeed, "__call__", feed)
    line, log = train_stops_at_iteration_7(hr_folder, tmp_path, capsys)
    message = (
        "DataLoader worker (pid 4242) is killed by signal: Killed during iteration 7: fix; the newest saved state is "
        "5.state"
    )
    assert line == f"error: {message}" and message in log


def test_a_transfer_error_from_a_dead_worker_counts_as_its_death():
    """Fetching a tensor a killed worker had shared can fail with a reset connection instead of PyTorch's report."""
    reset = ConnectionResetError(104, "Connection reset by peer")
    dead = SimpleNamespace(pid=77, exitcode=-9, is_alive=lambda: False)
    alive = SimpleNamespace(pid=78, exitcode=None, is_alive=lambda: True)
    feed, notes = _feed(SimpleNamespace(_workers=[dead, alive]))
    BatchFeed.recover(feed, 2, reset)
    assert feed.restarted == [2] and notes[0].startswith(
        "DataLoader worker (pid 77 exit code -9) died (ConnectionResetError: [Errno 104] Connection reset by peer)"
    )
    feed, _ = _feed(SimpleNamespace(_workers=[alive]))
    with pytest.raises(ConnectionResetError):  # every worker alive: not a death, not hidden
        BatchFeed.recover(feed, 2, reset)

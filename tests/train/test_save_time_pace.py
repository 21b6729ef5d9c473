"""The progress line's it/s leaves out the time spent saving a checkpoint, as it leaves out validation's: a slow save
(a network drive, a big model) showed as a slow-down in the line after each checkpoint."""

from __future__ import annotations

import time

from train_helpers import base_options, write

import upres.train.iterations as iterations_mod
from upres.cli import main
from upres.train.watch import RunWatch

SAVE_SECONDS = 0.5


def test_the_rate_after_a_save_leaves_the_save_out(tmp_path, hr_folder, monkeypatch):
    real_save, real_progress = iterations_mod.save_checkpoint, RunWatch.progress

    def slow_save(*args, **kwargs):
        time.sleep(SAVE_SECONDS)
        return real_save(*args, **kwargs)

    windows: dict[int, tuple[float, float]] = {}  # iteration -> (wall seconds, seconds the rate counted)
    last = [0.0]

    def progress(self, step, it, waits):
        now = time.perf_counter()
        windows[it] = (now - last[0], self.pace.window_seconds())
        result = real_progress(self, step, it, waits)
        last[0] = time.perf_counter()
        return result

    monkeypatch.setattr(iterations_mod, "save_checkpoint", slow_save)
    monkeypatch.setattr(RunWatch, "progress", progress)
    options = base_options(hr_folder, tmp_path / "exp", total_iter=15)
    options["logger"].update(print_freq=5, save_checkpoint_freq=10)
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--device", "cpu"]) == 0
    wall, counted = windows[15]  # the window from 10 to 15 holds the save at 10
    assert wall - counted >= SAVE_SECONDS
    wall, counted = windows[10]  # no save in it (the one at 10 comes after its line)
    assert wall - counted < SAVE_SECONDS

"""Training speed and time left: iterations per second without the time spent validating or saving checkpoints,
which the ETA counts on their own (a validation every 500 iterations would otherwise make the rate drop threefold
right after it, and each save showed as a slow-down in the next progress line)."""

from __future__ import annotations

import time
from collections.abc import Callable


def validations_left(it: int, total: int, val_freq: int | None) -> int:
    """Validations (or checkpoints) still to come after iteration `it`: every `val_freq` iterations and at `total`."""
    if not val_freq or it >= total:
        return 0
    periodic = total // val_freq - it // val_freq
    return periodic + (0 if total % val_freq == 0 else 1)


saves_left = validations_left


class Pace:
    def __init__(self, start_iter: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started = clock()
        self.start_iter = start_iter
        # A count and a total (`_paused`): a list of every validation's time grew for the whole run.
        self.validations = 0
        self._window_time, self._window_iter, self._window_paused = self.started, start_iter, 0.0
        self._paused = 0.0
        # Checkpoint saves: left out of the window's rate, as validation is, and counted by the ETA on their own.
        self.saves, self._saving, self._window_saving = 0, 0.0, 0.0

    def restart_window(self, it: int) -> None:
        self._window_time, self._window_iter, self._window_paused = self.clock(), it, self._paused
        self._window_saving = self._saving

    @property
    def window_iter(self) -> int:
        return self._window_iter

    def add_validation(self, seconds: float) -> None:
        self.validations += 1
        self._paused += seconds

    def add_save(self, seconds: float) -> None:
        self.saves += 1
        self._saving += seconds

    @property
    def validation_total(self) -> float:
        """Seconds spent validating in this session."""
        return self._paused

    def window_seconds(self) -> float:
        """Seconds since the window began, time spent validating and saving checkpoints left out."""
        left_out = self._paused - self._window_paused + self._saving - self._window_saving
        return self.clock() - self._window_time - left_out

    def rate(self, it: int) -> float:
        """Iterations per second since the window began, time spent validating and saving left out."""
        elapsed = self.window_seconds()
        return (it - self._window_iter) / elapsed if elapsed > 0 else 0.0

    def mean_rate(self, it: int) -> float:
        """Iterations per second over the whole run (this process), validation left out."""
        elapsed = self.clock() - self.started - self._paused
        return (it - self.start_iter) / elapsed if elapsed > 0 else 0.0

    def eta(self, it: int, total: int, validations: int, saves: int = 0) -> tuple[float, float]:
        """(seconds of training left at the current rate with the `saves` checkpoints to come at the mean save so far,
        seconds of validation left at the mean so far)."""
        rate = self.rate(it)
        train = (total - it) / rate if rate > 0 else 0.0
        mean_save = self._saving / self.saves if self.saves else 0.0
        mean_val = self._paused / self.validations if self.validations else 0.0
        return train + saves * mean_save, validations * mean_val

    @property
    def wall(self) -> float:
        return self.clock() - self.started


class ValidationProgress:
    """A line now and then while a validation set is scored (a large set takes minutes with nothing printed)."""

    def __init__(
        self, say: Callable[[str], None], every: float = 5.0, clock: Callable[[], float] = time.perf_counter
    ):
        self.say, self.every, self.clock = say, every, clock
        self._last = clock()

    def __call__(self, set_name: str, done: int, total: int) -> None:
        now = self.clock()
        if now - self._last >= self.every and done < total:
            self._last = now
            self.say(f"validation {set_name}: {done}/{total} images")


def hms(seconds: float) -> str:
    """H:MM:SS, with the days in front past one (a week-long run's ETA read "167:59:59")."""
    seconds = int(seconds)
    clock = f"{seconds // 3600 % 24}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    days = seconds // 86400
    return f"{days} day{'s' if days > 1 else ''}, {clock}" if days else clock

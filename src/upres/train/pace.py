"""Training speed and time left: iterations per second without the time spent validating, which the ETA counts
on its own (a validation every 500 iterations would otherwise make the rate drop threefold right after it)."""

from __future__ import annotations

import time
from collections.abc import Callable


def validations_left(it: int, total: int, val_freq: int | None) -> int:
    """Validations still to come after iteration `it`: every `val_freq` iterations and at `total`."""
    if not val_freq or it >= total:
        return 0
    periodic = total // val_freq - it // val_freq
    return periodic + (0 if total % val_freq == 0 else 1)


class Pace:
    def __init__(self, start_iter: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started = clock()
        self.start_iter = start_iter
        # A count and a total (`_paused`): a list of every validation's time grew for the whole run.
        self.validations = 0
        self._window_time, self._window_iter, self._window_paused = self.started, start_iter, 0.0
        self._paused = 0.0

    def restart_window(self, it: int) -> None:
        self._window_time, self._window_iter, self._window_paused = self.clock(), it, self._paused

    @property
    def window_iter(self) -> int:
        return self._window_iter

    def add_validation(self, seconds: float) -> None:
        self.validations += 1
        self._paused += seconds

    @property
    def validation_total(self) -> float:
        """Seconds spent validating in this session."""
        return self._paused

    def window_seconds(self) -> float:
        """Seconds since the window began, time spent validating left out."""
        return self.clock() - self._window_time - (self._paused - self._window_paused)

    def rate(self, it: int) -> float:
        """Iterations per second since the window began, time spent validating left out."""
        elapsed = self.window_seconds()
        return (it - self._window_iter) / elapsed if elapsed > 0 else 0.0

    def mean_rate(self, it: int) -> float:
        """Iterations per second over the whole run (this process), validation left out."""
        elapsed = self.clock() - self.started - self._paused
        return (it - self.start_iter) / elapsed if elapsed > 0 else 0.0

    def eta(self, it: int, total: int, validations: int) -> tuple[float, float]:
        """(seconds of training left at the current rate, seconds of validation left at the mean so far)."""
        rate = self.rate(it)
        train = (total - it) / rate if rate > 0 else 0.0
        mean_val = self._paused / self.validations if self.validations else 0.0
        return train, validations * mean_val

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

"""Skip corrupt images during training without dying on one bad file, but stop when too many are bad."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from upres.errors import UpresError
from upres.io.images import ImageReadError

log = logging.getLogger("upres.data")
T = TypeVar("T")


class BadSampleError(UpresError):
    """A sample that cannot be used: unreadable, wrong size ratio, smaller than the crop."""

    exit_code = 1


class TooManyBadSamples(UpresError):
    exit_code = 1


# The share of a dataset that may be bad before training stops (the 1%).
DEFAULT_MAX_FRACTION = 0.01
# Bad files named in the error that stops training (the log names each as it is met).
SHOWN = 5


def _named(path: str, reason: str) -> str:
    """`path: reason`, without the path twice when the reason starts with it (an unreadable image's does)."""
    return reason if reason.startswith(path) else f"{path}: {reason}"


class BadSampleGuard:
    """Counts bad samples of one dataset (per worker process) and redraws replacements.

    `max_fraction` of the dataset may be bad (1% by default) before training stops with the list of files.
    """

    def __init__(self, size: int, max_fraction: float = DEFAULT_MAX_FRACTION) -> None:
        self.size = size
        self.max_fraction = max_fraction
        self.bad: dict[str, str] = {}

    def record(self, path: str, reason: str) -> None:
        if path not in self.bad:
            self.bad[path] = reason
            log.warning("skipping bad sample %s", _named(path, reason))
        if len(self.bad) > self.max_fraction * self.size:
            # One line: the CLI prints an error as one (its newlines came out as "\\n" between the files).
            bad = sorted(self.bad.items())
            listing = "; ".join(_named(p, r) for p, r in bad[:SHOWN])
            more = f"; and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
            raise TooManyBadSamples(
                f"{len(bad)} of {self.size} samples are bad (more than {self.max_fraction:.0%}): {listing}{more}; "
                "fix or remove them (`upres doctor` lists every problem)"
            )

    def load(
        self, index: int, load: Callable[[int], T], path_of: Callable[[int], str], rng: np.random.Generator
    ) -> T:
        """`load(index)`; on a corrupt file or `BadSampleError` record it and try another index drawn from `rng`."""
        while True:
            try:
                return load(index)
            except (BadSampleError, ImageReadError) as exc:
                self.record(path_of(index), str(exc))
                index = int(rng.integers(0, self.size))

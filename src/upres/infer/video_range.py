"""How many frames `upres video --start/--end` will write: the total its progress line and ETA count towards."""

from __future__ import annotations

import math
from fractions import Fraction

from upres.io.video import VideoProbe


def expected_frames(probe: VideoProbe, start: float | None, end: float | None, first: Fraction) -> int | None:
    """Frames at `first + k / rate` (seconds from the file's start) inside [start, end), as the reader keeps them.

    Rounding (end - start) x rate counted a frame too many whenever the range begins between two frames."""
    if start is None and end is None:
        return probe.frames
    if not probe.rate:
        return None
    total = probe.frames
    if total is None and probe.duration is not None:
        total = round(Fraction(str(probe.duration)) * probe.rate)

    def before(t: float | None) -> int | None:
        """Frames that begin before `t`; every frame when `t` is None."""
        if t is None:
            return total
        n = max(0, math.ceil((Fraction(str(t)) - first) * probe.rate))
        return n if total is None else min(n, total)

    stop, begin = before(end), before(start or 0.0)
    return None if stop is None or begin is None else max(0, stop - begin)

"""Notes on learning-rate schedules that do not fit the run: a milestone past train.total_iter decays nothing (a
total_iter shortened for a test run, or one zero too many in a milestone), and nothing said so."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upres.train.config import Options


def schedule_notes(options: Options) -> list[str]:
    t = options.train
    notes = []
    for key in ("scheduler", "scheduler_d"):
        s = getattr(t, key)
        if s is None or s.type != "MultiStepLR":
            continue
        late = [m for m in s.milestones if m > t.total_iter]
        if late:
            notes.append(
                f"train.{key}.milestones {', '.join(map(str, late))}: after train.total_iter {t.total_iter}, so the "
                "learning rate does not decay there in this run"
            )
    return notes

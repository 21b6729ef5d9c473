"""One training run per experiment folder at a time.

Two runs writing into one folder (a `--resume auto` in a second terminal while the first still trains) mix their
models, states and options without a word. A run holds an OS lock on `<folder>/.upres-train.lock` from its first write
to its end; the system drops it when the process ends however it ends, so no stale lock outlives a killed run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from upres.io.file_lock import BUSY, HELD, try_lock

LOCK_NAME = ".upres-train.lock"


def busy_text(exp_dir: Path, holder: str) -> str:
    who = f"process {holder}" if holder.isdigit() else "another process"
    return (
        f"{exp_dir}: another upres train ({who}) is writing to this experiment folder; wait for it to end "
        "(Ctrl+C there saves and exits), or give this run another name"
    )


def holder(exp_dir: Path) -> str | None:
    """The process id (as written) of the run that holds `exp_dir`, or None when no run does."""
    path = exp_dir / LOCK_NAME
    if not path.is_file():
        return None
    try:
        with path.open("r+") as fh:
            if try_lock(fh) != BUSY:
                return None  # closing the file drops the lock again
            return fh.read().strip()
    except OSError:
        return None


@contextlib.contextmanager
def hold(exp_dir: Path) -> Iterator[bool]:
    """Hold `exp_dir` for this run; a run that holds it already is an error naming it. Yields False where the file
    system keeps no locks (the run goes on; a second one would not be stopped)."""
    from upres.train.persist import TrainingError

    fh = (exp_dir / LOCK_NAME).open("a+")
    try:
        fh.seek(0)
        got = try_lock(fh)
        if got == BUSY:
            fh.seek(0)
            raise TrainingError(busy_text(exp_dir, fh.read().strip()))
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield got == HELD
    finally:
        fh.close()


def no_lock_note(exp_dir: Path) -> str:
    return (
        f"{exp_dir}: this file system keeps no file locks (a network or cloud-drive mount): a second upres train "
        "writing to this folder at the same time would not be stopped; run one at a time here"
    )

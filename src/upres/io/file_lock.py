"""Advisory OS locks that say "a process is writing this": the system drops them when the process ends, however it
ends, so no stale lock outlives a killed run. Used for a training run's experiment folder and a video's partial
output."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

# On Windows a lock forbids the locked bytes to every other writer, this process's own libraries included: lock one
# byte far past anything a file will hold, so the lock marks the file without blocking its writing.
_WIN_LOCK_OFFSET = 2**40


def try_lock(fh: IO) -> bool:
    """Lock `fh` without waiting; False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        fh.seek(_WIN_LOCK_OFFSET)
        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            fh.seek(0)
        return True
    import fcntl

    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def in_use(path: Path) -> bool:
    """Whether another process holds the lock on the existing file `path` (False when there is no such file)."""
    try:
        with open(path, "rb+") as fh:
            return not try_lock(fh)  # closing the file drops the lock again
    except OSError:
        return False


def claim(path: Path) -> IO | None:
    """Open `path` (created if missing, never truncated) and lock it; the open file holds the lock until closed.
    None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    fh = os.fdopen(fd, "rb+")
    if try_lock(fh):
        return fh
    fh.close()
    return None

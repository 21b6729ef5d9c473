"""Advisory OS locks that say "a process is writing this": the system drops them when the process ends, however it
ends, so no stale lock outlives a killed run. Used for a training run's experiment folder and a video's partial
output."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import IO

# On Windows a lock forbids the locked bytes to every other writer, this process's own libraries included: lock one
# byte far past anything a file will hold, so the lock marks the file without blocking its writing.
_WIN_LOCK_OFFSET = 2**40

# What flock says on a file system that keeps no locks (NFS without its lock service, many FUSE mounts: cloud drives,
# sshfs): nothing there can tell one writer from two, and refusing to write would make the place unusable.
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL})

HELD, BUSY, NO_LOCKS = "held", "busy", "no locks"


def try_lock(fh: IO) -> str:
    """Lock `fh` without waiting: HELD, BUSY (another process holds it) or NO_LOCKS (the file system keeps none)."""
    try:
        return HELD if _lock(fh) else BUSY
    except _NoLocks:
        return NO_LOCKS


def _lock(fh: IO) -> bool:
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
    except OSError as exc:
        if exc.errno in _NO_LOCKS:
            raise _NoLocks from None
        raise
    return True


class _NoLocks(Exception):
    pass


def in_use(path: Path) -> bool:
    """Whether another process holds the lock on the existing file `path` (False when there is no such file)."""
    try:
        with open(path, "rb+") as fh:
            return try_lock(fh) == BUSY  # closing the file drops the lock again
    except OSError:
        return False


def claim(path: Path) -> IO | None:
    """Open `path` (created if missing, never truncated) and lock it; the open file holds the lock until closed.
    None when another process holds it. Where the file system keeps no locks the file is returned unlocked."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    fh = os.fdopen(fd, "rb+")
    if try_lock(fh) != BUSY:
        return fh
    fh.close()
    return None

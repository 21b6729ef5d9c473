"""Write files so that a crash never leaves a half-written file under the final name."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which is not safe while other threads create files.
_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it over `path`, else delete it."""
    final = Path(path)
    if final.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder; give a file name", str(final))
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(
            errno.ENOTDIR, "cannot create this folder: a file is in the way", str(final.parent)
        ) from None
    # The writer's process id is in the name, so a later run can tell its own leftovers from a live writer's.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".part", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; the result should get the permissions any new file would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp_path)` and move the result to `path` only if it returned without error."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


# A part file whose writer cannot be asked whether it still runs (Windows, or a name without a process id) is
# stale after this long: far longer than any single image or model takes to write.
STALE_AFTER_S = 3600.0


def _writer_gone(pid: int) -> bool | None:
    """True when no process has this id, False when one does, None when it cannot be told."""
    if pid == os.getpid():
        return True  # this process has not started writing yet: a leftover of an earlier process with our id
    if sys.platform == "win32":
        return None  # os.kill(pid, 0) would terminate the process there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists, owned by someone else
    return False


def sweep_stale_parts(target: Path) -> list[Path]:
    """Delete the hidden `.NAME.PID.XXXX.part` files that an interrupted write of `target` left beside it.

    Call before writing `target`. A part whose writing process still runs is kept (another run into the same
    folder); one whose process is gone is removed. Returns what was removed."""
    removed: list[Path] = []
    try:
        candidates = list(target.parent.glob(f".{_glob_escape(target.name)}.*.part"))
    except OSError:
        return removed
    for part in candidates:
        middle = part.name[len(target.name) + 2 : -len(".part")]
        pid_text, _, rest = middle.partition(".")
        gone = _writer_gone(int(pid_text)) if pid_text.isdigit() and rest else None
        if gone is None:
            try:
                gone = time.time() - part.stat().st_mtime > STALE_AFTER_S
            except OSError:
                continue
        if gone:
            with contextlib.suppress(OSError):
                part.unlink()
                removed.append(part)
    return removed


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)

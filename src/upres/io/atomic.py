"""Write files so that a crash never leaves a half-written file under the final name."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which is not safe while other threads create files.
_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, sweep: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it over `path`, else delete it.
    `sweep`: first remove what killed writes of `path` left (one folder listing: for files written one at a time,
    such as models; batches of images sweep once for the batch)."""
    final = Path(path)
    if final.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder; give a file name", str(final))
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(
            errno.ENOTDIR, "cannot create this folder: a file is in the way", str(final.parent)
        ) from None
    if sweep:
        sweep_stale_parts([final])
    # The writer's process id is in the name, so a later run can tell its own leftovers from a live writer's.
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{_part_stem(final.name)}.{os.getpid()}.", suffix=".part", dir=final.parent
    )
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


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object], sweep: bool = False) -> Path:
    """Call `write(tmp_path)` and move the result to `path` only if it returned without error."""
    with atomic_path(path, sweep) as tmp:
        write(tmp)
    return Path(path)


# File systems take names of up to 255 bytes; a part file adds its process id, random letters and ".part" (about 25
# bytes) to the name it stands for, so a long legal name (a photo's description as its name) stands in shortened.
_PART_STEM_BYTES = 200


def _part_stem(name: str) -> str:
    """What stands for `name` in its part files' names: itself, or when long its start and a hash of the whole."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= _PART_STEM_BYTES:
        return name
    digest = hashlib.blake2b(raw, digest_size=6).hexdigest()
    return raw[: _PART_STEM_BYTES - 13].decode("utf-8", "ignore") + "~" + digest


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


def sweep_stale_parts(targets: Iterable[Path]) -> list[Path]:
    """Delete the hidden `.NAME.PID.XXXX.part` files that interrupted writes of `targets` left beside them.

    Call before writing the targets. A part whose writing process still runs is kept (another run into the same
    folder); one whose process is gone is removed. Each folder is listed once. Returns what was removed."""
    by_folder: dict[Path, set[str]] = {}
    for target in targets:
        by_folder.setdefault(target.parent, set()).add(_part_stem(target.name))
    return [p for folder, names in by_folder.items() for p in _sweep(folder, names)]


def sweep_stale_parts_in(folder: Path) -> list[Path]:
    """The same for every file of `folder`, one that a single kind of run owns (a training run's models and states,
    whose names change with the iteration)."""
    return _sweep(folder, None)


def _sweep(folder: Path, names: set[str] | None) -> list[Path]:
    removed: list[Path] = []
    try:
        entries = [e.name for e in os.scandir(folder) if e.name.startswith(".") and e.name.endswith(".part")]
    except OSError:
        return removed
    for entry in entries:
        if _stale(folder / entry, entry[1 : -len(".part")], names):
            with contextlib.suppress(OSError):
                (folder / entry).unlink()
                removed.append(folder / entry)
    return removed


def _stale(part: Path, middle: str, names: set[str] | None) -> bool:
    """`middle` is NAME.PID.XXXX (NAME.XXXX before process ids were written): stale when NAME is one of `names`
    (any name when `names` is None) and its writer is gone (or, when that cannot be told, the part is old)."""
    pieces = middle.rsplit(".", 2)
    if len(pieces) == 3 and (names is None or pieces[0] in names) and pieces[1].isdigit():
        gone = _writer_gone(int(pieces[1]))
    elif names is None or middle.rsplit(".", 1)[0] in names:
        gone = None
    else:
        return False
    if gone is None:
        try:
            gone = time.time() - part.stat().st_mtime > STALE_AFTER_S
        except OSError:
            return False
    return gone

"""io.file_lock where the file system keeps no locks: a partial video output is still written, never refused."""

from __future__ import annotations

import errno
import sys

import pytest

from upres.io.file_lock import BUSY, HELD, NO_LOCKS, claim, in_use, try_lock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is the POSIX lock")


def _flock_fails(monkeypatch, code: int) -> None:
    import fcntl

    def fail(fd, op):
        raise OSError(code, "refused")

    monkeypatch.setattr(fcntl, "flock", fail)


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS])
def test_no_locks_is_neither_held_nor_busy(tmp_path, monkeypatch, code):
    path = tmp_path / "part.mkv"
    _flock_fails(monkeypatch, code)
    with path.open("a+") as fh:
        assert try_lock(fh) == NO_LOCKS
    assert not in_use(path)
    fh = claim(path)
    assert fh is not None
    fh.close()


def test_a_held_lock_is_busy_for_another_process(tmp_path):
    import subprocess

    path = tmp_path / "part.mkv"
    with path.open("a+") as fh:
        assert try_lock(fh) == HELD
        code = f"from upres.io.file_lock import try_lock; print(try_lock(open({str(path)!r}, 'a+')))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == BUSY


def test_another_lock_error_is_raised(tmp_path, monkeypatch):
    _flock_fails(monkeypatch, errno.EIO)
    with (tmp_path / "part.mkv").open("a+") as fh, pytest.raises(OSError, match="refused"):
        try_lock(fh)

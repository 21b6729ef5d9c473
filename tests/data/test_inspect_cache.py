"""The image-check cache of `upres doctor`: where it lives, and that it only ever saves time (no home folder, an
entry written by another upres version)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from upres.cli import main
from upres.data import inspect_cache
from upres.io.images import write_image


def _no_home(monkeypatch) -> None:
    for key in ("UPRES_CACHE_DIR", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(key, raising=False)

    def no_home(cls=None):
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", classmethod(no_home))


def test_doctor_runs_without_a_home_folder(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(tmp_path / "gt" / f"{i}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    _no_home(monkeypatch)
    assert inspect_cache.cache_file() is None
    assert main(["doctor", str(tmp_path / "gt")]) == 0
    assert "OK: 0 errors" in capsys.readouterr().out
    assert inspect_cache.load() == {}


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("UPRES_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert inspect_cache.cache_file() == tmp_path / "xdg" / "upres" / inspect_cache.CACHE_NAME
    monkeypatch.setenv("UPRES_CACHE_DIR", str(tmp_path / "own"))
    assert inspect_cache.cache_file() == tmp_path / "own" / inspect_cache.CACHE_NAME


def test_entries_written_by_another_version_are_checked_again(tmp_path, monkeypatch):
    """~/.cache/upres is shared by every upres a user runs: an entry with fields this version does not record (a
    newer upres) or lacks (an older one) means decoding the file again, never `ImageInfo(**fields)` failing."""
    from upres.data import doctor
    from upres.data.doctor import check_folders

    rng = np.random.default_rng(1)
    for i in range(2):
        write_image(tmp_path / "gt" / f"{i}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    first = check_folders([tmp_path / "gt"], scale=1).to_dict()
    cache = inspect_cache.load()
    entries = [cache[str((tmp_path / "gt" / f"{i}.png").resolve())]["fields"] for i in range(2)]
    entries[0]["sharpness"] = 0.5  # a field of a later version
    del entries[1]["digest"]  # an earlier version's entry
    inspect_cache.cache_file().write_text(json.dumps(cache))
    decoded = []
    real = doctor.inspect_image
    monkeypatch.setattr(doctor, "inspect_image", lambda p: decoded.append(p.name) or real(p))
    assert check_folders([tmp_path / "gt"], scale=1).to_dict() == first
    assert sorted(decoded) == ["0.png", "1.png"]
    decoded.clear()
    check_folders([tmp_path / "gt"], scale=1)  # rewritten with this version's fields: reused again
    assert decoded == []

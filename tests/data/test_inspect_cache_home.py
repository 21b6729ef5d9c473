"""`upres doctor` where no cache folder can be found (no $HOME, a uid without a passwd entry) still checks."""

from __future__ import annotations

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

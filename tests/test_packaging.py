"""The wheel a user installs: every file the package reads is in it, and its version is upres.__version__."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

import upres

REPO = Path(__file__).resolve().parents[1]
META = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_version_is_written_once():
    """pyproject reads the version from upres.__version__ (what `upres --version` prints), never a copy of it."""
    assert "version" not in META["project"], "pyproject.toml: drop project.version; it is upres.__version__"
    assert "version" in META["project"]["dynamic"]
    assert META["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "upres.__version__"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools")
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tree / name)
    shutil.copytree(REPO / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tree / "dist"
    code = f"from setuptools import build_meta as b; print(b.build_wheel({str(out)!r}))"
    run = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return zipfile.ZipFile(out / run.stdout.strip().splitlines()[-1])


def test_the_wheel_holds_every_file_of_the_package(wheel):
    src = REPO / "src"
    files = {
        p.relative_to(src).as_posix()
        for p in (src / "upres").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    shipped = {n for n in wheel.namelist() if n.startswith("upres/")}
    assert sorted(files - shipped) == [], "add these to [tool.setuptools.package-data] in pyproject.toml"


def test_the_wheel_metadata(wheel):
    info = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    fields = dict(
        line.split(": ", 1)
        for line in wheel.read(info).decode().split("\n\n")[0].splitlines()
        if ": " in line
    )
    assert fields["Version"] == upres.__version__
    assert fields["Requires-Python"] == META["project"]["requires-python"]
    points = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    assert "upres = upres.cli:main" in wheel.read(points).decode()

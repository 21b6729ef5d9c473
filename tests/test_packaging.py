"""The wheel a user installs: every file the package reads is in it, and its version is upres.__version__."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import upres

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
META = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_version_is_written_once():
    """pyproject reads the version from upres.__version__ (what `upres --version` prints), never a copy of it."""
    assert "version" not in META["project"], "pyproject.toml: drop project.version; it is upres.__version__"
    assert "version" in META["project"]["dynamic"]
    assert META["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "upres.__version__"}


def test_the_build_needs_a_setuptools_that_reads_the_license():
    """`license = "Apache-2.0"` (PEP 639's SPDX string) is refused by setuptools before 77 ("project.license must
    be valid exactly by one definition"), so an offline build with an older one must not look allowed."""
    assert isinstance(META["project"]["license"], str)
    floor = next(r for r in META["build-system"]["requires"] if r.startswith("setuptools"))
    version = tuple(int(x) for x in floor.removeprefix("setuptools>=").split("."))
    assert version >= (77,), f"pyproject.toml: build-system.requires has {floor!r}; use setuptools>=77"


def _setuptools_that_builds_it() -> None:
    """The build runs in this environment (no isolation, offline): an older setuptools here is not the project's."""
    setuptools = pytest.importorskip("setuptools", reason="building the package needs setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} here; the build needs >= 77 (pyproject.toml)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    _setuptools_that_builds_it()
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


def test_the_sdist_holds_the_guides_messages_name_and_no_tests(tmp_path):
    _setuptools_that_builds_it()
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "MANIFEST.in"):
        if (REPO / name).is_file():
            shutil.copy(REPO / name, tree / name)
    for folder in ("src", "docs", "tests"):
        shutil.copytree(
            REPO / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    code = f"from setuptools import build_meta as b; print(b.build_sdist({str(tmp_path / 'dist')!r}))"
    run = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    with tarfile.open(tmp_path / "dist" / run.stdout.strip().splitlines()[-1]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    guides = {p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md")}
    assert guides and sorted(guides - names) == []
    assert "src/upres/options/esrgan_x4_otf_fidelity.yml" in names
    assert sorted(n for n in names if n.startswith("tests/")) == []

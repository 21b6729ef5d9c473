"""Wheels a GPU machine without network lacks, fetched here and installed there offline (for `make gpu-check`).

    python bench/gpu_wheels.py download        # here, with network: into .whl/ (git-ignored)
    python bench/gpu_wheels.py install         # there, offline: pip install --no-index from .whl/

The device machines come with torch (and CUDA) but not upres's other dependencies. Versions are pinned to the
ones installed in the environment running `download`, so the GPU machine tests what this one tests. Wheels are for
CPython 3.12 on manylinux x86_64 unless --python/--platform say otherwise; basicsr publishes only a source archive,
so its (pure-Python) wheel is built here. The working tree carried to a device machine is capped at 64 MiB, so the
wheels come in three folders, each carried (and installed) in its own call while the machine stays warm:

    run(carry=[".whl/core", ".whl/av"], command="python bench/gpu_wheels.py install")
    run(carry=[".whl/imagecodecs"], command="python bench/gpu_wheels.py install")
    run(command="make gpu-check")

`install` installs every wheel under .whl/ that came along into --target (default /tmp/upres-wheels, outside the
system Python, which may refuse pip) and puts a .pth file naming that folder into the interpreter's site-packages,
so every Python started later sees the packages, also subprocesses whose PYTHONPATH a test replaces. Extra
arguments go to pip.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# One folder per carry: a device run carries at most 64 MiB with the tree, and av and imagecodecs are ~35 and ~25 MiB.
GROUPS = {
    "core": [
        "pydantic",
        "pydantic-core",
        "annotated-types",
        "typing-inspection",
        "spandrel",
        "pytorch-msssim",
        "lpips",
        "lmdb",  # imported by basicsr (the reference in tests); its other needs come with the device image
        # The suite over the machine's cores; the H200 image had them, an image without them would run it on one.
        "pytest-xdist",
        "execnet",
    ],
    "av": ["av"],
    "imagecodecs": ["imagecodecs"],
}
BUILT_HERE = ["basicsr"]  # source archive only on PyPI; goes with core
LIMIT_MIB = 48


def pinned(name: str) -> str:
    try:
        return f"{name}=={importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return name


def download(dest: Path, python: str, platforms: list[str], extra: list[str]) -> int:
    abi = "cp" + python.replace(".", "")
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    base += ["--python-version", python, "--implementation", "cp", "--abi", abi]
    for platform in platforms:
        base += ["--platform", platform]
    code = 0
    for group, names in GROUPS.items():
        folder = dest / group
        folder.mkdir(parents=True, exist_ok=True)
        code = code or subprocess.call(
            [*base, "-d", str(folder), *[pinned(p) for p in names + (extra if group == "core" else [])]]
        )
    for name in BUILT_HERE:
        code = code or subprocess.call(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(dest / "core"),
                pinned(name),
            ]
        )
    for folder in sorted(p for p in dest.iterdir() if p.is_dir()):
        size = sum(p.stat().st_size for p in folder.glob("*.whl")) / 2**20
        print(f"{folder}: {len(list(folder.glob('*.whl')))} wheel(s), {size:.1f} MiB")
        if size > LIMIT_MIB:
            print(
                f"warning: {folder} holds more than {LIMIT_MIB} MiB: with the tree it may not fit one carry",
                file=sys.stderr,
            )
    return code


def install(dest: Path, target: Path, pip_args: list[str]) -> int:
    import site

    wheels = sorted(str(p) for p in dest.rglob("*.whl"))
    if not wheels:
        print(
            f"no wheels under {dest}: run `python bench/gpu_wheels.py download` where there is network",
            file=sys.stderr,
        )
        return 2
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
    code = subprocess.call([*cmd, "--upgrade", "--target", str(target), *pip_args, *wheels])
    if code:
        return code
    for folder in site.getsitepackages():
        try:
            (Path(folder) / "upres-wheels.pth").write_text(f"{target}\n")
        except OSError:
            continue
        print(f"installed {len(wheels)} wheel(s) into {target}, named in {folder}/upres-wheels.pth")
        return 0
    print(f"installed into {target}; no writable site-packages: export PYTHONPATH={target}", file=sys.stderr)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["download", "install"])
    ap.add_argument("--dest", type=Path, default=REPO / ".whl")
    ap.add_argument("--target", type=Path, default=Path("/tmp/upres-wheels"), help="install into (install)")
    ap.add_argument("--python", default="3.12", help="target CPython version (download)")
    ap.add_argument(
        "--platform",
        action="append",
        help="wheel platform tags (download); default manylinux 2.17/2.28 x86_64",
    )
    ap.add_argument("--also", action="append", default=[], help="one more package to download (into core)")
    args, pip_args = ap.parse_known_args()
    if args.action == "install":
        return install(args.dest, args.target, pip_args)
    if pip_args:
        ap.error(f"unrecognized arguments: {' '.join(pip_args)}")
    platforms = args.platform or ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
    return download(args.dest, args.python, platforms, args.also)


if __name__ == "__main__":
    sys.exit(main())

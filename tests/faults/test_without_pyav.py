"""PyAV is the optional `video` extra: a user without it who runs a command that needs it gets one line saying how
to install it. On the GPU machine (no PyAV) `upres video` ended in a ModuleNotFoundError traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fault_helpers import cli_env, compact_model, png

# The child imports nothing named av, as on a machine where the extra is not installed.
BLOCK_AV = """
import importlib.abc, sys
class NoAv(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "av" or name.startswith("av."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoAv())
from upres.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _upres_without_av(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_AV, *[str(a) for a in args]],
        capture_output=True, text=True, cwd=cwd, env=cli_env(), timeout=120,
    )  # fmt: skip


def test_video_without_pyav_is_one_line_and_writes_nothing(tmp_path):
    model = compact_model(tmp_path / "m.safetensors")
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)
    proc = _upres_without_av("video", "-m", model, "clip.mp4", "-o", "out.mkv", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "error: video needs PyAV: pip install 'upres[video]'\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "m.safetensors"]


def test_its_flags_are_still_checked_first(tmp_path):
    proc = _upres_without_av("video", "-m", "m.pth", "clip.mp4", "-o", "o.mp4", "--crf", "60", cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (
        2,
        "error: --crf 60: libx264 takes 0-51 (lower is better quality)\n",
    )


@pytest.mark.parametrize("command", ["degrade", "prepare"])
def test_a_video_degradation_without_pyav_is_one_line(tmp_path, command):
    png(tmp_path / "in" / "a.png", size=32)
    (tmp_path / "opt.yml").write_text("scale: 2\nvideo_prob: 1\n")
    args = {
        "degrade": ["degrade", "-c", "opt.yml", "in", "-o", "out"],
        "prepare": ["prepare", "lr", "in", "-o", "out", "-c", "opt.yml"],
    }[command]
    proc = _upres_without_av(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.endswith(
        "video_prob > 0 needs PyAV: pip install 'upres[video]', or set video_prob: 0\n"
    ), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()

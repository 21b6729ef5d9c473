"""SIGTERM (docker stop, a scheduler's preemption) stops `upres video` as Ctrl+C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from video_clips import make_clip, video_frames

from upres.archs import build_network
from upres.io.model_files import save_model

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="no SIGTERM to a child process on Windows")
def test_sigterm_leaves_a_playable_partial_mp4_and_says_so(tmp_path):
    """SIGTERM ended the process at once: the partial MP4 had no index (FFmpeg could not open it), nothing was
    said, and the next run called it 'the partial output of an interrupted run' to keep."""
    model = tmp_path / "suc.safetensors"
    module, info = build_network("superultracompact", scale=2)
    save_model(model, module, info)
    clip = make_clip(tmp_path / "in.mkv", size=(320, 240), pts=[i * 40 for i in range(150)], subtitles=None)
    out, partial = tmp_path / "out.mp4", tmp_path / "out.partial.mp4"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "upres", "video", "-m", str(model), str(clip.path), "-o", str(out)]
    proc = subprocess.Popen(
        [*cmd, "--device", "cpu"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first = proc.stderr.readline()  # the plain progress line printed after the first frame
    assert first.startswith("frames 1/"), first
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert not out.exists()
    frames = video_frames(partial)
    assert 0 < len(frames) < 150
    assert [p for p, _ in frames] == [i * 40 * 16 for i in range(len(frames))]  # MP4's 1/16000 time base
    assert err.strip().startswith(
        f"interrupted: {partial} is a partial output with {len(frames)} frames (ends at "
    )

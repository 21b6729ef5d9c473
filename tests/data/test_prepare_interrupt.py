"""Ctrl+C and SIGTERM stop `upres prepare` promptly: queued sources are dropped, no visible file is half-written, no
temporary file is left, and it says "interrupted" with what was finished (exit 130 for SIGINT, 143 for SIGTERM)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from upres.data.prepare_resume import output_is_finished
from upres.io.images import write_image

SRC = Path(__file__).resolve().parents[2] / "src"


def _run_and_signal(args: list[str], sig: int, group: bool) -> tuple[int, float, str, str]:
    """Start the CLI in its own process group, send `sig` once the first source is reported; (exit code, seconds
    from the signal to the exit, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "upres", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    seen = [proc.stdout.readline()]  # the first `[1/n]` line: the workers hold sources, more are queued
    sent = time.monotonic()
    if group:  # what Ctrl+C in a terminal (or systemd's stop) does: the whole process group
        os.killpg(proc.pid, sig)
    else:  # `kill PID`, `docker stop`
        proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, time.monotonic() - sent, "".join(seen) + out, err


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig, group, workers",
    [
        (signal.SIGINT, True, "2"),
        (signal.SIGINT, False, "2"),
        (signal.SIGTERM, True, "2"),
        (signal.SIGTERM, False, "1"),
    ],
)
def test_an_interrupted_prepare_stops_promptly_and_leaves_only_whole_files(tmp_path, sig, group, workers):
    """With -j 2, Ctrl+C still ran every queued source before it exited; SIGTERM exited 143 without a word and
    left hidden .part files."""
    src, out = tmp_path / "src", tmp_path / "out"
    for i in range(16):  # about 2 s of work each: 16 s uninterrupted with 2 workers
        write_image(
            src / f"{i:02d}.png", np.random.default_rng(i).integers(0, 256, (512, 512, 3), dtype=np.uint8)
        )
    args = ["prepare", "chunk", str(src), "-o", str(out), "--size", "32", "--step", "16", "--min-size", "8"]
    code, seconds, stdout, stderr = _run_and_signal([*args, "-j", workers], sig, group)
    assert code == 128 + sig, stderr
    assert seconds < 6, f"took {seconds:.1f} s to stop"
    done = len(re.findall(r"^\[\d+/16\] done ", stdout, re.M))
    assert stderr.splitlines()[-1].startswith(
        f"interrupted: {done} done, 0 already finished, 0 too small, 0 failed"
    )
    assert done < 16
    tiles = list(out.glob("*.png"))
    assert tiles and all(output_is_finished(p, 0, (32, 32)) for p in tiles)
    assert not [p.name for p in out.iterdir() if p.name.endswith(".part")]

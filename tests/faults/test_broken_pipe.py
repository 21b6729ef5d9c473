"""Issue 14 item 13: output to a reader that went away (`upres info M | head -1`) is not a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fault_helpers import cli_env, compact_model, png


@pytest.mark.parametrize("command", [["info", "{model}"], ["info", "--json", "{model}"], ["schema"]])
def test_closed_stdout_is_not_an_error(tmp_path, command):
    model = compact_model(tmp_path / "m.safetensors")
    args = [a.format(model=model) for a in command]
    proc = subprocess.Popen(
        [sys.executable, "-m", "upres", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env()
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything was written: every write meets a broken pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert err == ""


def test_a_file_name_the_console_cannot_show_is_escaped(tmp_path):
    """A Windows console (cp1252) cannot show every file name; printing one must not stop the batch."""
    model = compact_model(tmp_path / "m.safetensors")
    png(tmp_path / "in" / "café_東京.png")
    env = {**cli_env(), "PYTHONIOENCODING": "ascii"}
    proc = subprocess.run(
        [sys.executable, "-m", "upres", "upscale", "-m", str(model), str(tmp_path / "in"), "-o", str(tmp_path / "out")],
        capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    out = proc.stdout.decode("ascii")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert "caf\\xe9_\\u6771\\u4eac.png" in out and "upscaled 1, skipped 0, failed 0" in out
    assert (tmp_path / "out" / "café_東京.png").is_file()

"""Issue 14 item 13: output to a reader that went away (`upres info M | head -1`) is not a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fault_helpers import cli_env, compact_model


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

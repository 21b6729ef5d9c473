"""Ctrl+C while torch was being imported (the first second or two of every command) was swallowed by torch's C
extension: the command ran to its end and exited 0, as if nobody had pressed it."""

from __future__ import annotations

import os
import subprocess
import sys

from upres.archs import build_network
from upres.io.model_files import save_model

# The key press lands where it did in the runs that lost it: in numpy's import, which torch's C extension starts.
PROBE = """
import os, signal, sys

class PressCtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and "torch" in sys.modules:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, PressCtrlC())
from upres.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_during_the_torch_import_stops_the_command(tmp_path):
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    model = save_model(tmp_path / "m.safetensors", net, info)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "info", str(model)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=300,
    )
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "interrupted\n")

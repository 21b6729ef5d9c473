"""One process of a torchrun job stops in the middle of a step (killed, out of memory on its GPU, its loader out of
good samples): the processes on the other machines were in the backward's all-reduce and printed a traceback of
gloo's ("Connection reset by peer ... GLHF!"). They now stop with one line that says where the error is."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from train_helpers import base_options, free_port, launch_machine, write

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}

# Process 1 dies at the start of iteration 3, as a killed process does: no error of its own, no goodbye.
DIES = """import os, sys
from upres.train import step
whole = step.TrainStep.__call__
def dying(self, it, feed):
    if os.environ["RANK"] == "1" and it == 3:
        os._exit(7)
    return whole(self, it, feed)
step.TrainStep.__call__ = dying
from upres.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_the_other_machine_stops_with_one_line_when_a_process_dies_mid_step(tmp_path, hr_folder):
    script = tmp_path / "dies.py"
    script.write_text(DIES)
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "exp"))
    port = free_port()
    # Two launchers of one process each, as on two machines: process 0's launcher does not see process 1 die, so
    # process 0 meets the loss in its collective instead of being stopped by its launcher.
    target = [str(script), "train", "-c", str(cfg), "--device", "cpu"]
    procs = [launch_machine(node, port, target, tmp_path, ENV) for node in (0, 1)]
    try:
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    err0 = outs[0][1]
    assert procs[0].returncode != 0
    assert "[rank0]:" not in err0 and "GLHF" not in err0, err0[-3000:]
    assert (
        "error: another process stopped during iteration 3 (its error is printed on its machine); this one stops "
        "too; no training state is saved"
    ) in err0, err0[-3000:]
    assert "another process stopped during iteration 3" in (tmp_path / "exp" / "log.txt").read_text()

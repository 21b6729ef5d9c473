"""`bench/train_parity.py --smoke`: upres's and BasicSR's fidelity trainers on the same toy data, scored by both
evaluation routes, so the benchmark behind docs/benchmarks.md cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ref_basicsr import import_basicsr

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_trains_both_sides_and_both_evaluations_agree(tmp_path):
    import_basicsr("basicsr.models.sr_model")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "parity.json"
    cmd = [sys.executable, str(REPO / "bench" / "train_parity.py"), "--smoke", "--work", str(tmp_path / "w")]
    proc = subprocess.run([*cmd, "--json", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert {(r["side"], r["weights"]) for r in rows} == {
        (side, weights)
        for side in ("upres", "basicsr", "upres_gt_only")
        for weights in ("params", "params_ema")
    }
    for row in rows:
        # The same model and the same 8-bit LR scored by `upres eval` and by BasicSR's calculate_psnr: one number.
        assert row["upres_eval"].keys() == row["basicsr_eval"].keys() == {"synthetic_val"}
        assert row["upres_eval"]["synthetic_val"] == pytest.approx(
            row["basicsr_eval"]["synthetic_val"], abs=0.02
        )
    assert "| params_ema | upres | synthetic_val |" in proc.stdout
    # The table again from the JSON alone (how runs made separately are put into one table).
    merged = subprocess.run(
        [sys.executable, str(REPO / "bench" / "train_parity.py"), "--merge", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert merged.returncode == 0, merged.stderr[-3000:]
    table = merged.stdout.strip()
    assert table and table in proc.stdout
    assert "upres_gt_only - basicsr" in table.splitlines()[0]
    # --rescore scores the models left in --work again, training nothing: the same numbers.
    again = tmp_path / "again.json"
    proc = subprocess.run([*cmd, "--rescore", "--json", str(again)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rescored = json.loads(again.read_text())["rows"]
    assert [r["train_s"] for r in rescored] == [None] * len(rows)
    assert [r["upres_eval"] for r in rescored] == [r["upres_eval"] for r in rows]

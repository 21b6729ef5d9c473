"""`bench/train_parity.py --smoke`: upres's and BasicSR's fidelity trainers on the same toy data, scored by both
evaluation routes, so the benchmark behind docs/benchmarks.md cannot rot."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

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
    for side in ("upres", "upres_gt_only"):  # on the CPU, as BasicSR's side, also where there is a GPU
        assert "device cpu" in (tmp_path / "w" / f"{side}_seed1" / "log.txt").read_text()
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


def _bench():
    spec = importlib.util.spec_from_file_location("train_parity", REPO / "bench" / "train_parity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Called(Exception):
    pass


def test_upres_trains_and_scores_on_the_cpu_as_basicsrs_side(tmp_path, monkeypatch):
    """BasicSR's side runs with num_gpu 0; upres's side took `--device auto`, so on a machine with a GPU it trained
    and scored there (cuDNN's TF32 convolutions), not on the CPU in fp32 as the benchmark states and BasicSR did."""
    bench = _bench()
    calls = []

    def upres(*args: str, cwd: Path) -> str:
        calls.append(args)
        raise _Called

    monkeypatch.setattr(bench, "_upres", upres)
    args = bench.parse_args(["--work", str(tmp_path)])
    with pytest.raises(_Called):
        bench.train_upres(args, tmp_path / "hr", tmp_path / "lr", seed=1)
    model = tmp_path / "model.pth"
    torch.save({"params": {}}, model)
    with pytest.raises(_Called):
        bench.eval_upres(args, model, "params", [tmp_path / "Set5"])
    assert [c[0] for c in calls] == ["train", "eval"]
    for command in calls:
        assert "--device cpu" in " ".join(command), command

"""Issue 14's sweep: every CLI fault case ends with a documented exit code (0, 1, 2) and never a traceback.

The cases (sweep_cases.py) run in one child process through `upres.cli.main`, so torch is imported once; the
child records each case's stdout and stderr file descriptors, so messages from threads and from the interpreter
are seen too. Ctrl+C (130) and closed pipes need a process of their own each: test_interrupts, test_broken_pipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fault_helpers import cli_env
from sweep_cases import build_workspace, cases

HERE = Path(__file__).resolve().parent
SLOW_CASE_S = 30.0


@pytest.mark.slow
def test_no_fault_case_prints_a_traceback(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    build_workspace(ws)
    all_cases = cases(ws)
    (tmp_path / "cases.json").write_text(json.dumps([{"id": i, "argv": a} for i, a, _, _ in all_cases]))
    env = cli_env()
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}{':' if sys.platform != 'win32' else ';'}{HERE}"
    proc = subprocess.run(
        [sys.executable, str(HERE / "sweep_driver.py"), str(tmp_path / "cases.json"), str(tmp_path / "out.json")],
        capture_output=True, text=True, cwd=ws, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r["id"]: r for r in json.loads((tmp_path / "out.json").read_text())}
    problems = []
    for case_id, _argv, codes, expect in all_cases:
        r = results[case_id]
        text = r["out"] + r["err"]
        if "Traceback" in text or "Exception ignored" in text or r["code"] not in codes:
            problems.append(f"{case_id}: exit {r['code']} (allowed {sorted(codes)}):\n{text[-1500:]}")
        elif expect is not None and expect not in text:
            problems.append(f"{case_id}: output lacks {expect!r}:\n{text[-800:]}")
        elif "upres-sweep-ran-code" in text:
            problems.append(f"{case_id}: ran code from a file")
        elif (
            r["seconds"] > SLOW_CASE_S
        ):  # every input here is tiny: minutes mean something expanded or looped
            problems.append(f"{case_id}: took {r['seconds']:.0f} s")
    assert not problems, f"{len(problems)} of {len(all_cases)} cases failed:\n\n" + "\n\n".join(problems)

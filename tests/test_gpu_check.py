"""`bench/gpu_check.py --smoke`: every GPU benchmark's code path at toy sizes on the CPU, so the script cannot rot
between the (rare) sessions on a GPU machine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECTIONS = (
    "module",
    "upscale",
    "video",
    "train",
    "train_profile",
    "loader",
    "upscale_compile",
    "train_compile",
    "loader_device",
)


def _smoke(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(REPO / "bench" / "gpu_check.py"), "--smoke", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_smoke_runs_every_benchmark_and_writes_json_and_markdown(tmp_path):
    pytest.importorskip("spandrel")
    pytest.importorskip("av")
    out = tmp_path / "check.json"
    proc = _smoke(tmp_path, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["errors"] == {}
    assert report["smoke"] is True and report["tests"] is None  # the suite is not run from inside itself
    assert report["environment"]["device"] == "cpu" and report["environment"]["torch"]
    for name in SECTIONS:
        assert report[name], f"section {name} left no figures"
    assert report["upscale"]["steady_images_per_s"] > 0
    # the run's stage times come from `upres upscale --json`: the limiting stage shows next to the figure
    assert report["upscale"]["stages_all"]["model"] > 0 and report["upscale"]["stages_all"]["encode"] > 0
    assert report["upscale"]["threads"]["devices"] == 1
    # `upres upscale --compile` ran through torch.compile (aot_eager in smoke: inductor's cold CPU compile is slow).
    assert report["upscale_compile"]["steady_images_per_s"] > 0 and report["compile_backend"] == "aot_eager"
    assert "compiled for 3x24x32 in" in proc.stderr and "--compile failed" not in proc.stderr
    assert report["video"]["frames"] == report["sizes"]["video_frames"]
    for stage in ("fidelity", "gan"):
        figures, fast = report["train"][stage], report["train_compile"][stage]
        assert figures["bare_eager_it_per_s"] > 0 and figures["flops_per_iter"] > 0
        assert figures["upres_eager_it_per_s"] > 0 and fast["upres_compile_it_per_s"] > 0
        assert (
            0 <= figures["upres_eager_data_wait"] < 1
        )  # the share of upres's time its loop waited for batches
        # The compiled runs are compared with the bare loop the eager section measured, not a second one.
        assert fast["bare_eager_it_per_s"] == figures["bare_eager_it_per_s"]
        # Same seed, same data: the compiled step (aot_eager in smoke) trains the same losses as the eager one.
        eager, compiled = figures["upres_eager_last_losses"], fast["upres_compile_last_losses"]
        assert eager.keys() == compiled.keys() and "l_g_total" in eager
        assert compiled == pytest.approx(eager, rel=1e-4, abs=1e-6)
    assert "l_d_real" in report["train"]["gan"]["upres_eager_last_losses"]
    for stage in ("fidelity", "gan"):
        for side in ("upres", "bare"):
            assert report["train_profile"][stage][side]["wall_ms"] > 0
            assert report["train_profile"][stage][side]["host_wait_ms_per_step"] >= 0
            assert report["train_profile"][stage][side]["ops_per_step"] > 0
    profile = out.with_suffix(".profile.txt").read_text()
    for heading in (
        "## fidelity: upres train",
        "## fidelity: bare loop",
        "## GAN: upres train",
        "## GAN: bare loop",
    ):
        assert heading in profile
    variants = report["train_gan"]
    for key in ("bare_d_reuse", "upres", "upres_workers0", "upres_separate_d"):
        assert variants[f"{key}_it_per_s"] > 0
    # Running D again for D's loss (BasicSR's layout) trains what upres's reuse of D's outputs trains: the variant
    # changes the cost only (D's BatchNorm uses the batch's statistics in training, whatever its running ones).
    ours, again = variants["upres_last_losses"], variants["upres_separate_d_last_losses"]
    assert ours.keys() == again.keys() and "l_d_fake" in ours
    assert again == pytest.approx(ours, rel=1e-5, abs=1e-7)
    for kind in ("paired", "otf"):
        assert report["loader"][kind]["per_worker"] > 0
    # degrade_on device: the workers only read and crop, the training process degrades; the need is the compiled rate
    device = report["loader_device"]
    assert device["read_per_worker"] > 0 and device["device_samples_per_s"] > 0
    assert (
        device["step_samples_per_s"]
        == report["train_compile"]["fidelity"]["upres_compile_it_per_s"] * report["sizes"]["batch"]
    )
    md = out.with_suffix(".md").read_text()
    assert md.startswith("### GPU check on ")
    assert md.count("\n| `upres train`") == 4 and "| loader otf," in md and "| `upres video`" in md
    assert "| `upres upscale --compile` 3 PNGs 32x24, steady state |" in md


def test_unknown_section_is_a_usage_error(tmp_path):
    proc = _smoke(tmp_path, "--skip", "videos")
    assert proc.returncode == 2
    assert (
        "gpu_check: unknown section(s) videos; sections: module, upscale, video, train, train_profile, train_gan, "
        "loader, upscale_compile, train_compile, loader_device, tests" in (proc.stdout + proc.stderr)
    )


def test_only_runs_the_named_sections(tmp_path):
    """`--only module` measures the module and leaves every other section (the suite included) out."""
    pytest.importorskip("spandrel")
    out = tmp_path / "check.json"
    proc = _smoke(tmp_path, "--only", "module", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["module"]["spandrel_module_ms"] > 0
    assert set(report["seconds"]) == {"module"}
    for name in [*SECTIONS[1:], "tests"]:
        assert report[name] is None, name


def test_train_rounds_alternate_and_report_the_median_round(tmp_path):
    """Two runs of one eager setting differed by 15% on the H200: --train-rounds repeats (bare loop, upres) and
    reports the round whose ratio is the median, its figures with it."""
    out = tmp_path / "check.json"
    proc = _smoke(tmp_path, "--only", "train", "--train-rounds", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    for stage in ("fidelity", "gan"):
        fig = report["train"][stage]
        ratios = sorted(r["ratio"] for r in fig["rounds"])
        assert len(ratios) == 3
        median = next(r for r in fig["rounds"] if r["ratio"] == ratios[1])
        assert fig["bare_eager_it_per_s"] == median["bare_it_per_s"]
        assert fig["upres_eager_it_per_s"] == median["upres_it_per_s"]
    assert "; rounds " in out.with_suffix(".md").read_text()


def test_train_rounds_below_one_are_refused(tmp_path):
    proc = _smoke(tmp_path, "--only", "train", "--train-rounds", "0")
    assert proc.returncode == 2
    assert "gpu_check: --train-rounds 0: give 1 or more" in proc.stderr


def test_device_run_script_parses_and_names_its_parts(tmp_path):
    """bench/gpu_device_run.sh (what a device call runs): valid sh, and a wrong part is refused before anything is
    installed."""
    script = REPO / "bench" / "gpu_device_run.sh"
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    proc = subprocess.run(["sh", str(script), "benchmarks"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == "usage: sh bench/gpu_device_run.sh bench|tests|all|train|train0|gan|next|new"
    )
    assert list(tmp_path.iterdir()) == []
    # `new` runs named test files on the device: each still exists
    named = re.findall(r"tests/[\w/]+\.py", script.read_text())
    assert named and all((REPO / p).is_file() for p in named), named


def _gpu_check_module():
    import importlib.util

    sys.path.insert(0, str(REPO / "bench"))
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_suite_past_its_time_is_stopped_and_still_names_its_failures(tmp_path, monkeypatch):
    """On a GPU machine the suite runs against the clock: stopped there, it reports what ran, failures by name."""
    check = _gpu_check_module()
    monkeypatch.setattr(check, "STOP_GRACE_S", 20)
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_cut.py").write_text(
        "import time\n\n"
        "def test_a_pass():\n    pass\n\n"
        "def test_b_fail():\n    assert 1 == 2\n\n"
        "def test_c_slow():\n    time.sleep(120)\n"
    )
    data, rows = check.run_tests(tmp_path, [str(tests / "test_cut.py")], 15, 1, tmp_path / "pytest.log")
    assert data["timed_out"] and data["exit_code"] is None
    assert data["passed"] == 1 and [f.split("::")[-1].split(":")[0] for f in data["failed"]] == [
        "test_b_fail"
    ]
    assert rows[0].upres.startswith("1 passed, 1 failed")


def test_results_are_read_from_a_log_with_or_without_xdist():
    check = _gpu_check_module()
    log = (
        "tests/a.py::test_one PASSED                [ 10%]\n"
        "tests/a.py::test_two FAILED                [ 20%]\n"
        "[gw1] [ 30%] SKIPPED tests/b.py::test_three\n"
        "[gw0] [ 40%] ERROR tests/b.py::test_four[x-1]\n"
        "FAILED tests/a.py::test_two - assert 1 == 2\n"
    )
    assert check.results_in_log(log) == {
        "tests/a.py::test_one": "PASSED",
        "tests/a.py::test_two": "FAILED",
        "tests/b.py::test_three": "SKIPPED",
        "tests/b.py::test_four[x-1]": "ERROR",
    }


def test_workers_fall_back_to_one_process_without_xdist(monkeypatch, capsys):
    """`-n 12` without pytest-xdist would end the suite at pytest's argument parsing, with no test run."""
    check = _gpu_check_module()
    real = check.importlib.util.find_spec
    monkeypatch.setattr(
        check.importlib.util, "find_spec", lambda name: None if name == "xdist" else real(name)
    )
    assert check.pytest_workers(12) == 1
    assert "not installed: the suite runs in one process, not 12" in capsys.readouterr().out
    assert check.pytest_workers(None) == 1
    monkeypatch.setattr(check.importlib.util, "find_spec", real)
    if real("xdist") is not None:
        assert check.pytest_workers(12) == 12
        # unasked: 12 on a GPU machine's 16 cores (the H200's suite took 104 s with 12), one on CI's 2
        monkeypatch.setattr(check.os, "cpu_count", lambda: 16)
        assert check.pytest_workers(None) == 12
        monkeypatch.setattr(check.os, "cpu_count", lambda: 2)
        assert check.pytest_workers(None) == 1


def _args(**given):
    import argparse

    return argparse.Namespace(
        **{"skip": "", "only": "", "diagnose": False, "smoke": False, "no_compile": False, **given}
    )


def test_the_whole_check_leaves_the_diagnostic_sections_out_unless_asked():
    """The whole check has to fit its 8 minutes on one GPU: the profiler's tables and the GAN variants (3 minutes on
    the H200) run when asked for, by --diagnose or by name, and at --smoke's toy sizes, which keep them from rotting."""
    check = _gpu_check_module()
    assert check.sections_to_skip(_args()) == {"train_profile", "train_gan"}
    assert check.sections_to_skip(_args(diagnose=True)) == set()
    assert check.sections_to_skip(_args(only="train,train_gan")) == set(check.SECTIONS) - {
        "train",
        "train_gan",
    }
    assert check.sections_to_skip(_args(smoke=True)) == {"tests"}
    assert check.sections_to_skip(_args(skip="video", no_compile=True)) == {
        "video", "train_compile", "train_profile", "train_gan"
    }  # fmt: skip
    with pytest.raises(ValueError, match="unknown section"):
        check.sections_to_skip(_args(only="videos"))

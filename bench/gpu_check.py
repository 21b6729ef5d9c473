"""The GPU check: the test suite and the GPU benchmarks of issue 12 in one command, on a machine with CUDA.

    python bench/gpu_check.py                 # tests + every benchmark on cuda; writes gpu-check.json, gpu-check.md
    python bench/gpu_check.py --smoke         # every benchmark at toy sizes on the CPU (what CI runs), no tests
    python bench/gpu_check.py --skip tests    # benchmarks only
    python bench/gpu_check.py --only tests    # the suite only (pytest-xdist spreads it over the cores when installed)
    python bench/gpu_check.py --diagnose      # also the diagnostic sections (train_profile, train_gan)

Sections, in the order they run: module upscale video train train_profile train_gan loader upscale_compile
train_compile loader_device tests (train_profile: torch.profiler tables of a few steps, upres and the bare loop, in
<out>.profile.txt; train_gan: variants of the GAN stage that each change one thing, to find its gap; loader_device:
`degrade_on: device`, the workers' rate when they only crop and the device's rate at degrading, against the
compiled step's need). The eager
figures come first and the compiled ones (minutes of compiling each) and the suite last; the JSON and markdown are
rewritten after every section, so a run stopped at a time limit keeps what it measured.

Each figure sits next to its reference measured in the same process on the same device: spandrel's module alone on
tensors already on the device for inference, a bare PyTorch loop (same model, AdamW, L1, bf16 autocast,
channels-last, data on the device) for training. Needs nothing beyond the project and its dev extra, and no network:
models have random weights, images are cut from scikit-image's bundled photos. A section that fails is recorded
with its error and the others still run; the exit code is 1 if any section failed or any test failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import importlib.util
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

from gpu_check_common import REPO, SMOKE, Row, Sizes, peak_tflops

STOP_GRACE_S = (
    30  # for the suite to report and write its results after the SIGINT that ends a run past its time
)

SECTIONS = (
    "module",
    "upscale",
    "video",
    "train",
    "train_profile",
    "train_gan",
    "loader",
    "upscale_compile",
    "train_compile",
    "loader_device",
    "tests",
)
# Sections that look for a cost rather than measure a goal; together about 3 minutes on the H200, which the whole
# check (under 8 minutes on one GPU) has no room for. They run when named in --only, or with --diagnose.
DIAGNOSTIC = {"train_profile", "train_gan"}


def device_info(device: torch.device) -> dict:
    info = {
        "device": device.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "cpu_cores": os.cpu_count(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            name=props.name,
            memory_gib=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count,
            cudnn=torch.backends.cudnn.version(),
        )
    else:
        info["name"] = platform.processor() or platform.machine()
    return info


def pytest_workers(asked: int | None) -> int:
    """Processes for the suite: asked, else three quarters of the cores up to 12 (the suite took 104 s with 12 on the
    H200's 16 cores); 1 without pytest-xdist (said when asked for more)."""
    if importlib.util.find_spec("xdist") is None:
        if asked is not None and asked > 1:
            print(f"pytest-xdist is not installed: the suite runs in one process, not {asked}", flush=True)
        return 1
    return asked if asked is not None else max(1, min(12, (os.cpu_count() or 2) * 3 // 4))


def results_in_log(text: str) -> dict[str, str]:
    """Test id -> PASSED/FAILED/ERROR/SKIPPED from a `pytest -v` log: `tests/a.py::t PASSED [ 5%]` in one process,
    `[gw0] [ 5%] PASSED tests/a.py::t` with pytest-xdist."""
    outcomes = {}
    kinds = "PASSED|FAILED|ERROR|SKIPPED"
    for m in re.finditer(rf"(tests/\S+::\S+) ({kinds})\b|\b({kinds}) (tests/\S+::\S+)", text):
        outcomes[m.group(1) or m.group(4)] = m.group(2) or m.group(3)
    return outcomes


def run_tests(work: Path, extra: list[str], timeout: int, workers: int, log: Path) -> tuple[dict, list[Row]]:
    """The whole suite in a subprocess (on this machine's default device: CUDA when there is one). Its output goes to
    `log` as it runs (short tracebacks of the failures at the end), so a run cut off still shows how far it got."""
    junit = work / "junit.xml"
    # -v: each result is a line of the log as it lands (with xdist too), so a run cut off still names its failures.
    # --durations: the slowest tests on the GPU, to keep the suite inside the check's minutes.
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-v",
        "-rfE",
        "--tb=short",
        "-p",
        "no:cacheprovider",
        "--durations=25",
    ]
    cmd += [f"--junitxml={junit}", *extra]
    if importlib.util.find_spec(
        "pytest_timeout"
    ):  # a hung test fails with its stack instead of stalling the suite
        cmd += ["--timeout", str(max(60, timeout // 2))]
    cmd += ["-n", str(workers)] if workers > 1 else []
    # src first, then whatever the caller's PYTHONPATH holds (a device machine's wheels may live there).
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
    }
    if workers > 1:
        # Each worker's torch would start one thread per core (12 workers x 16 threads on 16 cores): on the H200
        # machine the suite had not finished after 330 s that way, against ~4 min on 2 cores here. Share them out.
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // workers)))
    start = time.perf_counter()
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Interrupted as from a terminal, pytest stops, lists the failures so far and writes its junit report;
            # killed, it would leave only the log to read them from.
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            code = None
    seconds = time.perf_counter() - start
    tail = log.read_text(errors="replace")[-3000:] + (
        "" if code is not None else f"\ntimed out after {timeout} s"
    )
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed: list[str] = []
    if junit.exists():
        root = ET.parse(junit).getroot()
        for suite in root.iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
        for case in root.iter("testcase"):
            bad = case.find("failure")
            bad = bad if bad is not None else case.find("error")
            if bad is not None:
                first = (bad.get("message") or "").strip().splitlines()[:1]
                failed.append(f"{case.get('classname')}::{case.get('name')}: {' '.join(first)[:200]}")
    if not junit.exists():  # killed after all: the results the log names, as each landed
        outcomes = results_in_log(log.read_text(errors="replace"))
        failed = sorted(t for t, o in outcomes.items() if o in ("FAILED", "ERROR"))
        counts.update(
            tests=len(outcomes),
            failures=len(failed),
            skipped=sum(o == "SKIPPED" for o in outcomes.values()),
        )
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    data = {
        "timed_out": code is None,
        "exit_code": code,
        "seconds": seconds,
        "workers": workers,
        "passed": passed,
        **counts,
        "failed": failed,
    }
    if code not in (0, 1) or not junit.exists():
        data["output_tail"] = tail
    summary = f"{passed} passed, {counts['failures'] + counts['errors']} failed, {counts['skipped']} skipped"
    return data, [Row("`pytest` (whole suite)", summary, "", None, "all pass")]


def markdown(report: dict, rows: list[Row]) -> str:
    info = report["environment"]
    lines = [
        f"### GPU check on {info.get('name')} ({report['date']})",
        "",
        f"torch {info['torch']}, CUDA {info.get('cuda')}, cuDNN {info.get('cudnn')}, Python {info['python']}; "
        f"command `{report['command']}`{' (smoke: toy sizes, not figures)' if report['smoke'] else ''}",
        "",
        "| figure | upres | reference (same run) | ratio | goal |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        lines.append(f"| {r.figure} | {r.upres} | {r.reference} | {ratio} | {r.goal} |")
    peak = ", ".join(f"{k} {v:.3g}" for k, v in report.get("peak_tflops", {}).items())
    lines += ["", f"Dense matmul peak measured here (TFLOP/s): {peak}."]
    for name, err in report["errors"].items():
        lines.append(f"\n**{name} failed:** `{err.strip().splitlines()[-1]}`")
    seconds = ", ".join(f"{k} {v:.0f} s" for k, v in report["seconds"].items())
    lines += ["", f"Time per section: {seconds}.", ""]
    return "\n".join(lines)


def sections_to_skip(args: argparse.Namespace) -> set[str]:
    """--skip and --only as asked; the suite never from inside itself (--smoke, which CI runs from the suite); the
    diagnostic sections only when named in --only or asked for with --diagnose, except at --smoke's toy sizes, where
    they cost seconds and keep their code from rotting."""
    skip = {s.strip() for s in args.skip.split(",") if s.strip()} | ({"tests"} if args.smoke else set())
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = (skip | only) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(sorted(unknown))}; sections: {', '.join(SECTIONS)}")
    if only:
        skip |= set(SECTIONS) - only
    elif not (args.diagnose or args.smoke):
        skip |= DIAGNOSTIC
    if args.no_compile:
        skip.add("train_compile")
    return skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="toy sizes on the CPU; skips the test suite")
    ap.add_argument("--device", help="default: cuda (cpu with --smoke)")
    ap.add_argument("--skip", default="", help=f"comma list of sections to leave out: {', '.join(SECTIONS)}")
    ap.add_argument("--only", default="", help="comma list of the sections to run (the others are left out)")
    ap.add_argument(
        "--no-compile", action="store_true", help="leave out the use_compile training runs (train_compile)"
    )
    ap.add_argument(
        "--compile-backend",
        help="torch.compile backend for use_compile and upscale --compile (default inductor; aot_eager with --smoke, whose cold "
        "inductor compile takes minutes on a small CPU)",
    )
    ap.add_argument(
        "--diagnose",
        action="store_true",
        help=f"also run the diagnostic sections ({', '.join(sorted(DIAGNOSTIC))})",
    )
    ap.add_argument(
        "--compile-mode",
        help="the use_compile runs' compile_mode (default on a GPU: reduce-overhead, CUDA graphs for the launch-bound "
        "eager step; upres's own default, max-autotune-no-cudagraphs, autotunes for minutes; 'default' compiles "
        "fastest)",
    )
    ap.add_argument("--tests-timeout", type=int, default=420, help="seconds for the whole test suite")
    ap.add_argument("--pytest-args", default="", help="extra pytest arguments, e.g. '-x -k train'")
    ap.add_argument(
        "--workers",
        type=int,
        help="pytest processes (pytest-xdist); default half the cores up to 8 when xdist is installed, else 1",
    )
    ap.add_argument(
        "--train-workers",
        type=int,
        help="upres train's loader workers in the training figures (default 2, as users run it; 0 loads in-process)",
    )
    ap.add_argument(
        "--train-rounds",
        type=int,
        help="eager training: rounds of bare loop then upres, the median ratio reported (default 1; about 35 s a "
        "round on the H200)",
    )
    ap.add_argument("--out", type=Path, default=Path("gpu-check.json"))
    ap.add_argument("--md", type=Path, help="markdown table (default: --out with .md)")
    args = ap.parse_args(argv)
    sizes: Sizes = SMOKE if args.smoke else Sizes()
    if args.train_workers is not None:
        sizes = dataclasses.replace(sizes, train_workers=args.train_workers)
    if args.train_rounds is not None:
        if args.train_rounds < 1:
            print(f"gpu_check: --train-rounds {args.train_rounds}: give 1 or more", file=sys.stderr)
            return 2
        sizes = dataclasses.replace(sizes, train_rounds=args.train_rounds)
    device = torch.device(args.device or ("cpu" if args.smoke else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            "gpu_check: CUDA is not available here; use --smoke (CPU, toy sizes) or --device cpu",
            file=sys.stderr,
        )
        return 2
    try:
        skip = sections_to_skip(args)
    except ValueError as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    if args.compile_mode is None and device.type == "cuda":
        args.compile_mode = "reduce-overhead"
    backend = args.compile_backend or ("aot_eager" if args.smoke else "inductor")
    compile_fn = torch.compile
    if backend != "inductor":
        torch.compile = functools.partial(compile_fn, backend=backend)
    try:
        return _run(args, sizes, device, skip, backend, argv)
    finally:
        torch.compile = compile_fn


def _run(
    args, sizes: Sizes, device: torch.device, skip: set[str], backend: str, argv: list[str] | None
) -> int:
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    report: dict = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "smoke": args.smoke,
        "environment": device_info(device),
        "sizes": sizes.as_dict(),
        "compile_backend": backend,
        "seconds": {},
        "errors": {},
    }
    rows: list[Row] = []
    md = args.md or args.out.with_suffix(".md")

    def write() -> None:
        args.out.write_text(json.dumps(report, indent=1, default=str))
        md.write_text(markdown(report, rows))

    def section(name: str, fn, *fn_args) -> dict | None:
        if name in skip:
            report[name] = None
            return None
        print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            data, new_rows = fn(*fn_args)
        except Exception:  # one broken benchmark must not hide the others' figures
            report["errors"][name] = traceback.format_exc()
            print(report["errors"][name], file=sys.stderr)
            data, new_rows = None, []
        report["seconds"][name] = time.perf_counter() - start
        report[name] = data
        rows.extend(new_rows)
        write()
        return data

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        benchmarks = set(SECTIONS) - {"tests"} - skip
        if benchmarks:
            report["peak_tflops"] = peak_tflops(device, sizes.matmul)
        peak = max(report.get("peak_tflops", {}).values(), default=float("nan"))
        peak = report.get("peak_tflops", {}).get("bf16" if sizes.amp else "fp32", peak)
        from gpu_check_infer import (
            bench_module,
            bench_upscale,
            bench_upscale_compile,
            bench_video,
            make_model,
        )

        model = make_model(work, sizes)
        module = section("module", bench_module, model, sizes, device, dtype) or {}
        ref_ms = module.get("spandrel_module_ms", float("nan"))
        section("upscale", bench_upscale, model, sizes, device, dtype, ref_ms, work)
        section("video", bench_video, model, sizes, device, dtype, ref_ms, work)
        from gpu_check_train import bench_loader, bench_training, bench_training_compiled

        eager = section("train", bench_training, sizes, device, work, peak) or {}
        from gpu_check_profile import profile_training

        section("train_profile", profile_training, sizes, device, work, args.out.with_suffix(".profile.txt"))
        from gpu_check_gan import bench_gan_variants

        section("train_gan", bench_gan_variants, sizes, device, work)
        need = eager.get("fidelity", {}).get("upres_eager_it_per_s", float("nan")) * sizes.batch
        section("loader", bench_loader, sizes, work, need)
        section("upscale_compile", bench_upscale_compile, model, sizes, device, dtype, ref_ms, work, backend)
        compiled = section(
            "train_compile", bench_training_compiled, sizes, device, work, peak, eager, args.compile_mode
        )
        from gpu_check_otf import bench_loader_device

        fastest = (compiled or {}).get("fidelity", {}).get("upres_compile_it_per_s", need / sizes.batch)
        section("loader_device", bench_loader_device, sizes, device, work, fastest * sizes.batch)
        workers = pytest_workers(args.workers)
        log = args.out.with_suffix(".pytest.log")
        section("tests", run_tests, work, args.pytest_args.split(), args.tests_timeout, workers, log)
    write()
    print(md.read_text())
    tests_failed = report.get("tests") is not None and report["tests"]["exit_code"] != 0
    return 1 if report["errors"] or tests_failed else 0


if __name__ == "__main__":
    sys.exit(main())

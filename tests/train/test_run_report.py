"""A run says whether it beats bicubic, ends with a summary, writes a report worth opening; AMP is off on CPU."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
import torch
from train_helpers import base_options, merge, write

import upres
from upres.cli import main
from upres.train.config import parse_options
from upres.train.loop import train


def _opts(hr_folder, exp, **extra):
    val = hr_folder.parent / "val"  # two of the training images: validation stays quick
    val.mkdir(exist_ok=True)
    for name in ("0.png", "3.png"):
        shutil.copyfile(hr_folder / name, val / name)
    return merge(
        base_options(hr_folder, exp),
        {
            "datasets": {"val": {"type": "pairedimagedataset", "dataroot_gt": str(val)}},
            "train": {"total_iter": 6},
            "val": {
                "val_freq": 2,
                "metrics": {
                    "psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": True},
                    "ssim": {"type": "calculate_ssim", "crop_border": 2, "test_y_channel": True},
                },
            },
            "logger": {"print_freq": 2, "save_checkpoint_freq": 6},
            **extra,
        },
    )


@pytest.mark.slow
def test_run_logs_bicubic_once_gains_every_validation_and_ends_with_a_summary(tmp_path, hr_folder, capsys):
    exp = tmp_path / "exp"
    # On the CPU: the report's precision line below is the CPU's ("AMP off on CPU"); a GPU reports its own.
    result = train(parse_options(_opts(hr_folder, tmp_path / "exp")), device="cpu")
    log = (exp / "log.txt").read_text()
    assert f" software: upres {upres.__version__}, PyTorch {torch.__version__}\n" in log
    assert capsys.readouterr().out.count("best model:") == 1
    baseline = re.findall(r"bicubic baseline val: psnr ([\d.]+) ssim ([\d.]+)", log)
    assert len(baseline) == 1  # computed once, not at every validation
    # after the first validation the ETA counts the two still to come separately from training
    assert re.search(r"iter 4/6 .*\| eta \d+:\d\d:\d\d \(validation \d+:\d\d:\d\d\) \|", log)
    val_lines = [line for line in log.splitlines() if "validation val @" in line]
    assert len(val_lines) == 3
    for line in val_lines:
        psnr = float(re.search(r"psnr ([\d.]+)", line).group(1))
        gain = float(re.search(r"\(([+-][\d.]+) dB over bicubic\)", line).group(1))
        assert (
            gain == round(psnr - float(baseline[0][0]), 2)
            or abs(gain - (psnr - float(baseline[0][0]))) <= 0.0051
        )
    best_psnr, best_it = result.best["psnr"]
    summary = log[log.index("training finished: test, iteration 6 of 6") :]
    assert re.search(
        rf"best psnr +{best_psnr:.4f} at iteration {best_it}  \([+-][\d.]+ dB over bicubic on val\)", summary
    )
    assert "best ssim" in summary and "bicubic  psnr" in summary
    assert f"best model:  {exp / 'models' / 'net_g_best.safetensors'}" in summary
    assert f"last model:  {exp / 'models' / 'net_g_ema_6.safetensors'}" in summary
    assert f"report:      {exp / 'report.html'}" in summary
    page = (exp / "report.html").read_text()
    assert "upres training report, finished" in page and "dB over bicubic" in page
    assert page.count("<svg") == 4  # psnr, ssim, loss, learning rate
    assert page.count("data:image/png;base64,") == 4 * 2  # LR, bicubic, model, GT for each validation image
    assert "after 3 validations the model is still worse than bicubic on val" in log  # 6 iterations are few
    assert "<td>parameters</td>" in page and "<td>precision</td><td>fp32 (AMP off on CPU)</td>" in page
    assert f"<td>software</td><td>upres {upres.__version__}, PyTorch {torch.__version__}</td>" in page


SVG = "{http://www.w3.org/2000/svg}"


def _charts(page: str) -> dict[str, ET.Element]:
    """The report's charts by title (aria-label)."""
    svgs = [ET.fromstring(s) for s in re.findall(r"<svg .*?</svg>", page, flags=re.S)]
    return {s.get("aria-label"): s for s in svgs}


def _group(root: ET.Element, gid: str) -> ET.Element:
    return next(g for g in root.iter(SVG + "g") if g.get("id") == gid)


def test_amp_is_off_on_cpu_unless_asked_and_the_dry_run_says_how_it_ran(tmp_path, hr_folder, capsys):
    cfg = write(tmp_path / "o.yml", _opts(hr_folder, tmp_path / "exp", use_amp=True, amp_bf16=True))
    assert main(["train", "-c", str(cfg), "--dry-run", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert (
        "use_amp is off on CPU, where bf16 autocast is usually slower than fp32; set use_amp_on_cpu: true"
        in out
    )
    assert re.search(r"dry run OK: one iteration took [\d.]+ s on cpu, fp32 \(AMP off on CPU\)", out)
    cfg = write(tmp_path / "o.yml", _opts(hr_folder, tmp_path / "exp", use_amp=True, use_amp_on_cpu=True))
    assert main(["train", "-c", str(cfg), "--dry-run", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "use_amp is off" not in out
    assert "on cpu, AMP bf16 on CPU (use_amp_on_cpu: often slower than fp32)" in out


@pytest.mark.slow
def test_a_resumed_run_reports_the_curves_from_before_the_resume(tmp_path, hr_folder):
    opts = _opts(hr_folder, tmp_path / "exp")
    train(parse_options(merge(opts, {"train": {"total_iter": 4}, "logger": {"save_checkpoint_freq": 2}})))
    train(parse_options(merge(opts, {"logger": {"save_checkpoint_freq": 2}})), resume="auto")
    saved = json.loads((tmp_path / "exp" / "report_history.json").read_text())
    assert [i for i, _ in saved["val/val/psnr"]] == [2, 4, 6]
    assert [i for i, _ in saved["train/lr"]] == [2, 4, 6]
    charts = _charts((tmp_path / "exp" / "report.html").read_text())
    psnr, ssim = charts["val: psnr"], charts["val: ssim"]
    assert [len(list(_group(c, "series-0").iter(SVG + "use"))) for c in (psnr, ssim)] == [3, 3]  # a dot each


def test_a_loader_that_holds_training_back_shows_in_every_line_and_gets_one_note(
    tmp_path, hr_folder, monkeypatch
):
    import time

    from upres.data.paired import PairedImageDataset

    real = PairedImageDataset.__getitem__

    def slow(self, index):
        time.sleep(
            0.4
        )  # far slower than this tiny step, even on a CPU busy with other tests: most of the time is waiting
        return real(self, index)

    monkeypatch.setattr(PairedImageDataset, "__getitem__", slow)
    opts = merge(base_options(hr_folder, tmp_path / "exp"), {"train": {"total_iter": 15}})
    train(parse_options(opts), device="cpu")
    log = (tmp_path / "exp" / "log.txt").read_text()
    waits = [int(w) for w in re.findall(r" samples/s, data wait (\d+)% \| eta", log)]
    assert len(waits) == 3 and min(waits) >= 60
    notes = re.findall(r"training waited for the data loader (\d+)% of the time up to iteration (\d+): raise "
                       r"datasets\.train\.num_worker_per_gpu \(0 now\)", log)  # fmt: skip
    assert len(notes) == 1 and notes[0][1] == "10"  # the first window (starting the workers) is left out
    share = re.search(r"training finished: .* it/s, (\d+)% of the training time waiting for data\n", log)
    assert share and int(share.group(1)) >= 60


def test_a_resumed_runs_report_keeps_the_notes_of_its_earlier_sessions(tmp_path, hr_folder):
    """The Notes of report.html listed only the last session's: a first session's warnings were gone."""
    import html as html_mod

    def notes(exp):
        text = (exp / "report.html").read_text()
        block = text.split("<h2>Notes</h2><ul>", 1)[1].split("</ul>", 1)[0]
        return [html_mod.unescape(n) for n in re.findall(r"<li>(.*?)</li>", block)]

    # The first session has a note of its own: --resume auto found nothing to resume.
    opts = base_options(hr_folder, tmp_path / "exp")
    first_session = merge(opts, {"train": {"total_iter": 4}, "logger": {"save_checkpoint_freq": 2}})
    train(parse_options(first_session), resume="auto")
    first = notes(tmp_path / "exp")
    assert any(n.startswith("--resume auto: no training state in ") for n in first)
    train(parse_options(merge(opts, {"train": {"total_iter": 6}})), resume="auto")
    second = notes(tmp_path / "exp")
    assert second[: len(first)] == first and len(second) == len(set(second))
    assert any(n.startswith("resumed from ") for n in second[len(first) :])


def test_a_nan_score_is_not_a_gain_over_bicubic():
    """'+nan dB over bicubic' read like a number."""
    from upres.train.run_record import MetricInfo, gain_text

    info = MetricInfo(unit="dB", higher_is_better=True)
    assert gain_text(float("nan"), 30.0, info) == "not comparable with bicubic (the score is NaN)"
    assert gain_text(31.5, 30.0, info) == "+1.50 dB over bicubic"


def test_an_exact_model_beside_an_exact_bicubic_is_equal_not_nan():
    """At 1x bicubic reproduces the ground truth (infinite PSNR); a model that does too was said to score NaN."""
    from upres.train.run_record import MetricInfo, gain_text

    info = MetricInfo(unit="dB", higher_is_better=True)
    assert gain_text(float("inf"), float("inf"), info) == "equal to bicubic (both exact)"
    assert gain_text(40.0, float("inf"), info) == "-inf dB over bicubic"
    assert gain_text(float("inf"), 40.0, info) == "+inf dB over bicubic"


def test_a_curve_keeps_a_bounded_spread_of_points(monkeypatch):
    """print_freq 1 over a long run kept every point of every loss in memory and in report_history.json."""
    from upres.train import report

    monkeypatch.setattr(report, "CURVE_POINTS", 100)
    for every, last in ((1, 100_003), (100, 10_000_000)):  # print_freq 1 and 100
        log = report.RunLog(None, use_tb=False)
        for it in range(every, last + 1, every):
            log.scalars(it, {"l_g_pix": 1 / it}, "train/")
        points = log.history["train/l_g_pix"]
        assert 100 <= len(points) <= 202
        assert points[-1] == (last, 1 / last)  # the latest always
        kept = [i for i, _ in points[:-1]]
        steps = {b - a for a, b in zip(kept[:-1], kept[1:], strict=True)}
        assert len(steps) == 1 and kept[0] == steps.pop()  # evenly spread from the start, old and new alike
        assert all(v == 1 / i for i, v in points)


def test_the_progress_lines_epoch_is_the_one_the_data_is_in(tmp_path, hr_folder, capsys):
    """With accum_iter, an epoch leaves out the samples of an unfinished step: the line counted micro-batches over the
    dataset instead (epoch 3 where the sampler was in epoch 5)."""
    from upres.train.sampler import ResumableBatchSampler

    opts = merge(
        base_options(hr_folder, tmp_path / "exp", total_iter=5),
        {"datasets": {"train": {"batch_size_per_gpu": 1, "accum_iter": 4}}},  # 6 images: one step an epoch
    )
    train(parse_options(opts), device="cpu")
    shown = int(re.search(r"iter 5/5 epoch (\d+) ", capsys.readouterr().out).group(1))
    sampler = ResumableBatchSampler(6, 1, seed=5, accum=4)
    assert shown == sampler.position(5 * 4)[0] == 5  # the epoch iteration 6 draws from


@pytest.mark.slow
def test_the_worse_than_bicubic_note_counts_the_validations_of_earlier_sessions(tmp_path, hr_folder):
    """Each session counted its own validations: a run resumed every two validations never heard the note."""
    exp = tmp_path / "exp"
    opts = _opts(hr_folder, exp, logger={"print_freq": 2, "save_checkpoint_freq": 2})
    train(parse_options(merge(opts, {"train": {"total_iter": 4}})), device="cpu")
    assert "still worse than bicubic" not in (exp / "log.txt").read_text()  # 2 validations: too early to say
    train(parse_options(opts), resume="auto", device="cpu")
    log = (exp / "log.txt").read_text()
    assert log.count("after 3 validations the model is still worse than bicubic on val") == 1
    train(parse_options(merge(opts, {"train": {"total_iter": 8}})), resume="auto", device="cpu")
    assert (exp / "log.txt").read_text().count("still worse than bicubic") == 1  # once a run


def test_a_validation_image_whose_name_is_not_utf_8_is_reported_escaped(tmp_path, hr_folder):
    """A name in another encoding (Latin-1 from a zip made on Windows, extracted on Linux) ended the run at its
    first validation with UnicodeEncodeError writing report.html; log.txt lines with such a name did the same."""
    import os

    from upres.train.report import RunLog

    opts = _opts(hr_folder, tmp_path / "exp", val={"val_freq": 2, "save_img": True})
    val = hr_folder.parent / "val"
    try:
        os.rename(val / "3.png", os.path.join(os.fsencode(val), b"caf\xe9.png"))
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only UTF-8 names (macOS)")
    exp = tmp_path / "exp"
    opts["val"]["metrics"] = {"psnr": {"type": "calculate_psnr"}}
    train(parse_options(opts), device="cpu")
    assert "caf\\udce9" in (exp / "report.html").read_text(encoding="utf-8")
    assert (exp / "visualization" / "val" / os.fsdecode(b"6_caf\xe9.png")).is_file()
    log = RunLog(exp, use_tb=False)
    log.info("picture " + os.fsdecode(b"caf\xe9.png"))
    assert (exp / "log.txt").read_text(encoding="utf-8").endswith(" picture caf\\udce9.png\n")

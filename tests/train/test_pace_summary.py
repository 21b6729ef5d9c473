"""Speed without validation time, the ETA with it, the gain over bicubic, the end-of-run summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from upres.train.pace import Pace, ValidationProgress, saves_left, validations_left
from upres.train.run_record import MetricInfo, RunRecord, gain_text
from upres.train.summary import Outcome, summary_lines
from upres.train.validate import ImageResult, SetResult


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_leaves_validation_out_and_eta_counts_it_separately():
    clock = Clock()
    pace = Pace(0, clock)
    clock.now += 10  # 100 iterations in 10 s
    assert pace.rate(100) == pytest.approx(10.0)
    pace.restart_window(100)
    clock.now += 12  # a 12 s validation...
    pace.add_validation(12.0)
    clock.now += 10  # ...then 100 more iterations in 10 s
    assert pace.rate(200) == pytest.approx(10.0)  # not 100 / 22 s = 4.5 it/s
    train_s, val_s = pace.eta(200, 1000, validations_left(200, 1000, 100))
    assert train_s == pytest.approx(80.0) and val_s == pytest.approx(8 * 12.0)
    assert pace.mean_rate(200) == pytest.approx(10.0) and pace.wall == pytest.approx(32.0)


def test_the_pace_keeps_no_record_per_validation():
    """A list of every validation's time grew for the whole run and was summed at every progress line (a run
    validating every few iterations over 10^6 of them summed ever longer lists)."""
    clock = Clock()
    pace = Pace(0, clock)
    for i in range(10_000):
        pace.add_validation(0.5 if i % 2 else 1.5)
    clock.now += 10_000 + 10  # the validations, and 100 iterations in 10 s
    assert pace.validation_total == pytest.approx(10_000.0)
    assert pace.eta(100, 200, 4) == pytest.approx(
        (10.0, 4.0)
    )  # 100 more iterations; 4 validations of 1 s mean
    assert not [k for k, v in vars(pace).items() if isinstance(v, (list, dict))]


@pytest.mark.parametrize(
    ("it", "total", "freq", "left"),
    [(0, 1000, 100, 10), (950, 1000, 100, 1), (1000, 1000, 100, 0), (0, 250, 100, 3)],
)
def test_validations_left(it, total, freq, left):
    assert validations_left(it, total, freq) == left


def test_validation_progress_lines_are_spaced_in_time():
    clock, said = Clock(), []
    progress = ValidationProgress(said.append, every=5.0, clock=clock)
    for i in range(1, 11):
        clock.now += 2
        progress("val", i, 10)
    assert said == [
        "validation val: 3/10 images",
        "validation val: 6/10 images",
        "validation val: 9/10 images",
    ]


PSNR, SSIM, LPIPS = MetricInfo(True, "dB"), MetricInfo(True), MetricInfo(False)


def test_gain_text():
    assert gain_text(29.52, 27.79, PSNR) == "+1.73 dB over bicubic"
    assert gain_text(27.0, 27.5, PSNR) == "-0.50 dB over bicubic"
    assert gain_text(0.8812, 0.8600, SSIM) == "+0.0212 over bicubic"
    assert gain_text(0.20, 0.35, LPIPS) == "+0.1500 better than bicubic"


def _result(psnr: float, base: float | None) -> dict[str, SetResult]:
    image = ImageResult("a", {"psnr": psnr}, None if base is None else {"psnr": base})
    return {"val": SetResult({"psnr": psnr}, [image], None if base is None else {"psnr": base})}


def test_a_model_below_bicubic_after_three_validations_gets_one_note():
    record = RunRecord("run", {"psnr": PSNR})
    record.record(100, _result(25.0, 27.0), True)
    assert record.below_bicubic_note("psnr") is None  # too early to tell
    record.record(200, _result(25.5, None), True)
    record.record(300, _result(26.0, None), True)
    note = record.below_bicubic_note("psnr")
    assert note.startswith(
        "after 3 validations the model is still worse than bicubic on val (psnr 26.0000 vs 27.0000"
    )
    assert record.below_bicubic_note("psnr") is None  # once
    gan = RunRecord("run", {"psnr": PSNR}, perceptual=True)
    for it in (100, 200, 300):
        gan.record(it, _result(25.0, 27.0), True)
    assert gan.below_bicubic_note("psnr").endswith(
        "expected of a GAN or degradation stage on clean pairs, but look at the report's crops to be sure"
    )
    assert note.endswith("and that LR and GT images pair up (`upres doctor -c OPTIONS`)")
    good = RunRecord("run", {"psnr": PSNR})
    for it in (100, 200, 300):
        good.record(it, _result(28.0, 27.0), True)
    assert good.below_bicubic_note("psnr") is None


def test_summary_names_best_values_gain_paths_and_speed(tmp_path: Path):
    record = RunRecord("demo", {"psnr": PSNR, "ssim": SSIM}, total_iter=2000)
    record.record(
        500, {"val": SetResult({"psnr": 29.0, "ssim": 0.85}, [], {"psnr": 27.79, "ssim": 0.83})}, True
    )
    best_model, last_model = tmp_path / "net_g_best.safetensors", tmp_path / "net_g_ema_2000.safetensors"
    best_model.write_bytes(b"x")
    last_model.write_bytes(b"x")
    lines = summary_lines(
        record,
        {"psnr": (29.52, 1500), "ssim": (0.8812, 2000)},
        Outcome(2000, 754.0, 3.1, 42.0, best_model, last_model, tmp_path / "missing.html"),
    )
    assert lines == [
        "training finished: demo, iteration 2000 of 2000 in 0:12:34, 3.10 it/s (validation took 0:00:42 of it)",
        "  best psnr     29.5200 at iteration 1500  (+1.73 dB over bicubic on val)",
        "  best ssim     0.8812 at iteration 2000  (+0.0512 over bicubic on val)",
        "  bicubic  psnr 27.7900  ssim 0.8300  (val)",
        f"  best model:  {best_model}",
        f"  last model:  {last_model}",
    ]


def test_a_resumed_sessions_summary_says_its_time_is_the_sessions():
    """After a week of sessions the last one's summary said "iteration 400000 of 400000 in 9:12:00", read as the
    whole run's time; resumed from the run's last state, "in 0:00:00, 0.00 it/s"."""
    record = RunRecord("demo", {"psnr": PSNR}, total_iter=400_000)
    resumed = Outcome(400_000, 33_120.0, 3.02, 0.0, start_iter=300_000)
    assert summary_lines(record, {}, resumed) == [
        "training finished: demo, iteration 400000 of 400000; this session trained 300000->400000 in 9:12:00, "
        "3.02 it/s"
    ]
    nothing = Outcome(400_000, 0.4, 0.0, 0.0, start_iter=400_000)
    assert summary_lines(record, {}, nothing) == [
        "training finished: demo, iteration 400000 of 400000 (the training state's; this session trained nothing)"
    ]


def test_durations_of_a_day_or_more_name_the_days():
    """A week-long run's ETA printed as 167:59:59."""
    from upres.train.pace import hms

    assert hms(0) == "0:00:00"
    assert hms(3 * 3600 + 5 * 60 + 7.9) == "3:05:07"
    assert hms(86399) == "23:59:59"
    assert hms(86400) == "1 day, 0:00:00"
    assert hms(7 * 86400 - 1) == "6 days, 23:59:59"
    assert hms(11 * 86400 + 13 * 3600 + 46 * 60 + 40) == "11 days, 13:46:40"


def test_rate_leaves_checkpoint_saves_out_and_eta_counts_those_to_come():
    """A save between two progress lines showed as a slow-down in the next one (100 iterations over 10 s of training
    and 30 s of saving read 2.5 it/s, and its ETA quadrupled), then the rate jumped back."""
    clock = Clock()
    pace = Pace(0, clock)
    clock.now += 10  # 100 iterations in 10 s
    pace.restart_window(100)
    clock.now += 30  # a 30 s checkpoint...
    pace.add_save(30.0)
    clock.now += 10  # ...then 100 more iterations in 10 s
    assert pace.rate(200) == pytest.approx(10.0)
    train_s, val_s = pace.eta(200, 1000, 0, saves_left(200, 1000, 500))
    assert (train_s, val_s) == pytest.approx((80.0 + 2 * 30.0, 0.0))  # the saves at 500 and 1000 to come

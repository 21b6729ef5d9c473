"""The lines a finished run ends with (console and log.txt): what was reached, where it is, how long it took."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from upres.train.pace import hms
from upres.train.run_record import RunRecord


@dataclass
class Outcome:
    iteration: int
    wall_seconds: float
    mean_rate: float  # iterations per second, validation left out
    validation_seconds: float
    best_model: Path | None = None
    last_model: Path | None = None
    report: Path | None = None
    how: str = "finished"  # or "stopped early"
    data_wait_seconds: float = 0.0  # spent waiting for the loader
    degrading_seconds: float | None = None  # spent degrading batches on the device (degrade_on: device)
    start_iter: int = 0  # the iteration this session resumed from: its time and speed are this session's only


def summary_lines(record: RunRecord, best: dict[str, tuple[float, int]], outcome: Outcome) -> list[str]:
    reached = f"training {outcome.how}: {record.name}, iteration {outcome.iteration} of {record.total_iter}"
    if outcome.start_iter and outcome.start_iter >= outcome.iteration:
        # A resume from the run's last state: said "in 0:00:00, 0.00 it/s", as if the run had taken no time.
        return [
            f"{reached} (the training state's; this session trained nothing)",
            *_result_lines(record, best, outcome),
        ]
    # A resumed session's time and speed are its own: "iteration 400000 of 400000 in 9:12:00" read as the whole
    # run's time after a week of sessions.
    session = (
        f"; this session trained {outcome.start_iter}->{outcome.iteration}" if outcome.start_iter else ""
    )
    lines = [
        f"{reached}{session} in {hms(outcome.wall_seconds)}, {outcome.mean_rate:.2f} it/s"
        + (
            f" (validation took {hms(outcome.validation_seconds)} of it)"
            if outcome.validation_seconds
            else ""
        )
        + _data_wait(outcome)
    ]
    return lines + _result_lines(record, best, outcome)


def _result_lines(record: RunRecord, best: dict[str, tuple[float, int]], outcome: Outcome) -> list[str]:
    lines = []
    set_name = record.tracked_set
    for name, (value, it) in best.items():
        gain = record.gain(set_name, name, value) if set_name else ""
        lines.append(
            f"  best {name:<8} {value:.4f} at iteration {it}" + (f"  ({gain} on {set_name})" if gain else "")
        )
    base = record.baseline.get(set_name or "", {})
    if base:
        lines.append(f"  bicubic  {'  '.join(f'{k} {v:.4f}' for k, v in base.items())}  ({set_name})")
    for label, path in (
        ("best model", outcome.best_model),
        ("last model", outcome.last_model),
        ("report", outcome.report),
    ):
        if path is not None and path.exists():
            lines.append(f"  {label + ':':<12} {path}")
    return lines


def last_model_path(models: Path, iteration: int, fmt: str, ema: bool) -> Path:
    return models / f"net_g{'_ema' if ema else ''}_{iteration}.{fmt}"


def _data_wait(outcome: Outcome) -> str:
    training = outcome.wall_seconds - outcome.validation_seconds
    share = outcome.data_wait_seconds / training if training > 0 else 0.0
    degrading = (outcome.degrading_seconds or 0.0) / training if training > 0 else 0.0
    return (f", {share:.0%} of the training time waiting for data" if share >= 0.01 else "") + (
        f", {degrading:.0%} degrading it on the device" if degrading >= 0.01 else ""
    )

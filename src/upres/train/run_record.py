"""What the report and the end-of-run summary are made from: run facts, the bicubic baseline of each validation
set, and the validation results at the best and the latest iteration."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from upres.train.validate import Metric, SetResult

# After this many validations a model still below bicubic is worth a word: a working run passes it long before.
BELOW_BICUBIC_AFTER = 3
_BELOW_BICUBIC = "the model is still worse than bicubic"


@dataclass
class MetricInfo:
    higher_is_better: bool
    unit: str = ""  # "dB" for PSNR


def metric_infos(metrics: list[Metric]) -> dict[str, MetricInfo]:
    return {
        m.name: MetricInfo(m.higher_is_better, "dB" if "psnr" in m.options.type.lower() else "")
        for m in metrics
    }


def gain_text(value: float, baseline: float, info: MetricInfo) -> str:
    """`+1.73 dB over bicubic`; for lower-is-better metrics (LPIPS) which side of bicubic the value is on."""
    diff = value - baseline
    if math.isinf(value) and value == baseline:
        # inf - inf is NaN: an exact model beside an exact bicubic (a 1x set) was said to score NaN.
        return "equal to bicubic (both exact)"
    if math.isnan(diff):
        return "not comparable with bicubic (the score is NaN)"
    unit = f" {info.unit}" if info.unit else ""
    digits = 2 if info.unit == "dB" else 4
    if info.higher_is_better:
        return f"{diff:+.{digits}f}{unit} over bicubic"
    return f"{-diff:+.{digits}f}{unit} better than bicubic"


def is_better(value: float, baseline: float, info: MetricInfo) -> bool:
    return value > baseline if info.higher_is_better else value < baseline


@dataclass
class RunRecord:
    name: str
    metrics: dict[str, MetricInfo] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    baseline: dict[str, dict[str, float]] = field(default_factory=dict)  # set -> metric -> bicubic mean
    baseline_images: dict[str, dict[str, dict[str, float]]] = field(
        default_factory=dict
    )  # set -> image -> ...
    latest: dict[str, SetResult] = field(default_factory=dict)
    latest_iter: int | None = None
    best: dict[str, SetResult] = field(default_factory=dict)  # the validation that wrote net_g_best
    best_iter: int | None = None
    validations: int = 0
    total_iter: int = 0
    finished: bool = False
    warned_below_bicubic: bool = False
    left_out_said: set[str] = field(default_factory=set)
    # set -> the images its first validation of the run scored (kept across resumes in report_history.json)
    reference_images: dict[str, list[str]] = field(default_factory=dict)
    # A GAN stage, or training on on-the-fly degradations, trades PSNR for texture or robustness: below bicubic on
    # clean bicubic pairs is then no sign of a fault.
    perceptual: bool = False

    @property
    def tracked_set(self) -> str | None:
        """The first set with scores (an LR-only set, validated for its pictures, has none)."""
        scored = [n for n, r in self.latest.items() if r.means] or list(self.baseline)
        return next(iter(scored), None)

    def record(self, it: int, results: dict[str, SetResult], improved: bool) -> None:
        for set_name, r in results.items():
            if r.bicubic is not None and not self.partial(set_name, r):  # else the next validation's
                self.baseline[set_name] = r.bicubic
                self.baseline_images[set_name] = {i.name: i.bicubic for i in r.images if i.bicubic}
                self.reference_images.setdefault(set_name, list(self.baseline_images[set_name]))
                self.left_out_said.update(r.left_out)  # bad from the start: the dataset check said them
        self.latest, self.latest_iter = results, it
        if improved:
            self.best, self.best_iter = results, it
        self.validations += 1

    def gain(self, set_name: str, metric: str, value: float) -> str:
        base = self.baseline.get(set_name, {}).get(metric)
        info = self.metrics.get(metric)
        return "" if base is None or info is None else gain_text(value, base, info)

    def partial(self, set_name: str, r: SetResult) -> bool:
        """A validation that could not read an image the run's first one scored (a file replaced or gone mid-run,
        or between two sessions): its means are no measure against the best, the baseline or the curves, which had
        it (one image less moved a mean by dBs: a worse model became net_g_best, or early stopping stopped the run).
        Images bad from the start are left out of every validation alike."""
        scored = self.reference_images.get(set_name) or self.baseline_images.get(set_name, {})
        return bool(r.left_out) and not set(scored) <= {i.name for i in r.images}

    def left_out_notes(self, set_name: str, it: int, r: SetResult) -> list[str]:
        """The images a `partial` validation could not read, each said once a session."""
        new = [reason for reason in r.left_out if reason not in self.left_out_said]
        self.left_out_said.update(new)
        return [
            f"validation {set_name} @ {it}: left out {reason}; while an image is left out, {set_name}'s scores do "
            "not pick net_g_best nor count for early stopping (the run goes on)"
            for reason in new
        ]

    @staticmethod
    def left_out_text(r: SetResult) -> str:
        return (
            f"over {len(r.images)} of {len(r.images) + len(r.left_out)} images: {len(r.left_out)} left out, so not "
            "compared with bicubic or the best, nor in the curves"
        )

    def continue_from(self, history: dict[str, list[tuple[int, float]]], notes: list[str]) -> None:
        """A resumed run counts the earlier sessions' validations (from the report's curves) and says the note below
        once per run: each session counted its own, so a run resumed every few validations never heard it."""
        self.validations = len(
            {i for key, points in history.items() if key.startswith("val/") for i, _ in points}
        )
        self.warned_below_bicubic = any(_BELOW_BICUBIC in n for n in notes)

    def below_bicubic_note(self, tracked: str | None) -> str | None:
        """Once, after the first few validations: the tracked metric is still worse than bicubic."""
        set_name = self.tracked_set
        if (
            self.warned_below_bicubic
            or self.validations < BELOW_BICUBIC_AFTER
            or tracked is None
            or set_name is None
        ):
            return None
        latest = self.latest.get(set_name)
        value = (
            latest.means.get(tracked) if latest is not None and not self.partial(set_name, latest) else None
        )
        base = self.baseline.get(set_name, {}).get(tracked)
        info = self.metrics.get(tracked)
        if value is None or base is None or info is None or is_better(value, base, info):
            return None
        self.warned_below_bicubic = True
        head = (
            f"after {self.validations} validations {_BELOW_BICUBIC} on {set_name} "
            f"({tracked} {value:.4f} vs {base:.4f}, {gain_text(value, base, info)})"
        )
        if self.perceptual:
            return head + (
                ": expected of a GAN or degradation stage on clean pairs, but look at the report's crops to be sure"
            )
        return head + (
            ": check the learning rate, the scale, and that LR and GT images pair up (`upres doctor -c OPTIONS`)"
        )

    def headline(self, best: dict[str, tuple[float, int]], tracked: str | None) -> str:
        """`psnr 29.52 at iteration 1500, +1.73 dB over bicubic on val` for the tracked metric."""
        set_name = self.tracked_set
        if tracked is None or tracked not in best:
            return ""
        value, it = best[tracked]
        gain = self.gain(set_name, tracked, value) if set_name else ""
        return f"{tracked} {value:.4f} at iteration {it}" + (f", {gain} on {set_name}" if gain else "")

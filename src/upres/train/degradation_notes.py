"""The degradation keys of an option file checked where the file is read, and notes on those the run does not read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from upres.train.target_sharpening import SHARPENING_KEYS

if TYPE_CHECKING:
    from upres.train.config import Options


def degradation_notes(options: Options, source: str) -> list[str]:
    """Raises ConfigError for a bad degradation key, even one the run does not read (the dataset blamed
    "datasets.train" for it); returns notes on the keys without effect."""
    notes = []
    train = options.train_dataset
    otf = train is not None and train.type == "realesrgandataset"
    if options.degradation or otf:
        from upres.data.otf_dataset import degradation_options_from

        degradation_options_from(
            train.degradation if otf else {}, options.degradation, source, "datasets.train"
        )
    if unused := _unused_keys(options, otf):
        kind = f"datasets.train is {train.type}" if train else "there is no datasets.train"
        notes.append(
            f"{', '.join(unused)}: no effect, {kind}; set high_order_degradation: true for LR made on the fly "
            "from these keys"
        )
    if "high_order_degradation" in options.model_fields_set and not options.high_order_degradation and otf:
        notes.append(
            "high_order_degradation: false has no effect: datasets.train is realesrgandataset, which makes each LR "
            "on the fly; for LR/GT pairs use pairedimagedataset"
        )
    return notes


def _unused_keys(options: Options, otf: bool) -> list[str]:
    """The top-level degradation keys a run without on-the-fly data does not read (LR/GT pairs read gt_usm's)."""
    if otf:
        return []
    paired = options.train_dataset is not None and options.train_dataset.type == "pairedimagedataset"
    return sorted(k for k in options.degradation if not (paired and k in SHARPENING_KEYS))

"""`gt_usm`: the loss targets of the generator are the unsharp-masked GT (Real-ESRGAN's `l1_gt_usm` and
`percep_gt_usm`; its discriminator sees the GT as it is). On-the-fly data also degrades the sharpened copy; LR/GT pairs
(Real-ESRGAN's RealESRGANPairedDataset fine-tune) only sharpen the targets."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upres.data.degradations.options import DegradationOptions
    from upres.train.config import Options

SHARPENING_KEYS = ("gt_usm", "gt_usm_weight", "gt_usm_radius", "gt_usm_threshold")


def target_sharpening(opts: Options, train_set: object) -> DegradationOptions | None:
    """The options to sharpen the loss targets with, or None when they are the GT as it is."""
    otf = getattr(train_set, "degradations", None)
    if otf is not None:
        return otf if otf.gt_usm else None
    if not opts.degradation.get("gt_usm"):
        return None
    from upres.data.otf_dataset import degradation_options_from

    return degradation_options_from({}, {k: v for k, v in opts.degradation.items() if k in SHARPENING_KEYS})

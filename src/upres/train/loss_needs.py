"""What a file's losses need from the rest of it: a ganloss a discriminator, an ldlloss the EMA model's output."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from upres.train.config import Options


def unmet_loss_needs(opts: Options) -> list[tuple[int, str]]:
    """(index in train.losses, message) per need the file leaves unmet, for entries with a weight above 0."""
    from upres.losses import LOSS_INPUTS

    first: dict[str, int] = {}
    for i, spec in enumerate(opts.train.losses):
        kind = LOSS_INPUTS.get(str(spec.type).lower())
        if spec.loss_weight > 0 and kind is not None:
            first.setdefault(kind, i)
    unmet = []
    if "gan" in first and opts.network_d is None:
        unmet.append(
            (first["gan"], "train.losses has a ganloss but network_d is missing; add a network_d block")
        )
    if "ldl" in first and opts.train.ema_decay <= 0:
        # checked when the file is read, not when the loss starts (its start_iter may be hours in)
        unmet.append(
            (
                first["ldl"],
                "train.losses has an ldlloss, which compares with the EMA model's output; set train.ema_decay "
                "(0.999 is usual)",
            )
        )
    return unmet

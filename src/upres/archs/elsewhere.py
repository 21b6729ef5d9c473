"""Naming an architecture upres does not implement, where spandrel (chaiNNer's loader) is installed: "unknown
architecture" left a user with a SPAN or DAT file unsure whether the file was damaged or just not for upres."""

from __future__ import annotations

import torch

# spandrel's names of what upres reads itself: a file spandrel files under them that upres refused is another case.
OWN = ("ESRGAN", "RealESRGAN Compact")


def spandrel_name(state: dict[str, torch.Tensor]) -> str | None:
    """The architecture spandrel recognises in `state` (from its keys and shapes, nothing run), or None."""
    try:
        from spandrel import MAIN_REGISTRY
    except ImportError:
        return None
    for support in MAIN_REGISTRY.architectures("detection"):
        try:
            found = support.detect(state)
        except Exception:  # a detector meeting a state dict it was not written for
            continue
        if found:
            name = support.architecture.name
            return None if name in OWN else name
    return None

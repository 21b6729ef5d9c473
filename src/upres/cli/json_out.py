"""JSON that every parser reads: Python writes infinite and NaN floats as `Infinity`/`NaN`, which JSON lacks."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_only(value: Any) -> Any:
    """`value` with every non-finite float as None (JSON's null, as JavaScript's JSON.stringify writes them): an
    image identical to its reference scores infinite PSNR."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_only(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_only(v) for v in value]
    return value


def json_text(value: Any) -> str:
    return json.dumps(finite_only(value), indent=2, allow_nan=False)

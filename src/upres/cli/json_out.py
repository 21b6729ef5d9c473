"""JSON that every parser reads: Python writes infinite and NaN floats as `Infinity`/`NaN`, which JSON lacks."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_only(value: Any) -> Any:
    """`value` with every non-finite float as None (JSON's null, as JavaScript's JSON.stringify writes them): an
    image identical to its reference scores infinite PSNR. A file name that is not UTF-8 (Python holds its bytes as
    lone surrogates, which strict JSON readers such as jq refuse) is written with those bytes as `\\xff` escapes."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {finite_only(k): finite_only(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_only(v) for v in value]
    return value


def json_text(value: Any) -> str:
    return json.dumps(finite_only(value), indent=2, allow_nan=False)

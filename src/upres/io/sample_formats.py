"""What the integer samples of an image file are, for the message that refuses the ones upres cannot read."""

from __future__ import annotations

import numpy as np
from PIL import Image


def tiff_samples(img: Image.Image) -> tuple[int, bool]:
    """(bits, signed) of a TIFF's samples, read before a transpose drops the tags (Pillow reads int16 and uint32
    alike as int32, and wraps uint32 past 2**31 to negative numbers)."""
    first = [
        v[0] if isinstance(v, tuple) else v
        for v in ((getattr(img, "tag_v2", None) or {}).get(k) for k in (258, 339))
    ]
    return int(first[0] or 32), first[1] == 2


def integer_samples_text(samples: tuple[int, bool], arr: np.ndarray) -> str:
    bits, signed = samples
    kind = f"{'signed' if signed else 'unsigned'} {bits}-bit integer pixels"
    if not signed and bits == 32:
        return f"{kind}, beyond 16 bits"
    return f"{kind} from {arr.min()} to {arr.max()}, outside 0..65535"

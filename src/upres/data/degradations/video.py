"""Video-codec artifacts: encode the image as a frame with h264/hevc/mpeg2 through PyAV (in memory) and decode it.

The frame is coded as an intra frame in yuv420p, so it shows the codec's block transform, deblocking and chroma
subsampling at the chosen CRF, as in keyframes of real streams. PyAV is the optional `video` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

from upres.data.degradations.jpeg import from_uint8, to_uint8

# codec name in options -> (encoder, decoder)
CODECS = {"h264": ("libx264", "h264"), "hevc": ("libx265", "hevc"), "mpeg2": ("mpeg2video", "mpeg2video")}


def _import_av():
    try:
        import av
    except ImportError:  # pragma: no cover - depends on the install
        from upres.errors import ConfigError

        raise ConfigError("video_prob > 0 needs PyAV: pip install 'upres[video]'") from None
    return av


def _encoder(av, codec: str, width: int, height: int, crf: int):
    enc = av.CodecContext.create(CODECS[codec][0], "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base, enc.framerate = Fraction(1, 25), Fraction(25, 1)
    if codec == "mpeg2":
        # mpeg2video has no CRF; map 0-51 onto its quantizer scale 1-31.
        q = int(np.clip(round(1 + crf * 30 / 51), 1, 31))
        enc.qmin = enc.qmax = q
    elif codec == "hevc":
        enc.options = {"crf": str(crf), "preset": "ultrafast", "x265-params": "log-level=none"}
    else:
        enc.options = {"crf": str(crf), "preset": "veryfast"}
    return enc


def _roundtrip(arr: np.ndarray, codec: str, crf: int) -> np.ndarray:
    av = _import_av()
    h, w = arr.shape[:2]
    enc = _encoder(av, codec, w, h, crf)
    frame = av.VideoFrame.from_ndarray(arr, format="rgb24").reformat(format="yuv420p")
    packets = list(enc.encode(frame)) + list(enc.encode(None))
    dec = av.CodecContext.create(CODECS[codec][1], "r")
    frames = []
    for p in packets:
        frames += dec.decode(p)
    frames += dec.decode(None)
    return frames[0].to_ndarray(format="rgb24")


def video_compress(img: torch.Tensor, codec: str | Sequence[str], crf: int | Sequence[int]) -> torch.Tensor:
    """Round-trip (C,H,W) or (N,C,H,W) RGB through `codec` at `crf` (one value or one per sample); size kept."""
    squeeze = img.dim() == 3
    x = img.unsqueeze(0) if squeeze else img
    n, _, h, w = x.shape
    codecs = [codec] * n if isinstance(codec, str) else list(codec)
    crfs = [int(crf)] * n if np.ndim(crf) == 0 else [int(c) for c in crf]
    # yuv420p needs even sides (and encoders want at least 16): pad by replication, crop back after decoding.
    ph, pw = max(16, h + h % 2) - h, max(16, w + w % 2) - w
    padded = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
    outs = []
    for i in range(n):
        arr = _roundtrip(to_uint8(padded[i]), codecs[i], crfs[i])
        outs.append(from_uint8(arr[:h, :w], x))
    out = torch.stack(outs)
    return out[0] if squeeze else out

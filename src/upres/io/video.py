"""What a video file holds: opening and probing the input, its streams, and color tags (matrix, range, primaries).

Everything here is PyAV (the `video` extra); nothing decodes pixels. The runner in `upres.infer.video` uses it to
open the input and convert frames with the right YUV matrix and range; `video_mux` builds the output container.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from upres.errors import UpresError

STILL_IMAGE_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif")

# AVColorSpace values swscale has coefficients for; others fall back to its default (BT.601).
_SWS_MATRICES = {1, 4, 5, 6, 7, 9, 10}
SPC_RGB, SPC_BT709, SPC_UNSPECIFIED, SPC_SMPTE170M = 0, 1, 2, 6
RANGE_UNSPECIFIED, RANGE_LIMITED, RANGE_FULL = 0, 1, 2


def sws_interpolation(to_rgb48: bool = False) -> Any:
    """swscale flags for YUV<->RGB: without ACCURATE_RND a round trip darkens every channel by about 1.2 levels.
    `to_rgb48`: decoding into 16-bit RGB, where swscale's full chroma interpolation (FULL_CHR_H_INT, bilinear) turns
    10-bit 4:2:0 into wrong colours (mean RGB 126, 122, 31 came out 96, 11, 86); it is left out there."""
    from av.video.reformatter import Interpolation as I  # noqa: N817

    if to_rgb48:
        return I.BILINEAR | I.ACCURATE_RND | I.FULL_CHR_H_INP
    return I.BILINEAR | I.ACCURATE_RND | I.FULL_CHR_H_INT | I.FULL_CHR_H_INP


class VideoInputError(UpresError):
    """The input cannot be read as a video (exit 2)."""


class VideoOutputError(UpresError):
    """The output cannot be written as asked (exit 2)."""


def require_av() -> Any:
    """PyAV, or the one-line error that says how to install it (it is the optional `video` extra)."""
    try:
        import av
    except ImportError:
        raise UpresError("video needs PyAV: pip install 'upres[video]'") from None
    return av


def ffmpeg_name(path: str | os.PathLike) -> str:
    """`path` as FFmpeg must be given it: a name with a colon reads as a protocol there ("file:clip.mkv" opened
    clip.mkv, "pipe:1.mkv" standard output), so the file protocol is named explicitly."""
    return "file:" + os.fspath(path)


@dataclass(frozen=True)
class ColorTags:
    """The four color properties a YUV stream carries; AVColor* integer values (2/0 mean unspecified)."""

    matrix: int = SPC_UNSPECIFIED
    color_range: int = RANGE_UNSPECIFIED
    primaries: int = 2
    trc: int = 2

    def resolved(self, height: int, is_rgb: bool) -> ColorTags:
        """Fill an unspecified matrix and range the way players guess them, so the output can say it explicitly.

        Players pick BT.709 for untagged HD and BT.601 for untagged SD. Upscaling SD to HD would flip that guess
        and shift colors (the BT.601/BT.709 bug), so the input's guessed matrix is written out as a tag.
        """
        if is_rgb:
            return ColorTags(SPC_RGB, RANGE_FULL, self.primaries, self.trc)
        matrix = self.matrix
        if matrix in (SPC_UNSPECIFIED, 3):  # 3 is "reserved", seen in badly tagged files
            matrix = SPC_BT709 if height >= 720 else SPC_SMPTE170M
        color_range = self.color_range if self.color_range != RANGE_UNSPECIFIED else RANGE_LIMITED
        return ColorTags(matrix, color_range, self.primaries, self.trc)

    @property
    def sws_matrix(self) -> int:
        return self.matrix if self.matrix in _SWS_MATRICES else SPC_SMPTE170M

    def apply_to(self, target: Any) -> None:
        """Set the tags on an encoder codec context or a frame."""
        target.colorspace = self.matrix
        target.color_range = self.color_range
        target.color_primaries = self.primaries
        target.color_trc = self.trc


@dataclass(frozen=True)
class StreamInfo:
    index: int
    type: str
    codec: str
    language: str | None = None
    title: str | None = None

    def describe(self) -> str:
        extra = ", ".join(f"{k} {v}" for k, v in (("language", self.language), ("title", self.title)) if v)
        return f"stream #{self.index} ({self.type} {self.codec}{', ' + extra if extra else ''})"


@dataclass
class VideoProbe:
    """The first video stream's geometry, timing and color, plus every other stream."""

    path: Path
    format: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    codec: str
    time_base: Fraction
    rate: Fraction | None
    frames: int | None  # from the container header or duration x rate; None when unknown
    announced_frames: int | None  # the frame count written in the header (MP4, MOV, AVI), None when absent
    duration: float | None
    color: ColorTags
    has_alpha: bool
    streams: list[StreamInfo] = field(default_factory=list)
    # The video track's own length as Matroska/WebM muxers tag it (DURATION), None when absent: unlike the
    # container's duration it does not stretch to a longer audio or subtitle track.
    tagged_duration: float | None = None

    @property
    def is_rgb(self) -> bool:
        return _is_rgb(self.pix_fmt)


def _is_rgb(pix_fmt: str) -> bool:
    av = require_av()
    return bool(av.VideoFormat(pix_fmt).is_rgb)


def _bit_depth(pix_fmt: str) -> int:
    av = require_av()
    return max(c.bits for c in av.VideoFormat(pix_fmt).components)


def open_input(path: str | os.PathLike) -> Any:
    """Open `path` with PyAV and return the container whose first video stream is decodable."""
    av = require_av()
    path = Path(path)
    if path.is_dir():
        raise VideoInputError(f"{path}: is a folder, not a video file")
    if not path.is_file():
        raise VideoInputError(f"{path}: no such file")
    try:
        container = av.open(ffmpeg_name(path))
    except av.error.FFmpegError as exc:
        raise VideoInputError(f"{path}: not a video file FFmpeg can read ({_reason(exc)})") from None
    try:
        _check_input(container, path)
    except BaseException:
        container.close()
        raise
    return container


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip() if text else type(exc).__name__


def _check_input(container: Any, path: Path) -> None:
    if container.format.name in STILL_IMAGE_FORMATS:
        raise VideoInputError(f"{path}: a still image, not a video; use `upres upscale` for images")
    videos = [s for s in container.streams.video if not s.disposition & _attached_pic()]
    if not videos:
        kinds = ", ".join(f"{s.type} {_codec_name(s)}" for s in container.streams) or "none"
        raise VideoInputError(f"{path}: has no video stream (streams: {kinds})")
    stream = videos[0]
    ctx = stream.codec_context
    if ctx is None or ctx.codec is None:
        raise VideoInputError(
            f"{path}: video codec {_codec_name(stream)!r} cannot be decoded by this FFmpeg build; "
            "convert it first or install a PyAV build with that decoder"
        )
    if not ctx.width or not ctx.height or ctx.format is None:
        # The decoder is there, but reading the start of the stream gave no picture size: its data is not valid
        # (blamed on the FFmpeg build, a damaged file sent users after another PyAV).
        raise VideoInputError(
            f"{path}: its {_codec_name(stream)} video gives no picture size: the stream's data is damaged or not "
            "what the file name says; check that it plays elsewhere"
        )


def _attached_pic() -> Any:
    return require_av().stream.Disposition.attached_pic


def _codec_name(stream: Any) -> str:
    ctx = stream.codec_context
    if ctx is not None and ctx.codec is not None:
        return ctx.codec.name
    if stream.type == "attachment":
        return getattr(stream, "mimetype", "") or "attachment"
    return "unknown"


def video_stream(container: Any) -> Any:
    return next(s for s in container.streams.video if not s.disposition & _attached_pic())


def probe_video(path: str | os.PathLike) -> VideoProbe:
    """Read the headers of `path` (no pixels are decoded)."""
    container = open_input(path)
    try:
        return probe_container(container, Path(path))
    finally:
        container.close()


def probe_container(container: Any, path: Path) -> VideoProbe:
    stream = video_stream(container)
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or None
    duration = None
    tagged = _tag_seconds(stream.metadata.get("DURATION"))
    if tagged is not None:
        # Matroska's tag for the video track itself. The container's duration stretches to a longer audio or
        # subtitle track, and so may the stream's there: a one-frame clip with 0.46 s of subtitles was expected to
        # have 11 frames.
        duration = tagged
    elif stream.duration is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    frames = stream.frames or (round(duration * rate) if duration and rate else None)
    pix_fmt = ctx.format.name
    color = ColorTags(ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc)
    return VideoProbe(
        path=path,
        format=container.format.name,
        width=ctx.width,
        height=ctx.height,
        pix_fmt=pix_fmt,
        bit_depth=_bit_depth(pix_fmt),
        codec=ctx.codec.name,
        time_base=stream.time_base,
        rate=Fraction(rate) if rate else None,
        frames=frames,
        announced_frames=stream.frames or None,
        duration=duration,
        tagged_duration=tagged,
        color=color,
        has_alpha=any(c.is_alpha for c in ctx.format.components),
        streams=[stream_info(s) for s in container.streams],
    )


def _tag_seconds(text: str | None) -> float | None:
    """'00:00:02.000000000' -> 2.0; None for anything else."""
    parts = (text or "").split(":")
    try:
        h, m, sec = (float(x) for x in parts) if len(parts) == 3 else (None, None, None)
    except ValueError:
        return None
    return None if h is None else h * 3600 + m * 60 + sec


def stream_info(stream: Any) -> StreamInfo:
    meta = stream.metadata
    # MP4/MOV track titles read back as "name": messages about an MP4's streams left their titles out.
    title = meta.get("title") or meta.get("name")
    return StreamInfo(stream.index, stream.type, _codec_name(stream), meta.get("language"), title)


def display_matrix(frame: Any) -> list[int] | None:
    """The 3x3 display matrix (FFmpeg's int32 layout) a decoded frame carries, e.g. phone rotation."""
    import numpy as np

    side = frame.side_data.get("DISPLAYMATRIX")
    if side is None:
        return None
    values = np.frombuffer(bytes(side), dtype="<i4")
    return [int(v) for v in values] if values.size == 9 else None

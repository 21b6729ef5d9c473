"""The output container of `upres video`: which muxer an extension means, which of the input's streams it can
hold (and which container would hold them all), copying those streams, their metadata and chapters, and the
output pixel format. PyAV only; nothing here encodes pixels."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from upres.io.video import (
    VideoOutputError,
    VideoProbe,
    _attached_pic,
    _reason,
    ffmpeg_name,
    require_av,
    stream_info,
    video_stream,
)

# Several muxers claim some extensions (.mp4: mp4/ipod/psp); FFmpeg's own choice for the common ones.
PREFERRED_MUXERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".mka": "matroska",
    ".webm": "webm",
}
# Containers that cannot keep every frame's own timestamp. AVI has one frame rate and no presentation times: with
# the input's millisecond time base it wrote 1226 frame slots for 30 frames, and libx264's B-frames came back at
# the wrong times, out of order (0.04, 0.16, 0.12, 0.20 s...).
TIMING_LOST = {
    "avi": "AVI cannot keep each frame's timestamp (one fixed frame rate, no presentation times: frames come back at "
    "the wrong times, B-frames out of order)",
}
# Containers tried, in order, when a stream cannot go into the one the output's extension names. MP4 before MOV:
# FFmpeg's MOV muxer drops most language codes and every flag but 'default' (io/video_kept.py), MP4 keeps them.
SUGGESTED_SUFFIXES = (".mkv", ".mp4", ".mov", ".webm")
# Tags the muxer writes itself: copying the input's would describe the input, not the output.
MUXER_OWNED_TAGS = (
    "DURATION",
    "ENCODER",
    "encoder",
    "NUMBER_OF_FRAMES",
    "NUMBER_OF_BYTES",
    "BPS",
    "_STATISTICS_",
)


def open_output(path: Path, format_of: Path | None = None) -> Any:
    """Open `path` for writing, choosing the container from the extension of `format_of` (default: `path`)."""
    av = require_av()
    named = format_of or path
    fmt = container_format(named)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return av.open(ffmpeg_name(path), "w", format=fmt)
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoOutputError(f"{path}: cannot write ({_reason(exc)})") from None


def container_format(path: Path) -> str:
    """FFmpeg muxer name for the extension of `path`, or a one-line error naming the fix."""
    av = require_av()
    suffix = path.suffix.lower()
    if not suffix:
        raise VideoOutputError(f"{path}: no extension to choose the container from; use .mkv, .mp4 or .mov")
    if suffix in PREFERRED_MUXERS:
        return PREFERRED_MUXERS[suffix]
    for name in sorted(av.formats_available):
        try:
            fmt = av.format.ContainerFormat(name, "w")
        except (ValueError, av.error.FFmpegError):
            continue
        if suffix[1:] in fmt.extensions:
            return name
    raise VideoOutputError(f"{path}: unknown container extension {suffix!r}; use .mkv, .mp4 or .mov")


# FFmpeg's MPEG-TS muxer declares no list of the codecs it takes (avformat_query_codec answers "unknown" for all but
# mp2 and mpeg2video), and writes a codec it has no stream type for as a private data stream, which players ignore:
# these are the codecs it gives a stream type (libavformat/mpegtsenc.c).
DECLARED_CODECS = {
    "mpegts": {
        "mpeg1video", "mpeg2video", "mpeg4", "h264", "hevc", "vvc", "cavs", "dirac", "vc1", "av1",
        "mp2", "mp3", "aac", "aac_latm", "ac3", "eac3", "dts", "truehd", "opus", "s302m",
        "dvb_subtitle", "dvb_teletext", "hdmv_pgs_subtitle", "arib_caption",
    }
}  # fmt: skip


def stream_fits(fmt_name: str, supported: set[str], stream: Any) -> bool:
    """Whether `stream` of the input can be copied unchanged into a container of format `fmt_name`."""
    if stream.type == "attachment":
        return fmt_name == "matroska"
    ctx = stream.codec_context
    if ctx is None or ctx.codec is None:
        return False  # PyAV copies only streams whose codec this FFmpeg build knows
    listed = ctx.codec.canonical_name in supported or ctx.codec.name in supported
    return listed and _header_takes(fmt_name, stream)


_HEADER_CACHE: dict[tuple[str, str, str], bool] = {}


def _header_takes(fmt_name: str, stream: Any) -> bool:
    """Whether the muxer writes a header with `stream` in it. The codec lists are not the whole story: FFmpeg's MOV
    muxer lists FLAC and refuses it when the header is written, which ended a run after the model had been loaded
    with 'Invalid argument' on the partial file. One throwaway header per (container, codec) answers it."""
    import tempfile

    key = (fmt_name, stream.type, stream.codec_context.codec.name)
    if key not in _HEADER_CACHE:
        av = require_av()
        with tempfile.TemporaryDirectory() as tmp:
            out = av.open(str(Path(tmp) / "probe"), "w", format=fmt_name)
            try:
                out.add_stream_from_template(stream)
                out.start_encoding()
                _HEADER_CACHE[key] = True
            except (ValueError, av.error.FFmpegError):
                _HEADER_CACHE[key] = False
            finally:
                # A container whose header failed may not close cleanly; it is thrown away.
                with contextlib.suppress(av.error.FFmpegError):
                    out.close()
    return _HEADER_CACHE[key]


def codec_fits(encoder: str, supported: set[str]) -> bool:
    """Whether the video encoder's output (libx264's is h264) goes into a container taking `supported`."""
    if encoder in supported:
        return True
    av = require_av()
    try:
        return av.codec.Codec(encoder, "w").canonical_name in supported
    except (ValueError, av.error.FFmpegError):
        return False


def suggest_container(streams: list[Any], video_codec: str) -> str | None:
    """The first suffix in SUGGESTED_SUFFIXES whose container takes every stream and the video codec."""
    av = require_av()
    for suffix in SUGGESTED_SUFFIXES:
        fmt = av.format.ContainerFormat(PREFERRED_MUXERS[suffix], "w")
        supported = _supported_codecs(fmt.name)
        if codec_fits(video_codec, supported) and all(stream_fits(fmt.name, supported, s) for s in streams):
            return suffix
    return None


_SUPPORTED_CACHE: dict[str, set[str]] = {}


def _supported_codecs(fmt_name: str) -> set[str]:
    if fmt_name not in _SUPPORTED_CACHE:
        import tempfile

        av = require_av()
        # supported_codecs lives on an open output container; a throwaway one in a temp dir costs nothing.
        with tempfile.TemporaryDirectory() as tmp:
            out = av.open(str(Path(tmp) / "probe"), "w", format=fmt_name)
            _SUPPORTED_CACHE[fmt_name] = set(out.supported_codecs) | DECLARED_CODECS.get(fmt_name, set())
            out.close()
    return _SUPPORTED_CACHE[fmt_name]


def copy_metadata(src: dict[str, str], dst: Any) -> None:
    for key, value in src.items():
        if not any(key.upper().startswith(t.upper()) for t in MUXER_OWNED_TAGS):
            dst.metadata[key] = value
    # FFmpeg's MP4/MOV demuxer reads a track's title as "name", and every muxer writes "title": copied as read,
    # an MP4's track titles were lost.
    if "name" in src and "title" not in src:
        dst.metadata["title"] = dst.metadata.pop("name", src["name"])


def streams_to_copy(input_container: Any, warn: Any) -> list[Any]:
    """The input's audio, subtitle, attachment and cover-art streams; others are named in a warning."""
    main = video_stream(input_container)
    copy = []
    for stream in input_container.streams:
        if stream is main:
            continue
        if stream.type == "video" and not stream.disposition & _attached_pic():
            warn(f"{stream_info(stream).describe()} not copied: only the first video stream is upscaled")
            continue
        if stream.type == "data":
            warn(f"{stream_info(stream).describe()} not copied: data streams are not carried")
            continue
        copy.append(stream)
    return copy


_IMAGE_TYPES = {"mjpeg": ("jpg", "image/jpeg"), "png": ("png", "image/png"), "webp": ("webp", "image/webp")}


def _cover_art(stream: Any) -> tuple[str, str, bytes]:
    """(file name, MIME type, bytes) of a cover-art stream: its one packet, read from a second opening of its file
    (attachments go into the header, before any packet is read)."""
    av = require_av()
    codec = stream.codec_context.name if stream.codec_context is not None else ""
    ext, mime = _IMAGE_TYPES.get(codec, ("bin", "application/octet-stream"))
    meta = {k.lower(): v for k, v in stream.metadata.items()}
    with av.open(stream.container.name) as again:
        data = next((bytes(p) for p in again.demux(again.streams[stream.index]) if p.size), b"")
    return meta.get("filename", f"cover.{ext}"), meta.get("mimetype", mime), data


def check_fits(copy: list[Any], output: Any, output_path: Path, video_codec: str) -> None:
    """Raise VideoOutputError naming a container that fits when a stream cannot go into the output's."""
    fmt = output.format.name
    supported = _supported_codecs(fmt)
    unknown = [
        s
        for s in copy
        if s.type != "attachment" and (s.codec_context is None or s.codec_context.codec is None)
    ]
    if unknown:
        n = unknown[0].index
        raise VideoOutputError(
            f"{replace(stream_info(unknown[0]), codec='in a codec this FFmpeg build does not know').describe()} "
            "cannot be copied (PyAV copies only streams whose codec its "
            f"FFmpeg knows); leave it out first, e.g. ffmpeg -i INPUT -map 0 -map -0:{n} -c copy WITHOUT_IT.mkv"
        )
    misfits = [s for s in copy if not stream_fits(fmt, supported, s)]
    video_fits = codec_fits(video_codec, supported)
    if video_fits and not misfits:
        return
    what = [f"video codec {video_codec}"] if not video_fits else []
    what += [stream_info(s).describe() for s in misfits]
    better = suggest_container(copy, video_codec)
    hint = f"; use {better}, which takes every stream" if better else ""
    encoder = next(
        (e for e in VIDEO_ENCODERS if not misfits and _has_encoder(e) and codec_fits(e, supported)), None
    )
    if encoder:  # a .webm wanted: the default libx264 was the only misfit
        hint = f"; use --codec {encoder}" + (f", or {better}" if better else "")
    raise VideoOutputError(f"{output_path.suffix} cannot hold {', '.join(what)}{hint}")


# Encoders offered when the video codec is all that does not fit the container, in order of preference.
VIDEO_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "ffv1")


def _has_encoder(name: str) -> bool:
    av = require_av()
    try:
        av.Codec(name, "w")
    except (ValueError, av.error.FFmpegError):
        return False
    return True


def add_copied_streams(copy: list[Any], output: Any) -> dict[int, Any]:
    """Add `copy` (input streams) to `output` unchanged, with their metadata and disposition.

    Returns input stream index -> output stream for streams whose packets are to be remuxed (attachments are
    written in the header, so they are not in the map).
    """
    mapping: dict[int, Any] = {}
    for stream in copy:
        if stream.type == "attachment":
            out = output.add_attachment(stream.name, stream.mimetype, bytes(stream.data))
        elif output.format.name == "matroska" and stream.disposition & _attached_pic():
            # Matroska keeps cover art as an attachment (as it came from one, or as mkvmerge stores it); FFmpeg's
            # muxer wrote it as a one-frame video track, which a later run took for a second video and dropped.
            name, mimetype, data = _cover_art(stream)
            output.add_attachment(name, mimetype, data)
            continue
        else:
            out = output.add_stream_from_template(stream)
            out.time_base = stream.time_base
            mapping[stream.index] = out
        copy_metadata(stream.metadata, out)
        out.disposition = stream.disposition
    return mapping


def shifted_chapters(input_container: Any, start: float, end: float | None) -> list[dict[str, Any]]:
    """The input's chapters that overlap [start, end), moved so that `start` becomes 0."""
    chapters = []
    for ch in input_container.chapters():
        tb = ch["time_base"]
        c0, c1 = float(ch["start"] * tb), float(ch["end"] * tb)
        if c1 <= start or (end is not None and c0 >= end):
            continue
        lo, hi = max(c0, start) - start, (min(c1, end) if end is not None else c1) - start
        chapters.append({**ch, "start": round(lo / tb), "end": round(hi / tb)})
    return chapters


def choose_pix_fmt(codec: str, probe: VideoProbe, requested: str | None) -> str:
    """Output pixel format: the requested one, else the input's, else one of the same bit depth the encoder takes."""
    av = require_av()
    formats = [f.name for f in (av.Codec(codec, "w").video_formats or [])]
    if requested:
        if formats and requested not in formats:
            raise VideoOutputError(f"--pix-fmt {requested}: {codec} takes {', '.join(formats)}")
        try:
            av.VideoFormat(requested)
        except ValueError:
            raise VideoOutputError(f"--pix-fmt {requested}: unknown pixel format") from None
        return requested
    if not formats or probe.pix_fmt in formats:
        return probe.pix_fmt
    high = probe.bit_depth > 8
    rgb = probe.is_rgb
    for name in formats:
        fmt = av.VideoFormat(name)
        depth = max(c.bits for c in fmt.components)
        if bool(fmt.is_rgb) == rgb and (depth > 8) == high and not any(c.is_alpha for c in fmt.components):
            return name
    return formats[0]

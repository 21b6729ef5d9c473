"""The output container of `upres video`: the upscaled video stream (codec, pixel format, colour tags, aspect,
rotation) and the streams copied unchanged from the input (audio, subtitles, attachments, chapters)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from upres.infer.resample import output_size
from upres.io.video import ColorTags, VideoOutputError, VideoProbe, stream_info
from upres.io.video_mux import (
    add_copied_streams,
    check_fits,
    choose_pix_fmt,
    copy_metadata,
    shifted_chapters,
    streams_to_copy,
)


@dataclass
class OutputStreams:
    """What the writer needs to know about the output it was given."""

    stream: Any  # the encoded video stream
    pix_fmt: str
    rgb: bool  # the output pixel format is RGB (no YUV matrix)
    color: ColorTags  # tags written and the matrix/range used to convert to pix_fmt
    mapping: dict[int, Any]  # input stream index -> output stream, for the copied streams


SAR_IN_BITSTREAM = (
    "libx264",
    "libx264rgb",
    "libx265",
)  # encoders that write the sample aspect ratio themselves


def setup_output(
    output: Any,
    container: Any,
    vstream: Any,
    probe: VideoProbe,
    dst: Path,
    opts: Any,
    scale: int,
    in_color: ColorTags,
    matrix: list[int] | None,
    note: Callable[[str], None],
    start: Fraction | None,
    end: Fraction | None,
) -> OutputStreams:
    """Add the upscaled video stream and the copied streams to `output` (opened, nothing written yet)."""
    p = probe
    pix_fmt = choose_pix_fmt(opts.codec, p, opts.pix_fmt)
    fmt = av.VideoFormat(pix_fmt)
    width, height = frame_size(p.width, p.height, scale, opts.outscale, _chroma_subsampling(fmt))
    out_rgb = bool(fmt.is_rgb)
    if out_rgb or not p.is_rgb:
        out_color = in_color.resolved(height, out_rgb)
    else:  # RGB input to YUV output: no matrix to keep, so use (and tag) the one players assume
        out_color = ColorTags(primaries=p.color.primaries, trc=p.color.trc).resolved(height, False)
    sub_w, sub_h = _chroma_subsampling(fmt)
    if width % sub_w or height % sub_h:
        raise VideoOutputError(
            f"output size {width}x{height} does not fit {pix_fmt}'s chroma subsampling; "
            "use --pix-fmt yuv444p, a model with an even scale, or --outscale (which rounds the sides to fit)"
        )
    copy = streams_to_copy(container, note)
    check_fits(copy, output, dst, av.Codec(opts.codec, "w").canonical_name)
    # The streams keep the input's order: those before its video stream (an audio track first) go in first.
    mapping = add_copied_streams([s for s in copy if s.index < vstream.index], output)
    vs = output.add_stream(opts.codec, rate=p.rate)
    vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
    vs.time_base = p.time_base
    ctx = vs.codec_context
    ctx.time_base = p.time_base
    if opts.codec_threads:
        ctx.thread_count = opts.codec_threads
    if p.rate:
        ctx.framerate = p.rate
    sar = vstream.codec_context.sample_aspect_ratio
    if sar:
        ctx.sample_aspect_ratio = sar
        if sar != 1 and av.Codec(opts.codec, "w").name not in SAR_IN_BITSTREAM:
            # The others leave it to the container's own field, which PyAV does not set: tested with FFV1, VP9, SVT-AV1.
            note(
                f"{p.path}: its pixels are not square (sample aspect ratio {sar.numerator}:{sar.denominator}) and "
                f"{opts.codec} output does not carry that; players will show it stretched: use libx264 or libx265"
            )
    out_color.apply_to(ctx)
    codec_opts = {}
    if opts.crf is not None:
        codec_opts["crf"] = str(opts.crf)
    if opts.preset is not None:
        codec_opts["preset"] = str(opts.preset)
    if av.Codec(opts.codec, "w").name == "libx265":
        # x265 prints its own statistics to the terminal (past -q); its errors still come through.
        codec_opts["x265-params"] = "log-level=error"
    if av.Codec(opts.codec, "w").name == "libsvtav1":
        # SVT-AV1 prints a 20-line banner to the terminal (past -q); SVT_LOG=1 keeps its errors. A value the user
        # set stays.
        os.environ.setdefault("SVT_LOG", "1")
    vs.options = codec_opts
    copy_metadata(vstream.metadata, vs)
    vs.disposition = vstream.disposition
    if matrix:
        vs.set_display_matrix(matrix)
    mapping.update(add_copied_streams([s for s in copy if s.index > vstream.index], output))
    if output.format.name == "mov":
        for stream in copy:
            if stream.disposition & av.stream.Disposition.forced:
                # FFmpeg's MOV muxer has no place for it (its MP4 muxer has); players then show the track only
                # when asked, which for forced subtitles (foreign dialogue) is the opposite of their purpose.
                note(
                    f"{stream_info(stream).describe()} loses its 'forced' flag in .mov, which cannot store it; "
                    ".mp4 or .mkv keep it"
                )
    copy_metadata(container.metadata, output)
    chapters = shifted_chapters(container, float(start or 0), float(end) if end is not None else None)
    if chapters:
        output.set_chapters(chapters)
    return OutputStreams(vs, pix_fmt, out_rgb, out_color, mapping)


def frame_size(
    width: int, height: int, scale: int, outscale: float | None, multiple: tuple[int, int] = (1, 1)
) -> tuple[int, int]:
    """The output frames' size: the model's scale, or `outscale` with each side rounded to the nearest multiple of
    the pixel format's chroma subsampling (4:2:0 needs even sides; an odd one was refused after the model ran)."""
    if outscale is None:
        return width * scale, height * scale
    w, h = output_size(width, height, outscale)
    return tuple(max(m, round(n / m) * m) for n, m in ((w, multiple[0]), (h, multiple[1])))  # type: ignore[return-value]


def _chroma_subsampling(fmt: Any) -> tuple[int, int]:
    if fmt.is_rgb or len(fmt.components) < 3:
        return 1, 1
    return 64 // fmt.chroma_width(64), 64 // fmt.chroma_height(64)

"""The reader stage of `upres video`: demux the input, decode video frames to RGB arrays (8 or 16 bit) in the
input's matrix and range, and queue them with the audio/subtitle packets that are copied unchanged.

A damaged packet is skipped with a warning and a demuxer error ends reading early with one: both keep what was
decoded so far and let the run finish (exit code 1)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from upres.io.video import VideoInputError

if TYPE_CHECKING:
    from upres.infer.video_job import VideoJob

END = object()  # the reader's last item


@dataclass
class Frame:
    pts: int
    duration: int
    pixels: np.ndarray  # HxWx3 uint8 or uint16; replaced by the upscaled pixels


def read_all(job: VideoJob) -> None:
    """The reader stage: demux, decode video to RGB and queue it with every packet that is copied."""
    vs, tb = job.vstream, job.vstream.time_base
    # Slice threads only: a frame-threaded decoder holds one frame per thread, and an error while it drains them at
    # the end (a damaged or truncated last packets) loses every frame it held (PyAV discards the call's frames and
    # refuses a second flush): up to 15 frames on a 16-core machine. Decoding is never the slow stage here.
    vs.codec_context.thread_type = "SLICE"
    if job.opts.codec_threads:
        vs.codec_context.thread_count = job.opts.codec_threads
    start = job.start or 0
    if start:
        _seek_before(job, start)
    shift = {s.index: round(start / s.time_base) for s in job.input.streams if s.time_base}
    streams = [vs, *(job.input.streams[i] for i in job.out.mapping)]
    video_done = False
    rate = job.probe.rate or Fraction(25)
    default_duration = max(1, round(1 / (rate * tb)))
    next_pts = 0
    for packet in _demux(job.input, streams, job):
        if job.stop.is_set():
            return
        if packet.stream.index == vs.index:
            if video_done:
                continue
            for frame in _decode(job, packet):
                # Elementary streams (.h264, .hevc) carry no timestamps: number the frames at the stream rate.
                pts = frame.pts if frame.pts is not None else next_pts
                dur = frame.duration or default_duration
                next_pts = pts + dur
                t = pts * tb
                if job.start is not None and t < job.start:
                    continue
                if job.end is not None and t >= job.end:
                    video_done = True
                    break
                pixels = _to_rgb(job, frame)
                if not job.put(job.decoded, Frame(pts - shift[vs.index], dur, pixels)):
                    return
            if video_done and not job.out.mapping:
                break
        elif packet.size and packet.stream.disposition & av.stream.Disposition.attached_pic:
            # Cover art: one untimed packet that belongs to the whole file (in Matroska, an attachment instead).
            if packet.stream.index not in job.out.mapping:
                continue
            packet.stream = job.out.mapping[packet.stream.index]
            if not job.put(job.decoded, packet):
                return
        elif packet.dts is not None and packet.size:
            when = packet.pts if packet.pts is not None else packet.dts
            t = when * packet.stream.time_base
            if (job.start is not None and t < job.start) or (job.end is not None and t >= job.end):
                if video_done and job.end is not None and t >= job.end + 5:
                    break  # the muxers interleave within a few seconds; nothing later belongs to the range
                continue
            if packet.is_corrupt:  # cut short by a truncated file, or flagged damaged by the demuxer
                job.damaged_copies += 1
                job.note(
                    f"{job.probe.path}: a damaged {packet.stream.type} packet at {float(t):.3f} s is copied as it is "
                    "(cut short or flagged by the demuxer: the file looks truncated or damaged)"
                )
            s = shift[packet.stream.index]
            if packet.pts is not None:
                packet.pts -= s
            packet.dts -= s
            packet.stream = job.out.mapping[packet.stream.index]
            if not job.put(job.decoded, packet):
                return
    job.put(job.decoded, END)


MAX_SEEKS = 8  # each step back at least doubles: 8 reach over 4 minutes before --start
KEYFRAME_SCAN = 20000  # packets read to find the first keyframe after a seek


def _seek_before(job: VideoJob, start: Fraction) -> None:
    """Seek so that decoding starts at a keyframe at or before `start`. Without an index (MPEG-TS, raw streams)
    FFmpeg's backward seek can land after the keyframe that precedes `start`; the decoder then drops every frame
    up to the next keyframe (9 of 25 frames lost, or a whole range reported empty). Each try reads packets only,
    to the first keyframe, and steps back past it until that keyframe is early enough."""
    vs, target, step = job.vstream, start, Fraction(1)
    try:
        for _ in range(MAX_SEEKS):
            job.input.seek(int(target / Fraction(1, av.time_base)), backward=True)
            first = _first_keyframe_time(job.input, vs)
            if first is None or first <= start or target <= 0:
                break
            target, step = max(Fraction(0), min(target, first) - step), step * 2
        job.input.seek(int(target / Fraction(1, av.time_base)), backward=True)
    except (OSError, av.error.FFmpegError) as exc:  # a raw stream (.h264, .hevc) cannot seek
        raise VideoInputError(
            f"{job.probe.path}: cannot seek in this file ({getattr(exc, 'strerror', None) or exc}), so --start cannot "
            "be used with it; remux it into .mkv first (e.g. ffmpeg -i IN -c copy IN.mkv) or leave out --start"
        ) from None


def _first_keyframe_time(container: Any, vs: Any) -> Fraction | None:
    for n, packet in enumerate(container.demux(vs)):
        when = packet.pts if packet.pts is not None else packet.dts
        if packet.is_keyframe and when is not None:
            return when * vs.time_base
        if n >= KEYFRAME_SCAN:
            break
    return None


def _decode(job: VideoJob, packet: Any) -> list[Any]:
    try:
        return job.vstream.decode(packet)
    except av.error.FFmpegError as exc:
        job.skipped_packets += 1
        where = packet.pts if packet.pts is not None else packet.dts
        at = f" near {float(where * job.vstream.time_base):.3f} s" if where is not None else ""
        job.note(f"{job.probe.path}: skipped a damaged video packet{at} ({exc.strerror or exc})")
        return []


def _to_rgb(job: VideoJob, frame: Any) -> np.ndarray:
    p, c = job.probe, job.in_color
    kwargs: dict[str, Any] = {"format": job.rgb_format, "interpolation": job.sws_in}
    if frame.width != p.width or frame.height != p.height:
        kwargs.update(width=p.width, height=p.height)
        if not job.resized:
            job.resized = True
            job.note(
                f"{p.path}: frame size changes to {frame.width}x{frame.height} at {float(frame.time or 0):.3f} s;"
                f" such frames are scaled to {p.width}x{p.height} before upscaling"
            )
    if not p.is_rgb:
        kwargs.update(src_colorspace=c.sws_matrix, src_color_range=c.color_range)
    return frame.reformat(**kwargs).to_ndarray()


def _demux(container: Any, streams: list[Any], job: VideoJob) -> Any:
    """Packets in file order; a demuxer error mid-file ends reading with a warning instead of losing the output."""
    it = container.demux(streams)
    while True:
        try:
            packet = next(it)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            job.skipped_packets += 1
            job.note(
                f"{job.probe.path}: reading stopped early ({exc.strerror or exc}); the rest is unreadable"
            )
            # Flush the decoder so frames it still holds are not lost.
            yield from _flush_packets(streams[0])
            return
        yield packet


def _flush_packets(stream: Any) -> list[Any]:
    empty = av.Packet()
    empty.stream = stream
    return [empty]

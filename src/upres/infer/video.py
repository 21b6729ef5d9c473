"""The video runner: decode -> upscale in batches -> encode, three stages overlapped with bounded queues.

A reader thread demuxes the input, decodes video to RGB arrays (8 or 16 bit) and passes every other packet
through untouched; the calling thread batches frames through the `Upscaler`; a writer thread converts back to the
encoder's YUV with the input's matrix and range, encodes and muxes. Only the writer touches the output container.
Frames keep their own presentation timestamps in the input's time base, so variable frame rate survives and audio
(copied packet for packet) stays in sync even when a damaged video packet has to be skipped.

The output is written to `<OUT stem>.partial<suffix>` and renamed to OUT only when everything was written; after
Ctrl+C the partial file is closed properly (playable) and left under that name.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from upres.infer.tiling import Upscaler
from upres.io.video import (
    ColorTags,
    VideoInputError,
    VideoOutputError,
    VideoProbe,
    add_copied_streams,
    check_fits,
    choose_pix_fmt,
    copy_metadata,
    display_matrix,
    open_input,
    open_output,
    probe_container,
    shifted_chapters,
    streams_to_copy,
    sws_interpolation,
    video_stream,
)

_END = object()
MAX_WARNINGS_SHOWN = 5


@dataclass
class VideoOptions:
    codec: str = "libx264"
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    tile: int = 0
    overlap: int = 16
    batch: int = 1
    start: float | None = None
    end: float | None = None
    queue_batches: int = 3  # batches in flight on each side of the model; bounds memory
    codec_threads: int = 0  # decoder and encoder threads; 0: FFmpeg's choice (all cores)


@dataclass
class VideoResult:
    path: Path  # OUT when complete, the partial file otherwise
    frames: int
    complete: bool
    skipped_packets: int = 0
    seconds: float = 0.0
    last_time: float | None = None  # presentation time (s) of the last frame written
    model_seconds: float = 0.0  # wall time spent in model calls
    starved_seconds: float = 0.0  # wall time the model waited for decoded frames: > 0 means decoding lags
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Frame:
    pts: int
    duration: int
    pixels: np.ndarray  # HxWx3 uint8 or uint16


ProgressFn = Callable[[int, int | None], None]


def partial_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.partial{out.suffix}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def upscale_video(
    upscaler: Upscaler,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    options: VideoOptions | None = None,
    progress: ProgressFn | None = None,
    warn: Callable[[str], None] | None = None,
) -> VideoResult:
    """Upscale the first video stream of `src` into `dst`, copying every other stream unchanged."""
    opts = options or VideoOptions()
    src, dst = Path(src), Path(dst)
    warnings: list[str] = []

    def note(msg: str) -> None:
        warnings.append(msg)
        if warn and len(warnings) <= MAX_WARNINGS_SHOWN:
            warn(msg)

    if _same_file(src, dst) or _same_file(src, partial_path(dst)):
        raise VideoOutputError(f"{dst}: output is the input file; choose another output path")
    if opts.batch < 1:
        raise VideoOutputError(f"--batch {opts.batch}: must be at least 1")
    if opts.start is not None and opts.end is not None and opts.end <= opts.start:
        raise VideoOutputError(f"--end {opts.end} is not after --start {opts.start}")
    _check_encoder(opts.codec)

    started = time.perf_counter()
    container = open_input(src)
    try:
        probe = probe_container(container, src)
        if probe.has_alpha:
            note(f"{src}: the alpha channel of {probe.pix_fmt} video is dropped")
        matrix = _first_display_matrix(src)
        job = _Job(upscaler, container, probe, dst, opts, matrix, note)
        frames, complete = job.run(progress)
    finally:
        container.close()
    skipped = job.skipped_packets
    if skipped:
        warn_total = (
            f"{src}: skipped {skipped} damaged video packet(s); audio and subtitles kept their timing"
        )
        if warn and len(warnings) > MAX_WARNINGS_SHOWN:
            warn(f"... {len(warnings) - MAX_WARNINGS_SHOWN} more warnings")
        warnings.append(warn_total)
    final = job.partial
    if complete:
        os.replace(job.partial, dst)
        final = dst
    return VideoResult(
        path=final,
        frames=frames,
        complete=complete,
        skipped_packets=skipped,
        seconds=time.perf_counter() - started,
        last_time=job.last_time,
        model_seconds=job.model_seconds,
        starved_seconds=job.starved_seconds,
        warnings=warnings,
    )


def _check_encoder(codec: str) -> None:
    try:
        found = av.Codec(codec, "w")
    except (ValueError, av.error.FFmpegError):
        found = None
    if found is None or found.type != "video":
        raise VideoOutputError(
            f"--codec {codec}: not a video encoder in this FFmpeg build; try libx264, libx265, libsvtav1 or ffv1"
        )


def _first_display_matrix(src: Path) -> list[int] | None:
    """Rotation lives in side data that PyAV shows on decoded frames; peek at the first one."""
    with av.open(str(src)) as peek:
        try:
            for frame in peek.decode(video_stream(peek)):
                return display_matrix(frame)
        except av.error.FFmpegError:
            return None
    return None


class _Job:
    """One run: owns the queues, the two threads and the output container."""

    def __init__(
        self,
        upscaler: Upscaler,
        container: Any,
        probe: VideoProbe,
        dst: Path,
        opts: VideoOptions,
        matrix: list[int] | None,
        note: Callable[[str], None],
    ) -> None:
        self.upscaler, self.input, self.probe, self.dst, self.opts = upscaler, container, probe, dst, opts
        self.note = note
        self.partial = partial_path(dst)
        self.vstream = video_stream(container)
        self.in_color = probe.color.resolved(probe.height, probe.is_rgb)
        self.deep = probe.bit_depth > 8
        self.sws = sws_interpolation()
        self.rgb_format = "rgb48le" if self.deep else "rgb24"
        # Without --start nothing is dropped or shifted: AAC priming and B-frame delay give negative timestamps.
        self.start = Fraction(str(opts.start)) if opts.start is not None else None
        self.end = Fraction(str(opts.end)) if opts.end is not None else None
        self.stop = threading.Event()
        # Audio and subtitle packets share the queues with frames (a few per frame), hence the extra room.
        depth = opts.queue_batches * opts.batch + 16
        self.decoded: queue.Queue = queue.Queue(depth)
        self.upscaled: queue.Queue = queue.Queue(depth)
        self.errors: list[BaseException] = []
        self.skipped_packets = 0
        self.resized = False
        self.written = 0
        self.model_seconds = self.starved_seconds = 0.0
        self.last_time: float | None = None
        self.total = self._expected_frames()
        self.output = open_output(self.partial, format_of=dst)
        try:
            self._setup_output(matrix)
        except BaseException:
            self.output.close()
            self.partial.unlink(missing_ok=True)
            raise

    # --- set-up -------------------------------------------------------------------------------------------

    def _expected_frames(self) -> int | None:
        p = self.probe
        if self.opts.start is None and self.opts.end is None:
            return p.frames
        if not p.rate:
            return None
        stop = min(float(self.end), p.duration or float("inf")) if self.end is not None else p.duration
        return None if stop is None else max(0, round((stop - float(self.start or 0)) * p.rate))

    def _setup_output(self, matrix: list[int] | None) -> None:
        p, opts, scale = self.probe, self.opts, self.upscaler.scale
        width, height = p.width * scale, p.height * scale
        self.pix_fmt = choose_pix_fmt(opts.codec, p, opts.pix_fmt)
        fmt = av.VideoFormat(self.pix_fmt)
        self.out_rgb = bool(fmt.is_rgb)
        if self.out_rgb or not p.is_rgb:
            self.out_color = self.in_color.resolved(height, self.out_rgb)
        else:  # RGB input to YUV output: no matrix to keep, so use (and tag) the one players assume
            self.out_color = ColorTags(primaries=p.color.primaries, trc=p.color.trc).resolved(height, False)
        sub_w, sub_h = _chroma_subsampling(fmt)
        if width % sub_w or height % sub_h:
            raise VideoOutputError(
                f"output size {width}x{height} does not fit {self.pix_fmt}'s chroma subsampling; "
                "use --pix-fmt yuv444p (or a model with an even scale)"
            )
        copy = streams_to_copy(self.input, self.note)
        check_fits(copy, self.output, self.dst, av.Codec(opts.codec, "w").canonical_name)
        vs = self.output.add_stream(opts.codec, rate=p.rate)
        vs.width, vs.height, vs.pix_fmt = width, height, self.pix_fmt
        vs.time_base = p.time_base
        ctx = vs.codec_context
        ctx.time_base = p.time_base
        if opts.codec_threads:
            ctx.thread_count = opts.codec_threads
        if p.rate:
            ctx.framerate = p.rate
        sar = self.vstream.codec_context.sample_aspect_ratio
        if sar:
            ctx.sample_aspect_ratio = sar
        self.out_color.apply_to(ctx)
        codec_opts = {}
        if opts.crf is not None:
            codec_opts["crf"] = str(opts.crf)
        if opts.preset is not None:
            codec_opts["preset"] = str(opts.preset)
        vs.options = codec_opts
        copy_metadata(self.vstream.metadata, vs)
        vs.disposition = self.vstream.disposition
        if matrix:
            vs.set_display_matrix(matrix)
        self.ostream = vs
        self.mapping = add_copied_streams(copy, self.output)
        copy_metadata(self.input.metadata, self.output)
        end = float(self.end) if self.end is not None else None
        chapters = shifted_chapters(self.input, float(self.start or 0), end)
        if chapters:
            self.output.set_chapters(chapters)

    # --- the three stages ---------------------------------------------------------------------------------

    def run(self, progress: ProgressFn | None) -> tuple[int, bool]:
        """Run the three stages; returns (frames written, complete). Ctrl+C gives complete=False."""
        reader = threading.Thread(
            target=self._guard, args=(self._read,), name="upres-video-read", daemon=True
        )
        writer = threading.Thread(
            target=self._guard, args=(self._write, progress), name="upres-video-write", daemon=True
        )
        complete, failure = False, None
        try:
            reader.start()
            writer.start()
            self._upscale_all()
            complete = True
        except KeyboardInterrupt:
            pass  # frames already upscaled are still written below, then the file is closed properly
        except _Stopped:
            pass
        except BaseException as exc:
            failure = exc
        if not complete:
            self.stop.set()
        self._finish(writer, reader)
        if failure is None and self.errors:
            failure = self.errors[0]
        if failure is not None:
            self.partial.unlink(missing_ok=True)
            if isinstance(failure, VideoInputError | VideoOutputError):
                raise failure
            if isinstance(failure, Exception):
                raise VideoOutputError(
                    f"{self.dst}: stopped by {type(failure).__name__}: {failure}; no output kept"
                )
            raise failure
        if self.written == 0:
            self.partial.unlink(missing_ok=True)
            if not complete:
                raise KeyboardInterrupt  # nothing was written, so there is no partial file to talk about
            raise VideoInputError(
                f"{self.probe.path}: no video frame could be decoded in the chosen time range"
            )
        return self.written, complete

    def _finish(self, writer: threading.Thread, reader: threading.Thread) -> None:
        # The writer drains what is queued (so an interrupted file still gets every finished frame), flushes the
        # encoder and only then is the container closed, which writes the index a player needs.
        while writer.is_alive():
            try:
                self.upscaled.put(_END, timeout=0.1)
                break
            except queue.Full:
                continue
        writer.join()
        self.stop.set()
        reader.join()
        try:
            self.output.close()
        except Exception as exc:  # noqa: BLE001 - a trailer that cannot be written makes the file unusable
            self.errors.append(exc)

    def _guard(self, fn: Callable, *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            self.errors.append(exc)
            self.stop.set()

    def _put(self, q: queue.Queue, item: Any) -> bool:
        """Blocking put that gives up when the job is stopping."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue) -> Any:
        while True:
            if self.errors:
                raise _Stopped
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue

    def _read(self) -> None:
        vs, tb = self.vstream, self.vstream.time_base
        vs.codec_context.thread_type = "AUTO"
        if self.opts.codec_threads:
            vs.codec_context.thread_count = self.opts.codec_threads
        start = self.start or 0
        if start:
            self.input.seek(int(start / Fraction(1, av.time_base)), backward=True)
        shift = {s.index: round(start / s.time_base) for s in self.input.streams if s.time_base}
        streams = [vs, *(self.input.streams[i] for i in self.mapping)]
        video_done = False
        rate = self.probe.rate or Fraction(25)
        default_duration = max(1, round(1 / (rate * tb)))
        next_pts = 0
        for packet in _demux(self.input, streams, self):
            if self.stop.is_set():
                return
            if packet.stream.index == vs.index:
                if video_done:
                    continue
                for frame in self._decode(packet):
                    # Elementary streams (.h264, .hevc) carry no timestamps: number the frames at the stream rate.
                    pts = frame.pts if frame.pts is not None else next_pts
                    dur = frame.duration or default_duration
                    next_pts = pts + dur
                    t = pts * tb
                    if self.start is not None and t < self.start:
                        continue
                    if self.end is not None and t >= self.end:
                        video_done = True
                        break
                    pixels = self._to_rgb(frame)
                    if not self._put(self.decoded, _Frame(pts - shift[vs.index], dur, pixels)):
                        return
                if video_done and not self.mapping:
                    break
            elif packet.size and packet.stream.disposition & av.stream.Disposition.attached_pic:
                # Cover art: one untimed packet that belongs to the whole file.
                packet.stream = self.mapping[packet.stream.index]
                if not self._put(self.decoded, packet):
                    return
            elif packet.dts is not None and packet.size:
                when = packet.pts if packet.pts is not None else packet.dts
                t = when * packet.stream.time_base
                if (self.start is not None and t < self.start) or (self.end is not None and t >= self.end):
                    if video_done and self.end is not None and t >= self.end + 5:
                        break  # the muxers interleave within a few seconds; nothing later belongs to the range
                    continue
                s = shift[packet.stream.index]
                if packet.pts is not None:
                    packet.pts -= s
                packet.dts -= s
                packet.stream = self.mapping[packet.stream.index]
                if not self._put(self.decoded, packet):
                    return
        self._put(self.decoded, _END)

    def _decode(self, packet: Any) -> list[Any]:
        try:
            return self.vstream.decode(packet)
        except av.error.FFmpegError as exc:
            self.skipped_packets += 1
            where = packet.pts if packet.pts is not None else packet.dts
            # Frame-threaded decoders report an error a few packets late, so the time is where reading was.
            at = f" near {float(where * self.vstream.time_base):.3f} s" if where is not None else ""
            self.note(f"{self.probe.path}: skipped a damaged video packet{at} ({exc.strerror or exc})")
            return []

    def _to_rgb(self, frame: Any) -> np.ndarray:
        p, c = self.probe, self.in_color
        kwargs: dict[str, Any] = {"format": self.rgb_format, "interpolation": self.sws}
        if frame.width != p.width or frame.height != p.height:
            kwargs.update(width=p.width, height=p.height)
            if not self.resized:
                self.resized = True
                self.note(
                    f"{p.path}: frame size changes to {frame.width}x{frame.height} at {float(frame.time or 0):.3f} s;"
                    f" such frames are scaled to {p.width}x{p.height} before upscaling"
                )
        if not p.is_rgb:
            kwargs.update(src_colorspace=c.sws_matrix, src_color_range=c.color_range)
        return frame.reformat(**kwargs).to_ndarray()

    def _upscale_all(self) -> None:
        pending: list[Any] = []
        frames = 0
        while True:
            t0 = time.perf_counter()
            item = self._get(self.decoded)
            self.starved_seconds += time.perf_counter() - t0
            if item is _END:
                break
            pending.append(item)
            if isinstance(item, _Frame):
                frames += 1
                if frames == self.opts.batch:
                    self._flush(pending)
                    pending, frames = [], 0
        self._flush(pending)

    def _flush(self, pending: list[Any]) -> None:
        frames = [it for it in pending if isinstance(it, _Frame)]
        if frames:
            peak = 65535.0 if self.deep else 255.0
            x = torch.from_numpy(np.stack([f.pixels for f in frames])).permute(0, 3, 1, 2).contiguous()
            x = x.float().div_(peak)
            t0 = time.perf_counter()
            y = self.upscaler(x, self.opts.tile, self.opts.overlap)
            self.model_seconds += time.perf_counter() - t0
            out = (y * peak).round().clamp(0, peak).permute(0, 2, 3, 1).cpu().numpy()
            out = out.astype(np.uint16 if self.deep else np.uint8)
            for f, pixels in zip(frames, out, strict=True):
                f.pixels = pixels
        for item in pending:
            if not self._put(self.upscaled, item):
                raise _Stopped

    def _write(self, progress: ProgressFn | None) -> None:
        tb, out, vs = self.probe.time_base, self.output, self.ostream
        c = self.out_color
        # Copied packets wait until a frame at or after their time is written: an interrupted file then ends
        # with audio up to its last frame and no further, and `--start <that time>` continues without overlap.
        held: list[Any] = []
        while True:
            item = self.upscaled.get()
            if item is _END:
                break
            if not isinstance(item, _Frame):
                if item.pts is None and item.dts is None:
                    out.mux(item)  # cover art
                else:
                    held.append(item)
                continue
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(item.pixels), format=self.rgb_format)
            if self.out_rgb:
                frame = frame.reformat(format=self.pix_fmt, interpolation=self.sws)
            else:
                frame = frame.reformat(
                    format=self.pix_fmt,
                    dst_colorspace=c.sws_matrix,
                    dst_color_range=c.color_range,
                    interpolation=self.sws,
                )
            c.apply_to(frame)
            frame.pts, frame.time_base = item.pts, tb
            if item.duration:
                frame.duration = item.duration
            out.mux(vs.encode(frame))
            self.written += 1
            frame_end = (item.pts + item.duration) * tb
            self.last_time = float(frame_end)
            held = self._mux_before(held, frame_end)
            if progress:
                progress(self.written, self.total)
        out.mux(vs.encode(None))
        if not self.stop.is_set():  # complete: the rest of the audio (it may outlast the video) goes in too
            for packet in held:
                out.mux(packet)

    def _mux_before(self, held: list[Any], end: Fraction) -> list[Any]:
        later = []
        for packet in held:
            when = packet.pts if packet.pts is not None else packet.dts
            if when * packet.time_base < end:
                self.output.mux(packet)
            else:
                later.append(packet)
        return later


class _Stopped(Exception):
    """Raised in the main thread when a worker failed; the worker's exception is reported instead."""


def _demux(container: Any, streams: list[Any], job: _Job) -> Any:
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


def _chroma_subsampling(fmt: Any) -> tuple[int, int]:
    if fmt.is_rgb or len(fmt.components) < 3:
        return 1, 1
    return 64 // fmt.chroma_width(64), 64 // fmt.chroma_height(64)

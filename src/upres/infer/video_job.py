"""One `upres video` run: a reader thread decodes, the calling thread upscales in batches, a writer thread encodes.

Only the writer touches the output container. Frames keep their own presentation timestamps in the input's time
base, so variable frame rate survives and audio (copied packet for packet) stays in sync even when a damaged video
packet has to be skipped. Stopping is ordered: the writer drains what was upscaled, flushes the encoder and closes
the container (so an interrupted file plays), then the reader is stopped and joined.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from upres.errors import Terminated
from upres.infer.autotile import retry_halving
from upres.infer.render import download, quantise, upload_planes
from upres.infer.resample import resize_frames
from upres.infer.tiling import Upscaler
from upres.infer.video_output import setup_output
from upres.infer.video_range import expected_frames
from upres.infer.video_read import END, Frame, read_all
from upres.infer.watch import FiniteWatch
from upres.io.names import fitted_name
from upres.io.video import (
    VideoInputError,
    VideoOutputError,
    VideoProbe,
    sws_interpolation,
    video_stream,
)
from upres.io.video_mux import open_output

if TYPE_CHECKING:
    from upres.infer.video import VideoOptions

ProgressFn = Callable[[int, int | None], None]


def partial_path(out: Path) -> Path:
    """`<OUT stem>.partial<suffix>`, the stem shortened when OUT's name is too long to take ".partial"."""
    return out.with_name(fitted_name(out.stem, f".partial{out.suffix}"))


class VideoJob:
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
        self.sws_in = sws_interpolation(to_rgb48=self.deep)  # decoded frames to rgb_format
        # Without --start nothing is dropped or shifted: AAC priming and B-frame delay give negative timestamps.
        # --start and --end count from the file's start, as players and `ffmpeg -ss` do: a recording's timestamps
        # may begin anywhere (an MPEG-TS capture, a cut stream), and were taken as they were.
        self.origin = Fraction(container.start_time, 1_000_000) if container.start_time else Fraction(0)
        self.start = self.origin + Fraction(str(opts.start)) if opts.start is not None else None
        self.end = self.origin + Fraction(str(opts.end)) if opts.end is not None else None
        self.stop = threading.Event()
        # Audio and subtitle packets share the queues with frames (a few per frame), hence the extra room.
        depth = opts.queue_batches * opts.batch + 16
        self.decoded: queue.Queue = queue.Queue(depth)
        self.upscaled: queue.Queue = queue.Queue(depth)
        self.errors: list[BaseException] = []
        self.skipped_packets = 0
        self.damaged_copies = 0  # audio/subtitle packets the demuxer flagged corrupt, copied as they are
        self.resized = False
        self.retimed = 0  # frames moved a tick later: their timestamp was not after the one before
        self.written = 0
        self.tile = opts.tile  # lowered after an out-of-memory, for the rest of the run
        self.model_seconds = self.starved_seconds = 0.0
        self.last_time: float | None = None  # the output's time at the end of its last frame
        self.signum: int | None = None  # the signal that interrupted the run: SIGINT (Ctrl+C) or SIGTERM
        self.total = self._expected_frames()
        self.output = open_output(self.partial, format_of=dst)
        try:
            self.out = setup_output(
                self.output, container, self.vstream, probe, dst, opts, upscaler.scale, self.in_color, matrix,
                note, self.start, self.end,
            )  # fmt: skip
        except BaseException:
            self.output.close()
            self.partial.unlink(missing_ok=True)
            raise

    # --- set-up -------------------------------------------------------------------------------------------

    def _expected_frames(self) -> int | None:
        vs = self.vstream
        # Where the video's first frame is, from the file's start (the audio may begin earlier: AAC priming).
        first = (
            vs.start_time * vs.time_base - self.origin if vs.start_time is not None and vs.time_base else 0
        )
        return expected_frames(self.probe, self.opts.start, self.opts.end, Fraction(first))

    @property
    def position(self) -> float | None:
        """Where the last frame written ends, counted from the input file's start: what --start continues from."""
        if self.last_time is None:
            return None
        # What the output's timestamps had taken off.
        shift = self.start if self.start is not None else Fraction(0)
        return self.last_time + float(shift - self.origin)

    # --- the three stages ---------------------------------------------------------------------------------

    def run(self, progress: ProgressFn | None) -> tuple[int, bool]:
        """Run the three stages; returns (frames written, complete). Ctrl+C gives complete=False."""
        reader = threading.Thread(
            target=self._guard, args=(read_all, self), name="upres-video-read", daemon=True
        )
        writer = threading.Thread(
            target=self._guard, args=(self._write, progress), name="upres-video-write", daemon=True
        )
        complete, failure = False, None
        self.watch = FiniteWatch(self.upscaler)
        try:
            reader.start()
            writer.start()
            self._upscale_all()
            complete = True
        except KeyboardInterrupt as stop:
            # Frames already upscaled are still written below, then the file is closed properly. SIGTERM comes as
            # `Terminated`, a KeyboardInterrupt, when the CLI asked for it.
            self.signum = int(getattr(stop, "signum", signal.SIGINT))
        except _Stopped:
            pass
        except BaseException as exc:
            failure = exc
        finally:
            self.watch.remove()
        if not complete:
            self.stop.set()
        self._finish(writer, reader)
        if failure is None and self.errors:
            failure = self.errors[0]
        if failure is not None:
            self.partial.unlink(missing_ok=True)
            if isinstance(failure, VideoInputError | VideoOutputError):
                raise failure
            if isinstance(failure, av.error.FFmpegError) and "avcodec_open2" in str(failure):
                if self.opts.codec in ("mpeg1video", "mpeg2video"):
                    # Their time base must be a standard frame rate; upres keeps the input's (each frame's own time).
                    raise VideoOutputError(
                        f"{self.dst}: the {self.opts.codec} encoder refused its settings ({failure.strerror}): it "
                        "takes only a standard frame rate as its time base, and upres keeps the input's timestamps; "
                        "no output kept. Use another --codec (libx264, libx265, ffv1)"
                    )
                raise VideoOutputError(
                    f"{self.dst}: the {self.opts.codec} encoder refused its settings ({failure.strerror}); no output "
                    "kept. Try another --pix-fmt, --preset or --crf for it, or another --codec"
                )
            if isinstance(failure, Exception):
                raise VideoOutputError(
                    f"{self.dst}: stopped by {type(failure).__name__}: {failure}; no output kept"
                )
            raise failure
        if self.written == 0:
            self.partial.unlink(missing_ok=True)
            if not complete:
                # Nothing was written, so there is no partial file to talk about.
                raise Terminated if self.signum == signal.SIGTERM else KeyboardInterrupt
            raise VideoInputError(
                f"{self.probe.path}: no video frame could be decoded in the chosen time range"
            )
        return self.written, complete

    def _finish(self, writer: threading.Thread, reader: threading.Thread) -> None:
        # The writer drains what is queued (so an interrupted file still gets every finished frame), flushes the
        # encoder and only then is the container closed, which writes the index a player needs.
        try:
            while writer.ident is not None and writer.is_alive():
                try:
                    self.upscaled.put(END, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if writer.ident is not None:
                writer.join()
        finally:
            # Also after a second Ctrl+C: the input container is closed by the caller, so the reader must be
            # out of FFmpeg first (it stops at its next packet).
            self.stop.set()
            if reader.ident is not None:
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

    def put(self, q: queue.Queue, item: Any) -> bool:
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

    def _upscale_all(self) -> None:
        pending: list[Any] = []
        frames = 0
        while True:
            t0 = time.perf_counter()
            item = self._get(self.decoded)
            self.starved_seconds += time.perf_counter() - t0
            if item is END:
                break
            if not isinstance(item, Frame):
                # Copied packets need no model: on at once, so that a Ctrl+C during the next model call still has
                # them in the writer, which keeps those before the end of its last frame.
                if not self.put(self.upscaled, item):
                    raise _Stopped
                continue
            pending.append(item)
            frames += 1
            if frames == self.opts.batch:
                self._flush(pending)
                pending, frames = [], 0
        self._flush(pending)

    def _flush(self, frames: list[Frame]) -> None:
        if frames:
            peak = 65535.0 if self.deep else 255.0
            # As for images: frames go up as 8/16-bit levels and come back quantised on the model's device; a float32
            # x4 frame is 4x the bytes of its levels, and rounding it on the CPU held up the model's thread.
            x = upload_planes(np.stack([f.pixels for f in frames]), self.upscaler.device).div_(peak)
            if self.opts.model_channels == 1:
                x = x.reshape(-1, 1, *x.shape[-2:])  # each colour plane as a gray frame
            t0 = time.perf_counter()
            at = float(frames[0].pts * self.probe.time_base)

            def run(tile: int) -> Any:
                self.watch.reset()
                return self.upscaler(x, tile, self.opts.overlap)

            def smaller(tile: int) -> None:
                # One OOM (a large frame, another process on the GPU) ended the run and deleted every frame encoded.
                self.tile = tile
                self.note(
                    f"{self.probe.path}: out of memory at {at:.3f} s; upscaling in tiles of {tile} from there on "
                    f"(--tile {tile} starts that way)"
                )

            y = retry_halving(run, self.tile, max(x.shape[-2:]), smaller)
            if self.watch.tripped():
                raise VideoOutputError(
                    f"{self.dst}: the model's output is not finite (NaN or infinity) for the frame at {at:.3f} s, "
                    "so it would be black or garbage; no output kept. Try --precision fp32, or another model"
                )
            self.model_seconds += time.perf_counter() - t0
            y = y.reshape(len(frames), 3, *y.shape[-2:])
            size = (self.out.stream.height, self.out.stream.width)
            if y.shape[-2:] != size:  # --outscale
                y = resize_frames(y, size)
            out = download(quantise(y, peak).permute(0, 2, 3, 1).contiguous())
            # Copied out of the pinned buffer: frames are dropped in the writer's thread, and freeing pinned memory
            # records a CUDA event there, which would break a CUDA graph being recorded here (--compile).
            out = out.astype(np.uint16) if self.deep else out.copy()
            for f, pixels in zip(frames, out, strict=True):
                f.pixels = pixels
        for frame in frames:
            if not self.put(self.upscaled, frame):
                raise _Stopped

    def _write(self, progress: ProgressFn | None) -> None:
        tb, out, vs = self.probe.time_base, self.output, self.out.stream
        c = self.out.color
        # Copied packets wait until a frame at or after their time is written: an interrupted file then ends
        # with audio up to its last frame and no further, and `--start <that time>` continues without overlap.
        held: list[Any] = []
        written_end: Fraction | None = None
        last_pts: int | None = None
        self._write_header()
        while True:
            item = self.upscaled.get()
            if item is END:
                break
            if not isinstance(item, Frame):
                if item.pts is None and item.dts is None:
                    out.mux(item)  # cover art
                else:
                    held.append(item)
                    if written_end is not None:  # it may come after the frame that covers its time
                        held = self._mux_before(held, written_end)
                continue
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(item.pixels), format=self.rgb_format)
            if self.out.rgb:
                frame = frame.reformat(format=self.out.pix_fmt, interpolation=self.sws)
            else:
                frame = frame.reformat(
                    format=self.out.pix_fmt,
                    dst_colorspace=c.sws_matrix,
                    dst_color_range=c.color_range,
                    interpolation=self.sws,
                )
            c.apply_to(frame)
            if last_pts is not None and item.pts <= last_pts:
                # Two frames at one time (a variable-rate file rounded onto a coarse time base): MP4 and MOV refuse
                # a timestamp that does not increase, at the first one, with "Invalid argument".
                if not self.retimed:
                    self.note(
                        f"{self.probe.path}: the frame at {float(item.pts * tb):.3f} s has the timestamp of the one "
                        f"before; it and any like it are moved one tick ({tb} s) later"
                    )
                self.retimed += 1
                item.pts = last_pts + 1
            last_pts = item.pts
            frame.pts, frame.time_base = item.pts, tb
            if item.duration:
                frame.duration = item.duration
            out.mux(vs.encode(frame))
            self.written += 1
            written_end = (item.pts + item.duration) * tb
            self.last_time = float(written_end)
            held = self._mux_before(held, written_end)
            if progress:
                progress(self.written, self.total)
        out.mux(vs.encode(None))
        if not self.stop.is_set():  # complete: the rest of the audio (it may outlast the video) goes in too
            for packet in held:
                out.mux(packet)

    def _write_header(self) -> None:
        """The header first, so that a muxer refusing the video codec is named as such. Copied streams were each
        tried in a header of this container before the run (video_mux.stream_fits), so here it is the video: FFmpeg's
        MOV muxer lists VP9 and AV1 and refuses them when the header is written ('Invalid argument' on the partial
        file was all that was said)."""
        try:
            self.output.start_encoding()
        except av.error.FFmpegError as exc:
            if "avcodec_open2" in str(exc):
                raise  # the encoder's own refusal of its settings: explained by `run`
            codec = self.out.stream.codec_context.codec.canonical_name
            raise VideoOutputError(
                f"{self.dst.suffix} cannot hold video codec {codec} (FFmpeg's muxer refused it: "
                f"{exc.strerror or exc}); use .mkv, or another --codec"
            ) from None

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

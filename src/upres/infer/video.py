"""The video runner: decode -> upscale in batches -> encode, three stages overlapped with bounded queues.

A reader thread demuxes the input, decodes video to RGB arrays (8 or 16 bit) and passes every other packet
through untouched; the calling thread batches frames through the `Upscaler`; a writer thread converts back to the
encoder's YUV with the input's matrix and range, encodes and muxes (`video_job`; the output's streams are set up
in `video_output`).

The output is written to `<OUT stem>.partial<suffix>` and renamed to OUT only when everything was written; after
Ctrl+C the partial file is closed properly (playable) and left under that name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import av

from upres.infer.tiling import Upscaler
from upres.infer.video_job import ProgressFn, VideoJob, partial_path
from upres.io.file_lock import claim
from upres.io.video import (
    VideoOutputError,
    display_matrix,
    ffmpeg_name,
    open_input,
    probe_container,
    video_stream,
)
from upres.io.video_kept import lost_tags
from upres.io.video_mux import TIMING_LOST, container_format

__all__ = ["VideoOptions", "VideoResult", "partial_path", "upscale_video"]

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
    replace: bool = (
        False  # a file that is at the output when the run finishes is replaced (--force), else kept
    )
    # 1: a gray model, run on each colour plane as its own gray image, as `upres upscale` does with RGB images
    model_channels: int = 3
    outscale: float | None = (
        None  # the output's scale if not the model's: the frames resized on the model's device
    )


@dataclass
class VideoResult:
    path: Path  # OUT when complete, the partial file otherwise
    frames: int
    complete: bool
    skipped_packets: int = 0
    seconds: float = 0.0
    last_time: float | None = None  # the output's time (s) at the end of the last frame written
    position: float | None = None  # the same moment counted from the input file's start, as --start counts
    model_seconds: float = 0.0  # wall time spent in model calls
    starved_seconds: float = 0.0  # wall time the model waited for decoded frames: > 0 means decoding lags
    warnings: list[str] = field(default_factory=list)
    missing_frames: int = 0  # announced by the header but not decoded (a truncated file); 0 when not known
    damaged_copies: int = 0  # copied (audio, subtitle) packets the demuxer flagged damaged, e.g. cut short
    signum: int | None = None  # what interrupted an incomplete run: SIGINT (Ctrl+C) or SIGTERM


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

    hidden = 0

    def note(msg: str) -> None:
        nonlocal hidden
        warnings.append(msg)
        if warn and len(warnings) <= MAX_WARNINGS_SHOWN:
            warn(msg)
        elif warn:
            hidden += 1

    if dst.is_dir():
        raise VideoOutputError(f"{dst}: is a folder; give the output file's name, e.g. {dst / src.stem}.mkv")
    if _same_file(src, dst):
        raise VideoOutputError(f"{dst}: output is the input file; choose another output path")
    if _same_file(src, partial_path(dst)):
        raise VideoOutputError(
            f"{dst}: the run writes to {partial_path(dst)} until it ends, which is the input file; choose another "
            "output name"
        )
    if opts.batch < 1:
        raise VideoOutputError(f"--batch {opts.batch}: must be at least 1")
    if opts.outscale is not None and not 0 < opts.outscale < float("inf"):
        raise VideoOutputError(f"--outscale {opts.outscale}: must be a number greater than 0")
    if opts.start is not None and opts.end is not None and opts.end <= opts.start:
        raise VideoOutputError(f"--end {opts.end} is not after --start {opts.start}")
    _check_encoder(opts.codec)
    if container_format(dst) in TIMING_LOST:  # also: no extension, an unknown one; before anything is decoded
        raise VideoOutputError(
            f"{dst}: {TIMING_LOST[container_format(dst)]}; use .mkv or .mp4, which keep them"
        )

    started = time.perf_counter()
    container = open_input(src)
    lock = None
    try:
        probe = probe_container(container, src)
        if probe.has_alpha:
            note(f"{src}: the alpha channel of {probe.pix_fmt} video is dropped")
        matrix = _first_display_matrix(src)
        lock = _claim_partial(partial_path(dst), dst)
        job = VideoJob(upscaler, container, probe, dst, opts, matrix, note)
        frames, complete = job.run(progress)
        if complete:
            for line in lost_tags(container, job.out.mapping, job.partial, container_format(dst), dst.suffix):
                note(line)
            _move_into_place(job.partial, dst, opts.replace)
    except BaseException:
        if lock is not None and partial_path(dst).is_file() and partial_path(dst).stat().st_size == 0:
            partial_path(dst).unlink(missing_ok=True)  # claimed, never written
        raise
    finally:
        container.close()
        if lock is not None:
            lock.close()
    whole = complete and opts.start is None and opts.end is None
    missing = _missing_frames(probe.announced_frames, frames) if whole else 0
    # Matroska/WebM tag the video track's duration, not its frame count: a damaged middle can end the decode early
    # without an error from the demuxer (48 frames of 2 s came out as 18). Compared by time, which variable frame
    # rates do not disturb; 10% slack.
    tagged = probe.tagged_duration if probe.announced_frames is None else None
    ended = job.position
    if whole and not missing and tagged and ended is not None and ended < 0.9 * tagged:
        missing = max(1, round((tagged - ended) * probe.rate)) if probe.rate else 1
        short = (
            f"{src}: decoded {frames} frames, {ended:.2f} s of the {tagged:.2f} s its container announces; the file "
            f"looks truncated or damaged, and the output holds the {frames}"
        )
    elif missing:
        short = (
            f"{src}: decoded {frames} of the {probe.announced_frames} frames its header announces; the file looks "
            f"truncated or damaged, and the output holds the {frames}"
        )
    if warn and hidden:  # said whatever else happened (it was only when video packets were skipped)
        warn(f"... {hidden} more warnings")
    if missing:
        warnings.append(short)
        if warn:
            warn(short)
    skipped = job.skipped_packets
    if skipped:
        warn_total = (
            f"{src}: skipped {skipped} damaged video packet(s); audio and subtitles kept their timing"
        )
        warnings.append(warn_total)
    return VideoResult(
        path=dst if complete else job.partial,
        frames=frames,
        complete=complete,
        skipped_packets=skipped,
        seconds=time.perf_counter() - started,
        last_time=job.last_time,
        position=job.position,
        model_seconds=job.model_seconds,
        starved_seconds=job.starved_seconds,
        warnings=warnings,
        missing_frames=missing,
        damaged_copies=job.damaged_copies,
        signum=job.signum,
    )


def _claim_partial(partial: Path, dst: Path) -> IO:
    """Lock the partial file for this run: two runs into one output wrote one file and both said they made it."""
    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        lock = claim(partial)
    except (FileExistsError, NotADirectoryError):
        raise VideoOutputError(
            f"{dst}: cannot write there (cannot create the folder {partial.parent}: a file is in the way); choose "
            "another place"
        ) from None
    except OSError as exc:
        raise VideoOutputError(
            f"{dst}: cannot write there ({exc.strerror or exc}); choose another place"
        ) from None
    if lock is None:
        raise VideoOutputError(busy_text(partial))
    return lock


def busy_text(partial: Path) -> str:
    return f"{partial}: another upres video is writing it now; wait for it to end, or choose another output"


def _move_into_place(partial: Path, dst: Path, replace: bool) -> None:
    """The finished file to OUT. Without `replace`, a file that appeared at OUT during the run (the check before the
    run found none) stays: the move is a hard link, which never replaces, where the file system has them."""
    if not replace:
        try:
            os.link(partial, dst)
        except OSError as exc:
            # FileExistsError, or no hard links here (FAT, some network shares): then the same check, with a race
            if isinstance(exc, FileExistsError) or dst.exists():
                raise VideoOutputError(
                    f"{dst}: a file appeared there while this run worked and is kept; the finished video is "
                    f"{partial}: move it where you want it, or rerun with --force to replace the file"
                ) from None
        else:
            partial.unlink()
            return
    os.replace(partial, dst)


def _missing_frames(announced: int | None, decoded: int) -> int:
    """Frames the header announced that never came. An edit list can hide a frame or two of an intact file,
    hence the slack; a truncated download misses far more. (Matroska and WebM announce no count: the caller
    compares with duration x rate there.)"""
    if not announced or decoded >= announced - max(2, announced // 50):
        return 0
    return announced - decoded


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
    with av.open(ffmpeg_name(src)) as peek:
        try:
            for frame in peek.decode(video_stream(peek)):
                return display_matrix(frame)
        except av.error.FFmpegError:
            return None
    return None

"""`upres video`: upscale a video, keeping audio, subtitles, attachments, chapters, timing and color tags."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from upres.cli.argtypes import non_negative_int, output_path, positive_float, positive_int
from upres.cli.json_out import json_text
from upres.cli.overwrite import add_force, refuse_existing
from upres.doc_pages import doc_page
from upres.errors import ConfigError

if TYPE_CHECKING:
    from upres.infer.video import VideoResult

EXAMPLE = f"""\
examples:
  upres video -m 2x_compact.safetensors clip.mp4 -o clip_x2.mkv
  upres video -m model.pth in.mkv -o out.mkv --codec libx265 --crf 18 --preset slow --batch 4
  upres video -m model.pth in.mp4 -o first_10s.mp4 --end 10
  upres video -m model.pth in.mkv -o lossless.mkv --codec ffv1 --pix-fmt bgr0

The output is written as OUT's stem + '.partial' + suffix and renamed to OUT when complete; after Ctrl+C the
partial file is closed properly (playable) and kept under that name; SIGTERM stops it the same way (exit 143).
Details: {doc_page("video.md")}
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video",
        help="upscale a video, keeping every other stream and the timing",
        description="Upscale the first video stream of IN with a model; audio, subtitle and attachment streams, "
        "chapters, timestamps (variable frame rate too), rotation and color tags are carried to OUT.\n\n"
        + EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IN", help="input video")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        required=True,
        type=output_path,
        help="output video; its extension picks the container",
    )
    p.add_argument("-m", "--model", required=True, help="model file (.safetensors or .pth)")
    p.add_argument(
        "--codec",
        default="libx264",
        help="video encoder: libx264, libx265, libsvtav1, ffv1, ... (default libx264)",
    )
    p.add_argument("--crf", type=non_negative_int, help="quality for crf-based encoders (lower is better)")
    p.add_argument(
        "--preset", help="encoder preset, e.g. veryfast, medium, slow (x264/x265) or 0-13 (SVT-AV1)"
    )
    p.add_argument(
        "--pix-fmt", help="output pixel format (default: the input's, or the same bit depth the codec takes)"
    )
    p.add_argument(
        "--tile", default="auto", help="tile size in input pixels: auto, 0 (whole frame) or N (default auto)"
    )
    p.add_argument(
        "--tile-overlap",
        type=non_negative_int,
        default=16,
        help="blended overlap in input pixels, in 2x2/4x4 cells for 1x/2x ESRGAN models (default 16)",
    )
    p.add_argument(
        "--outscale",
        type=positive_float,
        help="the output's scale if not the model's, e.g. 2 with a 4x model: the frames are resized (bicubic, "
        "antialiased) on the model's device; sides rounded to what the pixel format takes (even for 4:2:0)",
    )
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    add_force(p)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model (CUDA graphs on a GPU): faster for many same-size tiles or frames, after a "
        "compile of up to a minute per input shape; falls back to eager if compiling fails",
    )
    p.add_argument("--batch", type=positive_int, default=1, help="frames per model call (default 1)")
    p.add_argument(
        "--codec-threads",
        type=non_negative_int,
        default=0,
        help="decoder and encoder threads (default 0: FFmpeg's choice); 1 leaves the cores to a CPU model",
    )
    p.add_argument("--start", type=parse_time, help="start time: seconds or [HH:]MM:SS[.ms]")
    p.add_argument("--end", type=parse_time, help="end time (exclusive): seconds or [HH:]MM:SS[.ms]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON: the file written, its frames, and its duration and streams as read back "
        "from it, the warnings and the exit code (no progress display)",
    )
    p.set_defaults(func=run)


def resume_time(seconds: float) -> float:
    """Where a continuation starts, in whole milliseconds, rounded down: rounded up past the next frame's time,
    `--start` left that frame out of both parts (the 1e-6 keeps 0.131 from becoming 0.130 by float error)."""
    return math.floor(seconds * 1000 + 1e-6) / 1000


def parse_time(text: str) -> float:
    try:
        parts = [float(x) for x in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time: use seconds or [HH:]MM:SS[.ms]") from None
    if not 1 <= len(parts) <= 3 or any(not 0 <= x < math.inf for x in parts):  # nan and inf too
        raise argparse.ArgumentTypeError(f"{text!r} is not a time: use seconds or [HH:]MM:SS[.ms]")
    seconds = 0.0
    for x in parts:
        seconds = seconds * 60 + x
    return seconds


def _tile(text: str, pixels: int, device_type: str) -> int:
    if text == "auto":
        # Whole frames are fastest; tile only frames big enough to risk running out of memory.
        return 0 if pixels <= (4_000_000 if device_type == "cuda" else 2_000_000) else 512
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"--tile {text}: use auto, 0 or a size in pixels") from None
    if value < 0:
        raise ConfigError(f"--tile {text}: must be 0 or positive")
    return value


def run(args: argparse.Namespace) -> int:
    from upres.io.video import probe_video, require_av

    _check_crf(args.crf, args.codec)
    _check_preset(args.preset, args.codec)
    require_av()  # before the modules that import it

    from upres.devices import resolve_single_device
    from upres.infer.tiling import Upscaler, resolve_precision
    from upres.infer.video import VideoOptions, busy_text, partial_path, upscale_video
    from upres.io.file_lock import in_use
    from upres.io.model_files import check_finite_weights, load_model

    if Path(args.output).resolve() != Path(args.input).resolve():  # that case has its own error, below
        refuse_existing(args.output, args.force)
        partial = partial_path(Path(args.output))
        if in_use(partial):
            raise ConfigError(busy_text(partial))
        if partial.is_file() and not args.force and partial.resolve() != Path(args.input).resolve():
            # What an interrupted run kept (its message says to continue from it): this run would write over it
            # and rename it to OUT.
            raise ConfigError(
                f"{partial}: the partial output of an interrupted run is there; move it away to keep it, or add "
                "--force to replace it"
            )
    probe = probe_video(args.input)  # fails fast on a bad input before the model is loaded
    device = resolve_single_device(args.device)
    loaded = load_model(args.model, device="cpu")
    check_finite_weights(loaded, args.model)
    for note in loaded.notes:
        print(f"note: {note}", file=sys.stderr)
    info = loaded.info
    if (info.in_channels, info.out_channels) not in ((3, 3), (1, 1)):
        raise ConfigError(
            f"{args.model}: video needs a model that takes and gives 3 channels (RGB) or 1 (gray); this one takes "
            f"{info.in_channels} and gives {info.out_channels}"
        )
    try:
        dtype = resolve_precision(args.precision, device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    upscaler = Upscaler(
        loaded.module, info.scale, device, dtype, max(1, info.size_multiple), compile=args.compile
    )
    opts = VideoOptions(
        codec=args.codec,
        crf=args.crf,
        preset=args.preset,
        pix_fmt=args.pix_fmt,
        tile=_tile(args.tile, probe.width * probe.height * args.batch, device.type),
        overlap=args.tile_overlap,
        batch=args.batch,
        start=args.start,
        end=args.end,
        codec_threads=args.codec_threads,
        replace=args.force,
        model_channels=info.in_channels,
        outscale=args.outscale,
    )
    from upres.data.prepare_jobs import sigterm_as_interrupt

    # SIGTERM (docker stop, a scheduler) ended the process at once: an MP4's partial file had no index and did not
    # play, with no word said. It now stops the run as Ctrl+C does, with exit 143.
    with sigterm_as_interrupt(), Progress(quiet=args.quiet or args.json) as progress:
        result = upscale_video(upscaler, args.input, args.output, opts, progress.update, warn=_warn)
    code = _report(args, result)
    if args.json:
        print(json_text(result_dict(args.input, result, code)))
    return code


def _report(args: argparse.Namespace, result: VideoResult) -> int:
    """The closing lines (the summary on stdout unless --json) and the exit code."""
    if not result.complete:
        end = resume_time(result.position or 0.0)
        at = f" (ends at {end:.3f} s)" if result.position is not None else ""
        print(
            f"interrupted: {result.path} is a partial output with {result.frames} frames{at}; it plays, but "
            f"{args.output} was not written. Resuming is not supported (see {doc_page('video.md')}): continue with "
            f"--start {end:.3f} into another file",
            file=sys.stderr,
        )
        return 128 + (result.signum or signal.SIGINT)
    if not args.json:
        fps = result.frames / result.seconds if result.seconds else 0.0
        print(f"{result.path}: {result.frames} frames in {result.seconds:.1f} s ({fps:.2f} fps)")
    if result.skipped_packets:
        print(f"warning: {result.warnings[-1]}", file=sys.stderr)
        return 1
    return 1 if result.missing_frames or result.damaged_copies else 0


def result_dict(src: str, result: VideoResult, code: int) -> dict:
    """What --json prints. Duration and streams are read back from the file written, not taken from the input."""
    from upres.io.video import probe_video

    written = probe_video(result.path)
    return {
        "input": str(src),
        "output": str(result.path),
        "complete": result.complete,
        "exit_code": code,
        "frames": result.frames,
        "duration": round(written.duration, 6) if written.duration is not None else None,
        "size": [written.width, written.height],
        "pix_fmt": written.pix_fmt,
        "codec": written.codec,
        "streams": [
            {"index": s.index, "type": s.type, "codec": s.codec, "language": s.language, "title": s.title}
            for s in written.streams
        ],
        "ends_at": resume_time(result.position) if result.position is not None else None,
        "seconds": round(result.seconds, 3),
        "model_seconds": round(result.model_seconds, 3),
        "warnings": result.warnings,
        "skipped_packets": result.skipped_packets,
        "missing_frames": result.missing_frames,
        "damaged_copies": result.damaged_copies,
    }


# Highest CRF (worst quality) of the encoders that have one; FFmpeg would clamp or ignore a value out of range.
CRF_MAX = {"libx264": 51, "libx264rgb": 51, "libx265": 51, "libvpx": 63, "libvpx-vp9": 63, "libaom-av1": 63,
           "libsvtav1": 63}  # fmt: skip


def _check_crf(crf: int | None, codec: str) -> None:
    if crf is None:
        return
    top = CRF_MAX.get(codec)
    if top is None:
        _warn(f"--crf is passed to {codec} as its 'crf' option; an encoder without one ignores it")
    elif crf > top:
        raise ConfigError(f"--crf {crf}: {codec} takes 0-{top} (lower is better quality)")


X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)


def _check_preset(preset: str | None, codec: str) -> None:
    """x264/x265 presets by name, SVT-AV1's by number, before anything is decoded (the encoder's refusal came as
    avcodec_open2's errno)."""
    if preset is not None and codec in ("libx264", "libx265") and preset not in X26X_PRESETS:
        raise ConfigError(f"--preset {preset}: {codec} takes {', '.join(X26X_PRESETS)}")
    if preset is not None and codec == "libsvtav1" and preset not in [str(n) for n in range(-1, 14)]:
        raise ConfigError(f"--preset {preset}: libsvtav1 takes a number from -1 (slowest) to 13 (fastest)")
    if (
        preset is not None
        and codec not in ("libx264", "libx265", "libsvtav1")
        and not codec.endswith(("_nvenc", "_qsv"))
    ):
        _warn(f"--preset is passed to {codec} as its 'preset' option; an encoder without one ignores it")


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


class Progress:
    """Frames, fps and ETA: a rich bar on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, quiet: bool = False, every: float = 5.0) -> None:
        self.quiet, self.every = quiet, every
        self.tty = sys.stderr.isatty()
        self._bar = None
        self._task = None
        self._t0 = time.perf_counter()
        self._last = 0.0

    def __enter__(self) -> Progress:
        if not self.quiet and self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("upscaling"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[fps]:.2f} fps"),
                TimeRemainingColumn(),
                # On the stream the choice was made by: drawn on stdout, `> summary.txt` showed nothing all run.
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("video", total=None, fps=0.0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, done: int, total: int | None) -> None:
        if self.quiet:
            return
        if total is not None and done > total:  # the frame count from the header was an estimate
            total = None
        elapsed = time.perf_counter() - self._t0
        fps = done / elapsed if elapsed > 0 else 0.0
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total, fps=fps)
            return
        if elapsed - self._last < self.every and done not in (1, total):
            return
        self._last = elapsed
        of = f"/{total}" if total else ""
        eta = f", ETA {format_eta((total - done) / fps)}" if total and fps > 0 and total > done else ""
        print(f"frames {done}{of}, {fps:.2f} fps{eta}", file=sys.stderr, flush=True)


def format_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"

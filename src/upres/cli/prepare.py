"""`upres prepare chunk|lr|tiff`: dataset preparation (sub-images, LR copies, tiled TIFFs); resumable, multi-process."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from upres.cli.argtypes import non_negative_int, output_path, positive_int
from upres.errors import UpresError, one_line

if TYPE_CHECKING:
    from upres.data.prepare_jobs import PrepareResult

EXAMPLE = """examples:
  upres prepare chunk photos/ -o photos_sub --size 512 --step 256 --min-size 128
  upres prepare lr photos_sub -o photos_sub_x4 --scale 4
  upres prepare tiff photos/ -o photos_tiled"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="cut images into sub-images, make LR copies or tiled TIFFs (resumable)",
        description="Prepares training folders. Finished outputs are skipped, so a rerun resumes; Ctrl+C (exit 130) "
        "or SIGTERM (exit 143) stops it at once, leaving only whole files.\n\n" + EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    c = _kind(
        kinds,
        "chunk",
        "cut images into overlapping size x size sub-images",
        "Cuts every image under SRC into SIZE x SIZE tiles every STEP pixels (edge tile added when the "
        "remainder exceeds MIN_SIZE), named <stem>_s001.png ...\n\nexample: upres prepare chunk photos/ -o photos_sub",
    )
    c.add_argument("--size", type=positive_int, default=512)
    c.add_argument("--step", type=positive_int, default=256)
    c.add_argument(
        "--min-size", type=non_negative_int, default=128, help="smallest remainder/image still worth a tile"
    )
    lr = _kind(
        kinds,
        "lr",
        "write MATLAB-bicubic LR copies",
        "Writes imresize(gt, 1/SCALE) of every image under SRC (GT cropped to a multiple of SCALE), "
        "same relative paths; with -c, the option file's on-the-fly degradation pipeline instead.\n\n"
        "examples:\n  upres prepare lr photos_sub -o photos_sub_x4 --scale 4\n  upres prepare lr photos_sub -o photos_sub_otf -c otf.yml --seed 1",
    )
    lr.add_argument(
        "-s", "--scale", type=positive_int, default=None, help="default: the option file's scale, else 4"
    )
    lr.add_argument("-c", "--config", default=None, help="option file: LR made by its degradation pipeline")
    lr.add_argument(
        "--seed", type=int, default=0, help="with -c: seed of the degradations (per file, reproducible)"
    )
    t = _kind(
        kinds,
        "tiff",
        "copy images to tiled TIFFs, so training reads only each crop",
        "Writes a lossless tiled TIFF of every image under SRC (same relative paths and stems, .tif; "
        "EXIF orientation applied; bit depth, alpha and ICC profile kept). Training then decodes only the tiles "
        "under each random crop instead of the whole image: the alternative to `prepare chunk` for large "
        "photos that keeps one file per image and lets crops fall anywhere.\n\n"
        "example: upres prepare tiff photos/ -o photos_tiled",
    )
    t.add_argument(
        "--tile", type=positive_int, default=128, help="tile width and height, a multiple of 16 (default 128)"
    )
    t.add_argument(
        "--compression",
        default="zlib",
        choices=["zlib", "zstd", "lzw", "none"],
        help="lossless codec (default zlib, which every TIFF reader has)",
    )


def _kind(
    kinds: argparse._SubParsersAction, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    """A `prepare` kind with the arguments all kinds share: SRC, -o DST, -j."""
    k = kinds.add_parser(
        name, help=summary, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    k.add_argument("src", metavar="SRC")
    k.add_argument("-o", "--output", required=True, type=output_path, metavar="DST")
    k.add_argument(
        "-j", "--workers", type=positive_int, default=None, help="processes (default: CPU count, at most 8)"
    )
    k.set_defaults(func=run)
    return k


def run(args: argparse.Namespace) -> int:
    from upres.data.prepare import (
        check_tiff_settings,
        iter_progress_lines,
        prepare_chunks,
        prepare_lr,
        prepare_tiff,
    )
    from upres.infer.discover import check_writable

    if not Path(args.src).exists():
        raise UpresError(f"{args.src}: no such file or folder")
    if args.kind == "chunk":
        if args.step > args.size:
            print(
                f"note: --step {args.step} is more than --size {args.size}: a {args.step - args.size} px band between "
                "tiles is left out of every image (a step of half the size overlaps them, as BasicSR does)",
                file=sys.stderr,
            )
        job = lambda progress: prepare_chunks(  # noqa: E731
            args.src, args.output, args.size, args.step, args.min_size, args.workers, progress
        )
    elif args.kind == "tiff":
        check_tiff_settings(args.tile, args.compression)
        job = lambda progress: prepare_tiff(  # noqa: E731
            args.src, args.output, args.tile, args.compression, args.workers, progress
        )
    else:
        degradations, scale = None, args.scale
        if args.config is not None:
            from upres.data.degrade_preview import load_degradation_file

            loaded = load_degradation_file(args.config)
            degradations = loaded.options.model_dump()
            scale = scale or loaded.scale
        scale = scale or 4
        job = lambda progress: prepare_lr(  # noqa: E731
            args.src, args.output, scale, args.workers, progress, degradations, args.seed
        )
    check_writable(
        Path(args.output), keep_made=False
    )  # a later refusal (two sources, one name) leaves no folder
    from upres.data.prepare_jobs import PrepareInterrupted, sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            # As upscale's: the bar on stderr when it is a terminal, so `> list.txt` keeps the results only.
            bar = sys.stderr is not None and sys.stderr.isatty()
            result = _with_progress_bar(job, args.kind) if bar else job(iter_progress_lines())
    except KeyboardInterrupt as stop:
        if isinstance(stop, PrepareInterrupted):
            _report(args, stop.result, interrupted=True)
        else:  # before any source was started
            print("interrupted", file=sys.stderr)
        return 128 + int(getattr(stop, "signum", signal.SIGINT))
    if not (result.done or result.skipped or result.small or result.failed):
        from upres.io.image_files import other_files_hint

        raise UpresError(f"{args.src}: no images found{other_files_hint([args.src])}")
    return _report(args, result)


def _report(args: argparse.Namespace, result: PrepareResult, interrupted: bool = False) -> int:
    """The summary line, the sources left out as too small and the failures; the exit code these give. After an
    interruption the summary comes last, on stderr, as "interrupted: ..."."""
    counts = (
        f"{result.done} done, {result.skipped} already finished, {result.small} too small, "
        f"{len(result.failed)} failed; {result.written} files written to {args.output}"
    )
    if not interrupted:
        print(one_line(counts))
    # An LR folder missing some GT's partner stops training (missing_lr): for `lr` a small image is an error; for
    # `chunk` leaving it out is what --min-size asks for.
    small_is_error = args.kind == "lr"
    for path, note in result.notes:
        print(one_line(f"note: {path}: {note}"))
    for path, why in result.too_small:
        print(one_line(f"small: {path}: {why}"), file=sys.stderr if small_is_error else sys.stdout)
    for path, reason in result.failed:
        reason = reason.removeprefix(f"{path}: ")  # read errors name their file already
        print(one_line(f"failed: {path}: {reason}"), file=sys.stderr)
    if interrupted:
        left = result.total - result.done - result.skipped - result.small - len(result.failed)
        print(
            one_line(
                f"interrupted: {counts.replace(' files written', ' files written by them')}; {left} of "
                f"{result.total} sources not finished: run the same command again to go on"
            ),
            file=sys.stderr,
        )
    return 1 if result.failed or (small_is_error and result.too_small) else 0


def _with_progress_bar(job: Callable[[Callable], PrepareResult], kind: str) -> PrepareResult:
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True)) as bar:
        task = bar.add_task(f"prepare {kind}", total=None)

        def progress(i: int, total: int, path: str, status: str) -> None:
            bar.update(task, completed=i, total=total)
            if status == "failed":
                bar.console.print(f"failed: {one_line(path)}", markup=False, highlight=False)

        return job(progress)

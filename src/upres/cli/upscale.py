"""`upres upscale`: run a model over image files and folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from upres.cli.argtypes import output_path
from upres.cli.json_out import json_text
from upres.doc_pages import doc_page

EXAMPLE = f"""examples:
  upres upscale -m 4x_model.safetensors photos/ -o photos_x4
  upres upscale -m 4x_model.safetensors photo.jpg -o photo_x4.png
  upres upscale -m 4x_model.pth scan.tif -o out --outscale 2 --tile 256
  upres upscale -m 2x.safetensors sprites/ -o out --format png --alpha resize --skip-existing

Exit code 0 when every file succeeded (skipped files count as success), 1 when some failed, 2 for bad usage or an
unreadable model. See {doc_page("upscale.md")} for alpha, 16-bit, ICC and tiling details."""


def _tile(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        tile = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r}: use auto, 0 (whole image) or a tile size in pixels"
        ) from None
    if tile < 0:
        raise argparse.ArgumentTypeError(f"{value!r}: a tile size cannot be negative")
    return tile


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale",
        help="upscale image files and folders with a model",
        description="Upscale images with a super-resolution model; folders are searched recursively and their "
        "structure is mirrored under the output folder.\n\n" + EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-m", "--model", required=True, type=Path, help="model file (.safetensors, .pth)")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files and/or folders")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=output_path,
        help="output folder; for one input image, an image file name (its suffix picks the format)",
    )
    p.add_argument(
        "--tile",
        type=_tile,
        default="auto",
        help="auto (largest that fits memory), 0 (whole image) or pixels",
    )
    p.add_argument(
        "--tile-overlap",
        type=int,
        default=16,
        help="blended overlap in input pixels, in 2x2/4x4 cells for 1x/2x ESRGAN models (default 16)",
    )
    p.add_argument("--outscale", type=float, help="final scale factor if not the model's (Lanczos resample)")
    p.add_argument("--format", default="same", choices=["same", "png", "jpg", "webp", "tiff"])
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda (all GPUs), cuda:N or a comma list")
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model (CUDA graphs on a GPU): faster for many same-size tiles or frames, after a "
        "compile of up to a minute per input shape; falls back to eager if compiling fails",
    )
    p.add_argument("--skip-existing", action="store_true", help="leave files whose output already exists")
    p.add_argument(
        "--alpha",
        default="model",
        choices=["model", "resize", "discard"],
        help="alpha: through the model as gray (default), Lanczos resize, or drop it",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="refuse inputs with more pixels than this (decompression bombs); default 100000000, 0: no limit",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only failures and files with a note (e.g. only a first frame)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the summary (per-file status, reason and finish time, seconds per pipeline stage) as JSON",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.infer.batch import DEFAULT_MAX_PIXELS, UpscaleOptions, run_batch
    from upres.infer.progress import BatchProgress

    opts = UpscaleOptions(
        model=args.model,
        inputs=list(args.inputs),
        output=args.output,
        tile=args.tile,
        overlap=args.tile_overlap,
        outscale=args.outscale,
        format=args.format,
        quality=args.quality,
        precision=args.precision,
        device=args.device,
        compile=args.compile,
        skip_existing=args.skip_existing,
        alpha=args.alpha,
        max_pixels=DEFAULT_MAX_PIXELS if args.max_pixels is None else (args.max_pixels or None),
    )
    with BatchProgress(quiet=args.quiet or args.json) as progress:
        summary = run_batch(opts, progress, progress.start)
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(json_text(summary_dict(summary)))
    elif not args.quiet:
        print("\n".join(summary.lines()))
    return summary.exit_code


def summary_dict(summary) -> dict:
    return {
        "done": summary.count("done"),
        "skipped": summary.count("skipped"),
        "failed": summary.count("failed"),
        "seconds": round(summary.seconds, 3),
        "stages": {k: round(v, 3) for k, v in summary.stages.items()},
        "threads": summary.threads,
        "files": [
            {"source": str(r.source), "target": str(r.target), "status": r.status, "reason": r.reason,
             "size": list(r.size) if r.size else None, "fp32_fallbacks": r.fp32_fallbacks, "notes": r.notes,
             "finished_s": round(r.finished_s, 3)}
            for r in summary.results
        ],
    }  # fmt: skip

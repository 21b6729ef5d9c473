"""`upres eval`: PSNR/SSIM of models (or bicubic) on ground-truth folders, the way SR papers measure them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EXAMPLE = """examples:
  upres eval --bicubic ../shared/data/benchmark/Set5 --scale 4
  upres eval -m a.safetensors -m b.pth Set5 Set14 --scale 4 --json"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="PSNR/SSIM of models or bicubic on ground-truth folders",
        description=(
            "Makes LR images from each ground truth with MATLAB-style bicubic, upscales them with each model (or "
            "bicubic) and reports PSNR/SSIM on the Y channel with a border of SCALE pixels excluded.\n\n"
            + EXAMPLE
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-m", "--model", action="append", default=[], help="model file; repeat for a side-by-side table"
    )
    p.add_argument("--bicubic", action="store_true", help="score bicubic upscaling (the baseline)")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="folders of ground-truth images")
    p.add_argument("-s", "--scale", type=int, required=True, help="upscaling factor")
    p.add_argument("--rgb", action="store_true", help="score RGB channels instead of the Y channel")
    p.add_argument("--tile", type=int, default=0, help="tile size in LR pixels (0: whole image)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--precision", default="fp32", choices=["auto", "fp32", "fp16", "bf16"])
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.errors import UpresError
    from upres.metrics.evaluate import bicubic_upscaler, evaluate, model_upscaler

    if not args.model and not args.bicubic:
        raise UpresError("give -m MODEL (one or more) or --bicubic")
    if args.scale < 1:
        raise UpresError(f"--scale must be a positive integer, not {args.scale}")
    methods = {}
    if args.bicubic:
        methods["bicubic"] = bicubic_upscaler(args.scale)
    for m in args.model:
        methods[Path(m).name] = model_upscaler(m, args.scale, args.device, args.precision, args.tile)
    results = evaluate(methods, args.dirs, args.scale, y_channel=not args.rgb)
    if args.json:
        payload = {
            "scale": args.scale,
            "channel": "rgb" if args.rgb else "y",
            "crop_border": args.scale,
            "results": [r.to_dict() for r in results],
        }
        print(json.dumps(payload, indent=2))
        return 0
    _print_tables(results, args.scale, "RGB" if args.rgb else "Y")
    return 0


def _print_tables(results: list, scale: int, channel: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    folders = list(dict.fromkeys(r.folder for r in results))
    for folder in folders:
        table = Table(title=f"{folder} (x{scale}, {channel})")
        for col in ("method", "PSNR (dB)", "SSIM", "images", "seconds"):
            table.add_column(col, justify="left" if col == "method" else "right")
        for r in results:
            if r.folder == folder:
                table.add_row(r.method, f"{r.psnr:.2f}", f"{r.ssim:.4f}", str(r.images), f"{r.seconds:.2f}")
        console.print(table)

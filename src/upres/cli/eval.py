"""`upres eval`: PSNR/SSIM of models (or bicubic) on ground-truth folders, the way SR papers measure them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from upres.cli.argtypes import non_negative_int, positive_int
from upres.cli.json_out import json_text

EXAMPLE = """examples:
  upres eval --bicubic Set5 --scale 4
  upres eval -m a.safetensors -m b.pth Set5 Set14 --scale 4 --json
  upres eval -m psnr.safetensors -m gan.safetensors Set14 --scale 4 --metrics lpips,dists"""


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
    p.add_argument("-s", "--scale", type=positive_int, required=True, help="upscaling factor")
    p.add_argument("--rgb", action="store_true", help="score RGB channels instead of the Y channel")
    p.add_argument("--tile", type=non_negative_int, default=0, help="tile size in LR pixels (0: whole image)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--precision", default="fp32", choices=["auto", "fp32", "fp16", "bf16"])
    p.add_argument(
        "--metrics",
        default="",
        metavar="NAMES",
        help="extra perceptual metrics, comma-separated: lpips, dists, topiq (weights must be on disk; lower LPIPS/"
        "DISTS and higher TOPIQ are better); on the RGB 8-bit outputs with the same border excluded",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.devices import resolve_single_device
    from upres.errors import UpresError
    from upres.metrics.evaluate import NothingScored, bicubic_upscaler, evaluate, model_upscaler

    if not args.model and not args.bicubic:
        raise UpresError("give -m MODEL (one or more) or --bicubic")
    if args.scale < 1:
        raise UpresError(f"--scale must be a positive integer, not {args.scale}")
    # Checked even where nothing runs a model (--bicubic): a typo is not ignored.
    resolve_single_device(args.device)
    metrics = _extra_metrics(args.metrics, args.device)
    methods = {}
    if args.bicubic:
        methods["bicubic"] = bicubic_upscaler(args.scale)
    for label, m in zip(_labels(args.model, taken=set(methods)), args.model, strict=True):
        methods[label] = model_upscaler(m, args.scale, args.device, args.precision, args.tile)
    results, errors = evaluate(methods, args.dirs, args.scale, y_channel=not args.rgb, metrics=metrics)
    usage = [e for e in errors if not isinstance(e, NothingScored)]
    # Nothing ran: a missing or empty folder is a usage error, as it is for one folder alone.
    if not results and usage:
        raise UpresError("; ".join(str(e) for e in usage))
    if args.json:
        payload = {
            "scale": args.scale,
            "channel": "rgb" if args.rgb else "y",
            "crop_border": args.scale,
            "results": [r.to_dict() for r in results],
            "errors": [str(e) for e in errors],
        }
        print(json_text(payload))
    elif results:
        _print_tables(results, args.scale, "RGB" if args.rgb else "Y")
    if args.scale == 1 and results:
        # MATLAB bicubic at 1x is the identity: the LR is the ground truth, which a 1x (restoration) model never sees.
        print(
            "note: at --scale 1 the LR is the ground truth itself (bicubic changes nothing at 1x): the scores say how "
            "much each model changes clean images, not how well it restores degraded ones",
            file=sys.stderr,
        )
    # Each folder's skipped images once (every method skips the same ones), then the folders that gave nothing.
    for r in {r.folder: r for r in results}.values():
        for skip in r.skipped:
            print(f"error: {Path(r.folder) / skip['name']}: {skip['reason']}; not scored", file=sys.stderr)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors or any(r.skipped for r in results) else 0


EXTRA_METRICS = {"lpips": ("LPIPS", False), "dists": ("DISTS", False), "topiq": ("TOPIQ", True)}


def _extra_metrics(names: str, device: str) -> dict:
    from upres.devices import resolve_single_device
    from upres.errors import UpresError
    from upres.metrics.registry import MetricUnavailable, build_metric

    out = {}
    for name in (n.strip().lower() for n in names.split(",") if n.strip()):
        if name not in EXTRA_METRICS:
            raise UpresError(f"--metrics {name!r} is not available; choose from {', '.join(EXTRA_METRICS)}")
        try:
            out[name] = build_metric(name, resolve_single_device(device))[0]
        except MetricUnavailable as exc:
            raise UpresError(f"--metrics {name}: {exc}") from None
    return out


def _print_tables(results: list, scale: int, channel: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    width = console.width
    folders = list(dict.fromkeys(r.folder for r in results))
    for folder in folders:
        table = Table(title=f"{folder} (x{scale}, {channel})")
        extra = list(results[0].metrics)
        columns = ["method", "PSNR (dB)", "SSIM"]
        columns += [
            f"{EXTRA_METRICS[m][0]} {'(higher better)' if EXTRA_METRICS[m][1] else '(lower better)'}"
            for m in extra
        ]
        rows = []
        for r in results:
            if r.folder == folder:
                cells = [f"{r.metrics[m]:.4f}" for m in extra]
                images = f"{r.images} of {r.images + len(r.skipped)}" if r.skipped else str(r.images)
                rows.append([r.method, f"{r.psnr:.2f}", f"{r.ssim:.4f}", *cells, images, f"{r.seconds:.2f}"])
        # A narrow terminal, and any log file (80 columns), cut long model names to the same "4x_MyModel_…": the
        # rows could not be told apart. Names wrap onto more lines instead, and numbers are never cut.
        table.add_column("method", overflow="fold", min_width=min(24, max(len(row[0]) for row in rows)))
        for i, col in enumerate([*columns[1:], "images", "seconds"], start=1):
            table.add_column(
                col, justify="right", no_wrap=True, min_width=max(len(col), *(len(row[i]) for row in rows))
            )
        for row in rows:
            table.add_row(*row)
        console.width = max(width, sum(c.min_width or 0 for c in table.columns) + 3 * len(table.columns) + 1)
        console.print(table)


def _labels(models: list[str], taken: set[str]) -> list[str]:
    """Each model's row label: its file name, or the path as given where names repeat (two runs' net_g_best),
    numbered where a path repeats; a row per model, none hidden under another's."""
    names = [Path(m).name for m in models]
    labels = [str(m) if names.count(n) > 1 or n in taken else n for m, n in zip(models, names, strict=True)]
    return [
        f"{label} #{labels[:i].count(label) + 1}" if labels.count(label) > 1 else label
        for i, label in enumerate(labels)
    ]

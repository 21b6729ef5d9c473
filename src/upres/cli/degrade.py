"""`upres degrade`: preview an option file's on-the-fly degradations."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from upres.cli.argtypes import non_negative_int, output_path, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "degrade",
        help="write sample LR images and a contact sheet from an option file's degradation pipeline",
        description=(
            "Degrades a centre crop of each input N times with the option file's Real-ESRGAN-style pipeline\n"
            "(degradation keys at the top level or in datasets.train; other keys are ignored) and writes the\n"
            "LR images plus contact_sheet.png (HR crop, then each LR enlarged by pixel repetition).\n\n"
            "examples:\n"
            "  upres init esrgan_x4_otf_fidelity otf   # a shipped template with Real-ESRGAN x4plus's degradations\n"
            "  upres degrade -c otf.yml photos/ -o degrade-preview --n 8 --seed 1"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-c", "--config", required=True, help="YAML option file (traiNNer-redux key names)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument(
        "-o", "--output", required=True, type=output_path, help="folder for the samples and contact_sheet.png"
    )
    p.add_argument("--n", type=positive_int, default=8, help="LR samples per input (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same images (default 0)")
    p.add_argument(
        "-s",
        "--scale",
        type=positive_int,
        default=None,
        help="override the file's `scale` (default: file, else 4)",
    )
    p.add_argument(
        "--crop",
        type=non_negative_int,
        default=None,
        help="HR crop side in pixels, 0 for the whole image (default: the file's gt_size/lq_size x scale, else 256)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.data.degrade_preview import degrade_command
    from upres.infer.discover import check_writable

    check_writable(Path(args.output), keep_made=False)  # a bad option file then leaves no empty folder
    written, errors = degrade_command(
        args.config, args.inputs, args.output, args.n, args.seed, args.scale, args.crop
    )
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    print(f"wrote {len(written)} files to {args.output}")
    earlier = _earlier_samples(Path(args.output), written)
    if earlier:
        print(
            f"note: {args.output} also holds {len(earlier)} sample{'s' * (len(earlier) > 1)} of an earlier run "
            f"({', '.join(p.name for p in earlier[:3])}{' ...' if len(earlier) > 3 else ''}), not on this contact "
            "sheet; delete them or use a new -o to see only this run's",
            file=sys.stderr,
        )
    return 1 if errors else 0


def _earlier_samples(out: Path, written: list[Path]) -> list[Path]:
    """`STEM_lrNN.png` files in `out` that this run did not write: a larger --n or other inputs before."""
    if not out.is_dir():
        return []
    ours = {p.name for p in written}
    return sorted(p for p in out.glob("*_lr[0-9][0-9].png") if p.name not in ours)

"""`upres demo`: the main job on bundled sample data, no download."""

from __future__ import annotations

import argparse

from upres.cli.argtypes import output_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main job on scikit-image's bundled sample photos",
        description="Trains a small 2x model on photos that ship with scikit-image, evaluates it against bicubic on\nheld-back photos, writes the training report and upscales a photo. No download.\n\nexample: upres demo -o upres-demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-o", "--output", type=output_path, default="upres-demo", help="folder for everything the demo writes"
    )
    p.add_argument(
        "--iterations",
        type=int,
        default=2000,
        help="training iterations (default 2000: about 1.5 minutes on an idle 2-core CPU)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.demo import run_demo

    run_demo(args.output, args.iterations)
    return 0

"""`upres demo`: the main job on bundled sample data, no download."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main job on scikit-image's bundled sample photos",
        description="Runs upres end to end on sample photos that ship with scikit-image.\n\nexample: upres demo -o upres-demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", default="upres-demo", help="folder for everything the demo writes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.demo import run_demo

    run_demo(args.output)
    return 0

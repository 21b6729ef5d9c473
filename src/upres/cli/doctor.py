"""`upres doctor`: check a dataset (folders or an option file's datasets) before training."""

from __future__ import annotations

import argparse

from upres.cli.argtypes import positive_int
from upres.cli.json_out import json_text
from upres.errors import one_line

EXAMPLE = """examples:
  upres doctor hr/ --lq lr_x4/ --scale 4 --lq-size 64 --batch-size 16
  upres doctor -c options/train_esrgan_x4.yml"""

MAX_LISTED = 50


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="check a dataset before training (corrupt files, partners, scale, sizes, duplicates)",
        description=(
            "Finds what would make a training run skip samples or stop: unreadable files, missing LR/GT partners, "
            "size ratios that are not the scale, images smaller than the crop; warns about mod-crop leftovers, "
            "mixed bit depth/alpha/grayscale and duplicates. Exit code 1 when there are errors.\n\n" + EXAMPLE
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dirs", nargs="*", metavar="DIR", help="ground-truth (HR) folders")
    p.add_argument("-c", "--config", "-opt", dest="config", help="option file: check every datasets.* block")
    p.add_argument(
        "--lq", action="append", default=[], metavar="DIR", help="LR folder for each DIR, in order"
    )
    p.add_argument(
        "-s", "--scale", type=positive_int, help="scale (needed to check LR/GT size ratios and GT crops)"
    )
    p.add_argument(
        "--lq-size",
        type=positive_int,
        help="LR crop size used in training (with --scale: GT crop lq_size x scale)",
    )
    p.add_argument(
        "--filename-tmpl",
        default="{}",
        metavar="TMPL",
        help="LR stem from the GT stem, as the option file's filename_tmpl ('{}x4' pairs 0001.png with 0001x4.png)",
    )
    p.add_argument("--batch-size", type=positive_int, help="batch size, for iterations per epoch")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="decode every file again, even those an earlier check saw unchanged (results are cached per file)",
    )
    p.set_defaults(func=run)


def _reports_from_config(path: str, use_cache: bool) -> list:
    from upres.data.doctor import Finding
    from upres.data.doctor_block import check_dataset
    from upres.train.option_problems import load_checked_options
    from upres.train.setup import metric_size_problem

    # The whole file, validated and translated (traiNNer-redux keys, `high_order_degradation`) as `upres train`
    # reads it: a bad option is reported now, not after a long check, and each block is checked as training sees it.
    opts = load_checked_options(path, training=False)
    reports = []
    for name, ds in opts.datasets.items():
        report = check_dataset(
            ds, opts.scale, name=f"datasets.{name}", use_cache=use_cache, announce=_announce
        )
        problem = metric_size_problem(opts, name, ds, report) if name.startswith(("val", "test")) else None
        if problem:
            report.findings.append(Finding("error", "too_small_for_metric", *problem))
        reports.append(report)
    return reports


def run(args: argparse.Namespace) -> int:
    from upres.data.doctor import check_folders
    from upres.data.options import check_filename_tmpl
    from upres.errors import UpresError

    if args.dirs and args.config:
        raise UpresError("give dataset folders (DIR...) or an option file (-c OPTIONS), not both")
    if not args.dirs and not args.config:
        raise UpresError("give dataset folders (DIR...) or an option file (-c OPTIONS)")
    if args.config:
        reports = _reports_from_config(args.config, not args.no_cache)
    else:
        if args.lq and len(args.lq) != len(args.dirs):
            raise UpresError(f"{len(args.lq)} --lq folders for {len(args.dirs)} DIRs: give one --lq per DIR")
        if args.lq and not args.scale:
            raise UpresError("--lq needs --scale to check the LR/GT size ratio")
        try:
            check_filename_tmpl(args.filename_tmpl)
        except ValueError as exc:
            raise UpresError(f"--filename-tmpl {args.filename_tmpl!r}: {exc}") from None
        if args.lq_size and not args.scale:
            # Without it the crop check was left out and the report said OK for images every crop would refuse.
            raise UpresError(
                f"--lq-size {args.lq_size} needs --scale: the GT crop it checks is lq_size x scale (--scale 4: "
                f"{args.lq_size * 4} px)"
            )
        reports = [
            check_folders(
                args.dirs,
                args.lq or None,
                args.scale,
                args.lq_size,
                args.batch_size,
                filename_tmpl=args.filename_tmpl,
                use_cache=not args.no_cache,
                announce=_announce,
            )
        ]
    if args.json:
        print(json_text([r.to_dict() for r in reports]))
    else:
        for r in reports:
            _print_report(r)
    return 0 if all(r.ok for r in reports) else 1


def _announce(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)  # stderr: --json output stays parseable


def _size(s: tuple[int, int] | None) -> str:
    return f"{s[0]}x{s[1]}" if s else "-"


def _print_report(r) -> None:
    print(one_line(f"== {r.name}"))
    print(f"   images read: {r.images}, pairs/samples: {r.pairs}")
    print(f"   GT size min {_size(r.min_size)}, median {_size(r.median_size)}, max {_size(r.max_size)}")
    if r.iterations_per_epoch is not None:
        print(f"   iterations per epoch: {r.iterations_per_epoch} (batch {r.batch_size})")
    for label, items in (("error", r.errors), ("warning", r.warnings)):
        by_kind: dict[str, list] = {}
        for f in items:
            by_kind.setdefault(f.kind, []).append(f)
        for kind, group in by_kind.items():
            print(f"   {label}: {kind} x{len(group)}")
            for f in group[:MAX_LISTED]:
                print(one_line(f"     {f.path}: {f.detail}"))  # a newline in a name would split the finding
            if len(group) > MAX_LISTED:
                print(f"     ... and {len(group) - MAX_LISTED} more (--json lists all)")
    for hint in r.fixes + r.hints:
        print(f"   hint: {hint}")
    print(f"   {'OK' if r.ok else 'FAILED'}: {len(r.errors)} errors, {len(r.warnings)} warnings")

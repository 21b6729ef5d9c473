"""`upres test -c OPTIONS [--model PATH]`: a trained model over the option file's validation/test sets."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from upres.cli.argtypes import name_suffix, non_negative_int, output_path
from upres.cli.json_out import json_text
from upres.errors import ConfigError, one_line

EXAMPLE = "example: upres test -c my_x2.yml --model experiments/my_x2/models/net_g_best.safetensors"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "test",
        help="run a model over an option file's validation/test datasets with its metrics",
        description=(
            "Upscales every image of the file's val*/test* datasets into results/<name>/<set>/ (like traiNNer-redux's "
            "test.py -opt) and scores the sets that have ground truth. LR-only sets (singleimagedataset) are saved "
            f"without metrics.\n\n{EXAMPLE}"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-c",
        "-opt",
        "--config",
        dest="config",
        type=Path,
        required=True,
        help="option file with val*/test* datasets (traiNNer-redux test files are read as they are)",
    )
    p.add_argument(
        "-m",
        "--model",
        type=Path,
        default=None,
        help="model file (default: the file's path.pretrain_network_g, else the experiment's best, then latest)",
    )
    p.add_argument(
        "-o", "--output", type=output_path, default=None, help="results folder (default: results/<name>)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument(
        "--tile",
        type=non_negative_int,
        default=None,
        help="tile size in LR pixels, 0: whole image (default: val.tile_size)",
    )
    p.add_argument(
        "--suffix",
        type=name_suffix,
        default=None,
        help="appended to each saved file name as _SUFFIX (default: val.suffix, else none)",
    )
    p.add_argument(
        "--strips",
        action="store_true",
        help="also save bicubic | model | ground-truth strips under <set>/strips/ for comparison",
    )
    p.add_argument(
        "--no-images",
        action="store_true",
        help="only score, save no images (val.save_img is for validation during training and is not read here)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run)


def _default_model(exp: Path) -> Path:
    models = exp / "models"
    for pattern in ("net_g_best.*", "net_g_ema_*.*", "net_g_*.*"):
        found = sorted(models.glob(pattern), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    raise ConfigError(f"no model found in {models}; pass --model or set path.pretrain_network_g")


def _refuse_results_inside_a_dataset(out: Path, datasets: dict) -> None:
    """Results written inside a dataset folder were read back as its images by the next run (and upscaled into
    results/val/results/val/...)."""
    from upres.data.options import as_list

    for name, block in datasets.items():
        for key in ("dataroot_lq", "dataroot_gt"):
            for root in as_list(getattr(block, key, None)):
                if Path(root).is_dir() and out.resolve().is_relative_to(Path(root).resolve()):
                    raise ConfigError(
                        f"the results folder {out} lies inside datasets.{name}.{key} {root}: the next run would read "
                        "its images as inputs; give -o a folder outside the datasets"
                    )
                # The other way round: a set's results folder holds a dataset folder, whose images its results
                # would be written over or among (found per image before, after upscaling it).
                holder = next(
                    (out / s for s in datasets if Path(root).resolve().is_relative_to((out / s).resolve())),
                    None,
                )
                if Path(root).is_dir() and holder is not None:
                    raise ConfigError(
                        f"datasets.{name}.{key} {root} lies inside {holder}, where results are written: they would "
                        "land among (or over) its images; give -o another folder"
                    )


def _check_channels(datasets: dict, model_path: Path, g_in: int, g_out: int) -> None:
    """A set's images (RGB, or luma with `color: y`) must be what the model takes and gives, as training checks it:
    a gray model on an RGB set failed with a traceback from its first convolution."""
    for name, ds in datasets.items():
        channels = 1 if ds.color == "y" else 3
        if (g_in, g_out) == (channels, channels):
            continue
        what = (
            "color: y gives 1-channel (luma) images" if channels == 1 else "its images are RGB (3 channels)"
        )
        if (g_in, g_out) in ((1, 1), (3, 3)):
            fix = "set color: y in it" if g_in == 1 else "remove its color: y"
        else:
            fix = "upres eval and upres upscale map such a model's channels"
        raise ConfigError(
            f"datasets.{name}: {what} but {model_path} takes {g_in} and gives {g_out} channels; {fix}"
        )


def _input_files(dataset: object) -> set[Path]:
    paths = list(getattr(dataset, "paths", []))
    for pair in getattr(dataset, "pairs", []):
        paths += [p for p in (pair.gt, pair.lq) if p is not None]
    return {Path(p).resolve() for p in paths}


def run(args: argparse.Namespace) -> int:
    from upres.data import build_dataset
    from upres.data.doctor_block import check_dataset
    from upres.data.options import errors_in_block
    from upres.devices import resolve_single_device
    from upres.infer.discover import check_writable
    from upres.infer.test_sets import run_set
    from upres.infer.tiling import Upscaler
    from upres.io.model_files import load_model
    from upres.train.config import ValOptions, load_options
    from upres.train.setup import experiment_dir, metric_size_problem
    from upres.train.validate import build_metrics

    opts = load_options(args.config)
    if not opts.val_datasets:
        raise ConfigError(f"{args.config}: no val*/test* datasets to run")
    val = opts.val or ValOptions()
    if args.no_images and not val.metrics_enabled:
        raise ConfigError(f"{args.config}: --no-images with val.metrics_enabled: false leaves nothing to do")
    model_path = args.model or opts.path.pretrain_network_g or _default_model(experiment_dir(opts))
    if not Path(model_path).exists():
        where = "--model" if args.model else "path.pretrain_network_g"
        raise ConfigError(f"{args.config}: {where} {model_path}: no such file")
    device = resolve_single_device(args.device)
    model = load_model(model_path, device)
    if model.scale != opts.scale:
        raise ConfigError(f"{model_path} is x{model.scale} but {args.config} has scale {opts.scale}")
    _check_channels(opts.val_datasets, model_path, model.info.in_channels, model.info.out_channels)
    out = args.output or Path("results") / opts.name
    if not args.no_images:
        _refuse_results_inside_a_dataset(out, opts.val_datasets)
        check_writable(out, keep_made=False)  # before hours of inference, not per image after it
    sets, unbuilt = {}, {}
    for name, v in opts.val_datasets.items():
        try:
            with errors_in_block(name):
                sets[name] = build_dataset(v.as_scored(), opts.scale, 0)
        except ConfigError as exc:  # one empty or missing set fails alone while the others run
            unbuilt[name] = str(exc)
            continue
        if val.metrics_enabled and v.type != "singleimagedataset":
            # A crop_border too large for every image of the set is the option's fault: refused up front. One image
            # too small fails alone while the others run (it ended the whole run).
            report = check_dataset(v, opts.scale, name)
            if report.max_size is not None:
                largest = dataclasses.replace(report, min_size=report.max_size)
                if problem := metric_size_problem(opts, name, v, largest):
                    raise ConfigError(f"datasets.{name}: {problem[0]}: {problem[1]}")
    if not sets:
        raise ConfigError(next(iter(unbuilt.values())))
    notes: list[str] = list(opts.compat_notes)  # what the translation of redux's keys changed or left out
    from upres.archs import NETWORKS

    declared = NETWORKS.get(opts.network_g.type.lower())
    if declared is not None and declared[0] != model.info.family:
        notes.append(
            f"network_g is {opts.network_g.type} but {model_path} holds a {model.info.family} model; "
            "the model file decides"
        )
    metrics = build_metrics(val, device, notes) if val.metrics_enabled else []
    up = Upscaler(model.module, model.scale, device, multiple=model.info.size_multiple)
    inputs = set().union(*(_input_files(d) for d in sets.values()))
    results = {
        name: run_set(
            up,
            dataset,
            opts.val_datasets[name],
            out / name,
            metrics=metrics,
            scale=opts.scale,
            tile=val.tile_size if args.tile is None else args.tile,
            overlap=val.tile_overlap,
            suffix=args.suffix if args.suffix is not None else val.suffix,
            save_images=not args.no_images,
            strips=args.strips,
            inputs=inputs,
        )
        for name, dataset in sets.items()
    }
    for name, r in results.items():
        if metrics and r.metrics is None:
            notes.append(f"datasets.{name}: metrics skipped, {r.unscored}")
    for note in notes:
        print(note, file=sys.stderr)
    failed = [f for r in results.values() for f in r.failed] + [
        f"{e}; the other sets ran" for e in unbuilt.values()
    ]
    for f in failed:
        print(f"error: {one_line(f)}", file=sys.stderr)
    if args.json:
        report = {
            "model": str(model_path),
            "output": str(out),
            "results": {name: r.metrics or {} for name, r in results.items()},
            "images": {
                name: {"written": len(r.written), "failed": len(r.failed)} for name, r in results.items()
            },
            "sets_not_run": unbuilt,
        }
        print(json_text(report))
    else:
        print(f"model {model_path}; images in {out}")
        for name, r in results.items():
            scores = "  ".join(f"{k} {v:.4f}" for k, v in (r.metrics or {}).items()) or f"({r.unscored})"
            print(f"  {name}: {len(r.written)} images saved  {scores}")
        for name in unbuilt:
            print(f"  {name}: not run (see its error)")
    return 1 if failed else 0

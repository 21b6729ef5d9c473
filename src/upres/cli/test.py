"""`upres test -c OPTIONS [--model PATH]`: a trained model over the option file's validation/test sets."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from upres.errors import ConfigError

EXAMPLE = "example: upres test -c my_x2.yml --model experiments/my_x2/models/net_g_best.safetensors"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "test",
        help="run a model over an option file's validation/test datasets with its metrics",
        description=f"Scores and saves images under results/<name>/ (like test.py -opt).\n\n{EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-c", "-opt", "--config", dest="config", type=Path, required=True)
    p.add_argument(
        "--model", type=Path, default=None, help="model file (default: the experiment's best, then latest)"
    )
    p.add_argument("-o", "--output", type=Path, default=None, help="results folder (default: results/<name>)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _default_model(exp: Path) -> Path:
    models = exp / "models"
    for pattern in ("net_g_best.*", "net_g_ema_*.*", "net_g_*.*"):
        found = sorted(models.glob(pattern), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    raise ConfigError(f"no model found in {models}; pass --model")


def run(args: argparse.Namespace) -> int:
    from upres.data import build_dataset
    from upres.infer.tiling import Upscaler, resolve_device
    from upres.io.model_files import load_model
    from upres.train.config import ValOptions, load_options
    from upres.train.setup import experiment_dir
    from upres.train.validate import build_metrics, validate

    opts = load_options(args.config)
    if not opts.val_datasets:
        raise ConfigError(f"{args.config}: no val*/test* datasets to run")
    model_path = args.model or _default_model(experiment_dir(opts))
    device = resolve_device(args.device)
    model = load_model(model_path, device)
    if model.scale != opts.scale:
        raise ConfigError(f"{model_path} is x{model.scale} but {args.config} has scale {opts.scale}")
    val = opts.val or ValOptions()
    sets = {
        name: build_dataset(v.model_copy(update={"lq_size": None, "gt_size": None}), opts.scale, 0)
        for name, v in opts.val_datasets.items()
    }
    out = args.output or Path("results") / opts.name
    up = Upscaler(model.module, model.scale, device, multiple=model.info.size_multiple)
    notes: list[str] = []
    results = validate(
        up,
        sets,
        build_metrics(val, device, notes),
        val.model_copy(update={"save_img": True}),
        opts.scale,
        out,
        0,
    )
    for note in notes:
        print(note, file=sys.stderr)
    if args.json:
        print(json.dumps({"model": str(model_path), "results": results}, indent=2))
    else:
        print(f"model {model_path}; images in {out}")
        for name, values in results.items():
            print(f"  {name}: " + "  ".join(f"{k} {v:.4f}" for k, v in values.items()))
    return 0

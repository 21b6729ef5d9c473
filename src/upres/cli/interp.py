"""`upres interp A B [--alpha 0.8] -o OUT`: network interpolation (ESRGAN section 3.4)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from upres.cli.argtypes import non_negative_int, output_path
from upres.cli.overwrite import add_force, refuse_existing
from upres.errors import ConfigError

EXAMPLE = (
    "examples:\n"
    "  upres interp psnr.pth gan.pth --alpha 0.8 -o mix.safetensors   # 0.8*psnr + 0.2*gan\n"
    "  upres interp a.pth b.pth c.pth --weights 0.5,0.3,0.2 -o mix.pth\n"
    "  upres interp psnr.pth gan.pth --sweep 0,0.25,0.5,0.75,1 --image photo.png -o sweep/   # comparison strip"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "interp",
        help="interpolate between models of the same architecture",
        description=f"OUT = alpha*A + (1-alpha)*B per tensor (or N models with --weights summing to 1).\n\n{EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", type=Path, nargs="+", help="two or more model files")
    p.add_argument(
        "--alpha", type=float, default=None, help="weight of the first of two models (default 0.5)"
    )
    p.add_argument("--weights", default=None, help="comma-separated weights, one per model, summing to 1")
    p.add_argument(
        "-o", "--output", type=output_path, required=True, help="model file, or a folder with --sweep"
    )
    p.add_argument(
        "--sweep", default=None, help="comma-separated alphas (weight of A): upscale --image with each"
    )
    p.add_argument("--image", type=Path, default=None, help="with --sweep: the image to upscale")
    add_force(p)
    p.add_argument(
        "--tile",
        type=non_negative_int,
        default=256,
        help="with --sweep: tile size in input pixels (0 = whole image)",
    )
    p.add_argument(
        "--device",
        default=None,
        help="with --sweep: auto (default: the first GPU, else the CPU), cpu or cuda:N",
    )
    p.add_argument(
        "--precision",
        default=None,
        choices=["auto", "fp32", "fp16", "bf16"],
        help="with --sweep: as upscale's (default auto: fp16 on a GPU, fp32 on the CPU)",
    )
    p.set_defaults(func=run)


def parse_weights(args: argparse.Namespace) -> list[float]:
    n = len(args.models)
    if args.weights is not None:
        if args.alpha is not None:
            raise ConfigError("give either --alpha or --weights, not both")
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise ConfigError(f"--weights {args.weights!r}: expected numbers separated by commas") from None
        if len(weights) != n:
            raise ConfigError(f"--weights has {len(weights)} values for {n} models")
        if not all(math.isfinite(w) for w in weights):
            raise ConfigError(f"--weights {args.weights!r}: every weight must be a finite number")
        return weights
    if n != 2:
        raise ConfigError(f"{n} models need --weights (one per model, summing to 1)")
    alpha = 0.5 if args.alpha is None else args.alpha
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"--alpha {alpha} must be between 0 and 1")
    return [alpha, 1.0 - alpha]


def run(args: argparse.Namespace) -> int:
    if len(args.models) < 2:
        raise ConfigError("interp needs at least two models")
    if args.sweep is not None:
        return run_sweep(args)
    for flag, value in (("--image", args.image), ("--device", args.device), ("--precision", args.precision)):
        if value is not None:
            raise ConfigError(
                f"{flag} is for --sweep (upscaling an image with each blend); merging models needs none"
            )
    from upres.infer.interpolate import interpolate_states, load_for_interpolation
    from upres.io.model_files import save_model

    weights = parse_weights(args)
    if args.output.is_dir():
        raise ConfigError(
            f"{args.output}: is a folder; give the output model's file name (.safetensors or .pth)"
        )
    if any(args.output.resolve() == m.resolve() for m in args.models):
        raise ConfigError(f"{args.output}: output is one of the input models; choose another -o")
    refuse_existing(args.output, args.force)
    info, states = load_for_interpolation(args.models)
    mixed = interpolate_states(states, weights)
    try:
        save_model(args.output, mixed, info)
    except OSError as exc:  # named by the output, not by the hidden part file the write went through
        raise ConfigError(
            f"{args.output}: cannot write there ({exc.strerror or exc}); choose another place"
        ) from None
    desc = " + ".join(f"{w:g}*{name}" for w, name in zip(weights, distinct_names(args.models)))
    print(f"wrote {args.output} = {desc}")
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    from upres.devices import resolve_single_device
    from upres.infer.interpolate import sweep_outputs, sweep_strip
    from upres.infer.tiling import resolve_precision

    if len(args.models) != 2 or args.image is None:
        raise ConfigError("--sweep takes exactly two models (A B) and --image IMG")
    if not args.image.is_file():  # the one input: a usage error (exit 2), not a batch's failed image (exit 1)
        what = "is a folder; give one image file" if args.image.is_dir() else "no such file"
        raise ConfigError(f"--image {args.image}: {what}")
    try:
        alphas = [float(a) for a in args.sweep.split(",")]
    except ValueError:
        raise ConfigError(f"--sweep {args.sweep!r}: expected numbers separated by commas") from None
    if any(not 0.0 <= a <= 1.0 for a in alphas):
        raise ConfigError("--sweep values are weights of the first model and must lie in [0, 1]")
    device = resolve_single_device(
        args.device or "auto"
    )  # a missing GPU is refused before anything is written
    dtype = resolve_precision(args.precision or "auto", device)
    for path in sweep_outputs(args.image, args.output, alphas):
        refuse_existing(path, args.force)
    strip = sweep_strip(
        args.models[0], args.models[1], alphas, args.image, args.output, args.tile, device=device, dtype=dtype
    )
    print(f"wrote {strip} ({len(alphas)} images, alpha = weight of {distinct_names(args.models)[0]})")
    return 0


def distinct_names(paths: list) -> list[str]:
    """Each model's file name, with as many parent folders as it takes to tell them apart: two runs' models are
    both `net_g_ema_400000.safetensors` (which one is the fidelity model is what a blend's line must say)."""
    for depth in range(1, max(len(Path(p).parts) for p in paths) + 1):
        names = [Path(*Path(p).parts[-depth:]).as_posix() for p in paths]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]

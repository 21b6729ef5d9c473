"""`upres convert MODEL OUT [--dtype]`: between .pth and .safetensors, and to .onnx."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from upres.errors import ModelFileError

if TYPE_CHECKING:
    from upres.io.model_files import LoadedModel

EXAMPLE = "examples:\n  upres convert 4x-Old.pth 4x-Old.safetensors\n  upres convert 4x-Old.pth 4x-Old.onnx --dtype fp16"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a model file between .pth, .safetensors and .onnx",
        description=f"Rewrites any supported model file with BasicSR key names (loads in chaiNNer and Real-ESRGAN).\n\n{EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", type=Path)
    p.add_argument("output", type=Path, help="output file; its extension picks the format")
    p.add_argument(
        "--dtype", choices=["fp32", "fp16", "bf16"], default=None, help="tensor precision (default: keep)"
    )
    p.add_argument("--no-verify", action="store_true", help="ONNX: skip the onnxruntime comparison")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.io.model_files import load_model

    if args.output.resolve() == args.model.resolve():
        raise ModelFileError(f"{args.output}: output is the input file; choose another name")
    if args.output.is_dir():
        raise ModelFileError(
            f"{args.output}: is a folder; give the output file's name, e.g. {args.output / args.model.stem}.safetensors"
        )
    model = load_model(args.model)
    for note in model.notes:
        print(f"note: {note}", file=sys.stderr)
    try:
        _write(model, args)
    except OSError as exc:
        raise ModelFileError(
            f"{args.output}: cannot write there ({exc.strerror or exc}); choose another place"
        ) from None
    print(f"wrote {args.output} ({model.info.family} x{model.info.scale}, {' '.join(model.info.tags)})")
    return 0


def _write(model: LoadedModel, args: argparse.Namespace) -> None:
    from upres.io.model_files import save_model

    suffix = args.output.suffix.lower()
    if suffix == ".onnx":
        from upres.io.onnx_export import export_onnx, verify_onnx

        dtype = args.dtype or "fp32"
        export_onnx(model, args.output, dtype)
        if not args.no_verify:
            err = verify_onnx(model, args.output, dtype)
            if err is not None:
                print(f"verified with onnxruntime: max difference to PyTorch {err:.2e}")
    else:
        dtype = args.dtype or {"float16": "fp16", "bfloat16": "bf16"}.get(
            str(model.dtype).removeprefix("torch.")
        )
        save_model(args.output, model.module, model.info, dtype=dtype)

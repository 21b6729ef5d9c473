"""`upres convert MODEL OUT [--dtype]`: between .pth and .safetensors, and to .onnx."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from upres.cli.overwrite import add_force, refuse_existing
from upres.errors import ConfigError, ModelFileError

if TYPE_CHECKING:
    from upres.io.model_files import LoadedModel

EXAMPLE = (
    "examples:\n  upres convert 4x-Old.pth 4x-Old.safetensors\n  upres convert 4x-Old.pth 4x-Old.onnx --dtype fp16\n"
    "  upres convert -c options/onnx/4x_ESRGAN.yml     (traiNNer-redux onnx file: path.pretrain_network_g, onnx block)"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a model file between .pth, .safetensors and .onnx",
        description=f"Rewrites any supported model file with BasicSR key names (loads in chaiNNer and Real-ESRGAN).\n\n{EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model", type=Path, nargs="?", help="model file (with -c: default path.pretrain_network_g)"
    )
    p.add_argument(
        "output",
        type=Path,
        nargs="?",
        help="output file; its extension picks the format (with -c: default onnx/<name>_<shape>_<dtype>_op<opset>.onnx)",
    )
    p.add_argument(
        "-c",
        "-opt",
        "--config",
        dest="config",
        type=Path,
        default=None,
        help="option file whose onnx block (opset, dtype, shape, verify) sets the ONNX export, as traiNNer-redux's "
        "convert_to_onnx.py reads it",
    )
    p.add_argument(
        "--dtype",
        choices=["fp32", "fp16", "bf16"],
        default=None,
        help="tensor precision (default: the file's; for .onnx fp32, or with -c the onnx block's dtype)",
    )
    p.add_argument("--no-verify", action="store_true", help="ONNX: skip the onnxruntime comparison")
    add_force(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.archs import basicsr_note, chainner_note, spandrel_incompatibility
    from upres.io.model_files import load_model

    if args.config is not None:
        return _run_option_file(args)
    if args.model is None or args.output is None:
        raise ConfigError("upres convert: give MODEL and OUT, or an option file with -c")
    if args.output.resolve() == args.model.resolve():
        raise ModelFileError(f"{args.output}: output is the input file; choose another name")
    if args.output.is_dir():
        raise ModelFileError(
            f"{args.output}: is a folder; give the output file's name, e.g. {args.output / args.model.stem}.safetensors"
        )
    refuse_existing(args.output, args.force)
    model = load_model(args.model)
    _refuse_unwritable_weights(model, args.model, _target_dtype(model, args))
    for note in model.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.output.suffix.lower() != ".onnx" and (
        why := chainner_note(model.info) or spandrel_incompatibility(model.info)
    ):
        print(f"note: {args.output}: {why}", file=sys.stderr)
    if args.output.suffix.lower() in (".pth", ".pt") and (why := basicsr_note(model.info)):
        print(f"note: {args.output}: {why}", file=sys.stderr)
    if (kept := _header_keys(model)) and args.output.suffix.lower() != ".safetensors":
        print(
            f"note: {args.output}: the header's {_names(sorted(kept))} cannot be kept in this format (a .safetensors "
            "output keeps them)",
            file=sys.stderr,
        )
    try:
        _write(model, args)
    except OSError as exc:
        raise ModelFileError(
            f"{args.output}: cannot write there ({exc.strerror or exc}); choose another place"
        ) from None
    print(f"wrote {args.output} ({model.info.family} x{model.info.scale}, {' '.join(model.info.tags)})")
    return 0


def _target_dtype(model: LoadedModel, args: argparse.Namespace) -> str | None:
    if args.output.suffix.lower() == ".onnx":
        return args.dtype or "fp32"
    return args.dtype or {"float16": "fp16", "bfloat16": "bf16"}.get(str(model.dtype).removeprefix("torch."))


def _refuse_unwritable_weights(model: LoadedModel, source: Path, dtype: str | None) -> None:
    """Named by the input, with the cause: the write refused them naming the output, as 'NaN/Inf' (also for a
    weight that fp16 cannot hold)."""
    from upres.io.model_files import check_finite_weights, refuse_fp16_overflow

    check_finite_weights(model, source)
    if dtype == "fp16":
        refuse_fp16_overflow(model.module.state_dict(), source)


def _header_keys(model: LoadedModel) -> dict[str, str]:
    """The source header's own keys (author, license, modelspec.*): upres writes its keys anew from the tensors."""
    from upres.cli.info import UPRES_HEADER_KEYS

    return {k: v for k, v in model.metadata.items() if k not in UPRES_HEADER_KEYS}


def _names(keys: list[str]) -> str:
    return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")


def _write(model: LoadedModel, args: argparse.Namespace) -> None:
    from upres.io.model_files import save_model

    dtype = _target_dtype(model, args)
    if args.output.suffix.lower() == ".onnx":
        from upres.io.onnx_export import export_onnx

        err = export_onnx(model, args.output, dtype, verify=not args.no_verify)
        if err is not None:
            print(f"verified with onnxruntime: max difference to PyTorch {err:.2e}")
    else:
        save_model(args.output, model.module, model.info, dtype=dtype, extra_metadata=_header_keys(model))


def _run_option_file(args: argparse.Namespace) -> int:
    """`upres convert -c FILE [MODEL] [OUT]`: ONNX export as the file's `onnx` block says (traiNNer-redux's keys)."""
    from upres.io.model_files import load_model
    from upres.io.onnx_export import export_onnx
    from upres.io.onnx_options import network_g_mismatch, out_name, parse_shape, read_convert_file

    if args.output is None and args.model is not None and args.model.suffix.lower() == ".onnx":
        args.model, args.output = None, args.model  # `convert -c FILE OUT.onnx`: the model is the file's
    data, onnx, notes = read_convert_file(args.config)
    pretrain = (data.get("path") or {}).get("pretrain_network_g")
    model_path = args.model or (Path(pretrain) if pretrain else None)
    if model_path is None:
        raise ConfigError(
            f"{args.config}: set path.pretrain_network_g to the model to convert (or give MODEL)"
        )
    if not model_path.is_file():
        where = "MODEL" if args.model else "path.pretrain_network_g"
        raise ConfigError(f"{args.config}: {where} {model_path}: no such file")
    output = args.output or Path("onnx") / out_name(str(data.get("name", model_path.stem)), onnx)
    if output.suffix.lower() != ".onnx":
        raise ConfigError(f"{output}: with -c the output is an ONNX graph; name it .onnx")
    refuse_existing(output, args.force)
    model = load_model(model_path)
    if "scale" in data and data["scale"] != model.info.scale:
        raise ConfigError(f"{model_path} is x{model.info.scale} but {args.config} has scale {data['scale']}")
    if why := network_g_mismatch(data, model.info):
        raise ConfigError(
            f"{args.config}: {why}, but {model_path} is a {model.info.family} ({' '.join(model.info.tags)}); make "
            "network_g describe it, or convert the model it describes"
        )
    for note in [*model.notes, *notes]:
        print(f"note: {note}", file=sys.stderr)
    dtype = args.dtype or onnx.dtype
    if dtype == "bf16":
        raise ConfigError("ONNX bf16 export is not implemented in upres; use fp16 or fp32")
    _refuse_unwritable_weights(model, model_path, dtype)
    dims, _ = parse_shape(onnx.shape)
    if dims[1] not in (None, model.info.in_channels):
        fixed = "x".join([onnx.shape.split("x")[0], str(model.info.in_channels), *onnx.shape.split("x")[2:]])
        raise ConfigError(
            f"{args.config}: onnx.shape {onnx.shape} has {dims[1]} channels but {model_path} takes "
            f"{model.info.in_channels}; set onnx.shape: {fixed}"
        )
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        verify = onnx.verify and not args.no_verify
        err = export_onnx(model, output, dtype, onnx.opset, dims, onnx.dynamo, verify=verify)
    except OSError as exc:
        raise ModelFileError(
            f"{output}: cannot write there ({exc.strerror or exc}); choose another place"
        ) from None
    print(
        f"wrote {output} ({model.info.family} x{model.info.scale}, {dtype}, opset {onnx.opset}, {onnx.shape})"
    )
    if err is not None:
        print(f"verified with onnxruntime: max difference to PyTorch {err:.2e}")
    return 0

"""`upres info MODEL [--json]`: what a model file holds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from upres.errors import one_line

# upres's own header keys, written anew from the tensors by every writer.
UPRES_HEADER_KEYS = ("format", "upres_arch", "upres_params")
EXAMPLE = "example: upres info 4x-MyModel.pth --json"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="architecture, scale, channels and hyperparameters of a model file",
        description=f"Recognises a model file from its tensors and describes it.\n\n{EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", type=Path, help=".pth/.pt/.ckpt/.safetensors file")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def describe(path: Path) -> dict:
    from upres.io.model_files import load_model, nonfinite_keys, sha256_of

    model = load_model(path)
    info = model.info
    bad = nonfinite_keys(model.module.state_dict())
    notes = list(model.notes)
    if bad:  # every other command refuses this file; info describes it and says why they will
        notes.append(
            f"{len(bad)} tensor(s) hold NaN or infinity (first: {bad[0]!r}): upscaling with it would give black or "
            "garbage, so the other commands refuse it; use an earlier checkpoint of the training that wrote it"
        )
    return {
        "path": str(path),
        "architecture": info.family,
        "scale": info.scale,
        "input_channels": info.in_channels,
        "output_channels": info.out_channels,
        "hyperparameters": info.params,
        "parameters": sum(p.numel() for p in model.module.parameters()),
        "tags": info.tags,
        "size_multiple": info.size_multiple,
        "dtype": str(model.dtype).removeprefix("torch."),
        "sha256": sha256_of(path),
        "finite": not bad,
        # What else its maker wrote in a .safetensors header (author, license, modelspec.*): `convert` carries it.
        "header": {k: v for k, v in sorted(model.metadata.items()) if k not in UPRES_HEADER_KEYS},
        "notes": notes,
    }


def run(args: argparse.Namespace) -> int:
    d = describe(args.model)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    for note in d.pop("notes"):
        print(f"note: {note}", file=sys.stderr)
    if not d["header"]:
        del d["header"]
    width = max(len(k) for k in d)
    for key, value in d.items():
        if key == "header":
            value = "; ".join(
                one_line(f"{k}={v[:120]}" + ("..." if len(v) > 120 else "")) for k, v in value.items()
            )
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            value = " ".join(value)
        elif key == "parameters":
            value = f"{value:,}"
        print(f"{key:<{width}}  {value}")
    return 0

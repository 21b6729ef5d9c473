"""traiNNer-redux's `onnx` block (its convert_to_onnx.py options): what `upres convert -c FILE` reads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from upres.errors import ConfigError

if TYPE_CHECKING:
    from upres.archs import ArchInfo


class OnnxOptions(BaseModel):
    """Defaults are traiNNer-redux's."""

    model_config = ConfigDict(extra="forbid")

    dynamo: bool = Field(
        False, description="torch's newer exporter (torch.onnx.export(dynamo=True); needs onnxscript)"
    )
    opset: int = Field(20, ge=9, le=23, description="ONNX opset version")
    shape: str = Field(
        "1x3xHxW",
        description="input shape NxCxHxW: numbers are fixed, letters dynamic (1x3x256x256 is fully static)",
    )
    verify: bool = Field(True, description="compare the exported graph with PyTorch in onnxruntime")
    dtype: Literal["fp32", "fp16", "bf16"] = Field(
        "fp16", description="graph precision; bf16 is refused by upres"
    )
    bf16_exclude_depthwise: bool = Field(True, description="bf16 only; no effect in upres")
    optimize: bool = Field(True, description="run OnnxSlim on the graph (not available in upres: a note)")
    wrap_5d_to_4d: bool = Field(True, description="video networks only; no effect on upres's networks")

    @field_validator("shape")
    @classmethod
    def _nchw(cls, v: str) -> str:
        parse_shape(v)
        return v


def parse_shape(shape: str) -> tuple[list[int | None], str]:
    """`1x3xHxW` -> ([1, 3, None, None], "1x3xHxW"): numbers fixed, letters dynamic (None)."""
    parts = [p.strip() for p in str(shape).split("x")]
    if len(parts) != 4 or any(not p for p in parts):
        raise ValueError(f"{shape!r} is not NxCxHxW (numbers fixed, letters dynamic, e.g. 1x3xHxW)")
    dims = [int(p) if p.isdigit() else None for p in parts]
    if 0 in dims:
        raise ValueError(
            f"{shape!r} has a size of 0; a number is a fixed size (1 or more), a letter a dynamic one"
        )
    return dims, shape


def out_name(name: str, opts: OnnxOptions) -> str:
    """traiNNer-redux's file name: <name>_<shape>_<dtype>_op<opset>.onnx, e.g. 4x_x_1x3xHxW_dyn-HW_strong_fp16_op20."""
    dims, _ = parse_shape(opts.shape)
    labels = "NCHW"
    parts = [labels[i] if d is None else str(d) for i, d in enumerate(dims)]
    dynamic = "".join(labels[i] for i, d in enumerate(dims) if d is None)
    shape = "x".join(parts) + (f"_dyn-{dynamic}" if dynamic else "_static")
    dtype = opts.dtype if opts.dtype == "fp32" else f"strong_{opts.dtype}"
    return f"{name}_{shape}_{dtype}_op{opts.opset}{'_dynamo' if opts.dynamo else ''}.onnx"


def read_convert_file(path: Path) -> tuple[dict[str, Any], OnnxOptions, list[str]]:
    """(the option file, its onnx block, notes) for `upres convert -c`: a redux onnx file or any training file."""
    from pydantic import ValidationError

    from upres.option_file import read_option_file
    from upres.train.config import Options

    data = read_option_file(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option keys at the top level")
    unknown = [k for k in data if k not in Options.model_fields]
    if unknown:
        from upres.errors import did_you_mean

        raise ConfigError(
            f"{path}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], Options.model_fields)}"
        )
    try:
        onnx = OnnxOptions.model_validate(data.get("onnx") or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(["onnx", *(str(p) for p in err["loc"])])
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{path}: {key}: {what}") from None
    if onnx.dtype == "bf16":
        raise ConfigError(
            f"{path}: onnx.dtype bf16 is not implemented in upres (onnxruntime cannot check it on CPU); use fp16 or fp32"
        )
    notes = []
    if onnx.optimize:
        notes.append("onnx.optimize: OnnxSlim is not part of upres; the graph is written as exported")
    return data, onnx, notes


def network_g_mismatch(data: dict[str, Any], info: ArchInfo) -> str | None:
    """Where the option file's network_g (its type, and the hyperparameters it names) is not the model's, or None.
    traiNNer-redux builds network_g and loads the weights into it, so it refuses such a pair; upres took the model's
    tensors and said nothing. Keys the block leaves out are not compared (they default, and redux files often
    name only the type)."""
    from upres.archs import _KEY_ALIASES, NETWORKS

    block = data.get("network_g")
    if not isinstance(block, dict) or str(block.get("type", "")).lower() not in NETWORKS:
        return None
    family = NETWORKS[str(block["type"]).lower()][0]
    if family != info.family:
        return f"network_g.type is {block['type']}"
    differ = [
        f"network_g.{k} is {v!r} (the model's is {info.params[_KEY_ALIASES.get(k, k)]!r})"
        for k, v in block.items()
        if _KEY_ALIASES.get(k, k) in info.params and info.params[_KEY_ALIASES.get(k, k)] != v
    ]
    return "; ".join(differ) or None

"""ONNX export of generators: `input`/`output`; by default opset 17 with dynamic batch, height and width."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from upres.errors import ModelFileError
from upres.io.atomic import atomic_path
from upres.io.model_files import LoadedModel, refuse_nonfinite

OPSET = 17


def export_onnx(
    model: LoadedModel,
    path: str | Path,
    dtype: str = "fp32",
    opset: int = OPSET,
    dims: list[int | None] | None = None,
    dynamo: bool = False,
    verify: bool = False,
) -> float | None:
    """Export; pixel-unshuffle models pad inside the graph, so any input size works. `dims` is the NCHW input shape
    with None for each dynamic axis (default: dynamic batch, height and width). `verify`: compare the graph with
    PyTorch in onnxruntime before it replaces anything at `path`; returns the max difference (None unverified)."""
    refuse_nonfinite(model.module.state_dict(), model.path)
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ModelFileError("ONNX export needs the onnx package: pip install 'upres[onnx]'") from None
    if dtype not in ("fp32", "fp16"):
        raise ModelFileError(f"ONNX export supports fp32 or fp16, not {dtype}")
    dims = dims or [None, model.info.in_channels, None, None]
    if dims[1] not in (None, model.info.in_channels):
        raise ModelFileError(
            f"onnx shape has {dims[1]} channels but the model takes {model.info.in_channels}"
        )
    m = model.info.size_multiple
    if m > 1 and opset < 11:
        # The pad to a multiple of `m` is computed from the input's size (also at a fixed shape: it is traced), and
        # ONNX's Pad takes computed sizes from opset 11; torch's refusal came with a page of its graph.
        raise ModelFileError(
            f"{path}: a {model.info.scale}x RRDBNet pads its input to a multiple of {m} inside the graph, which ONNX "
            f"can express from opset 11 (opset {opset} asked); use opset 11 or later"
        )
    module = model.module.eval().float()
    torch_dtype = torch.float16 if dtype == "fp16" else torch.float32
    module = module.to(torch_dtype)
    free = (4 * m + 1, 4 * m + 3) if m > 1 else (16, 16)
    size = [dims[0] or 1, model.info.in_channels, dims[2] or free[0], dims[3] or free[1]]
    example = torch.rand(*size, dtype=torch_dtype)
    names = {0: "batch", 2: "height", 3: "width"}
    axes = {i: name for i, name in names.items() if dims[i] is None}
    # In ONNX one name is one size: the output's own names, since a 4x model's output is not the input's height.
    out_axes = {i: name if i == 0 else f"out_{name}" for i, name in axes.items()}
    try:
        with atomic_path(path, sweep=True) as tmp, warnings.catch_warnings():
            # The 1x/2x models' padding branches on the input size on purpose (kept in the graph for every size).
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            try:
                torch.onnx.export(
                    module,
                    (example,),
                    str(tmp),
                    input_names=["input"],
                    output_names=["output"],
                    opset_version=opset,
                    dynamic_axes={"input": axes, "output": out_axes} if axes else None,
                    dynamo=dynamo,
                )
            except torch.onnx.errors.OnnxExporterError as exc:
                # torch's reason ends with the fix (e.g. "Please try opset version 11"), then pages of its graph.
                raise ModelFileError(
                    f"{path}: torch cannot export this model at opset {opset}: {first_sentences(exc)}; nothing written"
                ) from None
            # Checked before the rename: a graph that fails it never replaces the file the user had there.
            return verify_onnx(model, tmp, dtype, dims, name=path) if verify else None
    except ImportError as exc:
        raise ModelFileError(
            f"ONNX export with dynamo: true needs {exc.name or 'onnxscript'}: pip install onnxscript"
        ) from None
    finally:
        model.module.float()


def first_sentences(exc: BaseException) -> str:
    """An exporter's or onnxruntime's reason without the graph dump that follows it."""
    text = str(exc).split(" [Caused by")[0].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:3])[:300].rstrip(".") if lines else type(exc).__name__


def run_onnx(path: str | Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x})[0]


def verify_onnx(
    model: LoadedModel,
    path: str | Path,
    dtype: str = "fp32",
    dims: list[int | None] | None = None,
    name: str | Path | None = None,
) -> float | None:
    """Max |ONNX - PyTorch| on a random input (of an odd size where the shape is dynamic); None when onnxruntime
    is not installed. `name`: the file the graph is for, when `path` is its temporary copy."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    dims = dims or [None, None, None, None]
    x = torch.rand(dims[0] or 1, model.info.in_channels, dims[2] or 37, dims[3] or 29)
    with torch.no_grad():
        ref = model.module.float()(x).numpy()
    np_dtype = np.float16 if dtype == "fp16" else np.float32
    try:
        out = run_onnx(path, x.numpy().astype(np_dtype)).astype(np.float32)
    except Exception as exc:
        if not type(exc).__module__.startswith("onnxruntime"):
            raise
        raise ModelFileError(
            f"{name or path}: onnxruntime cannot run the exported graph ({first_sentences(exc)}); nothing written"
        ) from None
    err = float(np.abs(out - ref).max())
    tolerance = 2e-2 if dtype == "fp16" else 1e-4
    if not np.isfinite(err) and np.isfinite(ref).all() and dtype == "fp16":
        # "differs by nan" left the reader to guess; a sum past 65504 is what makes a half-precision graph infinite.
        raise ModelFileError(
            f"{name or path}: the fp16 graph gives infinite or NaN values where PyTorch in fp32 does not (values "
            "inside the network pass half precision's 65504); export it in fp32 (--dtype fp32, or onnx.dtype: "
            "fp32); nothing written"
        )
    if not np.isfinite(err) or err > tolerance:
        raise ModelFileError(
            f"{name or path}: ONNX output differs from PyTorch by {err:.2e} (> {tolerance}); nothing written"
        )
    return err

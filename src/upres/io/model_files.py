"""Reading and writing generator files: .pth/.pt/.ckpt (tensors only) and .safetensors.

Model files from strangers are data: pickles are opened with `weights_only=True`, which refuses any global other than
tensor types and plain containers before anything is called.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from upres.archs import ArchInfo, instantiate, recognise
from upres.archs.compact import HIDDEN_DEFAULTS
from upres.errors import ModelFileError, shell_word
from upres.io.atomic import atomic_write
from upres.io.model_kind import PICKLE_SUFFIXES, check_kind
from upres.io.state_dicts import strip_prefixes, unprefixed, unwrap_state_dict

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class LoadedModel:
    """A generator ready to run, with what callers need to know about it."""

    module: nn.Module
    info: ArchInfo
    path: Path | None = None
    dtype: torch.dtype = torch.float32
    notes: list[str] = field(default_factory=list)  # where the file's header disagrees with its tensors
    metadata: dict[str, str] = field(default_factory=dict)  # a .safetensors header (author, license, ...)

    @property
    def scale(self) -> int:
        return self.info.scale


def read_tensors(
    path: str | Path, param_key: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Raw tensors and (for safetensors) header metadata of a model file, without running any code in it."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(
            f"{path}: is a folder, not a model file; give the .pth or .safetensors file in it"
        )
    if not path.is_file():
        what = "not a regular file (a device, pipe or socket)" if path.exists() else "no such model file"
        raise ModelFileError(f"{path}: {what}")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    check_kind(path)
    if suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as fh:
                metadata = fh.metadata() or {}
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFileError(f"{path}: not a readable safetensors file ({exc})") from None
        if not state:
            raise ModelFileError(f"{path}: holds no tensors (a header alone)")
        return _dense(unprefixed(state), path), metadata
    if suffix == ".state":
        models = path.parent.parent / "models"
        beside = sorted(models.glob(f"net_g_ema_{path.stem}.*")) + sorted(models.glob(f"net_g_{path.stem}.*"))
        hint = f"; its generator is {beside[0]}" if beside else ""
        raise ModelFileError(
            f"{path}: a training state, not a model file: continue training from it with "
            f"`upres train -c OPTIONS --resume {shell_word(path)}`{hint}"
        )
    if suffix not in PICKLE_SUFFIXES:
        raise ModelFileError(
            f"{path}: an ONNX graph, which upres exports but does not read; use the .pth or .safetensors it came from"
            if suffix == ".onnx"
            else f"{path}: unknown model file type {suffix!r}; use .pth, .pt, .ckpt or .safetensors"
        )
    obj = load_pickle(path)
    if param_key is not None:
        if not isinstance(obj, dict) or param_key not in obj:
            keys = ", ".join(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
            raise MissingParamKeyError(
                f"{path}: has no {param_key!r} entry (it has: {keys}); name one of those as the param_key, or leave "
                "the key out and upres takes the file's weights (params_ema first, as traiNNer-redux falls back)"
            )
        obj = obj[param_key]
    return _dense(unwrap_state_dict(obj, path), path), {}


def load_pickle(path: Path) -> object:
    """torch.load with weights_only=True; a file it cannot read -> ModelFileError in one line, in upres's words."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelFileError(f"{path}: {_unpickling_reason(str(exc))}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        # KeyError: the unpickler's on bytes that are no pickle at all (a text file)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        first = first.split(". ")[0].rstrip(".")  # torch goes on with advice for its own developers
        raise ModelFileError(
            f"{path}: not a readable PyTorch file (truncated or corrupt?): {first[:160]}"
        ) from None


class MissingParamKeyError(ModelFileError):
    """A model file without the entry an option file's param_key names."""


def read_tensors_for_key(
    path: str | Path, param_key: str | None
) -> tuple[dict[str, torch.Tensor], dict[str, str], str | None]:
    """read_tensors for an option file's `param_key_g`/`param_key_d`: a file without that entry gives its weights as
    a file without the key would (params_ema first), and a note saying so, as traiNNer-redux falls back (BasicSR-derived
    files often name params_ema; a fidelity-stage file has only params)."""
    try:
        return (*read_tensors(path, param_key), None)
    except MissingParamKeyError as exc:
        state, metadata = read_tensors(path)
        entries = str(exc).partition("(it has: ")[2].partition(")")[0]
        return state, metadata, f"no {param_key!r} entry (it has: {entries}): its weights are loaded instead"


def _dense(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """A model's tensors are dense arrays; sparse or other layouts ended in a traceback of torch's loader."""
    odd = next((k for k, v in state.items() if v.layout != torch.strided), None)
    if odd is not None:
        raise ModelFileError(
            f"{path}: tensor {odd!r} is stored {str(state[odd].layout).removeprefix('torch.')}, not as a dense "
            "array; a model file holds dense tensors (save it with .to_dense())"
        )
    return state


WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def check_weights(state: dict[str, torch.Tensor]) -> None:
    """A generator's tensors: floating point (integers, booleans, complex or float8 were cast to float32 without a
    word and gave garbage), and no empty dimension. ModelFileError names the first that is not."""
    for key, tensor in state.items():
        if tensor.dtype not in WEIGHT_DTYPES and not key.endswith(
            "num_batches_tracked"
        ):  # BatchNorm's counter
            raise ModelFileError(
                f"tensor {key!r} is {str(tensor.dtype).removeprefix('torch.')}; a model's weights are float32, "
                "float16 or bfloat16 (the file is damaged, or holds something other than a model)"
            )
        if 0 in tensor.shape:
            raise ModelFileError(f"tensor {key!r} has shape {tuple(tensor.shape)}, with nothing in it")


# Instructions only pickle protocols 4 and 5 use (framing, short/8-byte strings and bytes, memoize, stack global):
# plain tensor files saved with pickle_protocol=4 hold them.
PROTOCOL_4_OPCODES = frozenset({140, 141, 142, 143, 144, 145, 146, 147, 148, 149, 150, 151, 152})


def _unpickling_reason(text: str) -> str:
    """Say why the safe loader stopped, in upres's words: torch's message advises turning the safe loader off,
    which upres never does and never suggests."""
    if "Weights only load failed" not in text:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "unreadable pickle")
        return f"not a readable PyTorch file (truncated or corrupt?): {first[:160]}"
    found = re.search(r"GLOBAL ([\w.]+)", text)
    operand = re.search(r"Unsupported operand (\d+)", text)
    if operand and int(operand.group(1)) in PROTOCOL_4_OPCODES:
        # Not a sign of code: torch.save(..., pickle_protocol=4 or 5) writes these, and torch's safe reader stops at
        # them. Saying "objects other than tensors" accused a plain tensor file.
        return (
            f"refused: written with pickle protocol 4 or later (instruction {operand.group(1)}), which torch's safe "
            "reader does not read, and upres reads pickles no other way; a plain tensor file can be saved again "
            "with torch.save's default protocol (2) or as .safetensors"
        )
    if found:
        what = f" (it asks for {found.group(1)})"
    elif operand:
        what = f" (pickle instruction {operand.group(1)}, which tensor files written by torch do not use)"
    else:
        what = ""
    return (
        f"refused: the file holds objects other than tensors{what}, which upres does not run; only files of "
        "plain tensors are opened (ask its author for a .safetensors file)"
    )


def header_notes(metadata: dict[str, str], info: ArchInfo, path: Path) -> list[str]:
    """Where the safetensors header (written by anyone) disagrees with the tensors or cannot be read: one note
    each. The tensors always decide; the header is only checked against them."""
    notes: list[str] = []
    arch = metadata.get("upres_arch")
    if arch is not None and arch != info.family:
        notes.append(
            f"{path}: the header says upres_arch={arch[:40]!r} but the tensors are {info.family}; "
            "the tensors are used"
        )
    raw = metadata.get("upres_params")
    if raw is None:
        return notes
    try:
        params = json.loads(raw)
    except (ValueError, RecursionError):
        params = None
    if not isinstance(params, dict):
        notes.append(f"{path}: the header's upres_params is not a JSON object; ignored, the tensors are used")
        return notes
    full = {
        **(HIDDEN_DEFAULTS if info.family == "compact" else {}),
        **info.params,
    }  # a PReLU model's act_type too
    differ = [f"{k} {params[k]!r} vs {full[k]!r}" for k in full if k in params and params[k] != full[k]]
    if differ:
        notes.append(
            f"{path}: the header's upres_params disagree with the tensors ({'; '.join(differ)[:200]}, header vs "
            "tensors); the tensors are used"
        )
    return notes


def header_hints(metadata: dict[str, str]) -> dict:
    """The header's hyperparameters as a dict, or {} (they only fill in what tensors cannot show, and are checked)."""
    try:
        params = json.loads(metadata.get("upres_params", "{}"))
    except (ValueError, RecursionError):
        return {}
    return params if isinstance(params, dict) else {}


def read_generator(path: str | Path) -> tuple[ArchInfo, dict[str, torch.Tensor], dict]:
    """(architecture, tensors under our module's keys, header) of a generator file: recognised from its tensors, with
    what only the header can say (a Compact's activation, learn_residual) taken from it. Every reader of generator
    files goes through here: interp read the tensors alone and mixed a no-residual Compact as a residual one."""
    path = Path(path)
    state, metadata = read_tensors(path)
    try:
        info, canonical = recognise(state, header_hints(metadata))
        check_weights(canonical)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return info, canonical, metadata


def nonfinite_keys(state: dict[str, torch.Tensor]) -> list[str]:
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Open a generator file of any supported layout, recognised from its tensors."""
    path = Path(path)
    info, canonical, metadata = read_generator(path)
    # Shapes are the truth; the header only adds what shapes cannot say (none so far) and is checked against them.
    notes = header_notes(metadata, info, path)
    dtype = next(iter(canonical.values())).dtype
    module = checked_module(info, canonical, path)
    module.eval().requires_grad_(False)
    return LoadedModel(module.to(device), info, path, dtype, notes, metadata)


def checked_module(info: ArchInfo, canonical: dict[str, torch.Tensor], path: str | Path) -> nn.Module:
    """The recognised architecture holding the file's tensors (float32); a tensor that does not fit it is an error
    naming the file."""
    try:
        return instantiate(info, {k: v.float() for k, v in canonical.items()})
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def check_finite_weights(model: LoadedModel, path: str | Path) -> None:
    """Refuse a model whose weights hold NaN or infinity (a diverged training saved them): every output would be
    black or garbage, which is worse than no output."""
    refuse_nonfinite(model.module.state_dict(), path)


def refuse_nonfinite(state: dict[str, torch.Tensor], path: str | Path) -> None:
    bad = nonfinite_keys(state)
    if bad:
        raise ModelFileError(
            f"{path}: {len(bad)} tensor(s) hold NaN or infinity (first: {bad[0]!r}), so every result would be "
            "black or garbage; use an earlier checkpoint of the training that wrote it"
        )


FP16_MAX = 65504.0


def refuse_fp16_overflow(state: dict[str, torch.Tensor], path: str | Path) -> None:
    """A weight beyond half precision's range becomes infinity in fp16; the write was then refused as "NaN/Inf"."""
    for key, value in state.items():
        if value.is_floating_point() and value.numel() and float(value.abs().max()) > FP16_MAX:
            raise ModelFileError(
                f"{path}: tensor {key!r} holds {float(value.abs().max()):g}, beyond half precision's {FP16_MAX:g}: "
                "in fp16 it would be infinite; keep fp32 (--dtype fp32) or use bf16"
            )


def export_state(
    module_or_state: nn.Module | dict[str, torch.Tensor], dtype: str | None = None
) -> dict[str, torch.Tensor]:
    """Detached, contiguous tensors only: spandrel's restricted unpickler rejects Parameters and numpy objects. Under
    the network's own key names: a torch.compile or DDP wrapper's prefix made files chaiNNer and Real-ESRGAN refuse."""
    state = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
    state = strip_prefixes(state, ("module.", "_orig_mod."))
    out = {}
    for k, v in state.items():
        t = v.detach().to("cpu")
        if dtype is not None and t.is_floating_point():
            t = t.to(DTYPES[dtype])
        out[k] = t.contiguous().clone()
    return out


def save_model(
    path: str | Path,
    module_or_state: nn.Module | dict[str, torch.Tensor],
    info: ArchInfo,
    dtype: str | None = None,
    extra_metadata: dict[str, str] | None = None,
    param_key: str = "params_ema",
) -> Path:
    """Write a generator as .safetensors (metadata in the header) or .pth (`{param_key: state}`), atomically.
    `param_key` is BasicSR's: "params" for a training's raw weights, "params_ema" (Real-ESRGAN's releases) else."""
    path = Path(path)
    state = export_state(module_or_state, dtype)
    for k, v in state.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ModelFileError(f"{path}: refusing to write: tensor {k!r} contains NaN/Inf")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        metadata = {
            "format": "pt",
            "upres_arch": info.family,
            "upres_params": json.dumps(info.params, sort_keys=True),
        }
        metadata.update(extra_metadata or {})
        atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=metadata), sweep=True)
    elif suffix in PICKLE_SUFFIXES:
        from upres.archs import spandrel_incompatibility

        if (why := spandrel_incompatibility(info)) is not None:
            raise ModelFileError(
                f"{path}: cannot write {why} as {suffix} (no header to record it); use .safetensors"
            )
        atomic_write(path, lambda tmp: torch.save({param_key: state}, tmp), sweep=True)
    else:
        raise ModelFileError(
            f"{path}: cannot write {repr(suffix) if suffix else 'a name without an extension'}; use .safetensors or "
            ".pth (or .onnx with `upres convert`)"
        )
    return path


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

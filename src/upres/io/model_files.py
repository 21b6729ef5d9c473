"""Reading and writing generator files: .pth/.pt/.ckpt (tensors only) and .safetensors.

Model files from strangers are data: pickles are opened with `weights_only=True`, which refuses any global other than
tensor types and plain containers before anything is called.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from upres.archs import ArchInfo, instantiate, recognise
from upres.errors import ModelFileError
from upres.io.atomic import atomic_write

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt")
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net", "model_state_dict", "netG", "generator")
PREFIXES = ("module.", "netG.", "_orig_mod.", "model.module.")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class LoadedModel:
    """A generator ready to run, with what callers need to know about it."""

    module: nn.Module
    info: ArchInfo
    path: Path | None = None
    dtype: torch.dtype = torch.float32

    @property
    def scale(self) -> int:
        return self.info.scale


def read_tensors(
    path: str | Path, param_key: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Raw tensors and (for safetensors) header metadata of a model file, without running any code in it."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as fh:
                metadata = fh.metadata() or {}
            return load_file(str(path)), metadata
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFileError(f"{path}: not a readable safetensors file ({exc})") from None
    if suffix == ".state":
        models = path.parent.parent / "models"
        beside = sorted(models.glob(f"net_g_ema_{path.stem}.*")) + sorted(models.glob(f"net_g_{path.stem}.*"))
        hint = f"; its generator is {beside[0]}" if beside else ""
        raise ModelFileError(
            f"{path}: a training state, not a model file: continue training from it with "
            f"`upres train -c OPTIONS --resume {path}`{hint}"
        )
    if suffix not in PICKLE_SUFFIXES:
        raise ModelFileError(
            f"{path}: unknown model file type {suffix!r}; use .pth, .pt, .ckpt or .safetensors"
        )
    with open(path, "rb") as fh:
        head = fh.read(2)
    # torch.save writes a zip archive ("PK"); the legacy format and plain pickles start with the PROTO opcode.
    if not (head == b"PK" or head[:1] == b"\x80"):
        raise ModelFileError(f"{path}: not a PyTorch file (neither a torch zip archive nor a pickle)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        if "WeightsUnpickler error" not in str(exc):
            raise ModelFileError(
                f"{path}: not a readable PyTorch file (truncated or corrupt?): {lines[0][:160]}"
            ) from None
        # The restricted unpickler stopped at an instruction or global it does not allow, before calling anything.
        after = lines[lines.index(next(x for x in lines if "WeightsUnpickler error" in x)) + 1 :]
        reason = after[0] if after else "unsupported content"
        raise ModelFileError(
            f"{path}: refused: loading it would need code or objects other than tensors ({reason[:160]}); "
            "only tensor files are opened"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{path}: not a readable PyTorch file (truncated or corrupt?): {first[:160]}"
        ) from None
    if param_key is not None:
        if not isinstance(obj, dict) or param_key not in obj:
            keys = ", ".join(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
            raise ModelFileError(f"{path}: has no {param_key!r} entry (it has: {keys})")
        obj = obj[param_key]
    return unwrap_state_dict(obj, path), {}


def unwrap_state_dict(obj: object, path: Path | str = "<memory>") -> dict[str, torch.Tensor]:
    """Find the state dict inside the usual wrappers and strip DDP/compile/GAN prefixes."""
    for _ in range(4):
        if not isinstance(obj, dict):
            break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), dict) and obj[k]), None)
        if inner is None and len(obj) == 1:
            inner = next(iter(obj.values()))
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict) or not obj:
        raise ModelFileError(
            f"{path}: holds no state dict (expected a dict of tensors, maybe under 'params_ema')"
        )
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise ModelFileError(f"{path}: holds no tensors")
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _header_hints(metadata: dict[str, str]) -> dict:
    """The header's hyperparameters as a dict, or {} (they only fill in what tensors cannot show, and are checked)."""
    try:
        params = json.loads(metadata.get("upres_params", "{}"))
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def _info_from_metadata(metadata: dict[str, str]) -> ArchInfo | None:
    if "upres_arch" not in metadata:
        return None
    from upres.archs import FAMILIES

    params = json.loads(metadata.get("upres_params", "{}"))
    return ArchInfo(metadata["upres_arch"], params, FAMILIES[metadata["upres_arch"]].tags(params))


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Open a generator file of any supported layout, recognised from its tensors."""
    path = Path(path)
    state, metadata = read_tensors(path)
    try:
        info, canonical = recognise(state, _header_hints(metadata))
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    # Shapes are the truth; the header only adds what shapes cannot say (none so far) and is checked against them.
    header = _info_from_metadata(metadata)
    if header is not None and header.family != info.family:
        raise ModelFileError(f"{path}: header says {header.family} but the tensors are {info.family}")
    dtype = next(iter(canonical.values())).dtype
    try:
        module = instantiate(info, {k: v.float() for k, v in canonical.items()})
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    module.eval().requires_grad_(False)
    return LoadedModel(module.to(device), info, path, dtype)


def export_state(
    module_or_state: nn.Module | dict[str, torch.Tensor], dtype: str | None = None
) -> dict[str, torch.Tensor]:
    """Detached, contiguous tensors only: spandrel's restricted unpickler rejects Parameters and numpy objects."""
    state = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
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
) -> Path:
    """Write a generator as .safetensors (metadata in the header) or .pth (`{"params_ema": state}`), atomically."""
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
        atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))
    elif suffix in PICKLE_SUFFIXES:
        from upres.archs import spandrel_incompatibility

        if (why := spandrel_incompatibility(info)) is not None:
            raise ModelFileError(
                f"{path}: cannot write {why} as {suffix} (no header to record it); use .safetensors"
            )
        atomic_write(path, lambda tmp: torch.save({"params_ema": state}, tmp))
    else:
        raise ModelFileError(
            f"{path}: cannot write {suffix!r}; use .safetensors or .pth (or .onnx with `upres convert`)"
        )
    return path


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

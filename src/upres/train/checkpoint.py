"""Training states and model snapshots: atomic writes, keep-last-K, auto resume, no code execution on load."""

from __future__ import annotations

import errno
import random
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from upres.errors import UpresError
from upres.io.atomic import atomic_write

STATE_SUFFIX = ".state"


class CheckpointError(UpresError):
    remedy = "free space"  # what makes a failed write succeed next time (write_error sets it from the fault)


def capture_rng(device: torch.device) -> dict:
    """This process's random streams: Python's, numpy's, torch's CPU one and, training on a GPU, that GPU's."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        # numpy's state holds an ndarray, which a weights-only load refuses; keep it as a tensor.
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict, device: torch.device) -> None:
    random.setstate(_as_tuple(state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is None or device.type != "cuda":
        return
    # States written before per-process streams hold one per GPU the saving process saw.
    if isinstance(cuda, list | tuple):
        index = device.index or 0
        if index >= len(cuda):
            return
        cuda = cuda[index]
    torch.cuda.set_rng_state(cuda, device)


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list | tuple) else x


def state_path(root: Path, iteration: int) -> Path:
    return root / f"{iteration}{STATE_SUFFIX}"


def write_faults() -> tuple[type[BaseException], ...]:
    """What a write on a full or failing disk raises: OSError from Python, RuntimeError from torch.save's zip
    writer (`[enforce fail at inline_container.cc] unexpected pos`), SafetensorError from safetensors."""
    try:
        from safetensors import SafetensorError
    except ImportError:  # older safetensors keep it in the Rust module only
        from safetensors._safetensors_rust import SafetensorError
    return (OSError, RuntimeError, SafetensorError)


def fault_reason(exc: BaseException) -> str:
    """One line for a write fault: 'No space left on device' rather than torch's C++ enforce text."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "unexpected pos" in text or "PytorchStreamWriter" in text:
        return f"the file could not be written in full, the disk is probably full: {text[:120]}"
    return text[:200]


def fault_remedy(exc: BaseException) -> str:
    """What to do before the next save: a folder made read-only or a file system remounted read-only (a disk error)
    does not get better by freeing space, which the message said for every fault."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code in (errno.EACCES, errno.EPERM):
        return "make the experiment folder writable again"
    if code == errno.EROFS:
        return "make the experiment folder's file system writable again (one remounted read-only after a disk error)"
    return "free space"


def write_error(message: str, exc: BaseException) -> CheckpointError:
    error = CheckpointError(message)
    error.remedy = fault_remedy(exc)
    return error


def write_checkpoint_file(path: Path, write) -> Path:
    """`atomic_write(path, write)` with a write fault turned into a CheckpointError: the final name is never
    touched, so the file of the previous checkpoint stays as it was."""
    try:
        return atomic_write(path, write)
    except write_faults() as exc:
        raise write_error(f"could not write {path} ({fault_reason(exc)})", exc) from None


def save_training_state(root: Path, iteration: int, state: dict, keep: int) -> Path:
    """Write the state, then remove the oldest beyond `keep` (those that cannot be removed stay: see `prune`)."""
    path = state_path(root, iteration)
    try:
        atomic_write(path, lambda tmp: torch.save(state, tmp))
    except write_faults() as exc:
        previous = list_states(root)
        kept = f"; the previous state {previous[-1]} is intact" if previous else ""
        raise write_error(f"could not write training state {path} ({fault_reason(exc)}){kept}", exc) from None
    prune(root, keep, STATE_SUFFIX)
    return path


def list_states(root: Path) -> list[Path]:
    found = [(int(p.stem), p) for p in root.glob(f"*{STATE_SUFFIX}") if p.stem.isdigit()]
    return [p for _, p in sorted(found)]


def prune(root: Path, keep: int, suffix: str, protect: set[Path] | None = None) -> list[str]:
    """Remove all but the newest `keep` of each kind of file; returns those that could not be removed, as 'path
    (reason)'. On Windows a file another program has open (a checkpoint tried in chaiNNer) cannot be deleted: that
    is no fault of the save that made it old, which was reported failed (and, at the last save, ended the run)."""
    left: list[str] = []
    pattern = re.compile(r"(\d+)")
    files = sorted(
        (int(m.group(1)), p) for p in root.glob(f"*{suffix}") if (m := pattern.search(p.stem)) and p.is_file()
    )
    by_prefix: dict[str, list[Path]] = {}
    for _, p in files:
        by_prefix.setdefault(pattern.sub("N", p.stem), []).append(p)
    for group in by_prefix.values():
        for p in group[:-keep]:
            if not protect or p not in protect:
                try:
                    p.unlink(missing_ok=True)
                except OSError as exc:
                    left.append(f"{p} ({exc.strerror or exc})")
    return left


def load_training_state(path: Path) -> dict:
    if path.suffix.lower() == ".safetensors":  # what upres writes its models as
        raise CheckpointError(
            f"{path}: a model file, not a training state (the states are training_states/N.state); to start from "
            "its weights set path.pretrain_network_g to it and leave out --resume"
        )
    with open(path, "rb") as fh:
        head = fh.read(2)
    if not head:  # said as "not a file upres train writes", which a state it wrote and a copy then cut off is
        raise CheckpointError(
            f"{path}: not a loadable training state (empty: a copy or save of it stopped before writing anything)"
        )
    if head != b"PK":  # torch.save's zip archive
        raise CheckpointError(
            f"{path}: not a loadable training state (not a file `upres train` writes: those are torch zip archives)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means this state is unusable
        text = str(exc)
        reason = (
            "it holds objects other than tensors, which are never unpickled"
            if "Weights only load failed" in text
            # torch's first sentence; the rest is advice to its own developers ("there is a high ...", cut off)
            else (text.strip().splitlines() or [type(exc).__name__])[0].split(". ")[0].rstrip(".")[:160]
        )
        raise CheckpointError(f"{path}: not a loadable training state ({reason})") from None
    check_state_layout(state, path)
    return state


# What `state.collect_state` always writes; the rest (EMA, discriminator, scaler, pair pool) depends on the run.
REQUIRED = {
    "iteration": int,
    "seed": int,
    "net_g": dict,
    "optimizer_g": dict,
    "schedule_g": dict,
    "rng": dict,
}
MODEL_KEYS = ("params_ema", "params", "state_dict", "model")


def check_state_layout(state: object, path: Path) -> None:
    """A training state, not a model file or another program's checkpoint renamed `.state`."""
    if isinstance(state, dict) and "net_g" not in state and any(k in state for k in MODEL_KEYS):
        raise CheckpointError(
            f"{path}: a model file, not a training state (it holds {next(k for k in MODEL_KEYS if k in state)!r}, "
            "not the optimizer and schedule a resume needs); to start from its weights set "
            "path.pretrain_network_g to it and leave out --resume"
        )
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a training state (it holds a {type(state).__name__}, not a dict)")
    if "iter" in state and "optimizers" in state and "net_g" not in state:
        # BasicSR's layout, which traiNNer-redux kept: its models are separate files, its optimizers a list.
        it = state["iter"]
        raise CheckpointError(
            f"{path}: a traiNNer-redux or BasicSR training state (iteration {it}), which upres cannot resume; start "
            f"a new run from its models instead: path.pretrain_network_g: models/net_g_ema_{it} of that experiment "
            f"(net_g_{it} without EMA) and, for a GAN run, path.pretrain_network_d: models/resume_models/net_d_{it}; "
            "leave out path.resume_state and --resume"
        )
    missing = [k for k in REQUIRED if k not in state]
    wrong = [k for k, kind in REQUIRED.items() if k in state and not isinstance(state[k], kind)]
    if missing or wrong:
        what = f"no {', '.join(missing)}" if missing else f"{wrong[0]} is a {type(state[wrong[0]]).__name__}"
        raise CheckpointError(
            f"{path}: not a training state written by `upres train` ({what}); resume from a file in "
            "experiments/<name>/training_states/"
        )


def find_resume_state(root: Path, skipped: list[str] | None = None) -> Path | None:
    """The newest training state that loads; a damaged newest one falls back to the one before, and each one passed
    over is described in `skipped` for the log."""
    for path in reversed(list_states(root)):
        try:
            load_training_state(path)
            return path
        except CheckpointError as exc:
            if skipped is not None:
                skipped.append(str(exc))
    return None

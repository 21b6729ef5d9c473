"""Finding a generator's state dict inside what a .pth holds: BasicSR's `params_ema`/`params`, a trainer's dict of
networks and optimizers, a whole GAN under one `state_dict` (PyTorch Lightning), DDP/compile prefixes."""

from __future__ import annotations

from pathlib import Path

import torch

from upres.errors import ModelFileError

# Entries that hold a generator, the EMA's first (what Real-ESRGAN's and BasicSR's inference load; "params-ema" is
# how some releases spell it, which spandrel reads too: without it the raw "params" beside it were taken).
WRAPPER_KEYS = (
    "params_ema",
    "params-ema",
    "params",
    "state_dict",
    "model",
    "net",
    "model_state_dict",
    "netG",
    "net_g",
    "generator",
)
PREFIXES = ("module.", "netG.", "_orig_mod.", "model.module.")
# One dict for a whole GAN (Lightning's state_dict): the generator's keys under one of these, the discriminator's
# under another.
GENERATOR_PREFIXES = ("generator.", "net_g.", "netG.")


def unwrap_state_dict(obj: object, path: Path | str = "<memory>") -> dict[str, torch.Tensor]:
    """Find the state dict inside the usual wrappers and strip DDP/compile/GAN prefixes."""
    top = obj
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
        raise ModelFileError(f"{path}: holds no tensors{_entries(top)}")
    return unprefixed(state)


def unprefixed(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The generator's tensors under its own names, whatever wrapped it (DDP, torch.compile, a GAN); for .safetensors
    files too, which DDP-trained runs also write (spandrel strips `module.` there as well)."""
    return generator_part(strip_prefixes(state, PREFIXES))


def _entries(top: object) -> str:
    """Where the tensors are not: the file's entries, so that a user sees what it holds (a trainer's `net_g`
    beside `net_d`, a training state's `optimizers`) and an option file's param_key_g can name one."""
    if not isinstance(top, dict) or not top:
        return ""
    names = [str(k) for k in top]
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    state = {"optimizers", "optimizer", "schedulers"} & set(names)
    return f" at its top level or under params_ema, params or another usual entry (its entries: {shown})" + (
        "; a training state's weights are in the model file written with it" if state else ""
    )


def generator_part(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A whole GAN's state dict (`generator.*` beside `discriminator.*`): the generator's tensors, unprefixed."""
    for prefix in GENERATOR_PREFIXES:
        part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if part:
            return part
    return state


def strip_prefixes(state: dict[str, torch.Tensor], prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The keys without the prefixes they all share, nested ones too (torch.compile of a DDP module)."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in prefixes:
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items()}
                stripped = True
    return state

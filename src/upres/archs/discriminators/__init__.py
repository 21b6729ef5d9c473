"""Discriminator registry: `network_d.type` -> constructor (an explicit dict, no auto-import)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from upres.archs.discriminators.dunet import DUnet
from upres.archs.discriminators.patchgan import MultiScalePatchGANDiscriminatorSN, PatchGANDiscriminatorSN
from upres.archs.discriminators.unet import UNetDiscriminatorSN
from upres.archs.discriminators.vgg_style import VGGStyleDiscriminator
from upres.archs.sizes import size_problem
from upres.errors import ConfigError, ModelFileError, check_keywords, did_you_mean, shell_word

DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "vggstylediscriminator": VGGStyleDiscriminator,
    "patchgandiscriminatorsn": PatchGANDiscriminatorSN,
    "multiscalepatchgandiscriminatorsn": MultiScalePatchGANDiscriminatorSN,
    "unetdiscriminatorsn": UNetDiscriminatorSN,
    "dunet": DUnet,
}

# Option keys users' files carry that mean the same as ours (BasicSR/old ESRGAN spellings).
_KEY_ALIASES = {
    "in_nc": "num_in_ch",
    "input_nc": "num_in_ch",  # traiNNer-redux's PatchGAN
    "nf": "num_feat",
    "ndf": "num_feat",
    "norm_type": "norm",
    "n_layers": "num_layers",
}


def build_discriminator(type_name: str, **options) -> nn.Module:
    """`network_d` block -> module. Unknown type or option -> ConfigError naming it."""
    key = str(type_name).lower()
    if key not in DISCRIMINATORS:
        hint = did_you_mean(key, DISCRIMINATORS)
        raise ConfigError(
            f"network_d type {type_name!r} is not implemented{hint}; available: {', '.join(DISCRIMINATORS)}"
        )
    opts = {_KEY_ALIASES.get(k, k): v for k, v in options.items()}
    for size in ("num_feat", "num_in_ch", "num_layers", "num_d"):
        value = opts.get(size)
        if value is not None and (problem := size_problem(value)):
            # 0, negative or text ('8') ended in torch's reshape/conv errors or a string-formatting message
            raise ConfigError(f"network_d.{size}: {problem}")
    check_keywords(f"network_d ({key})", DISCRIMINATORS[key], opts)
    for name, param in inspect.signature(DISCRIMINATORS[key]).parameters.items():
        if isinstance(param.default, bool) and name in opts and not isinstance(opts[name], bool):
            # 'yes' in quotes (or 0/1) was taken by its truth value: 'false' as text built the skip connections
            raise ConfigError(f"network_d.{name}: true or false, not {opts[name]!r}")
    try:
        return DISCRIMINATORS[key](**opts)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"network_d ({key}): {exc}") from None


def check_crop(net_d: nn.Module, type_name: str, lq_size: int, scale: int) -> None:
    """The discriminator sees GT-sized crops (lq_size x scale); one it cannot judge is a config error now, not
    torch's "Kernel size can't be greater than actual input size" in the first GAN step."""
    smallest, multiple = net_d.input_requirement()
    gt = lq_size * scale
    if gt >= smallest and gt % multiple == 0:
        return

    def accepted(n: int) -> bool:
        return n * scale >= smallest and n * scale % multiple == 0

    above = next(n for n in range(lq_size + 1, lq_size + (1 << 16)) if accepted(n))
    below = next((n for n in range(lq_size - 1, 0, -1) if accepted(n)), None)
    if below is None:  # under the smallest crop: the first that works
        fix = f"the smallest lq_size it accepts is {above} (GT {above * scale} px)"
    else:  # between two that work (a multiple missed): both neighbours, the smaller one trains faster
        fix = (
            f"the nearest lq_size values it accepts are {below} (GT {below * scale} px) and {above} "
            f"(GT {above * scale} px)"
        )
    need = f"GT crops of at least {smallest} px" + (f", in multiples of {multiple}" if multiple > 1 else "")
    raise ConfigError(
        f"network_d ({str(type_name).lower()}) needs {need}, but datasets.train.lq_size {lq_size} x scale {scale} "
        f"gives {gt} px; {fix}"
    )


def check_trainable(net_d: nn.Module, type_name: str, lq_size: int | None, scale: int) -> None:
    """What D must be for the GAN stage: logits out (every ganloss takes logits), and crops it can judge."""
    if any(isinstance(m, nn.Sigmoid) for m in net_d.modules()):
        # traiNNer-redux's key, and redux trains it the same: BCE-with-logits over probabilities in (0, 1).
        raise ConfigError(
            f"network_d ({str(type_name).lower()}).use_sigmoid: true makes D output probabilities, but every ganloss "
            "takes logits, so the sigmoid would be applied twice (vanilla's D loss could not fall below 1.0); remove "
            "use_sigmoid: vanilla on logits already is pix2pix's sigmoid + BCE"
        )
    if lq_size:
        check_crop(net_d, type_name, lq_size, scale)


# Spectral norm saved by torch.nn.utils.spectral_norm (BasicSR, Real-ESRGAN) and by its parametrization form (newer
# code, traiNNer-redux's DUnet) hold the same tensors under different names.
_SPECTRAL_NORM_NAMES = (
    (".weight_orig", ".parametrizations.weight.original"),
    (".weight_u", ".parametrizations.weight.0._u"),
    (".weight_v", ".parametrizations.weight.0._v"),
)


def _spectral_norm_keys_as(state: dict[str, torch.Tensor], wanted: set[str]) -> dict[str, torch.Tensor]:
    """Rename spectral-norm tensors to the form `wanted` uses, whichever form the file was saved in."""
    out = {}
    for key, value in state.items():
        if key not in wanted:
            for a, b in (*_SPECTRAL_NORM_NAMES, *((b, a) for a, b in _SPECTRAL_NORM_NAMES)):
                if key.endswith(a) and key[: -len(a)] + b in wanted:
                    key = key[: -len(a)] + b
                    break
        out[key] = value
    return out


def load_discriminator(
    net_d: nn.Module, path: str | Path, param_key: str | None = None, strict: bool = True
) -> str:
    """Load `path.pretrain_network_d` into `net_d` (files are read tensors-only); returns a one-line report.

    The state dict is found inside the usual wrappers (BasicSR/Real-ESRGAN save D under "params"; `param_key` picks
    another), DDP prefixes are stripped and spectral-norm names translated. `strict`: every tensor must fit, else
    ModelFileError naming the first misfits; otherwise what fits by name and shape is loaded, and a file of which
    nothing fits is an error either way.
    """
    from upres.io.model_files import read_tensors_for_key

    if Path(path).suffix.lower() == ".state":
        # read_tensors' own message points at the state's generator file, which would be the wrong network here
        beside = sorted((Path(path).parent.parent / "models").glob(f"net_d_{Path(path).stem}.*"))
        raise ModelFileError(
            f"path.pretrain_network_d {path}: a training state, not a model file: continue that run with `upres train "
            f"-c OPTIONS --resume {shell_word(path)}`"
            + (
                f", or give its discriminator {beside[0]}"
                if beside
                else ", or give a net_d_*.safetensors/.pth file"
            )
        )
    state, _, fallback = read_tensors_for_key(path, param_key)
    own = net_d.state_dict()
    state = _spectral_norm_keys_as(state, set(own))
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    misfit = [k for k in state if k in own and own[k].shape != state[k].shape]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    report = (
        (f"{fallback}; " if fallback else "")
        + f"{len(usable)} tensors loaded, {len(misfit)} of another shape, {len(missing)} missing from the file, "
        f"{len(unexpected)} not in network_d"
    )
    if not usable or (strict and (misfit or missing or unexpected)):
        first = (misfit or missing or unexpected)[:3]
        hint = "" if not usable else " (set strict_load_d: false to load what fits)"
        raise ModelFileError(f"{path} does not fit network_d: {report}, e.g. {', '.join(first)}{hint}")
    net_d.load_state_dict(usable, strict=False)
    return report


def recognise_discriminator(state: dict[str, torch.Tensor]) -> str | None:
    """A description such as "dunet, num_feat 16" when the tensors are exactly those of one of our discriminators
    (Real-ESRGAN's and traiNNer-redux's layouts), else None: lets commands that take generators say what a net_d
    file is."""
    first = next((v for v in state.values() if v.dim() == 4), None)
    if first is None:
        return None
    num_feat, num_in_ch = int(first.shape[0]), int(first.shape[1])
    wanted = {k: tuple(v.shape) for k, v in state.items()}
    candidates = [
        ("unetdiscriminatorsn", {}),
        ("dunet", {}),
        ("vggstylediscriminator", {"input_size": 128}),
        ("vggstylediscriminator", {"input_size": 256}),
        ("patchgandiscriminatorsn", {}),
    ]
    for name, extra in candidates:
        try:
            net = build_discriminator(name, num_in_ch=num_in_ch, num_feat=num_feat, **extra)
        except (ConfigError, ValueError):
            continue
        if {k: tuple(v.shape) for k, v in net.state_dict().items()} == wanted:
            return f"{name}, num_feat {num_feat}"
    return None


__all__ = [
    "DISCRIMINATORS",
    "build_discriminator",
    "check_crop",
    "check_trainable",
    "load_discriminator",
    "recognise_discriminator",
]

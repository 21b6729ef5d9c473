"""Generator registry: option-file names -> constructors, and state dict -> architecture recognition.

Recognition reads hyperparameters from tensor shapes (spandrel's approach), so a bare state dict needs no config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from upres.archs.compact import (
    SRVGGNetCompact,
    compact_hidden_from_state,
    compact_hyperparameters,
    compact_tags,
    is_compact,
    spandrel_note,
)
from upres.archs.rrdbnet import RRDBNet, is_rrdbnet, rrdbnet_hyperparameters, rrdbnet_tags, to_basicsr_keys
from upres.archs.sizes import size_problem
from upres.errors import ConfigError, ModelFileError, check_keywords, did_you_mean


@dataclass(frozen=True)
class Family:
    """One architecture family: how to build it, recognise it and describe it."""

    name: str
    build: Callable[..., nn.Module]
    matches: Callable[[dict], bool]
    canonical_keys: Callable[[dict], dict]
    hyperparameters: Callable[[dict], dict]
    tags: Callable[[dict], list[str]]
    # Inputs must be a multiple of this (pixel-unshuffle); the module pads internally, this is for exporters.
    size_multiple: Callable[[dict], int] = lambda p: 1
    # Hyperparameters the tensors cannot show, from (state dict, a header's or module's values); defaults omitted.
    # A state of None checks option values alone.
    hidden: Callable[[dict | None, dict], dict] = lambda state, hints: {}
    # Why chaiNNer/spandrel cannot open a model with these params, or None.
    spandrel_note: Callable[[dict], str | None] = lambda p: None


def _rrdb_multiple(p: dict) -> int:
    return {1: 4, 2: 2}.get(p["scale"], 1) if p.get("use_pixel_unshuffle", True) else 1


FAMILIES: dict[str, Family] = {
    "esrgan": Family(
        "esrgan", RRDBNet, is_rrdbnet, to_basicsr_keys, rrdbnet_hyperparameters, rrdbnet_tags, _rrdb_multiple
    ),
    "compact": Family(
        "compact",
        SRVGGNetCompact,
        is_compact,
        dict,
        compact_hyperparameters,
        compact_tags,
        hidden=compact_hidden_from_state,
        spandrel_note=spandrel_note,
    ),
}

# Option-file names (traiNNer-redux's, plus BasicSR's class names lower-cased) -> (family, preset hyperparameters).
NETWORKS: dict[str, tuple[str, dict]] = {
    "esrgan": ("esrgan", {"num_feat": 64, "num_block": 23}),
    "esrgan_lite": ("esrgan", {"num_feat": 32, "num_block": 12}),
    "rrdbnet": ("esrgan", {"num_feat": 64, "num_block": 23}),
    "compact": ("compact", {"num_feat": 64, "num_conv": 16}),
    "ultracompact": ("compact", {"num_feat": 64, "num_conv": 8}),
    "superultracompact": ("compact", {"num_feat": 24, "num_conv": 8}),
    "srvggnetcompact": ("compact", {"num_feat": 64, "num_conv": 16}),
}

# Option keys users' files carry that mean the same as ours.
_KEY_ALIASES = {
    "upscale": "scale",
    "in_nc": "num_in_ch",
    "out_nc": "num_out_ch",
    "nf": "num_feat",
    "nb": "num_block",
    "num_filters": "num_feat",  # traiNNer-redux's esrgan
    "num_blocks": "num_block",
}


@dataclass(frozen=True)
class ArchInfo:
    """What a caller needs to know about a generator, independent of where it came from."""

    family: str
    params: dict
    tags: list[str] = field(default_factory=list)

    @property
    def scale(self) -> int:
        return int(self.params["scale"])

    @property
    def in_channels(self) -> int:
        return int(self.params["num_in_ch"])

    @property
    def out_channels(self) -> int:
        return int(self.params["num_out_ch"])

    @property
    def size_multiple(self) -> int:
        return FAMILIES[self.family].size_multiple(self.params)


def network_params(type_name: str, options: dict | None = None, scale: int | None = None) -> tuple[str, dict]:
    """Resolve an option-file `network_g` block to (family, full hyperparameters); `scale` is the file's top-level
    scale, which a `scale`/`upscale` inside the block may repeat but not contradict."""
    key = type_name.lower()
    if key not in NETWORKS:
        hint = did_you_mean(key, NETWORKS)
        raise ConfigError(
            f"network type {type_name!r} is not implemented{hint}; available: {', '.join(NETWORKS)}"
        )
    family, preset = NETWORKS[key]
    params = dict(preset)
    if scale is not None:
        params["scale"] = scale
    given: dict[str, str] = {}
    for k, v in (options or {}).items():
        name = _KEY_ALIASES.get(k, k)
        if name in given:
            raise ConfigError(f"network_g: {given[name]} and {k} are the same setting; give one")
        given[name] = k
        if name == "scale" and scale is not None and v != scale:
            raise ConfigError(
                f"network_g.{k} {v!r} differs from the top-level scale {scale}; remove network_g.{k} "
                "(the top-level scale sets the model's scale)"
            )
        params[name] = v
    try:
        FAMILIES[family].hidden(None, params)
    except ModelFileError as exc:
        raise ConfigError(f"network_g ({type_name}): {exc}") from None
    for k, v in params.items():
        # Widths, depths and channel counts: a zero or negative one would only fail deep inside the first forward.
        if k.startswith("num_") and (problem := size_problem(v)):
            raise ConfigError(f"network_g.{k}: {problem}")
    return family, params


def build_network(type_name: str, **options) -> tuple[nn.Module, ArchInfo]:
    return build_network_for(type_name, options)


def build_network_for(
    type_name: str, options: dict | None = None, scale: int | None = None
) -> tuple[nn.Module, ArchInfo]:
    """An option file's `network_g` (type, the block's other keys) at the file's top-level `scale`."""
    family, params = network_params(type_name, options, scale)
    check_keywords(f"network_g ({type_name})", FAMILIES[family].build, params)
    try:
        module = FAMILIES[family].build(**params)
    except TypeError as exc:
        raise ConfigError(f"network_g ({type_name}): {exc}") from None
    info = describe_module(family, module)
    return module, info


def describe_module(family: str, module: nn.Module) -> ArchInfo:
    fam = FAMILIES[family]
    state = module.state_dict()
    params = fam.hyperparameters(state)
    params.update(fam.hidden(state, {k: v for k, v in vars(module).items() if not k.startswith("_")}))
    return ArchInfo(family, params, fam.tags(params))


def spandrel_incompatibility(info: ArchInfo) -> str | None:
    """Why chaiNNer/spandrel cannot open this model as upres does, or None."""
    return FAMILIES[info.family].spandrel_note(info.params)


def basicsr_note(info: ArchInfo) -> str | None:
    """Why BasicSR/Real-ESRGAN's RRDBNet cannot build this model from a .pth in their key names, or None: it builds
    4x, and 2x/1x through pixel-unshuffle only (a native 2x ESRGAN, old layout, is another network)."""
    if info.family != "esrgan":
        return None
    scale, unshuffle = info.params.get("scale"), bool(info.params.get("use_pixel_unshuffle"))
    if (scale == 4 and not unshuffle) or (scale in (1, 2) and unshuffle):
        return None
    kind = f"a {scale}x RRDBNet " + ("with" if unshuffle else "without") + " pixel-unshuffle"
    return f"{kind}: Real-ESRGAN/BasicSR build 4x, and 2x/1x with pixel-unshuffle only, so it opens in chaiNNer and upres, not there"


def chainner_note(info: ArchInfo) -> str | None:
    """Why chaiNNer/spandrel cannot open this model in any file format (its tensors say what it is, but spandrel
    builds only the usual shape), or None."""
    grow = info.params.get("num_grow_ch", 32)
    if info.family == "esrgan" and grow != 32:
        return (
            f"an RRDBNet with num_grow_ch {grow}: chaiNNer/spandrel build 32 only, so its files open in upres but "
            "not in chaiNNer"
        )
    return None


def recognise(
    state: dict[str, torch.Tensor], hints: dict | None = None
) -> tuple[ArchInfo, dict[str, torch.Tensor]]:
    """(architecture, state dict renamed to our module's keys) for a bare state dict, from keys and shapes;
    `hints` (a header's hyperparameters) supply only what the tensors cannot show."""
    for fam in FAMILIES.values():
        if fam.matches(state):
            try:
                canonical = fam.canonical_keys(state)
                params = fam.hyperparameters(canonical)
            except (KeyError, ValueError, IndexError) as exc:
                raise ModelFileError(f"looks like {fam.name} but its tensors do not fit ({exc})") from None
            params.update(fam.hidden(canonical, hints or {}))
            return ArchInfo(fam.name, params, fam.tags(params)), canonical
    from upres.archs.discriminators import recognise_discriminator

    kind = recognise_discriminator(state)
    if kind:
        raise ModelFileError(
            f"a discriminator ({kind}), not an upscaling model; it is used as path.pretrain_network_d when "
            "training a GAN (the generator is the net_g_* file beside it)"
        )
    from upres.archs.elsewhere import spandrel_name

    if name := spandrel_name(state):
        raise ModelFileError(
            f"a {name} model (spandrel recognises it), an architecture upres does not implement; upres reads "
            "ESRGAN/RRDBNet and SRVGGNetCompact files (chaiNNer runs this one)"
        )
    sample = ", ".join(list(state)[:4])
    raise ModelFileError(
        f"unknown architecture (first keys: {sample}); upres reads ESRGAN/RRDBNet (all three layouts) and "
        "SRVGGNetCompact files"
    )


def instantiate(info: ArchInfo, state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    module = FAMILIES[info.family].build(**info.params)
    if state is not None:
        expected = module.state_dict()
        for key, tensor in state.items():
            if key in expected and tensor.shape != expected[key].shape:
                raise ModelFileError(
                    f"tensor {key!r} has shape {tuple(tensor.shape)}, but the {info.family} that the other tensors "
                    f"describe needs {tuple(expected[key].shape)}; the file is damaged or was edited"
                )
        missing, unexpected = module.load_state_dict(state, strict=False)
        if missing or unexpected:
            detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
            raise ModelFileError(
                f"{info.family} state dict does not fit the recognised architecture: {detail}"
            )
    return module

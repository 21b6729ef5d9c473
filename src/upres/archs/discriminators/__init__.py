"""Discriminator registry: `network_d.type` -> constructor (an explicit dict, no auto-import)."""

from __future__ import annotations

import difflib
from collections.abc import Callable

from torch import nn

from upres.archs.discriminators.dunet import DUnet
from upres.archs.discriminators.patchgan import MultiScalePatchGANDiscriminatorSN, PatchGANDiscriminatorSN
from upres.archs.discriminators.unet import UNetDiscriminatorSN
from upres.archs.discriminators.vgg_style import VGGStyleDiscriminator
from upres.errors import ConfigError

DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "vggstylediscriminator": VGGStyleDiscriminator,
    "patchgandiscriminatorsn": PatchGANDiscriminatorSN,
    "multiscalepatchgandiscriminatorsn": MultiScalePatchGANDiscriminatorSN,
    "unetdiscriminatorsn": UNetDiscriminatorSN,
    "dunet": DUnet,
}

# Option keys users' files carry that mean the same as ours (BasicSR/old ESRGAN spellings).
_KEY_ALIASES = {"in_nc": "num_in_ch", "nf": "num_feat", "norm_type": "norm", "n_layers": "num_layers"}


def build_discriminator(type_name: str, **options) -> nn.Module:
    """`network_d` block -> module. Unknown type or option -> ConfigError naming it."""
    key = str(type_name).lower()
    if key not in DISCRIMINATORS:
        close = difflib.get_close_matches(key, DISCRIMINATORS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"network_d type {type_name!r} is not implemented{hint}; available: {', '.join(DISCRIMINATORS)}"
        )
    opts = {_KEY_ALIASES.get(k, k): v for k, v in options.items()}
    try:
        return DISCRIMINATORS[key](**opts)
    except TypeError as exc:
        raise ConfigError(f"network_d ({key}): {exc}") from None


__all__ = ["DISCRIMINATORS", "build_discriminator"]

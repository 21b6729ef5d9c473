"""Real-ESRGAN's SRVGGNetCompact: a plain conv stack with PReLU and a pixel-shuffle tail.

The network predicts the residual over the nearest-upsampled input. Module names (`body.N`) match Real-ESRGAN's.
traiNNer-redux adds `act_type` (relu, leakyrelu) and `learn_residual: false`; neither shows in the tensors, so
such a model keeps them in upres's .safetensors header, and chaiNNer/spandrel (PReLU with residual only) cannot
load it.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from upres.errors import ModelFileError

SUPPORTED_SCALES = (1, 2, 3, 4)
ACT_TYPES = ("prelu", "relu", "leakyrelu")
# What spandrel assumes for every Compact file; only other values are recorded in ArchInfo.params.
HIDDEN_DEFAULTS = {"act_type": "prelu", "learn_residual": True}


def _activation(act_type: str, num_feat: int) -> nn.Module:
    if act_type == "prelu":
        return nn.PReLU(num_parameters=num_feat)
    if act_type == "relu":
        return nn.ReLU(inplace=True)
    return nn.LeakyReLU(negative_slope=0.1, inplace=True)  # traiNNer-redux's slope


class SRVGGNetCompact(nn.Module):
    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        scale: int = 4,
        act_type: str = "prelu",
        learn_residual: bool = True,
    ) -> None:
        super().__init__()
        if scale not in SUPPORTED_SCALES:
            raise ModelFileError(f"compact scale {scale} is not supported; use one of {SUPPORTED_SCALES}")
        if act_type not in ACT_TYPES:
            raise ModelFileError(f"compact act_type {act_type!r} is not one of {', '.join(ACT_TYPES)}")
        if not isinstance(learn_residual, bool):
            raise ModelFileError(f"compact learn_residual must be true or false, not {learn_residual!r}")
        self.scale = scale
        self.act_type = act_type
        self.learn_residual = learn_residual
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), _activation(act_type, num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        if not self.learn_residual:
            return out
        if self.scale == 1:
            return out + x
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def is_compact(state: dict[str, torch.Tensor]) -> bool:
    if "body.0.weight" not in state or state["body.0.weight"].ndim != 4:
        return False
    if "body.1.weight" in state:
        return state["body.1.weight"].ndim == 1  # PReLU
    # ReLU/LeakyReLU have no tensors: convolutions at every other index.
    return "body.2.weight" in state and state["body.2.weight"].ndim == 4


def compact_hidden(values: dict) -> dict:
    """`act_type`/`learn_residual` from a header or a module, validated; only values other than spandrel's."""
    out = {}
    act = values.get("act_type", "prelu")
    if act not in ACT_TYPES:
        raise ModelFileError(f"compact act_type {act!r} is not one of {', '.join(ACT_TYPES)}")
    residual = values.get("learn_residual", True)
    if not isinstance(residual, bool):
        raise ModelFileError(f"compact learn_residual must be true or false, not {residual!r}")
    if act != "prelu":
        out["act_type"] = act
    if not residual:
        out["learn_residual"] = False
    return out


def compact_hidden_from_state(state: dict[str, torch.Tensor] | None, hints: dict) -> dict:
    """The hidden hyperparameters of a Compact state dict, given what its file's header says (`hints`)."""
    if state is None:
        return compact_hidden(hints)
    if (
        "body.1.weight" in state
    ):  # PReLU weights are there: the tensors win over a header, even one naming no activation
        hints = {k: v for k, v in hints.items() if k != "act_type"}
    try:
        hidden = compact_hidden(hints)
    except ModelFileError as exc:
        raise ModelFileError(
            f"the header's upres_params: {exc}, and the tensors cannot show it; write the file again with the value "
            "it was trained with"
        ) from None
    if "body.1.weight" not in state and "act_type" not in hidden:
        raise ModelFileError(
            "a Compact without PReLU weights (traiNNer-redux act_type relu or leakyrelu) and no header saying "
            "which; open the .safetensors file upres or traiNNer-redux wrote with it"
        )
    return hidden


def spandrel_note(params: dict) -> str | None:
    """Why chaiNNer/spandrel cannot open this Compact correctly, or None."""
    odd = [f"{k} {v}" for k, v in params.items() if k in HIDDEN_DEFAULTS and v != HIDDEN_DEFAULTS[k]]
    if not odd:
        return None
    return (
        f"a Compact with {', '.join(odd)}: chaiNNer/spandrel only read PReLU Compact models that learn the residual, "
        "so its files open in upres (the .safetensors header records it) but not in chaiNNer"
    )


def compact_hyperparameters(state: dict[str, torch.Tensor]) -> dict:
    indices = [int(m.group(1)) for k in state if (m := re.fullmatch(r"body\.(\d+)\.weight", k))]
    last = max(indices)
    num_feat, in_ch = state["body.0.weight"].shape[:2]
    tail = state[f"body.{last}.weight"].shape[0]
    # The tail has out_ch * scale^2 channels; out_ch is usually in_ch (RGB -> RGB, gray -> gray).
    for out_ch in (in_ch, 3, 1, 4):
        scale = math.isqrt(tail // out_ch) if tail % out_ch == 0 else 0
        if scale * scale * out_ch == tail and scale in SUPPORTED_SCALES:
            break
    else:
        raise ModelFileError(
            f"compact tail conv has {tail} channels: not out_channels x scale^2 for scales 1-4"
        )
    return {
        "num_in_ch": in_ch,
        "num_out_ch": out_ch,
        "num_feat": num_feat,
        "num_conv": (last - 2) // 2,
        "scale": scale,
    }


def compact_tags(params: dict) -> list[str]:
    tags = [f"{params['num_feat']}nf", f"{params['num_conv']}nc"]
    if params.get("act_type", "prelu") != "prelu":
        tags.append(params["act_type"])
    if params.get("learn_residual") is False:
        tags.append("no-residual")
    return tags

"""ESRGAN's RRDBNet (Wang et al. 2018) and how to recognise its three community key layouts.

Module names follow BasicSR/Real-ESRGAN (`conv_first`, `body.N.rdbK.convJ`, `conv_body`, `conv_upN`, `conv_hr`,
`conv_last`) so that `state_dict()` loads unchanged in Real-ESRGAN and spandrel.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from upres.errors import ModelFileError

# The growth channels stay 32 at every width: spandrel and community checkpoints hard-code it.
GROWTH_CHANNELS = 32
SUPPORTED_SCALES = (1, 2, 4, 8)


def _scaled_kaiming_(convs: list[nn.Conv2d], scale: float) -> None:
    # ESRGAN section 3.3: smaller initial residuals make very deep networks without BN trainable.
    for conv in convs:
        nn.init.kaiming_normal_(conv.weight)
        conv.weight.data.mul_(scale)
        nn.init.zeros_(conv.bias)


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int = GROWTH_CHANNELS) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        _scaled_kaiming_([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x  # residual scaling 0.2 (ESRGAN section 3.3)


class RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int = GROWTH_CHANNELS) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


def check_rrdb_scale(scale: int) -> None:
    if scale == 3:
        raise ModelFileError(
            "RRDBNet scale 3 is not supported: a 3x ESRGAN file has the same layers as a 2x one, so chaiNNer/spandrel "
            "would load it as 2x; train 2x or 4x instead"
        )
    if scale not in SUPPORTED_SCALES:
        raise ModelFileError(f"RRDBNet scale {scale} is not supported; use one of {SUPPORTED_SCALES}")


class RRDBNet(nn.Module):
    """RRDB generator without batch norm; nearest x2 + conv per upsampling step.

    Scales 1 and 2 pixel-unshuffle the input by 4 and 2 and then upsample 4x, as Real-ESRGAN's x2plus does
    (`use_pixel_unshuffle=True`); with `False` they upsample natively like the oldest 1x/2x ESRGAN files.
    """

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = GROWTH_CHANNELS,
        use_pixel_unshuffle: bool = True,
    ) -> None:
        super().__init__()
        check_rrdb_scale(scale)
        self.scale = scale
        self.shuffle_factor = {1: 4, 2: 2}.get(scale, 1) if use_pixel_unshuffle else 1
        n_up = int(math.log2(scale * self.shuffle_factor))
        self.conv_first = nn.Conv2d(num_in_ch * self.shuffle_factor**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        for i in range(1, n_up + 1):
            setattr(self, f"conv_up{i}", nn.Conv2d(num_feat, num_feat, 3, 1, 1))
        self.n_up = n_up
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        f = self.shuffle_factor
        if f > 1:
            pad_h, pad_w = (-h) % f, (-w) % f
            # Exporters trace one example size; the pad must stay in the graph for other sizes.
            if pad_h or pad_w or torch.jit.is_tracing():
                # Reflection (Real-ESRGAN's and spandrel's) cannot pad a side by its length or more: an image
                # smaller than one cell is padded by repetition instead of failing.
                mode = "reflect" if pad_h < h and pad_w < w else "replicate"
                x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
            x = F.pixel_unshuffle(x, f)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(1, self.n_up + 1):
            conv = getattr(self, f"conv_up{i}")
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        if f > 1:
            out = out[..., : h * self.scale, : w * self.scale]
        return out


# --- recognising state dicts -------------------------------------------------------------------------------

_ORIGINAL_REPO_RENAMES = [
    (re.compile(r"^RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.(weight|bias)$"), r"body.\1.rdb\2.conv\3.\4"),
    (re.compile(r"^trunk_conv\.(weight|bias)$"), r"conv_body.\1"),
    (re.compile(r"^upconv(\d)\.(weight|bias)$"), r"conv_up\1.\2"),
    (re.compile(r"^HRconv\.(weight|bias)$"), r"conv_hr.\1"),
]
_OLD_BLOCK = re.compile(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$")
_OLD_TOP = re.compile(r"^model\.(\d+)\.(weight|bias)$")
_OLD_TRUNK = re.compile(r"^model\.1\.sub\.(\d+)\.(weight|bias)$")


def is_rrdbnet(state: dict[str, torch.Tensor]) -> bool:
    return (
        "conv_first.weight" in state
        and ("body.0.rdb1.conv1.weight" in state or "RRDB_trunk.0.RDB1.conv1.weight" in state)
    ) or ("model.0.weight" in state and "model.1.sub.0.RDB1.conv1.0.weight" in state)


def to_basicsr_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename any of the three ESRGAN layouts to BasicSR/Real-ESRGAN key names."""
    if "model.0.weight" in state:
        return _old_sequential_to_basicsr(state)
    out = {}
    for key, value in state.items():
        for pattern, repl in _ORIGINAL_REPO_RENAMES:
            if pattern.match(key):
                key = pattern.sub(repl, key)
                break
        out[key] = value
    return out


def _old_sequential_to_basicsr(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if any(".conv1x1." in k for k in state):
        raise ModelFileError("ESRGAN+ checkpoints (RRDB with conv1x1 layers) are not supported")
    top = sorted({int(m.group(1)) for k in state if (m := _OLD_TOP.match(k))})
    if len(top) < 3:
        raise ModelFileError("old-layout ESRGAN file lacks its final convolutions (model.N.weight)")
    last, hr = top[-1], top[-2]
    # Upsampling convs sit at model.3, model.6, ... (Upsample, Conv, LeakyReLU per x2 step).
    ups = [i for i in top if 0 < i < hr]
    if any(i % 3 for i in ups):
        raise ModelFileError(f"old-layout ESRGAN file has unexpected layer indices {top}")
    out: dict[str, torch.Tensor] = {}
    trunk_index = max(int(m.group(1)) for k in state if (m := _OLD_TRUNK.match(k)))
    for key, value in state.items():
        if m := _OLD_BLOCK.match(key):
            out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = value
        elif m := _OLD_TRUNK.match(key):
            if int(m.group(1)) == trunk_index:
                out[f"conv_body.{m.group(2)}"] = value
        elif m := _OLD_TOP.match(key):
            i, kind = int(m.group(1)), m.group(2)
            name = {0: "conv_first", hr: "conv_hr", last: "conv_last"}.get(i) or f"conv_up{i // 3}"
            out[f"{name}.{kind}"] = value
        else:
            raise ModelFileError(f"old-layout ESRGAN file has an unexpected key {key!r}")
    return out


def rrdbnet_hyperparameters(state: dict[str, torch.Tensor]) -> dict:
    """Hyperparameters of a BasicSR-keyed RRDBNet state dict, read from tensor shapes."""
    num_feat, in_ch = state["conv_first.weight"].shape[:2]
    out_ch = state["conv_last.weight"].shape[0]
    num_block = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("body."))
    num_grow_ch = state["body.0.rdb1.conv1.weight"].shape[0]
    n_up = sum(1 for k in state if re.fullmatch(r"conv_up\d\.weight", k))
    internal_scale = 2**n_up
    shuffle_factor = 1
    # Pixel-unshuffle files (Real-ESRGAN x2plus, 1x models) have 4x or 16x as many input as output channels.
    for f in (2, 4):
        if in_ch == out_ch * f * f and internal_scale // f >= 1:
            shuffle_factor = f
    scale = internal_scale // shuffle_factor
    return {
        "num_in_ch": in_ch // shuffle_factor**2,
        "num_out_ch": out_ch,
        "scale": scale,
        "num_feat": num_feat,
        "num_block": num_block,
        "num_grow_ch": num_grow_ch,
        "use_pixel_unshuffle": shuffle_factor > 1,
    }


def rrdbnet_tags(params: dict) -> list[str]:
    tags = [f"{params['num_feat']}nf", f"{params['num_block']}nb"]
    if params.get("use_pixel_unshuffle") and params["scale"] in (1, 2):
        tags.append("unshuffle")
    return tags

"""VGG19 perceptual loss on features taken *before* activation (ESRGAN section 3.4).

Pre-activation features keep the sign information ReLU throws away, so they stay informative in the deep, sparse
layers (conv5_4) and give brightness-consistent textures. The ground-truth branch runs under `torch.no_grad()`:
nothing upstream of it needs a gradient, and skipping the graph saves memory and time.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from upres.errors import ConfigError, ModelFileError
from upres.losses.full_precision import full_precision
from upres.losses.pixel import criterion as make_criterion
from upres.option_file import path_as_written

VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet VGG19 (IMAGENET1K_V1)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's vgg19 `features` layout: channels per conv, "M" = max-pool.
_VGG19_CFG = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
)


def _layer_names() -> list[str]:
    """Names of torchvision's vgg19.features entries in index order (conv1_1, relu1_1, ..., pool5)."""
    names, block, conv = [], 1, 1
    for c in _VGG19_CFG:
        if c == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


VGG19_LAYERS = _layer_names()


def default_vgg_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


def resolve_vgg_weights(path: str | Path | None) -> Path:
    if path is not None:
        try:
            p = Path(path_as_written(str(path)))  # ~ and $VAR as every other path of an option file
        except ValueError as exc:
            raise ConfigError(f"perceptualloss.vgg_weights_path: {exc} (got {str(path)!r})") from None
        if p.is_dir():
            raise ConfigError(
                f"perceptualloss.vgg_weights_path: {p} is a folder; give the weights file in it"
            )
        if not p.is_file():
            raise ConfigError(f"perceptualloss.vgg_weights_path: {p} does not exist")
        return p
    p = default_vgg_path()
    if not p.is_file():
        raise ConfigError(
            f"perceptualloss needs torchvision's ImageNet VGG19 weights ({VGG19_FILE}); put the file at {p} "
            "(on a connected machine: python -c \"import torchvision; torchvision.models.vgg19(weights='DEFAULT')\" "
            "downloads it there) or set vgg_weights_path in the loss options"
        )
    return p


class VGGFeatures(nn.Module):
    """torchvision's VGG19 `features`, cut after the deepest requested layer; returns the requested activations.

    Holds no weights until `load_torchvision(path)` is called.

    Module indices match torchvision's, so `features.N.weight` from its file loads directly. ReLUs are not in-place:
    a returned pre-activation tensor must not be overwritten by the next layer.
    """

    def __init__(
        self,
        layers: list[str],
        use_input_norm: bool = True,
        range_norm: bool = False,
        first_padding: str = "zeros",
    ) -> None:
        super().__init__()
        if first_padding not in ("zeros", "replicate"):
            raise ConfigError(
                f"perceptualloss.first_padding: {first_padding!r} is not one of replicate, zeros"
            )
        unknown = [n for n in layers if n not in VGG19_LAYERS]
        if unknown:
            raise ConfigError(
                f"perceptualloss.layer_weights: unknown VGG19 layer(s) {unknown}; use e.g. conv5_4, relu4_4"
            )
        last = max(VGG19_LAYERS.index(n) for n in layers)
        mods: list[nn.Module] = []
        in_ch = 3
        # Built on the meta device: the weights come from the file (`load_torchvision`), so a random init of
        # 20M parameters would be wasted time.
        with torch.device("meta"):
            for name in VGG19_LAYERS[: last + 1]:
                if name.startswith("conv"):
                    out_ch = self._channels(name)
                    mods.append(nn.Conv2d(in_ch, out_ch, 3, 1, 1))
                    in_ch = out_ch
                elif name.startswith("relu"):
                    mods.append(nn.ReLU(inplace=False))
                else:
                    mods.append(nn.MaxPool2d(2, 2))
        mods[0].padding_mode = first_padding  # conv1_1: how the image's border is extended
        self.features = nn.Sequential(*mods)
        self.wanted = {VGG19_LAYERS.index(n): n for n in layers}
        self.use_input_norm = use_input_norm
        self.range_norm = range_norm
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @staticmethod
    def _channels(conv_name: str) -> int:
        block = int(conv_name[4])
        return {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}[block]

    def load_torchvision(self, path: Path) -> None:
        from upres.io.model_files import load_pickle

        try:
            state = load_pickle(path)
        except ModelFileError as exc:
            raise ConfigError(
                f"perceptualloss.vgg_weights_path: {exc}; give torchvision's {VGG19_FILE}"
            ) from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        ours = self.state_dict()
        picked = {k: state.get(k) for k in ours}
        bad = [k for k, v in picked.items() if not isinstance(v, torch.Tensor) or v.shape != ours[k].shape]
        picked = {k: v.float() for k, v in picked.items() if k not in bad}
        if bad:
            raise ConfigError(
                f"perceptualloss: {path} is not torchvision's VGG19 file (missing or mis-shaped: {bad[:3]})"
            )
        self.load_state_dict(picked, assign=True)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.shape[1] == 1:
            # A luma model (`color: y`): VGG sees the gray image as RGB. With use_input_norm the normalisation's
            # broadcast did this already; without it conv1_1 failed on the one channel.
            x = x.expand(-1, 3, -1, -1)
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.wanted:
                out[self.wanted[i]] = x
        return out


# traiNNer-redux's default (and Real-ESRGAN's perceptual weights): five VGG19 layers before activation.
DEFAULT_LAYER_WEIGHTS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}


class PerceptualLoss(nn.Module):
    """sum_k layer_weights[k] * criterion(VGG_k(sr), VGG_k(gt)), VGG frozen, no gradient through gt.

    Defaults are traiNNer-redux's: DEFAULT_LAYER_WEIGHTS, the Charbonnier criterion (ESRGAN's paper: conv5_4, l1) and
    `first_padding: replicate`, conv1_1 extending the image's border by its edge pixels (BasicSR's and torchvision's
    VGG pad with zeros: `first_padding: zeros`), which keeps a dark frame out of the features at the crop's edges.
    """

    def __init__(
        self,
        layer_weights: dict[str, float] | None = None,
        criterion: str = "charbonnier",
        vgg_weights_path: str | Path | None = None,
        use_input_norm: bool = True,
        range_norm: bool = False,
        first_padding: str = "replicate",
    ) -> None:
        super().__init__()
        self.layer_weights = dict(DEFAULT_LAYER_WEIGHTS if layer_weights is None else layer_weights)
        if not self.layer_weights:
            raise ConfigError("perceptualloss.layer_weights is empty")
        # A negative weight rewards distance from the ground truth, NaN makes every step NaN, all zeros trains
        # nothing: each was computed without a word.
        bad = {
            k: w
            for k, w in self.layer_weights.items()
            if isinstance(w, bool) or not isinstance(w, int | float) or not 0 <= w < float("inf")
        }
        if bad or not any(self.layer_weights.values()):
            shown = bad or self.layer_weights
            raise ConfigError(
                f"perceptualloss.layer_weights: each weight must be a number >= 0 and one above 0, got {shown}"
            )
        self.criterion = make_criterion(criterion, "perceptualloss.criterion")
        self.vgg = VGGFeatures(list(self.layer_weights), use_input_norm, range_norm, first_padding)
        self.vgg.load_torchvision(resolve_vgg_weights(vgg_weights_path))
        self.vgg.eval()
        self.vgg.requires_grad_(False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.vgg.eval()  # frozen feature extractor: never switch it to training behaviour
        return self

    # float32 under AMP, as traiNNer-redux runs it (custom_fwd(cast_inputs=float32)): in bf16 the features keep 8
    # significant bits, and where SR is near GT their difference is mostly rounding (1.5x the loss, gradient at a
    # cosine of 0.67 to float32's at 0.5/255 per pixel).
    @full_precision
    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        sr_f = self.vgg(sr)
        with torch.no_grad():
            gt_f = self.vgg(gt.detach())
        total = sr.new_zeros(())
        for name, w in self.layer_weights.items():
            total = total + w * self.criterion(sr_f[name], gt_f[name])
        return total

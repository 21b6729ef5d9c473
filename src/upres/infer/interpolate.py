"""Network interpolation (ESRGAN paper, section 3.4): a weighted sum of models of the same architecture."""

from __future__ import annotations

from pathlib import Path

import torch

from upres.archs import ArchInfo
from upres.archs.compact import HIDDEN_DEFAULTS
from upres.errors import ModelFileError
from upres.io.model_files import checked_module, read_generator, refuse_nonfinite
from upres.io.names import fitted_name


def interpolate_states(
    states: list[dict[str, torch.Tensor]], weights: list[float]
) -> dict[str, torch.Tensor]:
    """sum_i w_i * state_i per tensor, computed in float64 and stored in the widest of the models' dtypes (an fp16
    first model rounded an fp32 second one, so alpha 0 did not give it back)."""
    if len(states) != len(weights) or len(states) < 2:
        raise ModelFileError("interpolation needs at least two models and one weight per model")
    if abs(sum(weights) - 1.0) > 1e-6:
        raise ModelFileError(f"interpolation weights must sum to 1, got {sum(weights):g}")
    first = states[0]
    for i, other in enumerate(states[1:], start=2):
        for key, value in first.items():
            if key not in other:
                raise ModelFileError(
                    f"model {i} has no tensor {key!r}: the models have different architectures"
                )
            if other[key].shape != value.shape:
                raise ModelFileError(
                    f"tensor {key!r} has shape {tuple(value.shape)} in model 1 but {tuple(other[key].shape)} in model {i}"
                )
        extra = set(other) - set(first)
        if extra:
            raise ModelFileError(f"model {i} has tensors model 1 lacks, e.g. {sorted(extra)[0]!r}")
    out = {}
    for key, value in first.items():
        if not value.is_floating_point():
            out[key] = value.clone()
            continue
        acc = torch.zeros(value.shape, dtype=torch.float64)
        dtype = value.dtype
        for w, state in zip(weights, states):
            acc += w * state[key].to(torch.float64)
            dtype = torch.promote_types(dtype, state[key].dtype)
        out[key] = acc.to(dtype)
    return out


def load_for_interpolation(paths: list[Path]) -> tuple[ArchInfo, list[dict[str, torch.Tensor]]]:
    infos, states = [], []
    for path in paths:
        info, state, _ = read_generator(path)
        checked_module(info, state, path)  # a damaged file was mixed into a file no tool could load
        refuse_nonfinite(
            state, path
        )  # 0 x NaN is NaN: one such model spoils every mix, alpha 1 and 0 included
        infos.append(info)
        states.append(state)
    for path, info in zip(paths[1:], infos[1:]):
        if info.family != infos[0].family or info.params != infos[0].params:
            raise ModelFileError(
                f"{path}: {_describe(info)} differs from {paths[0]}: {_describe(infos[0])} in "
                f"{_differences(info, infos[0])}; interp mixes models of one architecture and size"
            )
    return infos[0], states


def _describe(info: ArchInfo) -> str:
    return f"{info.family} x{info.scale} ({' '.join(info.tags)})"


def _differences(info: ArchInfo, first: ArchInfo) -> str:
    """What tells two models apart, e.g. "scale (8 vs 4)": the whole hyperparameter dicts of both, printed before,
    hid the one value that differed."""
    if info.family != first.family:
        return f"architecture ({info.family} vs {first.family})"
    defaults = HIDDEN_DEFAULTS if info.family == "compact" else {}
    theirs, ours = {**defaults, **info.params}, {**defaults, **first.params}
    if {theirs["scale"], ours["scale"]} - {1, 2}:
        # Only 1x and 2x RRDBNets unshuffle: beside a 4x one, it is no difference.
        theirs.pop("use_pixel_unshuffle", None)
        ours.pop("use_pixel_unshuffle", None)
    return ", ".join(
        f"{k} ({theirs.get(k)} vs {ours.get(k)})" for k in {**ours, **theirs} if theirs.get(k) != ours.get(k)
    )


def sweep_outputs(image: Path, out_dir: Path, alphas: list[float]) -> list[Path]:
    """The files a sweep writes: one image per alpha, then the labelled strip (a long image name shortened)."""
    tails = [f"_alpha{a:g}.png" for a in alphas] + ["_sweep.png"]
    return [out_dir / fitted_name(image.stem, tail) for tail in tails]


def sweep_strip(
    a: Path,
    b: Path,
    alphas: list[float],
    image: Path,
    out_dir: Path,
    tile: int = 256,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Upscale `image` with alpha*A + (1-alpha)*B for each alpha; write each result and one labelled strip.
    On `device` at `dtype` as `upres upscale` runs (a half-precision tile that comes out non-finite is redone in fp32)."""
    import numpy as np
    from PIL import Image, ImageDraw

    from upres.archs import instantiate
    from upres.infer.render import from_model_planes, to_model_planes
    from upres.infer.tiling import Upscaler
    from upres.io.images import array_to_tensor, read_image, tensor_to_array, write_image

    info, states = load_for_interpolation([a, b])
    arr = read_image(image)
    rgb = arr[..., :3] if arr.shape[2] >= 3 else np.repeat(arr, 3, axis=2)
    # The channels as `upres upscale` maps them: a gray model takes each colour plane, an RGBA one an opaque alpha.
    x = to_model_planes(array_to_tensor(rgb)[None], info.in_channels)
    tiles = []
    for alpha in alphas:
        net = instantiate(info, interpolate_states(states, [alpha, 1.0 - alpha]))
        up = Upscaler(net, info.scale, device or torch.device("cpu"), dtype, multiple=info.size_multiple)
        y = up(x, tile=tile)  # the input stays on the CPU; the result comes back there
        out = tensor_to_array(from_model_planes(y, 3)[0], rgb.dtype)
        write_image(sweep_outputs(image, out_dir, [alpha])[0], out)
        tile_img = Image.fromarray((out >> 8).astype(np.uint8) if out.dtype == np.uint16 else out)
        ImageDraw.Draw(tile_img).text((6, 6), f"alpha {alpha:g}", fill=(255, 255, 0))
        tiles.append(np.asarray(tile_img))
    strip = np.concatenate(tiles, axis=1)
    return write_image(sweep_outputs(image, out_dir, [])[-1], strip)

"""Network interpolation (ESRGAN paper, section 3.4): a weighted sum of models of the same architecture."""

from __future__ import annotations

from pathlib import Path

import torch

from upres.archs import ArchInfo, recognise
from upres.errors import ModelFileError
from upres.io.model_files import read_tensors


def interpolate_states(
    states: list[dict[str, torch.Tensor]], weights: list[float]
) -> dict[str, torch.Tensor]:
    """sum_i w_i * state_i per tensor, computed in float64 and stored in the first model's dtype."""
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
        for w, state in zip(weights, states):
            acc += w * state[key].to(torch.float64)
        out[key] = acc.to(value.dtype)
    return out


def load_for_interpolation(paths: list[Path]) -> tuple[ArchInfo, list[dict[str, torch.Tensor]]]:
    infos, states = [], []
    for path in paths:
        raw, _ = read_tensors(path)
        try:
            info, state = recognise(raw)
        except ModelFileError as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        infos.append(info)
        states.append(state)
    for path, info in zip(paths[1:], infos[1:]):
        if info.family != infos[0].family or info.params != infos[0].params:
            raise ModelFileError(
                f"{path}: architecture {info.family} {info.params} differs from {paths[0]}: {infos[0].family} {infos[0].params}"
            )
    return infos[0], states

"""Every number an option file gives must be finite: `gamma: .inf`, `d_input_noise: .inf` or `center: .nan` passed the
range checks (or had none), the dry run went fine, and the run's steps turned non-finite once the value was read
(at a milestone, in the GAN stage), which the NaN guard then blamed on the learning rate."""

from __future__ import annotations

import copy
import math
import typing

import pytest
from pydantic import BaseModel
from train_helpers import MINIMAL_OPTIONS

from upres.errors import ConfigError
from upres.train.config import Options, parse_options
from upres.train.config_errors import submodels


def _float_keys(model: type[BaseModel], prefix: tuple = ()) -> list[tuple]:
    """The dotted path of each float option, walked from the typed config (datasets.<name> as train, lists at 0)."""
    keys = []
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        kinds = {field.annotation, *typing.get_args(field.annotation)}
        if float in kinds:
            keys.append(path)
        for sub in submodels(field.annotation):
            if any(typing.get_origin(k) is dict for k in kinds):
                keys += _float_keys(sub, (*path, {"datasets": "train"}.get(name, "psnr")))
            elif any(typing.get_origin(k) is list for k in kinds):
                keys += _float_keys(sub, (*path, 0))
            else:
                keys += _float_keys(sub, path)
    return keys


FLOAT_KEYS = _float_keys(Options)


def _with(path: tuple, value: float) -> dict:
    data = copy.deepcopy(MINIMAL_OPTIONS)
    node = data
    for key in path[:-1]:
        if key == "losses":
            node = node.setdefault("losses", [{"type": "l1loss"}])
            continue
        if key == "metrics":
            node = node.setdefault("metrics", {"psnr": {"type": "calculate_psnr"}})
            continue
        node = node[key] if isinstance(node, list) else node.setdefault(key, {})
    node[path[-1]] = value
    if path[:2] == ("train", "scheduler") or path[:2] == ("train", "scheduler_d"):
        node.setdefault("type", "OneCycleLR")
        node.setdefault("max_lr", 1e-3)
    return data


def test_the_walk_finds_the_float_options():
    found = {".".join(map(str, k)) for k in FLOAT_KEYS}
    assert {"train.scheduler.gamma", "train.d_input_noise", "train.gradient_penalty.center"} <= found
    assert {"train.losses.0.loss_weight", "train.optim_g.lr", "dataroot_lq_prob"} <= found


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("path", FLOAT_KEYS, ids=lambda p: ".".join(map(str, p)))
def test_a_non_finite_number_is_refused_naming_its_key(path, value):
    with pytest.raises(ConfigError) as exc:
        parse_options(_with(path, value), "o.yml")
    dotted = ".".join(map(str, path))
    assert str(exc.value).startswith(f"o.yml: {dotted}: "), str(exc.value)
    assert str(exc.value).count("o.yml: ") == 1  # one problem: the key itself


@pytest.mark.parametrize("key", ["base_momentum", "max_momentum"])
@pytest.mark.parametrize("value", [-0.1, 1.0, 5])
def test_one_cycle_momentum_is_a_beta(key, value):
    """OneCycleLR's momenta become Adam's beta1 (or SGD's momentum); 5 or -0.1 trained non-finite or backwards."""
    data = _with(("train", "scheduler", key), value)
    with pytest.raises(ConfigError) as exc:
        parse_options(data, "o.yml")
    assert str(exc.value).startswith(f"o.yml: train.scheduler.{key}: Input should be "), str(exc.value)

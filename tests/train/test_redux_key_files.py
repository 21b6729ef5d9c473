"""Option files built from traiNNer-redux's key list (names, types, defaults are facts from redux_keys.json): every
key at redux's default is accepted; a (c) key is noted; a (d) key set to anything else is refused by name."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from upres.archs import build_network
from upres.archs.discriminators import DISCRIMINATORS, build_discriminator
from upres.errors import ConfigError
from upres.losses import LOSSES, build_losses, check_loss_spec
from upres.train.config import parse_options
from upres.train.redux_keys import classify, redux_default, redux_keys

BASE: dict[str, Any] = {
    "name": "keys",
    "scale": 4,
    "num_gpu": "auto",
    "high_order_degradation": True,
    "datasets": {
        "train": {"name": "train", "type": "realesrgandataset", "dataroot_gt": "hr", "lq_size": 16},
        "val": {"name": "val", "type": "pairedimagedataset", "dataroot_gt": "hr"},
    },
    "network_g": {"type": "compact", "num_feat": 8, "num_conv": 1},
    "path": {},
    "train": {"total_iter": 10},
    "val": {"val_enabled": True, "save_img": False, "val_freq": 5},
    "logger": {"print_freq": 5, "save_checkpoint_freq": 5, "use_tb_logger": False},
}
SAMPLE = {"int": 1, "float": 0.5, "bool": True, "str": "x"}


def _sample(type_text: str) -> Any:
    """A value of a redux type that is not None/off."""
    for name, value in SAMPLE.items():
        if type_text.startswith(name):
            return value
    if "dict" in type_text:
        return {"type": "x"}
    if "list" in type_text or "Sequence" in type_text:
        return [1]
    return next((v for n, v in SAMPLE.items() if n in type_text), "x")


def _default(key: str) -> Any:
    rk = redux_keys()[key]
    if rk.required:
        return _sample(rk.type)
    return copy.deepcopy(redux_default(key))


def _changed(key: str) -> Any:
    """A value of the key's type other than redux's default (what a (d) key must refuse)."""
    default = redux_default(key)
    if isinstance(default, bool):
        return not default
    if isinstance(default, int | float):
        return default + 1
    if isinstance(default, str):
        return default + "_other"
    if isinstance(default, list):
        return [*default, default[-1] if default else 1]
    return _sample(redux_keys()[key].type)


def _place(key: str, value: Any) -> tuple[dict, str]:
    """A file holding `key` = `value`, and the key's path as messages show it."""
    data = copy.deepcopy(BASE)
    parts = key.split(".")
    if len(parts) == 1:
        data[key] = value
        return data, key
    if parts[0] == "datasets":
        data["datasets"]["train"][parts[-1]] = value
        return data, f"datasets.train.{parts[-1]}"
    if parts[0] in ("network_g", "network_d") and len(parts) == 3:
        block = {"type": parts[1], parts[2]: value}
        if parts[1].startswith("esrgan") and parts[2] not in ("num_blocks",):
            block["num_block"] = 1  # small enough to build
        data[parts[0]] = block
        return data, f"{parts[0]}.{parts[2]}"
    if parts[:2] == ["train", "losses"] and len(parts) == 4:
        spec = {"type": parts[2], "loss_weight": 1.0 if parts[2] in LOSSES else 0, parts[3]: value}
        if parts[3] == "loss_weight" and parts[2] not in LOSSES:
            spec["loss_weight"] = 0
        data["train"]["losses"] = [spec]
        return data, f"train.losses[0].{parts[3]}"
    if parts[:2] == ["val", "metrics"] and len(parts) == 4:
        data["val"]["metrics"] = {"m": {"type": parts[2], "crop_border": 4, parts[3]: value}}
        return data, f"val.metrics.m.{parts[3]}"
    owner = data.setdefault(parts[0], {})
    for part in parts[1:-1]:
        owner = owner.setdefault(part, {})
    owner[parts[-1]] = value
    return data, key


def _accept(data: dict):
    """What `upres train --dry-run` checks of the option file, without data or weights."""
    options = parse_options(data, "opt.yml")
    for i, spec in enumerate(options.train.losses):
        if spec.loss_weight:  # entries at weight 0 are skipped whole, as by the losses' builder
            check_loss_spec(spec, f"train.losses[{i}]")
    build_network(options.network_g.type, **options.network_g.kwargs())
    if options.network_d is not None and options.network_d.type.lower() in DISCRIMINATORS:
        build_discriminator(options.network_d.type, **options.network_d.kwargs())
    return options


def _whole_component_missing(key: str) -> bool:
    """A key of a loss type or discriminator upres does not have: the entry is refused (or dropped) as a whole."""
    parts = key.split(".")
    if parts[:2] == ["train", "losses"] and len(parts) == 4:
        return parts[2] not in LOSSES
    return parts[0] == "network_d" and parts[1] not in DISCRIMINATORS


KEYS = sorted(redux_keys())
SKIP_AS_BLOCKS = {
    "network_g",
    "network_d",
    "train.optim_g",
    "train.optim_d",
    "train.scheduler",
    "train.losses",
}


@pytest.mark.parametrize("key", KEYS)
def test_key_at_redux_default_is_accepted(key: str) -> None:
    if key in SKIP_AS_BLOCKS and redux_keys()[key].default is None:
        pytest.skip("a whole block; the base file sets it")
    if _whole_component_missing(key):
        if key.startswith("network_d"):
            with pytest.raises(ConfigError, match="is not implemented"):
                build_discriminator(key.split(".")[1])
        else:  # a loss upres lacks, at loss_weight 0: dropped with a note
            data, _ = _place(key, _default(key))
            _, notes = build_losses(_accept(data).train.losses)
            assert "skipped: loss_weight 0 (upres does not implement it)" in " ".join(notes)
        return
    data, shown = _place(key, _default(key))
    options = _accept(data)
    verdict = classify(key)
    if verdict.category == "c":
        assert any(shown in note and verdict.note in note for note in options.compat_notes), (
            options.compat_notes
        )
    if verdict.category == "d":
        assert any(shown in note for note in options.compat_notes), options.compat_notes


@pytest.mark.parametrize(
    "key", [k for k in KEYS if classify(k).category == "d" and not _whole_component_missing(k)]
)
def test_d_key_set_to_another_value_is_refused_by_name(key: str) -> None:
    data, shown = _place(key, _changed(key))
    with pytest.raises(ConfigError) as exc:
        _accept(data)
    assert str(exc.value).startswith(f"opt.yml: {shown}: not implemented in upres: "), str(exc.value)


def test_unimplemented_loss_with_a_weight_is_refused_by_type():
    data, _ = _place("train.losses.distsloss.loss_weight", 0)
    data["train"]["losses"][0]["loss_weight"] = 0.5
    with pytest.raises(ConfigError, match="loss type 'distsloss' is not implemented"):
        _accept(data)


def test_a_key_redux_lacks_is_unknown_with_the_closest_key():
    data = copy.deepcopy(BASE)
    data["train"]["ema_decai"] = 0.9
    with pytest.raises(ConfigError, match=r"unknown key 'train.ema_decai' \(did you mean 'ema_decay'\?\)"):
        _accept(data)

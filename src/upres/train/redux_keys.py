"""traiNNer-redux's option keys (redux_keys.json, read from its source by tools/redux_keys.py) and what upres does
with each: (a) honoured with redux's meaning, (b) translated, (c) accepted with no effect, (d) refused when set to a
value that would change the result.

A key is (a) when upres's own option models accept it and redux_rules.py says nothing else; every other key has a
rule there. `classify` is what the acceptance code (`upres.train.compat`) and the table in docs/migrating.md use.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

KEYS_FILE = Path(__file__).with_name("redux_keys.json")
CATEGORIES = {
    "a": "honoured",
    "b": "translated",
    "c": "accepted, no effect",
    "d": "refused when set",
}


@dataclass(frozen=True)
class ReduxKey:
    key: str
    type: str
    default: Any = None
    required: bool = False

    @property
    def has_default(self) -> bool:
        return not self.required


@dataclass(frozen=True)
class Verdict:
    category: str  # "a" | "b" | "c" | "d"
    note: str = ""


@functools.lru_cache(maxsize=1)
def redux_data() -> dict:
    return json.loads(KEYS_FILE.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def redux_keys() -> dict[str, ReduxKey]:
    return {
        k["key"]: ReduxKey(k["key"], k["type"], k.get("default"), k.get("required", False))
        for k in redux_data()["keys"]
    }


def redux_commit() -> str:
    return str(redux_data()["redux_commit"])


# ---- (a): does upres's own acceptance take the key?


def _fields(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for field in model.model_fields.values():
        alias = field.validation_alias
        for choice in getattr(alias, "choices", ()):
            names.add(str(choice))
    return names


def _params(fn: Any) -> set[str]:
    try:
        return {p for p in inspect.signature(fn).parameters if p != "self"}
    except (TypeError, ValueError):
        return set()


def _block_model(block: str) -> type[BaseModel] | None:
    from upres.train import config, config_errors

    top: type[BaseModel] = config.Options
    if block == "":
        return top
    model: type[BaseModel] | None = top
    for part in block.split("."):
        if model is None:
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        subs = config_errors.submodels(field.annotation)
        model = subs[0] if subs else None
    return model


def honoured(key: str) -> bool:
    """Whether upres's option models, network and loss registries accept `key` (a redux key path)."""
    from upres.data.degradations.options import DegradationOptions

    parts = key.split(".")
    if parts[0] == "datasets":
        from upres.data.options import DatasetOptions

        return parts[-1] in _fields(DatasetOptions) | _fields(DegradationOptions) | {"second_blur_prob"}
    if parts[0] in ("network_g", "network_d") and len(parts) == 3:
        return _network_param(parts[0], parts[1], parts[2])
    if parts[:2] == ["train", "losses"] and len(parts) == 4:
        from upres.losses import COMMON_KEYS, LOSSES

        return parts[2] in LOSSES and (parts[3] in COMMON_KEYS or parts[3] in _params(LOSSES[parts[2]]))
    if parts[:2] == ["val", "metrics"] and len(parts) == 4:
        from upres.metrics.registry import METRIC_NAMES
        from upres.train.config import MetricOptions

        return parts[2] in METRIC_NAMES and parts[3] in _fields(MetricOptions)
    if len(parts) == 1 and parts[0] in _fields(DegradationOptions):
        return True
    model = _block_model(".".join(parts[:-1]))
    return model is not None and parts[-1] in _fields(model)


def _network_param(block: str, kind: str, param: str) -> bool:
    if block == "network_g":
        from upres.archs import _KEY_ALIASES, FAMILIES, NETWORKS

        if kind not in NETWORKS:
            return False
        return _KEY_ALIASES.get(param, param) in _params(FAMILIES[NETWORKS[kind][0]].build)
    from upres.archs.discriminators import _KEY_ALIASES as D_ALIASES
    from upres.archs.discriminators import DISCRIMINATORS

    return kind in DISCRIMINATORS and D_ALIASES.get(param, param) in _params(DISCRIMINATORS[kind])


# ---- the verdict for every key


@functools.cache
def classify(key: str) -> Verdict:
    """The category of a redux key path (as in redux_keys.json); KeyError for a key redux does not have."""
    from upres.train.redux_rules import A_NOTES, DEFAULT_DIFFERS, OVERRIDES, RULES

    if key not in redux_keys():
        raise KeyError(key)
    for pattern, category, note in OVERRIDES:
        if fnmatch.fnmatchcase(key, pattern):
            return Verdict(category, note)
    if honoured(key):
        notes = [n for p, n in A_NOTES.items() if fnmatch.fnmatchcase(key, p)]
        if key in DEFAULT_DIFFERS:
            notes.append(f"default differs: {DEFAULT_DIFFERS[key]}")
        return Verdict("a", "; ".join(notes))
    for pattern, category, note in RULES:
        if fnmatch.fnmatchcase(key, pattern):
            return Verdict(category, note)
    raise LookupError(
        f"redux key {key!r} has no rule in upres.train.redux_rules and upres does not accept it"
    )


def counts() -> dict[str, int]:
    out = dict.fromkeys(CATEGORIES, 0)
    for key in redux_keys():
        out[classify(key).category] += 1
    return out


# ---- upres's default for an (a) key, to compare with redux's

_MISSING = object()


def _field_default(model: type[BaseModel], name: str) -> Any:
    for field_name, field in model.model_fields.items():
        choices = getattr(field.validation_alias, "choices", ())
        if name == field_name or name in choices:
            if field.is_required():
                return _MISSING
            return field.get_default(call_default_factory=True)
    return _MISSING


def _param_default(fn: Any, name: str) -> Any:
    try:
        param = inspect.signature(fn).parameters.get(name)
    except (TypeError, ValueError):
        return _MISSING
    if param is None or param.default is inspect.Parameter.empty:
        return _MISSING
    return param.default


def upres_default(key: str) -> Any:
    """What upres uses for an honoured redux key that a file leaves out (`MISSING` where it must be given)."""
    from upres.data.degradations.options import DegradationOptions

    parts = key.split(".")
    if parts[0] == "datasets":
        from upres.data.options import DatasetOptions

        value = _field_default(DatasetOptions, parts[-1])
        return value if value is not _MISSING else _field_default(DegradationOptions, parts[-1])
    if parts[0] == "network_g" and len(parts) == 3:
        from upres.archs import _KEY_ALIASES, FAMILIES, NETWORKS

        family, preset = NETWORKS[parts[1]]
        name = _KEY_ALIASES.get(parts[2], parts[2])
        return preset[name] if name in preset else _param_default(FAMILIES[family].build, name)
    if parts[0] == "network_d" and len(parts) == 3:
        from upres.archs.discriminators import _KEY_ALIASES as D_ALIASES
        from upres.archs.discriminators import DISCRIMINATORS

        return _param_default(DISCRIMINATORS[parts[1]], D_ALIASES.get(parts[2], parts[2]))
    if parts[:2] == ["train", "losses"] and len(parts) == 4:
        from upres.losses import LOSSES, LossOptions

        if key in UPRES_EFFECTIVE:
            return UPRES_EFFECTIVE[key]()
        value = _field_default(LossOptions, parts[3])
        if value is _MISSING or (value is None and parts[3] == "criterion"):
            return _param_default(LOSSES[parts[2]], parts[3])  # LossOptions.criterion None: the loss's own
        return value
    if parts[:2] == ["val", "metrics"] and len(parts) == 4:
        from upres.train.config import MetricOptions

        return _field_default(MetricOptions, parts[3])
    if len(parts) == 1 and parts[0] not in _block_model("").model_fields:  # type: ignore[union-attr]
        return _field_default(DegradationOptions, parts[0])
    model = _block_model(".".join(parts[:-1]))
    return _field_default(model, parts[-1]) if model is not None else _MISSING


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _perceptual_layers() -> Any:
    from upres.losses.perceptual import DEFAULT_LAYER_WEIGHTS

    return DEFAULT_LAYER_WEIGHTS


# What upres's constructors use where their signature says None.
UPRES_EFFECTIVE = {"train.losses.perceptualloss.layer_weights": _perceptual_layers}


def redux_default(key: str) -> Any:
    """redux's default for `key`, with a default written as arithmetic (`1 / 3`) worked out."""
    rk = redux_keys()[key]
    if isinstance(rk.default, dict) and set(rk.default) == {"expr"}:
        import math

        # Only arithmetic on literals and numpy's pi appears there (checked by the key file's test).
        return eval(rk.default["expr"], {"np": math, "__builtins__": {}})  # noqa: S307
    return rk.default


def same_default(key: str) -> bool:
    """Whether a file that leaves `key` out means the same in upres as in redux."""
    from upres.train.redux_rules import REDUX_EFFECTIVE

    if redux_keys()[key].required:
        return True  # every redux file gives it, so upres's fallback is never what a redux file relies on
    mine = upres_default(key)
    if mine is _MISSING:
        return False
    return _plain(mine) == _plain(REDUX_EFFECTIVE.get(key, redux_default(key)))

"""Accepting a traiNNer-redux option file key by key, as redux_keys.classify says.

Runs before validation on a copy of the file's mapping: (c) keys are dropped and noted; (d) keys are dropped when
their value changes nothing and refused by name otherwise; (a) and (b) keys are left for the option models and the
translations in upres.train.compat. A key redux does not have either is left alone, so the option models report
it as unknown with the closest known key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from upres.errors import ConfigError
from upres.train.redux_keys import _plain, classify, redux_default, redux_keys, upres_default
from upres.train.redux_rules import DEFAULT_DIFFERS, PENDING

_BLOCKS = ("path", "train", "val", "logger", "onnx")
_NESTED = {"train": ("eco",), "logger": ("wandb",)}


def _inert(key: str, value: Any) -> bool:
    """Whether `value` for a (d) key changes nothing: redux's default, or an empty/off value where that is None."""
    rk = redux_keys()[key]
    if rk.required:
        return False
    default = redux_default(key)
    if _plain(value) == _plain(default):
        return True
    return default in (None, False, 0, [], "") and not value


def _show(value: Any) -> str:
    """`value` as the user would write it in YAML."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


def _entries(data: dict) -> Iterator[tuple[dict, str, str, str]]:
    """(owning mapping, its key, path shown to the user, redux key) for every redux key the file holds."""
    known = redux_keys()
    for k in list(data):
        if k in known:
            yield data, k, k, k
    datasets = data.get("datasets")
    for name, ds in datasets.items() if isinstance(datasets, dict) else ():
        if isinstance(ds, dict):
            for k in list(ds):
                yield ds, k, f"datasets.{name}.{k}", f"datasets.*.{k}"
    for block in _BLOCKS:
        sub = data.get(block)
        if not isinstance(sub, dict):
            continue
        for k in list(sub):
            yield sub, k, f"{block}.{k}", f"{block}.{k}"
        for nested in _NESTED.get(block, ()):
            inner = sub.get(nested)
            if isinstance(inner, dict):
                for k in list(inner):
                    yield inner, k, f"{block}.{nested}.{k}", f"{block}.{nested}.{k}"
    for block in ("network_g", "network_d"):
        net = data.get(block)
        if isinstance(net, dict) and isinstance(net.get("type"), str):
            kind = net["type"].lower()
            for k in list(net):
                yield net, k, f"{block}.{k}", f"{block}.{kind}.{k}"
    train = data.get("train")
    if isinstance(train, dict):
        from upres.losses import LOSSES

        for i, spec in enumerate(train.get("losses") or []):
            kind = str(spec.get("type", "")).lower() if isinstance(spec, dict) else ""
            if kind in LOSSES:  # a loss upres lacks is dropped or refused as a whole by compat
                for k in list(spec):
                    yield spec, k, f"train.losses[{i}].{k}", f"train.losses.{kind}.{k}"
    val = data.get("val")
    if isinstance(val, dict) and isinstance(val.get("metrics"), dict):
        for name, metric in val["metrics"].items():
            if isinstance(metric, dict):
                kind = str(metric.get("type", "")).lower()
                for k in list(metric):
                    yield metric, k, f"val.metrics.{name}.{k}", f"val.metrics.{kind}.{k}"


def accept_redux_keys(data: dict) -> list[str]:
    """Drop (c) keys and inert (d) keys from `data` in place; ConfigError for a (d) key that would change the result.
    Returns the log notes."""
    _nested_flags(data)
    unused: dict[str, list[str]] = {}
    inert: list[str] = []
    known = redux_keys()
    for owner, k, shown, key in list(_entries(data)):
        if key not in known:
            continue
        verdict = classify(key)
        if verdict.category == "a" and owner[k] is None and redux_default(key) is None:
            # redux's `key: ~` is its default, so upres's default stands in (`val.metrics: ~` means none in both).
            if upres_default(key) is not None and key != "val.metrics":
                owner.pop(k)
        elif verdict.category == "c":
            owner.pop(k)
            unused.setdefault(verdict.note, []).append(shown)
        elif verdict.category == "d":
            if not _inert(key, owner[k]):
                fix = (
                    f"set it to {_show(redux_default(key))} or remove it"
                    if known[key].has_default
                    else "remove it"
                )
                what = verdict.note.removesuffix(PENDING)
                raise ConfigError(f"{shown}: not implemented in upres: {what}; {fix}")
            owner.pop(k)
            inert.append(shown)
    for block in ("train", "logger"):
        sub = data.get(block)
        for nested in _NESTED[block]:
            if isinstance(sub, dict) and sub.get(nested) == {}:
                sub.pop(nested)
    if data.get("onnx") == {} and not _has_onnx_block():
        data.pop("onnx")
    notes = [f"{', '.join(keys)}: no effect in upres ({why})" for why, keys in unused.items()]
    if inert:
        notes.append(f"{', '.join(inert)}: accepted at traiNNer-redux's default (not implemented in upres)")
    return notes + _relied_on_defaults(data)


def _has_onnx_block() -> bool:
    from upres.train.config import Options

    return "onnx" in Options.model_fields


def _nested_flags(data: dict) -> None:
    """neosr writes `train.eco: true`; redux holds a block there. A flag means its `enabled`."""
    train = data.get("train")
    if isinstance(train, dict) and "eco" in train and not isinstance(train["eco"], dict):
        train["eco"] = {"enabled": train["eco"]}


def _relied_on_defaults(data: dict) -> list[str]:
    """Notes where a file leaves out a key whose upres default is not redux's (DEFAULT_DIFFERS) and it is used."""
    val = data.get("val")
    if not isinstance(val, dict) or val.get("val_enabled") is False:
        return []
    metrics_on = val.get("metrics_enabled", True) is not False
    datasets = data.get("datasets")
    used = {
        "val.val_freq": isinstance(datasets, dict)
        and "train" in datasets,  # a test file (upres test) never reads it
        "val.metrics_enabled": bool(val.get("metrics")),
        "val.metrics": metrics_on,
        "val.tile_overlap": bool(val.get("tile_size")),
    }
    return [
        f"val.{key.rpartition('.')[2]} not given: {DEFAULT_DIFFERS[key]}"
        for key, applies in used.items()
        if applies and key.rpartition(".")[2] not in val
    ]

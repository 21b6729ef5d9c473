"""One-line messages for option-file validation errors: each names the full key path, and an unknown key gets the
block it belongs in or the closest known key (`options` is the top-level model, `upres.train.config.Options`)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from upres.errors import did_you_mean


def degradation_fields() -> set[str]:
    try:
        from upres.data.degradations.options import DEGRADATION_KEYS
    except ImportError:
        return set()
    return set(DEGRADATION_KEYS)


def _field_places(
    model: type[BaseModel], prefix: str = "", seen: frozenset = frozenset()
) -> dict[str, set[str]]:
    """Each option key -> the blocks it is valid in ("top level", "datasets.<name>", "train.optim_g", ...)."""
    import typing

    places: dict[str, set[str]] = {}
    for name, field in model.model_fields.items():
        places.setdefault(name, set()).add(prefix or "top level")
        keyed = any(
            typing.get_origin(a) is dict for a in (field.annotation, *typing.get_args(field.annotation))
        )
        where = f"{prefix}.{name}" if prefix else name
        for sub in submodels(field.annotation):
            if sub not in seen:
                for key, blocks in _field_places(
                    sub, f"{where}.<name>" if keyed else where, seen | {model}
                ).items():
                    places.setdefault(key, set()).update(blocks)
    return places


def _unknown_key_hint(key: str, path: str, options: type[BaseModel]) -> str:
    places = _field_places(options)
    for deg in degradation_fields():
        places.setdefault(deg, set()).add("top level")
    here = path.rpartition(".")[0] or "top level"

    def is_here(place: str) -> bool:
        return re.fullmatch(re.escape(place).replace("<name>", "[^.]+"), here) is not None

    elsewhere = sorted(p for p in places.get(key, ()) if not is_here(p))
    # A one-letter miss of a key of this block (train.total_iters for total_iter) is likelier than a misplaced key.
    import difflib

    here_keys = sorted(k for k, ps in places.items() if any(map(is_here, ps)))
    near_here = difflib.get_close_matches(key, here_keys, n=1, cutoff=0.9)
    if near_here:
        return f" (did you mean {near_here[0]!r}?)"
    if elsewhere:
        return f" here; it belongs in {' or '.join(elsewhere)}"
    return did_you_mean(key, places)


def submodels(annotation: Any) -> list[type[BaseModel]]:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in submodels(arg)]


def _not_a_block(loc: tuple, value: Any) -> str:
    """A block given as something else: pydantic's 'a valid dictionary or instance of LossOptions' named a class
    the file never mentions and said nothing of the fix (`losses: [l1loss]`, `val: ~` under datasets)."""
    from upres.option_file import describe_value

    shape = "- type: ..." if isinstance(loc[-1], int) else f"{loc[-1]}: {{...}}"
    if value is None:
        return f"expected a mapping of keys ({shape}), got null; give its keys or remove it"
    got = "a list" if isinstance(value, list) else f"the {type(value).__name__} {describe_value(value)}"
    return f"expected a mapping of keys ({shape}), got {got}"


def format_validation_error(exc: ValidationError, source: str, options: type[BaseModel]) -> str:
    """One line per problem, each naming the full key path; an unknown key gets the block it belongs in, or the
    closest known key."""
    return "; ".join(f"{source}: {line}" for _, line in validation_problems(exc, options))


def validation_problems(exc: ValidationError, options: type[BaseModel]) -> list[tuple[tuple, str]]:
    """(key path as a tuple, message naming it) per problem of `exc`, in pydantic's order."""
    problems = []
    errors = exc.errors()
    # A block whose `type` is refused: its other keys are that type's parameters, and "unknown key ... did you mean"
    # for each would point at another type's (a refused CyclicLR's base_lr at OneCycleLR's max_lr).
    refused_types = {
        tuple(err["loc"][:-1])
        for err in errors
        if err["loc"] and err["loc"][-1] == "type" and err["type"] != "missing"
    }
    for err in errors:
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
        path = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden" and tuple(err["loc"][:-1]) in refused_types:
            continue
        if err["type"] == "extra_forbidden":
            line = f"unknown key {path!r}{_unknown_key_hint(str(err['loc'][-1]), path, options)}"
        elif err["type"] == "model_type":
            line = f"{path}: {_not_a_block(err['loc'], err.get('input'))}"
        elif err["type"] == "missing":
            line = f"missing required key {path!r}"
        else:
            got = err.get("input")
            shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            line = f"{path}: {err['msg'].removeprefix('Value error, ')}{shown}"
        problems.append((loc, line))
    return problems

"""The config reference (docs/config.md) and JSON schema, generated from the option models."""

from __future__ import annotations

import json
import typing
from typing import Any

from pydantic import BaseModel

from upres.train.config import Options


def json_schema() -> dict:
    schema = Options.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "upres option file"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2) + "\n"


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    if isinstance(annotation, type):
        return annotation.__name__
    text = str(annotation).replace("typing.", "").replace("pathlib.", "").replace("NoneType", "None")
    return (
        text.replace("upres.train.config.", "")
        .replace("upres.data.options.", "")
        .replace("upres.losses.", "")
    )


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(see below)"
        value = (
            [v.model_dump(exclude_defaults=True) if isinstance(v, BaseModel) else v for v in value]
            if isinstance(value, list)
            else value
        )
        value = (
            {
                k: v.model_dump(exclude_defaults=True) if isinstance(v, BaseModel) else v
                for k, v in value.items()
            }
            if isinstance(value, dict)
            else value
        )
        return f"`{json.dumps(value)}`"
    return f"`{json.dumps(field.default, default=str)}`"


def _models(model: type[BaseModel], seen: list) -> None:
    if model in seen:
        return
    seen.append(model)
    for field in model.model_fields.values():
        for arg in [field.annotation, *typing.get_args(field.annotation)]:
            for sub in [arg, *typing.get_args(arg)]:
                if isinstance(sub, type) and issubclass(sub, BaseModel):
                    _models(sub, seen)


def config_reference() -> str:
    models: list[type[BaseModel]] = []
    _models(Options, models)
    out = [
        "# Option file reference",
        "",
        "Generated from the option models in `src/upres/train/config.py` (and the dataset, loss and degradation models",
        "they use) by `upres schema --docs docs/config.md`; a test fails when this file is stale. Key names follow",
        "traiNNer-redux's option files. Unknown keys are refused with the closest known key.",
        "",
        "`upres train -c` (also `--dry-run`) and `upres doctor -c` report every problem of a file in one run: refused",
        "keys and values, dataset folders that do not exist, and for training a missing pretrain or VGG weights file",
        "and unknown network_g or loss keys; a first line gives their count, then one line each, in the order of the",
        "file (exit code 2, nothing written). A file that is not valid YAML, or a block of the wrong shape, stops at",
        "that first problem.",
        "",
        "Paths (`dataroot_gt`, `dataroot_lq`, `meta_info`, `path.*`, a loss's `vgg_weights_path`) are used as written: a",
        "relative path is relative to the folder `upres` runs in, not to the option file (as in traiNNer-redux), and a",
        "leading `~` is your home folder (as BasicSR reads them). Environment variables (`$DATA`, `%USERPROFILE%`) are",
        'not expanded: a path naming one that does not exist as written is refused, and so is an empty one (`""`,',
        "which would be the current folder): to leave a path out, remove its key or write `~` (YAML's null).",
        "Write a Windows path unquoted, in single quotes or with `/`: in double quotes YAML reads `\\n` or `\\t` as a",
        'line break or a tab (`"C:\\new"`), and a path holding one that does not exist as written is refused.',
        "Outside Windows a drive path (`D:\\data\\hr`, `D:/data`) is refused too, naming its WSL form (`/mnt/d/data/hr`).",
        "",
        "Option files are UTF-8 (with or without Notepad's byte-order mark) or UTF-16 with its byte-order mark (what",
        "Windows PowerShell's `>` writes).",
        "",
    ]
    for model in models:
        out += [f"## {model.__name__}", ""]
        doc = (model.__doc__ or "").strip().splitlines()
        if doc:
            out += [doc[0], ""]
        out += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for name, field in model.model_fields.items():
            desc = (field.description or "").replace("|", "\\|")
            type_name = _type_name(field.annotation).replace("|", "\\|")
            out.append(f"| `{name}` | {type_name} | {_default(field)} | {desc} |")
        if model.model_config.get("extra") == "allow":
            out.append("| *other keys* | | | passed to the component (architecture, loss) named by `type` |")
        out.append("")
    return "\n".join(out)

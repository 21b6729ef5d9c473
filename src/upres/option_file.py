"""Reading a YAML option file into a plain mapping, with one-line errors that name the file and the place."""

from __future__ import annotations

import codecs
import os
import re
import sys
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from upres.errors import ConfigError


def describe_value(value: object) -> str:
    """A value for an error message: short, and never the repr of a whole nested structure (an option file can
    alias one list into billions of references, `a: &a [*b, *b, ...]`, which a repr would expand)."""
    if isinstance(value, dict | list | tuple):
        return {dict: "a mapping", list: "a list", tuple: "a list"}[type(value)]
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, except that a key given twice in one mapping is an error: YAML loaders keep the last one
    without a word, so `scale: 2` at the top and `scale: 4` further down trained a 4x model."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = lines.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base class names that error
                break
            if first != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the key {key!r} is given twice in one block (lines {first} and "
                    f"{key_node.start_mark.line + 1}); keep one",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep)


def read_option_file(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of `path`; ConfigError for a missing, unreadable or malformed file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not an option file; give the .yml file in it")
    if not path.is_file():
        raise ConfigError(f"{path}: option file not found")
    text = read_option_text(path)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "parse error"
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}{_escape_hint(problem)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option keys at the top level")
    return data


def read_option_text(path: Path) -> str:
    """The text of the option file `path`: UTF-8 (Notepad's byte-order mark dropped), or UTF-16 with its byte-order
    mark, as Windows PowerShell's `>` and Out-File write it (`upres init ... > my.yml` was 'not a text file')."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    not_text = ConfigError(f"{path}: not a text file (option files are UTF-8 YAML)")
    if b"\x00" in data and not utf16:
        raise not_text
    try:
        return data.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as exc:
        if utf16:
            raise not_text from None
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: not UTF-8 text (line {line} holds a byte UTF-8 does not have, as in a file saved as ANSI or "
            "Latin-1); save it as UTF-8"
        ) from None


def _escape_hint(problem: str) -> str:
    # "C:\data\hr" in double quotes: YAML reads each backslash as the start of an escape such as \n or \t.
    if "escape" not in problem:
        return ""
    return "; in double quotes a backslash starts an escape: write a Windows path in single quotes or with /"


def _types_in(annotation: Any) -> set:
    args = get_args(annotation)
    return {annotation} if not args else set().union(*(_types_in(a) for a in args))


_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def yaml11_number(value: Any) -> Any:
    """`value` with numbers in exponent form that YAML 1.1 (PyYAML, as BasicSR and traiNNer-redux read files) leaves
    as text (`1e-6`, `4e5`: no dot, or no sign on the exponent) read as floats, within mappings and lists too."""
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, dict):
        return {k: yaml11_number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [yaml11_number(v) for v in value]
    return value


def no_bool_for_number(cls: Any, value: Any, info: Any) -> Any:
    """A pydantic "before" field validator for numbers as YAML 1.1 (PyYAML) reads them. `true`/`false` (and yes/no/
    on/off) where a number goes, or in a list of numbers, is refused: pydantic read them as 1 and 0, so `lr: true`
    trained at 1.0 and `total_iter: yes` for one iteration. Exponent forms YAML 1.1 leaves as text (`4e5`) are read
    as the whole number they write where an integer goes: `total_iter: 4e5` was 'unable to parse string as an
    integer', while `lr: 1e-4` was read as a number."""
    if info.field_name is None:
        return value
    items = value if isinstance(value, list | tuple) else [value]
    kinds = _types_in(cls.model_fields[info.field_name].annotation)
    if any(isinstance(v, bool) for v in items) and kinds & {int, float} and bool not in kinds:
        raise ValueError("expected a number, not a boolean (YAML reads true/false/yes/no/on/off as booleans)")
    if int in kinds and not kinds & {float, str}:
        whole = [_whole_number(v) for v in items]
        return whole if isinstance(value, list | tuple) else whole[0]
    return value


def _whole_number(value: Any) -> Any:
    """`4e5` (text to YAML 1.1) as 400000 where an integer goes."""
    number = yaml11_number(value) if isinstance(value, str) else None
    return int(number) if isinstance(number, float) and number.is_integer() else value


_ENV_VAR = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%[A-Za-z_][A-Za-z0-9_]*%")


# What YAML's double-quoted escapes make of a Windows path's backslashes: \n, \t, \r, \b, \f, \a, \v, \0, \e.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_DRIVE = re.compile(r"([A-Za-z]):[\\/]")

_QUOTE = "write it as text (in quotes for a name YAML reads as a number, e.g. '2024')"


def path_as_written(value: Any) -> Any:
    """A pydantic "before" field validator for paths (or lists of them): a leading `~` is the home folder, as
    BasicSR reads dataroot_gt, dataroot_lq, pretrain_network_* and resume_state; kept as written, `~/exp` made a
    folder named "~" in the current one. Environment variables are not expanded (neither BasicSR nor redux does):
    a path that names one and does not exist as written is refused rather than made under that literal name."""
    if isinstance(value, list):
        for v in value:
            if not isinstance(v, str | Path):
                raise ValueError(f"each entry must be a path, got {describe_value(v)}; {_QUOTE}")
        return [path_as_written(v) for v in value]
    if value is None:
        return value
    if not isinstance(value, str | Path):
        # Pydantic tried each of `str | list[str]` in turn: two messages, each under a type name ('dataroot_gt.str').
        raise ValueError(f"expected a path; {_QUOTE}")
    if not str(value).strip():
        # Path("") is the current folder: `experiments_root: ""` wrote the run's files straight into it.
        raise ValueError("an empty path, which would be the current folder; give the path, or remove the key")
    text = os.path.expanduser(value) if str(value).startswith("~") else str(value)
    if text.startswith("~") and not os.path.lexists(text):
        raise ValueError(f"cannot tell which home folder {text.split('/')[0]!r} is; write the path itself")
    if (control := _CONTROL.search(text)) and not os.path.lexists(text):
        raise ValueError(
            f"holds the control character {control.group()!r}: in double quotes YAML reads a backslash as the start "
            'of an escape ("C:\\new" is C:, a line break, ew); write a Windows path in single quotes or with /'
        )
    if (drive := _DRIVE.match(text)) and sys.platform != "win32" and not os.path.lexists(text):
        # Elsewhere `D:\\runs` is one relative name: the run trained into a folder so named under the current one.
        wsl = f"/mnt/{drive.group(1).lower()}/" + text[3:].replace("\\", "/")
        raise ValueError(
            f"a Windows drive path, which this system reads as a folder {text} under the current one; under WSL "
            f"write {wsl}"
        )
    if (var := _ENV_VAR.search(text)) and not os.path.lexists(text):
        raise ValueError(
            f"environment variables are not expanded in option files ({var.group()}); write the path itself"
        )
    return text if isinstance(value, str) else Path(text)


class Strict(BaseModel):
    """An option block: unknown keys, booleans for numbers, and NaN or infinite numbers are refused (`gamma: .inf` or
    `d_input_noise: .nan` passed every range check and made the run's steps non-finite once read)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)
    _no_bool_for_number = field_validator("*", mode="before")(no_bool_for_number)

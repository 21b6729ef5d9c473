"""`upres schema [-o FILE] [--docs FILE] [--cli FILE]`: the option files' JSON schema, config and CLI references."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from upres.cli.argtypes import output_path
from upres.errors import ConfigError

EXAMPLE = (
    "examples:\n  upres schema -o upres.schema.json\n  upres schema --docs docs/config.md\n"
    "  upres schema --cli docs/cli.md"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "schema",
        help="write the option-file JSON schema (editor autocomplete), the config reference or the command reference",
        description=f"The schema makes editors with the YAML language server complete and check option files.\n\n{EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", type=output_path, default=None, help="schema file (default: print it)")
    p.add_argument("--docs", type=Path, default=None, help="write the Markdown config reference here instead")
    p.add_argument("--cli", type=Path, default=None, help="write the Markdown command reference here instead")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a file that is not one upres schema wrote (such a file is kept)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.cli.reference import cli_reference
    from upres.io.atomic import atomic_write
    from upres.train.reference import config_reference, schema_text

    writes = [(path, make()) for path, make in ((args.cli, cli_reference), (args.docs, config_reference),
              (args.output, schema_text)) if path is not None]  # fmt: skip
    for path, text in writes:  # all checked before any is written
        if not args.force:
            refuse_foreign(path, text)
    for path, text in writes:
        atomic_write(path, lambda p, text=text: p.write_text(text, encoding="utf-8"))
        print(f"wrote {path}")
    if not writes:
        print(schema_text(), end="")
    return 0


def refuse_foreign(path: Path, text: str) -> None:
    """Writing again over a file this command wrote is what it is for; another file at that name (`-o my_x2.yml`,
    `--docs README.md`) was replaced without a word. Ours: the same first line (Markdown) or the same title (JSON)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        old = f.read(1 << 20)
    if (
        old.partition("\n")[0] == text.partition("\n")[0] != "{"
        or _json_title(old) == _json_title(text) != ""
    ):
        return
    raise ConfigError(
        f"{path}: exists and is not what upres schema writes with this flag; add --force to replace it, or choose another name"
    )


def _json_title(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return ""
    return str(value.get("title", "")) if isinstance(value, dict) else ""

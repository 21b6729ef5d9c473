"""`upres schema [-o FILE] [--docs FILE] [--cli FILE]`: the option files' JSON schema, config and CLI references."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    p.add_argument("-o", "--output", type=Path, default=None, help="schema file (default: print it)")
    p.add_argument("--docs", type=Path, default=None, help="write the Markdown config reference here instead")
    p.add_argument("--cli", type=Path, default=None, help="write the Markdown command reference here instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.io.atomic import atomic_write
    from upres.train.reference import config_reference, schema_text

    if args.cli is not None:
        from upres.cli.reference import cli_reference

        atomic_write(args.cli, lambda p: p.write_text(cli_reference(), encoding="utf-8"))
        print(f"wrote {args.cli}")
    if args.docs is not None:
        atomic_write(args.docs, lambda p: p.write_text(config_reference(), encoding="utf-8"))
        print(f"wrote {args.docs}")
    if args.output is not None:
        atomic_write(args.output, lambda p: p.write_text(schema_text(), encoding="utf-8"))
        print(f"wrote {args.output}")
    if args.cli is None and args.docs is None and args.output is None:
        print(schema_text(), end="")
    return 0

"""`upres schema [-o FILE] [--docs FILE]`: the option files' JSON schema and config reference."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = "examples:\n  upres schema -o upres.schema.json\n  upres schema --docs docs/config.md"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "schema",
        help="write the option-file JSON schema (editor autocomplete) or the config reference",
        description=f"The schema makes editors with the YAML language server complete and check option files.\n\n{EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", type=Path, default=None, help="schema file (default: print it)")
    p.add_argument("--docs", type=Path, default=None, help="write the Markdown config reference here instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.io.atomic import atomic_write
    from upres.train.reference import config_reference, schema_text

    if args.docs is not None:
        atomic_write(args.docs, lambda p: p.write_text(config_reference(), encoding="utf-8"))
        print(f"wrote {args.docs}")
    elif args.output is not None:
        atomic_write(args.output, lambda p: p.write_text(schema_text(), encoding="utf-8"))
        print(f"wrote {args.output}")
    else:
        print(schema_text(), end="")
    return 0

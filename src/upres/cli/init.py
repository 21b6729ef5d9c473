"""`upres init TEMPLATE NAME`: start an option file from a shipped template."""

from __future__ import annotations

import argparse
import re
from importlib import resources
from pathlib import Path

from upres.errors import ConfigError


def templates() -> dict[str, str]:
    root = resources.files("upres.options")
    return {
        p.name.removesuffix(".yml"): p.read_text(encoding="utf-8")
        for p in root.iterdir()
        if p.name.endswith(".yml")
    }


def register(sub: argparse._SubParsersAction) -> None:
    names = ", ".join(sorted(templates()))
    p = sub.add_parser(
        "init",
        help="copy a shipped option template to a new file",
        description=f"Templates: {names}.\n\nexample: upres init esrgan_x2_fidelity my_x2  # writes my_x2.yml and upres.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("template", nargs="?", help="template name (omit to list them)")
    p.add_argument("name", nargs="?", help="experiment name; the file is NAME.yml")
    p.add_argument("-o", "--output", type=Path, default=None, help="option file path (default: NAME.yml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.io.atomic import atomic_write
    from upres.train.reference import schema_text

    available = templates()
    if args.template is None:
        print("\n".join(sorted(available)))
        return 0
    if args.template not in available:
        raise ConfigError(f"no template {args.template!r}; available: {', '.join(sorted(available))}")
    if not args.name:
        raise ConfigError("give a name for the new experiment: upres init TEMPLATE NAME")
    out = args.output or Path(f"{args.name}.yml")
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists; choose another name or pass --force")
    text = re.sub(r"(?m)^name: .*$", f"name: {args.name}", available[args.template], count=1)
    atomic_write(out, lambda p: p.write_text(text, encoding="utf-8"))
    schema = out.parent / "upres.schema.json"
    if not schema.exists():
        atomic_write(schema, lambda p: p.write_text(schema_text(), encoding="utf-8"))
    print(f"wrote {out} (from {args.template}); edit its dataset paths, then: upres train -c {out} --dry-run")
    return 0

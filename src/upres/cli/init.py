"""`upres init TEMPLATE NAME`: start an option file from a shipped template."""

from __future__ import annotations

import argparse
import re
from importlib import resources
from pathlib import Path

from upres.cli.argtypes import output_path
from upres.cli.overwrite import refuse_existing
from upres.errors import ConfigError, shell_word


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
    p.add_argument(
        "name",
        nargs="?",
        help="experiment name; the file is NAME.yml (NAME.yml or NAME.yaml is taken as NAME)",
    )
    p.add_argument(
        "-o", "--output", type=output_path, default=None, help="option file path (default: NAME.yml)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=run)


def experiment_name(given: str, output: Path | None) -> tuple[str, Path]:
    """`my_run` and `my_run.yml` both name the experiment `my_run`; a path keeps its folder for the file."""
    path = Path(given)
    is_yaml = path.suffix.lower() in (".yml", ".yaml")  # Windows users type RUN.YML as often as run.yml
    stem = path.name[: -len(path.suffix)] if is_yaml else path.name
    if not stem:
        raise ConfigError(f"{given!r} is not a usable experiment name: upres init TEMPLATE NAME")
    return stem, output or (path if is_yaml else path.with_name(f"{stem}.yml"))


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
    if args.output is None and Path(args.name).is_dir():  # NAME.yml would land beside the folder, not in it
        raise ConfigError(
            f"{args.name} is a folder; name the experiment inside it: upres init {args.template} "
            f"{shell_word(Path(args.name) / 'my_run')}"
        )
    name, out = experiment_name(args.name, args.output)
    if out.is_dir():
        raise ConfigError(f"-o {out} is a folder; give the option file's name, e.g. {out / (name + '.yml')}")
    refuse_existing(out, args.force)
    text = re.sub(r"(?m)^name: .*$", f"name: {name}", available[args.template], count=1)
    atomic_write(out, lambda p: p.write_text(text, encoding="utf-8"))
    schema = out.parent / "upres.schema.json"
    if not schema.exists():
        atomic_write(schema, lambda p: p.write_text(schema_text(), encoding="utf-8"))
    print(
        f"wrote {out} (from {args.template}); check its dataset paths (datasets.*.dataroot_gt), then: "
        f"upres train -c {shell_word(out)} --dry-run"
    )
    return 0

"""Refresh upres's record of traiNNer-redux's option keys, and the key table in docs/migrating.md.

    python tools/redux_keys.py --redux PATH   # PATH: a redux checkout or its git dir (no network)
    python tools/redux_keys.py                # only regenerate the table in docs/migrating.md

The keys are read from redux's source with `ast` (nothing of redux is imported or run): the option structs of
`traiNNer/utils/redux_options.py`, the constructor parameters of the ESRGAN/Compact generators and the
discriminators redux offers with them, of every registered loss, and of the validation metrics. Names, types and
defaults go to src/upres/train/redux_keys.json with the redux commit they came from.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS_FILE = ROOT / "src" / "upres" / "train" / "redux_keys.json"
MIGRATING = ROOT / "docs" / "migrating.md"

# Struct class -> the block its fields live in.
STRUCTS = {
    "ReduxOptions": "",
    "DatasetOptions": "datasets.*",
    "PathOptions": "path",
    "TrainOptions": "train",
    "EcoOptions": "train.eco",
    "ValOptions": "val",
    "LogOptions": "logger",
    "WandbOptions": "logger.wandb",
    "OnnxOptions": "onnx",
}
# Fields that hold a sub-struct or a typed component block: their keys are listed under their own block.
NESTED = {"path", "datasets", "train", "val", "logger", "onnx", "eco", "wandb"}
NETWORK_FILES = {
    "network_g": ["traiNNer/archs/rrdbnet_arch.py", "traiNNer/archs/srvgg_arch.py"],
    "network_d": [
        "traiNNer/archs/discriminator_arch.py",
        "traiNNer/archs/dunet_arch.py",
        "traiNNer/archs/patchgan_arch.py",
        "traiNNer/archs/metagan2_arch.py",
    ],
}
LOSS_DIR = "traiNNer/losses"
METRIC_DIR = "traiNNer/metrics"
# Parameters the caller fills in, not the option file.
CALLER_ARGS = {"self", "img", "img2", "device", "kwargs", "args"}


class Source:
    """Files of one redux commit, from a git dir or a checkout (read through git), or from a plain copy of the
    tree (then the commit is unknown: `commit` is None)."""

    def __init__(self, path: Path) -> None:
        self.root = path
        if (path / "HEAD").is_file():
            self.git: list[str] | None = ["git", "--git-dir", str(path)]
        elif (path / ".git").exists():
            self.git = ["git", "-C", str(path)]
        else:
            self.git = None
        self.commit = self._run("rev-parse", "HEAD").strip() if self.git else None

    def _run(self, *args: str) -> str:
        assert self.git is not None
        return subprocess.run([*self.git, *args], check=True, capture_output=True, text=True).stdout

    def read(self, path: str) -> str:
        if self.git is None:
            return (self.root / path).read_text(encoding="utf-8")
        return self._run("show", f"{self.commit}:{path}")

    def listdir(self, folder: str) -> list[str]:
        if self.git is None:
            return sorted(f"{folder}/{p.name}" for p in (self.root / folder).glob("*.py"))
        out = self._run("ls-tree", "--name-only", f"{self.commit}:{folder}")
        return [f"{folder}/{name}" for name in out.split() if name.endswith(".py")]


def _literal(node: ast.expr | None) -> tuple[bool, object]:
    """(has a default, the default as JSON-able data); an expression that is not a literal is kept as its text."""
    if node is None:
        return False, None
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "field":
        for kw in node.keywords:
            if kw.arg == "default_factory" and isinstance(kw.value, ast.Lambda):
                return _literal(kw.value.body)
            if kw.arg == "default":
                return _literal(kw.value)
        return False, None
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return True, {"expr": ast.unparse(node)}
    return True, list(value) if isinstance(value, tuple) else value


def _annotation(node: ast.expr | None) -> str:
    if node is None:
        return "Any"
    if isinstance(node, ast.Subscript) and getattr(node.value, "id", "") == "Annotated":
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return ast.unparse(elts[0])
    return ast.unparse(node)


def _entry(key: str, annotation: ast.expr | None, default: ast.expr | None, origin: str) -> dict:
    has_default, value = _literal(default)
    entry = {"key": key, "type": _annotation(annotation), "origin": origin}
    if has_default:
        entry["default"] = value
    else:
        entry["required"] = True
    return entry


def struct_keys(src: Source) -> list[dict]:
    tree = ast.parse(src.read("traiNNer/utils/redux_options.py"))
    keys = []
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef) or cls.name not in STRUCTS:
            continue
        block = STRUCTS[cls.name]
        for stmt in cls.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                name = stmt.target.id
                if name in NESTED:
                    continue
                key = f"{block}.{name}" if block else name
                keys.append(_entry(key, stmt.annotation, stmt.value, f"{cls.name}.{name}"))
    return keys


def _params(fn: ast.FunctionDef) -> list[tuple[ast.arg, ast.expr | None]]:
    args = [*fn.args.posonlyargs, *fn.args.args]
    defaults = [None] * (len(args) - len(fn.args.defaults)) + list(fn.args.defaults)
    pairs = list(zip(args, defaults))
    pairs += list(zip(fn.args.kwonlyargs, fn.args.kw_defaults))
    return [(a, d) for a, d in pairs if a.arg not in CALLER_ARGS]


def _registered(tree: ast.Module) -> list[ast.FunctionDef | ast.ClassDef]:
    return [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
        and any("REGISTRY.register" in ast.unparse(d) for d in node.decorator_list)
    ]


def _init(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> ast.FunctionDef | None:
    """The constructor of `cls`, inherited from a base defined in the same files when it has none."""
    for stmt in cls.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
            return stmt
    for base in cls.bases:
        name = getattr(base, "id", None)
        if name in classes:
            return _init(classes[name], classes)
    return None


def component_keys(src: Source, block: str, files: list[str]) -> list[dict]:
    trees = {f: ast.parse(src.read(f)) for f in files}
    classes = {n.name: n for t in trees.values() for n in t.body if isinstance(n, ast.ClassDef)}
    keys = []
    for path, tree in trees.items():
        for node in _registered(tree):
            fn = node if isinstance(node, ast.FunctionDef) else _init(node, classes)
            kind = node.name.lower()
            for arg, default in _params(fn) if fn else []:
                keys.append(
                    _entry(f"{block}.{kind}.{arg.arg}", arg.annotation, default, f"{path}:{node.name}")
                )
    return keys


def extract(src: Source) -> dict:
    keys = struct_keys(src)
    for block, files in NETWORK_FILES.items():
        keys += component_keys(src, block, files)
    keys += component_keys(src, "train.losses", src.listdir(LOSS_DIR))
    keys += component_keys(src, "val.metrics", src.listdir(METRIC_DIR))
    return {
        "redux_commit": src.commit,
        "source": "https://github.com/the-database/traiNNer-redux",
        "note": "generated by tools/redux_keys.py; do not edit",
        "keys": keys,
    }


def dump(data: dict) -> str:
    """JSON with one key per line, so a refresh shows as a readable diff."""
    head = {k: v for k, v in data.items() if k != "keys"}
    lines = [json.dumps(head)[:-1] + ', "keys": [']
    lines += [f"  {json.dumps(k)}," for k in data["keys"]]
    lines[-1] = lines[-1].rstrip(",")
    return "\n".join([*lines, "]}"]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redux", type=Path, help="traiNNer-redux checkout or git dir to read the keys from")
    args = parser.parse_args(argv)
    if args.redux is not None:
        src = Source(args.redux)
        if src.commit is None:
            raise SystemExit(
                f"{args.redux}: not a git checkout or git dir; the key file must name a redux commit"
            )
        data = extract(src)
        KEYS_FILE.write_text(dump(data), encoding="utf-8")
        print(
            f"wrote {KEYS_FILE.relative_to(ROOT)}: {len(data['keys'])} keys of redux {data['redux_commit'][:8]}"
        )
    sys.path.insert(0, str(ROOT / "src"))
    from upres.train.redux_table import write_migrating_table

    write_migrating_table(MIGRATING)
    print(f"wrote the key table in {MIGRATING.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

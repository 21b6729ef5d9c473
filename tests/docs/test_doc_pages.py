"""Messages name upres's documentation as pages of its source tree (which an installed package does not carry),
never as a bare `docs/...` path, and every page and section they name exists."""

from __future__ import annotations

import ast

from doc_commands import REPO
from test_links import anchors

SRC = REPO / "src" / "upres"
# These write docs/config.md and docs/cli.md themselves: `docs/...` there is the file being generated.
GENERATORS = {"cli/reference.py", "cli/schema.py", "train/reference.py", "doc_pages.py"}


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds) and node.body and isinstance(node.body[0], ast.Expr)
    }


def _modules() -> list[tuple[str, ast.AST]]:
    return [
        (p.relative_to(SRC).as_posix(), ast.parse(p.read_text(encoding="utf-8"))) for p in SRC.rglob("*.py")
    ]


def test_no_message_names_a_bare_repository_path():
    bare = []
    for name, tree in _modules():
        if name in GENERATORS:
            continue
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""
            if id(node) not in skip and any(
                part in text for part in ("docs/", "tests/", "bench/", "shared/data")
            ):
                bare.append(f"{name}:{node.lineno}: {text.strip()[:80]!r}")
    assert bare == [], "name a page with upres.doc_pages.doc_page('PAGE.md'), a file with a shipped template"


def test_every_page_a_message_names_exists():
    pages = [
        (name, node.lineno, node.args[0].value)
        for name, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "doc_page"
    ]
    assert len(pages) >= 7
    for name, line, page in pages:
        file, _, section = page.partition("#")
        path = REPO / "docs" / file
        assert path.is_file(), f"{name}:{line}: no docs/{file}"
        assert not section or section in anchors(path), (
            f"{name}:{line}: docs/{file} has no heading #{section}"
        )

"""The log lines docs/troubleshooting.md quotes are the ones the training loop writes (its checkpoint module)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _fixed_parts(fstring: str) -> list[str]:
    return [p for p in re.split(r"\{[^}]*\}", fstring) if len(p.strip()) > 3]


def test_nan_guard_messages_match_the_loop() -> None:
    loop = (REPO / "src" / "upres" / "train" / "persist.py").read_text(encoding="utf-8")
    doc = (REPO / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    quoted = re.search(r"```text\n(.*?)```", doc, re.S).group(1).splitlines()
    templates = [
        'f"iteration {it}: {n_bad} non-finite steps in a row; rolled back to {newest.name} (iteration {back}) "',
        'f"iteration {it}: {n_bad} non-finite steps in a row; no checkpoint yet, halving the learning rate"',
        'f"iteration {it}: weights contain NaN/Inf; checkpoint NOT written (the previous one stays)"',
    ]
    for template, line in zip(templates, quoted, strict=True):
        assert template in loop, f"persist.py no longer writes {template}"
        for part in _fixed_parts(template.strip('f"')):
            assert part in line, f"troubleshooting.md quotes {line!r}, the loop writes {template}"

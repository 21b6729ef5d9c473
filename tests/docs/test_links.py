"""Every relative link in README.md and docs/*.md points at a file that exists and, with #anchor, at a heading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from doc_commands import REPO, doc_files

LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """GitHub's heading slug: lower case, punctuation dropped (except - and _), spaces to dashes."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    text = re.sub(r"(?ms)^```.*?^```", "", doc.read_text(encoding="utf-8"))
    return {github_anchor(m.group(1)) for m in re.finditer(r"(?m)^#+\s+(.*)$", text)}


@pytest.mark.parametrize("doc", doc_files(), ids=lambda d: str(d.relative_to(REPO)))
def test_relative_links_resolve(doc: Path) -> None:
    text = re.sub(r"(?ms)^```.*?^```", "", doc.read_text(encoding="utf-8"))
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        assert dest.exists(), f"{doc.name}: link to missing {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{doc.name}: no heading for #{anchor} in {dest.name}"


def test_anchor_rules() -> None:
    assert github_anchor("`upres doctor`") == "upres-doctor"
    assert github_anchor("3. Your own photos") == "3-your-own-photos"
    assert github_anchor("Several GPUs and several machines") == "several-gpus-and-several-machines"
    assert (
        github_anchor("On-the-fly degradations vs basicsr 1.4.2") == "on-the-fly-degradations-vs-basicsr-142"
    )

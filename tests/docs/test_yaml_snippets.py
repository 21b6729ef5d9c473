"""Every YAML snippet in the docs is valid option-file content: merged into a shipped template, it must parse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from doc_commands import REPO, doc_files

from upres.archs import build_network
from upres.archs.discriminators import build_discriminator
from upres.cli.init import templates
from upres.losses import check_loss_spec
from upres.train.config import parse_options

SNIPPET = re.compile(r"(?ms)^```yaml([^\n]*)\n(.*?)^```")


def _merge(base: dict, new: dict) -> dict:
    """Nested keys replaced, the rest kept; a block naming another `type` (network_d: {type: dunet}) replaces the
    template's block whole, as its keys belong to the other type."""
    for k, v in new.items():
        old = base.get(k)
        if (
            isinstance(v, dict)
            and isinstance(old, dict)
            and v.get("type", old.get("type")) == old.get("type")
        ):
            base[k] = _merge(old, v)
        else:
            base[k] = v
    return base


SNIPPETS = [
    (doc, n, body)
    for doc in doc_files()
    for n, (_, body) in enumerate(SNIPPET.findall(doc.read_text(encoding="utf-8")))
]


@pytest.mark.parametrize(
    ("doc", "n", "body"), SNIPPETS, ids=[f"{d.relative_to(REPO)}#{n}" for d, n, _ in SNIPPETS]
)
def test_yaml_snippet_is_valid_option_content(doc: Path, n: int, body: str) -> None:
    base = yaml.safe_load(templates()["esrgan_x4_gan"])
    options = parse_options(_merge(base, yaml.safe_load(body)), f"{doc.name} snippet {n}")
    # Loss and network keys are checked when they are built; check them here without building VGG or networks.
    for i, spec in enumerate(options.train.losses):
        check_loss_spec(spec, f"{doc.name} snippet {n}: train.losses[{i}]")
    snippet = yaml.safe_load(body)
    if "network_g" in snippet:
        build_network(options.network_g.type, scale=options.scale, **options.network_g.kwargs())
    if "network_d" in snippet:
        build_discriminator(options.network_d.type, **options.network_d.kwargs())

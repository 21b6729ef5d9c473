"""Commands that messages suggest paste into a shell as they are; `upres init` names files as typed."""

from __future__ import annotations

import shlex

import pytest

from upres.cli import main
from upres.errors import shell_word


@pytest.mark.parametrize("name", ["plain.yml", "my run.yml", "it's.yml", "café (1).yml", "a$b.yml", ""])
def test_a_suggested_path_is_one_shell_word(name):
    assert shlex.split(f"upres train -c {shell_word(name)} --dry-run")[3] == name
    if name.replace(".", "").isalnum():
        assert shell_word(name) == name  # no quotes where none are needed


def test_init_suggests_a_command_that_runs_the_file_it_wrote(tmp_path, monkeypatch, capsys):
    """`upres init compact_x2_fidelity "my run"` suggested `upres train -c my run.yml`: pasted, it read `my`."""
    monkeypatch.chdir(tmp_path)
    assert main(["init", "compact_x2_fidelity", "my run"]) == 0
    suggested = capsys.readouterr().out.strip().split("then: ")[1]
    assert shlex.split(suggested) == ["upres", "train", "-c", "my run.yml", "--dry-run"]


@pytest.mark.parametrize(
    ("given", "written", "name"), [("Run.YML", "Run.YML", "Run"), ("r.Yaml", "r.Yaml", "r")]
)
def test_init_takes_an_upper_case_option_file_extension_as_one(
    tmp_path, monkeypatch, capsys, given, written, name
):
    """`upres init T Run.YML` wrote Run.YML.yml for an experiment named "Run.YML"."""
    monkeypatch.chdir(tmp_path)
    assert main(["init", "compact_x2_fidelity", given]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.*") if p.name != "upres.schema.json") == [written]
    assert f"\nname: {name}\n" in (tmp_path / written).read_text()

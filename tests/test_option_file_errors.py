"""Every command that reads an option file, or a training state, answers bad files with the same one-line errors."""

from __future__ import annotations

import fractions

import pytest
import torch

from upres.cli import main

BAD_FILES = [
    (None, "option file not found"),
    (b": : :\n", "not valid YAML at line 1, column 1: expected <block end>, but found ':'"),
    (b"\xff\xfe\x00binary", "not a text file (option files are UTF-8 YAML)"),
    (b"- a\n- b\n", "expected a mapping of option keys at the top level"),
    (
        b"scale: 2\r\nname: caf\xe9\r\n",
        "not UTF-8 text (line 2 holds a byte UTF-8 does not have, as in a file saved as ANSI or Latin-1); save it as "
        "UTF-8",
    ),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
@pytest.mark.parametrize("command", [["train", "-c"], ["doctor", "-c"], ["degrade", "-c"], ["test", "-c"]])
def test_bad_option_files_give_one_line(tmp_path, capsys, command, content, message):
    path = tmp_path / "opt.yml"
    if content is not None:
        path.write_bytes(content)
    argv = [*command, str(path)] + (["x.png", "-o", str(tmp_path / "o")] if command[0] == "degrade" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {path}: {message}"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_option_files_windows_writes_read_as_utf_8_ones(tmp_path, encoding):
    """PowerShell's `>` and Out-File write UTF-16 with a byte-order mark (Notepad's "Unicode" too), with CRLF line
    ends: such a file was 'not a text file'."""
    from upres.option_file import read_option_file

    text = "name: café\nscale: 2\ndatasets:\n  train:\n    dataroot_gt: 'C:\\data\\hr'\n"
    utf8, other = tmp_path / "a.yml", tmp_path / "b.yml"
    utf8.write_bytes(text.encode())
    data = text.replace("\n", "\r\n").encode(encoding)
    other.write_bytes(("\ufeff".encode(encoding) if encoding == "utf-16-be" else b"") + data)
    assert read_option_file(other) == read_option_file(utf8)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"garbage", "not a file `upres train` writes: those are torch zip archives"),
        ("pickle", "it holds objects other than tensors, which are never unpickled"),
    ],
)
def test_bad_training_states_give_one_line(tmp_path, capsys, content, message):
    from upres.train.checkpoint import CheckpointError, load_training_state

    path = tmp_path / "5.state"
    if content == "pickle":
        torch.save({"iteration": 5, "odd": fractions.Fraction(1, 2)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_training_state(path)
    assert str(info.value) == f"{path}: not a loadable training state ({message})"


@pytest.mark.parametrize("rank", ["0", "1"])
def test_under_torchrun_an_option_file_error_is_printed_once(tmp_path, capsys, monkeypatch, rank):
    """Every process reads the same file: each printed the same error line (twice for two processes)."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    path = tmp_path / "opt.yml"
    path.write_bytes(b"- a\n- b\n")
    assert main(["train", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "" if rank == "1" else f"error: {path}: expected a mapping of option keys at the top level\n"
    )

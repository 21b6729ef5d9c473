"""`upres schema -o my_x2.yml` (or `--docs README.md`) replaced the user's file without a word; convert, interp,
init and video refuse to replace a file unless --force. Writing again over the files schema wrote still works."""

from __future__ import annotations

from upres.cli import main


def test_schema_keeps_a_file_it_did_not_write(tmp_path, capsys):
    options, readme = tmp_path / "my_x2.yml", tmp_path / "README.md"
    options.write_text("name: my_x2\nscale: 2\n")
    readme.write_text("# My notes\n")
    schema = tmp_path / "upres.schema.json"
    assert main(["schema", "--docs", str(readme), "-o", str(schema)]) == 2
    message = f"error: {readme}: exists and is not what upres schema writes with this flag; add --force to replace it, or choose another name\n"
    assert capsys.readouterr().err == message
    assert readme.read_text() == "# My notes\n" and not schema.exists()
    assert main(["schema", "-o", str(options)]) == 2
    assert options.read_text() == "name: my_x2\nscale: 2\n"
    capsys.readouterr()
    assert main(["schema", "-o", str(options), "--force"]) == 0
    assert options.read_text().startswith("{")


def test_schema_writes_again_over_its_own_files(tmp_path, capsys):
    paths = {"-o": tmp_path / "s.json", "--docs": tmp_path / "config.md", "--cli": tmp_path / "cli.md"}
    argv = ["schema"] + [a for flag, path in paths.items() for a in (flag, str(path))]
    assert main(argv) == 0
    first = {flag: path.read_text() for flag, path in paths.items()}
    for path in paths.values():
        path.write_text(path.read_text().replace("default", "dflt"))
    assert main(argv) == 0
    assert {flag: path.read_text() for flag, path in paths.items()} == first
    assert main(["schema", "--cli", str(paths["-o"])]) == 2

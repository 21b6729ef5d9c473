"""Paths in option files: used as written, relative to the current folder; a leading `~` is the home folder (as
BasicSR reads them); an environment variable is refused instead of becoming part of a folder's name."""

from __future__ import annotations

import pytest
import yaml
from train_helpers import MINIMAL_OPTIONS, base_options, merge, write

from upres.cli import main
from upres.errors import ConfigError
from upres.train.config import parse_options


def test_a_leading_tilde_is_the_home_folder_in_every_path_key(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    patch = {
        "datasets": {
            "train": {
                "dataroot_gt": ["~/hr", "~/hr2"],
                "dataroot_lq": ["~/lr", "~/lr2"],
                "meta_info": "~/m.txt",
            }
        },
        "path": {"pretrain_network_g": "~/g.pth", "resume_state": "~/5.state", "experiments_root": "~/exp"},
    }
    opts = parse_options(merge(MINIMAL_OPTIONS, patch))
    train = opts.datasets["train"]
    assert train.dataroot_gt == [str(tmp_path / "hr"), str(tmp_path / "hr2")]
    assert train.dataroot_lq == [str(tmp_path / "lr"), str(tmp_path / "lr2")]
    assert train.meta_info == str(tmp_path / "m.txt")
    assert opts.path.pretrain_network_g == tmp_path / "g.pth"
    assert opts.path.resume_state == tmp_path / "5.state"
    assert opts.path.experiments_root == tmp_path / "exp"
    # Relative paths stay relative: to the folder upres runs in, as traiNNer-redux reads them.
    assert parse_options(MINIMAL_OPTIONS).datasets["train"].dataroot_gt == "hr"


def test_training_into_tilde_writes_to_the_home_folder_not_a_folder_named_tilde(
    tmp_path, monkeypatch, hr_folder, capsys
):
    """`experiments_root: ~/exp` made a folder named "~" in the current one and the run went there."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    opts = merge(
        base_options(hr_folder, tmp_path), {"path": {"experiments_root": "~/exp"}, "train": {"total_iter": 1}}
    )
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts))]) == 0
    assert (home / "exp" / "models").is_dir() and not (tmp_path / "~").exists()


@pytest.mark.parametrize("written", ["$HOME/exp", "${DATA}/exp", "%USERPROFILE%\\exp"])
def test_an_environment_variable_is_refused_before_anything_is_written(
    tmp_path, monkeypatch, hr_folder, capsys, written
):
    """`experiments_root: $HOME/exp` trained into a folder named "$HOME" under the current one."""
    monkeypatch.chdir(tmp_path)
    opts = merge(base_options(hr_folder, tmp_path), {"path": {"experiments_root": written}})
    path = write(tmp_path / "o.yml", opts)
    before = sorted(tmp_path.iterdir())
    assert main(["train", "-c", str(path)]) == 2
    var = written.split("/")[0].split("\\")[0]
    assert capsys.readouterr().err.strip() == (
        f"error: {path}: path.experiments_root: environment variables are not expanded in option files ({var}); "
        f"write the path itself (got {written!r})"
    )
    assert sorted(tmp_path.iterdir()) == before


def test_a_folder_whose_name_holds_a_dollar_is_taken_as_written(tmp_path):
    folder = tmp_path / "$5 photos"
    folder.mkdir()
    opts = parse_options(merge(MINIMAL_OPTIONS, {"datasets": {"train": {"dataroot_gt": str(folder)}}}))
    assert opts.datasets["train"].dataroot_gt == str(folder)


def test_an_unknown_home_folder_is_refused():
    with pytest.raises(
        ConfigError, match=r"cannot tell which home folder '~nosuchuser_upres' is; write the path itself"
    ):
        parse_options(merge(MINIMAL_OPTIONS, {"path": {"experiments_root": "~nosuchuser_upres/exp"}}))


def test_a_folder_given_to_resume_is_called_a_folder_and_its_newest_state_named(tmp_path, hr_folder, capsys):
    """`--resume experiments/x` said "no such training state" of a folder that was there."""
    run = tmp_path / "old_run"
    (run / "training_states").mkdir(parents=True)
    for it in (5, 10):
        (run / "training_states" / f"{it}.state").write_bytes(b"")
    path = write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "exp"))
    newest = run / "training_states" / "10.state"
    for given in (run, run / "training_states"):
        assert main(["train", "-c", str(path), "--resume", str(given), "--dry-run"]) == 2
        assert capsys.readouterr().err.strip() == (
            f"error: --resume {given}: is a folder; give a training state in it (the newest is {newest})"
        )
    (tmp_path / "empty").mkdir()
    assert main(["train", "-c", str(path), "--resume", str(tmp_path / "empty"), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --resume {tmp_path / 'empty'}: is a folder; give a training state file "
        "(experiments/<name>/training_states/<iteration>.state)"
    )


def test_the_vgg_weights_path_follows_the_same_rules(tmp_path, monkeypatch):
    from upres.losses.perceptual import resolve_vgg_weights

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "vgg19.pth").write_bytes(b"")
    assert resolve_vgg_weights("~/vgg19.pth") == tmp_path / "vgg19.pth"
    with pytest.raises(ConfigError) as err:
        resolve_vgg_weights("$WEIGHTS/vgg19.pth")
    assert str(err.value) == (
        "perceptualloss.vgg_weights_path: environment variables are not expanded in option files ($WEIGHTS); write "
        "the path itself (got '$WEIGHTS/vgg19.pth')"
    )
    with pytest.raises(ConfigError) as err:
        resolve_vgg_weights(str(tmp_path))
    assert (
        str(err.value)
        == f"perceptualloss.vgg_weights_path: {tmp_path} is a folder; give the weights file in it"
    )


EMPTY = "an empty path, which would be the current folder; give the path, or remove the key"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("path.experiments_root", ""),
        ("path.pretrain_network_g", " "),
        ("path.pretrain_network_d", ""),
        ("path.resume_state", ""),
        ("datasets.train.dataroot_gt", ""),
        ("datasets.train.dataroot_lq", ""),
        ("datasets.train.meta_info", ""),
    ],
)
def test_an_empty_path_is_refused_naming_its_key(key, value):
    """Path("") is the current folder: `experiments_root: ""` wrote log.txt, models/ and training_states/ straight
    into it, `dataroot_gt: ""` trained on whatever images lay there, `pretrain_network_g: ""` was '.: is a folder'."""
    *blocks, last = key.split(".")
    patch: dict = {last: value}
    for block in reversed(blocks):
        patch = {block: patch}
    with pytest.raises(ConfigError) as exc:
        parse_options(merge(MINIMAL_OPTIONS, patch), "o.yml")
    assert str(exc.value) == f"o.yml: {key}: {EMPTY} (got {value!r})"


def test_an_empty_experiments_root_writes_nothing_in_the_current_folder(
    tmp_path, monkeypatch, hr_folder, capsys
):
    monkeypatch.chdir(tmp_path)
    opts = merge(base_options(hr_folder, tmp_path / "exp"), {"path": {"experiments_root": ""}})
    cfg = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(cfg), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == f"error: {cfg}: path.experiments_root: {EMPTY} (got '')\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["o.yml", hr_folder.name])


QUOTE = "write it as text (in quotes for a name YAML reads as a number, e.g. '2024')"


@pytest.mark.parametrize(
    "key",
    [
        "datasets.train.dataroot_gt",
        "datasets.train.dataroot_lq",
        "datasets.train.meta_info",
        "path.experiments_root",
    ],
)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2024, f"expected a path; {QUOTE} (got 2024)"),
        (True, f"expected a path; {QUOTE} (got True)"),
        (["hr", 7], f"each entry must be a path, got 7; {QUOTE}"),
    ],
)
def test_a_path_that_is_not_text_is_one_problem_naming_its_key(key, value, message):
    """`dataroot_gt: 2024` (a folder YAML reads as a number) was two problems under type names,
    'dataroot_gt.str: Input should be a valid string; dataroot_gt.list[str]: Input should be a valid list'."""
    *blocks, last = key.split(".")
    patch: dict = {last: value}
    for block in reversed(blocks):
        patch = {block: patch}
    with pytest.raises(ConfigError) as exc:
        parse_options(merge(MINIMAL_OPTIONS, patch), "o.yml")
    assert str(exc.value) == f"o.yml: {key}: {message}"


WINDOWS_ESCAPES = (
    'in double quotes YAML reads a backslash as the start of an escape ("C:\\new" is C:, a line break, ew); write '
    "a Windows path in single quotes or with /"
)


@pytest.mark.parametrize(
    ("key", "line", "char"),
    [
        ("experiments_root", r'"runs\new_run"', "\\n"),
        ("experiments_root", r'"C:\runs\test"', "\\r"),
        ("dataroot_gt", r'"D:\train"', "\\t"),
    ],
)
def test_a_windows_path_in_double_quotes_is_refused_naming_the_quotes(
    tmp_path, monkeypatch, hr_folder, capsys, key, line, char
):
    """`experiments_root: "runs\\new_run"` (a path copied from Explorer) is "runs", a line break and "ew_run" to
    YAML: the run trained into a folder of that name on Linux, and the message for a dataset said 'no such folder
    D:\\train', the path the user saw exists."""
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "o.yml", base_options(hr_folder, tmp_path / "exp"))
    old = (
        f"experiments_root: {tmp_path / 'exp'}" if key == "experiments_root" else f"dataroot_gt: {hr_folder}"
    )
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, f"{key}: {line}"))
    before = sorted(tmp_path.iterdir())
    assert main(["train", "-c", str(path)]) == 2
    where = "path.experiments_root" if key == "experiments_root" else "datasets.train.dataroot_gt"
    written = yaml.safe_load(line)
    assert capsys.readouterr().err.strip() == (
        f"error: {path}: {where}: holds the control character '{char}': {WINDOWS_ESCAPES} (got {written!r})"
    )
    assert sorted(tmp_path.iterdir()) == before


def test_a_folder_whose_name_holds_a_control_character_is_taken_as_written(tmp_path):
    odd = tmp_path / "a\tb"
    odd.mkdir()
    patch = {"datasets": {"train": {"dataroot_gt": str(odd)}}}
    assert parse_options(merge(MINIMAL_OPTIONS, patch)).datasets["train"].dataroot_gt == str(odd)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (r'"C:\data\hr"', "found unknown escape character 'd'"),
        (r'"C:\Users\me\hr"', "expected escape sequence of 8 hexadecimal numbers, but found 's'"),
    ],
)
def test_a_yaml_escape_error_says_how_to_write_a_windows_path(tmp_path, capsys, line, problem):
    path = tmp_path / "o.yml"
    path.write_text(f"name: x\nscale: 2\ndatasets:\n  train:\n    dataroot_gt: {line}\n")
    assert main(["train", "-c", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: not valid YAML at line 5, column ")
    assert err.endswith(
        f": {problem}; in double quotes a backslash starts an escape: write a Windows path in single quotes or with /"
    )


def test_a_utf_16_option_file_trains_and_is_recorded(tmp_path, hr_folder):
    """Windows PowerShell's `>` writes UTF-16: `upres train` refused such a file as 'not a text file'."""
    exp = tmp_path / "exp"
    opts = merge(base_options(hr_folder, exp), {"name": "café", "train": {"total_iter": 1}})
    path = tmp_path / "o.yml"
    path.write_bytes(yaml.safe_dump(opts, allow_unicode=True).replace("\n", "\r\n").encode("utf-16"))
    assert main(["train", "-c", str(path), "--device", "cpu"]) == 0
    assert yaml.safe_load((exp / "options.yml").read_text(encoding="utf-8")) == opts


@pytest.mark.parametrize(
    ("key", "written", "wsl"),
    [
        ("experiments_root", "D:\\runs\\x4", "/mnt/d/runs/x4"),
        ("experiments_root", "c:/runs", "/mnt/c/runs"),
        ("dataroot_gt", "E:\\data\\hr", "/mnt/e/data/hr"),
    ],
)
def test_a_windows_drive_path_elsewhere_is_refused_with_its_wsl_path(
    tmp_path, monkeypatch, hr_folder, capsys, key, written, wsl
):
    """An option file from Windows run under WSL or Linux: `experiments_root: D:\\runs\\x4` trained into a folder of
    that one name under the current one; a dataset said 'no such folder'."""
    monkeypatch.chdir(tmp_path)
    opts = base_options(hr_folder, tmp_path / "exp")
    (opts["path"] if key == "experiments_root" else opts["datasets"]["train"])[key] = written
    path = write(tmp_path / "o.yml", opts)
    before = sorted(tmp_path.iterdir())
    assert main(["train", "-c", str(path)]) == 2
    where = "path.experiments_root" if key == "experiments_root" else "datasets.train.dataroot_gt"
    assert capsys.readouterr().err.strip() == (
        f"error: {path}: {where}: a Windows drive path, which this system reads as a folder {written} under the "
        f"current one; under WSL write {wsl} (got {written!r})"
    )
    assert sorted(tmp_path.iterdir()) == before


def test_a_windows_drive_path_is_taken_on_windows_and_where_it_exists(tmp_path, monkeypatch):
    patch = {"path": {"experiments_root": "D:\\runs"}}
    monkeypatch.setattr("upres.option_file.sys.platform", "win32")
    assert str(parse_options(merge(MINIMAL_OPTIONS, patch)).path.experiments_root) == "D:\\runs"
    monkeypatch.setattr("upres.option_file.sys.platform", "linux")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "D:\\runs").mkdir()
    assert str(parse_options(merge(MINIMAL_OPTIONS, patch)).path.experiments_root) == "D:\\runs"

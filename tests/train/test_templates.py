"""Shipped templates run (dry run), `upres init` copies them, generated references are current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from upres.cli import main
from upres.cli.init import templates
from upres.train.reference import config_reference, json_schema

REPO = Path(__file__).resolve().parents[2]


def _point_at(tmp_path: Path, text: str, hr: Path, vgg: Path | None) -> Path:
    opts = yaml.safe_load(text)
    for ds in opts["datasets"].values():
        ds["dataroot_gt"] = str(hr)
        ds.pop("dataroot_lq", None)
        ds.pop("meta_info", None)
        if "lq_size" in ds:
            ds["lq_size"] = 8
            ds["batch_size_per_gpu"] = 2  # BatchNorm in a VGG-style D needs more than one value per channel
            ds["num_worker_per_gpu"] = 0
    opts["path"]["pretrain_network_g"] = None
    opts["path"]["experiments_root"] = str(tmp_path / "exp")
    opts["logger"]["use_tb_logger"] = False
    for loss in opts["train"].get("losses", []):
        if loss["type"].lower() == "perceptualloss" and vgg is not None:
            loss["vgg_weights_path"] = str(vgg)
    path = tmp_path / "opt.yml"
    path.write_text(yaml.safe_dump(opts))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(templates()))
def test_every_template_passes_dry_run(tmp_path, hr_folder, random_vgg, name, capsys):
    path = _point_at(tmp_path, templates()[name], hr_folder, random_vgg)
    assert main(["train", "-c", str(path), "--dry-run", "--device", "cpu"]) == 0, capsys.readouterr().err
    assert "dry run OK" in capsys.readouterr().out


def test_templates_carry_the_schema_line():
    for name, text in templates().items():
        assert text.startswith("# yaml-language-server: $schema="), name


def test_init_copies_a_template_and_writes_the_schema(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "esrgan_x2_fidelity", "myrun"]) == 0
    opts = yaml.safe_load((tmp_path / "myrun.yml").read_text())
    assert opts["name"] == "myrun" and opts["scale"] == 2
    assert json.loads((tmp_path / "upres.schema.json").read_text())["title"] == "upres option file"
    assert main(["init", "esrgan_x2_fidelity", "myrun"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["init", "nope", "x"]) == 2


@pytest.mark.parametrize("given", ["my_run", "my_run.yml", "my_run.yaml"])
def test_init_takes_the_name_with_or_without_the_extension(tmp_path, monkeypatch, given):
    # `upres train --help` shows `upres init esrgan_x2_fidelity my_run.yml`, then `upres train -c my_run.yml`.
    monkeypatch.chdir(tmp_path)
    assert main(["init", "esrgan_x2_fidelity", given]) == 0
    written = tmp_path / (given if given.endswith((".yml", ".yaml")) else f"{given}.yml")
    assert sorted(p.name for p in tmp_path.glob("my_run*")) == [written.name]
    assert yaml.safe_load(written.read_text())["name"] == "my_run"


def test_config_reference_is_current():
    assert (REPO / "docs" / "config.md").read_text(encoding="utf-8") == config_reference(), (
        "docs/config.md is stale: run `upres schema --docs docs/config.md`"
    )


def test_schema_knows_traiNNer_keys():
    schema = json.dumps(json_schema())
    for key in (
        "lq_size",
        "batch_size_per_gpu",
        "accum_iter",
        "pretrain_network_g",
        "strict_load_g",
        "milestones",
        "val_freq",
        "save_checkpoint_freq",
    ):
        assert f'"{key}"' in schema, key

"""options.yml after a resume: the options that trained the run before it changed are kept beside it."""

from __future__ import annotations

import yaml
from train_helpers import base_options, write

from upres.cli import main


def test_a_resume_with_other_options_keeps_the_earlier_ones_and_a_resume_without_changes_adds_nothing(
    tmp_path, hr_folder, capsys
):
    exp = tmp_path / "exp"
    first = base_options(hr_folder, exp, total_iter=2)
    first["logger"]["save_checkpoint_freq"] = 2
    cfg = write(tmp_path / "o.yml", first)
    assert main(["train", "-c", str(cfg), "--device", "cpu"]) == 0
    first_record = (exp / "options.yml").read_text()

    second = base_options(hr_folder, exp, total_iter=4)
    second["logger"]["save_checkpoint_freq"] = 2
    second["train"]["optim_g"]["lr"] = 5e-4
    assert main(["train", "-c", str(write(cfg, second)), "--device", "cpu", "--resume", "auto"]) == 0
    assert (exp / "options_until_2.yml").read_text() == first_record
    assert yaml.safe_load((exp / "options.yml").read_text())["train"]["optim_g"]["lr"] == 5e-4
    log = (exp / "log.txt").read_text()
    assert f"the ones that trained up to iteration 2 are kept as {exp / 'options_until_2.yml'}" in log

    # The same options again: nothing new beside options.yml.
    second["train"]["total_iter"] = 4
    assert main(["train", "-c", str(write(cfg, second)), "--device", "cpu", "--resume", "auto"]) == 0
    assert sorted(p.name for p in exp.glob("options*.yml")) == ["options.yml", "options_until_2.yml"]

    # A rewind to iteration 2 with yet other options keeps the second session's under a free name.
    second_record = (exp / "options.yml").read_text()
    third = base_options(hr_folder, exp, total_iter=4)
    third["logger"]["save_checkpoint_freq"] = 2
    third["train"]["optim_g"]["lr"] = 2e-4
    state2 = exp / "training_states" / "2.state"
    assert main(["train", "-c", str(write(cfg, third)), "--device", "cpu", "--resume", str(state2)]) == 0
    capsys.readouterr()
    assert (exp / "options_until_2.yml").read_text() == first_record
    assert (exp / "options_until_2_2.yml").read_text() == second_record

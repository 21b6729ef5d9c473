"""BasicSR's and traiNNer-redux's train.py flags (`--launcher pytorch --auto_resume`), which their docs put in the
torchrun commands users copy: refused as unrecognized arguments, they now run as those commands mean."""

from __future__ import annotations

from train_helpers import base_options, merge, write

from upres.cli import main


def test_launcher_pytorch_and_auto_resume_run_as_in_redux(tmp_path, hr_folder, capsys):
    exp = tmp_path / "exp"
    assert (
        main(
            ["train", "-opt", str(write(tmp_path / "a.yml", base_options(hr_folder, exp))), "--device", "cpu"]
        )
        == 0
    )
    longer = write(tmp_path / "b.yml", merge(base_options(hr_folder, exp), {"train": {"total_iter": 15}}))
    argv = ["train", "-opt", str(longer), "--launcher", "pytorch", "--auto_resume", "--device", "cpu"]
    assert main(argv) == 0
    assert (
        f"resumed from {exp / 'training_states' / '10.state'} at iteration 10"
        in (exp / "log.txt").read_text()
    )
    assert capsys.readouterr().out.strip().endswith(f"finished at iteration 15; experiment folder: {exp}")


def test_launcher_slurm_without_torchrun_says_how_to_start_it(tmp_path, hr_folder, capsys, monkeypatch):
    """srun's tasks without torchrun would each be a run of one process, into the same folder."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cfg = write(tmp_path / "a.yml", base_options(hr_folder, tmp_path / "exp"))
    assert main(["train", "-opt", str(cfg), "--launcher", "slurm"]) == 2
    assert capsys.readouterr().err == (
        "error: --launcher slurm: upres's processes come from torchrun, not from srun's tasks (each would train "
        "alone); in the job, start one torchrun per machine: srun torchrun --nnodes N --nproc_per_node GPUS "
        "--rdzv_backend c10d --rdzv_endpoint HOST:29500 -m upres train -c OPTIONS\n"
    )
    assert not (tmp_path / "exp").exists()

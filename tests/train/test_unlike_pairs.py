"""Training notes pairs whose LR is another picture than its GT (a misnumbered LR folder): it trained on them silently."""

from __future__ import annotations

from PIL import Image
from train_helpers import base_options, write

from upres.cli import main
from upres.data.doctor import check_folders


def test_a_misnumbered_lr_folder_is_noted_in_the_training_log(tmp_path, hr_folder, capsys):
    lq = tmp_path / "lq"
    lq.mkdir()
    gts = sorted(hr_folder.iterdir())
    for i, gt in enumerate(gts):  # each LR made from the next GT: every size fits
        with Image.open(gts[(i + 1) % len(gts)]) as img:
            img.resize((32, 32), Image.BICUBIC).save(lq / gt.name)
    options = base_options(hr_folder, tmp_path / "exp", total_iter=1)
    options["datasets"]["train"]["dataroot_lq"] = str(lq)
    assert main(["train", "-c", str(write(tmp_path / "o.yml", options)), "--device", "cpu"]) == 0
    capsys.readouterr()
    log = (tmp_path / "exp" / "log.txt").read_text()
    # Two of these 64x64 crops are too flat at 32x32 for their outlines to tell (test_pair_content.py has photos).
    judged = [
        f
        for f in check_folders([hr_folder], [lq], scale=2, use_cache=False).findings
        if f.kind == "lr_content"
    ]
    assert len(judged) >= len(gts) - 2
    assert (
        f"datasets.train: {len(judged)} of {len(gts)} LR image(s) do not look like their GT made smaller"
        in log
    )
    assert f"e.g. {lq / gts[0].name}: does not look like its GT {gts[0]} made smaller" in log

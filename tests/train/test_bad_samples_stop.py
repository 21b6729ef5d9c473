"""Training stopped by too many bad samples says so in log.txt too (it was on the console only), with the newest saved
state, as a loader that cannot go on does."""

from __future__ import annotations

from train_helpers import base_options, write

from upres.cli import main
from upres.data.bad_samples import BadSampleError
from upres.data.paired import PairedImageDataset


def test_training_stopped_by_bad_samples_says_so_in_its_log_with_the_newest_state(
    tmp_path, hr_folder, monkeypatch, capsys
):
    real, calls, broken = PairedImageDataset.load, [0], []

    def load(self, i, rng):
        calls[0] += 1
        if calls[0] > 12:  # batch 2: iteration 7 onwards, after the state of iteration 5 is saved
            broken.append(str(self.pairs[i].gt))
            raise BadSampleError("went bad")
        return real(self, i, rng)

    monkeypatch.setattr(PairedImageDataset, "load", load)
    exp = tmp_path / "exp"
    cfg = write(tmp_path / "o.yml", base_options(hr_folder, exp))
    assert main(["train", "-c", str(cfg), "--device", "cpu"]) == 1
    message = (
        f"1 of 6 samples are bad (more than 1%): {broken[0]}: went bad; fix or remove them (`upres doctor` lists "
        "every problem); the newest saved state is 5.state"
    )
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {message}"
    assert message in (exp / "log.txt").read_text()

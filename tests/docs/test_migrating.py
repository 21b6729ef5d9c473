"""docs/migrating.md quotes the messages users see; they are produced here from the code and looked up verbatim."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from upres.archs import build_network
from upres.errors import UpresError
from upres.losses import build_losses, skipped_note
from upres.train.config import ValOptions, parse_options
from upres.train.validate import build_metrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "migrating.md"
BASE = {
    "name": "x",
    "scale": 4,
    "datasets": {"train": {"type": "pairedimagedataset", "dataroot_gt": "hr", "lq_size": 32}},
    "network_g": {"type": "esrgan"},
}


def _options(edit: Callable[[dict], None]):
    data = copy.deepcopy(BASE)
    edit(data)
    return parse_options(data, "opt.yml")


def _error(fn: Callable[[], object]) -> str:
    with pytest.raises(UpresError) as exc:
        fn()
    return f"error: {exc.value}"


def _train(**keys) -> Callable[[dict], None]:
    return lambda d: d.setdefault("train", {}).update(keys)


def _losses(*specs: dict) -> Callable[[dict], None]:
    return _train(losses=list(specs))


REFUSED = {
    "moa": lambda: _options(_train(use_moa=True)),
    "vgg16": lambda: _options(_losses({"type": "perceptualloss", "loss_weight": 1, "vgg_type": "vgg16"})),
    "style": lambda: _options(_losses({"type": "perceptualloss", "loss_weight": 1, "style_weight": 1})),
    "unknown key": lambda: _options(_train(total_iters=5)),
    "optimizer": lambda: _options(_train(optim_g={"type": "Adan", "lr": 1e-4})),
    "scheduler": lambda: _options(_train(scheduler={"type": "ReduceLROnPlateau"})),
    "lmdb": lambda: _options(lambda d: d["datasets"]["train"].update(io_backend={"type": "lmdb"})),
    "loss type": lambda: build_losses([{"type": "distsloss", "loss_weight": 0.5}]),
    "network": lambda: build_network("SPAN", scale=4),
    "scale 3": lambda: build_network("esrgan", scale=3),
    "metric direction": lambda: build_metrics(
        ValOptions(metrics={"psnr": {"type": "calculate_psnr", "better": "lower"}})
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refusals_are_quoted_verbatim(case: str) -> None:
    message = _error(REFUSED[case])
    assert message in DOC.read_text(encoding="utf-8"), f"docs/migrating.md does not quote:\n{message}"


NOTED = {
    "legacy blocks": _train(
        pixel_opt={"type": "L1Loss", "loss_weight": 1.0},
        perceptual_opt={"type": "PerceptualLoss", "layer_weights": {"conv5_4": 1}, "perceptual_weight": 1.0},
    ),
    "pd+l1": _losses({"type": "perceptualloss", "loss_weight": 1, "criterion": "pd+l1"}),
    "zero weight": _losses({"type": "l1loss", "loss_weight": 1}, {"type": "dists", "loss_weight": 0}),
    "niqe": lambda d: d.update(val={"val_freq": 10, "metrics": {"niqe": {"type": "calculate_niqe"}}}),
    "ignored": lambda d: d.update(auto_resume=True),
    "redux defaults": _train(use_moa=False, ema_switch_iter=0),
    "milestones": _train(scheduler={"type": "MultiStepLR", "milestones": [300, 100, 200]}),
    "discriminator keys": _train(optim_d={"type": "Adam", "lr": 1e-4}),
    "tensor metrics": lambda d: d.update(
        val={"val_freq": 10, "metrics": {"psnr": {"type": "calculate_psnr_pt", "crop_border": 4}}}
    ),
}


@pytest.mark.parametrize("case", sorted(NOTED))
def test_translation_notes_are_quoted_verbatim(case: str) -> None:
    opts = _options(NOTED[case])
    # and the notes of entries at weight 0, which the losses' builder writes
    notes = opts.compat_notes + [
        skipped_note(spec, f"train.losses[{i}]")
        for i, spec in enumerate(opts.train.losses)
        if spec.loss_weight == 0
    ]
    assert notes, case
    text = DOC.read_text(encoding="utf-8")
    for note in notes:
        assert note in text, f"docs/migrating.md does not quote the log note:\n{note}"


@pytest.mark.parametrize("key", ["wavelet_guided", "match_lq_colors", "sam", "sam_init"])
def test_neosr_only_keys_stop_the_run(key: str) -> None:
    assert "unknown key" in _error(lambda: _options(_train(**{key: True})))
    assert f"`{key}`" in DOC.read_text(encoding="utf-8")


def test_neosr_eco_flag_is_refused_by_redux_name() -> None:
    # traiNNer-redux has a train.eco block; neosr's `eco: true` means its `enabled`, which upres does not implement.
    assert _error(lambda: _options(_train(eco=True))) == (
        "error: opt.yml: train.eco.enabled: not implemented in upres: ECO training (it needs a teacher network); "
        "set it to false or remove it"
    )
    assert _options(_train(eco=False)).train.model_dump().get("eco") is None
    assert "`eco: true`" in DOC.read_text(encoding="utf-8")

"""`true`/`false` (YAML 1.1 also reads yes/no/on/off so) where an option file wants a number is refused; pydantic read
them as 1 and 0, so `lr: true` trained at 1.0 and `total_iter: yes` for one iteration, without a word."""

from __future__ import annotations

import pytest

from upres.errors import ConfigError
from upres.train.config import parse_options

BASE = {
    "name": "x",
    "scale": 2,
    "datasets": {"train": {"type": "pairedimagedataset", "dataroot_gt": "hr", "lq_size": 16}},
    "network_g": {"type": "compact"},
}
WHY = "expected a number, not a boolean (YAML reads true/false/yes/no/on/off as booleans) (got True)"


def _with(path: str, value: object) -> dict:
    data = {**BASE, "datasets": {"train": dict(BASE["datasets"]["train"])}}
    *blocks, key = path.split(".")
    node = data
    for block in blocks:
        node = node.setdefault(block, {})
    node[key] = value
    return data


@pytest.mark.parametrize(
    "path",
    [
        "train.total_iter",
        "train.ema_decay",
        "train.optim_g.lr",
        "val.val_freq",
        "logger.keep_checkpoints",
        "manual_seed",
        "datasets.train.lq_size",
        "datasets.train.batch_size_per_gpu",
    ],
)
def test_a_boolean_where_a_number_goes_is_refused(path):
    data = _with(path, True)
    if path.startswith("train.optim_g"):
        data["train"]["optim_g"]["type"] = "AdamW"
    with pytest.raises(ConfigError) as exc:
        parse_options(data, "o.yml")
    assert str(exc.value) == f"o.yml: {path}: {WHY}"


def test_booleans_stay_booleans_and_numbers_numbers():
    opts = parse_options(
        _with("train", {"grad_clip": True, "total_iter": 7, "optim_g": {"type": "AdamW", "lr": "2e-4"}}),
        "o.yml",
    )
    assert opts.train.grad_clip is True and opts.train.total_iter == 7 and opts.train.optim_g.lr == 2e-4
    assert parse_options(_with("datasets.train.use_hflip", False), "o.yml").train_dataset.use_hflip is False

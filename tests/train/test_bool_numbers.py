"""`true`/`false` (YAML 1.1 also reads yes/no/on/off so) where an option file wants a number is refused; pydantic read
them as 1 and 0, so `lr: true` trained at 1.0 and `total_iter: yes` for one iteration, without a word."""

from __future__ import annotations

import copy

import pytest
import yaml
from train_helpers import MINIMAL_OPTIONS

from upres.errors import ConfigError
from upres.train.config import parse_options

BASE = MINIMAL_OPTIONS
WHY = "expected a number, not a boolean (YAML reads true/false/yes/no/on/off as booleans) (got True)"


def _with(path: str, value: object) -> dict:
    data = copy.deepcopy(BASE)
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


@pytest.mark.parametrize(
    ("train", "where"),
    [
        ({"losses": [{"type": "l1loss", "loss_weight": True}]}, "train.losses.0.loss_weight"),
        ({"scheduler": {"type": "MultiStepLR", "milestones": [2], "gamma": True}}, "train.scheduler.gamma"),
        ({"scheduler": {"type": "MultiStepLR", "milestones": [True, 4]}}, "train.scheduler.milestones"),
        ({"optim_g": {"type": "Adam", "betas": [True, 0.9]}}, "train.optim_g.betas"),
    ],
)
def test_in_losses_schedules_and_lists_of_numbers_too(train, where):
    with pytest.raises(ConfigError) as exc:
        parse_options({**BASE, "train": train}, "o.yml")
    assert str(exc.value).startswith(f"o.yml: {where}: expected a number, not a boolean")


def test_a_degradation_probability_given_as_a_boolean_is_refused():
    from upres.data.degradations.options import parse_degradation_options

    with pytest.raises(ConfigError, match="blur_prob: expected a number, not a boolean"):
        parse_degradation_options({"blur_prob": True}, "o.yml")


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("train.total_iter", "4e5", 400_000),
        ("val.val_freq", "5E+3", 5000),
        ("logger.save_checkpoint_freq", "2.5e3", 2500),
        ("datasets.train.batch_size_per_gpu", "1.6e1", 16),
        ("manual_seed", "1e3", 1000),
    ],
)
def test_an_integer_in_exponent_form_is_the_integer_it_writes(path, text, expected):
    """YAML 1.1 (PyYAML) leaves `4e5` as text: `total_iter: 4e5` was 'unable to parse string as an integer' while
    `lr: 1e-4` beside it was read as a number."""
    data = yaml.safe_load(f"{path.split('.')[-1]}: {text}")
    assert isinstance(data[path.split(".")[-1]], str)  # the YAML 1.1 reading this test is about
    opts = parse_options(_with(path, data[path.split(".")[-1]]), "o.yml")
    node = opts
    for part in path.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    assert node == expected and isinstance(node, int)


def test_milestones_in_exponent_form_and_a_fraction_where_an_integer_goes():
    data = yaml.safe_load("milestones: [1e5, 2.5e5]\ntotal_iter: 1e-3")
    sched = _with("train.scheduler.milestones", data["milestones"])
    assert parse_options(sched, "o.yml").train.scheduler.milestones == [100_000, 250_000]
    with pytest.raises(ConfigError, match=r"^o.yml: train.total_iter: Input should be a valid integer"):
        parse_options(_with("train.total_iter", data["total_iter"]), "o.yml")

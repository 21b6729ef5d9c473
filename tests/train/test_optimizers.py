"""Optimizers by traiNNer-redux's names (any case): each one is torch's, with the keyword arguments it takes."""

from __future__ import annotations

import inspect

import pytest
import torch

from upres.errors import ConfigError
from upres.train.config import parse_options
from upres.train.optim_options import OPTIMIZER_PARAMS
from upres.train.schedule import build_optimizer


def _options(optim_g: dict) -> dict:
    return {
        "name": "o",
        "datasets": {"train": {"type": "pairedimagedataset", "dataroot_gt": "x"}},
        "network_g": {"type": "compact"},
        "train": {"optim_g": optim_g},
    }


@pytest.mark.parametrize("name", sorted(OPTIMIZER_PARAMS))
def test_parameter_table_matches_torch(name):
    signature = inspect.signature(getattr(torch.optim, name))
    assert set(OPTIMIZER_PARAMS[name]) <= set(signature.parameters)


EXTRA = {
    "SGD": {"momentum": 0.9, "nesterov": True},
    "RMSprop": {"alpha": 0.9, "centered": True},
    "NAdam": {"momentum_decay": 0.003, "decoupled_weight_decay": True, "weight_decay": 0.01},
    "RAdam": {"decoupled_weight_decay": True, "weight_decay": 0.01},
    "Adagrad": {"lr_decay": 0.01},
    "Adadelta": {"rho": 0.8},
    "AdamW": {"amsgrad": True, "betas": [0.8, 0.95]},
}


@pytest.mark.parametrize("name", sorted(OPTIMIZER_PARAMS))
def test_each_optimizer_steps_like_torch(name):
    given = {"type": name.upper(), "lr": 0.01, **EXTRA.get(name, {})}
    opts = parse_options(_options(given)).train.optim_g
    assert opts.type == name
    torch.manual_seed(0)
    ours_net, ref_net = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    ref_net.load_state_dict(ours_net.state_dict())
    ours = build_optimizer(ours_net.parameters(), opts)
    kwargs = {k: v for k, v in given.items() if k != "type"}
    # What the file leaves out takes torch's default, as traiNNer-redux's `torch.optim.X(params, **opt)` does.
    ref = getattr(torch.optim, name)(ref_net.parameters(), **kwargs)
    x = torch.randn(8, 4)
    for _ in range(3):
        for net, opt in ((ours_net, ours), (ref_net, ref)):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    for a, b in zip(ours_net.parameters(), ref_net.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_redux_only_optimizers_are_refused_by_name():
    with pytest.raises(ConfigError) as exc:
        parse_options(_options({"type": "adopt", "lr": 1e-4}), "o.yml")
    assert str(exc.value) == (
        "o.yml: train.optim_g.type: ADOPT is a traiNNer-redux optimizer from outside PyTorch, which "
        "upres does not ship; use one of Adam, AdamW, NAdam, RAdam, Adamax, SGD, RMSprop, Adagrad, Adadelta "
        "(AdamW is the usual choice) (got 'adopt')"
    )


def test_a_parameter_the_optimizer_does_not_take_is_named():
    with pytest.raises(ConfigError, match="SGD has no parameter betas; it takes lr, momentum, dampening"):
        parse_options(_options({"type": "SGD", "lr": 0.1, "betas": [0.9, 0.99]}))
    with pytest.raises(ConfigError, match="train.optim_g.nesterov: Input should be a valid boolean"):
        parse_options(_options({"type": "sgd", "nesterov": "maybe"}))


def test_without_a_block_adamw_as_the_recipes_set_it_and_a_block_takes_torchs_defaults():
    """A redux file's `optim_g: {type: AdamW, lr: 1e-4}` got upres's betas (0.9, 0.99) and no weight decay, where
    redux trains with torch's (0.9, 0.999) and 0.01."""
    without = _options({})
    del without["train"]["optim_g"]
    assert parse_options(without).train.optim_g.kwargs() == {
        "lr": 1e-4,
        "betas": (0.9, 0.99),
        "weight_decay": 0.0,
    }
    given = parse_options(_options({"type": "AdamW", "lr": 2e-4})).train.optim_g
    built = build_optimizer([torch.nn.Parameter(torch.zeros(2))], given)
    reference = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=2e-4)
    for key in ("betas", "weight_decay", "eps", "amsgrad"):
        assert built.defaults[key] == reference.defaults[key]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"type": "RMSprop", "alpha": 5}, "train.optim_g.alpha: Input should be less than 1 (got 5)"),
        (
            {"type": "SGD", "momentum": float("inf")},
            "train.optim_g.momentum: Input should be less than 1 (got inf)",
        ),
        ({"type": "SGD", "momentum": 1.5}, "train.optim_g.momentum: Input should be less than 1 (got 1.5)"),
        (
            {"type": "SGD", "dampening": 7},
            "train.optim_g.dampening: Input should be less than or equal to 1 (got 7)",
        ),
        (
            {"type": "Adagrad", "lr_decay": float("inf")},
            "train.optim_g.lr_decay: Input should be a finite number (got inf)",
        ),
    ],
)
def test_coefficients_out_of_their_range_are_refused_when_read(given, message):
    """Accepted, every step of the run was non-finite and the NaN guard stopped it blaming the learning rate."""
    with pytest.raises(ConfigError) as exc:
        parse_options(_options({"lr": 1e-3, **given}), "o.yml")
    assert str(exc.value) == f"o.yml: {message}"


def test_coefficients_out_of_range_diverge_in_torch():
    """Why the bounds: torch takes these values and the weights turn non-finite within a few steps."""
    for cls, kwargs in ((torch.optim.RMSprop, {"alpha": 5.0}), (torch.optim.SGD, {"momentum": float("inf")})):
        torch.manual_seed(0)
        net = torch.nn.Linear(4, 3)
        opt = cls(net.parameters(), lr=1e-3, **kwargs)
        for _ in range(5):
            opt.zero_grad()
            net(torch.randn(8, 4)).square().mean().backward()
            opt.step()
        assert not all(p.isfinite().all() for p in net.parameters()), cls


@pytest.mark.parametrize(
    ("given", "got"),
    [
        ({"nesterov": True}, "momentum not set, dampening not set"),
        ({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "momentum 0.9, dampening 0.1"),
    ],
)
def test_nesterov_without_momentum_is_refused_when_read(given, got):
    """It was torch's ValueError traceback, exit 1, after the dataset scan."""
    with pytest.raises(ConfigError) as exc:
        parse_options(_options({"type": "SGD", "lr": 1e-3, **given}), "o.yml")
    assert str(exc.value) == (
        f"o.yml: train.optim_g: nesterov needs momentum above 0 and dampening 0, got {got}; set momentum (0.9 is "
        "usual), or remove nesterov"
    )
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3, **given)

"""A network width or depth past any ESRGAN-family network's is one line naming the key: 10^30 was torch's overflow
message from its C++ sources, and 10^9 blocks filled the memory while the network was being built."""

from __future__ import annotations

import pytest

from upres.archs import build_network_for
from upres.archs.discriminators import build_discriminator
from upres.archs.sizes import LARGEST_SIZE, size_problem
from upres.errors import ConfigError

TOO_LARGE = "must be at most 4096 (these networks use 1 to a few hundred), got {!r}"


@pytest.mark.parametrize(
    ("type_name", "key"),
    [("compact", "num_feat"), ("compact", "num_conv"), ("esrgan", "num_block"), ("esrgan", "num_grow_ch")],
)
@pytest.mark.parametrize("value", [LARGEST_SIZE + 1, 10**9, 10**30])
def test_a_generator_size_past_the_largest_is_refused(type_name, key, value):
    with pytest.raises(ConfigError) as exc:
        build_network_for(type_name, {key: value}, scale=2)
    assert str(exc.value) == f"network_g.{key}: {TOO_LARGE.format(value)}"


@pytest.mark.parametrize("name", ["unetdiscriminatorsn", "vggstylediscriminator", "patchgandiscriminatorsn"])
@pytest.mark.parametrize("value", [LARGEST_SIZE + 1, 10**30])
def test_a_discriminator_width_past_the_largest_is_refused(name, value):
    with pytest.raises(ConfigError) as exc:
        build_discriminator(name, num_feat=value)
    assert str(exc.value) == f"network_d.num_feat: {TOO_LARGE.format(value)}"


def test_the_largest_size_itself_is_a_size():
    assert size_problem(LARGEST_SIZE) is None and size_problem(1) is None

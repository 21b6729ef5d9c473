"""The widths, depths and channel counts of `network_g` / `network_d` blocks: positive, and not absurdly large."""

from __future__ import annotations

# ESRGAN-family networks use 1 to a few hundred (num_feat 64, num_block 23, num_conv 32); a typo's 10^30 made torch
# raise an overflow message from its C++ sources, and 10^9 blocks filled the memory while the network was built.
LARGEST_SIZE = 4096


def size_problem(value: object) -> str | None:
    """Why `value` cannot be a network width, depth or channel count (None when it can)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return f"must be a positive integer, got {value!r}"
    if value > LARGEST_SIZE:
        return f"must be at most {LARGEST_SIZE} (these networks use 1 to a few hundred), got {value!r}"
    return None

"""Type checks for the type-specific keys of `train.losses` entries, which reach the constructors unvalidated.

Text where a number goes ended in Python's "'<' not supported between instances of 'float' and 'str'" or "could not
convert string to float" without the key; 1.5 where a whole number goes was cut to 1 without a word.
"""

from __future__ import annotations

from typing import Any


def a_number(key: str, value: Any) -> float:
    """`value` as a float; ValueError naming `key` for text, booleans and the like."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, not {value!r}")
    return float(value)


def a_whole_number(key: str, value: Any) -> int:
    """`value` as an int; ValueError naming `key` for 1.5, text and booleans (2.0 is taken as 2)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{key} must be a whole number, not {value!r}")
    return int(value)

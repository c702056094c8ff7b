"""Argument checks for public entry points: one clear error naming the parameter and what is allowed.

    positive_int("pretrain", "steps", steps)        # ValueError: pretrain: steps must be a positive int, got 0

Each check returns the value, so it can be used inline. The error is an `InvalidArgument` (a
`ValueError`, or a `TypeError` where the type is wrong) that keeps the parameter's `name`, so a
command line can name the flag without parsing the message. Internals trust their callers and
check nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


class InvalidArgument(ValueError):
    """A bad argument; `name` is the parameter's name."""

    def __init__(self, where: str, name: str, allowed: str, value):
        self.name = name
        super().__init__(f"{where}: {name} must be {allowed}, got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(where: str, name: str, value, *, optional: bool = False) -> int | None:
    """`value` is an int >= 1 (or None when `optional`)."""
    if optional and value is None:
        return None
    if not _is_int(value) or value < 1:
        raise InvalidArgument(where, name, "a positive int" + (" or None" if optional else ""), value)
    return value


def nonnegative_int(where: str, name: str, value) -> int:
    """`value` is an int >= 0."""
    if not _is_int(value) or value < 0:
        raise InvalidArgument(where, name, "an int >= 0", value)
    return value


def positive_number(where: str, name: str, value, *, optional: bool = False) -> float | None:
    """`value` is a finite int or float > 0 (or None when `optional`)."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise InvalidArgument(where, name, "a finite number > 0" + (" or None" if optional else ""), value)
    return value


def fraction(where: str, name: str, value) -> float:
    """`value` is a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidArgument(where, name, "a number in [0, 1]", value)
    return value


def one_of(where: str, name: str, value, choices: Sequence):
    """`value` is one of `choices`."""
    if value not in choices:
        raise InvalidArgument(where, name, f"one of {tuple(choices)}", value)
    return value


def subset_of(where: str, name: str, values, choices: Sequence) -> tuple:
    """`values` is a non-empty sequence of items from `choices`; returned as a tuple."""
    values = tuple(values) if isinstance(values, (list, tuple)) else values
    if not isinstance(values, tuple) or not values or any(v not in choices for v in values):
        raise InvalidArgument(where, name, f"a non-empty sequence taken from {tuple(choices)}", values)
    return values


def ints_at_least(where: str, name: str, values, low: int) -> tuple[int, ...]:
    """`values` is a non-empty sequence of ints >= `low`; returned as a tuple."""
    values = tuple(values) if isinstance(values, (list, tuple)) else values
    if not isinstance(values, tuple) or not values or any(not _is_int(v) or v < low for v in values):
        raise InvalidArgument(where, name, f"a non-empty sequence of ints >= {low}", values)
    return values


def instance_of(where: str, name: str, value, cls: type | tuple[type, ...]):
    """`value` is an instance of `cls` (a TypeError otherwise)."""
    if not isinstance(value, cls):
        allowed = cls.__name__ if isinstance(cls, type) else " or ".join(c.__name__ for c in cls)
        raise TypeError(f"{where}: {name} must be a {allowed}, got {type(value).__name__}")
    return value

"""Argument validation shared by every module: one rule for choices, numbers and integers.

Every check returns the cleaned value or raises ``ValueError`` naming the argument, the value and what is
allowed, so bad input fails at once with a message a user can act on.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

__all__ = ["SCALES", "check_choice", "check_scale", "check_number", "check_int"]

#: The three scales every notebook, preset and experiment understands.
#: smoke: the test suite, seconds per notebook; quick: the default, minutes on a 2-core laptop;
#: paper: the papers' settings, meant for a GPU.
SCALES = ("smoke", "quick", "paper")


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise ValueError naming both."""
    allowed = tuple(allowed)
    try:
        ok = value in allowed
    except TypeError:  # unhashable or incomparable value
        ok = False
    if not ok:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")
    return value


def check_scale(scale: str) -> str:
    """Validate a scale name (one of :data:`SCALES`)."""
    return check_choice("scale", scale, SCALES)


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, allow_inf: bool = False) -> float:
    """Return ``float(value)`` if it lies in the stated interval, else raise ValueError.

    ``low_open``/``high_open`` exclude the end points; NaN is always refused, infinity unless ``allow_inf``;
    booleans are refused (``True`` is no learning rate).
    """
    if isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be a number, not a boolean")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a number") from None
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ValueError(f"{name}={value!r} must be a finite number")
    if (low is not None and (x < low or (low_open and x == low))) or (
            high is not None and (x > high or (high_open and x == high))):
        interval = (f"{'(' if low_open else '['}{'-inf' if low is None else low}, "
                    f"{'inf' if high is None else high}{')' if high_open else ']'}")
        raise ValueError(f"{name}={value!r} is out of range; allowed: {interval}")
    return x


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None,
              optional: bool = False) -> int | None:
    """Return ``value`` as a Python int if it is integral and in ``[low, high]``, else raise ValueError.

    Accepted: Python and numpy integers, and integral floats (``3.0``, as a command line or JSON may give);
    refused: booleans, ``3.5``, strings. ``optional=True`` lets ``None`` through.
    """
    if value is None and optional:
        return None
    bounds = ("" if low is None else f" >= {low}") + ("" if high is None else f" <= {high}")
    if isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be an integer{bounds}, not a boolean")
    if isinstance(value, numbers.Integral):
        out = int(value)
    elif isinstance(value, numbers.Real) and math.isfinite(float(value)) and float(value).is_integer():
        out = int(value)
    else:
        raise ValueError(f"{name}={value!r} must be an integer{bounds}")
    if (low is not None and out < low) or (high is not None and out > high):
        raise ValueError(f"{name}={value!r} is out of range; allowed: integers{bounds}")
    return out

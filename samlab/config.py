"""Project-wide constants (scales, paths) and the argument checks every module shares."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable

#: The three scales every notebook, preset and experiment understands.
#: smoke: the test suite, seconds per notebook; quick: the default, minutes on a 2-core laptop;
#: paper: the papers' settings, meant for a GPU.
SCALES = ("smoke", "quick", "paper")

#: Repository root (the folder holding ``samlab/``). Overridable with ``SAMLAB_ROOT``.
ROOT = Path(os.environ.get("SAMLAB_ROOT", Path(__file__).resolve().parent.parent))


def data_dir() -> Path:
    """Where datasets live (``$SAMLAB_DATA`` or ``<root>/data``)."""
    return Path(os.environ.get("SAMLAB_DATA", ROOT / "data"))


def runs_dir() -> Path:
    """The results store (``$SAMLAB_RUNS`` or ``<root>/data/runs``)."""
    return Path(os.environ.get("SAMLAB_RUNS", data_dir() / "runs"))


def figures_dir() -> Path:
    """Where figures are written (``$SAMLAB_FIGURES`` or ``<root>/figures``)."""
    return Path(os.environ.get("SAMLAB_FIGURES", ROOT / "figures"))


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise ValueError naming both."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")
    return value


def check_scale(scale: str) -> str:
    """Validate a scale name (one of :data:`SCALES`)."""
    return check_choice("scale", scale, SCALES)


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, allow_inf: bool = False) -> float:
    """Return ``float(value)`` if it lies in the stated interval, else raise ValueError.

    ``low_open``/``high_open`` exclude the end points; NaN is always refused, infinity unless ``allow_inf``.
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a number") from None
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ValueError(f"{name}={value!r} must be a finite number")
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    if low is not None and (x < low or (low_open and x == low)):
        raise ValueError(f"{name}={value!r} is out of range; allowed: {interval}")
    if high is not None and (x > high or (high_open and x == high)):
        raise ValueError(f"{name}={value!r} is out of range; allowed: {interval}")
    return x

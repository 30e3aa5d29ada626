"""samlab: sharpness-aware training (SAM, ASAM, SAMSON, ESAM) and robustness to noisy analog hardware.

Import it as ``import samlab as sl``; submodules load on first use (``sl.optim.SAM``,
``sl.perturbation.worst_case_perturbation``, ``sl.plots``, ...), so importing the package is cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_SUBMODULES = (
    "checks", "paths", "methods", "perturbation", "budget", "weights", "batchnorm", "optim", "data", "models",
    "evaluate", "evidence", "ledger", "train", "runs", "papers", "noise", "analog", "sharpness", "sweep",
    "experiments", "plots", "widgets", "notebooks", "exercises", "course", "cli", "doctor",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'samlab' has no attribute {name!r}")

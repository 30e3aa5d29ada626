"""The studies the notebooks run, one module per topic (imported on first use, ``sl.experiments.cifar``).

* :mod:`~samlab.experiments.scale_invariance`: positive scaling of toy ReLU nets and their sharpness (notebook 01);
* :mod:`~samlab.experiments.perturbation_profiles`: SAMSON Fig. 1, eps* against the weight value (notebook 02);
* :mod:`~samlab.experiments.variance_generalization`: the 2-D variance generalization study (notebook 03);
* :mod:`~samlab.experiments.cifar`: CIFAR training runs, tables against the papers, ESAM's grid (notebook 04);
* :mod:`~samlab.experiments.mnist1d`: every method on MNIST-1D over a rho sweep and seeds (notebook 04b);
* :mod:`~samlab.experiments.robustness`: conductance-noise and PCM robustness, Pareto frontier (notebook 05),
  :mod:`~samlab.experiments.robustness_claims`: the paper's claims as paired ledger findings,
  :mod:`~samlab.experiments.noise_taylor`: the predicted (second-order) against the measured loss rise, and
  :mod:`~samlab.experiments.seeds`: runs that differ only in their seed, named and their curves merged;
* :mod:`~samlab.experiments.sharpness_robustness`: sharpness measures against robustness (notebook 06), with
  :mod:`~samlab.experiments.correlation`: rank and linear correlations with bootstrap intervals, and
  :mod:`~samlab.experiments.sharpness_claims`: the paper's correlation claims as ledger findings.
"""
from __future__ import annotations

from ..extras import require_extra

require_extra("notebooks", "samlab.experiments (the notebooks' studies)")  # one clear line when the extra is missing

import importlib
from typing import Any

_SUBMODULES = ("scale_invariance", "perturbation_profiles", "variance_generalization", "cifar", "mnist1d",
               "robustness", "robustness_claims", "noise_taylor", "seeds", "sharpness_robustness", "correlation",
               "sharpness_claims")
__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

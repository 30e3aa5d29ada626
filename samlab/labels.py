"""How a training run is named and compared: the method's plain name, its plot colour key, its label, its protocol.

Split from :mod:`samlab.train` (re-exported there): the tables and plots of :mod:`samlab.presets` and the notebooks
name runs through these; training needs only :func:`run_label`, for its progress bar and summary.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .train import TrainConfig

__all__ = ["method_key", "method_name", "run_label", "METHOD_FIELDS", "same_protocol"]


def method_key(config: TrainConfig) -> str:
    """Colour key for :mod:`samlab.plots` (``sgd``, ``adam``, ``sam``, ``asam``, ``samson_2``, ``samson_inf``, ``esam``)."""
    if config.method == "sgd":
        return config.base
    if config.method == "samson" and config.p in (2.0, math.inf):
        return "samson_2" if config.p == 2.0 else "samson_inf"
    return config.method


def method_name(config: TrainConfig) -> str:
    """The algorithm's plain name, no hyper-parameters: SGD, Adam, SAM, ASAM, SAMSON_2, SAMSON_inf, ESAM, ESAM-SWP, ESAM-SDS.

    The names :data:`samlab.presets.PAPER_RESULTS` uses, so ``paper_results(method=method_name(c))`` finds a row.
    """
    m = config.method
    if m == "sgd":
        return "Adam" if config.base == "adam" else "SGD"
    if m == "samson":
        return f"SAMSON_{'inf' if math.isinf(config.p) else format(config.p, 'g')}"
    if m == "esam":
        return "ESAM" if config.beta < 1 and config.gamma < 1 else ("ESAM-SWP" if config.beta < 1 else "ESAM-SDS")
    return m.upper()


def run_label(config: TrainConfig, *, tex: bool = True) -> str:
    """Human name of a run: :func:`method_name` (``SAMSON$_{\\infty}$`` with ``tex``) plus what sets it apart.

    Appended: ESAM fractions other than the paper's (β=0.6, γ=0.5), a non-SGD base, weight clipping.
    """
    from .train import ESAM_BETA, ESAM_GAMMA

    name = method_name(config)
    if tex and name.startswith("SAMSON_"):
        p = name[len("SAMSON_"):]
        name = "SAMSON$_{" + ("\\infty" if p == "inf" else p) + "}$"
    if config.method == "esam" and (config.beta, config.gamma) != (ESAM_BETA, ESAM_GAMMA):
        parts = ([f"β={config.beta:g}"] if config.beta < 1 else []) + (
            [f"γ={config.gamma:g}"] if config.gamma < 1 else [])
        name += f" ({', '.join(parts)})"
    if config.method != "sgd" and config.base != "sgd":
        name += f" ({config.base.capitalize()})"
    if config.clip is not None:
        name += f" + clip {config.clip:g}"
    return name


#: The fields that say which algorithm ran (and with which seed); the rest is the protocol (model, data, schedule).
METHOD_FIELDS = ("method", "rho", "p", "eta", "adaptive_params", "beta", "gamma", "clip", "seed", "device")


def same_protocol(a: TrainConfig, b: TrainConfig) -> bool:
    """Whether two runs differ only in method fields (:data:`METHOD_FIELDS`): their curves are comparable."""
    from .train import TrainConfig

    keep = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in METHOD_FIELDS]
    return all(getattr(a, k) == getattr(b, k) for k in keep)

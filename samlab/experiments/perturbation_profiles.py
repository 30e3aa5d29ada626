"""SAMSON Fig. 1 (notebook 02): the worst-case perturbation eps* of a weight against its value, per method.

:func:`clipped_normal_layer` is the figure's layer (N(0, std^2) weights clipped to [-c, c]);
:func:`perturbation_profiles` computes eps* with the optimizer's own
:func:`samlab.perturbation.worst_case_perturbation`; :func:`profile_limits` gives closed-form axis limits.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from ..checks import check_number
from ..perturbation import worst_case_perturbation

__all__ = ["clipped_normal_layer", "describe_clipped_layers", "perturbation_profiles", "profile_limits"]


def clipped_normal_layer(c: float, *, n: int = 1000, std: float = 0.1, seed: int = 0) -> Tensor:
    """The layer of SAMSON Fig. 1: ``n`` weights ~ N(0, std^2) restricted (clipped) to [-c, c] (float64).

    Every weight of ``N(0, std^2)`` beyond ``c`` sits at ``+-c``, so ``||W||_inf = c`` while ``||W||_2`` is set
    mostly by the bulk of the distribution. A fresh copy each call: the cached draw cannot be changed.
    """
    c = check_number("c", c, low=0.0, low_open=True)
    return _clipped_normal(c, n, std, seed).clone()


@functools.lru_cache(maxsize=64)
def describe_clipped_layers(cs: Sequence[float] = (0.1, 0.15, 0.2), *, n: int = 1000, std: float = 0.1,
                            seed: int = 0) -> str:
    """One line per range c of :func:`clipped_normal_layer`: the share of weights clipped to +-c, ||W||_2, ||W||_inf."""
    lines = []
    for c in cs:
        w = clipped_normal_layer(c, n=n, std=std, seed=seed)
        lines.append(f"c = {c:<5g} clipped: {100 * float((w.abs() == c).double().mean()):4.1f} %   "
                     f"||W||_2 = {float(w.norm(2)):.3f}   ||W||_inf = {float(w.abs().max()):.3f}")
    return "\n".join(lines)


def _clipped_normal(c: float, n: int, std: float, seed: int) -> Tensor:
    """The cached draw behind :func:`clipped_normal_layer`; only this module reads it and never writes it."""
    gen = torch.Generator().manual_seed(seed)
    return (std * torch.randn(n, generator=gen, dtype=torch.float64)).clamp_(-c, c)


@functools.lru_cache(maxsize=256)
def _unit_profile(method: str, p: float, c: float, eta: float, n_probes: int, n: int, std: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probed weights and their eps* at ``rho = 1`` (eps* is proportional to rho: eq. 2, 4, 6)."""
    layer = _clipped_normal(c, n, std, seed)
    targets = torch.linspace(-c, c, n_probes, dtype=torch.float64)
    probes = torch.argmin((layer[None, :] - targets[:, None]).abs(), dim=1)
    w, eps = [], []
    for i in probes.tolist():
        grad = torch.zeros_like(layer)
        grad[i] = 1.0                      # "grad L(w) = 1" for the weight drawn, 0 for the rest
        e = worst_case_perturbation([layer], [grad], method=method, rho=1.0, p=p, eta=eta, adaptive=[True])[0]
        w.append(float(layer[i]))
        eps.append(float(e[i]))
    w_arr, eps_arr = np.asarray(w), np.asarray(eps)
    w_arr.flags.writeable = eps_arr.flags.writeable = False   # shared by every caller (cached)
    return w_arr, eps_arr


def perturbation_profiles(*, rho: float = 0.5, p: float = 2.0, c: float | None = None,
                          cs: Sequence[float] = (0.1, 0.15, 0.2), eta: float = 0.0, n_probes: int = 11,
                          n: int = 1000, std: float = 0.1, seed: int = 0) -> list[dict[str, Any]]:
    """SAMSON Fig. 1: eps* of weight w against w, for SAM, ASAM, SAMSON_p and SAMSON_inf, each c in ``cs`` (+ ``c``).

    Returns one dict per line: ``method, p, c, w, eps`` and ``slider`` (True for the line of ``c``).

    Each point is one call of :func:`~samlab.perturbation.worst_case_perturbation` on the layer
    :func:`clipped_normal_layer` with the gradient 1 on that weight and 0 elsewhere (the figure's "grad L = 1"),
    which gives ``eps = rho * T(w)``: ``rho`` (SAM), ``rho (|w| + eta)`` (ASAM), ``rho |w| / ||W||_p`` (SAMSON).
    ``n_probes`` evenly spaced weights (the nearest weights of the layer) per line; the profiles are exact
    V shapes, so straight segments between the probes are exact. The calls use ``rho = 1``, cached per
    method, p, c and eta, and are scaled by ``rho`` (eps* is proportional to rho), so a new rho costs no call.
    """
    rho = check_number("rho", rho, low=0.0)
    p = check_number("p", p, low=1.0, allow_inf=True)
    eta = check_number("eta", eta, low=0.0)
    all_c = [(check_number("c", v, low=0.0, low_open=True), False) for v in cs]
    if c is not None:
        all_c.append((check_number("c", c, low=0.0, low_open=True), True))
    methods = [("sam", None), ("asam", None), ("samson", p)]
    if not math.isinf(p):
        methods.append(("samson", math.inf))
    out = []
    for m, pp in methods:
        for cc, slider in all_c:
            w, unit = _unit_profile(m, 2.0 if pp is None else pp, round(cc, 6), eta if m == "asam" else 0.0,
                                    n_probes, n, std, seed)
            out.append({"method": m, "p": pp, "c": cc, "w": w, "eps": rho * unit, "slider": slider})
    return out


def profile_limits(*, rho: float, p: float, c_values: Sequence[float], eta: float = 0.0, n: int = 1000,
                   std: float = 0.1, seed: int = 0) -> dict[tuple[str, float | None], float]:
    """The largest eps* each panel of :func:`perturbation_profiles` reaches for any c in ``c_values``.

    Closed forms (``rho``, ``rho (c + eta)``, ``rho c / ||W_c||_p``), used only to fix the axes' limits over a
    slider's whole range, so that dragging c never rescales an axis.
    """
    cs = [check_number("c", v, low=0.0, low_open=True) for v in c_values]
    out: dict[tuple[str, float | None], float] = {("sam", None): rho, ("asam", None): rho * (max(cs) + eta)}
    for q in (p, math.inf):
        out[("samson", q)] = rho * max(c / float(torch.linalg.vector_norm(_clipped_normal(c, n, std, seed), ord=q))
                                       for c in cs)
    return out
